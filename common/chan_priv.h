/* chan_priv: what chan.c shares with body.c and no one else may use: the
 * channel's state behind the caller's struct chan handle, and the send and
 * receive primitives under chan_write() / chan_read_exact(), with the error
 * wording of chan.h. */
#ifndef KTLSCP_CHAN_PRIV_H
#define KTLSCP_CHAN_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>

#include "chan.h"

#define CHAN_IOBUF (256 * 1024)
#define CHAN_RBUF (32 * 1024)
#define CHAN_CTRL_MAX 2048		/* the largest control record read whole */

struct chan_state {
	int fd;
	gnutls_session_t s;
	bool ktx, krx;			/* kernel owns this direction */
	enum chan_rx_path rx_path;	/* kernel RX only */
	const char *peer;
	uint8_t *rbuf;			/* read-ahead for control messages */
	size_t rpos, rlen;
	uint8_t *iobuf;			/* bulk buffer */
	uint8_t *msg;			/* last control message payload */
	size_t msgcap;
	int pipe[2];			/* splice path */
	bool corked;
	size_t corked_bytes;
	bool got_close;			/* peer's close_notify seen */
	bool rx_seen;			/* any application data received yet */
	bool spliced;			/* kernel TX took data by splice() */
	bool sent_file;			/* kernel TX used sendfile() */
	int idle_ms;			/* conf->idle_ms */
	uint8_t *pullbuf;		/* GnuTLS RX: socket reads, CHAN_IOBUF at a time */
	size_t pullpos, pulllen;
	bool pull_timed_out;	/* the last recv() in chan_pull hit SO_RCVTIMEO */
	struct progress *prog;		/* conf->prog */
	uint64_t tx_records_est;	/* kernel TX: records sent, for the key-use limit */
	uint64_t tx_record_limit;	/* 0: none (ChaCha20) */
	/* TLS 1.3 key updates where the kernel owns a direction (chan.c):
	 * this side's traffic secrets, secret_len 0 when there are none
	 * (TLS 1.2, or both directions in GnuTLS) */
	const struct ktls_cipher *kc;
	gnutls_mac_algorithm_t kmac;	/* the suite's hash, for HKDF */
	uint8_t tx_secret[KTLS_SECRET_MAX], rx_secret[KTLS_SECRET_MAX];
	size_t secret_len;
	uint64_t tx_key_updates, rx_key_updates;
	/* --verify: see chan_tx_hash_set() and chan_rx_hash_start(); tx_hash
	 * is the caller's, rx_hash the channel's. */
	gnutls_hash_hd_t tx_hash, rx_hash;
	/* Follow-up connections (chan.h struct chan_reconn). */
	uint64_t key_record_lower;	/* conf->key_record_limit */
	const struct chan_reconn *reconn;
	bool client;
	bool rc_armed;			/* an offer is open (client: taken) */
	bool rc_switching;		/* inside a switch: close_notify is the end */
	int rc_lfd;			/* server: the follow-up listener, or -1 */
	unsigned rc_port;
	uint8_t rc_key[PROTO_RECONN_KEY];
	unsigned reconnects;
	unsigned *reconnects_out;	/* conf->reconnects */
	gnutls_session_t own_s;		/* the current follow-up's session */
	uint8_t *carry;			/* client: the server's bytes read at a switch */
	size_t carrypos, carrylen, carrycap;
};

/* Fail st for errno err while doing ("sending", "receiving"), with the
 * class a timeout, an interruption, a forged record or a lost connection
 * gets.  Returns -1. */
int chan_net_err(struct chan_state *c, int err, const char *doing, struct kc_status *st);
/* Send what GnuTLS holds corked.  0 or -1 with st. */
int chan_uncork(struct chan_state *c, struct kc_status *st);
/* Kernel TX: make room in the key's record budget (tx_record_limit) for a
 * send of up to *len bytes, counted as *len / TLS_RECORD_PAYLOAD_MAX + 1
 * records, lowering *len (never to 0) to what the key has left; when it has
 * none, the key is updated first (KeyUpdate, then the next key as TLS_TX)
 * where the kernel can, and st fails (KC_XFER) where it cannot.  Nothing to
 * do for user-space TX or a cipher without a limit.  0 or -1 with st. */
int chan_tx_reserve(struct chan_state *c, uint64_t *len, struct kc_status *st);
/* chan_write(), counting records for the key-use budget on kernel TX. */
int chan_send_raw(struct chan_state *c, const uint8_t *p, size_t len, bool more,
		  struct kc_status *st);
/* One read of up to len bytes, past the read-ahead buffer (which the caller
 * drains first): >0 bytes, 0 on close_notify, -1 with st. */
ssize_t chan_recv_some(struct chan_state *c, uint8_t *buf, size_t len, struct kc_status *st);

#endif
