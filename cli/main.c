/* main: find the subcommand, parse its options from its table, answer
 * --help, check its operand count, run it, and return its exit status.
 *
 * Process model: one process per run.  send connects, authenticates and
 * streams.  recv accepts one sender and exits when it is done; recv -k
 * keeps serving senders, each in a child process, with --workers N in N
 * worker processes, until SIGINT or SIGTERM (common/server.c describes
 * it); with systemd socket activation it serves on the socket passed in.
 * Nothing detaches from the terminal, and no state is kept between runs
 * except this host's identity key and its trust files (ktlscp id,
 * known_hosts, authorized_senders) and, in a receiving directory, the
 * partial files an interrupted transfer leaves for --resume.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <gnutls/gnutls.h>

#include "cmd.h"
#include "diag.h"
#include "fsutil.h"
#include "ktls.h"
#include "opts.h"

static const struct cmd_entry *const commands[] = {
	&cmd_send_entry,
	&cmd_recv_entry,
	&cmd_cp_entry,
	&cmd_info_entry,
	&cmd_id_entry,
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "Usage: ktlscp COMMAND [OPTIONS] [ARGS]\n\n"
		   "Copy files between Linux hosts over TLS, with the kernel doing the record crypto.\n\n"
		   "Commands:\n");
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-6s %s\n         %s\n", commands[i]->name, commands[i]->args,
			commands[i]->summary);
	fprintf(f, "\nOptions:\n"
		   "  -h, --help     show this help (ktlscp COMMAND --help: the command's options)\n"
		   "  -V, --version  show the version, GnuTLS's, and what this kernel offers (--json)\n"
		   "\nDefaults for send, cp and recv: $XDG_CONFIG_HOME/ktlscp/config (KTLSCP_CONFIG=none: none).\n"
		   "See ktlscp(1).\n");
}

/* yes, no, or why it cannot be asked: a probe's 1, 0 or negative errno. */
static const char *probe_word(int rc)
{
	return rc > 0 ? "yes" : rc == 0 ? "no" : "not asked (no kernel TLS)";
}

static void json_probe(const char *key, int rc)
{
	printf(",\"%s\":%s", key, rc > 0 ? "true" : rc == 0 ? "false" : "null");
}

/* ktlscp --version [--json]: this build, and what this kernel offers it,
 * each asked of the kernel (never inferred from its version). */
static int version(int argc, char **argv)
{
	struct ktls_probe_result res[KTLS_PROBE_MAX];
	char why[200], prio[160];
	int avail, n = -ENOENT, rekey = -ENOENT, diag = -ENOENT, i;
	bool json = false, first = true, oa2;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") != 0)
			return cli_usage("--version takes only --json, not '%s'", argv[i]);
		json = true;
	}
	avail = ktls_available(why, sizeof(why));
	if (avail == 0) {
		n = ktls_probe(res, prio, sizeof(prio));
		rekey = ktls_rekey_probe();
		diag = ktls_diag_probe();
	}
	oa2 = fsu_have_openat2();
	if (json) {
		printf("{\"version\":");
		report_json_str(stdout, PACKAGE_VERSION);
		printf(",\"gnutls\":");
		report_json_str(stdout, gnutls_check_version(NULL));
		printf(",\"ktls\":%s,\"ktls_reason\":", avail == 0 ? "true" : "false");
		report_json_str(stdout, why);
		printf(",\"ktls_ciphers\":[");
		for (i = 0; n > 0 && i < KTLS_PROBE_MAX; i += 2)
			if (res[i].tx_err == 0 && res[i].rx_err == 0) {
				printf("%s\"%s\"", first ? "" : ",", res[i].cipher);
				first = false;
			}
		printf("]");
		json_probe("ktls_rekey", rekey);
		json_probe("ktls_sock_diag", diag);
		printf(",\"openat2\":%s}\n", oa2 ? "true" : "false");
		return 0;
	}
	printf("ktlscp %s\n", PACKAGE_VERSION);
	printf("GnuTLS %s\n", gnutls_check_version(NULL));
	printf("kernel TLS: %s (%s)\n", avail == 0 ? "available" : "not available", why);
	if (avail == 0) {
		printf("  TLS 1.3 ciphers:");
		for (i = 0; n > 0 && i < KTLS_PROBE_MAX; i += 2)
			if (res[i].tx_err == 0 && res[i].rx_err == 0) {
				printf("%s %s", first ? "" : ",", res[i].cipher);
				first = false;
			}
		printf("%s\n", first ? " none" : "");
	}
	printf("kTLS key updates (TLS 1.3 rekey): %s\n", probe_word(rekey));
	printf("kTLS offload modes from sock_diag: %s\n",
	       diag == 0 ? "no (from /proc/net/tls_stat instead)" : probe_word(diag));
	printf("openat2 (paths resolved beneath DIR in one call): %s\n",
	       oa2 ? "yes" : "no (a component-by-component walk instead)");
	return 0;
}

/* Parse argv (argv[0] is the command's name) with cmd's table, answer
 * --help and --usage, check the operand count, then run the command.
 * Every usage error goes through cli_usage(). */
static int run(const struct cmd_entry *cmd, int argc, const char **argv)
{
	char name[64];
	poptContext ctx;
	const char **args;
	int rc, nargs = 0;
	struct kc_status st = { 0 };

	cli_set_command(cmd);
	snprintf(name, sizeof(name), "ktlscp %s", cmd->name);
	/* popt prints argv[0] in its usage line: make it "ktlscp send". */
	argv[0] = name;
	cli_progress_argv(argc, argv);
	/* No poptReadDefaultConfig(): alias files must not change a security
	 * tool.  ktlscp's own config file is read as its trust files are. */
	if (cli_userconf_argv(cmd, argc, argv, &argc, &argv, &st) < 0) {
		fprintf(stderr, "ktlscp %s: %s\n", cmd->name, kc_msg(&st));
		return kc_class(&st);
	}
	ctx = poptGetContext(name, argc, argv, cmd->table, 0);
	poptSetOtherOptionHelp(ctx, cmd->args);
	while ((rc = poptGetNextOpt(ctx)) > 0) {
		if (rc == CLI_OPT_HELP || rc == CLI_OPT_USAGE) {
			if (rc == CLI_OPT_HELP)
				poptPrintHelp(ctx, stdout, 0);
			else
				poptPrintUsage(ctx, stdout, 0);
			rc = 0;
			goto out;
		}
	}
	if (rc < -1) {
		rc = cli_usage("%s: %s", poptBadOption(ctx, POPT_BADOPTION_NOALIAS), poptStrerror(rc));
		goto out;
	}
	if (cli_output_check(&st) < 0) {
		rc = cli_usage("%s", kc_msg(&st));
		goto out;
	}
	args = poptGetArgs(ctx);
	while (args && args[nargs])
		nargs++;
	if (cmd->max_args == 0 && nargs > 0) {
		rc = cli_usage("takes no arguments");
		goto out;
	}
	if (nargs < cmd->min_args || (cmd->max_args >= 0 && nargs > cmd->max_args)) {
		rc = cli_usage("%s arguments; usage: ktlscp %s %s", nargs < cmd->min_args ? "missing" : "too many",
			       cmd->name, cmd->args);
		goto out;
	}
	diag_verbose = cli_out.verbose;
	rc = cmd->exec(cmd, nargs, args);
out:
	poptFreeContext(ctx);
	if (cmd->free_opts)
		cmd->free_opts();
	cli_free();
	return rc;
}

int main(int argc, char **argv)
{
	size_t i;

	/* Before any key, PSK or token is read: no core dump holds them, and no
	 * other process of this user may ptrace this one or read its memory
	 * through /proc (children inherit this). */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (argc < 2)
		return cli_usage("no command given");
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0)
		return version(argc, argv);
	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(argv[1], commands[i]->name) == 0)
			return run(commands[i], argc - 1, (const char **)argv + 1);
	return cli_usage("unknown command '%s'", argv[1]);
}
