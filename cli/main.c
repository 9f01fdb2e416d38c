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

#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <gnutls/gnutls.h>

#include "cmd.h"
#include "diag.h"
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
		   "  -V, --version  show the version, the GnuTLS version and kernel TLS support\n"
		   "\nSee ktlscp(1).\n");
}

static int version(void)
{
	char why[200];
	int rc = ktls_available(why, sizeof(why));

	printf("ktlscp %s\n", PACKAGE_VERSION);
	printf("GnuTLS %s\n", gnutls_check_version(NULL));
	printf("kernel TLS: %s (%s)\n", rc == 0 ? "available" : "not available", why);
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

	cli_set_command(cmd);
	snprintf(name, sizeof(name), "ktlscp %s", cmd->name);
	/* popt prints argv[0] in its usage line: make it "ktlscp send". */
	argv[0] = name;
	/* No poptReadDefaultConfig(): alias files must not change a security tool. */
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
		return version();
	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(argv[1], commands[i]->name) == 0)
			return run(commands[i], argc - 1, (const char **)argv + 1);
	return cli_usage("unknown command '%s'", argv[1]);
}
