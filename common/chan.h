/* chan: the secure byte stream between sender and receiver, after the
 * handshake.  Each direction is carried either by GnuTLS records in this
 * process or by the kernel (kTLS), decided per direction by ktls_enable();
 * callers never need to know which.  This module writes and reads bytes and
 * control messages, ends the stream (close_notify) and handles the kernel's
 * control records; moving file bodies in bulk (sendfile(), splice(), the
 * copy path) is body.h's, on the same struct chan.
 *
 * A caller holds a struct chan (a handle, zeroed until chan_init) and passes
 * its address; the channel's state behind it is chan.c's and body.c's
 * (chan_priv.h).
 *
 * Errors are reported through struct kc_status with the exit class: KC_NET
 * for a lost connection or a timeout, KC_XFER when the peer ended the session
 * early or broke the protocol, KC_FILE for the local file.
 */
#ifndef KTLSCP_CHAN_H
#define KTLSCP_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>

#include "diag.h"
#include "ktls.h"
#include "progress.h"
#include "proto.h"

/* Kernel RX: recvmsg() into a buffer (the default), or splice() from the
 * socket through a pipe into the file. */
enum chan_rx_path { CHAN_RX_READ = 0, CHAN_RX_SPLICE };

/* Reconnecting past the key-use limit (man page, "Key updates and the
 * key-use limit"): where a direction's key cannot be updated, the TCP
 * client's channel continues on a follow-up connection to the same peer.
 * The TLS server offers it (chan_reconn_offer: a listener and a one-time
 * binding secret, sent inside the session); the client takes the offer
 * (chan_reconn_arm).  When the client's send key is used up it sends
 * close_notify, reads what the server had sent up to the server's
 * close_notify (kept, and read before the follow-up's bytes), connects to
 * the offered port and proves the secret (tls_handshake_bound); the server
 * reads the client's close_notify before the end of the transfer as that
 * switch, answers with its own, accepts exactly one follow-up that proves
 * the secret and sends the next offer as its first message there.  Each
 * direction is one byte stream across the connections: nothing is resent,
 * nothing lost, and the protocol engines above do not see the switch.
 * The follow-up's socket takes the first one's descriptor number
 * (dup2), so the caller's fd stays the live connection; its session is
 * the channel's own.
 *
 * These are the caller's side of it, given in chan_conf: make the
 * follow-up connection (client) or accept it on lfd (server), do the
 * handshake with tls_handshake_bound() and turn on kTLS like the first.
 * *fd, *s and *ki get the new connection.  0 or -1 with st. */
struct chan_reconn {
	int (*connect)(int oldfd, gnutls_session_t like, unsigned port, const uint8_t *key,
		       int *fd, gnutls_session_t *s, struct ktls_info *ki, struct kc_status *st);
	/* A listener for the follow-up on the local address of oldfd, port
	 * ephemeral: its fd and port, or -1 with st. */
	int (*listen)(int oldfd, unsigned *port, struct kc_status *st);
	int (*accept)(int lfd, gnutls_session_t like, const uint8_t *key,
		      int *fd, gnutls_session_t *s, struct ktls_info *ki, struct kc_status *st);
};

/* What the caller decides about a channel, given to chan_init.  A zeroed
 * struct (or NULL) means: no idle limit, no meter, the read path, the full
 * key-use budget. */
struct chan_conf {
	int idle_ms;			/* the socket's idle limit (0 = none) */
	struct progress *prog;		/* meter for file bodies, or NULL; the caller's */
	enum chan_rx_path rx_path;	/* used only when the kernel owns RX */
	uint64_t key_record_limit;	/* > 0: a lower key-use budget (ktls_key_record_limit) */
	const struct chan_reconn *reconn;	/* NULL: no follow-up connections */
	bool client;			/* this end made the TCP connection */
	unsigned *reconnects;		/* counts follow-up connections, or NULL */
};

/* The caller's handle on a channel: zeroed until chan_init(), zeroed again
 * by chan_free().  What it points to is private to chan.c and body.c. */
struct chan_state;
struct chan {
	struct chan_state *st;
};

/* Set up c for the session s on fd, whose directions ktls_enable() reported
 * in ki (NULL: both in user space); peer names the other end in messages
 * and must outlive c, as must conf->prog.  conf may be NULL (see struct
 * chan_conf).  Returns 0 or -ENOMEM; either way c is the caller's to
 * release with chan_free().  s and fd stay the caller's. */
int chan_init(struct chan *c, int fd, gnutls_session_t s, const struct ktls_info *ki,
	      const char *peer, const struct chan_conf *conf);
/* Release what chan_init() took (the state, its buffers, the splice pipe,
 * an RX hash left running).  Safe on a zeroed struct chan and a second
 * time; leaves c zeroed.  Do no I/O on s after it: the session's pull
 * function read through c. */
void chan_free(struct chan *c);

/* Send all of buf.  more: further data follows at once (lets both paths
 * pack it into the same record).  0 or -1 with st. */
int chan_write(struct chan *c, const void *buf, size_t len, bool more, struct kc_status *st);
/* Push out anything held back by more=true.  0 or -1 with st. */
int chan_flush(struct chan *c, struct kc_status *st);

/* Read exactly len bytes.  0, or -1 with st (a clean close before len bytes
 * is an error too). */
int chan_read_exact(struct chan *c, void *buf, size_t len, struct kc_status *st);

/* Read one control message: type and payload (in the channel's buffer,
 * valid until the next call).  Header bounds are checked
 * (proto_header_parse).  Returns 0, 1 on a clean close before any byte of
 * a message, or -1 with st. */
int chan_recv_msg(struct chan *c, uint8_t *type, const uint8_t **payload, uint32_t *len,
		  struct kc_status *st);

/* Send close_notify and half-close.  Best effort. */
void chan_close_notify(struct chan *c);

/* Wait (bounded by the socket timeout) for the peer's close_notify or EOF.
 * Returns 0 when the peer closed cleanly, -1 otherwise (no st). */
int chan_wait_close(struct chan *c);

/* Client: can this channel's send key run out (a key-use limit and no key
 * update: TLS 1.2, or kernel TX on a kernel that cannot rekey) while it
 * could continue on a follow-up connection?  The sender asks for an offer
 * then (HELLO's PROTO_CAP_RECONNECT). */
bool chan_reconn_wanted(const struct chan *c);
/* Server: can it offer follow-up connections? */
bool chan_reconn_can_offer(const struct chan *c);
/* Server: open the follow-up listener and append a RECONNECT message with
 * its port and a fresh binding secret to b.  0 or -1 with st. */
int chan_reconn_offer(struct chan *c, struct pbuf *b, struct kc_status *st);
/* Client: take the server's RECONNECT payload.  0 or -1 with st. */
int chan_reconn_arm(struct chan *c, const uint8_t *p, uint32_t len, struct kc_status *st);
/* The transfer is over (server: the last DONE is sent; client: before its
 * final close_notify): close_notify means the end again, and the listener
 * is closed. */
void chan_reconn_end(struct chan *c);
/* How many follow-up connections this channel has switched to. */
unsigned chan_reconnects(const struct chan *c);

/* The name of the other end given to chan_init (for messages). */
const char *chan_peer(const struct chan *c);
/* The meter given in struct chan_conf, or NULL. */
struct progress *chan_progress(const struct chan *c);

/* --verify.  While a TX hash is set (h, the caller's, or NULL to stop),
 * every STREAM byte read for sending goes into it, and STREAM bodies take
 * the copy path so that they pass through this process. */
void chan_tx_hash_set(struct chan *c, gnutls_hash_hd_t h);
/* Start a SHA-256 of every body byte received from now on (from the buffer
 * on the read path, read back from the file after splice()).  The hash is
 * the channel's: chan_rx_hash_end() or chan_free() releases it.  0, or
 * -ENOMEM. */
int chan_rx_hash_start(struct chan *c);
/* The running RX hash, or NULL when none runs; the caller may add to it (a
 * resumed file's prefix) but not free it. */
gnutls_hash_hd_t chan_rx_hash(const struct chan *c);
/* End the running RX hash, if any: its 32-byte digest goes to sum, or is
 * dropped when sum is NULL. */
void chan_rx_hash_end(struct chan *c, void *sum);

/* Human/JSON path names (static strings): "sendfile", "splice" or "copy";
 * "copy" for a zeroed struct chan.  The TX name is final only after the
 * bodies went (splice and sendfile are seen when used). */
const char *chan_tx_path(const struct chan *c);
const char *chan_rx_path(const struct chan *c);

#endif
