/* cmd: the subcommand table.  Each cli/<name>.c exports one struct
 * cmd_entry: its name, usage, popt table and how many operands it takes.
 * cli/main.c lists them, parses a command's options, prints its help,
 * checks the operand count and then calls exec with the operands left.
 * exec returns the exit status (enum kc_class, DESIGN.md "Exit status"). */
#ifndef KTLSCP_CMD_H
#define KTLSCP_CMD_H

struct poptOption;

struct cmd_entry {
	const char *name;
	const char *args;	/* usage after "ktlscp NAME" */
	const char *summary;	/* one line for ktlscp --help */
	struct poptOption *table;	/* includes CLI_HELP_TABLE */
	int min_args, max_args;	/* operands; max_args -1: no limit */
	int (*exec)(const struct cmd_entry *self, int nargs, const char **args);
	void (*free_opts)(void);	/* the table's option strings; NULL: none */
};

extern const struct cmd_entry cmd_send_entry;
extern const struct cmd_entry cmd_recv_entry;
extern const struct cmd_entry cmd_info_entry;
extern const struct cmd_entry cmd_id_entry;
extern const struct cmd_entry cmd_cp_entry;

#endif
