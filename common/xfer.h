/* xfer: the ktlscp protocol over an established chan: what its two ends
 * (sender.c, receiver.c) share, and --raw mode.
 *
 * Connection model: one TCP connection, one TLS session, one sender (the TLS
 * client) and one receiver (the TLS server).  The sender streams a manifest
 * in batches of at most PROTO_BATCH_MAX entries; the receiver answers each
 * batch once (ACK), the bodies of accepted files follow unframed, the sender
 * closes the batch with BATCH_END, and the receiver reports each file durable
 * (fsynced and renamed) in DONE.  The sender keeps one batch in flight ahead
 * of the bodies it is sending, so many small files cost no round trip each,
 * and it waits for DONE of batch k-1 before announcing batch k+1, so no more
 * than two batches of results are ever unread (no deadlock on full socket
 * buffers).  The sender exits 0 only after every DONE arrived.
 *
 * Past the AES key-use limit, where the send key cannot be updated, the
 * chan may continue on follow-up TCP connections (chan.h struct
 * chan_reconn): the sender asks with PROTO_CAP_RECONNECT in HELLO, the
 * receiver answers RECONNECT after its HELLO, and the receiver calls
 * chan_reconn_end() once its last DONE is out.  The rest of the protocol
 * does not see the switches: each direction stays one byte stream.
 */
#ifndef KTLSCP_XFER_H
#define KTLSCP_XFER_H

#include <stdbool.h>
#include <stdint.h>

#include "chan.h"
#include "diag.h"
#include "proto.h"
#include "stats.h"

/* What both engines share. */

/* The connection failed in the middle of a body: add the file's name to
 * st's message (note: NULL, or more words for the parenthesis).  A local
 * read error (KC_FILE) names its file already and is left alone. */
void xfer_cut_in(struct kc_status *st, const char *path, const char *note);

/* Send ERROR (reason, text) to the peer, best effort, and record the
 * failure in st as "<peer>: <text>".  Returns -1. */
int xfer_abort(struct chan *c, uint8_t reason, struct kc_status *st, enum kc_class cls,
	       const char *text);

/* Receive a message of type want (payload in *p, *len, valid until the next
 * read).  ERROR from the peer and a clean close become failures with the
 * peer's words; another type is a protocol error, reported to the peer.
 * 0 or -1 with st. */
int xfer_expect(struct chan *c, uint8_t want, const uint8_t **p, uint32_t *len,
		struct kc_status *st);
/* As xfer_expect(); when the peer answered with ERROR instead, *refused
 * gets its reason (PR_*), else PR_OK. */
int xfer_expect_or_refused(struct chan *c, uint8_t want, const uint8_t **p, uint32_t *len,
			   uint8_t *refused, struct kc_status *st);

/* After a failed send (st is KC_NET), the receiver may have said why
 * before closing: read what is left and put its ERROR text into st. */
void xfer_peer_reason(struct chan *c, struct kc_status *st);

/* Append our HELLO, carrying opts (PROTO_OPT_*) and caps (PROTO_CAP_*),
 * to b.  0 or -ENOMEM. */
int xfer_hello_encode(struct pbuf *b, uint32_t opts, uint32_t caps);

/* Check the peer's HELLO payload; *opts gets its option bits, *caps (if
 * not NULL) its capability bits.  A receiver
 * refuses option bits it does not know (from_sender); a sender ignores a
 * receiver's.  0, or -1 with st after telling the peer why. */
int xfer_hello_check(struct chan *c, const uint8_t *p, uint32_t len, uint32_t *opts, uint32_t *caps,
		     bool from_sender, struct kc_status *st);

/* --raw: no ktlscp framing, one byte stream over plain TLS, for interop
 * with openssl s_client/s_server, gnutls-cli/serv, socat, ncat --ssl.
 * Sender: the bytes of path ("-": standard input), then close_notify; what
 * the peer sends back is written to outfd (unless outfd < 0).
 * Receiver: everything until the peer's close_notify, written to outfd; a
 * stream that ends without close_notify is a truncation (KC_XFER). */
int xfer_send_raw(struct chan *c, const char *path, int outfd, struct xfer_stats *stats,
		  struct kc_status *st);
int xfer_recv_raw(struct chan *c, int outfd, struct xfer_stats *stats, struct kc_status *st);
#endif
