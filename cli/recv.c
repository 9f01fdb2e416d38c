/* recv: listen for senders and receive files into a directory, in steps:
 * check the options, open DIR, set up trust (authorized_senders or a
 * printed token by default), listen (or take the socket systemd passed),
 * then serve.  One-shot recv serves senders in this process until one is
 * authenticated and served; recv -k serves each in a child; both through
 * the serving loops of common/server.c, which tell the process model, and
 * serve().  recv --connect dials a listening sender instead (send
 * --listen) and is the TLS client, trusting it as send trusts a receiver. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chan.h"
#include "clock.h"
#include "net.h"
#include "oplog.h"
#include "opts.h"
#include "progress.h"
#include "receiver.h"
#include "server.h"
#include "trustdb.h"
#include "xfer.h"

#define HANDSHAKE_TIMEOUT_DEFAULT 10	/* seconds */
#define MAX_CONNS_DEFAULT 64
#define MAX_STARTUPS_DEFAULT 10

/* recv's own options; -1: not given. */
static struct recv_cli {
	int port;
	char *listen;
	int keep_open, max_conns, max_startups, handshake_timeout, workers, token_ttl;
	char *max_size;
	long max_files;
	int to_stdout, raw, unsafe_links, syslog;
	int ipv4, ipv6;
	char *connect;		/* --connect HOST[:PORT] */
} opt = { .port = -1, .max_startups = -1, .handshake_timeout = -1, .workers = -1, .token_ttl = 600 };

static struct poptOption recv_table[] = {
	{ "port", 'P', POPT_ARG_INT, &opt.port, 0, "TCP port to listen on (default 7433; 0: any free port)", "N" },
	{ "listen", 0, POPT_ARG_STRING, &opt.listen, 0, "address to bind (default: all, IPv6 and IPv4)", "ADDR" },
	{ "connect", 0, POPT_ARG_STRING, &opt.connect, 0,
	  "dial a listening sender (send --listen) instead of listening; -P is then its port", "HOST[:PORT]" },
	{ "accept-new", 0, POPT_ARG_NONE, &cli_trust.accept_new, 0,
	  "with --connect and no other trust option: record a sender not yet in known_hosts without asking", NULL },
	{ "keep-open", 'k', POPT_ARG_NONE, &opt.keep_open, 0,
	  "keep accepting senders, several at once, until SIGINT or SIGTERM", NULL },
	{ "max-conns", 0, POPT_ARG_INT, &opt.max_conns, 0,
	  "with -k: connections served at once, in the handshake or transferring (default 64)", "N" },
	{ "max-startups", 0, POPT_ARG_INT, &opt.max_startups, 0,
	  "with -k: of those, at most N not yet authenticated (default 10)", "N" },
	{ "handshake-timeout", 0, POPT_ARG_INT, &opt.handshake_timeout, 0,
	  "drop a connection whose TLS handshake is not done within SECONDS of accepting it (default 10; 0: only --timeout)",
	  "SECONDS" },
	{ "workers", 0, POPT_ARG_INT, &opt.workers, 0,
	  "with -k: N processes accept on the same port (SO_REUSEPORT; default 1)", "N" },
	{ "token-ttl", 0, POPT_ARG_INT, &opt.token_ttl, 0,
	  "a printed token is good for this many seconds (default 600; 0: until exit)", "SECONDS" },
	{ "max-size", 0, POPT_ARG_STRING, &opt.max_size, 0,
	  "refuse files beyond SIZE bytes in all from one sender (e.g. 10G)", "SIZE" },
	{ "max-files", 0, POPT_ARG_LONG, &opt.max_files, 0,
	  "refuse a sender announcing more than N entries (default 10000000)", "N" },
	{ "unsafe-links", 0, POPT_ARG_NONE, &opt.unsafe_links, 0,
	  "keep symbolic links (send -l) whose target is absolute or leaves DIR (default: skip them)", NULL },
	{ "stdout", 0, POPT_ARG_NONE, &opt.to_stdout, 0,
	  "write what arrives to standard output, in order, instead of into DIR", NULL },
	{ "raw", 0, POPT_ARG_NONE, &opt.raw, 0,
	  "no ktlscp framing: write one plain TLS byte stream to standard output", NULL },
	{ "allow", 0, POPT_ARG_ARGV, &cli_trust.allow, 0,
	  "accept only senders whose key has this fingerprint (repeatable; default: the authorized_senders file)",
	  "SHA256:..." },
	{ "syslog", 0, POPT_ARG_NONE, &opt.syslog, 0,
	  "once listening, log to syslog (ident ktlscp, facility daemon) instead of stderr", NULL },
	{ NULL, '4', POPT_ARG_NONE, &opt.ipv4, 0, "IPv4 only", NULL },
	{ NULL, '6', POPT_ARG_NONE, &opt.ipv6, 0, "IPv6 only", NULL },
	{ NULL, 0, POPT_ARG_INCLUDE_TABLE, cli_trust_table, 0, "Trust and TLS:", NULL },
	{ NULL, 0, POPT_ARG_INCLUDE_TABLE, cli_output_table, 0, "Output:", NULL },
	CLI_HELP_TABLE
	POPT_TABLEEND
};

static uint64_t max_bytes;	/* --max-size */
static double token_expiry;	/* a printed token is refused after this (clock_now()), 0: never */

/* Milliseconds left for accepting: the printed token's lifetime and the
 * wait limit of --timeout (0 = none); -1 when the token has expired. */
static int accept_ms(int timeout_ms)
{
	double left;

	if (token_expiry <= 0)
		return timeout_ms;
	left = token_expiry - clock_now();
	if (left <= 0)
		return -1;
	if (timeout_ms > 0 && timeout_ms < left * 1000)
		return timeout_ms;
	return (int)(left * 1000) + 1;
}

/* The handshake limit in seconds; 0: none of its own (--timeout applies). */
static int handshake_secs(void)
{
	return opt.handshake_timeout < 0 ? HANDSHAKE_TIMEOUT_DEFAULT : opt.handshake_timeout;
}

/* What serving a connection needs besides the connection. */
struct recv_conn {
	struct tls_ctx *tc;
	enum ktls_policy pol;
	int rootfd;
	const char *dir;
	bool once;		/* one-shot listening: a refused sender is not the end */
	bool token;		/* the PSK is a token (printed, or --token) */
};

/* One-shot: a sender refused before it was authenticated (the handshake
 * failed, or it refused the session before sending a byte: chan.c says
 * KC_TLS then) is told in one line and does not use the receiver up. */
static bool refused_early(const struct recv_conn *c, const struct xfer_stats *stats,
			  const struct kc_status *st)
{
	return c->once && !kc_interrupted && (!stats->handshake_done || kc_class(st) == KC_TLS);
}

/* One sender on an accepted connection (the server's callback): handshake
 * (done by the deadline), keys to the kernel, the transfer, the summary.
 * Once the peer is authenticated, writes one byte to authfd (unless -1).
 * Returns the exit status. */
static int serve(int fd, double deadline, int authfd, void *arg)
{
	struct recv_conn *c = arg;
	struct tls_ctx *tc = c->tc;
	struct kc_status st = { 0 };
	struct xfer_stats stats = { .role = "recv" };
	struct progress prog = { 0 };
	struct recv_opts ro;
	struct chan ch;
	gnutls_session_t sess = NULL;
	double t0 = clock_now();
	int rc, hs_ms = isinf(deadline) ? cli_timeout_ms() : server_ms_until(deadline);

	memset(&ch, 0, sizeof(ch));	/* chan_free() is safe on it */
	stats.auth = tls_auth_name(tc->auth);
	net_peer_str(fd, stats.peer, sizeof(stats.peer));
	oplog_begin(stats.peer);
	/* Until authenticated, every wait counts against the deadline: GnuTLS
	 * measures the whole handshake, the receive timeout each read. */
	tc->handshake_ms = hs_ms;
	net_tune(fd, hs_ms);
	setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &(int){ 1 }, sizeof(int));	/* see tls_first_record_in */
	if (cli_secure(fd, tc, c->pol, !opt.raw && !opt.keep_open, &stats, &sess, &ch,
		       &prog, &st) < 0) {
		if (kc_class(&st) == KC_NET && !isinf(deadline) && clock_now() >= deadline - 0.25)
			kc_replace(&st, KC_NET,
				   "%s: TLS handshake not done within %d s (--handshake-timeout); connection dropped",
				   stats.peer, handshake_secs());
		goto out;
	}
	if (oplog_on())
		oplog_auth(sess, tc, c->token);
	if (authfd >= 0 && write(authfd, "A", 1) != 1)
		diag_debug("cannot tell the receiver that %s is authenticated: %s", stats.peer,
			   strerror(errno));
	net_tune(fd, cli_timeout_ms());
	ro.rootfd = c->rootfd;
	ro.to_stdout = opt.to_stdout;
	ro.unsafe_links = opt.unsafe_links;
	ro.max_bytes = max_bytes;
	ro.max_entries = opt.max_files > 0 ? (uint64_t)opt.max_files : 10000000;
	if (opt.raw)
		xfer_recv_raw(&ch, STDOUT_FILENO, &stats, &st);
	else
		receiver_run(&ch, &ro, &stats, &st);
	chan_close_notify(&ch);
	stats.seconds = clock_now() - t0;
out:
	progress_end(&prog);
	if (refused_early(c, &stats, &st)) {
		if (oplog_on()) {
			kc_append(&st, "; still waiting for a sender");
			oplog_conn(&stats, &st);
		} else {
			diag_print("%s; still waiting for a sender", kc_msg(&st));
		}
		rc = SERVER_REFUSED;
	} else
		rc = cli_finish(&stats, &st);
	chan_free(&ch);
	if (sess)
		gnutls_deinit(sess);
	return rc;
}

/* One run: what the steps set up, released at the end of cmd_recv. */
struct recv_job {
	const char *dir;
	unsigned port;
	char host[256];		/* --connect: the sender's host */
	char khname[300];	/* --connect: its name in known_hosts */
	struct xfer_stats stats;	/* the summary of a run that serves no one */
	struct server_conf sc;	/* limits and handshake time, also for one-shot */
	struct recv_conn conn;
	struct tls_opts to;
	char kprio[160];
	char token[TLS_TOKEN_LEN];	/* a printed token, or "" */
	unsigned nworkers;	/* --workers, else 1 */
	int lfds[SERVER_MAX_WORKERS];	/* one per worker */
	unsigned nlfd;
	int lfd;		/* the listening socket (lfds[0]) */
	int fd;			/* the connection to serve, one-shot */
};

/* The keys of authorized_senders (tls_opts borrows them). */
static char askeys[TLS_MAX_PINS][TRUSTDB_FP_LEN], aspath[4096];

/* --connect HOST[:PORT]: the address, and the options that belong to
 * listening refused with it (--accept-new only with it).  0 or -1 with st. */
static int recv_check_connect(struct recv_job *j, struct kc_status *st)
{
	if (!opt.connect) {
		if (cli_trust.accept_new)
			return kc_fail(st, KC_USAGE, "--accept-new goes with --connect (recv checks senders it dials)");
		return 0;
	}
	if (opt.keep_open || opt.listen)
		return kc_fail(st, KC_USAGE, "--connect dials one sender: not with -k or --listen");
	if (net_parse_hostport(opt.connect, j->host, sizeof(j->host), &j->port) < 0 || j->port == 0)
		return kc_fail(st, KC_USAGE, "--connect %s: expected HOST, HOST:PORT or [IPV6]:PORT", opt.connect);
	return 0;
}

/* The option values and the limits of -k (into j->sc); usage errors, and
 * the trust options' own, in st.  0 or -1. */
static int recv_check(struct recv_job *j, bool has_dir, struct kc_status *st)
{
	struct server_limits *lim = &j->sc.lim;
	int nworkers;

	if (cli_out.json_progress && (opt.keep_open || opt.raw || opt.to_stdout))
		return kc_fail(st, KC_USAGE, "--json-progress follows one framed transfer, on standard output: not with %s",
			       opt.raw ? "--raw" : opt.to_stdout ? "--stdout" : "-k (--json prints one summary per sender)");
	if ((opt.raw || opt.to_stdout) && (has_dir || cli_out.json || opt.keep_open))
		return kc_fail(st, KC_USAGE, "--%s writes to standard output: no DIR, --json or -k",
			       opt.raw ? "raw" : "stdout");
	if (opt.max_conns < 0 || opt.max_startups == 0 || opt.max_startups < -1 || opt.workers == 0 ||
	    opt.workers < -1 || ((opt.max_conns > 0 || opt.max_startups > 0 || opt.workers > 0) && !opt.keep_open))
		return kc_fail(st, KC_USAGE,
			       "--max-conns, --max-startups and --workers take a positive number and go with -k");
	nworkers = opt.workers < 0 ? 1 : opt.workers;
	lim->conns = opt.max_conns > 0 ? (unsigned)opt.max_conns : MAX_CONNS_DEFAULT;
	lim->startups = opt.max_startups > 0 ? (unsigned)opt.max_startups : MAX_STARTUPS_DEFAULT;
	lim->pending = SERVER_PENDING_MAX;
	if (opt.max_conns == 0 && lim->conns < (unsigned)nworkers)
		lim->conns = (unsigned)nworkers;
	/* The default startups: 10, within --max-conns, one per worker at least. */
	if (opt.max_startups < 0 && lim->startups > lim->conns)
		lim->startups = lim->conns;
	if (opt.max_startups < 0 && lim->startups < (unsigned)nworkers)
		lim->startups = (unsigned)nworkers;
	if (nworkers > SERVER_MAX_WORKERS || lim->conns < (unsigned)nworkers ||
	    lim->startups < (unsigned)nworkers || lim->startups > lim->conns)
		return kc_fail(st, KC_USAGE,
			       "--workers takes 1 to %d, at most --max-conns and --max-startups; --max-startups at most --max-conns",
			       SERVER_MAX_WORKERS);
	j->nworkers = (unsigned)nworkers;
	if (opt.handshake_timeout < -1)
		return kc_fail(st, KC_USAGE, "--handshake-timeout takes seconds, 0 for none of its own");
	j->sc.handshake_secs = handshake_secs();
	if (opt.token_ttl < 0)
		return kc_fail(st, KC_USAGE, "--token-ttl takes seconds, 0 for no limit");
	if ((opt.max_size && cli_parse_size(opt.max_size, 1, &max_bytes) < 0) || opt.max_files < 0)
		return kc_fail(st, KC_USAGE, "--max-size takes a size such as 10G, --max-files a count");
	j->port = NET_DEFAULT_PORT;
	if (opt.port != -1) {
		if (opt.port < (opt.connect ? 1 : 0) || opt.port > 65535)
			return kc_fail(st, KC_USAGE, "--port %d: expected %d to 65535", opt.port, opt.connect ? 1 : 0);
		j->port = (unsigned)opt.port;
	}
	if (recv_check_connect(j, st) < 0)
		return -1;
	return cli_tls_opts(&j->to, &j->conn.pol, !opt.connect, st);
}

/* The kTLS precheck, then trust: with no trust option the keys in
 * authorized_senders, if it lists any; else a fresh token is the PSK (one
 * sender, or with -k every sender until it expires); with --connect,
 * known_hosts instead.  Then the TLS context.  0 or -1 with st. */
static int recv_trust(struct recv_job *j, struct tls_ctx *tc, struct kc_status *st)
{
	struct tls_opts *to = &j->to;

	if (cli_ktls_precheck(j->conn.pol, j->kprio, sizeof(j->kprio), st) < 0)
		return -1;
	to->kernel_ciphers = j->kprio[0] ? j->kprio : NULL;
	if (opt.connect) {
		/* As send trusts a receiver: the sender's key in known_hosts
		 * unless another trust option is given (no question asked). */
		to->hostname = j->host;
		kh_name(j->host, j->port, NET_DEFAULT_PORT, j->khname, sizeof(j->khname));
		to->kh_name = j->khname;
	} else if (!to->psk_file && !to->token && to->npins == 0 && !to->ca_file) {
		char cdir[4000];
		int n, k;

		if (tls_identity_dir(cdir, sizeof(cdir), st) < 0)
			return -1;
		snprintf(aspath, sizeof(aspath), "%s/authorized_senders", cdir);
		n = as_load(aspath, askeys, TLS_MAX_PINS, st);
		if (n < 0)
			return -1;
		for (k = 0; k < n; k++)
			to->pins[to->npins++] = askeys[k];
		if (n > 0)
			to->pin_source = aspath;
	}
	if (!opt.connect && !to->psk_file && !to->token && to->npins == 0 && !to->ca_file) {
		if (tls_token_generate(j->token) < 0)
			return kc_fail(st, KC_OTHER, "cannot generate a token");
		to->token = j->token;
	}
	j->conn.token = to->token != NULL;
	if (tls_ctx_init(tc, to, st) < 0)
		return -1;
	j->stats.auth = tls_auth_name(tc->auth);
	return 0;
}

/* systemd socket activation: a listening socket serves as ours; a
 * connected one (Accept=yes) is the one sender to serve (j->fd).  Else
 * listen, once per worker.  Says where it receives (not with -q).
 * 0 or -1 with st. */
static int recv_listen(struct recv_job *j, struct kc_status *st)
{
	const char *into = opt.raw || opt.to_stdout ? "standard output" : j->dir;
	bool listening = true;
	char where[80];
	unsigned i, n = j->nworkers;

	j->lfd = net_inherited(&listening, st);
	if (j->lfd < 0 && !kc_ok(st))
		return -1;
	if (j->lfd >= 0 && !listening) {
		j->fd = j->lfd;
		j->lfd = -1;
		if (!cli_out.quiet)
			diag_print("receiving into %s; serving %s, on the connection passed in", into,
				   net_peer_str(j->fd, where, sizeof(where)));
	} else if (j->lfd >= 0) {
		/* Every worker accepts on the one socket passed in. */
		for (j->nlfd = 0; j->nlfd < n; j->nlfd++)
			j->lfds[j->nlfd] = j->lfd;
		j->port = net_local_port(j->lfd);
		if (!cli_out.quiet)
			diag_print("receiving into %s; listening on the socket passed in (%s), port %u", into,
				   net_local_str(j->lfd, where, sizeof(where)), j->port);
	} else {
		for (j->nlfd = 0; j->nlfd < n; j->nlfd++) {
			j->lfds[j->nlfd] = net_listen(opt.listen, j->port, cli_family(opt.ipv4, opt.ipv6), n > 1, st);
			if (j->lfds[j->nlfd] < 0)
				break;
			j->port = net_local_port(j->lfds[j->nlfd]);	/* --port 0: the others share it */
		}
		if (j->nlfd < n) {
			for (i = 0; i < j->nlfd; i++)
				close(j->lfds[i]);
			j->nlfd = 0;
			return -1;
		}
		j->lfd = j->lfds[0];
		if (!cli_out.quiet)
			diag_print("receiving into %s; listening on %s port %u", into,
				   opt.listen ? opt.listen : cli_any_address(opt.ipv4, opt.ipv6), j->port);
	}
	return 0;
}

/* Tell the user which senders will be let in: the authorized_senders
 * keys (not with -q), or the token to give the sender (which starts its
 * lifetime; even with -q, as no sender can come in without it). */
static void recv_announce(struct recv_job *j)
{
	if (j->to.pin_source == aspath && !cli_out.quiet)
		diag_print("accepting the %d sender key%s in %s", j->to.npins, j->to.npins == 1 ? "" : "s",
			   aspath);
	if (j->to.token == j->token) {
		if (opt.token_ttl > 0)
			token_expiry = clock_now() + opt.token_ttl;
		diag_print("%s token: %s (valid for %d s)", opt.keep_open ? "session" : "one-time", j->token,
			   opt.token_ttl);
		diag_print("on the sender: KTLSCP_TOKEN=%s ktlscp send THIS-HOST:%u FILE...", j->token, j->port);
	} else if (cli_trust.token_from_env) {
		/* Said, and bound by --token-ttl like a printed token. */
		if (opt.token_ttl > 0)
			token_expiry = clock_now() + opt.token_ttl;
		if (!cli_out.quiet)
			diag_print("accepting senders with the token from KTLSCP_TOKEN (valid for %d s), not authorized_senders",
				   opt.token_ttl);
	}
}

/* The log of a receiver that serves (oplog.h): on with -k, for a
 * connection passed in by systemd and with --syslog (which also sends
 * every later line to syslog); a one-shot recv keeps its summary line. */
static void recv_log(struct recv_job *j)
{
	if (!opt.keep_open && j->fd < 0 && !opt.syslog)
		return;
	oplog_enable(opt.raw || opt.to_stdout ? NULL : j->dir, cli_out.quiet);
	if (opt.syslog)
		diag_syslog();
}

/* Serve: the connection passed in, or every sender (-k, through the
 * server), or the first sender to authenticate (refused ones do not count).
 * Returns the exit status. */
static int recv_serve(struct recv_job *j, struct kc_status *st)
{
	unsigned refused = 0;
	int rc;

	if (j->fd >= 0)
		return serve(j->fd, server_deadline(&j->sc, clock_now()), -1, &j->conn);
	if (opt.keep_open) {
		j->sc.serve = serve;
		j->sc.arg = &j->conn;
		j->sc.stop_at = token_expiry;
		j->sc.stop_msg = "the session token expired (--token-ttl); no longer accepting senders";
		j->lfd = -1;	/* server_run closes the sockets */
		return server_run(j->lfds, j->nworkers > 1 ? j->nlfd : 1, &j->sc);
	}
	/* One-shot: the extra sockets of --workers do not exist (it needs -k). */
	j->sc.serve = serve;
	j->sc.arg = &j->conn;
	j->sc.stop_at = token_expiry;
	j->conn.once = true;
	rc = server_run_once(j->lfd, &j->sc, cli_trust.timeout > 0 ? cli_trust.timeout * 1000 : 0, &refused, st);
	if (rc >= 0)
		return rc;
	if (kc_class(st) == KC_NET && refused > 0)
		kc_replace(st, KC_TLS, "no sender authenticated%s (%u refused, see above)",
			   accept_ms(0) < 0 ? " before the one-time token expired (--token-ttl)" : " in time", refused);
	else if (kc_class(st) == KC_NET && accept_ms(0) < 0)
		kc_replace(st, KC_NET, "the one-time token expired after %d s (--token-ttl) and no sender came; run recv again",
			   opt.token_ttl);
	return cli_finish(&j->stats, st);
}

/* --connect: dial the sender and receive from it, as the TLS client.
 * Returns the exit status. */
static int recv_dial(struct recv_job *j, struct kc_status *st)
{
	j->fd = net_connect(j->host, j->port, cli_family(opt.ipv4, opt.ipv6), cli_timeout_ms(), st);
	if (j->fd < 0)
		return cli_finish(&j->stats, st);
	return serve(j->fd, INFINITY, -1, &j->conn);
}

static int cmd_recv(const struct cmd_entry *self, int nargs, const char **args)
{
	struct kc_status st = { 0 };
	struct recv_job j = { .dir = nargs > 0 ? args[0] : ".", .stats = { .role = "recv" },
			      .sc.peer_word = "sender", .lfd = -1, .fd = -1, .conn.rootfd = -1 };
	struct tls_ctx tc;
	struct rlimit rl;
	int rc;

	(void)self;
	memset(&tc, 0, sizeof(tc));
	j.conn.tc = &tc;
	j.conn.dir = j.dir;
	if (recv_check(&j, nargs > 0, &st) < 0)
		goto out;
	j.conn.rootfd = open(j.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j.conn.rootfd < 0) {
		kc_fail(&st, KC_FILE, "%s: %s", j.dir, strerror(errno));
		goto out;
	}
	/* Fail now rather than listen and then fail every file a sender sends. */
	if (!opt.raw && !opt.to_stdout && faccessat(j.conn.rootfd, ".", W_OK | X_OK, AT_EACCESS) < 0) {
		kc_fail(&st, KC_FILE, "%s: cannot receive into it: %s", j.dir, strerror(errno));
		goto out;
	}
	if (recv_trust(&j, &tc, &st) < 0)
		goto out;
	/* A batch may hold many open directories: raise the soft fd limit. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (opt.connect) {
		recv_log(&j);
		cli_signals();
		rc = recv_dial(&j, &st);
		goto done;
	}
	if (recv_listen(&j, &st) < 0)
		goto out;
	recv_announce(&j);
	recv_log(&j);
	cli_signals();
	/* A sender that connected continues past the key-use limit on a
	 * follow-up connection we offer (recv --connect does not: the end
	 * that dialed would have to). */
	cli_reconn_role = CLI_RECONN_ACCEPTED;
	rc = recv_serve(&j, &st);
	goto done;
out:
	rc = cli_finish(&j.stats, &st);
done:
	if (j.fd >= 0)
		close(j.fd);
	if (j.lfd >= 0)
		close(j.lfd);
	if (j.conn.rootfd >= 0)
		close(j.conn.rootfd);
	tls_ctx_free(&tc);
	gnutls_memset(j.token, 0, sizeof(j.token));
	return rc;
}

/* Also after a usage error or --help, when cmd_recv never ran. */
static void recv_free_opts(void)
{
	free(opt.listen);
	free(opt.max_size);
	free(opt.connect);
}

const struct cmd_entry cmd_recv_entry = {
	.name = "recv",
	.args = "[OPTIONS] [DIR]   or   ktlscp recv --connect HOST[:PORT] [OPTIONS] [DIR]",
	.summary = "listen for a sender (-k: many), or dial one (--connect), and receive into DIR (default .)",
	.table = recv_table,
	.min_args = 0,
	.max_args = 1,
	.exec = cmd_recv,
	.free_opts = recv_free_opts,
};
