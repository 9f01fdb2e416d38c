/* recv: listen for one sender and receive files into a directory. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"
#include "net.h"
#include "opts.h"
#include "progress.h"
#include "trustdb.h"
#include "xfer.h"

static struct poptOption recv_table[] = {
	{ "port", 'P', POPT_ARG_INT, &cli.port, 0, "TCP port to listen on (default 7433; 0: any free port)", "N" },
	{ "listen", 0, POPT_ARG_STRING, &cli.listen, 0, "address to bind (default: all, IPv6 and IPv4)", "ADDR" },
	{ "keep-open", 'k', POPT_ARG_NONE, &cli.keep_open, 0,
	  "keep accepting senders, several at once, until SIGINT or SIGTERM", NULL },
	{ "max-conns", 0, POPT_ARG_INT, &cli.max_conns, 0,
	  "with -k: senders served at once (default 64); more wait in the backlog", "N" },
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

/* One sender on an accepted connection: handshake, keys to the kernel,
 * the transfer, the summary.  Returns the exit status. */
static int serve(int fd, struct tls_ctx *tc, enum ktls_policy pol, int rootfd, const char *dir)
{
	struct kc_status st = { 0 };
	struct xfer_stats stats = { .role = "recv" };
	struct progress prog = { 0 };
	struct recv_opts ro;
	struct chan ch;
	gnutls_session_t sess = NULL;
	double t0 = cli_now();
	int rc;

	memset(&ch, 0, sizeof(ch));
	ch.pipe[0] = ch.pipe[1] = -1;
	stats.auth = tls_auth_name(tc->auth);
	net_peer_str(fd, stats.peer, sizeof(stats.peer));
	net_tune(fd, cli_timeout_ms());
	if (cli_secure(fd, tc, pol, cli_progress() && !cli.raw && !cli.keep_open, &stats, &sess, &ch,
		       &prog, &st) < 0)
		goto out;
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

/* recv -k: accept senders until SIGINT/SIGTERM, one child process each
 * (a sender cannot disturb another's files, memory or descriptors), at most
 * --max-conns at once: beyond that, new connections wait in the listen
 * backlog.  On SIGINT/SIGTERM: stop accepting, let the children finish
 * what they are receiving (they ignore the signal), then exit 0. */
static int serve_forever(int lfd, struct tls_ctx *tc, enum ktls_policy pol, int rootfd,
			 const char *dir)
{
	unsigned active = 0, max = cli.max_conns > 0 ? (unsigned)cli.max_conns : 64;

	for (;;) {
		struct kc_status st = { 0 };
		pid_t pid;
		int fd, status;

		while ((pid = waitpid(-1, &status, active >= max ? 0 : WNOHANG)) > 0)
			active--;
		if (kc_interrupted)
			break;
		if (active >= max)
			continue;
		if (accept_ms(0) < 0) {
			diag_print("the session token expired (--token-ttl); no longer accepting senders");
			break;
		}
		fd = net_accept(lfd, accept_ms(0), &st);
		if (fd < 0) {
			if (kc_interrupted)
				break;
			if (accept_ms(0) >= 0)
				diag_print("%s", st.msg);
			continue;
		}
		pid = fork();
		if (pid == 0) {
			signal(SIGINT, SIG_IGN);
			signal(SIGTERM, SIG_IGN);
			close(lfd);
			_exit(serve(fd, tc, pol, rootfd, dir));
		}
		close(fd);
		if (pid < 0)
			diag_print("cannot serve a sender: fork: %s", strerror(errno));
		else
			active++;
	}
	close(lfd);
	if (active > 0)
		diag_print("stopping: waiting for %u sender%s to finish", active, active == 1 ? "" : "s");
	while (active > 0 && waitpid(-1, NULL, 0) > 0)
		active--;
	return 0;
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
	unsigned port = NET_DEFAULT_PORT;
	int nargs = 0, lfd = -1, fd = -1, rootfd = -1, rc;
	struct rlimit rl;

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
	if (cli.max_conns < 0 || (cli.max_conns > 0 && !cli.keep_open)) {
		fprintf(stderr, "ktlscp recv: --max-conns takes a positive number and goes with -k\n");
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
		int n, i;

		if (tls_identity_dir(cdir, sizeof(cdir), &st) < 0)
			goto out;
		snprintf(aspath, sizeof(aspath), "%s/authorized_senders", cdir);
		n = as_load(aspath, askeys, TLS_MAX_PINS, &st);
		if (n < 0)
			goto out;
		for (i = 0; i < n; i++)
			to.pins[to.npins++] = askeys[i];
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
	lfd = net_listen(cli.listen, port, cli_family(), &st);
	if (lfd < 0)
		goto out;
	port = net_local_port(lfd);
	diag_print("receiving into %s; listening on %s port %u",
		   cli.raw || cli.to_stdout ? "standard output" : dir,
		   cli.listen ? cli.listen : "all addresses", port);
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
	if (cli.keep_open) {
		rc = serve_forever(lfd, &tc, pol, rootfd, dir);
		lfd = -1;
		goto out_nosummary;
	}
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
	rc = serve(fd, &tc, pol, rootfd, dir);
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
