/* diag: one place for what ktlscp tells the user.
 *
 * Errors are recorded in a struct kc_status as they happen, with a class that
 * is also the process exit status (DESIGN.md "Exit status"), and printed once
 * by the command at the end, as "ktlscp: <file or peer>: <cause>".  Warnings
 * about single files are printed immediately.  Names that came from the peer
 * pass through diag_escape() before they reach a terminal.
 *
 * The two levels of error reporting:
 *   1. Syscall-shaped helpers, which do one thing to one descriptor, path or
 *      buffer and cannot know what it was for (fsu_*, proto_*_decode,
 *      ktls_send_record, tls_read_small_file, ...), return 0 (or a count)
 *      or -errno.  They print nothing and pick no exit class.
 *   2. Anything that knows enough to tell the user what failed, and so
 *      picks an exit class, takes a struct kc_status *st and returns -1
 *      with st set (kc_fail).  The first failure recorded wins; the command
 *      prints it once at the end and exits with its class.
 * No code outside diag.c writes the fields of struct kc_status: it records,
 * amends and reads a status through the kc_* functions below.
 */
#ifndef KTLSCP_DIAG_H
#define KTLSCP_DIAG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

enum kc_class {
	KC_OK = 0,
	KC_OTHER = 1,
	KC_USAGE = 2,
	KC_NET = 3,	/* refused, reset, timeout */
	KC_TLS = 4,	/* handshake or authentication */
	KC_XFER = 5,	/* incomplete or rejected by the peer */
	KC_FILE = 6,	/* local file error */
	KC_KTLS = 7,	/* kTLS required but unavailable */
};

/* Starts as { 0 }: KC_OK with no message. */
struct kc_status {
	enum kc_class cls;
	char msg[768];
	bool printed;		/* the message is on stderr already */
};

/* Record the first fatal error (later ones are ignored); returns -1 so that
 * callers can write "return kc_fail(st, ...);".  st may be NULL. */
int kc_fail(struct kc_status *st, enum kc_class cls, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Replace whatever st holds with this failure, for a caller that learnt
 * the real cause after a first failure was recorded (the peer said why, a
 * timeout explains a lost connection).  Returns -1. */
int kc_replace(struct kc_status *st, enum kc_class cls, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Add words to the end of a recorded failure, e.g. " (cut off in FILE)";
 * truncated to fit.  Does nothing while st is KC_OK. */
void kc_append(struct kc_status *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Forget a failure the caller has dealt with: st is KC_OK again. */
void kc_clear(struct kc_status *st);

/* The recorded message was printed already (it is one entry's failure,
 * told when it happened): the command does not print it again. */
void kc_mark_printed(struct kc_status *st);
bool kc_printed(const struct kc_status *st);

static inline bool kc_ok(const struct kc_status *st)
{
	return st->cls == KC_OK;
}

/* The class, which is also the exit status. */
static inline enum kc_class kc_class(const struct kc_status *st)
{
	return st->cls;
}

/* The message ("" while KC_OK). */
static inline const char *kc_msg(const struct kc_status *st)
{
	return st->msg;
}

/* Print "ktlscp: <msg>" on stderr, starting on a fresh line if progress output
 * is showing. */
void diag_print(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A process that serves one peer (a recv -k child) names it in every line:
 * from now on a line that does not already name peer starts with
 * "<peer>: ".  NULL stops it. */
void diag_set_peer(const char *peer);

/* From now on every line goes to syslog(3) instead of stderr: ident
 * "ktlscp", LOG_PID, facility LOG_DAEMON (recv --syslog).  diag_print
 * lines have priority LOG_WARNING, diag_debug lines LOG_DEBUG. */
void diag_syslog(void);
bool diag_to_syslog(void);

/* Is stderr the journal (systemd's JOURNAL_STREAM names it)?  Then from
 * now on each line on stderr starts with "<N>", its syslog priority, which
 * journald takes as the line's priority (SyslogLevelPrefix=, the default)
 * and removes.  Returns whether it is. */
bool diag_journal_levels(void);

/* diag_print with a syslog(3) priority (LOG_INFO, LOG_WARNING, ...), for
 * when the lines go to syslog; on stderr it is diag_print. */
void diag_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Set by the SIGINT/SIGTERM handler; I/O loops stop on EINTR when set. */
#include <signal.h>
extern volatile sig_atomic_t kc_interrupted;

/* -v output, only when diag_verbose > 0. */
extern int diag_verbose;
void diag_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Copy s (len bytes) into out (size outsz), escaping backslash, control
 * characters, DEL and invalid bytes as \xHH, so that a peer cannot move the
 * cursor or inject lines.  Valid UTF-8 passes through, except C1 controls
 * and the invisible or direction-changing characters (U+200B..U+200F,
 * U+2028..U+202E, U+2066..U+2069, U+FEFF), whose bytes are escaped too,
 * so that a name cannot read as another.  Always terminates out;
 * truncates with "..." if needed.  Returns out. */
char *diag_escape(const char *s, size_t len, char *out, size_t outsz);

/* Describe a GnuTLS error code: "<gnutls_strerror> (<code>)". */
const char *diag_gnutls(int code, char *buf, size_t bufsz);

/* Tell diag that a progress line may be on screen; the next message first
 * ends it with a newline. */
void diag_progress_dirty(int dirty);

#endif
