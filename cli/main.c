/* main: dispatch to a subcommand and turn its result into the exit status.
 *
 * Process model: one process per run.  send connects, authenticates and
 * streams; recv accepts one sender and exits when it is done.  Nothing runs
 * in the background and no state is kept between runs except this host's
 * identity key (ktlscp id).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <gnutls/gnutls.h>

#include "cmd.h"
#include "diag.h"
#include "ktls.h"

static const struct cmd_entry *const commands[] = {
	&cmd_send_entry,
	&cmd_recv_entry,
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

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return KC_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0)
		return version();
	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(argv[1], commands[i]->name) == 0)
			return commands[i]->exec(commands[i], argc - 1, (const char **)argv + 1);
	fprintf(stderr, "ktlscp: unknown command '%s'\nTry 'ktlscp --help'.\n", argv[1]);
	return KC_USAGE;
}
