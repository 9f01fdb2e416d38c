/* body: file bodies in bulk over the channel (see body.h): sendfile() and
 * splice() where the kernel owns a direction, a large buffer otherwise, the
 * STREAM chunk framing, and the --verify hashing of bodies as they pass.
 * The kernel-path branches here run only where the kernel has TLS (the VM
 * lane). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "body.h"
#include "chan_priv.h"
#include "proto.h"
#include "tlsrec.h"

/* ---- sending ----------------------------------------------------------- */

static int send_zeros(struct chan_state *c, uint64_t n, struct kc_status *st)
{
	memset(c->iobuf, 0, CHAN_IOBUF);
	while (n > 0) {
		size_t k = n > CHAN_IOBUF ? CHAN_IOBUF : (size_t)n;

		if (chan_send_raw(c, c->iobuf, k, true, st) < 0)
			return -1;
		n -= k;
	}
	return 0;
}

/* Standard input may be non-blocking (inherited from a shell or a
 * parent): wait for it instead of failing with EAGAIN. */
static void wait_readable(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };

	poll(&p, 1, -1);
}

int body_send_file(struct chan *ch, int fd, uint64_t off, uint64_t len, bool *short_file,
		   int *read_err, struct kc_status *st)
{
	struct chan_state *c = ch->st;
	uint64_t sent = 0;

	*short_file = false;
	*read_err = 0;
	if (c->ktx) {
		off_t o = (off_t)off;

		/* One sendfile() for the whole body; 8 MiB steps when a meter
		 * needs to be fed; cut where the key's record budget ends
		 * (chan_tx_reserve updates the key there, or stops). */
		size_t step = c->prog && c->prog->on ? (8u << 20) : (1u << 30);

		while (sent < len) {
			uint64_t want = len - sent > step ? step : len - sent;
			ssize_t n;

			if (kc_interrupted)
				return chan_net_err(c, EINTR, "sending", st);
			if (chan_tx_reserve(c, &want, st) < 0)
				return -1;
			n = sendfile(c->fd, fd, &o, (size_t)want);

			if (n < 0 && errno == EINTR && !kc_interrupted)
				continue;
			if (n < 0 && (errno == EPIPE || errno == ECONNRESET || errno == EAGAIN ||
				      errno == ETIMEDOUT || errno == ENOTCONN || errno == EINTR ||
				      errno == EBADMSG))
				return chan_net_err(c, errno, "sending", st);
			if (n <= 0) {
				*read_err = n < 0 ? errno : 0;
				*short_file = true;
				break;
			}
			sent += (uint64_t)n;
			c->sent_file = true;
			if (c->prog)
				progress_add(c->prog, (uint64_t)n);
		}
	} else {
		/* Large files as full 16 KiB records straight away; small ones
		 * stay corked so that many of them share records. */
		if (len > CHAN_IOBUF / 4 && chan_uncork(c, st) < 0)
			return -1;
		while (sent < len) {
			size_t want = len - sent > CHAN_IOBUF ? CHAN_IOBUF : (size_t)(len - sent);
			ssize_t n;

			if (kc_interrupted)
				return chan_net_err(c, EINTR, "sending", st);
			n = pread(fd, c->iobuf, want, (off_t)(off + sent));

			if (n < 0 && errno == EINTR && !kc_interrupted)
				continue;
			if (n <= 0) {
				*read_err = n < 0 ? errno : 0;
				*short_file = true;
				break;
			}
			if (chan_send_raw(c, c->iobuf, (size_t)n, true, st) < 0)
				return -1;
			sent += (uint64_t)n;
			if (c->prog)
				progress_add(c->prog, (uint64_t)n);
		}
	}
	if (sent < len)
		return send_zeros(c, len - sent, st);
	return 0;
}

/* ---- receiving --------------------------------------------------------- */

static void sink(int fd, const uint8_t *p, size_t n, int *write_err)
{
	size_t done = 0;

	if (fd < 0 || *write_err)
		return;
	while (done < n) {
		ssize_t w = write(fd, p + done, n - done);

		if (w < 0 && errno == EINTR && !kc_interrupted)
			continue;
		if (w <= 0) {
			*write_err = w < 0 ? errno : EIO;
			return;
		}
		done += (size_t)w;
	}
}

/* splice() socket -> pipe -> file.  Returns bytes moved (may be less than
 * len: the caller continues on the read path, e.g. after EINVAL for a
 * non-data record), or -1 with st. */
static ssize_t splice_in(struct chan_state *c, int fd, uint64_t len, int *write_err,
			 struct kc_status *st)
{
	uint64_t moved = 0;

	while (moved < len && !*write_err) {
		size_t want = len - moved > (1u << 20) ? (1u << 20) : (size_t)(len - moved);
		ssize_t n = splice(c->fd, NULL, c->pipe[1], NULL, want, SPLICE_F_MOVE | SPLICE_F_MORE);
		ssize_t left;

		if (n < 0 && errno == EINTR && !kc_interrupted)
			continue;
		if (n < 0 && errno == EINVAL)
			break;		/* a control record: let recvmsg() handle it */
		if (n < 0)
			return chan_net_err(c, errno, "receiving", st);
		if (n == 0)
			break;		/* EOF: the read path reports it */
		if (c->prog)
			progress_add(c->prog, (uint64_t)n);
		for (left = n; left > 0;) {
			ssize_t w = splice(c->pipe[0], NULL, fd, NULL, (size_t)left, SPLICE_F_MOVE);

			if (w < 0 && errno == EINTR && !kc_interrupted)
				continue;
			if (w <= 0) {
				/* Write failed: empty the pipe, keep consuming the stream. */
				*write_err = w < 0 ? errno : EIO;
				while (left > 0) {
					ssize_t r = read(c->pipe[0], c->iobuf,
							 (size_t)left > CHAN_IOBUF ? CHAN_IOBUF : (size_t)left);

					if (r <= 0)
						return kc_fail(st, KC_OTHER, "pipe: %s", strerror(errno));
					left -= r;
				}
				break;
			}
			left -= w;
		}
		moved += (uint64_t)n;
	}
	return (ssize_t)moved;
}

/* --verify on the splice path: hash n bytes of fd from off, as written. */
static void hash_back(struct chan_state *c, int fd, off_t off, uint64_t n, int *write_err)
{
	while (n > 0 && !*write_err) {
		size_t want = n > CHAN_IOBUF ? CHAN_IOBUF : (size_t)n;
		ssize_t r = pread(fd, c->iobuf, want, off);

		if (r < 0 && errno == EINTR && !kc_interrupted)
			continue;
		if (r <= 0) {
			*write_err = r < 0 ? errno : EIO;
			return;
		}
		gnutls_hash(c->rx_hash, c->iobuf, (size_t)r);
		off += r;
		n -= (uint64_t)r;
	}
}

/* May this body take the splice path?  With rx_hash, only into a file we
 * can read back from; *pos gets the offset the body starts at. */
static bool can_splice_in(struct chan_state *c, int fd, off_t *pos)
{
	int fl;

	if (!c->krx || c->rx_path != CHAN_RX_SPLICE || fd < 0)
		return false;
	if (!c->rx_hash)
		return true;
	fl = fcntl(fd, F_GETFL);
	return fl >= 0 && (fl & O_ACCMODE) == O_RDWR && (*pos = lseek(fd, 0, SEEK_CUR)) >= 0;
}

int body_recv_file(struct chan *ch, int fd, uint64_t len, int *write_err, struct kc_status *st)
{
	struct chan_state *c = ch->st;
	size_t fill = 0;
	off_t pos = 0;

	/* What the control-message reader already pulled in comes first. */
	if (c->rpos < c->rlen && len > 0) {
		size_t k = c->rlen - c->rpos < len ? c->rlen - c->rpos : (size_t)len;

		sink(fd, c->rbuf + c->rpos, k, write_err);
		if (c->rx_hash)
			gnutls_hash(c->rx_hash, c->rbuf + c->rpos, k);
		if (c->prog)
			progress_add(c->prog, (uint64_t)k);
		c->rpos += k;
		len -= k;
	}
	if (len > 0 && !*write_err && can_splice_in(c, fd, &pos)) {
		ssize_t n = splice_in(c, fd, len, write_err, st);

		if (n < 0)
			return -1;
		if (c->rx_hash)
			hash_back(c, fd, pos, (uint64_t)n, write_err);
		len -= (uint64_t)n;
	}
	/* The read path: kernel-decrypted recvmsg() (several records per call)
	 * or GnuTLS records, gathered into one large write. */
	while (len > 0) {
		size_t want = CHAN_IOBUF - fill;
		ssize_t n;

		if (want > len)
			want = (size_t)len;
		n = chan_recv_some(c, c->iobuf + fill, want, st);
		if (n < 0)
			return -1;
		if (n == 0)
			return kc_fail(st, KC_XFER, "%s: peer ended the session in the middle of a file",
				       c->peer);
		fill += (size_t)n;
		len -= (uint64_t)n;
		if (c->prog)
			progress_add(c->prog, (uint64_t)n);
		if (fill == CHAN_IOBUF || len == 0) {
			sink(fd, c->iobuf, fill, write_err);
			if (c->rx_hash)
				gnutls_hash(c->rx_hash, c->iobuf, fill);
			fill = 0;
		}
	}
	return 0;
}

/* ---- streams (--raw) and STREAM bodies --------------------------------- */

int body_recv_stream(struct chan *ch, int fd, uint64_t *bytes, struct kc_status *st)
{
	struct chan_state *c = ch->st;
	int werr = 0;

	*bytes = 0;
	if (c->rpos < c->rlen) {
		sink(fd, c->rbuf + c->rpos, c->rlen - c->rpos, &werr);
		*bytes += c->rlen - c->rpos;
		c->rpos = c->rlen;
	}
	for (;;) {
		ssize_t n = chan_recv_some(c, c->iobuf, CHAN_IOBUF, st);

		if (n < 0)
			return -1;
		if (n == 0)
			break;
		sink(fd, c->iobuf, (size_t)n, &werr);
		if (werr)
			return kc_fail(st, KC_FILE, "writing the received stream: %s", strerror(werr));
		*bytes += (uint64_t)n;
	}
	return 0;
}

int body_send_stream(struct chan *ch, int fd, uint64_t *bytes, struct kc_status *st)
{
	struct chan_state *c = ch->st;

	*bytes = 0;
	/* Kernel TX from a pipe: splice() moves the pages without a copy
	 * through this process.  Anything else (a terminal, EINVAL) goes
	 * through the buffer below. */
	while (c->ktx) {
		uint64_t want = 1u << 20;
		ssize_t n;

		if (chan_tx_reserve(c, &want, st) < 0)
			return -1;
		n = splice(fd, NULL, c->fd, NULL, (size_t)want, SPLICE_F_MOVE | SPLICE_F_MORE);
		if (n < 0 && errno == EINTR && !kc_interrupted)
			continue;
		if (n < 0 && errno == EINVAL && *bytes == 0)
			break;
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET || errno == EAGAIN ||
			      errno == ETIMEDOUT || errno == EINTR))
			return chan_net_err(c, errno, "sending", st);
		if (n < 0)
			return kc_fail(st, KC_FILE, "reading the input: %s", strerror(errno));
		if (n == 0)
			return 0;	/* the next record without MSG_MORE (close_notify) pushes the rest */
		c->spliced = true;
		*bytes += (uint64_t)n;
	}
	for (;;) {
		ssize_t n = read(fd, c->iobuf, CHAN_IOBUF);

		if (n < 0 && errno == EINTR && !kc_interrupted)
			continue;
		if (n < 0)
			return kc_fail(st, KC_FILE, "reading the input: %s", strerror(errno));
		if (n == 0)
			return chan_flush(ch, st);
		if (chan_send_raw(c, c->iobuf, (size_t)n, false, st) < 0)
			return -1;
		*bytes += (uint64_t)n;
	}
}

static int send_chunk_hdr(struct chan_state *c, uint32_t n, struct kc_status *st)
{
	uint8_t hdr[PROTO_CHUNK_HDR_LEN];

	if (proto_chunk_hdr_encode(hdr, n) < 0)
		return kc_fail(st, KC_OTHER, "internal error: a stream chunk of %u bytes", n);
	return chan_send_raw(c, hdr, sizeof(hdr), true, st);
}

/* Kernel TX: each chunk is what one splice() moves from fd into our pipe
 * (at most the pipe's size, PROTO_CHUNK_MAX where the kernel allows); its
 * header goes first with MSG_MORE, then the pipe is spliced to the socket,
 * so the bytes never pass through this process.  A chunk shorter than asked
 * means the input is momentarily dry: it goes without SPLICE_F_MORE, so the
 * kernel closes the record instead of holding it until more input comes.
 * Returns 1 when fd or the socket refuses splice (EINVAL; every chunk sent
 * so far is complete, the caller copies the rest), 0 at EOF (the zero-length
 * end is the caller's), or -1 with st.  The pipe is empty between calls. */
static int splice_chunks(struct chan_state *c, int fd, uint64_t *bytes, struct kc_status *st)
{
	if (c->pipe[0] < 0) {
		if (pipe2(c->pipe, O_CLOEXEC) < 0)
			return 1;
		/* Larger chunks, fewer headers; the default 64 KiB works too. */
		fcntl(c->pipe[1], F_SETPIPE_SZ, (int)PROTO_CHUNK_MAX);
	}
	for (;;) {
		ssize_t n = splice(fd, NULL, c->pipe[1], NULL, PROTO_CHUNK_MAX, SPLICE_F_MOVE);
		ssize_t left;
		bool more, refused = false;

		if (n < 0 && errno == EINTR && !kc_interrupted)
			continue;
		if (n < 0 && errno == EINTR)
			return chan_net_err(c, EINTR, "sending", st);
		if (n < 0 && errno == EAGAIN) {
			wait_readable(fd);
			continue;
		}
		if (n < 0 && errno == EINVAL)
			return 1;
		if (n < 0)
			return kc_fail(st, KC_FILE, "standard input: %s", strerror(errno));
		if (n == 0)
			return 0;
		if (send_chunk_hdr(c, (uint32_t)n, st) < 0)
			return -1;
		more = (size_t)n >= PROTO_CHUNK_MAX;
		for (left = n; left > 0;) {
			uint64_t k = (uint64_t)left;
			ssize_t w;

			/* A chunk may straddle a key update. */
			if (chan_tx_reserve(c, &k, st) < 0)
				return -1;
			w = splice(c->pipe[0], NULL, c->fd, NULL, (size_t)k,
				   SPLICE_F_MOVE | (more || (ssize_t)k < left ? SPLICE_F_MORE : 0));

			if (w < 0 && errno == EINTR && !kc_interrupted)
				continue;
			if (w < 0 && errno == EINVAL) {
				/* The socket refuses splice: copy the rest
				 * of this chunk out of the pipe, then the
				 * caller copies from fd. */
				while (left > 0) {
					ssize_t r = read(c->pipe[0], c->iobuf,
							 (size_t)left < CHAN_IOBUF ? (size_t)left : CHAN_IOBUF);

					if (r < 0 && errno == EINTR)
						continue;
					if (r <= 0)
						return kc_fail(st, KC_OTHER, "standard input: lost data in a pipe");
					if (chan_send_raw(c, c->iobuf, (size_t)r, more || r < left, st) < 0)
						return -1;
					left -= r;
				}
				refused = true;
				break;
			}
			if (w < 0)
				return chan_net_err(c, errno, "sending", st);
			if (w == 0)
				return chan_net_err(c, EPIPE, "sending", st);
			left -= w;
			c->spliced = true;
		}
		*bytes += (uint64_t)n;
		if (c->prog)
			progress_add(c->prog, (uint64_t)n);
		if (refused)
			return 1;
	}
}

int body_send_chunks(struct chan *ch, int fd, uint64_t *bytes, struct kc_status *st)
{
	struct chan_state *c = ch->st;

	*bytes = 0;
	/* A terminal gains nothing from splice() (and older kernels refuse). */
	if (c->ktx && !c->tx_hash && !isatty(fd)) {
		int rc = splice_chunks(c, fd, bytes, st);

		if (rc <= 0)
			return rc < 0 ? -1 : send_chunk_hdr(c, 0, st);
	}
	for (;;) {
		size_t want = PROTO_CHUNK_MAX < CHAN_IOBUF ? PROTO_CHUNK_MAX : CHAN_IOBUF;
		ssize_t n = read(fd, c->iobuf, want);

		if (n < 0 && errno == EINTR && !kc_interrupted)
			continue;
		if (n < 0 && errno == EINTR)
			return chan_net_err(c, EINTR, "sending", st);
		if (n < 0 && errno == EAGAIN) {
			wait_readable(fd);
			continue;
		}
		if (n < 0)
			return kc_fail(st, KC_FILE, "standard input: %s", strerror(errno));
		if (send_chunk_hdr(c, (uint32_t)n, st) < 0)
			return -1;
		if (n == 0)
			return 0;
		if (c->tx_hash)
			gnutls_hash(c->tx_hash, c->iobuf, (size_t)n);
		/* A short read: the input is dry for now, push what we have
		 * rather than hold it in an open record. */
		if (chan_send_raw(c, c->iobuf, (size_t)n, (size_t)n == want, st) < 0)
			return -1;
		*bytes += (uint64_t)n;
		if (c->prog)
			progress_add(c->prog, (uint64_t)n);
	}
}

int body_recv_chunks(struct chan *ch, int fd, uint64_t limit, uint64_t *bytes, int *write_err,
		     struct kc_status *st)
{
	struct chan_state *c = ch->st;

	*bytes = 0;
	for (;;) {
		uint8_t hdr[PROTO_CHUNK_HDR_LEN];
		uint32_t len;

		if (chan_read_exact(ch, hdr, sizeof(hdr), st) < 0)
			return -1;
		if (proto_chunk_hdr_decode(hdr, &len) < 0)
			return kc_fail(st, KC_XFER, "%s: protocol error: stream chunk of %u bytes", c->peer, len);
		if (len == 0)
			return 0;
		if (len > limit - *bytes)
			return 1;
		if (body_recv_file(ch, fd, len, write_err, st) < 0)
			return -1;
		*bytes += len;
	}
}
