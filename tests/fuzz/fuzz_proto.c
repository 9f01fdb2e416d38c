/* libFuzzer target: the wire decoder.  The input's first bytes go to the
 * frame header parser and the STREAM chunk header decoder; then one message
 * type's decoder gets the rest (the first byte picks the type: 7 PLAN and
 * 8 SUMS, 9 CP_REQ and 10 CP_INFO as such, the rest modulo 6, as in a
 * frame header).  Whatever a
 * decoder accepts must re-encode to the same bytes, and decoded paths must
 * be NUL-terminated within the arena. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static struct proto_batch batch;
static struct proto_reply reply;
static struct proto_cp_req cpreq;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t type, reason;
	uint32_t len;
	char text[PROTO_ERRTEXT_MAX + 1];
	struct proto_hello h;
	struct pbuf b = { 0 };
	unsigned i;

	if (size >= PROTO_HDR_LEN)
		proto_header_parse(data, &type, &len);
	if (size >= PROTO_CHUNK_HDR_LEN && proto_chunk_hdr_decode(data, &len) == 0) {
		uint8_t hdr[PROTO_CHUNK_HDR_LEN];

		if (proto_chunk_hdr_encode(hdr, len) != 0 || memcmp(hdr, data, sizeof(hdr)) != 0)
			abort();
	}
	if (size < 1)
		return 0;
	type = data[0];
	data++;
	size--;
	if (type == PROTO_PLAN || type == PROTO_SUMS) {
		if (proto_reply_decode(type, data, size, &reply) == 0) {
			proto_reply_encode(&b, type, &reply);
			if (b.len - PROTO_HDR_LEN != size || memcmp(b.p + PROTO_HDR_LEN, data, size) != 0)
				abort();
		}
		pbuf_free(&b);
		return 0;
	}
	if (type == PROTO_CP_REQ) {
		if (proto_cp_req_decode(data, size, &cpreq) == 0) {
			for (i = 0; i < cpreq.count; i++)
				if (strlen(cpreq.path[i]) > PROTO_PATH_MAX)
					abort();
			if (proto_cp_req_encode(&b, cpreq.dir, cpreq.flags, cpreq.opts, cpreq.path,
						cpreq.count) != 0 ||
			    b.len - PROTO_HDR_LEN != size || memcmp(b.p + PROTO_HDR_LEN, data, size) != 0)
				abort();
		}
		pbuf_free(&b);
		return 0;
	}
	if (type == PROTO_CP_INFO) {
		uint8_t tx, rx;

		if (proto_cp_info_decode(data, size, &tx, &rx) == 0 && (tx > 4 || rx > 4))
			abort();
		return 0;
	}
	switch (type % 6) {
	case 0:
		proto_hello_decode(data, size, &h);
		break;
	case 1:
		if (proto_batch_decode(data, size, &batch) == 0) {
			size_t mark;
			unsigned n = 0;

			proto_batch_begin(&b, batch.seq, &mark);
			for (i = 0; i < batch.count; i++) {
				if (strlen(batch.e[i].path) > batch.e[i].path_len ||
				    strlen(batch.e[i].target) != batch.e[i].target_len)
					abort();
				proto_batch_add(&b, mark, &n, &batch.e[i]);
				proto_path_check(batch.e[i].path, batch.e[i].path_len, NULL);
			}
			proto_batch_finish(&b, mark, n, batch.final);
			if (n != batch.count || b.len - PROTO_HDR_LEN != size ||
			    memcmp(b.p + PROTO_HDR_LEN, data, size) != 0)
				abort();
		}
		break;
	case 2:
	case 3:
	case 4: {
		enum proto_type t = type % 6 == 2 ? PROTO_ACK : type % 6 == 3 ? PROTO_BATCH_END : PROTO_DONE;

		if (proto_reply_decode(t, data, size, &reply) == 0) {
			proto_reply_encode(&b, t, &reply);
			if (b.len - PROTO_HDR_LEN != size || memcmp(b.p + PROTO_HDR_LEN, data, size) != 0)
				abort();
		}
		break;
	}
	default:
		proto_error_decode(data, size, &reason, text, sizeof(text));
		break;
	}
	pbuf_free(&b);
	return 0;
}
