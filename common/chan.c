/* chan: reads and writes over the session, on whichever path each direction
 * took (GnuTLS records or kernel TLS), including the kernel's control
 * records: alerts end or abort the stream, TLS 1.3 NewSessionTicket is
 * ignored, and a KeyUpdate is followed by installing the peer's next key
 * (TLS_RX) where the kernel can take new keys (Linux 6.14, probed), else
 * refused with a clear message.  Kernel TX counts its records against the
 * key's budget and, at its end, sends a KeyUpdate and installs the next
 * key itself (or stops before the limit where the kernel cannot).  File
 * bodies in bulk are body.c's, on top of chan_send_raw() and
 * chan_recv_some(). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chan.h"
#include "chan_priv.h"
#include "proto.h"
#include "tls.h"
#include "tlsrec.h"

/* GnuTLS RX: GnuTLS reads a record's 5-byte header and then its body, two
 * recv() calls per 16 KiB record.  This pull function reads the socket up to
 * CHAN_IOBUF at a time and hands GnuTLS what it asks for from there, so a
 * bulk stream costs one recv() per ~256 KiB.  Installed only after the
 * handshake and only when the kernel does not own RX (nothing must sit in
 * a user-space buffer when the kernel takes over). */
static ssize_t chan_pull(gnutls_transport_ptr_t ptr, void *data, size_t size)
{
	struct chan_state *c = ptr;
	size_t k;

	if (c->pullpos == c->pulllen) {
		ssize_t n = recv(c->fd, c->pullbuf, CHAN_IOBUF, 0);

		if (n < 0) {
			/* The socket is blocking: EAGAIN means its receive
			 * timeout (--timeout) has run out already. */
			c->pull_timed_out = errno == EAGAIN || errno == EWOULDBLOCK;
			gnutls_transport_set_errno(c->s, errno);
			return -1;
		}
		if (n == 0)
			return 0;
		c->pull_timed_out = false;
		c->pullpos = 0;
		c->pulllen = (size_t)n;
	}
	k = c->pulllen - c->pullpos < size ? c->pulllen - c->pullpos : size;
	memcpy(data, c->pullbuf + c->pullpos, k);
	c->pullpos += k;
	return (ssize_t)k;
}

/* Take the session's TLS 1.3 traffic secrets where the kernel owns a
 * direction, for key updates (secret_len stays 0 otherwise). */
static void chan_keys_init(struct chan_state *c)
{
	uint8_t rd[KTLS_SECRET_MAX], wr[KTLS_SECRET_MAX];
	size_t len = 0;

	if (tls_traffic_secrets(c->s, rd, wr, &len) == 0 && (c->ktx || c->krx) &&
	    gnutls_protocol_get_version(c->s) == GNUTLS_TLS1_3) {
		c->kc = ktls_cipher_by_id(gnutls_cipher_get(c->s));
		c->kmac = (gnutls_mac_algorithm_t)gnutls_prf_hash_get(c->s);
		if (c->kc) {
			memcpy(c->rx_secret, rd, len);
			memcpy(c->tx_secret, wr, len);
			c->secret_len = len;
		}
	}
	gnutls_memset(rd, 0, sizeof(rd));
	gnutls_memset(wr, 0, sizeof(wr));
}

/* Can this channel update its kernel keys: TLS 1.3 secrets at hand, and a
 * kernel that takes a second key (asked once per process)? */
static bool chan_can_rekey(struct chan_state *c)
{
	static int kernel_can = -1;

	if (c->secret_len == 0)
		return false;
	if (kernel_can < 0)
		kernel_can = ktls_rekey_probe() == 1;
	return kernel_can == 1;
}

/* Take the connection fd with session s (the first one, or a follow-up)
 * for the channel: its directions, key budget, secrets and pull function.
 * 0 or -ENOMEM. */
static int chan_attach(struct chan_state *c, int fd, gnutls_session_t s, const struct ktls_info *ki)
{
	c->fd = fd;
	c->s = s;
	c->ktx = ki && ki->tx != KTLS_MODE_USERSPACE;
	c->krx = ki && ki->rx != KTLS_MODE_USERSPACE;
	if (!c->krx)
		c->rx_path = CHAN_RX_READ;
	c->tx_record_limit = ktls_key_record_limit(gnutls_cipher_get(s), c->key_record_lower);
	/* A key carries at least a record of data besides the one that ends it. */
	if (c->tx_record_limit > 0 && c->tx_record_limit < 3)
		c->tx_record_limit = 3;
	c->tx_records_est = 0;
	c->secret_len = 0;
	chan_keys_init(c);
	c->pullpos = c->pulllen = 0;
	c->pull_timed_out = false;
	c->got_close = false;
	c->corked = false;
	c->corked_bytes = 0;
	if (!c->krx) {
		if (c->pullbuf == NULL)
			c->pullbuf = malloc(CHAN_IOBUF);
		if (c->pullbuf == NULL)
			return -ENOMEM;
		/* Receive through chan_pull(c); send as before, on the fd. */
		gnutls_transport_set_ptr2(s, c, (gnutls_transport_ptr_t)(intptr_t)fd);
		gnutls_transport_set_pull_function(s, chan_pull);
	}
	return 0;
}

int chan_init(struct chan *ch, int fd, gnutls_session_t s, const struct ktls_info *ki,
	      const char *peer, const struct chan_conf *conf)
{
	static const struct chan_conf defaults;
	struct chan_state *c;
	bool krx = ki && ki->rx != KTLS_MODE_USERSPACE;

	if (conf == NULL)
		conf = &defaults;
	c = ch->st = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->peer = peer;
	c->pipe[0] = c->pipe[1] = -1;
	c->rc_lfd = -1;
	c->idle_ms = conf->idle_ms;
	c->prog = conf->prog;
	c->key_record_lower = conf->key_record_limit;
	c->reconn = conf->reconn;
	c->reconnects_out = conf->reconnects;
	c->client = conf->client;
	/* Kernel RX: recvmsg() into a 256 KiB buffer, then write(), by
	 * default.  With a user buffer of at least a record the kernel decrypts
	 * straight into it (for TLS 1.3 with TLS_RX_EXPECT_NO_PAD), which is
	 * the copy splice() cannot avoid: it decrypts into kernel pages and
	 * moves those, and it fails with EINVAL on any control record, so it
	 * needs the recvmsg() path anyway.  Measured in the VM lane (100 MiB,
	 * TCG emulation, 2 runs each): read 5.1-7.1 s (4.2-6.0 s system CPU),
	 * splice 4.3-7.9 s (3.8-6.2 s) -- no clear winner, so the simpler
	 * path is the default and conf->rx_path (KTLSCP_RX_PATH=splice, read
	 * by cli/) selects the other. */
	c->rx_path = krx && conf->rx_path == CHAN_RX_SPLICE ? CHAN_RX_SPLICE : CHAN_RX_READ;
	c->rbuf = malloc(CHAN_RBUF);
	c->iobuf = malloc(CHAN_IOBUF);
	if (c->rbuf == NULL || c->iobuf == NULL)
		return -ENOMEM;
	if (c->rx_path == CHAN_RX_SPLICE && pipe2(c->pipe, O_CLOEXEC) < 0)
		c->rx_path = CHAN_RX_READ;
	return chan_attach(c, fd, s, ki);
}

void chan_free(struct chan *ch)
{
	struct chan_state *c = ch->st;

	if (c == NULL)
		return;
	chan_rx_hash_end(ch, NULL);
	chan_reconn_end(ch);
	if (c->own_s)
		gnutls_deinit(c->own_s);
	free(c->carry);
	gnutls_memset(c->tx_secret, 0, sizeof(c->tx_secret));
	gnutls_memset(c->rx_secret, 0, sizeof(c->rx_secret));
	free(c->rbuf);
	free(c->iobuf);
	free(c->msg);
	free(c->pullbuf);
	if (c->pipe[0] >= 0)
		close(c->pipe[0]);
	if (c->pipe[1] >= 0)
		close(c->pipe[1]);
	free(c);
	ch->st = NULL;
}

const char *chan_peer(const struct chan *ch)
{
	const struct chan_state *c = ch->st;

	return c->peer;
}

struct progress *chan_progress(const struct chan *ch)
{
	const struct chan_state *c = ch->st;

	return c->prog;
}

void chan_tx_hash_set(struct chan *ch, gnutls_hash_hd_t h)
{
	struct chan_state *c = ch->st;

	c->tx_hash = h;
}

int chan_rx_hash_start(struct chan *ch)
{
	struct chan_state *c = ch->st;
	gnutls_hash_hd_t h;

	chan_rx_hash_end(ch, NULL);
	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
		return -ENOMEM;
	c->rx_hash = h;
	return 0;
}

gnutls_hash_hd_t chan_rx_hash(const struct chan *ch)
{
	const struct chan_state *c = ch->st;

	return c->rx_hash;
}

void chan_rx_hash_end(struct chan *ch, void *sum)
{
	struct chan_state *c = ch->st;

	if (c->rx_hash == NULL)
		return;
	gnutls_hash_deinit(c->rx_hash, sum);
	c->rx_hash = NULL;
}

const char *chan_tx_path(const struct chan *ch)
{
	const struct chan_state *c = ch->st;

	return !c || !c->ktx ? "copy" : c->spliced ? "splice" : c->sent_file ? "sendfile" : "copy";
}

const char *chan_rx_path(const struct chan *ch)
{
	const struct chan_state *c = ch->st;

	return c && c->krx && c->rx_path == CHAN_RX_SPLICE ? "splice" : "copy";
}

int chan_net_err(struct chan_state *c, int err, const char *doing, struct kc_status *st)
{
	if (err == EAGAIN || err == EWOULDBLOCK || err == ETIMEDOUT)
		return kc_fail(st, KC_NET, "%s: timed out while %s (no progress within --timeout)",
			       c->peer, doing);
	if (err == EINTR)
		return kc_fail(st, KC_OTHER, "%s: interrupted while %s", c->peer, doing);
	if (err == EKEYEXPIRED)
		return kc_fail(st, KC_XFER, "%s: the kernel waits for a TLS key this process did not "
			       "install while %s", c->peer, doing);
	if (err == EBADMSG)
		return kc_fail(st, KC_XFER, "%s: a TLS record failed authentication while %s "
			       "(corrupted, forged, or re-keyed by the peer)", c->peer, doing);
	return kc_fail(st, KC_NET, "%s: connection lost while %s: %s", c->peer, doing, strerror(err));
}

/* ---- sending ----------------------------------------------------------- */

int chan_uncork(struct chan_state *c, struct kc_status *st)
{
	int rc;

	if (!c->corked)
		return 0;
	c->corked = false;
	c->corked_bytes = 0;
	do {
		rc = gnutls_record_uncork(c->s, GNUTLS_RECORD_WAIT);
	} while (rc == GNUTLS_E_INTERRUPTED && !kc_interrupted);
	if (rc < 0)
		return chan_net_err(c, rc == GNUTLS_E_AGAIN ? EAGAIN : EPIPE, "sending", st);
	return 0;
}

/* ---- follow-up connections (chan.h struct chan_reconn) ------------------ */

static ssize_t recv_one(struct chan_state *c, uint8_t *buf, size_t len, struct kc_status *st);

/* For the stop message: why no follow-up connection is possible. */
static const char *reconn_why(const struct chan_state *c)
{
	if (c->reconn == NULL || !c->client)
		return c->client ? "" : " (only the end that connected can continue on a new connection)";
	return " (the peer offered no follow-up connection: an older ktlscp?)";
}

/* End our send direction on the old connection at a switch: what was
 * written before is the peer's to read in full. */
static int reconn_close_tx(struct chan_state *c, struct kc_status *st)
{
	static const uint8_t close_notify[2] = { 1, 0 };
	int rc;

	if (chan_uncork(c, st) < 0)
		return -1;
	if (c->ktx) {
		rc = ktls_send_record(c->fd, TLS_CT_ALERT, close_notify, sizeof(close_notify));
		if (rc < 0)
			return chan_net_err(c, -rc, "ending the connection at the key-use limit", st);
		return 0;
	}
	do {
		rc = gnutls_bye(c->s, GNUTLS_SHUT_WR);
	} while ((rc == GNUTLS_E_INTERRUPTED && !kc_interrupted) || rc == GNUTLS_E_AGAIN);
	if (rc < 0)
		return chan_net_err(c, EPIPE, "ending the connection at the key-use limit", st);
	return 0;
}

/* Put the follow-up (nfd, ns, ki) in place of the current connection: on
 * the same descriptor number, with the channel owning the session. */
static int reconn_take(struct chan_state *c, int nfd, gnutls_session_t ns, const struct ktls_info *ki,
		       struct kc_status *st)
{
	if (dup2(nfd, c->fd) < 0) {
		int err = errno;

		close(nfd);
		gnutls_deinit(ns);
		return kc_fail(st, KC_OTHER, "dup2: %s", strerror(err));
	}
	close(nfd);
	if (c->own_s)
		gnutls_deinit(c->own_s);
	c->own_s = ns;
	gnutls_transport_set_int(ns, c->fd);
	if (chan_attach(c, c->fd, ns, ki) < 0)
		return kc_fail(st, KC_OTHER, "out of memory");
	c->reconnects++;
	if (c->reconnects_out)
		(*c->reconnects_out)++;
	return 0;
}

/* Client: the send key is used up.  close_notify; keep what the server
 * sent before its own close_notify; the follow-up; its first message, the
 * next offer.  0 or -1 with st. */
static int reconn_client(struct chan_state *c, struct kc_status *st)
{
	uint8_t m[PROTO_HDR_LEN + PROTO_RECONN_LEN];
	gnutls_session_t ns = NULL;
	struct ktls_info ki;
	uint16_t port;
	size_t got = 0;
	ssize_t n;
	int nfd = -1;

	c->rc_switching = true;
	if (reconn_close_tx(c, st) < 0)
		return -1;
	/* Into carry itself: iobuf may hold what the caller is sending. */
	for (;;) {
		if (c->carrypos > 0) {
			memmove(c->carry, c->carry + c->carrypos, c->carrylen - c->carrypos);
			c->carrylen -= c->carrypos;
			c->carrypos = 0;
		}
		if (c->carrycap - c->carrylen < CHAN_RBUF) {
			size_t cap = c->carrylen + CHAN_IOBUF;
			uint8_t *p;

			if (cap > (16u << 20))
				return kc_fail(st, KC_XFER, "%s: protocol error: too much data at a reconnect",
					       c->peer);
			p = realloc(c->carry, cap);
			if (p == NULL)
				return kc_fail(st, KC_OTHER, "out of memory");
			c->carry = p;
			c->carrycap = cap;
		}
		n = recv_one(c, c->carry + c->carrylen, c->carrycap - c->carrylen, st);
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		c->carrylen += (size_t)n;
	}
	memset(&ki, 0, sizeof(ki));
	if (c->reconn->connect(c->fd, c->s, c->rc_port, c->rc_key, &nfd, &ns, &ki, st) < 0)
		return -1;
	gnutls_memset(c->rc_key, 0, sizeof(c->rc_key));
	c->rc_armed = false;
	if (reconn_take(c, nfd, ns, &ki, st) < 0)
		return -1;
	while (got < sizeof(m)) {
		n = recv_one(c, m + got, sizeof(m) - got, st);
		if (n < 0)
			return -1;
		if (n == 0)
			return kc_fail(st, KC_XFER, "%s: follow-up connection closed before its first message",
				       c->peer);
		got += (size_t)n;
	}
	if (m[0] != PROTO_RECONNECT || m[1] || m[2] || m[3] || m[4] != PROTO_RECONN_LEN ||
	    proto_reconnect_decode(m + PROTO_HDR_LEN, PROTO_RECONN_LEN, &port, c->rc_key) < 0)
		return kc_fail(st, KC_XFER, "%s: protocol error: a follow-up connection without RECONNECT",
			       c->peer);
	gnutls_memset(m, 0, sizeof(m));
	c->rc_port = port;
	c->rc_armed = true;
	c->rc_switching = false;
	diag_debug("%s: key-use limit reached: continued on follow-up connection %u (port %u)", c->peer,
		   c->reconnects, (unsigned)port);
	return 0;
}

/* Server: the client's close_notify before the end of the transfer.  Our
 * close_notify, one follow-up that proves the binding, the next offer as
 * its first message.  0 or -1 with st. */
static int reconn_server(struct chan_state *c, struct kc_status *st)
{
	struct pbuf b = { 0 };
	gnutls_session_t ns = NULL;
	struct ktls_info ki;
	int nfd = -1, rc;

	c->rc_switching = true;
	if (reconn_close_tx(c, st) < 0)
		return -1;
	memset(&ki, 0, sizeof(ki));
	if (c->reconn->accept(c->rc_lfd, c->s, c->rc_key, &nfd, &ns, &ki, st) < 0)
		return -1;
	if (reconn_take(c, nfd, ns, &ki, st) < 0)
		return -1;
	gnutls_rnd(GNUTLS_RND_KEY, c->rc_key, sizeof(c->rc_key));
	if (proto_reconnect_encode(&b, (uint16_t)c->rc_port, c->rc_key) < 0) {
		pbuf_free(&b);
		return kc_fail(st, KC_OTHER, "out of memory");
	}
	rc = chan_send_raw(c, b.p, b.len, false, st);
	gnutls_memset(b.p, 0, b.len);
	pbuf_free(&b);
	if (rc < 0)
		return -1;
	c->rc_switching = false;
	diag_debug("%s: the sender's key-use limit: continued on follow-up connection %u", c->peer,
		   c->reconnects);
	return 0;
}

bool chan_reconn_wanted(const struct chan *ch)
{
	struct chan_state *c = ch->st;

	if (!c->client || c->reconn == NULL || c->tx_record_limit == 0)
		return false;
	if (c->ktx)
		return !chan_can_rekey(c);
	return gnutls_protocol_get_version(c->s) != GNUTLS_TLS1_3;
}

bool chan_reconn_can_offer(const struct chan *ch)
{
	return !ch->st->client && ch->st->reconn != NULL;
}

int chan_reconn_offer(struct chan *ch, struct pbuf *b, struct kc_status *st)
{
	struct chan_state *c = ch->st;

	if (c->rc_lfd < 0) {
		c->rc_lfd = c->reconn->listen(c->fd, &c->rc_port, st);
		if (c->rc_lfd < 0)
			return -1;
		diag_debug("%s: the sender's key can run out: follow-up connections on port %u", c->peer,
			   c->rc_port);
	}
	gnutls_rnd(GNUTLS_RND_KEY, c->rc_key, sizeof(c->rc_key));
	c->rc_armed = true;
	if (proto_reconnect_encode(b, (uint16_t)c->rc_port, c->rc_key) < 0)
		return kc_fail(st, KC_OTHER, "out of memory");
	return 0;
}

int chan_reconn_arm(struct chan *ch, const uint8_t *p, uint32_t len, struct kc_status *st)
{
	struct chan_state *c = ch->st;
	uint16_t port;

	if (proto_reconnect_decode(p, len, &port, c->rc_key) < 0)
		return kc_fail(st, KC_XFER, "%s: protocol error: malformed RECONNECT", c->peer);
	/* The secret lives in rc_key only: wipe the message's copies (the
	 * payload chan_recv_msg() left in msg, and the read-ahead bytes
	 * already taken). */
	if (p == c->msg)
		gnutls_memset(c->msg, 0, len);
	gnutls_memset(c->rbuf, 0, c->rpos);
	c->rc_port = port;
	c->rc_armed = true;
	return 0;
}

void chan_reconn_end(struct chan *ch)
{
	struct chan_state *c = ch->st;

	if (c == NULL)
		return;
	c->rc_armed = false;
	gnutls_memset(c->rc_key, 0, sizeof(c->rc_key));
	if (c->rc_lfd >= 0)
		close(c->rc_lfd);
	c->rc_lfd = -1;
}

unsigned chan_reconnects(const struct chan *ch)
{
	return ch->st ? ch->st->reconnects : 0;
}

/* Kernel TX: our KeyUpdate (update_not_requested) under the old key, then
 * the next key.  0 or -1 with st. */
static int tx_key_update(struct chan_state *c, struct kc_status *st)
{
	static const uint8_t ku[5] = { TLS_HS_KEY_UPDATE, 0, 0, 1, 0 };
	int rc = ktls_send_record(c->fd, TLS_CT_HANDSHAKE, ku, sizeof(ku));

	if (rc < 0)
		return chan_net_err(c, -rc, "sending a TLS key update", st);
	rc = ktls_secret_next(c->kmac, c->tx_secret, c->secret_len);
	if (rc == 0)
		rc = ktls_rekey_install(c->fd, false, c->kc, c->kmac, c->tx_secret, c->secret_len);
	if (rc < 0)
		return kc_fail(st, KC_XFER, "%s: the kernel did not take the next TLS send key: %s",
			       c->peer, strerror(-rc));
	c->tx_records_est = 0;
	c->tx_key_updates++;
	diag_debug("%s: TLS key update sent (%llu so far)", c->peer,
		   (unsigned long long)c->tx_key_updates);
	return 0;
}

int chan_tx_reserve(struct chan_state *c, uint64_t *len, struct kc_status *st)
{
	const uint64_t rec = TLS_RECORD_PAYLOAD_MAX, lim = c->tx_record_limit;
	uint64_t avail;
	bool can_switch;

	if (!c->ktx || lim == 0)
		return 0;
	for (;;) {
		/* One record stays for what ends the key: KeyUpdate or alert. */
		avail = lim > c->tx_records_est + 1 ? lim - c->tx_records_est - 1 : 0;
		if (*len / rec + 1 <= avail)
			break;
		/* Where the key cannot be updated, a follow-up connection
		 * takes over (chan.h struct chan_reconn). */
		can_switch = !chan_can_rekey(c) && c->client && c->rc_armed && !c->rc_switching;
		if (!chan_can_rekey(c) && !can_switch)
			return kc_fail(st, KC_XFER,
				       "%s: this connection would pass the AES key-use limit "
				       "(%llu records, RFC 8446 5.5) and this kernel cannot re-key%s; "
				       "send the rest in another run", c->peer,
				       (unsigned long long)lim, reconn_why(c));
		if (avail >= 2) {
			*len = avail * rec - 1;	/* the most that fits in avail records */
			break;
		}
		if (can_switch) {
			if (reconn_client(c, st) < 0)
				return -1;
			if (!c->ktx)	/* cannot happen on one kernel; the caller sends */
				return 0;
			continue;
		}
		if (tx_key_update(c, st) < 0)
			return -1;
	}
	c->tx_records_est += *len / rec + 1;
	return 0;
}

/* User-space TX: GnuTLS numbers its records (the write sequence number).
 * Before a write of len more bytes could reach the key's budget, a TLS 1.3
 * session updates its key through GnuTLS and a TLS 1.2 one, which has no
 * key update, stops.  The budget is at least USER_MIN_RECORDS here: one
 * write and what is corked take up to 2 * CHAN_IOBUF bytes.  0 or -1. */
#define USER_MIN_RECORDS (2 * CHAN_IOBUF / TLS_RECORD_PAYLOAD_MAX + 4)
static int user_tx_budget(struct chan_state *c, size_t len, struct kc_status *st)
{
	uint64_t lim = c->tx_record_limit, seq = 0;
	unsigned char b[8];
	int i, rc;

	if (lim == 0 || gnutls_record_get_state(c->s, 0, NULL, NULL, NULL, b) < 0)
		return 0;
	if (lim < USER_MIN_RECORDS)
		lim = USER_MIN_RECORDS;
	for (i = 0; i < 8; i++)
		seq = seq << 8 | b[i];
	if (seq + (len + c->corked_bytes) / TLS_RECORD_PAYLOAD_MAX + 3 < lim)
		return 0;
	if (gnutls_protocol_get_version(c->s) != GNUTLS_TLS1_3 && c->client && c->rc_armed &&
	    !c->rc_switching)
		return reconn_client(c, st);
	if (gnutls_protocol_get_version(c->s) != GNUTLS_TLS1_3)
		return kc_fail(st, KC_XFER,
			       "%s: this connection would pass the AES key-use limit "
			       "(%llu records, RFC 8446 5.5) and TLS 1.2 cannot re-key%s; "
			       "send the rest in another run", c->peer, (unsigned long long)lim,
			       reconn_why(c));
	do {
		rc = gnutls_session_key_update(c->s, 0);
	} while ((rc == GNUTLS_E_INTERRUPTED && !kc_interrupted) || rc == GNUTLS_E_AGAIN);
	if (rc < 0)
		return chan_net_err(c, EPIPE, "sending a TLS key update", st);
	c->tx_key_updates++;
	diag_debug("%s: TLS key update sent (%llu so far)", c->peer,
		   (unsigned long long)c->tx_key_updates);
	return 0;
}

int chan_send_raw(struct chan_state *c, const uint8_t *p, size_t len, bool more,
		  struct kc_status *st)
{
	size_t done = 0;

	while (c->ktx && done < len) {
		uint64_t k = len - done;
		size_t end;

		if (chan_tx_reserve(c, &k, st) < 0)
			return -1;
		for (end = done + (size_t)k; done < end;) {
			ssize_t n = send(c->fd, p + done, end - done,
					 MSG_NOSIGNAL | (more || end < len ? MSG_MORE : 0));

			if (n < 0 && errno == EINTR && !kc_interrupted)
				continue;
			if (n < 0)
				return chan_net_err(c, errno, "sending", st);
			done += (size_t)n;
		}
	}
	if (c->ktx)
		return 0;
	if (user_tx_budget(c, len, st) < 0)
		return -1;
	/* A follow-up connection (user_tx_budget) whose send direction the
	 * kernel took, though the old one's was ours: GnuTLS must not write
	 * records into a kTLS socket.  Nothing was sent yet. */
	if (c->ktx)
		return chan_send_raw(c, p, len, more, st);
	if (more && !c->corked) {
		gnutls_record_cork(c->s);
		c->corked = true;
	}
	while (done < len) {
		ssize_t n = gnutls_record_send(c->s, p + done, len - done);

		if (n == GNUTLS_E_INTERRUPTED && !kc_interrupted)
			continue;
		if (n < 0)
			return chan_net_err(c, n == GNUTLS_E_AGAIN ? EAGAIN : EPIPE, "sending", st);
		done += (size_t)n;
	}
	if (c->corked) {
		c->corked_bytes += len;
		/* Bound what GnuTLS holds back. */
		if (!more || c->corked_bytes >= CHAN_IOBUF)
			return chan_uncork(c, st);
	}
	return 0;
}

int chan_write(struct chan *ch, const void *buf, size_t len, bool more, struct kc_status *st)
{
	struct chan_state *c = ch->st;

	return chan_send_raw(c, buf, len, more, st);
}

int chan_flush(struct chan *ch, struct kc_status *st)
{
	struct chan_state *c = ch->st;

	return chan_uncork(c, st);
}

void chan_close_notify(struct chan *ch)
{
	static const uint8_t close_notify[2] = { 1, 0 };	/* warning, close_notify */
	struct chan_state *c = ch->st;
	struct kc_status ignore = { 0 };

	chan_reconn_end(ch);
	if (c->ktx) {
		ktls_send_record(c->fd, TLS_CT_ALERT, close_notify, sizeof(close_notify));
	} else {
		chan_uncork(c, &ignore);
		gnutls_bye(c->s, GNUTLS_SHUT_WR);
	}
	shutdown(c->fd, SHUT_WR);
}

/* ---- receiving --------------------------------------------------------- */

/* The peer's KeyUpdate, read from the kernel (which now waits, EKEYEXPIRED,
 * for the next receive key): install that key, and answer update_requested
 * with our own KeyUpdate before any more data.  1, or -1 with st. */
static int rx_key_update(struct chan_state *c, const uint8_t *p, size_t n, struct kc_status *st)
{
	int rc;

	if (n != 5 || p[1] != 0 || p[2] != 0 || p[3] != 1 || p[4] > 1)
		return kc_fail(st, KC_XFER, "%s: a malformed TLS key update", c->peer);
	if (!chan_can_rekey(c))
		return kc_fail(st, KC_XFER,
			       "%s: peer started a TLS 1.3 key update; this kernel's TLS cannot "
			       "install the new key (Linux 6.14 can)", c->peer);
	rc = ktls_secret_next(c->kmac, c->rx_secret, c->secret_len);
	if (rc == 0)
		rc = ktls_rekey_install(c->fd, true, c->kc, c->kmac, c->rx_secret, c->secret_len);
	if (rc < 0)
		return kc_fail(st, KC_XFER, "%s: the kernel did not take the peer's next TLS key: %s",
			       c->peer, strerror(-rc));
	c->rx_key_updates++;
	diag_debug("%s: TLS key update received (%llu so far%s)", c->peer,
		   (unsigned long long)c->rx_key_updates, p[4] ? ", update requested" : "");
	if (p[4] == 0)
		return 1;
	if (c->ktx)
		return tx_key_update(c, st) < 0 ? -1 : 1;
	if (chan_uncork(c, st) < 0)
		return -1;
	do {
		rc = gnutls_session_key_update(c->s, 0);
	} while (rc == GNUTLS_E_INTERRUPTED || rc == GNUTLS_E_AGAIN);
	if (rc < 0)
		return chan_net_err(c, EPIPE, "sending a TLS key update", st);
	return 1;
}

/* Handle a non-data record from the kernel.  Returns 1 to keep reading, 0 for
 * close_notify, -1 with st for anything fatal. */
static int kernel_control(struct chan_state *c, uint8_t type, const uint8_t *p, size_t n,
			  struct kc_status *st)
{
	size_t i = 0;

	if (type == TLS_CT_ALERT) {
		if (n >= 2 && p[1] == 0) {
			c->got_close = true;
			return 0;
		}
		return kc_fail(st, c->rx_seen ? KC_XFER : KC_TLS, "%s: %s (alert: %s)", c->peer,
			       c->rx_seen ? "peer aborted the TLS session"
					  : "peer refused this session after the handshake (authentication?)",
			       n >= 2 ? gnutls_alert_get_strname(p[1]) : "malformed");
	}
	if (type != TLS_CT_HANDSHAKE)
		return kc_fail(st, KC_XFER, "%s: unexpected TLS record type %u", c->peer, type);
	/* Post-handshake messages: 1-byte type, 3-byte length, body.  The
	 * kernel sees a KeyUpdate only as a record's first message. */
	if (n >= 1 && p[0] == TLS_HS_KEY_UPDATE)
		return rx_key_update(c, p, n, st);
	while (i + 4 <= n) {
		size_t mlen = ((size_t)p[i + 1] << 16) | ((size_t)p[i + 2] << 8) | p[i + 3];

		if (p[i] == TLS_HS_KEY_UPDATE)
			return kc_fail(st, KC_XFER, "%s: a TLS key update not in a record of its own",
				       c->peer);
		if (p[i] != TLS_HS_NEW_SESSION_TICKET)	/* nothing to resume: ignore */
			return kc_fail(st, KC_XFER, "%s: unexpected post-handshake message %u",
				       c->peer, p[i]);
		i += 4 + mlen;
	}
	return 1;
}

/* One read of up to len bytes from the current connection: >0 bytes, 0 on
 * close_notify, -1 with st. */
static ssize_t recv_one(struct chan_state *c, uint8_t *buf, size_t len, struct kc_status *st)
{
	char eb[160];

	for (;;) {
		ssize_t n;

		if (kc_interrupted)
			return chan_net_err(c, EINTR, "receiving", st);

		if (c->krx) {
			uint8_t type, ctl[CHAN_CTRL_MAX], *dst = buf;
			size_t cap = len;
			int r;

			/* A control record goes whole into ctl when buf is small
			 * (a KeyUpdate can come at any byte of a body). */
			if (len < sizeof(ctl) && ktls_peek_record_type(c->fd, &type) > 0 &&
			    type != TLS_CT_APPLICATION_DATA) {
				dst = ctl;
				cap = sizeof(ctl);
			}
			n = ktls_recv_record(c->fd, dst, cap, &type);
			if (n == -EINTR && !kc_interrupted)
				continue;
			if (n < 0)
				return chan_net_err(c, (int)-n, "receiving", st);
			if (n == 0)
				return kc_fail(st, KC_XFER,
					       "%s: connection closed without TLS close_notify (transfer cut short)",
					       c->peer);
			if (type == TLS_CT_APPLICATION_DATA && dst != buf)
				return kc_fail(st, KC_OTHER, "internal error: a record changed its type");
			if (type == TLS_CT_APPLICATION_DATA) {
				c->rx_seen = true;
				return n;
			}
			r = kernel_control(c, type, dst, (size_t)n, st);
			if (r <= 0)
				return r;
			continue;
		}
		n = gnutls_record_recv(c->s, buf, len);
		if (n > 0) {
			c->rx_seen = true;
			return n;
		}
		if (n == 0) {
			c->got_close = true;
			return 0;
		}
		if (n == GNUTLS_E_INTERRUPTED && !kc_interrupted)
			continue;
		if (n == GNUTLS_E_AGAIN) {
			/* Also returned after GnuTLS handled a post-handshake
			 * message (a KeyUpdate): only a quiet socket is a timeout. */
			struct pollfd pfd = { c->fd, POLLIN, 0 };
			int r;

			if (gnutls_record_check_pending(c->s) > 0 || c->pullpos < c->pulllen)
				continue;
			if (c->pull_timed_out) {
				c->pull_timed_out = false;
				return chan_net_err(c, EAGAIN, "receiving", st);
			}
			r = poll(&pfd, 1, c->idle_ms > 0 ? c->idle_ms : -1);
			if (r > 0 || (r < 0 && errno == EINTR && !kc_interrupted))
				continue;
			return chan_net_err(c, r < 0 ? errno : EAGAIN, "receiving", st);
		}
		if (n == GNUTLS_E_PREMATURE_TERMINATION)
			return kc_fail(st, KC_XFER,
				       "%s: connection closed without TLS close_notify (transfer cut short)",
				       c->peer);
		if (n == GNUTLS_E_PULL_ERROR)
			return chan_net_err(c, errno ? errno : ECONNRESET, "receiving", st);
		/* The stream ended inside a record (a peer killed mid-write). */
		if (n == GNUTLS_E_UNEXPECTED_PACKET_LENGTH)
			return kc_fail(st, KC_XFER,
				       "%s: connection closed in the middle of a TLS record (transfer cut short)",
				       c->peer);
		if (n == GNUTLS_E_FATAL_ALERT_RECEIVED)
			return kc_fail(st, c->rx_seen ? KC_XFER : KC_TLS, "%s: %s (alert: %s)", c->peer,
				       c->rx_seen ? "peer aborted the TLS session"
						  : "peer refused this session after the handshake (authentication?)",
				       gnutls_alert_get_name(gnutls_alert_get(c->s)));
		if (n == GNUTLS_E_INTERRUPTED)
			return chan_net_err(c, EINTR, "receiving", st);
		return kc_fail(st, KC_XFER, "%s: TLS error while receiving: %s", c->peer,
			       diag_gnutls((int)n, eb, sizeof(eb)));
	}
}

ssize_t chan_recv_some(struct chan_state *c, uint8_t *buf, size_t len, struct kc_status *st)
{
	for (;;) {
		ssize_t n;

		if (c->carrypos < c->carrylen) {
			size_t k = c->carrylen - c->carrypos < len ? c->carrylen - c->carrypos : len;

			memcpy(buf, c->carry + c->carrypos, k);
			c->carrypos += k;
			if (c->carrypos == c->carrylen)
				c->carrypos = c->carrylen = 0;
			return (ssize_t)k;
		}
		n = recv_one(c, buf, len, st);
		if (n != 0 || c->client || !c->rc_armed || c->rc_switching)
			return n;
		if (reconn_server(c, st) < 0)
			return -1;
	}
}

int chan_read_exact(struct chan *ch, void *buf, size_t len, struct kc_status *st)
{
	struct chan_state *c = ch->st;
	uint8_t *p = buf;

	while (len > 0) {
		size_t k;

		if (c->rpos == c->rlen) {
			ssize_t n = chan_recv_some(c, c->rbuf, CHAN_RBUF, st);

			if (n < 0)
				return -1;
			if (n == 0)
				return kc_fail(st, KC_XFER, "%s: peer closed the session in mid-message",
					       c->peer);
			c->rpos = 0;
			c->rlen = (size_t)n;
		}
		k = c->rlen - c->rpos < len ? c->rlen - c->rpos : len;
		memcpy(p, c->rbuf + c->rpos, k);
		c->rpos += k;
		p += k;
		len -= k;
	}
	return 0;
}

int chan_recv_msg(struct chan *ch, uint8_t *type, const uint8_t **payload, uint32_t *len,
		  struct kc_status *st)
{
	struct chan_state *c = ch->st;
	uint8_t hdr[PROTO_HDR_LEN];

	if (c->rpos == c->rlen) {
		ssize_t n = chan_recv_some(c, c->rbuf, CHAN_RBUF, st);

		if (n < 0)
			return -1;
		if (n == 0)
			return 1;
		c->rpos = 0;
		c->rlen = (size_t)n;
	}
	if (chan_read_exact(ch, hdr, sizeof(hdr), st) < 0)
		return -1;
	if (proto_header_parse(hdr, type, len) < 0)
		return kc_fail(st, KC_XFER, "%s: protocol error: bad message header (type %u)",
			       c->peer, hdr[0]);
	if (*len > c->msgcap) {
		size_t cap = *len < 4096 ? 4096 : *len;
		uint8_t *m = realloc(c->msg, cap);

		if (m == NULL)
			return kc_fail(st, KC_OTHER, "out of memory");
		c->msg = m;
		c->msgcap = cap;
	}
	if (*len > 0 && chan_read_exact(ch, c->msg, *len, st) < 0)
		return -1;
	*payload = c->msg;
	return 0;
}

int chan_wait_close(struct chan *ch)
{
	struct chan_state *c = ch->st;
	struct kc_status ignore = { 0 };

	for (;;) {
		ssize_t n;

		if (c->got_close)
			return 0;
		n = chan_recv_some(c, c->iobuf, CHAN_IOBUF, &ignore);
		if (n == 0)
			return 0;
		if (n < 0)
			return -1;
		/* Unexpected data after the end: not ours to keep. */
	}
}
