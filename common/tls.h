/* tls: GnuTLS configuration, trust and the handshake.
 *
 * Trust modes (DESIGN.md "Guarantees": nothing unauthenticated):
 *   psk    --psk-file, or the one-time token printed by recv (the token is a
 *          160-bit key used as a TLS PSK); always with (EC)DHE.
 *   pin    both ends present a certificate (by default this host's identity
 *          from `ktlscp id`); the peer's public key must match a --pin
 *          (receiver: --allow, or the authorized_senders file).  A sender
 *          with no trust option checks the receiver's key against its
 *          known_hosts file instead (trust on first use, see trustdb.h).
 *   x509   the peer's certificate must chain to --ca, be meant for its role
 *          (key purpose TLS server for the receiver, TLS client for the
 *          sender, when it names purposes), on the sender match the host
 *          name or address, and with --allow-subject have an allowed
 *          subject.
 * Both ends are always authenticated: the receiver requires a client
 * certificate in the certificate modes.
 */
#ifndef KTLSCP_TLS_H
#define KTLSCP_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "diag.h"
#include "identity.h"
#include "ktls.h"
#include "secrets.h"

#define TLS_MAX_PINS 256	/* --pin/--allow keys, or authorized_senders lines */

enum tls_auth { TLS_AUTH_NONE = 0, TLS_AUTH_PSK, TLS_AUTH_PIN, TLS_AUTH_X509 };

struct tls_opts {
	bool server;
	const char *psk_file;
	const char *token;		/* token text (already read from env/file) */
	const char *cert_file, *key_file, *ca_file;
	const char *pins[TLS_MAX_PINS];
	int npins;
	int version;			/* 0 = 1.2 or 1.3, else 12 or 13 */
	const char *cipher;		/* user's --cipher, or NULL */
	const char *kernel_ciphers;	/* GnuTLS names allowed by --ktls=require, or NULL */
	const char *hostname;		/* client: name to check in x509 mode */
	const char *pin_source;		/* server: where the pins came from, for messages */
	const char *known_hosts;	/* client: with no other trust, this file decides */
	const char *kh_name;		/* client: the receiver's name in known_hosts */
	bool accept_new;		/* client: record an unknown receiver without asking */
	/* client, unless accept_new: asked after the handshake whether to
	 * trust (and record) a receiver not in known_hosts, with its name,
	 * key fingerprint and the known_hosts path; NULL when no one can
	 * answer.  Returns 1 (yes), 0 (no) or -errno (no answer). */
	int (*confirm)(void *arg, const char *peer, const char *fp, const char *file);
	void *confirm_arg;
	int handshake_ms;
	const char *subjects[TLS_MAX_PINS];	/* --allow-subject (with --ca) */
	int nsubjects;
};

struct tls_ctx {
	enum tls_auth auth;
	bool server;
	gnutls_priority_t prio;
	gnutls_certificate_credentials_t xcred;
	gnutls_psk_client_credentials_t pskc;
	gnutls_psk_server_credentials_t psks;
	unsigned npsk;
	struct tls_psk psk[16];
	char pins[TLS_MAX_PINS][TLS_FP_LEN];
	int npins;
	bool use_ca;
	char hostname[256];
	int handshake_ms;
	char pin_source[300];
	bool tofu, accept_new;		/* known_hosts trust (client) */
	int (*confirm)(void *arg, const char *peer, const char *fp, const char *file);
	void *confirm_arg;
	bool kh_new;			/* the receiver was not in known_hosts */
	double prompt_secs;		/* spent waiting for the answer to confirm */
	char kh_path[4096];
	char kh_name[300];
	char verify_msg[700];		/* why the last peer verification failed */
	char peer_fp[TLS_FP_LEN];	/* peer's key fingerprint, cert modes */
	char own_fp[TLS_FP_LEN];	/* ours, cert modes, for messages */
	const char *subjects[TLS_MAX_PINS];	/* --allow-subject, borrowed */
	int nsubjects;
};

/* Is name a --cipher value (a row of KTLS_CIPHERS, ktls.h)?  0 or -EINVAL. */
int tls_cipher_check(const char *name);

/* Set up credentials and priorities.  Returns 0 or -1 with st set (KC_USAGE
 * for bad options, KC_FILE for unreadable key files, KC_TLS otherwise).
 * tls_ctx_free() must be called in every case. */
int tls_ctx_init(struct tls_ctx *c, const struct tls_opts *o, struct kc_status *st);
void tls_ctx_free(struct tls_ctx *c);

/* Create a session on fd and run the handshake.  On success *out is the
 * session (the caller frees it with gnutls_deinit); on failure returns -1
 * with st set and *out NULL.  peer names the peer in messages. */
int tls_handshake(struct tls_ctx *c, int fd, const char *peer, gnutls_session_t *out,
		  struct kc_status *st);

const char *tls_auth_name(enum tls_auth a);

/* A TLS 1.3 peer refuses our certificate only after its handshake ended:
 * what that means, in the words of the trust mode (into buf), or NULL
 * where it means nothing more (PSK). */
const char *tls_refused_after(const struct tls_ctx *c, char *buf, size_t n);

/* TLS 1.3 application traffic secrets, for key updates where the kernel
 * owns a direction (ktls.h ktls_secret_next).  tls_handshake() asks GnuTLS
 * for them (tls_keep_secrets, also for sessions made elsewhere, as tests
 * do); tls_traffic_secrets() hands out this side's read and write secret
 * once (len: the hash length) and wipes the copy.  0, or -ENOENT when the
 * session has none (TLS 1.2, or taken already). */
void tls_keep_secrets(gnutls_session_t s);
int tls_traffic_secrets(gnutls_session_t s, uint8_t rd[KTLS_SECRET_MAX],
			uint8_t wr[KTLS_SECRET_MAX], size_t *len);

/* Has the peer's first TLS record (a ClientHello, whole) arrived on fd?
 * recv -k gives a process and a startup slot only to connections whose
 * ClientHello is complete: a peer that trickles it in byte by byte, or
 * sends nothing, holds a descriptor until its deadline and nothing else.
 * Returns 1 yes (also for bytes that are not a TLS handshake record:
 * GnuTLS refuses those at once), 0 not yet (SO_RCVLOWAT is raised to the
 * bytes still needed, so that poll() reports the socket only once they are
 * in), -1 when the peer closed without a byte (a port scan, a health check:
 * it goes quietly). */
int tls_first_record_in(int fd);

/* A follow-up connection of a transfer (chan.h, reconnecting past the
 * key-use limit): a full handshake on fd with the same TLS version and
 * cipher as the session like, authenticated by PSK with (EC)DHE where the
 * key is the one-time binding secret the TLS server sent inside the
 * previous session.  0 with *out, or -1 with st: KC_TLS when the binding
 * was not proved (unknown, used or expired), KC_NET for a lost connection
 * or a timeout. */
#define TLS_BOUND_KEY 32
int tls_handshake_bound(gnutls_session_t like, bool server, int fd, const uint8_t key[TLS_BOUND_KEY],
			int handshake_ms, const char *peer, gnutls_session_t *out, struct kc_status *st);

/* The same handshake in steps, for a server that runs the handshakes of
 * several candidates at once on non-blocking sockets (a candidate that
 * stops half-way must not hold up the others).  tls_bound_start() sets up
 * hs (0, or -1 with st and hs empty); key must outlive the handshake.
 * tls_bound_step() goes as far as the socket lets it: 0 done (take the
 * session with tls_bound_take(), which empties hs), 1 it waits for the
 * socket (poll for gnutls_record_get_direction()), -1 with st as above.
 * tls_bound_free() releases whatever hs holds; safe on an empty one. */
struct tls_bound {
	gnutls_session_t s;
	gnutls_psk_client_credentials_t pc;
	gnutls_psk_server_credentials_t ps;
};
int tls_bound_start(struct tls_bound *hs, gnutls_session_t like, bool server, int fd,
		    const uint8_t key[TLS_BOUND_KEY], int handshake_ms, struct kc_status *st);
int tls_bound_step(struct tls_bound *hs, const char *peer, struct kc_status *st);
gnutls_session_t tls_bound_take(struct tls_bound *hs);
void tls_bound_free(struct tls_bound *hs);

#endif
