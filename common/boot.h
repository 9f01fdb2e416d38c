/* boot: cp's ssh bootstrap, the parts both ends share.
 *
 * Process model of `ktlscp cp`: the local process runs the remote shell
 * (`ssh [USER@]HOST -- ktlscp cp --far ...`) as a child with three pipes.
 * It writes one line with a fresh 256-bit key to the child's stdin (never
 * a command line or an environment), reads the far end's banner line from
 * its stdout, and relays its stderr, line by line, prefixed with the host
 * name (a thread).  The far end listens on a data port, names it in the
 * banner, accepts one TCP connection and authenticates it with that key
 * (TLS PSK with (EC)DHE); then the usual protocol runs over it, under
 * kTLS where the kernels have it.  The far end exits when the transfer is
 * done, or as soon as its stdin (the ssh channel) closes: it never
 * outlives the ssh session.  Line formats, both version 1:
 *   key line (to the far end):   "KTLSCP-BOOT 1 <64 hex digits>\n"
 *   banner (from the far end):   "KTLSCP-FAR 1 <port> <address>\n"
 * where address is the far end's side of SSH_CONNECTION, or "-" when it
 * does not know it (the local side then dials the host it ssh'ed to).
 */
#ifndef KTLSCP_BOOT_H
#define KTLSCP_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <signal.h>
#include <sys/types.h>

#include "diag.h"
#include "tls.h"

#define BOOT_VERSION 1
#define BOOT_KEY_LEN 32
#define BOOT_LINE_MAX 512	/* longest key line or banner we read */
#define BOOT_PSK_ID "ktlscp-cp"

/* A fresh key; 0 or -EIO. */
int boot_key_new(uint8_t key[BOOT_KEY_LEN]);
/* The key line for key into out (BOOT_LINE_MAX bytes). */
void boot_key_line(const uint8_t key[BOOT_KEY_LEN], char *out);
/* Parse a key line (without its newline); 0, -EPROTONOSUPPORT for another
 * version, -EINVAL otherwise. */
int boot_key_parse(const char *line, uint8_t key[BOOT_KEY_LEN]);

/* Parse a banner (without its newline): 0 with *port and addr (addrsz
 * bytes) set; -EPROTONOSUPPORT with *version set for another version;
 * -EINVAL for a line that is not a banner at all. */
int boot_banner_parse(const char *line, unsigned *version, unsigned *port, char *addr, size_t addrsz);

/* A PSK TLS context for the key, on the server (far) or client side,
 * with the TLS options of o (version, cipher, kernel ciphers, handshake
 * limit; its trust fields are ignored).  tls_ctx_free() in every case.
 * 0 or -1 with st. */
int boot_tls_ctx(struct tls_ctx *tc, const struct tls_opts *o, const uint8_t key[BOOT_KEY_LEN],
		 struct kc_status *st);

/* [USER@]HOST:PATH, as scp reads it: 1 when arg names a remote path (a
 * colon before any slash, not after "./" or "/"; "[V6]" or USER@[V6] for
 * IPv6 addresses), with userhost ("USER@HOST", brackets removed), host
 * (without USER@) and *path (pointing into arg) set; 0 for a local name;
 * -EINVAL for a remote one that cannot be parsed. */
int boot_remote_parse(const char *arg, char *userhost, size_t uhsz, char *host, size_t hostsz,
		      const char **path);

/* The remote shell, running. */
struct boot_child {
	pid_t pid;		/* -1: none */
	int in, out;		/* its stdin (we write), stdout (we read); -1: closed */
	int err;		/* its stderr, until the relay takes it */
	bool relaying;
	pthread_t relay;	/* the stderr relay */
	volatile sig_atomic_t stop;	/* the child is gone: the relay drains and ends */
	char label[300];	/* the host, for relayed lines */
};

/* Run rsh (split at blanks like a shell without quotes would: "ssh -p 2222
 * -i key"), then userhost, "--" and the words of cmd (NULL-terminated), as
 * a child whose stdin, stdout and stderr are pipes to c, and start relaying
 * its stderr as "ktlscp: LABEL: <line>" (a leading "ktlscp: " of the line
 * dropped, control characters escaped).  0 or -1 with st. */
int boot_spawn(struct boot_child *c, const char *rsh, const char *userhost, const char *const *cmd,
	       const char *label, struct kc_status *st);

/* Read one line from the child's stdout within timeout_ms into line
 * (linesz), without its newline: 0, 1 at end of file (the child is gone
 * or closed it), or -1 with st (a timeout, an overlong line). */
int boot_read_line(struct boot_child *c, char *line, size_t linesz, int timeout_ms, struct kc_status *st);

/* Close the child's stdin (the far end then exits), wait for it at most
 * wait_ms (then SIGTERM, then SIGKILL), join the relay, close the pipes.
 * Returns its exit status (128+N for signal N), or -1 when there was
 * none.  Safe on a child that never started; idempotent. */
int boot_reap(struct boot_child *c, int wait_ms);

/* Far end: watch stdin in a thread; when it reaches end of file, interrupt
 * the process (SIGTERM to the calling thread, which cli_signals() turns
 * into kc_interrupted and EINTR), and end it 10 s later if it is still
 * running.  0 or -errno. */
int boot_watch_stdin(void);

#endif
