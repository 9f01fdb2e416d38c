/* send: connect to a receiver and send files and directories. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"
#include "net.h"
#include "opts.h"
#include "progress.h"
#include "proto.h"
#include "sender.h"
#include "trustdb.h"
#include "xfer.h"

static struct poptOption send_table[] = {
	{ "port", 'P', POPT_ARG_INT, &cli.port, 0, "receiver's TCP port (default 7433)", "N" },
	{ "recursive", 'r', POPT_ARG_NONE, &cli.recursive, 0, "send directories and their contents", NULL },
	{ "preserve", 'p', POPT_ARG_NONE, &cli.preserve, 0,
	  "keep permission bits, modification and access times", NULL },
	{ "no-clobber", 'n', POPT_ARG_NONE, &cli.no_clobber, 0,
	  "skip files that already exist on the receiver", NULL },
	{ "resume", 0, POPT_ARG_NONE, &cli.resume, 0,
	  "continue files an interrupted run left partial (their prefix is checked)", NULL },
	{ "update", 0, POPT_ARG_NONE, &cli.update, 0,
	  "skip files whose copy on the receiver is not older", NULL },
	{ "verify", 0, POPT_ARG_NONE, &cli.verify, 0,
	  "check each file end to end: SHA-256 of the source against the bytes the receiver wrote, "
	  "before it takes its name", NULL },
	{ "target", 't', POPT_ARG_STRING, &cli.target, 0,
	  "place everything under this subdirectory of the receiver's DIR", "SUBDIR" },
	{ "limit-rate", 0, POPT_ARG_STRING, &cli.limit_rate, 0,
	  "send at most RATE bytes per second (k, M, G: 1000s; Ki, Mi, Gi: 1024s)", "RATE" },
	{ "name", 0, POPT_ARG_STRING, &cli.name, 0,
	  "the name standard input (PATH -) arrives under (default: stdin)", "NAME" },
	{ "raw", 0, POPT_ARG_NONE, &cli.raw, 0,
	  "no ktlscp framing: send one PATH (or - for stdin) as a plain TLS byte stream; what the peer sends back goes to stdout", NULL },
	{ "accept-new", 0, POPT_ARG_NONE, &cli.accept_new, 0,
	  "with no other trust option: record a receiver not yet in known_hosts without asking", NULL },
	{ NULL, '4', POPT_ARG_NONE, &cli.ipv4, 0, "IPv4 only", NULL },
	{ NULL, '6', POPT_ARG_NONE, &cli.ipv6, 0, "IPv6 only", NULL },
	{ NULL, 0, POPT_ARG_INCLUDE_TABLE, cli_trust_table, 0, "Trust and TLS:", NULL },
	{ NULL, 0, POPT_ARG_INCLUDE_TABLE, cli_output_table, 0, "Output:", NULL },
	POPT_AUTOHELP
	POPT_TABLEEND
};

static int cmd_send(const struct cmd_entry *self, int argc, const char **argv)
{
	struct kc_status st = { 0 };
	struct progress prog = { 0 };
	struct xfer_stats stats = { .role = "send", .auth = NULL };
	struct tls_opts to;
	struct tls_ctx tc;
	struct chan ch;
	struct send_opts so = { 0 };
	char **paths = NULL;
	int npaths = 0;
	enum ktls_policy pol;
	gnutls_session_t sess = NULL;
	poptContext ctx = NULL;
	const char **args;
	char host[256], kprio[160], khname[300];
	unsigned port = NET_DEFAULT_PORT;
	int nargs = 0, fd = -1, rc;
	uint64_t rate = 0;
	double t0;

	memset(&tc, 0, sizeof(tc));
	memset(&ch, 0, sizeof(ch));
	ch.pipe[0] = ch.pipe[1] = -1;
	if (cli_parse(self, send_table, argc, argv, &ctx) < 0) {
		rc = KC_USAGE;
		goto out_nosummary;
	}
	args = poptGetArgs(ctx);
	while (args && args[nargs])
		nargs++;
	if (nargs < 2) {
		fprintf(stderr, "ktlscp send: need a receiver and at least one PATH\n"
				"Usage: ktlscp send %s\n", self->args);
		rc = KC_USAGE;
		goto out_nosummary;
	}
	if (cli.port != -1) {
		if (cli.port < 1 || cli.port > 65535) {
			kc_fail(&st, KC_USAGE, "--port %d: expected 1 to 65535", cli.port);
			goto out;
		}
		port = (unsigned)cli.port;
	}
	if (net_parse_hostport(args[0], host, sizeof(host), &port) < 0) {
		kc_fail(&st, KC_USAGE, "%s: expected HOST, HOST:PORT or [IPV6]:PORT", args[0]);
		goto out;
	}
	snprintf(stats.peer, sizeof(stats.peer), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
	if (cli.raw && (nargs != 2 || cli.recursive)) {
		kc_fail(&st, KC_USAGE, "--raw sends exactly one PATH (or -), without -r");
		goto out;
	}
	if (cli.raw && cli.verify) {
		kc_fail(&st, KC_USAGE, "--verify needs ktlscp's framing: not with --raw");
		goto out;
	}
	{
		int dashes = 0;

		for (rc = 1; rc < nargs; rc++)
			dashes += strcmp(args[rc], "-") == 0;
		if (dashes > 1) {
			kc_fail(&st, KC_USAGE, "-: standard input can be sent only once");
			goto out;
		}
		if (cli.name && (dashes == 0 || cli.raw ||
				 proto_path_check(cli.name, strlen(cli.name), NULL) < 0 ||
				 strchr(cli.name, '/'))) {
			kc_fail(&st, KC_USAGE, "--name %s: a plain file name, for PATH -", cli.name);
			goto out;
		}
	}
	if (cli.target) {
		size_t tl = strlen(cli.target);

		while (tl > 1 && cli.target[tl - 1] == '/')
			cli.target[--tl] = '\0';
		if (proto_path_check(cli.target, tl, NULL) < 0) {
			kc_fail(&st, KC_USAGE, "--target %s: a relative path without . or .. components",
				cli.target);
			goto out;
		}
	}
	if (cli.limit_rate && cli_parse_size(cli.limit_rate, 1024, &rate) < 0) {
		kc_fail(&st, KC_USAGE, "--limit-rate %s: expected a number of bytes per second, e.g. 50M",
			cli.limit_rate);
		goto out;
	}
	if (cli_tls_opts(&to, &pol, false, &st) < 0)
		goto out;
	/* Report unusable sources before connecting; if none is left, do not
	 * connect at all (a one-shot receiver would be spent for nothing). */
	paths = calloc((size_t)nargs, sizeof(*paths));
	if (paths == NULL) {
		kc_fail(&st, KC_OTHER, "out of memory");
		goto out;
	}
	for (rc = 1; rc < nargs && !cli.raw; rc++) {
		struct stat sb;
		char e[512];

		diag_escape(args[rc], strlen(args[rc]), e, sizeof(e));
		if (strcmp(args[rc], "-") == 0) {
			paths[npaths++] = (char *)args[rc];
			continue;
		}
		if (stat(args[rc], &sb) < 0)
			diag_print("%s: %s", e, strerror(errno));
		else if (S_ISDIR(sb.st_mode) && !cli.recursive)
			diag_print("%s: is a directory (use -r to send it)", e);
		else if (!S_ISDIR(sb.st_mode) && !S_ISREG(sb.st_mode))
			diag_print("%s: not a regular file or directory", e);
		else {
			paths[npaths++] = (char *)args[rc];
			continue;
		}
		so.prefailed++;
	}
	if (npaths == 0 && !cli.raw) {
		kc_fail(&st, KC_FILE, "nothing to send");
		goto out;
	}
	to.hostname = host;
	/* known_hosts trust: ask about a new receiver only when a person can
	 * answer (standard input and error on a terminal, stdin not a source). */
	kh_name(host, port, NET_DEFAULT_PORT, khname, sizeof(khname));
	to.kh_name = khname;
	to.ask = isatty(STDIN_FILENO) && isatty(STDERR_FILENO) && !cli.json;
	for (rc = 0; rc < npaths; rc++)
		if (strcmp(paths[rc], "-") == 0)
			to.ask = false;
	if (cli.raw && strcmp(args[1], "-") == 0)
		to.ask = false;
	if (cli_ktls_precheck(pol, kprio, sizeof(kprio), &st) < 0)
		goto out;
	to.kernel_ciphers = kprio[0] ? kprio : NULL;
	if (tls_ctx_init(&tc, &to, &st) < 0)
		goto out;
	stats.auth = tls_auth_name(tc.auth);
	cli_signals();
	t0 = cli_now();
	fd = net_connect(host, port, cli_family(), cli_timeout_ms(), &st);
	if (fd < 0)
		goto out;
	net_tune(fd, cli_timeout_ms());
	/* The kernel paces TCP to this rate (fq, or TCP's own pacing). */
	if (rate > 0 && setsockopt(fd, SOL_SOCKET, SO_MAX_PACING_RATE, &rate, sizeof(rate)) < 0) {
		kc_fail(&st, KC_OTHER, "--limit-rate: %s", strerror(errno));
		goto out;
	}
	if (cli_secure(fd, &tc, pol, cli_progress() && !cli.raw, &stats, &sess, &ch, &prog, &st) < 0)
		goto out;
	so.paths = paths;
	so.npaths = npaths;
	so.recursive = cli.recursive;
	so.stdin_name = cli.name;
	so.target = cli.target;
	so.opts = (cli.preserve ? PROTO_OPT_PRESERVE : 0) | (cli.no_clobber ? PROTO_OPT_NOCLOBBER : 0) |
		  (cli.update ? PROTO_OPT_UPDATE : 0) | (cli.resume ? PROTO_OPT_RESUME : 0) |
		  (cli.verify ? PROTO_OPT_VERIFY : 0);
	if (cli.raw)
		xfer_send_raw(&ch, args[1], cli.json ? -1 : STDOUT_FILENO, &stats, &st);
	else
		sender_run(&ch, &so, &stats, &st);
	stats.tx_path = chan_tx_path(&ch);	/* splice is known only once used */
	stats.seconds = cli_now() - t0;
out:
	progress_end(&prog);
	rc = cli_finish(&stats, &st);
out_nosummary:
	chan_free(&ch);
	if (sess)
		gnutls_deinit(sess);
	if (fd >= 0)
		close(fd);
	tls_ctx_free(&tc);
	free(paths);
	if (ctx)
		poptFreeContext(ctx);
	cli_free();
	return rc;
}

const struct cmd_entry cmd_send_entry = {
	.name = "send",
	.args = "[OPTIONS] HOST[:PORT] PATH... (PATH - is standard input)",
	.summary = "connect to a receiver and send files (-r: directories)",
	.exec = cmd_send,
};
