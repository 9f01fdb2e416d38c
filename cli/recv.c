/* recv: listen for senders and receive files into a directory.  One-shot
 * recv serves one sender in this process and exits; recv -k hands its
 * listening sockets to the serving loop in common/server.c, which tells
 * the process model, and serves each sender in a child through
 * serve_conn(). */
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
#include "net.h"
#include "opts.h"
#include "progress.h"
#include "server.h"
#include "trustdb.h"
#include "xfer.h"

#define HANDSHAKE_TIMEOUT_DEFAULT 10	/* seconds */
#define MAX_CONNS_DEFAULT 64
#define MAX_STARTUPS_DEFAULT 10

static int handshake_timeout = -1;	/* --handshake-timeout, seconds; -1: default */
static int max_startups = -1;		/* --max-startups; -1: default */
static int nworkers = -1;		/* --workers; -1: one */

static struct poptOption recv_table[] = {
	{ "port", 'P', POPT_ARG_INT, &cli.port, 0, "TCP port to listen on (default 7433; 0: any free port)", "N" },
	{ "listen", 0, POPT_ARG_STRING, &cli.listen, 0, "address to bind (default: all, IPv6 and IPv4)", "ADDR" },
	{ "keep-open", 'k', POPT_ARG_NONE, &cli.keep_open, 0,
	  "keep accepting senders, several at once, until SIGINT or SIGTERM", NULL },
	{ "max-conns", 0, POPT_ARG_INT, &cli.max_conns, 0,
	  "with -k: connections served at once, in the handshake or transferring (default 64)", "N" },
	{ "max-startups", 0, POPT_ARG_INT, &max_startups, 0,
	  "with -k: of those, at most N not yet authenticated (default 10)", "N" },
	{ "handshake-timeout", 0, POPT_ARG_INT, &handshake_timeout, 0,
	  "drop a connection whose TLS handshake is not done within SECONDS of accepting it (default 10; 0: only --timeout)",
	  "SECONDS" },
	{ "workers", 0, POPT_ARG_INT, &nworkers, 0,
	  "with -k: N processes accept on the same port (SO_REUSEPORT; default 1)", "N" },
	{ "token-ttl", 0, POPT_ARG_INT, &cli.token_ttl, 0,
	  "a printed token is good for this many seconds (default 600; 0: until exit)", "SECONDS" },
	{ "max-size", 0, POPT_ARG_STRING, &cli.max_size, 0,
	  "refuse files beyond SIZE bytes in all from one sender (e.g. 10G)", "SIZE" },
	{ "max-files", 0, POPT_ARG_LONG, &cli.max_files, 0,
	  "refuse a sender announcing more than N entries (default 10000000)", "N" },
	{ "stdout", 0, POPT_ARG_NONE, &cli.to_stdout, 0,
	  "write what arrives to standard output, in order, instead of into DIR", NULL },
	{ "raw", 0, POPT_ARG_NONE, &cli.raw, 0,
	  "no ktlscp framing: write one plain TLS byte stream to standard output", NULL },
	{ "allow", 0, POPT_ARG_ARGV, &cli.allow, 0,
	  "accept only senders whose key has this fingerprint (repeatable; default: the authorized_senders file)",
	  "SHA256:..." },
	{ NULL, '4', POPT_ARG_NONE, &cli.ipv4, 0, "IPv4 only", NULL },
	{ NULL, '6', POPT_ARG_NONE, &cli.ipv6, 0, "IPv6 only", NULL },
	{ NULL, 0, POPT_ARG_INCLUDE_TABLE, cli_trust_table, 0, "Trust and TLS:", NULL },
	{ NULL, 0, POPT_ARG_INCLUDE_TABLE, cli_output_table, 0, "Output:", NULL },
	POPT_AUTOHELP
	POPT_TABLEEND
};

static uint64_t max_bytes;	/* --max-size */
static double token_expiry;	/* a printed token is refused after this (cli_now()), 0: never */

/* Milliseconds left for accepting: the printed token's lifetime and the
 * wait limit of --timeout (0 = none); -1 when the token has expired. */
static int accept_ms(int timeout_ms)
{
	double left;

	if (token_expiry <= 0)
		return timeout_ms;
	left = token_expiry - cli_now();
	if (left <= 0)
		return -1;
	if (timeout_ms > 0 && timeout_ms < left * 1000)
		return timeout_ms;
	return (int)(left * 1000) + 1;
}

/* The handshake limit in seconds; 0: none of its own (--timeout applies). */
static int handshake_secs(void)
{
	return handshake_timeout < 0 ? HANDSHAKE_TIMEOUT_DEFAULT : handshake_timeout;
}

/* The handshake deadline of a connection accepted at t (INFINITY: none). */
static double handshake_deadline(double t)
{
	return handshake_secs() > 0 ? t + handshake_secs() : INFINITY;
}

/* One sender on an accepted connection: handshake (done by the deadline),
 * keys to the kernel, the transfer, the summary.  Once the peer is
 * authenticated, writes one byte to authfd (unless -1).  Returns the exit
 * status. */
static int serve(int fd, struct tls_ctx *tc, enum ktls_policy pol, int rootfd, const char *dir,
		 double deadline, int authfd)
{
	struct kc_status st = { 0 };
	struct xfer_stats stats = { .role = "recv" };
	struct progress prog = { 0 };
	struct recv_opts ro;
	struct chan ch;
	gnutls_session_t sess = NULL;
	double t0 = cli_now();
	int rc, hs_ms = isinf(deadline) ? cli_timeout_ms() : server_ms_until(deadline);

	memset(&ch, 0, sizeof(ch));
	ch.pipe[0] = ch.pipe[1] = -1;
	stats.auth = tls_auth_name(tc->auth);
	net_peer_str(fd, stats.peer, sizeof(stats.peer));
	/* Until authenticated, every wait counts against the deadline: GnuTLS
	 * measures the whole handshake, the receive timeout each read. */
	tc->handshake_ms = hs_ms;
	net_tune(fd, hs_ms);
	setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &(int){ 1 }, sizeof(int));	/* see tls_first_record_in */
	if (cli_secure(fd, tc, pol, cli_progress() && !cli.raw && !cli.keep_open, &stats, &sess, &ch,
		       &prog, &st) < 0) {
		if (st.cls == KC_NET && !isinf(deadline) && cli_now() >= deadline - 0.25)
			snprintf(st.msg, sizeof(st.msg),
				 "%s: TLS handshake not done within %d s (--handshake-timeout); connection dropped",
				 stats.peer, handshake_secs());
		goto out;
	}
	if (authfd >= 0 && write(authfd, "A", 1) != 1)
		diag_debug("cannot tell the receiver that %s is authenticated: %s", stats.peer,
			   strerror(errno));
	net_tune(fd, cli_timeout_ms());
	ro.rootfd = rootfd;
	ro.rootname = dir;
	ro.to_stdout = cli.to_stdout;
	ro.max_bytes = max_bytes;
	ro.max_entries = cli.max_files > 0 ? (uint64_t)cli.max_files : 10000000;
	if (cli.raw)
		xfer_recv_raw(&ch, STDOUT_FILENO, &stats, &st);
	else
		xfer_recv(&ch, &ro, &stats, &st);
	chan_close_notify(&ch);
	stats.seconds = cli_now() - t0;
out:
	progress_end(&prog);
	rc = cli_finish(&stats, &st);
	chan_free(&ch);
	if (sess)
		gnutls_deinit(sess);
	return rc;
}

/* What serve() needs besides the connection, for the server's callback. */
struct recv_conn_arg {
	struct tls_ctx *tc;
	enum ktls_policy pol;
	int rootfd;
	const char *dir;
};

static int serve_conn(int fd, double deadline, int authfd, void *arg)
{
	struct recv_conn_arg *a = arg;

	return serve(fd, a->tc, a->pol, a->rootfd, a->dir, deadline, authfd);
}


static int cmd_recv(const struct cmd_entry *self, int argc, const char **argv)
{
	struct kc_status st = { 0 };
	struct xfer_stats stats = { .role = "recv" };
	struct tls_opts to;
	struct tls_ctx tc;
	enum ktls_policy pol;
	poptContext ctx = NULL;
	const char **args;
	const char *dir = ".";
	char kprio[160], token[TLS_TOKEN_LEN] = "";
	static char askeys[TLS_MAX_PINS][TRUSTDB_FP_LEN], aspath[4096];
	unsigned port = NET_DEFAULT_PORT, nlfd = 0, i;
	int nargs = 0, lfd = -1, fd = -1, rootfd = -1, rc, lfds[SERVER_MAX_WORKERS];
	struct server_conf sc = { .serve = serve_conn };
	struct recv_conn_arg sa;
	struct rlimit rl;
	char where[80];
	bool listening = true;

	memset(&tc, 0, sizeof(tc));
	if (cli_parse(self, recv_table, argc, argv, &ctx) < 0) {
		rc = KC_USAGE;
		goto out_nosummary;
	}
	args = poptGetArgs(ctx);
	while (args && args[nargs])
		nargs++;
	if (nargs > 1) {
		fprintf(stderr, "ktlscp recv: at most one DIR\nUsage: ktlscp recv %s\n", self->args);
		rc = KC_USAGE;
		goto out_nosummary;
	}
	if (nargs == 1)
		dir = args[0];
	if ((cli.raw || cli.to_stdout) && (nargs > 0 || cli.json || cli.keep_open)) {
		fprintf(stderr, "ktlscp recv: --%s writes to standard output: no DIR, --json or -k\n",
			cli.raw ? "raw" : "stdout");
		rc = KC_USAGE;
		goto out_nosummary;
	}
	if (cli.max_conns < 0 || max_startups == 0 || max_startups < -1 || nworkers == 0 || nworkers < -1 ||
	    ((cli.max_conns > 0 || max_startups > 0 || nworkers > 0) && !cli.keep_open)) {
		fprintf(stderr, "ktlscp recv: --max-conns, --max-startups and --workers take a positive number and go with -k\n");
		rc = KC_USAGE;
		goto out_nosummary;
	}
	if (nworkers < 0)
		nworkers = 1;
	sc.lim.conns = cli.max_conns > 0 ? (unsigned)cli.max_conns : MAX_CONNS_DEFAULT;
	sc.lim.startups = max_startups > 0 ? (unsigned)max_startups : MAX_STARTUPS_DEFAULT;
	sc.lim.pending = SERVER_PENDING_MAX;
	if (cli.max_conns == 0 && sc.lim.conns < (unsigned)nworkers)
		sc.lim.conns = (unsigned)nworkers;
	/* The default startups: 10, within --max-conns, one per worker at least. */
	if (max_startups < 0 && sc.lim.startups > sc.lim.conns)
		sc.lim.startups = sc.lim.conns;
	if (max_startups < 0 && sc.lim.startups < (unsigned)nworkers)
		sc.lim.startups = (unsigned)nworkers;
	if (nworkers > SERVER_MAX_WORKERS || sc.lim.conns < (unsigned)nworkers ||
	    sc.lim.startups < (unsigned)nworkers || sc.lim.startups > sc.lim.conns) {
		fprintf(stderr, "ktlscp recv: --workers takes 1 to %d, at most --max-conns and --max-startups; --max-startups at most --max-conns\n",
			SERVER_MAX_WORKERS);
		rc = KC_USAGE;
		goto out_nosummary;
	}
	if (handshake_timeout < -1) {
		fprintf(stderr, "ktlscp recv: --handshake-timeout takes seconds, 0 for none of its own\n");
		rc = KC_USAGE;
		goto out_nosummary;
	}
	if (cli.token_ttl < 0) {
		fprintf(stderr, "ktlscp recv: --token-ttl takes seconds, 0 for no limit\n");
		rc = KC_USAGE;
		goto out_nosummary;
	}
	if ((cli.max_size && cli_parse_size(cli.max_size, 1, &max_bytes) < 0) || cli.max_files < 0) {
		fprintf(stderr, "ktlscp recv: --max-size takes a size such as 10G, --max-files a count\n");
		rc = KC_USAGE;
		goto out_nosummary;
	}
	if (cli.port != -1) {
		if (cli.port < 0 || cli.port > 65535) {
			kc_fail(&st, KC_USAGE, "--port %d: expected 0 to 65535", cli.port);
			goto out;
		}
		port = (unsigned)cli.port;
	}
	if (cli_tls_opts(&to, &pol, true, &st) < 0)
		goto out;
	rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		kc_fail(&st, KC_FILE, "%s: %s", dir, strerror(errno));
		goto out;
	}
	if (cli_ktls_precheck(pol, kprio, sizeof(kprio), &st) < 0)
		goto out;
	to.kernel_ciphers = kprio[0] ? kprio : NULL;
	/* No trust option: the keys in authorized_senders, if it lists any;
	 * else a fresh token is the PSK (one sender, or with -k every sender
	 * until it expires). */
	if (!to.psk_file && !to.token && to.npins == 0 && !to.ca_file) {
		char cdir[4000];
		int n, k;

		if (tls_identity_dir(cdir, sizeof(cdir), &st) < 0)
			goto out;
		snprintf(aspath, sizeof(aspath), "%s/authorized_senders", cdir);
		n = as_load(aspath, askeys, TLS_MAX_PINS, &st);
		if (n < 0)
			goto out;
		for (k = 0; k < n; k++)
			to.pins[to.npins++] = askeys[k];
		if (n > 0)
			to.pin_source = aspath;
	}
	if (!to.psk_file && !to.token && to.npins == 0 && !to.ca_file) {
		if (tls_token_generate(token) < 0) {
			kc_fail(&st, KC_OTHER, "cannot generate a token");
			goto out;
		}
		to.token = token;
	}
	if (tls_ctx_init(&tc, &to, &st) < 0)
		goto out;
	stats.auth = tls_auth_name(tc.auth);
	/* A batch may hold many open directories: raise the soft fd limit. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* systemd socket activation: a listening socket serves as ours; a
	 * connected one (Accept=yes) is the one sender to serve. */
	lfd = net_inherited(&listening, &st);
	if (lfd < 0 && st.cls != KC_OK)
		goto out;
	if (lfd >= 0 && !listening) {
		fd = lfd;
		lfd = -1;
		diag_print("receiving into %s; serving %s, on the connection passed in",
			   cli.raw || cli.to_stdout ? "standard output" : dir,
			   net_peer_str(fd, where, sizeof(where)));
	} else if (lfd >= 0) {
		/* Every worker accepts on the one socket passed in. */
		for (nlfd = 0; nlfd < (unsigned)nworkers; nlfd++)
			lfds[nlfd] = lfd;
		port = net_local_port(lfd);
		diag_print("receiving into %s; listening on the socket passed in (%s), port %u",
			   cli.raw || cli.to_stdout ? "standard output" : dir,
			   net_local_str(lfd, where, sizeof(where)), port);
	} else {
		for (nlfd = 0; nlfd < (unsigned)nworkers; nlfd++) {
			lfds[nlfd] = net_listen(cli.listen, port, cli_family(), nworkers > 1, &st);
			if (lfds[nlfd] < 0)
				break;
			port = net_local_port(lfds[nlfd]);	/* --port 0: the others share it */
		}
		if (nlfd < (unsigned)nworkers) {
			for (i = 0; i < nlfd; i++)
				close(lfds[i]);
			nlfd = 0;
			goto out;
		}
		lfd = lfds[0];
		diag_print("receiving into %s; listening on %s port %u",
			   cli.raw || cli.to_stdout ? "standard output" : dir,
			   cli.listen ? cli.listen : "all addresses", port);
	}
	if (to.pin_source == aspath)
		diag_print("accepting the %d sender key%s in %s", to.npins, to.npins == 1 ? "" : "s",
			   aspath);
	if (to.token == token) {
		if (cli.token_ttl > 0)
			token_expiry = cli_now() + cli.token_ttl;
		diag_print("%s token: %s (valid for %d s)", cli.keep_open ? "session" : "one-time", token,
			   cli.token_ttl);
		diag_print("on the sender: KTLSCP_TOKEN=%s ktlscp send THIS-HOST:%u FILE...", token, port);
	}
	cli_signals();
	if (fd >= 0) {
		rc = serve(fd, &tc, pol, rootfd, dir, handshake_deadline(cli_now()), -1);
		goto out_nosummary;
	}
	if (cli.keep_open) {
		sa = (struct recv_conn_arg){ .tc = &tc, .pol = pol, .rootfd = rootfd, .dir = dir };
		sc.arg = &sa;
		sc.handshake_secs = handshake_secs();
		sc.stop_at = token_expiry;
		sc.stop_msg = "the session token expired (--token-ttl); no longer accepting senders";
		rc = server_run(lfds, nworkers > 1 ? nlfd : 1, &sc);
		lfd = -1;
		goto out_nosummary;
	}
	/* One-shot: the extra sockets of --workers do not exist (it needs -k). */
	fd = net_accept(lfd, accept_ms(cli.timeout > 0 ? cli.timeout * 1000 : 0), &st);
	if (fd < 0) {
		if (accept_ms(0) < 0) {
			st.cls = KC_OK;
			kc_fail(&st, KC_NET, "the one-time token expired after %d s (--token-ttl) and no sender came; run recv again",
				cli.token_ttl);
		}
		goto out;
	}
	close(lfd);
	lfd = -1;
	rc = serve(fd, &tc, pol, rootfd, dir, handshake_deadline(cli_now()), -1);
	goto out_nosummary;
out:
	rc = cli_finish(&stats, &st);
out_nosummary:
	if (fd >= 0)
		close(fd);
	if (lfd >= 0)
		close(lfd);
	if (rootfd >= 0)
		close(rootfd);
	tls_ctx_free(&tc);
	gnutls_memset(token, 0, sizeof(token));
	if (ctx)
		poptFreeContext(ctx);
	cli_free();
	return rc;
}

const struct cmd_entry cmd_recv_entry = {
	.name = "recv",
	.args = "[OPTIONS] [DIR]",
	.summary = "listen for a sender (-k: many) and receive into DIR (default .)",
	.exec = cmd_recv,
};
