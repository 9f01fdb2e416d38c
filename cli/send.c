/* send: connect to a receiver and send files and directories, in steps:
 * check the options and the address, look at the sources, set up trust,
 * connect and secure the connection, run the sender engine (or raw mode). */
#include "config.h"

#include <errno.h>
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
#include "trustdb.h"
#include "walk.h"
#include "xfer.h"

/* send's own options. */
static struct send_cli {
	int port;
	int recursive, preserve, no_clobber, resume, update, verify, raw;
	char *target, *limit_rate, *name;
	int ipv4, ipv6;
} opt = { .port = -1 };

static struct poptOption send_table[] = {
	{ "port", 'P', POPT_ARG_INT, &opt.port, 0, "receiver's TCP port (default 7433)", "N" },
	{ "recursive", 'r', POPT_ARG_NONE, &opt.recursive, 0, "send directories and their contents", NULL },
	{ "preserve", 'p', POPT_ARG_NONE, &opt.preserve, 0,
	  "keep permission bits, modification and access times", NULL },
	{ "no-clobber", 'n', POPT_ARG_NONE, &opt.no_clobber, 0,
	  "skip files that already exist on the receiver", NULL },
	{ "resume", 0, POPT_ARG_NONE, &opt.resume, 0,
	  "continue files an interrupted run left partial (their prefix is checked)", NULL },
	{ "update", 0, POPT_ARG_NONE, &opt.update, 0,
	  "skip files whose copy on the receiver is not older", NULL },
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

/* The option values and the address; usage errors (and the trust options'
 * own) in st.  0 or -1. */
static int send_check(struct send_job *j, struct xfer_stats *stats, struct kc_status *st)
{
	int i, dashes = 0;

	j->port = NET_DEFAULT_PORT;
	if (opt.port != -1) {
		if (opt.port < 1 || opt.port > 65535)
			return kc_fail(st, KC_USAGE, "--port %d: expected 1 to 65535", opt.port);
		j->port = (unsigned)opt.port;
	}
	if (send_dest_hint(j, st) < 0)
		return -1;
	if (net_parse_hostport(j->dest, j->host, sizeof(j->host), &j->port) < 0) {
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
	if (opt.raw && opt.verify)
		return kc_fail(st, KC_USAGE, "--verify needs ktlscp's framing: not with --raw");
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
	return cli_tls_opts(&j->to, &j->pol, false, st);
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
		     (opt.verify ? PROTO_OPT_VERIFY : 0);
	return 0;
}

/* The receiver's name for known_hosts, whether to ask about a new one, the
 * kTLS precheck, then the TLS context.  0 or -1 with st. */
static int send_trust(struct send_job *j, struct tls_ctx *tc, struct xfer_stats *stats,
		      struct kc_status *st)
{
	int i;

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

/* Connect, tune the socket and pace it for --limit-rate.  Sets *fd (also on
 * a later failure, for the caller to close).  0 or -1 with st. */
static int send_connect(struct send_job *j, int *fd, struct kc_status *st)
{
	*fd = net_connect(j->host, j->port, cli_family(opt.ipv4, opt.ipv6), cli_timeout_ms(), st);
	if (*fd < 0)
		return -1;
	net_tune(*fd, cli_timeout_ms());
	/* The kernel paces TCP to this rate (fq, or TCP's own pacing). */
	if (j->rate > 0 && setsockopt(*fd, SOL_SOCKET, SO_MAX_PACING_RATE, &j->rate, sizeof(j->rate)) < 0)
		return kc_fail(st, KC_OTHER, "--limit-rate: %s", strerror(errno));
	return 0;
}

static int cmd_send(const struct cmd_entry *self, int nargs, const char **args)
{
	struct kc_status st = { 0 };
	struct progress prog = { 0 };
	struct xfer_stats stats = { .role = "send", .auth = NULL };
	struct send_job j = { .dest = args[0], .srcs = args + 1, .nsrcs = nargs - 1 };
	struct tls_ctx tc;
	struct chan ch;
	gnutls_session_t sess = NULL;
	int fd = -1, rc;
	double t0;

	(void)self;
	memset(&tc, 0, sizeof(tc));
	memset(&ch, 0, sizeof(ch));	/* chan_free() is safe on it */
	if (send_check(&j, &stats, &st) < 0 || send_sources(&j, &st) < 0 ||
	    send_trust(&j, &tc, &stats, &st) < 0)
		goto out;
	cli_signals();
	t0 = clock_now();
	if (send_connect(&j, &fd, &st) < 0)
		goto out;
	if (cli_secure(fd, &tc, j.pol, cli_progress() && !opt.raw, &stats, &sess, &ch, &prog, &st) < 0)
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
	chan_free(&ch);
	if (sess)
		gnutls_deinit(sess);
	if (fd >= 0)
		close(fd);
	tls_ctx_free(&tc);
	free(j.paths);
	return rc;
}

/* Also after a usage error or --help, when cmd_send never ran. */
static void send_free_opts(void)
{
	free(opt.target);
	free(opt.limit_rate);
	free(opt.name);
}

const struct cmd_entry cmd_send_entry = {
	.name = "send",
	.args = "[OPTIONS] HOST[:PORT] PATH... (PATH - is standard input)",
	.summary = "connect to a receiver and send files (-r: directories)",
	.table = send_table,
	.min_args = 2,
	.max_args = -1,
	.exec = cmd_send,
	.free_opts = send_free_opts,
};
