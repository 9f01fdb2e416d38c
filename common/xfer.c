/* xfer: what the sender and receiver engines share (HELLO, expecting a
 * message, aborting with ERROR) and --raw mode.  See xfer.h for the
 * connection model and ktlscp(1) WIRE PROTOCOL for the bytes. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "body.h"
#include "proto.h"
#include "xfer.h"

#define ESC_MAX 512

static const char *esc(const char *s, char *buf)
{
	return diag_escape(s, strlen(s), buf, ESC_MAX);
}

void xfer_cut_in(struct kc_status *st, const char *path, const char *note)
{
	char e[ESC_MAX];

	if (kc_class(st) == KC_FILE)
		return;
	kc_append(st, " (cut off in %s%s)", esc(path, e), note ? note : "");
}

int xfer_abort(struct chan *c, uint8_t reason, struct kc_status *st, enum kc_class cls,
	       const char *text)
{
	struct pbuf b = { 0 };
	struct kc_status ignore = { 0 };

	if (proto_error_encode(&b, reason, text) == 0)
		chan_write(c, b.p, b.len, false, &ignore);
	pbuf_free(&b);
	return kc_fail(st, cls, "%s: %s", chan_peer(c), text);
}

int xfer_expect(struct chan *c, uint8_t want, const uint8_t **p, uint32_t *len,
		struct kc_status *st)
{
	uint8_t refused;

	return xfer_expect_or_refused(c, want, p, len, &refused, st);
}

int xfer_expect_or_refused(struct chan *c, uint8_t want, const uint8_t **p, uint32_t *len,
			   uint8_t *refused, struct kc_status *st)
{
	uint8_t type;
	int rc = chan_recv_msg(c, &type, p, len, st);

	*refused = PR_OK;
	if (rc < 0)
		return -1;
	if (rc == 1)
		return kc_fail(st, KC_XFER, "%s: peer closed the session early (expected %s)", chan_peer(c),
			       proto_type_str(want));
	if (type == PROTO_ERROR) {
		char text[PROTO_ERRTEXT_MAX + 1], e[ESC_MAX];
		uint8_t reason;

		if (proto_error_decode(*p, *len, &reason, text, sizeof(text)) < 0)
			return kc_fail(st, KC_XFER, "%s: peer aborted with a malformed error", chan_peer(c));
		*refused = reason;
		return kc_fail(st, KC_XFER, "%s: peer aborted: %s", chan_peer(c), esc(text, e));
	}
	if (type != want)
		return xfer_abort(c, PR_PROTOCOL, st, KC_XFER, "protocol error: unexpected message");
	return 0;
}

void xfer_peer_reason(struct chan *c, struct kc_status *st)
{
	struct kc_status tmp = { 0 };
	const uint8_t *p;
	uint32_t len;
	uint8_t type;
	char text[PROTO_ERRTEXT_MAX + 1], e[ESC_MAX];
	uint8_t reason;

	if (kc_class(st) != KC_NET)
		return;
	while (chan_recv_msg(c, &type, &p, &len, &tmp) == 0) {
		if (type != PROTO_ERROR)
			continue;
		if (proto_error_decode(p, len, &reason, text, sizeof(text)) == 0)
			kc_replace(st, KC_XFER, "%s: peer aborted: %s", chan_peer(c), esc(text, e));
		return;
	}
}

int xfer_hello_encode(struct pbuf *b, uint32_t opts, uint32_t caps)
{
	struct proto_hello h = { PROTO_VERSION, caps, PROTO_BATCH_MAX, opts };

	return proto_hello_encode(b, &h);
}

/* Check the peer's HELLO; *opts gets the sender's requests.  Option bits
 * are requests from a sender: a receiver's HELLO may carry bits of a later
 * version, which a sender ignores. */
int xfer_hello_check(struct chan *c, const uint8_t *p, uint32_t len, uint32_t *opts, uint32_t *caps,
		     bool from_sender, struct kc_status *st)
{
	struct proto_hello h;
	int rc = proto_hello_decode(p, len, &h);

	if (rc == -EOPNOTSUPP && !from_sender) {
		rc = 0;
		h.opts &= PROTO_OPT_KNOWN;
	}
	if (rc == -EOPNOTSUPP) {
		char text[160];

		snprintf(text, sizeof(text),
			 "the sender asked for options this receiver does not know (HELLO option bits "
			 "0x%x); upgrade the receiver or leave the option out",
			 (unsigned)(h.opts & ~PROTO_OPT_KNOWN));
		return xfer_abort(c, PR_PROTOCOL, st, KC_XFER, text);
	}
	if (rc < 0)
		return xfer_abort(c, PR_PROTOCOL, st, KC_XFER,
				  "protocol error: the peer is not a ktlscp (bad HELLO)");
	if (h.version != PROTO_VERSION) {
		char text[128];

		snprintf(text, sizeof(text), "protocol version %u is not supported (this is %u)",
			 h.version, PROTO_VERSION);
		return xfer_abort(c, PR_PROTOCOL, st, KC_XFER, text);
	}
	*opts = h.opts;
	if (caps)
		*caps = h.caps;
	return 0;
}

/* ======================================================================= */
/* --raw                                                                   */
/* ======================================================================= */

int xfer_send_raw(struct chan *c, const char *path, int outfd, struct xfer_stats *stats,
		  struct kc_status *st)
{
	struct stat sb;
	uint64_t n = 0;
	int fd = 0, rc;

	if (strcmp(path, "-") != 0) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return kc_fail(st, KC_FILE, "%s: %s", path, strerror(errno));
	}
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
		bool short_file;
		int rerr;

		rc = body_send_file(c, fd, 0, (uint64_t)sb.st_size, &short_file, &rerr, st);
		if (rc == 0 && short_file)
			rc = kc_fail(st, rerr ? KC_FILE : KC_XFER, "%s: %s", path,
				     rerr ? strerror(rerr) : "file shrank while being sent");
		n = (uint64_t)sb.st_size;
	} else {
		rc = body_send_stream(c, fd, &n, st);
	}
	if (fd > 0)
		close(fd);
	if (rc < 0)
		return -1;
	if (chan_flush(c, st) < 0)
		return -1;
	chan_close_notify(c);
	/* Whatever the peer sends back (an echo server, a reply) goes to
	 * outfd, like openssl s_client; how the peer ends its side does not
	 * change the outcome of our sending. */
	if (outfd >= 0) {
		struct kc_status ignore = { 0 };
		uint64_t back;

		body_recv_stream(c, outfd, &back, &ignore);
	} else {
		chan_wait_close(c);
	}
	stats->files = 1;
	stats->bytes = n;
	return 0;
}

int xfer_recv_raw(struct chan *c, int outfd, struct xfer_stats *stats, struct kc_status *st)
{
	uint64_t n = 0;
	int rc = body_recv_stream(c, outfd, &n, st);

	stats->bytes = n;
	if (rc < 0)
		return -1;
	stats->files = 1;
	return 0;
}
