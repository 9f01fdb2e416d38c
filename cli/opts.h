/* opts: option tables and structs shared by send and recv (trust, TLS,
 * output), the help table every command includes, the one function that
 * prints usage errors, and the end-of-run summary. */
#ifndef KTLSCP_OPTS_H
#define KTLSCP_OPTS_H

#include <popt.h>
#include <stdbool.h>

#include "cmd.h"
#include "diag.h"
#include "ktls.h"
#include "report.h"
#include "chan.h"
#include "progress.h"
#include "tls.h"

/* Trust and TLS options, shared by send and recv. */
struct cli_trust {
	char *psk_file, *token, *token_file, *cert, *key, *ca;
	const char **pins;
	const char **allow;	/* recv --allow */
	const char **subjects;	/* --allow-subject */
	int token_from_env;	/* the token came from KTLSCP_TOKEN */
	int accept_new;		/* send --accept-new */
	char *tls, *cipher, *ktls;
	int timeout;		/* seconds; -1 = not given */
};

/* Output options, shared by send, recv and cp. */
struct cli_output {
	int json, quiet, verbose, no_progress, json_progress;
	char *progress;		/* --progress=MODE: "bar", "lines", "none"; NULL: not given */
};

/* "50M" -> 50000000: k/M/G/T (either case) are powers of 1000, Ki/Mi/Gi/Ti
 * of 1024, an optional B; a plain number is bytes.  0, -EINVAL for what is
 * not a size, -ERANGE for one below min (or beyond 2^64). */
int cli_parse_size(const char *s, uint64_t min, uint64_t *out);

/* What progress a transfer shows (PROGRESS_* bits, progress.h):
 * --json-progress the JSON events; --progress=lines the lines;
 * --progress=bar (or a bare --progress) the meter, which by default shows
 * on a terminal in the foreground; --no-progress (--progress=none) and -q
 * silence the lines and the meter, --json the meter. */
unsigned cli_progress(void);

/* A bare --progress in argv (before a "--") becomes --progress=bar: popt
 * would take the next word as its optional value ("--progress HOST"), so
 * a mode is given only as --progress=MODE. */
void cli_progress_argv(int argc, const char **argv);

/* After parsing: --progress's value, and --json-progress implies --json.
 * 0, or -1 with a usage error in st. */
int cli_output_check(struct kc_status *st);

/* AF_INET, AF_INET6 or AF_UNSPEC from -4 (ipv4) and -6 (ipv6). */
int cli_family(int ipv4, int ipv6);
/* What a socket bound to no address listens on, in words: -6 binds an
 * IPv6-only socket, -4 an IPv4 one, neither both on one socket. */
const char *cli_any_address(int ipv4, int ipv6);

extern struct cli_trust cli_trust;
extern struct cli_output cli_out;
extern struct poptOption cli_trust_table[];
extern struct poptOption cli_output_table[];

/* -h/--help and --usage, which cli/main.c answers (popt's POPT_AUTOHELP
 * would call exit() from inside poptGetNextOpt and spell -h as -?).  Every
 * command's table ends with CLI_HELP_TABLE. */
enum { CLI_OPT_HELP = 1, CLI_OPT_USAGE };
extern struct poptOption cli_help_table[];
#define CLI_HELP_TABLE { NULL, 0, POPT_ARG_INCLUDE_TABLE, cli_help_table, 0, "Help options:", NULL },

/* The command being run, for messages (cli/main.c sets it). */
void cli_set_command(const struct cmd_entry *cmd);

/* Every usage error goes through here: prints "ktlscp CMD: <message>" and
 * "Try 'ktlscp CMD --help' for more information." on stderr, never JSON
 * (before a command is known: "ktlscp: ..." and "Try 'ktlscp --help' ...").
 * Returns KC_USAGE (exit 2). */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Validate trust/TLS options into o and *pol (token from --token,
 * --token-file or KTLSCP_TOKEN).  Returns 0 or -1 with st. */
int cli_tls_opts(struct tls_opts *o, enum ktls_policy *pol, bool server, struct kc_status *st);

/* With --ktls=require: fail with KC_KTLS unless the kernel can take
 * sessions; fills prio with the ciphers it accepts. */
int cli_ktls_precheck(enum ktls_policy pol, char *prio, size_t priosz, struct kc_status *st);

/* The config file's settings for cmd (send, recv, cp; see FILES in the man
 * page) as options put before argv's own, so the command line wins: a new
 * argv in *nargv (argv itself when no file applies).  0, or -1 with st
 * (a file others may write, a bad line: named with its number). */
int cli_userconf_argv(const struct cmd_entry *cmd, int argc, const char **argv, int *nargc,
		      const char ***nargv, struct kc_status *st);

/* Follow-up connections past the key-use limit (chan.h struct
 * chan_reconn): which end of the TCP connection the next cli_secure() is.
 * Only the end that made the connection (CLI_RECONN_DIALED) continues on a
 * new one, and only the end that accepted it (CLI_RECONN_ACCEPTED) offers
 * one; CLI_RECONN_NONE (the default) does neither. */
enum cli_reconn_role { CLI_RECONN_NONE = 0, CLI_RECONN_DIALED, CLI_RECONN_ACCEPTED };
extern enum cli_reconn_role cli_reconn_role;
/* The ports the follow-up listener may take (cp --data-port): the first
 * free one from lo to hi, or any (the kernel's pick) when lo is 0. */
extern unsigned cli_reconn_port_lo, cli_reconn_port_hi;

/* Idle/handshake limit in ms (default 60 s). */
int cli_timeout_ms(void);

/* Install SIGINT/SIGTERM (interrupt I/O) and ignore SIGPIPE. */
void cli_signals(void);

/* Print the outcome (error line, JSON or human summary); returns the exit
 * status.  A usage error (KC_USAGE) goes to cli_usage() instead: no JSON. */
int cli_finish(struct xfer_stats *stats, struct kc_status *st);

/* After connect/accept: the TLS handshake, the keys to the kernel where
 * possible, and the channel with its idle limit and progress (what
 * cli_progress() says when progress is true: not for -k or --raw, whose
 * connections show none); fills
 * stats (TLS version, cipher, modes, paths).  Either way *sess and ch are
 * the caller's to free (chan_free, gnutls_deinit; both safe when unset).
 * 0 or -1 with st. */
int cli_secure(int fd, struct tls_ctx *tc, enum ktls_policy pol, bool progress, struct xfer_stats *stats,
	       gnutls_session_t *sess, struct chan *ch, struct progress *prog, struct kc_status *st);


/* Free the trust options and reset the shared option structs. */
void cli_free(void);

#endif
