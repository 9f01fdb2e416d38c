/* send: connect to a receiver and send files and directories, in steps:
 * check the options and the address, look at the sources, set up trust,
 * connect and secure the connection, run the sender engine (or raw mode).
 * send --listen waits for receivers (recv --connect) instead: it is then
 * the TLS server and trusts them as recv trusts senders (a printed token
 * by default), and serves them through common/server.c, one-shot or -k. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"
#include "clock.h"
#include "net.h"
#include "opts.h"
#include "progress.h"
#include "prompt.h"
#include "proto.h"
#include "sender.h"
#include "server.h"
#include "trustdb.h"
#include "walk.h"
#include "xfer.h"

/* send's own options. */
static struct send_cli {
	int port;
	int recursive, preserve, no_clobber, resume, update, sync, checksum, verify, raw;
	int links, safe_links, hard_links;
	char *target, *limit_rate, *name;
	int ipv4, ipv6;
	int listen, keep_open, token_ttl;	/* --listen, -k, --token-ttl */
	char *bind;
} opt = { .port = -1, .token_ttl = 600 };

#define SEND_HANDSHAKE_SECS 10	/* --listen: as recv's --handshake-timeout default */

static struct poptOption send_table[] = {
	{ "port", 'P', POPT_ARG_INT, &opt.port, 0,
	  "receiver's TCP port (default 7433); with --listen the port to listen on (0: any free port)", "N" },
	{ "listen", 0, POPT_ARG_NONE, &opt.listen, 0,
	  "no HOST: wait for a receiver to connect (recv --connect) and send it the PATHs", NULL },
	{ "bind", 0, POPT_ARG_STRING, &opt.bind, 0, "with --listen: address to bind (default: all, IPv6 and IPv4)",
	  "ADDR" },
	{ "keep-open", 'k', POPT_ARG_NONE, &opt.keep_open, 0,
	  "with --listen: keep serving receivers, several at once, each the same PATHs, until SIGINT or SIGTERM",
	  NULL },
	{ "token-ttl", 0, POPT_ARG_INT, &opt.token_ttl, 0,
	  "with --listen: a printed token is good for this many seconds (default 600; 0: until exit)", "SECONDS" },
	{ "recursive", 'r', POPT_ARG_NONE, &opt.recursive, 0, "send directories and their contents", NULL },
	{ "preserve", 'p', POPT_ARG_NONE, &opt.preserve, 0,
	  "keep permission bits, modification and access times", NULL },
	{ "links", 'l', POPT_ARG_NONE, &opt.links, 0,
	  "send symbolic links below a PATH as links (default: skip them)", NULL },
	{ "safe-links", 0, POPT_ARG_NONE, &opt.safe_links, 0,
	  "with -l: skip links whose target is absolute or leaves the PATH's tree", NULL },
	{ "hard-links", 'H', POPT_ARG_NONE, &opt.hard_links, 0,
	  "files sent under several names (one inode) arrive as hard links", NULL },
	{ "no-clobber", 'n', POPT_ARG_NONE, &opt.no_clobber, 0,
	  "skip files that already exist on the receiver", NULL },
	{ "resume", 0, POPT_ARG_NONE, &opt.resume, 0,
	  "continue files an interrupted run left partial (their prefix is checked)", NULL },
	{ "update", 0, POPT_ARG_NONE, &opt.update, 0,
	  "skip files whose copy on the receiver is not older", NULL },
	{ "sync", 0, POPT_ARG_NONE, &opt.sync, 0,
	  "skip files whose copy on the receiver has the same size and modification time; "
	  "files stored keep the sender's modification time", NULL },
	{ "checksum", 'c', POPT_ARG_NONE, &opt.checksum, 0,
	  "--sync, comparing size and SHA-256 (read on both ends) instead of size and modification time", NULL },
	{ "verify", 0, POPT_ARG_NONE, &opt.verify, 0,
	  "check each file end to end: SHA-256 of the source against the bytes the receiver wrote, "
	  "before it takes its name", NULL },
	{ "target", 't', POPT_ARG_STRING, &opt.target, 0,
	  "place everything under this subdirectory of the receiver's DIR", "SUBDIR" },
	{ "limit-rate", 0, POPT_ARG_STRING, &opt.limit_rate, 0,
	  "send at most RATE bytes per second (k, M, G: 1000s; Ki, Mi, Gi: 1024s)", "RATE" },
	{ "name", 0, POPT_ARG_STRING, &opt.name, 0,
	  "the name standard input (PATH -) arrives under (default: stdin)", "NAME" },
	{ "raw", 0, POPT_ARG_NONE, &opt.raw, 0,
	  "no ktlscp framing: send one PATH (or - for stdin) as a plain TLS byte stream; what the peer sends back goes to stdout", NULL },
	{ "accept-new", 0, POPT_ARG_NONE, &cli_trust.accept_new, 0,
	  "with no other trust option: record a receiver not yet in known_hosts without asking", NULL },
	{ NULL, '4', POPT_ARG_NONE, &opt.ipv4, 0, "IPv4 only", NULL },
	{ NULL, '6', POPT_ARG_NONE, &opt.ipv6, 0, "IPv6 only", NULL },
	{ NULL, 0, POPT_ARG_INCLUDE_TABLE, cli_trust_table, 0, "Trust and TLS:", NULL },
	{ NULL, 0, POPT_ARG_INCLUDE_TABLE, cli_output_table, 0, "Output:", NULL },
	CLI_HELP_TABLE
	POPT_TABLEEND
};

/* One run: the operands, what the checks made of them, and the trust set
 * up for the connection. */
struct send_job {
	const char *dest;	/* HOST[:PORT] */
	const char **srcs;	/* the PATH operands */
	int nsrcs;
	char host[256];
	unsigned port;
	uint64_t rate;		/* --limit-rate, bytes per second; 0: none */
	char **paths;		/* the sources left to send (calloc, borrowed strings) */
	int npaths;
	struct send_opts so;
	struct tls_opts to;
	enum ktls_policy pol;
	char kprio[160], khname[300];
	char token[TLS_TOKEN_LEN];	/* --listen: a printed token, or "" */
	double token_expiry;		/* --listen: it is refused after this (clock_now()); 0: never */
	struct tls_ctx *tc;
	bool once;			/* one-shot --listen: a refused receiver is not the end */
};

#define RATE_MIN 1000	/* --limit-rate: below this, TCP pacing stalls past timeouts */

/* scp's habits in the address, which HOST[:PORT] cannot mean: the operands
 * swapped (send FILE HOST:PORT), a directory after the port
 * (HOST:PORT:DIR), an IPv6 address with a port but no brackets.  A usage
 * error with the ktlscp way, or 0. */
static int send_dest_hint(const struct send_job *j, struct kc_status *st)
{
	const char *d = j->dest, *last = j->srcs[j->nsrcs - 1], *c = strrchr(d, ':');
	char host[256], v6[64];
	unsigned port = 0;
	struct stat sb;
	struct in6_addr a6;

	if (stat(d, &sb) == 0 && j->nsrcs > 0 && strchr(last, ':') && stat(last, &sb) < 0 &&
	    net_parse_hostport(last, host, sizeof(host), &port) == 0)
		return kc_fail(st, KC_USAGE, "%s is a local file and %s looks like the receiver: the receiver comes first "
			       "(ktlscp send %s PATH...)", d, last, last);
	if (d[0] == '[' || c == NULL || strchr(d, ':') == c || strchr(d, '%'))
		return 0;
	if ((size_t)(c - d) < sizeof(v6)) {
		memcpy(v6, d, (size_t)(c - d));
		v6[c - d] = '\0';
		if (c[1] >= '0' && c[1] <= '9' && strspn(c + 1, "0123456789") == strlen(c + 1) &&
		    inet_pton(AF_INET6, v6, &a6) == 1 && inet_pton(AF_INET6, d, &a6) != 1)
			return kc_fail(st, KC_USAGE, "%s: an IPv6 address with a port takes brackets: [%s]:%s", d, v6,
				       c + 1);
	}
	if (inet_pton(AF_INET6, d, &a6) == 1)
		return 0;
	return kc_fail(st, KC_USAGE, "%s: expected HOST, HOST:PORT or [IPV6]:PORT; to send into a subdirectory "
		       "of the receiver's DIR use -t SUBDIR (ktlscp send -t %s HOST:PORT PATH...)", d, c + 1);
}

/* Does a --listen operand that is no file here look like the HOST of a
 * connecting send (HOST:PORT, an address, localhost)? */
static bool looks_like_host(const char *a)
{
	unsigned char b[16];
	struct stat sb;

	if (strcmp(a, "-") == 0 || lstat(a, &sb) == 0)
		return false;
	return strchr(a, ':') || inet_pton(AF_INET, a, b) == 1 || strcmp(a, "localhost") == 0;
}

/* The operands and the options of the two modes: with --listen every
 * operand is a PATH; without, the first is HOST[:PORT] and the options of
 * listening are refused.  0 or -1 with st. */
static int send_check_mode(struct send_job *j, int nargs, const char **args, struct kc_status *st)
{
	if (!opt.listen) {
		if (opt.keep_open || opt.bind || opt.token_ttl != 600)
			return kc_fail(st, KC_USAGE, "-k, --bind and --token-ttl go with --listen");
		if (nargs < 2)
			return kc_fail(st, KC_USAGE, "missing arguments; usage: ktlscp send %s", cmd_send_entry.args);
		j->dest = args[0];
		j->srcs = args + 1;
		j->nsrcs = nargs - 1;
		return 0;
	}
	if (looks_like_host(args[0]))
		return kc_fail(st, KC_USAGE,
			       "%s: --listen takes no HOST, only PATHs (the receiver dials in with 'recv --connect'); "
			       "without --listen: ktlscp send HOST[:PORT] PATH...", args[0]);
	if (cli_trust.accept_new)
		return kc_fail(st, KC_USAGE, "--accept-new: a listening sender checks receivers as recv checks senders "
			       "(a token, --pin, --psk-file or --ca)");
	if (opt.token_ttl < 0)
		return kc_fail(st, KC_USAGE, "--token-ttl takes seconds, 0 for no limit");
	j->srcs = args;
	j->nsrcs = nargs;
	if (opt.keep_open) {
		int i;

		for (i = 0; i < nargs; i++)
			if (strcmp(args[i], "-") == 0)
				return kc_fail(st, KC_USAGE, "-k sends the PATHs to every receiver: not standard input (-)");
	}
	return 0;
}

/* The option values and the address; usage errors (and the trust options'
 * own) in st.  0 or -1. */
static int send_check(struct send_job *j, struct xfer_stats *stats, struct kc_status *st)
{
	int i, dashes = 0;

	j->port = NET_DEFAULT_PORT;
	if (opt.port != -1) {
		if (opt.port < (opt.listen ? 0 : 1) || opt.port > 65535)
			return kc_fail(st, KC_USAGE, "--port %d: expected %d to 65535", opt.port, opt.listen ? 0 : 1);
		j->port = (unsigned)opt.port;
	}
	if (j->dest && send_dest_hint(j, st) < 0)
		return -1;
	if (j->dest && net_parse_hostport(j->dest, j->host, sizeof(j->host), &j->port) < 0) {
		const char *c = strchr(j->dest, ':');

		if (c && j->dest[0] != '[' && strspn(c + 1, "0123456789") != strlen(c + 1))
			return kc_fail(st, KC_USAGE, "%s: expected HOST, HOST:PORT or [IPV6]:PORT; to send into a "
				       "subdirectory of the receiver's DIR use -t SUBDIR", j->dest);
		return kc_fail(st, KC_USAGE, "%s: expected HOST, HOST:PORT or [IPV6]:PORT", j->dest);
	}
	snprintf(stats->peer, sizeof(stats->peer), strchr(j->host, ':') ? "[%s]:%u" : "%s:%u", j->host,
		 j->port);
	if (opt.raw && (j->nsrcs != 1 || opt.recursive))
		return kc_fail(st, KC_USAGE, "--raw sends exactly one PATH (or -), without -r");
	if (opt.safe_links && !opt.links)
		return kc_fail(st, KC_USAGE, "--safe-links needs -l (without -l every symbolic link is skipped)");
	if (opt.raw && (opt.links || opt.hard_links))
		return kc_fail(st, KC_USAGE, "-l and -H need ktlscp's framing: not with --raw");
	if (opt.raw && opt.verify)
		return kc_fail(st, KC_USAGE, "--verify needs ktlscp's framing: not with --raw");
	if (cli_out.json_progress && (opt.keep_open || opt.raw))
		return kc_fail(st, KC_USAGE, "--json-progress follows one framed transfer: not with %s",
			       opt.raw ? "--raw" : "-k (--json prints one summary per receiver)");
	for (i = 0; i < j->nsrcs; i++)
		dashes += strcmp(j->srcs[i], "-") == 0;
	if (dashes > 1)
		return kc_fail(st, KC_USAGE, "-: standard input can be sent only once");
	if (opt.name && (dashes == 0 || opt.raw || proto_path_check(opt.name, strlen(opt.name), NULL) < 0 ||
			 strchr(opt.name, '/')))
		return kc_fail(st, KC_USAGE, "--name %s: a plain file name, for PATH -", opt.name);
	if (opt.target) {
		size_t tl = strlen(opt.target);

		while (tl > 1 && opt.target[tl - 1] == '/')
			opt.target[--tl] = '\0';
		if (proto_path_check(opt.target, tl, NULL) < 0)
			return kc_fail(st, KC_USAGE, "--target %s: a relative path without . or .. components",
				       opt.target);
	}
	if (opt.limit_rate) {
		int pr = cli_parse_size(opt.limit_rate, RATE_MIN, &j->rate);

		if (pr == -ERANGE)
			return kc_fail(st, KC_USAGE, "--limit-rate %s: below the minimum, 1k (%u bytes per second)",
				       opt.limit_rate, RATE_MIN);
		if (pr < 0)
			return kc_fail(st, KC_USAGE,
				       "--limit-rate %s: expected bytes per second, at least 1k: e.g. 1000, 500k, 50M, 1Mi",
				       opt.limit_rate);
	}
	return cli_tls_opts(&j->to, &j->pol, opt.listen, st);
}

/* One source and the name it arrives under, for send_unique(). */
struct arrival {
	char name[PROTO_PATH_MAX + 1];
	const char *src;
	int idx;		/* its place among the operands */
};

static int arrival_cmp(const void *a, const void *b)
{
	const struct arrival *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : x->idx - y->idx;
}

/* Two sources that would arrive under one name (send a/x b/x, or a file
 * named twice) are a usage error naming both: scp would let the last one
 * win silently, and the receiver refuses a batch naming a path twice.
 * 0 or -1 with st. */
static int send_unique(const struct send_job *j, struct kc_status *st)
{
	struct arrival *v = calloc((size_t)j->npaths + 1, sizeof(*v));
	char e1[512], e2[512], en[512];
	int i, n = 0, rc = 0;

	if (v == NULL)
		return kc_fail(st, KC_OTHER, "out of memory");
	for (i = 0; i < j->npaths; i++) {
		const char *a = j->paths[i];

		if (strcmp(a, "-") == 0)
			snprintf(v[n].name, sizeof(v[n].name), "%s", opt.name ? opt.name : "stdin");
		else if (walk_remote_name(a, v[n].name, sizeof(v[n].name)) < 0)
			continue;	/* the walk reports it */
		v[n].idx = i;
		v[n++].src = a;
	}
	qsort(v, (size_t)n, sizeof(*v), arrival_cmp);
	for (i = 1; i < n && rc == 0; i++) {
		if (strcmp(v[i - 1].name, v[i].name) != 0)
			continue;
		diag_escape(v[i - 1].src, strlen(v[i - 1].src), e1, sizeof(e1));
		diag_escape(v[i].src, strlen(v[i].src), e2, sizeof(e2));
		diag_escape(v[i].name, strlen(v[i].name), en, sizeof(en));
		if (strcmp(v[i - 1].src, v[i].src) == 0)
			rc = kc_fail(st, KC_USAGE, "%s is named twice", e1);
		else
			rc = kc_fail(st, KC_USAGE,
				     "%s and %s would both arrive as %s: send one of them in another run, with -t SUBDIR",
				     e1, e2, en);
	}
	free(v);
	return rc;
}

/* Report unusable sources before connecting; if none is left, do not
 * connect at all (a one-shot receiver would be spent for nothing), and say
 * it in one line.  Two sources of one name are a usage error.  Fills
 * j->paths and j->so.  0 or -1 with st. */
static int send_sources(struct send_job *j, struct kc_status *st)
{
	int i;

	j->paths = calloc((size_t)j->nsrcs + 1, sizeof(*j->paths));
	if (j->paths == NULL)
		return kc_fail(st, KC_OTHER, "out of memory");
	for (i = 0; i < j->nsrcs && !opt.raw; i++) {
		const char *a = j->srcs[i];
		struct stat sb;
		char cause[300];

		if (strcmp(a, "-") == 0) {
			j->paths[j->npaths++] = (char *)a;
			continue;
		}
		if (stat(a, &sb) < 0)
			snprintf(cause, sizeof(cause), "%s", strerror(errno));
		else if (S_ISDIR(sb.st_mode) && !opt.recursive)
			snprintf(cause, sizeof(cause), "is a directory (use -r to send it)");
		else if (!S_ISDIR(sb.st_mode) && !S_ISREG(sb.st_mode))
			snprintf(cause, sizeof(cause), "not a regular file or directory");
		else {
			j->paths[j->npaths++] = (char *)a;
			continue;
		}
		report_entry_failed(a, cause);
		j->so.prefailed++;
	}
	if (j->npaths == 0 && !opt.raw && j->so.prefailed == 1) {
		kc_fail(st, KC_FILE, "%s", report_first_failure(NULL));
		kc_mark_printed(st);
		return -1;
	}
	if (j->npaths == 0 && !opt.raw)
		return kc_fail(st, KC_FILE, "nothing to send: none of the %u sources can be sent", j->so.prefailed);
	if (!opt.raw && send_unique(j, st) < 0)
		return -1;
	j->so.paths = j->paths;
	j->so.npaths = j->npaths;
	j->so.recursive = opt.recursive;
	j->so.stdin_name = opt.name;
	j->so.target = opt.target;
	j->so.opts = (opt.preserve ? PROTO_OPT_PRESERVE : 0) | (opt.no_clobber ? PROTO_OPT_NOCLOBBER : 0) |
		     (opt.update ? PROTO_OPT_UPDATE : 0) | (opt.resume ? PROTO_OPT_RESUME : 0) |
		     (opt.verify ? PROTO_OPT_VERIFY : 0) | (opt.links ? PROTO_OPT_LINKS : 0) |
		     (opt.hard_links ? PROTO_OPT_HARDLINKS : 0) | (opt.sync || opt.checksum ? PROTO_OPT_SYNC : 0) |
		     (opt.checksum ? PROTO_OPT_CHECKSUM : 0);
	j->so.safe_links = opt.safe_links;
	return 0;
}

/* --listen: the kTLS precheck; with no trust option a fresh token is the
 * PSK (for one receiver, or with -k for each until it expires); then the
 * TLS context.  0 or -1 with st. */
static int send_trust_listen(struct send_job *j, struct tls_ctx *tc, struct xfer_stats *stats,
			     struct kc_status *st)
{
	struct tls_opts *to = &j->to;

	if (cli_ktls_precheck(j->pol, j->kprio, sizeof(j->kprio), st) < 0)
		return -1;
	to->kernel_ciphers = j->kprio[0] ? j->kprio : NULL;
	if (!to->psk_file && !to->token && to->npins == 0 && !to->ca_file) {
		if (tls_token_generate(j->token) < 0)
			return kc_fail(st, KC_OTHER, "cannot generate a token");
		to->token = j->token;
	}
	to->pin_source = "--pin";
	if (tls_ctx_init(tc, to, st) < 0)
		return -1;
	stats->auth = tls_auth_name(tc->auth);
	return 0;
}

/* The receiver's name for known_hosts, whether to ask about a new one, the
 * kTLS precheck, then the TLS context.  0 or -1 with st. */
static int send_trust(struct send_job *j, struct tls_ctx *tc, struct xfer_stats *stats,
		      struct kc_status *st)
{
	int i;

	if (opt.listen)
		return send_trust_listen(j, tc, stats, st);
	j->to.hostname = j->host;
	/* known_hosts trust: ask about a new receiver only when a person can
	 * answer (standard input and error on a terminal, stdin not a source). */
	kh_name(j->host, j->port, NET_DEFAULT_PORT, j->khname, sizeof(j->khname));
	j->to.kh_name = j->khname;
	j->to.confirm = isatty(STDIN_FILENO) && isatty(STDERR_FILENO) && !cli_out.json ? prompt_known_host : NULL;
	for (i = 0; i < j->npaths; i++)
		if (strcmp(j->paths[i], "-") == 0)
			j->to.confirm = NULL;
	if (opt.raw && strcmp(j->srcs[0], "-") == 0)
		j->to.confirm = NULL;
	if (cli_ktls_precheck(j->pol, j->kprio, sizeof(j->kprio), st) < 0)
		return -1;
	j->to.kernel_ciphers = j->kprio[0] ? j->kprio : NULL;
	if (tls_ctx_init(tc, &j->to, st) < 0)
		return -1;
	stats->auth = tls_auth_name(tc->auth);
	return 0;
}

/* Pace the connection for --limit-rate: the kernel paces TCP to this rate
 * (fq, or TCP's own pacing).  0 or -1 with st. */
static int send_pace(const struct send_job *j, int fd, struct kc_status *st)
{
	if (j->rate > 0 && setsockopt(fd, SOL_SOCKET, SO_MAX_PACING_RATE, &j->rate, sizeof(j->rate)) < 0)
		return kc_fail(st, KC_OTHER, "--limit-rate: %s", strerror(errno));
	return 0;
}

/* The segment size for --limit-rate RATE (0: the path's own).  The kernel
 * paces whole segments and sends at least two at a time, so on a path with
 * a large MTU (loopback: 64 KiB) a slow rate ran in bursts of 128 KiB and
 * the transfer ended up to one burst early, 10-17 % over the rate at
 * 200k-500k.  Segments of 10 ms of data keep it within a fraction of a
 * percent; at the rates where that exceeds an Ethernet MSS nothing changes. */
static int pace_mss(uint64_t rate)
{
	uint64_t mss = rate / 100;

	if (rate == 0 || mss >= 65535)
		return 0;
	return mss < 536 ? 536 : (int)mss;
}

/* Connect, tune the socket and pace it for --limit-rate.  Sets *fd (also on
 * a later failure, for the caller to close).  0 or -1 with st. */
static int send_connect(struct send_job *j, int *fd, struct kc_status *st)
{
	*fd = net_connect_mss(j->host, j->port, cli_family(opt.ipv4, opt.ipv6), cli_timeout_ms(), pace_mss(j->rate), st);
	if (*fd < 0)
		return -1;
	net_tune(*fd, cli_timeout_ms());
	return send_pace(j, *fd, st);
}

/* --listen: one receiver on an accepted connection (the server's
 * callback): the handshake by the deadline, then the transfer as a
 * connecting send runs it.  Once the receiver is authenticated, writes one
 * byte to authfd (unless -1).  One-shot, a receiver refused before that
 * (or that refused us before a byte came: chan.c says KC_TLS) gets one
 * line and SERVER_REFUSED; else returns the exit status. */
static int send_serve(int fd, double deadline, int authfd, void *arg)
{
	struct send_job *j = arg;
	struct kc_status st = { 0 };
	struct progress prog = { 0 };
	struct xfer_stats stats = { .role = "send", .auth = tls_auth_name(j->tc->auth) };
	struct chan ch;
	gnutls_session_t sess = NULL;
	double t0 = clock_now();
	int rc, hs_ms = isinf(deadline) ? cli_timeout_ms() : server_ms_until(deadline);

	memset(&ch, 0, sizeof(ch));	/* chan_free() is safe on it */
	net_peer_str(fd, stats.peer, sizeof(stats.peer));
	j->tc->handshake_ms = hs_ms;
	net_tune(fd, hs_ms);
	if (cli_secure(fd, j->tc, j->pol, !opt.raw && !opt.keep_open, &stats, &sess, &ch,
		       &prog, &st) < 0) {
		if (kc_class(&st) == KC_NET && !isinf(deadline) && clock_now() >= deadline - 0.25)
			kc_replace(&st, KC_NET,
				   "%s: TLS handshake not done within %d s; connection dropped", stats.peer,
				   SEND_HANDSHAKE_SECS);
		goto out;
	}
	if (authfd >= 0 && write(authfd, "A", 1) != 1)
		diag_debug("cannot tell the server that %s is authenticated: %s", stats.peer, strerror(errno));
	net_tune(fd, cli_timeout_ms());
	if (send_pace(j, fd, &st) < 0)
		goto out;
	if (opt.raw)
		xfer_send_raw(&ch, j->srcs[0], cli_out.json ? -1 : STDOUT_FILENO, &stats, &st);
	else
		sender_run(&ch, &j->so, &stats, &st);
	stats.tx_path = chan_tx_path(&ch);
	stats.seconds = clock_now() - t0;
out:
	progress_end(&prog);
	if (j->once && !kc_interrupted && (!stats.handshake_done || kc_class(&st) == KC_TLS)) {
		diag_print("%s; still waiting for a receiver", kc_msg(&st));
		rc = SERVER_REFUSED;
	} else
		rc = cli_finish(&stats, &st);
	chan_free(&ch);
	if (sess)
		gnutls_deinit(sess);
	return rc;
}

/* --listen: bind, say where (not with -q) and the token to give the
 * receiver (even with -q: no receiver can come in without it).  *lfd is
 * the socket.  0 or -1 with st. */
static int send_listen(struct send_job *j, int *lfd, struct kc_status *st)
{
	*lfd = net_listen(opt.bind, j->port, cli_family(opt.ipv4, opt.ipv6), false, st);
	if (*lfd < 0)
		return -1;
	j->port = net_local_port(*lfd);
	if (!cli_out.quiet && opt.raw)
		diag_print("sending %s as a raw stream; listening on %s port %u",
			   strcmp(j->srcs[0], "-") == 0 ? "standard input" : j->srcs[0],
			   opt.bind ? opt.bind : "all addresses", j->port);
	else if (!cli_out.quiet)
		diag_print("sending %d path%s; listening on %s port %u", j->npaths, j->npaths == 1 ? "" : "s",
			   opt.bind ? opt.bind : cli_any_address(opt.ipv4, opt.ipv6), j->port);
	if (j->to.token == j->token) {
		if (opt.token_ttl > 0)
			j->token_expiry = clock_now() + opt.token_ttl;
		diag_print("%s token: %s (valid for %d s)", opt.keep_open ? "session" : "one-time", j->token,
			   opt.token_ttl);
		diag_print("on the receiver: KTLSCP_TOKEN=%s ktlscp recv --connect THIS-HOST:%u [DIR]", j->token,
			   j->port);
	}
	return 0;
}

/* --listen: serve receivers on lfd (closed here), one-shot until one is
 * served, or with -k until SIGINT/SIGTERM or the token expires.  Returns
 * the exit status. */
static int send_serve_all(struct send_job *j, int lfd, struct xfer_stats *stats, struct kc_status *st)
{
	struct server_conf sc = {
		.lim = { .conns = 64, .startups = 10, .pending = SERVER_PENDING_MAX },
		.peer_word = "receiver",
		.handshake_secs = SEND_HANDSHAKE_SECS,
		.stop_at = j->token_expiry,
		.stop_msg = "the session token expired (--token-ttl); no longer accepting receivers",
		.serve = send_serve,
		.arg = j,
	};
	unsigned refused = 0;
	int rc;

	if (opt.keep_open)
		return server_run(&lfd, 1, &sc);
	j->once = true;
	rc = server_run_once(lfd, &sc, cli_trust.timeout > 0 ? cli_trust.timeout * 1000 : 0, &refused, st);
	close(lfd);
	if (rc >= 0)
		return rc;
	if (kc_class(st) == KC_NET && refused > 0)
		kc_replace(st, KC_TLS, "no receiver authenticated%s (%u refused, see above)",
			   j->token_expiry > 0 && clock_now() >= j->token_expiry
				   ? " before the one-time token expired (--token-ttl)" : " in time", refused);
	else if (kc_class(st) == KC_NET && j->token_expiry > 0 && clock_now() >= j->token_expiry)
		kc_replace(st, KC_NET, "the one-time token expired after %d s (--token-ttl) and no receiver came",
			   opt.token_ttl);
	return cli_finish(stats, st);
}

static int cmd_send(const struct cmd_entry *self, int nargs, const char **args)
{
	struct kc_status st = { 0 };
	struct progress prog = { 0 };
	struct xfer_stats stats = { .role = "send", .auth = NULL };
	struct send_job j = { 0 };
	struct tls_ctx tc;
	struct chan ch;
	gnutls_session_t sess = NULL;
	int fd = -1, rc;
	double t0;

	(void)self;
	memset(&tc, 0, sizeof(tc));
	memset(&ch, 0, sizeof(ch));	/* chan_free() is safe on it */
	j.tc = &tc;
	if (send_check_mode(&j, nargs, args, &st) < 0 || send_check(&j, &stats, &st) < 0)
		goto out;
	if (opt.listen)
		stats.peer[0] = '\0';	/* no peer until one connects */
	if (send_sources(&j, &st) < 0 || send_trust(&j, &tc, &stats, &st) < 0)
		goto out;
	cli_signals();
	if (opt.listen) {
		if (send_listen(&j, &fd, &st) < 0)
			goto out;
		rc = send_serve_all(&j, fd, &stats, &st);
		fd = -1;
		goto done;
	}
	t0 = clock_now();
	/* Past the key-use limit, go on over a follow-up connection where the
	 * receiver offers one (chan.h). */
	cli_reconn_role = CLI_RECONN_DIALED;
	if (send_connect(&j, &fd, &st) < 0)
		goto out;
	if (cli_secure(fd, &tc, j.pol, !opt.raw, &stats, &sess, &ch, &prog, &st) < 0)
		goto out;
	if (opt.raw)
		xfer_send_raw(&ch, j.srcs[0], cli_out.json ? -1 : STDOUT_FILENO, &stats, &st);
	else
		sender_run(&ch, &j.so, &stats, &st);
	stats.tx_path = chan_tx_path(&ch);	/* splice is known only once used */
	stats.seconds = clock_now() - t0;
out:
	progress_end(&prog);
	rc = cli_finish(&stats, &st);
done:
	chan_free(&ch);
	if (sess)
		gnutls_deinit(sess);
	if (fd >= 0)
		close(fd);
	tls_ctx_free(&tc);
	free(j.paths);
	gnutls_memset(j.token, 0, sizeof(j.token));
	return rc;
}

/* Also after a usage error or --help, when cmd_send never ran. */
static void send_free_opts(void)
{
	free(opt.target);
	free(opt.limit_rate);
	free(opt.name);
	free(opt.bind);
}

const struct cmd_entry cmd_send_entry = {
	.name = "send",
	.args = "[OPTIONS] HOST[:PORT] PATH...   or   ktlscp send --listen [OPTIONS] PATH...   (PATH - is standard input)",
	.summary = "connect to a receiver, or wait for one (--listen), and send files (-r: directories)",
	.table = send_table,
	.min_args = 1,
	.max_args = -1,
	.exec = cmd_send,
	.free_opts = send_free_opts,
};
