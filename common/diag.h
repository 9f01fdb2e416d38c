/* diag: one place for what ktlscp tells the user.
 *
 * Errors are recorded in a struct kc_status as they happen, with a class that
 * is also the process exit status (DESIGN.md "Exit status"), and printed once
 * by the command at the end, as "ktlscp: <file or peer>: <cause>".  Warnings
 * about single files are printed immediately.  Names that came from the peer
 * pass through diag_escape() before they reach a terminal.
 */
#ifndef KTLSCP_DIAG_H
#define KTLSCP_DIAG_H

#include <stdarg.h>
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

struct kc_status {
	enum kc_class cls;
	char msg[768];
};

/* Record the first fatal error (later ones are ignored); returns -1 so that
 * callers can write "return kc_fail(st, ...);". */
int kc_fail(struct kc_status *st, enum kc_class cls, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Print "ktlscp: <msg>" on stderr, starting on a fresh line if progress output
 * is showing. */
void diag_print(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void diag_vprint(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Set by the SIGINT/SIGTERM handler; I/O loops stop on EINTR when set. */
#include <signal.h>
extern volatile sig_atomic_t kc_interrupted;

/* -v output, only when diag_verbose > 0. */
extern int diag_verbose;
extern int diag_quiet;
void diag_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Copy s (len bytes) into out (size outsz), escaping backslash, control
 * characters, DEL and invalid bytes as \xHH, so that a peer cannot move the
 * cursor or inject lines.  Valid UTF-8 passes through.  Always terminates out;
 * truncates with "..." if needed.  Returns out. */
char *diag_escape(const char *s, size_t len, char *out, size_t outsz);

/* Describe a GnuTLS error code: "<gnutls_strerror> (<code>)". */
const char *diag_gnutls(int code, char *buf, size_t bufsz);

/* Tell diag that a progress line may be on screen; the next message first
 * ends it with a newline. */
void diag_progress_dirty(int dirty);

#endif
