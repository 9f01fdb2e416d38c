/* liar: a sender for the --verify tests whose SUMS may lie.  It
 * authenticates properly (token), asks for the verify option, sends one
 * 100000-byte body named lie.bin (a file, or a stream of two chunks) and
 * then the SHA-256 of those bytes (good), of other bytes (bad), or none
 * (nosum).  With unknownbit it only sends a HELLO asking for an option bit
 * no version knows.  What the receiver answered is printed on stdout:
 * "DONE ok", "DONE failed: REASON", or "ERROR REASON: TEXT".
 *
 *   liar HOST PORT TOKEN file|stream good|bad|nosum
 *   liar HOST PORT TOKEN unknownbit
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "chan.h"
#include "net.h"
#include "proto.h"
#include "tls.h"

#define BODY 100000

static struct proto_reply reply;

/* Print the receiver's next answer that is not HELLO or ACK; 0 if it was
 * DONE ok. */
static int show_reply(struct chan *c)
{
	struct kc_status st = { 0 };
	const uint8_t *p;
	uint32_t len;
	uint8_t type;
	int rc;

	while ((rc = chan_recv_msg(c, &type, &p, &len, &st)) == 0) {
		if (type == PROTO_HELLO || type == PROTO_ACK)
			continue;
		if (type == PROTO_ERROR) {
			char text[PROTO_ERRTEXT_MAX + 1];
			uint8_t reason;

			proto_error_decode(p, len, &reason, text, sizeof(text));
			printf("ERROR %s: %s\n", proto_reason_str(reason), text);
			return 1;
		}
		if (type == PROTO_DONE && proto_reply_decode(PROTO_DONE, p, len, &reply) == 0 &&
		    reply.count == 1) {
			if (reply.action[0] == 0)
				printf("DONE ok\n");
			else
				printf("DONE failed: %s\n", proto_reason_str(reply.reason[0]));
			return reply.action[0] != 0;
		}
		printf("unexpected %s\n", proto_type_str(type));
		return 1;
	}
	printf("%s\n", rc == 1 ? "CLOSED" : st.msg);
	return 1;
}

int main(int argc, char **argv)
{
	struct kc_status st = { 0 };
	struct tls_opts o = { 0 };
	struct tls_ctx tc;
	struct ktls_info ki = { 0 };
	struct chan c;
	struct pbuf b = { 0 };
	struct proto_hello h = { PROTO_VERSION, 0, PROTO_BATCH_MAX, PROTO_OPT_VERIFY };
	struct proto_entry e = { .kind = PROTO_KIND_FILE, .mode = 0644, .size = BODY,
				 .path = "lie.bin", .path_len = 7 };
	static uint8_t body[BODY];
	gnutls_session_t s;
	size_t mark;
	unsigned n = 0, i;
	int fd, rc;
	bool stream, unknown;

	if (argc < 5 || (strcmp(argv[4], "unknownbit") != 0 && argc < 6)) {
		fprintf(stderr, "usage: liar HOST PORT TOKEN file|stream good|bad|nosum, or unknownbit\n");
		return 2;
	}
	unknown = strcmp(argv[4], "unknownbit") == 0;
	stream = strcmp(argv[4], "stream") == 0;
	o.token = argv[3];
	o.handshake_ms = 10000;
	if (tls_ctx_init(&tc, &o, &st) < 0 ||
	    (fd = net_connect(argv[1], (unsigned)atoi(argv[2]), AF_UNSPEC, 10000, &st)) < 0 ||
	    tls_handshake(&tc, fd, "receiver", &s, &st) < 0) {
		fprintf(stderr, "liar: %s\n", st.msg);
		return 1;
	}
	net_tune(fd, 10000);
	chan_init(&c, fd, s, &ki, "receiver", NULL);
	if (unknown)
		h.opts |= UINT32_C(1) << 31;
	proto_hello_encode(&b, &h);
	if (stream) {
		e.kind = PROTO_KIND_STREAM;
		e.size = 0;
	}
	proto_batch_begin(&b, 1, &mark);
	proto_batch_add(&b, mark, &n, &e);
	proto_batch_finish(&b, mark, n, true);
	chan_write(&c, b.p, b.len, false, &st);
	if (unknown) {
		rc = show_reply(&c);
		goto out;
	}
	for (i = 0; i < BODY; i++)
		body[i] = (uint8_t)(i * 7 + 3);
	if (stream) {
		/* Two chunks of BODY / 2 (u32 length, bytes), then the end. */
		static const uint8_t hdr[4] = { 0, 0, (BODY / 2) >> 8, (BODY / 2) & 0xff };
		static const uint8_t end[4] = { 0 };

		chan_write(&c, hdr, 4, true, &st);
		chan_write(&c, body, BODY / 2, true, &st);
		chan_write(&c, hdr, 4, true, &st);
		chan_write(&c, body + BODY / 2, BODY / 2, true, &st);
		chan_write(&c, end, 4, true, &st);
	} else {
		chan_write(&c, body, BODY, true, &st);
	}
	memset(&reply, 0, sizeof(reply));
	reply.seq = 1;
	reply.count = 1;
	if (strcmp(argv[5], "nosum") != 0) {
		reply.hashlen[0] = PROTO_HASH_LEN;
		gnutls_hash_fast(GNUTLS_DIG_SHA256, body, BODY, reply.hash[0]);
		if (strcmp(argv[5], "bad") == 0)
			reply.hash[0][0] ^= 1;
	}
	b.len = 0;
	proto_reply_encode(&b, PROTO_SUMS, &reply);
	memset(&reply, 0, sizeof(reply));
	reply.seq = 1;
	reply.count = 1;
	proto_reply_encode(&b, PROTO_BATCH_END, &reply);
	if (chan_write(&c, b.p, b.len, false, &st) < 0)
		fprintf(stderr, "liar: %s\n", st.msg);
	rc = show_reply(&c);
	chan_close_notify(&c);
out:
	chan_free(&c);
	pbuf_free(&b);
	gnutls_deinit(s);
	tls_ctx_free(&tc);
	close(fd);
	return rc;
}
