/* opts: option tables shared by send and recv (trust, TLS, output), popt
 * parsing with uniform usage errors, and the end-of-run summary. */
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

struct cli_opts {
	/* trust and TLS */
	char *psk_file, *token, *token_file, *cert, *key, *ca;
	const char **pins;
	const char **allow;	/* recv --allow */
	int accept_new;		/* send --accept-new */
	char *tls, *cipher, *ktls;
	int timeout;		/* seconds; -1 = not given */
	/* output */
	int json, quiet, verbose, progress, no_progress;
	/* connection */
	int port;
	char *listen;
	int recursive;
	int raw;
	int preserve, no_clobber, update, resume, verify;
	int ipv4, ipv6;
	char *name;		/* send: the name standard input arrives under */
	int to_stdout;
	int keep_open, max_conns;
	char *target, *limit_rate;
	char *max_size;
	long max_files;
	int token_ttl;
};

/* "50M" -> 50000000: k/M/G are powers of 1000, Ki/Mi/Gi of 1024, an
 * optional B; at least min.  0 or -EINVAL. */
int cli_parse_size(const char *s, uint64_t min, uint64_t *out);

/* Should a progress meter show?  --progress forces it; --no-progress, -q
 * and --json silence it; else a terminal in the foreground. */
bool cli_progress(void);

/* AF_INET, AF_INET6 or AF_UNSPEC from -4/-6. */
int cli_family(void);

extern struct cli_opts cli;
extern struct poptOption cli_trust_table[];
extern struct poptOption cli_output_table[];

/* Parse argv with table; on a usage error print it and return -1 (exit 2).
 * *ctx is set in every case; free it with poptFreeContext. */
int cli_parse(const struct cmd_entry *cmd, struct poptOption *table, int argc, const char **argv,
	      poptContext *ctx);

/* Validate trust/TLS options into o and *pol (token from --token,
 * --token-file or KTLSCP_TOKEN).  Returns 0 or -1 with st. */
int cli_tls_opts(struct tls_opts *o, enum ktls_policy *pol, bool server, struct kc_status *st);

/* With --ktls=require: fail with KC_KTLS unless the kernel can take
 * sessions; fills prio with the ciphers it accepts. */
int cli_ktls_precheck(enum ktls_policy pol, char *prio, size_t priosz, struct kc_status *st);

/* Idle/handshake limit in ms (default 60 s). */
int cli_timeout_ms(void);

/* Install SIGINT/SIGTERM (interrupt I/O) and ignore SIGPIPE. */
void cli_signals(void);

/* Print the outcome (error line, JSON or human summary); returns the exit
 * status. */
int cli_finish(struct xfer_stats *stats, struct kc_status *st);

/* After connect/accept: the TLS handshake, the keys to the kernel where
 * possible, and the channel with its idle limit and progress meter; fills
 * stats (TLS version, cipher, modes, paths).  On success *sess and ch are
 * the caller's to free (chan_free, gnutls_deinit).  0 or -1 with st. */
int cli_secure(int fd, struct tls_ctx *tc, enum ktls_policy pol, bool meter, struct xfer_stats *stats,
	       gnutls_session_t *sess, struct chan *ch, struct progress *prog, struct kc_status *st);

/* Monotonic seconds, for the summary's duration. */
double cli_now(void);

void cli_free(void);

#endif
