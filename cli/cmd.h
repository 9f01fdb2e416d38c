/* cmd: the subcommand table.  Each cli/<name>.c exports one struct
 * cmd_entry; cli/main.c lists them and dispatches.  exec returns the exit
 * status (enum kc_class, DESIGN.md "Exit status"). */
#ifndef KTLSCP_CMD_H
#define KTLSCP_CMD_H

struct cmd_entry {
	const char *name;
	const char *args;	/* usage after "ktlscp NAME [OPTIONS]" */
	const char *summary;	/* one line for ktlscp --help */
	int (*exec)(const struct cmd_entry *self, int argc, const char **argv);
};

extern const struct cmd_entry cmd_send_entry;
extern const struct cmd_entry cmd_recv_entry;
extern const struct cmd_entry cmd_info_entry;
extern const struct cmd_entry cmd_id_entry;

#endif
