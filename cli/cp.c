/* cp: scp's command line over an ssh bootstrap.  Push (SRC... HOST:[DIR])
 * runs a receiver on the far host, pull (HOST:PATH... DEST) a sender;
 * either way the remote shell starts the far end (cp --far), the two
 * agree on a fresh key over the ssh channel, and the bytes go over a
 * direct TCP connection under TLS (kTLS where the kernels have it).  The
 * process model and the line formats are in common/boot.h; the messages
 * before the usual protocol (CP_REQ, CP_INFO) in common/proto.h.  This
 * file holds the options, the local side (cp_local) and the far end
 * (cp_far). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot.h"
#include "chan.h"
#include "clock.h"
#include "net.h"
#include "opts.h"
#include "progress.h"
#include "proto.h"
#include "receiver.h"
#include "sender.h"
#include "xfer.h"

#define FAR_HANDSHAKE_MS 10000	/* the far end's limit for an authenticated peer */

static struct cp_cli {
	int recursive, preserve, no_clobber, resume, update, sync, checksum, verify, links, hard_links;
	char *limit_rate, *rsh, *remote, *data_port;
	int far, reverse, ipv4, ipv6;
} opt;

static struct poptOption cp_tls_table[] = {
	{ "tls", 0, POPT_ARG_STRING, &cli_trust.tls, 0, "TLS version: 1.2 or 1.3 (default: 1.3, else 1.2)",
	  "VERSION" },
	{ "cipher", 0, POPT_ARG_STRING, &cli_trust.cipher, 0, KTLS_CIPHER_NAMES, "NAME" },
	{ "ktls", 0, POPT_ARG_STRING, &cli_trust.ktls, 0,
	  "auto (default): kernel TLS where possible; require: fail (exit 7) without it, on either end; off",
	  "auto|require|off" },
	{ "timeout", 0, POPT_ARG_INT, &cli_trust.timeout, 0,
	  "connect, handshake and idle limit in seconds (default 60; 0 = none)", "SECONDS" },
	POPT_TABLEEND
};

static struct poptOption cp_table[] = {
	{ "recursive", 'r', POPT_ARG_NONE, &opt.recursive, 0, "copy directories and their contents", NULL },
	{ "preserve", 'p', POPT_ARG_NONE, &opt.preserve, 0,
	  "keep permission bits, modification and access times", NULL },
	{ "links", 'l', POPT_ARG_NONE, &opt.links, 0,
	  "copy symbolic links as links (those that are absolute or leave the destination are skipped)", NULL },
	{ "hard-links", 'H', POPT_ARG_NONE, &opt.hard_links, 0,
	  "files copied under several names (one inode) arrive as hard links", NULL },
	{ "no-clobber", 'n', POPT_ARG_NONE, &opt.no_clobber, 0, "skip files that already exist at the destination",
	  NULL },
	{ "resume", 0, POPT_ARG_NONE, &opt.resume, 0,
	  "continue files an interrupted run left partial (their prefix is checked)", NULL },
	{ "update", 0, POPT_ARG_NONE, &opt.update, 0, "skip files whose copy at the destination is not older",
	  NULL },
	{ "sync", 0, POPT_ARG_NONE, &opt.sync, 0,
	  "skip files whose copy at the destination has the same size and modification time; "
	  "files copied keep their modification time", NULL },
	{ "checksum", 'c', POPT_ARG_NONE, &opt.checksum, 0,
	  "--sync, comparing size and SHA-256 (read on both ends) instead of size and modification time", NULL },
	{ "verify", 0, POPT_ARG_NONE, &opt.verify, 0,
	  "check each file end to end (SHA-256) before it takes its name", NULL },
	{ "limit-rate", 0, POPT_ARG_STRING, &opt.limit_rate, 0,
	  "push: send at most RATE bytes per second (k, M, G: 1000s; Ki, Mi, Gi: 1024s)", "RATE" },
	{ "rsh", 'e', POPT_ARG_STRING, &opt.rsh, 0,
	  "the remote shell, run as CMD [USER@]HOST -- ... (default ssh; also KTLSCP_RSH)", "CMD" },
	{ "remote-ktlscp", 0, POPT_ARG_STRING, &opt.remote, 0,
	  "the far end's ktlscp (default ktlscp; also KTLSCP_REMOTE)", "PATH" },
	{ "data-port", 0, POPT_ARG_STRING, &opt.data_port, 0,
	  "the far end listens on this port, or the first free one of the range, also for follow-up "
	  "connections past the key-use limit (default: any)", "N|LOW-HIGH" },
	{ "reverse", 0, POPT_ARG_NONE, &opt.reverse, 0,
	  "the far end connects back to us (then --data-port is our port), for a firewalled far host", NULL },
	{ "far", 0, POPT_ARG_NONE | POPT_ARGFLAG_DOC_HIDDEN, &opt.far, 0, NULL, NULL },
	{ NULL, '4', POPT_ARG_NONE, &opt.ipv4, 0, "IPv4 only (the data connection)", NULL },
	{ NULL, '6', POPT_ARG_NONE, &opt.ipv6, 0, "IPv6 only (the data connection)", NULL },
	{ NULL, 0, POPT_ARG_INCLUDE_TABLE, cp_tls_table, 0, "TLS:", NULL },
	{ NULL, 0, POPT_ARG_INCLUDE_TABLE, cli_output_table, 0, "Output:", NULL },
	CLI_HELP_TABLE
	POPT_TABLEEND
};

/* --data-port N or LOW-HIGH into *lo, *hi (0, 0: any).  0 or -EINVAL. */
static int cp_ports(unsigned *lo, unsigned *hi)
{
	char *end;
	unsigned long a, b;

	*lo = *hi = 0;
	if (opt.data_port == NULL)
		return 0;
	a = strtoul(opt.data_port, &end, 10);
	b = a;
	if (*end == '-')
		b = strtoul(end + 1, &end, 10);
	if (end == opt.data_port || *end != '\0' || a < 1 || b > 65535 || a > b)
		return -EINVAL;
	*lo = (unsigned)a;
	*hi = (unsigned)b;
	return 0;
}

static uint32_t cp_proto_opts(void)
{
	return (opt.preserve ? PROTO_OPT_PRESERVE : 0) | (opt.no_clobber ? PROTO_OPT_NOCLOBBER : 0) |
	       (opt.update ? PROTO_OPT_UPDATE : 0) | (opt.resume ? PROTO_OPT_RESUME : 0) |
	       (opt.verify ? PROTO_OPT_VERIFY : 0) | (opt.links ? PROTO_OPT_LINKS : 0) |
	       (opt.hard_links ? PROTO_OPT_HARDLINKS : 0) | (opt.sync || opt.checksum ? PROTO_OPT_SYNC : 0) |
	       (opt.checksum ? PROTO_OPT_CHECKSUM : 0);
}

/* One mode name from CP_INFO's byte. */
static const char *far_mode(uint8_t m)
{
	return ktls_mode_name((enum ktls_mode)m);
}

/* Listen on addr (NULL: all) at --data-port's first free port (or any).
 * The socket, or -1 with st. */
static int cp_listen_range(const char *addr, int family, struct kc_status *st)
{
	unsigned lo, hi, p;
	int lfd = -1;

	if (cp_ports(&lo, &hi) < 0)
		return kc_fail(st, KC_USAGE, "--data-port %s: expected N or LOW-HIGH (1 to 65535)", opt.data_port);
	for (p = lo; p <= hi; p++) {
		struct kc_status tmp = { 0 };

		lfd = net_listen(addr, p, family, false, &tmp);
		if (lfd >= 0)
			break;
		if (p == hi)
			return kc_fail(st, KC_NET, "cannot listen on --data-port %s: %s",
				       opt.data_port ? opt.data_port : "0", kc_msg(&tmp));
	}
	return lfd;
}

/* ---- the far end ---------------------------------------------------------- */

/* The key line from stdin, within 30 s; wiped after parsing.  0 or -1. */
static int far_key(uint8_t key[BOOT_KEY_LEN], struct kc_status *st)
{
	char line[BOOT_LINE_MAX];
	size_t n = 0;
	int rc;

	for (;;) {
		struct pollfd pfd = { STDIN_FILENO, POLLIN, 0 };
		ssize_t r;

		if (poll(&pfd, 1, 30000) <= 0)
			return kc_fail(st, KC_NET, "no key line on standard input within 30 s");
		r = read(STDIN_FILENO, line + n, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || n + 1 >= sizeof(line))
			return kc_fail(st, KC_USAGE, "--far is ktlscp cp's own far end; it reads a key line on standard input");
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	rc = boot_key_parse(line, key);
	gnutls_memset(line, 0, sizeof(line));
	if (rc == -EPROTONOSUPPORT)
		return kc_fail(st, KC_OTHER, "the local ktlscp speaks another bootstrap version (this one: %d); install the same version on both hosts",
			       BOOT_VERSION);
	if (rc < 0)
		return kc_fail(st, KC_USAGE, "malformed key line on standard input");
	return 0;
}

/* The banner on stdout, then stdout to /dev/null, so that nothing else can
 * reach the local side's parser. */
static void far_banner(unsigned port, const char *addr)
{
	int nul;

	printf("KTLSCP-FAR %d %u %s\n", BOOT_VERSION, port, addr);
	fflush(stdout);
	nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (nul >= 0) {
		dup2(nul, STDOUT_FILENO);
		close(nul);
	}
}

/* Listen where the ssh client reached us (SSH_CONNECTION's third field),
 * on --data-port's first free port, and print the banner.  Returns the
 * listening socket or -1. */
static int far_listen(struct kc_status *st)
{
	const char *sc = getenv("SSH_CONNECTION");
	char addr[INET6_ADDRSTRLEN + 8] = "-";
	int lfd;

	if (sc && sscanf(sc, "%*s %*s %45s", addr) != 1)
		snprintf(addr, sizeof(addr), "-");
	lfd = cp_listen_range(addr[0] == '-' ? NULL : addr, AF_UNSPEC, st);
	if (lfd >= 0)
		far_banner(net_local_port(lfd), addr);
	return lfd;
}

/* --reverse: dial the local side, at SSH_CONNECTION's client address and
 * the port --data-port names.  The connection, or -1 with st. */
static int far_dial(struct kc_status *st)
{
	const char *sc = getenv("SSH_CONNECTION");
	char addr[INET6_ADDRSTRLEN + 8];
	struct kc_status tmp = { 0 };
	unsigned lo, hi;
	int fd;

	if (cp_ports(&lo, &hi) < 0 || lo == 0 || lo != hi)
		return kc_fail(st, KC_USAGE, "--far --reverse takes the local side's port as --data-port N");
	if (sc == NULL || sscanf(sc, "%45s", addr) != 1)
		return kc_fail(st, KC_USAGE, "--reverse: no SSH_CONNECTION, so no address to connect back to");
	far_banner(lo, addr);
	fd = net_connect(addr, lo, AF_UNSPEC, cli_timeout_ms(), &tmp);
	if (fd < 0)
		return kc_fail(st, KC_NET, "cannot connect back to %s port %u (--reverse): %s", addr, lo, kc_msg(&tmp));
	return fd;
}

/* Pull: the paths asked for, relative to the home (cwd), checked as send
 * checks its sources (what cannot be sent is said on stderr, which the
 * local side relays).  Fills so.  0, or -1 after telling the peer. */
static int far_sources(struct chan *ch, struct proto_cp_req *rq, struct send_opts *so, char **paths,
		       struct kc_status *st)
{
	unsigned i, n = 0;
	char text[PROTO_ERRTEXT_MAX] = "", e[400];

	for (i = 0; i < rq->count; i++) {
		const char *a = rq->path[i][0] ? rq->path[i] : ".";
		struct stat sb;

		diag_escape(a, strlen(a), e, sizeof(e));
		if (stat(a, &sb) < 0)
			snprintf(text, sizeof(text), "%s: %s", e, strerror(errno));
		else if (S_ISDIR(sb.st_mode) && !(rq->flags & PROTO_CP_RECURSIVE))
			snprintf(text, sizeof(text), "%s: is a directory (use -r to copy it)", e);
		else if (!S_ISDIR(sb.st_mode) && !S_ISREG(sb.st_mode))
			snprintf(text, sizeof(text), "%s: not a regular file or directory", e);
		else {
			paths[n++] = (char *)a;
			continue;
		}
		diag_print("%s", text);
		so->prefailed++;
	}
	if (n == 0)
		return xfer_abort(ch, PR_SOURCE, st, KC_FILE, rq->count == 1 ? text : "none of the paths can be sent");
	so->paths = paths;
	so->npaths = (int)n;
	so->recursive = rq->flags & PROTO_CP_RECURSIVE;
	so->opts = rq->opts;
	/* For the test suite only: a far end that lies about names (cp.bats). */
	so->target = getenv("KTLSCP_TEST_FAR_TARGET");
	return 0;
}

/* CP_INFO: our kTLS modes, so that the local side can report them. */
static int far_info(struct chan *ch, struct xfer_stats *stats, struct kc_status *st)
{
	struct pbuf b = { 0 };
	int rc = proto_cp_info_encode(&b, (uint8_t)stats->ki.tx, (uint8_t)stats->ki.rx);

	rc = rc < 0 ? kc_fail(st, KC_OTHER, "cannot encode CP_INFO") : chan_write(ch, b.p, b.len, false, st);
	pbuf_free(&b);
	return rc;
}

/* After the handshake: the request, then the receiver or the sender. */
static int far_serve(struct chan *ch, struct xfer_stats *stats, struct kc_status *st)
{
	struct proto_cp_req *rq = malloc(sizeof(*rq));
	char *paths[PROTO_CP_PATHS_MAX];
	struct send_opts so = { 0 };
	const uint8_t *p;
	uint32_t len;
	int rc = -1, rootfd = -1;

	if (rq == NULL)
		return kc_fail(st, KC_OTHER, "out of memory");
	if (xfer_expect(ch, PROTO_CP_REQ, &p, &len, st) < 0)
		goto out;
	if (proto_cp_req_decode(p, len, rq) < 0) {
		xfer_abort(ch, PR_PROTOCOL, st, KC_XFER, "protocol error: malformed CP_REQ");
		goto out;
	}
	stats->role = rq->dir == PROTO_CP_PUSH ? "recv" : "send";
	if (rq->dir == PROTO_CP_PUSH) {
		const char *dir = rq->path[0][0] ? rq->path[0] : ".";
		struct recv_opts ro = { .max_entries = 10000000 };
		char text[PROTO_ERRTEXT_MAX], e[512];

		rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (rootfd < 0 || faccessat(rootfd, ".", W_OK | X_OK, AT_EACCESS) < 0) {
			snprintf(text, sizeof(text), "%s: cannot receive into it: %s",
				 diag_escape(dir, strlen(dir), e, sizeof(e)), strerror(errno));
			xfer_abort(ch, proto_reason_from_errno(errno), st, KC_FILE, text);
			goto out;
		}
		ro.rootfd = rootfd;
		rc = far_info(ch, stats, st) ?: receiver_run(ch, &ro, stats, st);
		chan_close_notify(ch);
	} else if (far_sources(ch, rq, &so, paths, st) == 0) {
		rc = far_info(ch, stats, st) ?: sender_run(ch, &so, stats, st);
	}
out:
	if (rootfd >= 0)
		close(rootfd);
	free(rq);
	return rc;
}

/* cp --far: read the key, listen and say where (--reverse: dial back), take one connection that
 * knows the key, serve it.  Errors before the handshake go to stderr
 * (relayed by the local side); later ones went to the peer as ERROR, and
 * print only with -v.  Returns the exit status. */
static int cp_far(void)
{
	struct kc_status st = { 0 };
	struct xfer_stats stats = { .role = "recv", .auth = "ssh" };
	struct progress prog = { 0 };
	uint8_t key[BOOT_KEY_LEN];
	struct tls_opts to;
	enum ktls_policy pol;
	struct tls_ctx tc;
	struct chan ch;
	gnutls_session_t sess = NULL;
	char kprio[160];
	int lfd = -1, fd = -1;

	memset(&tc, 0, sizeof(tc));
	memset(&ch, 0, sizeof(ch));
	cli_signals();
	cli_reconn_role = opt.reverse ? CLI_RECONN_NONE : CLI_RECONN_ACCEPTED;
	/* Follow-ups come to the range the data connection came to (a
	 * malformed one is reported by far_listen()). */
	if (!opt.reverse)
		cp_ports(&cli_reconn_port_lo, &cli_reconn_port_hi);
	if (cli_tls_opts(&to, &pol, true, &st) < 0 || far_key(key, &st) < 0 ||
	    cli_ktls_precheck(pol, kprio, sizeof(kprio), &st) < 0)
		goto out;
	to.kernel_ciphers = kprio[0] ? kprio : NULL;
	to.handshake_ms = FAR_HANDSHAKE_MS;
	if (boot_tls_ctx(&tc, &to, key, &st) < 0 || boot_watch_stdin() < 0)
		goto out;
	if (opt.reverse)
		fd = far_dial(&st);
	else if ((lfd = far_listen(&st)) >= 0)
		fd = net_accept(lfd, cli_timeout_ms(), &st);
	if (fd < 0)
		goto out;
	if (lfd >= 0)
		close(lfd);
	lfd = -1;
	net_peer_str(fd, stats.peer, sizeof(stats.peer));
	net_tune(fd, FAR_HANDSHAKE_MS);
	if (cli_secure(fd, &tc, pol, false, &stats, &sess, &ch, &prog, &st) < 0)
		goto out;
	net_tune(fd, cli_timeout_ms());
	far_serve(&ch, &stats, &st);
out:
	gnutls_memset(key, 0, sizeof(key));
	if (!kc_ok(&st) && (!stats.handshake_done || cli_out.verbose))
		diag_print("%s", kc_msg(&st));
	chan_free(&ch);
	if (sess)
		gnutls_deinit(sess);
	if (fd >= 0)
		close(fd);
	if (lfd >= 0)
		close(lfd);
	tls_ctx_free(&tc);
	return (int)kc_class(&st);
}

/* ---- the local side ------------------------------------------------------- */

/* One run of the local side. */
struct cp_job {
	bool push;
	const char **locals;	/* push: the sources */
	int nlocals;
	const char *dest;	/* pull: the local directory */
	char userhost[300], host[256], label[300];
	const char *rpaths[PROTO_CP_PATHS_MAX];	/* push: the far DIR; pull: what to fetch */
	unsigned nrpaths;
	char **paths;		/* push: the sources left to send */
	struct send_opts so;
	uint64_t rate;
	struct tls_opts to;
	enum ktls_policy pol;
	char kprio[160];
	uint8_t key[BOOT_KEY_LEN];
	struct boot_child child;
	unsigned far_port;
	char far_addr[300];
	int rootfd;		/* pull: DEST */
	int lfd;		/* --reverse: where the far end connects to */
	char rport[8];		/* --reverse: its port, for the far end's --data-port */
	uint8_t far_tx, far_rx;
	bool have_far;
	/* pull: the top-level names that may arrive (as walk.c names them),
	 * and how many requests ("." and the like) name one we cannot know */
	char (*names)[PROTO_NAME_MAX + 1];
	unsigned nnames, wild;
};

/* The top-level name a remote path arrives under (as the far sender names
 * it, walk.c): its last component; "" when that is "." or ".." or the
 * home, which the far end resolves. */
static void cp_name_of(const char *path, char *out)
{
	size_t n = strlen(path);
	const char *b;

	while (n > 1 && path[n - 1] == '/')
		n--;
	b = memrchr(path, '/', n);
	b = b ? b + 1 : path;
	n -= (size_t)(b - path);
	if (n > PROTO_NAME_MAX || (n == 1 && b[0] == '.') || (n == 2 && b[0] == '.' && b[1] == '.'))
		n = 0;
	memcpy(out, b, n);
	out[n] = '\0';
}

/* The receiver's check on pull (CVE-2019-6111): an entry must lie under a
 * name asked for; a request the far end resolves ("." ...) admits one more
 * top-level name, the first to come. */
static int cp_path_ok(void *arg, const char *path)
{
	struct cp_job *j = arg;
	size_t n = strcspn(path, "/");
	unsigned i;

	for (i = 0; i < j->nnames; i++)
		if (j->names[i][0] && strlen(j->names[i]) == n && memcmp(j->names[i], path, n) == 0)
			return 0;
	if (j->wild == 0 || n > PROTO_NAME_MAX)
		return -1;
	for (i = 0; i < j->nnames && j->names[i][0]; i++)
		;
	if (i == j->nnames)
		return -1;
	memcpy(j->names[i], path, n);
	j->names[i][n] = '\0';
	j->wild--;
	return 0;
}

/* Which operand is remote: push (the last), or pull (all but the last,
 * on one host).  Fills the host and the remote paths.  0 or -1 (usage). */
static int cp_operands(struct cp_job *j, int nargs, const char **args, struct kc_status *st)
{
	char uh[300], h[256];
	const char *path;
	int i, rc, last = boot_remote_parse(args[nargs - 1], j->userhost, sizeof(j->userhost), j->host,
					    sizeof(j->host), &path);

	if (last < 0)
		return kc_fail(st, KC_USAGE, "%s: expected [USER@]HOST:[PATH] ([USER@][IPV6]:PATH for IPv6)", args[nargs - 1]);
	j->push = last == 1;
	if (j->push) {
		j->rpaths[j->nrpaths++] = path;
		j->locals = args;
		j->nlocals = nargs - 1;
	} else {
		j->dest = args[nargs - 1];
	}
	for (i = 0; i < nargs - 1; i++) {
		rc = boot_remote_parse(args[i], uh, sizeof(uh), h, sizeof(h), &path);
		if (rc < 0)
			return kc_fail(st, KC_USAGE, "%s: expected [USER@]HOST:PATH", args[i]);
		if (j->push && rc == 1)
			return kc_fail(st, KC_USAGE, "%s: copies from one remote host to another are not supported; exactly one side is remote",
				       args[i]);
		if (!j->push && rc == 0)
			return kc_fail(st, KC_USAGE, "%s and %s are both local: one side must be [USER@]HOST:PATH (a local name with a colon: ./%s)",
				       args[i], args[nargs - 1], args[i]);
		if (!j->push && i > 0 && strcmp(uh, j->userhost) != 0)
			return kc_fail(st, KC_USAGE, "%s: every remote path must be on the same host", args[i]);
		if (!j->push) {
			if (j->nrpaths >= PROTO_CP_PATHS_MAX)
				return kc_fail(st, KC_USAGE, "at most %d remote paths", PROTO_CP_PATHS_MAX);
			memcpy(j->userhost, uh, sizeof(uh));
			memcpy(j->host, h, sizeof(h));
			j->rpaths[j->nrpaths++] = path;
		}
	}
	snprintf(j->label, sizeof(j->label), strchr(j->host, ':') ? "[%s]" : "%s", j->host);
	return 0;
}

/* The options that do not depend on the operands.  0 or -1 (usage). */
static int cp_check(struct cp_job *j, struct kc_status *st)
{
	unsigned lo, hi;

	if (cp_ports(&lo, &hi) < 0)
		return kc_fail(st, KC_USAGE, "--data-port %s: expected N or LOW-HIGH (1 to 65535)", opt.data_port);
	if (opt.limit_rate && cli_parse_size(opt.limit_rate, 1024, &j->rate) < 0)
		return kc_fail(st, KC_USAGE, "--limit-rate %s: expected a number of bytes per second, e.g. 50M",
			       opt.limit_rate);
	if (opt.limit_rate && !j->push)
		return kc_fail(st, KC_USAGE, "--limit-rate paces what this side sends: push only");
	/* As a server: no known_hosts (ssh is the trust here), no identity. */
	if (cli_tls_opts(&j->to, &j->pol, true, st) < 0)
		return -1;
	j->to.server = false;
	if (cli_ktls_precheck(j->pol, j->kprio, sizeof(j->kprio), st) < 0)
		return -1;
	j->to.kernel_ciphers = j->kprio[0] ? j->kprio : NULL;
	return 0;
}

/* Push: report unusable sources before starting anything; fills j->so. */
static int cp_sources(struct cp_job *j, struct kc_status *st)
{
	int i, n = 0;

	j->paths = calloc((size_t)j->nlocals + 1, sizeof(*j->paths));
	if (j->paths == NULL)
		return kc_fail(st, KC_OTHER, "out of memory");
	for (i = 0; i < j->nlocals; i++) {
		const char *a = j->locals[i];
		struct stat sb;
		char e[512];

		diag_escape(a, strlen(a), e, sizeof(e));
		if (stat(a, &sb) < 0)
			diag_print("%s: %s", e, strerror(errno));
		else if (S_ISDIR(sb.st_mode) && !opt.recursive)
			diag_print("%s: is a directory (use -r to copy it)", e);
		else if (!S_ISDIR(sb.st_mode) && !S_ISREG(sb.st_mode))
			diag_print("%s: not a regular file or directory", e);
		else {
			j->paths[n++] = (char *)a;
			continue;
		}
		j->so.prefailed++;
	}
	if (n == 0)
		return kc_fail(st, KC_FILE, "nothing to send");
	j->so.paths = j->paths;
	j->so.npaths = n;
	j->so.recursive = opt.recursive;
	j->so.opts = cp_proto_opts();
	return 0;
}

/* Pull: DEST must be a directory we can write; the names that may come. */
static int cp_dest(struct cp_job *j, struct kc_status *st)
{
	unsigned i;

	j->rootfd = open(j->dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->rootfd < 0)
		return kc_fail(st, KC_FILE, "%s: %s (DEST is a directory)", j->dest, strerror(errno));
	if (faccessat(j->rootfd, ".", W_OK | X_OK, AT_EACCESS) < 0)
		return kc_fail(st, KC_FILE, "%s: cannot receive into it: %s", j->dest, strerror(errno));
	j->names = calloc(j->nrpaths, sizeof(*j->names));
	if (j->names == NULL)
		return kc_fail(st, KC_OTHER, "out of memory");
	j->nnames = j->nrpaths;
	for (i = 0; i < j->nrpaths; i++) {
		cp_name_of(j->rpaths[i], j->names[i]);
		j->wild += j->names[i][0] == '\0';
	}
	return 0;
}

/* What ended the remote shell before a banner, in words. */
static int cp_early_exit(struct cp_job *j, int code, struct kc_status *st)
{
	const char *far = opt.remote ? opt.remote : getenv("KTLSCP_REMOTE") ? getenv("KTLSCP_REMOTE") : "ktlscp";

	if (code == 255)
		return kc_fail(st, KC_NET, "%s: ssh could not connect or log in (ssh exit 255; its message is above)",
			       j->label);
	if (code == 127)
		return kc_fail(st, KC_OTHER, "%s: %s not found on the far host (exit 127): install ktlscp there, or name it with --remote-ktlscp PATH",
			       j->label, far);
	if (code == 126)
		return kc_fail(st, KC_OTHER, "%s: %s cannot be run on the far host (exit 126); see --remote-ktlscp",
			       j->label, far);
	if (code == 254)
		return kc_fail(st, KC_USAGE, "cannot run the remote shell (-e, --rsh, KTLSCP_RSH)");
	return kc_fail(st, code >= 1 && code <= 7 ? (enum kc_class)code : KC_OTHER,
		       "%s: the far end exited (status %d) before it started listening", j->label, code);
}

/* Read the banner: anything before it is a noisy shell, another version
 * an incompatible far end.  0 or -1. */
static int cp_banner(struct cp_job *j, struct kc_status *st)
{
	char line[BOOT_LINE_MAX], e[600];
	unsigned ver;
	int rc = boot_read_line(&j->child, line, sizeof(line), cli_timeout_ms(), st);

	if (rc < 0)
		return -1;
	if (rc == 1)
		return cp_early_exit(j, boot_reap(&j->child, 10000), st);
	rc = boot_banner_parse(line, &ver, &j->far_port, j->far_addr, sizeof(j->far_addr));
	diag_escape(line, strlen(line), e, sizeof(e));
	if (rc == -EPROTONOSUPPORT)
		return kc_fail(st, KC_OTHER, "%s: incompatible ktlscp on the far host (bootstrap version %u, this one speaks %d): install the same version on both hosts",
			       j->label, ver, BOOT_VERSION);
	if (rc < 0)
		return kc_fail(st, KC_OTHER, "%s: remote shell printed text before ktlscp started: \"%s\"; fix your shell startup files (e.g. .bashrc) to print nothing when not interactive",
			       j->label, e);
	if (strcmp(j->far_addr, "-") == 0)
		snprintf(j->far_addr, sizeof(j->far_addr), "%s", j->host);
	return 0;
}

/* Start the far end, give it the key and learn its data port.  0 or -1. */
static int cp_start(struct cp_job *j, struct kc_status *st)
{
	const char *rsh = opt.rsh ? opt.rsh : getenv("KTLSCP_RSH") ? getenv("KTLSCP_RSH") : "ssh";
	const char *far = opt.remote ? opt.remote : getenv("KTLSCP_REMOTE") ? getenv("KTLSCP_REMOTE") : "ktlscp";
	const char *cmd[16];
	char line[BOOT_LINE_MAX], tmo[16];
	size_t n = 0, len;
	int rc;

	cmd[n++] = far;
	cmd[n++] = "cp";
	cmd[n++] = "--far";
	if (opt.reverse) {
		cmd[n++] = "--reverse";
		cmd[n++] = "--data-port";
		cmd[n++] = j->rport;
	} else if (opt.data_port) {
		cmd[n++] = "--data-port";
		cmd[n++] = opt.data_port;
	}
	if (cli_trust.ktls) {
		cmd[n++] = "--ktls";
		cmd[n++] = cli_trust.ktls;
	}
	if (cli_trust.timeout >= 0) {
		snprintf(tmo, sizeof(tmo), "%d", cli_trust.timeout);
		cmd[n++] = "--timeout";
		cmd[n++] = tmo;
	}
	if (cli_out.verbose)
		cmd[n++] = "-v";
	cmd[n] = NULL;
	if (boot_spawn(&j->child, rsh, j->userhost, cmd, j->label, st) < 0)
		return -1;
	boot_key_line(j->key, line);
	len = strlen(line);
	rc = write(j->child.in, line, len) == (ssize_t)len ? 0 : -1;
	gnutls_memset(line, 0, sizeof(line));
	/* A shell that died at once has closed its stdin: its status says why. */
	if (rc < 0 && errno == EPIPE)
		return cp_banner(j, st);
	if (rc < 0)
		return kc_fail(st, KC_OTHER, "%s: writing to the remote shell: %s", j->label, strerror(errno));
	return cp_banner(j, st);
}

/* The socket's limits, and --limit-rate's pacing.  0 or -1. */
static int cp_pace(struct cp_job *j, int fd, struct kc_status *st)
{
	net_tune(fd, cli_timeout_ms());
	/* The kernel paces TCP to this rate (fq, or TCP's own pacing). */
	if (j->rate > 0 && setsockopt(fd, SOL_SOCKET, SO_MAX_PACING_RATE, &j->rate, sizeof(j->rate)) < 0)
		return kc_fail(st, KC_OTHER, "--limit-rate: %s", strerror(errno));
	return 0;
}

/* Dial the data port the banner named.  Sets *fd.  0 or -1. */
static int cp_connect(struct cp_job *j, int *fd, struct kc_status *st)
{
	struct kc_status tmp = { 0 };

	*fd = net_connect(j->far_addr, j->far_port, cli_family(opt.ipv4, opt.ipv6), cli_timeout_ms(), &tmp);
	if (*fd < 0)
		return kc_fail(st, KC_NET, "%s: cannot reach the far end's data port %s%s%s:%u (%s); a firewall? choose an open range with --data-port LOW-HIGH",
			       j->label, strchr(j->far_addr, ':') ? "[" : "", j->far_addr,
			       strchr(j->far_addr, ':') ? "]" : "", j->far_port, kc_msg(&tmp));
	return cp_pace(j, *fd, st);
}

/* --reverse: take the far end's connection on j->lfd, or learn that it
 * gave up (the remote shell ends: its message came through the relay).
 * Sets *fd.  0 or -1. */
static int cp_accept(struct cp_job *j, int *fd, struct kc_status *st)
{
	struct pollfd pfd[2] = { { j->lfd, POLLIN, 0 }, { j->child.out, POLLIN, 0 } };
	int ms = cli_timeout_ms(), rc;

	rc = poll(pfd, 2, ms > 0 ? ms : -1);
	if (rc < 0)
		return kc_fail(st, KC_OTHER, "interrupted");
	if (rc == 0)
		return kc_fail(st, KC_NET, "%s: the far end did not connect back within %d s (--reverse)", j->label,
			       ms / 1000);
	if (!(pfd[0].revents & POLLIN)) {
		rc = boot_reap(&j->child, 10000);
		return kc_fail(st, KC_NET, "%s: the far end could not connect back to port %s here (--reverse; exit %d, its message is above); a firewall on this side? open a range with --data-port LOW-HIGH",
			       j->label, j->rport, rc);
	}
	*fd = net_accept(j->lfd, ms, st);
	return *fd < 0 ? -1 : cp_pace(j, *fd, st);
}

/* CP_REQ, then the far end's CP_INFO (or its ERROR).  0 or -1. */
static int cp_request(struct cp_job *j, struct chan *ch, struct kc_status *st)
{
	struct pbuf b = { 0 };
	const uint8_t *p;
	uint32_t len;
	int rc;

	rc = proto_cp_req_encode(&b, j->push ? PROTO_CP_PUSH : PROTO_CP_PULL, opt.recursive ? PROTO_CP_RECURSIVE : 0,
				 cp_proto_opts(), j->rpaths, j->nrpaths);
	if (rc < 0)
		rc = kc_fail(st, KC_USAGE, "the remote paths do not fit in one request (%s)", strerror(-rc));
	else
		rc = chan_write(ch, b.p, b.len, false, st);
	pbuf_free(&b);
	if (rc < 0 || xfer_expect(ch, PROTO_CP_INFO, &p, &len, st) < 0)
		return -1;
	if (proto_cp_info_decode(p, len, &j->far_tx, &j->far_rx) < 0)
		return xfer_abort(ch, PR_PROTOCOL, st, KC_XFER, "protocol error: malformed CP_INFO");
	j->have_far = true;
	return 0;
}

/* Connect, secure, request, transfer.  0 or -1. */
static int cp_transfer(struct cp_job *j, struct tls_ctx *tc, struct xfer_stats *stats, struct progress *prog,
		       struct kc_status *st)
{
	struct chan ch;
	gnutls_session_t sess = NULL;
	struct recv_opts ro = { .rootfd = j->rootfd, .max_entries = 10000000 };
	int fd = -1, rc = -1;

	memset(&ch, 0, sizeof(ch));
	if ((opt.reverse ? cp_accept(j, &fd, st) : cp_connect(j, &fd, st)) < 0 ||
	    cli_secure(fd, tc, j->pol, true, stats, &sess, &ch, prog, st) < 0 ||
	    cp_request(j, &ch, st) < 0)
		goto out;
	if (j->push) {
		rc = sender_run(&ch, &j->so, stats, st);
		if (rc == 0)
			chan_wait_close(&ch);
	} else {
		rc = receiver_run_only(&ch, &ro, cp_path_ok, j, stats, st);
		chan_close_notify(&ch);
	}
	stats->tx_path = chan_tx_path(&ch);
out:
	chan_free(&ch);
	if (sess)
		gnutls_deinit(sess);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* The JSON summary, with the far end's modes added. */
static void cp_json(struct cp_job *j, struct xfer_stats *stats, struct kc_status *st)
{
	char *buf = NULL, *end;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	if (m == NULL)
		return;
	report_json(m, stats, st);
	fclose(m);
	end = buf ? strrchr(buf, '}') : NULL;
	if (end == NULL) {
		free(buf);
		return;
	}
	fwrite(buf, 1, (size_t)(end - buf), stdout);
	fputs(",\"far_ktls_tx\":", stdout);
	report_json_str(stdout, j->have_far ? far_mode(j->far_tx) : NULL);
	fputs(",\"far_ktls_rx\":", stdout);
	report_json_str(stdout, j->have_far ? far_mode(j->far_rx) : NULL);
	fputs(end, stdout);
	fflush(stdout);
	free(buf);
}

/* Print the outcome; returns the exit status. */
static int cp_finish(struct cp_job *j, struct xfer_stats *stats, struct kc_status *st)
{
	if (kc_class(st) == KC_OTHER && kc_interrupted && kc_msg(st)[0] == '\0')
		kc_replace(st, KC_OTHER, "interrupted");
	if (kc_class(st) == KC_USAGE)
		return cli_usage("%s", kc_msg(st));
	/* As cli_finish(): how far it got first, the cause last; the far
	 * end's modes with the TLS line, under -v. */
	if (!cli_out.json && !cli_out.quiet &&
	    (kc_ok(st) || (stats->handshake_done && (stats->files > 0 || cli_out.verbose))))
		report_human(stats, st, cli_out.verbose);
	if (!cli_out.json && j->have_far && cli_out.verbose)
		diag_print("far end %s: kTLS tx=%s rx=%s", j->label, far_mode(j->far_tx), far_mode(j->far_rx));
	if (!kc_ok(st) && !kc_printed(st))
		diag_print("%s", kc_msg(st));
	if (cli_out.json)
		cp_json(j, stats, st);
	return (int)kc_class(st);
}

/* After the transfer: the far end's own status (ssh passes it on). */
static void cp_end(struct cp_job *j, struct kc_status *st)
{
	int far = boot_reap(&j->child, 30000);

	char msg[sizeof(st->msg)];

	if (kc_ok(st) && far > 0)
		kc_fail(st, far <= 7 ? (enum kc_class)far : KC_OTHER,
			"%s: the far end failed (exit %d); its messages are above", j->label, far);
	/* The far end aborted the session (exit 5 here): its own class says
	 * more, e.g. 6 for a remote path that is missing or unreadable. */
	if (kc_class(st) == KC_XFER && (far == KC_FILE || far == KC_KTLS)) {
		snprintf(msg, sizeof(msg), "%s", kc_msg(st));
		kc_replace(st, (enum kc_class)far, "%s", msg);
	}
}

static int cp_local(int nargs, const char **args)
{
	struct kc_status st = { 0 };
	struct progress prog = { 0 };
	struct xfer_stats stats = { .role = "send", .auth = "ssh" };
	struct cp_job j = { .rootfd = -1, .lfd = -1, .child = { .pid = -1, .in = -1, .out = -1, .err = -1 } };
	struct tls_ctx tc;
	double t0;
	int rc;

	memset(&tc, 0, sizeof(tc));
	if (nargs < 2) {
		kc_fail(&st, KC_USAGE, "missing arguments; usage: ktlscp cp %s", cmd_cp_entry.args);
		goto out;
	}
	if (cp_operands(&j, nargs, args, &st) < 0 || cp_check(&j, &st) < 0 ||
	    (j.push ? cp_sources(&j, &st) : cp_dest(&j, &st)) < 0)
		goto out;
	stats.role = j.push ? "send" : "recv";
	snprintf(stats.peer, sizeof(stats.peer), "%.120s", j.label);
	if (boot_key_new(j.key) < 0) {
		kc_fail(&st, KC_OTHER, "cannot generate a key");
		goto out;
	}
	if (boot_tls_ctx(&tc, &j.to, j.key, &st) < 0)
		goto out;
	if (opt.reverse) {
		if ((j.lfd = cp_listen_range(NULL, cli_family(opt.ipv4, opt.ipv6), &st)) < 0)
			goto out;
		snprintf(j.rport, sizeof(j.rport), "%u", net_local_port(j.lfd));
	}
	cli_signals();
	/* The end that dialed continues past the key-use limit on a follow-up
	 * connection (a push: this end sends; with --reverse the far end dials
	 * and a push stops at the limit, as documented). */
	cli_reconn_role = opt.reverse ? CLI_RECONN_NONE : CLI_RECONN_DIALED;
	t0 = clock_now();
	rc = cp_start(&j, &st);
	gnutls_memset(j.key, 0, sizeof(j.key));
	if (rc < 0)
		goto out;
	cp_transfer(&j, &tc, &stats, &prog, &st);
	stats.seconds = clock_now() - t0;
	progress_end(&prog);
	cp_end(&j, &st);
out:
	progress_end(&prog);
	boot_reap(&j.child, 5000);
	gnutls_memset(j.key, 0, sizeof(j.key));
	rc = cp_finish(&j, &stats, &st);
	tls_ctx_free(&tc);
	if (j.rootfd >= 0)
		close(j.rootfd);
	if (j.lfd >= 0)
		close(j.lfd);
	free(j.paths);
	free(j.names);
	return rc;
}

static int cmd_cp(const struct cmd_entry *self, int nargs, const char **args)
{
	(void)self;
	if (opt.far) {
		if (nargs > 0)
			return cli_usage("--far takes no arguments");
		return cp_far();
	}
	return cp_local(nargs, args);
}

/* Also after a usage error or --help, when cmd_cp never ran. */
static void cp_free_opts(void)
{
	free(opt.limit_rate);
	free(opt.rsh);
	free(opt.remote);
	free(opt.data_port);
	memset(&opt, 0, sizeof(opt));
}

const struct cmd_entry cmd_cp_entry = {
	.name = "cp",
	.args = "[OPTIONS] SRC... [USER@]HOST:[DIR] | [USER@]HOST:PATH... DEST",
	.summary = "copy to or from a host, the far end started over ssh (push or pull)",
	.table = cp_table,
	.min_args = 0,
	.max_args = -1,
	.exec = cmd_cp,
	.free_opts = cp_free_opts,
};
