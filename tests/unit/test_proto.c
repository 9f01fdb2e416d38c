/* Unit tests of the wire format and the path checker. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "tap.h"

static struct proto_batch batch;
static struct proto_reply reply;

static void test_hello(void)
{
	struct pbuf b = { 0 };
	struct proto_hello h = { PROTO_VERSION, 0, PROTO_BATCH_MAX, PROTO_OPT_PRESERVE }, g;
	uint8_t type;
	uint32_t len;

	ok(proto_hello_encode(&b, &h) == 0, "hello encodes");
	ok(proto_header_parse(b.p, &type, &len) == 0 && type == PROTO_HELLO && len == b.len - 5,
	   "hello header parses");
	ok(proto_hello_decode(b.p + 5, len, &g) == 0 && g.version == 1 && g.batch_max == PROTO_BATCH_MAX &&
	   g.opts == PROTO_OPT_PRESERVE, "hello round trip");
	b.p[b.len - 1] = PROTO_OPT_VERIFY;
	ok(proto_hello_decode(b.p + 5, len, &g) == 0 && g.opts == PROTO_OPT_VERIFY,
	   "hello with the verify option decodes");
	b.p[b.len - 1] = PROTO_OPT_SYNC;
	ok(proto_hello_decode(b.p + 5, len, &g) == 0 && g.opts == PROTO_OPT_SYNC,
	   "hello with the sync option decodes");
	b.p[b.len - 1] = 0;
	b.p[b.len - 3] = 0x80;
	ok(proto_hello_decode(b.p + 5, len, &g) == -EOPNOTSUPP && g.opts == 0x800000,
	   "hello with an unknown option is refused, naming the bits");
	b.p[5] = 'X';
	ok(proto_hello_decode(b.p + 5, len, &g) == -EPROTO, "hello with bad magic is refused");
	ok(proto_hello_decode(b.p + 5, 3, &g) == -EPROTO, "truncated hello is refused");
	pbuf_free(&b);
}

static void test_batch(void)
{
	struct pbuf b = { 0 };
	struct proto_entry e = { .kind = PROTO_KIND_FILE, .mode = 0644, .size = 12345,
				 .mtime = 1700000000, .mtime_ns = 5, .atime = 1600000000, .atime_ns = 7 };
	size_t mark;
	unsigned n = 0, i;
	uint8_t type;
	uint32_t len;
	char name[32];

	ok(proto_batch_begin(&b, 7, &mark) == 0, "batch begins");
	for (i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "dir/file %u", i);
		e.path = name;
		e.path_len = (uint16_t)strlen(name);
		proto_batch_add(&b, mark, &n, &e);
	}
	e.kind = PROTO_KIND_DIR;
	e.size = 0;
	e.path = "dir";
	e.path_len = 3;
	proto_batch_add(&b, mark, &n, &e);
	ok(n == 4, "four entries added");
	ok(proto_batch_finish(&b, mark, n, true) == 0, "batch finishes");
	ok(proto_header_parse(b.p, &type, &len) == 0 && type == PROTO_BATCH, "batch header parses");
	ok(proto_batch_decode(b.p + 5, len, &batch) == 0, "batch decodes");
	ok(batch.seq == 7 && batch.final && batch.count == 4, "batch seq, final flag and count");
	ok(strcmp(batch.e[2].path, "dir/file 2") == 0 && batch.e[2].size == 12345 &&
	   batch.e[2].mode == 0644 && batch.e[2].mtime == 1700000000 && batch.e[2].mtime_ns == 5 &&
	   batch.e[2].atime == 1600000000 && batch.e[2].atime_ns == 7,
	   "entry fields round trip");
	ok(batch.e[3].kind == PROTO_KIND_DIR && strcmp(batch.e[3].path, "dir") == 0, "dir entry");

	ok(proto_batch_decode(b.p + 5, len - 1, &batch) == -EPROTO, "truncated batch is refused");
	b.p[len + 5] = 0;	/* nothing: the buffer has room */
	{
		uint8_t *copy = malloc(len + 1);

		memcpy(copy, b.p + 5, len);
		copy[len] = 0;
		ok(proto_batch_decode(copy, len + 1, &batch) == -EPROTO, "trailing bytes are refused");
		memcpy(copy, b.p + 5, len);
		copy[7 + 0] = 9;	/* first entry's kind */
		ok(proto_batch_decode(copy, len, &batch) == -EPROTO, "unknown entry kind is refused");
		memcpy(copy, b.p + 5, len);
		copy[5] = 0x01;		/* count high byte: 256 + 4 */
		ok(proto_batch_decode(copy, len, &batch) == -EPROTO, "count above the limit is refused");
		ok(batch.count == 0, "a refused batch reads as empty (its wire count is not kept)");
		memcpy(copy, b.p + 5, len);
		copy[4] = 2;		/* final flag */
		ok(proto_batch_decode(copy, len, &batch) == -EPROTO, "bad final flag is refused");
		free(copy);
	}
	pbuf_free(&b);
}

static void test_batch_limits(void)
{
	struct pbuf b = { 0 };
	struct proto_entry e = { .kind = PROTO_KIND_FILE, .mode = 0600, .size = 1 };
	static char longname[PROTO_PATH_MAX + 1];
	size_t mark;
	unsigned n = 0, i;
	int rc = 0;

	memset(longname, 'a', PROTO_PATH_MAX);
	e.path = longname;
	e.path_len = PROTO_PATH_MAX;
	proto_batch_begin(&b, 1, &mark);
	for (i = 0; i < 1000 && rc == 0; i++)
		rc = proto_batch_add(&b, mark, &n, &e);
	ok(rc == -ENOSPC && n == (PROTO_MAX_MSG - 7) / (39 + PROTO_PATH_MAX),
	   "a batch stops at the message size limit (%u entries)", n);
	ok(b.len - mark - 5 <= PROTO_MAX_MSG, "message within PROTO_MAX_MSG");
	pbuf_free(&b);

	e.path = "x";
	e.path_len = 1;
	n = 0;
	rc = 0;
	proto_batch_begin(&b, 1, &mark);
	for (i = 0; i < 1000 && rc == 0; i++)
		rc = proto_batch_add(&b, mark, &n, &e);
	ok(rc == -ENOSPC && n == PROTO_BATCH_MAX, "a batch stops at PROTO_BATCH_MAX entries");
	pbuf_free(&b);

	{
		uint8_t hdr[5] = { PROTO_BATCH, 0x00, 0x10, 0x00, 0x01 };
		uint8_t type;
		uint32_t len;

		ok(proto_header_parse(hdr, &type, &len) == -EPROTO, "a header above 1 MiB is refused");
		hdr[0] = 99;
		hdr[2] = 0;
		ok(proto_header_parse(hdr, &type, &len) == -EPROTO, "an unknown type is refused");
		hdr[0] = PROTO_HELLO;
		hdr[4] = 200;
		ok(proto_header_parse(hdr, &type, &len) == -EPROTO, "an oversized HELLO is refused");
	}
}

/* SYMLINK and HARDLINK entries: a target after the path, round trip and
 * every malformed form refused. */
static void test_links(void)
{
	struct pbuf b = { 0 };
	struct proto_entry e = { .kind = PROTO_KIND_SYMLINK, .mode = 0777, .path = "d/l", .path_len = 3,
				 .target = "../x y", .target_len = 6 };
	static uint8_t copy[PROTO_MAX_MSG];
	size_t mark, len;
	unsigned n = 0;
	int at;

	proto_batch_begin(&b, 3, &mark);
	ok(proto_batch_add(&b, mark, &n, &e) == 0, "a symlink entry is added");
	e.kind = PROTO_KIND_HARDLINK;
	e.path = "d/h";
	e.target = "d/f";
	e.target_len = 3;
	ok(proto_batch_add(&b, mark, &n, &e) == 0, "a hard link entry is added");
	e.kind = PROTO_KIND_FILE;
	e.size = 9;
	e.path = "d/f";
	e.target_len = 77;	/* not on the wire for a file */
	proto_batch_add(&b, mark, &n, &e);
	proto_batch_finish(&b, mark, n, true);
	len = b.len - 5;
	ok(proto_batch_decode(b.p + 5, len, &batch) == 0 && batch.count == 3, "a batch with links decodes");
	ok(batch.e[0].kind == PROTO_KIND_SYMLINK && strcmp(batch.e[0].path, "d/l") == 0 &&
	   batch.e[0].target_len == 6 && strcmp(batch.e[0].target, "../x y") == 0, "symlink target verbatim");
	ok(batch.e[1].kind == PROTO_KIND_HARDLINK && strcmp(batch.e[1].target, "d/f") == 0, "hard link target");
	ok(batch.e[2].target_len == 0 && batch.e[2].target[0] == '\0' && batch.e[2].size == 9,
	   "a file has no target");
	ok(len == 7 + 3 * 39 + 3 + 2 + 6 + 3 + 2 + 3 + 3, "the target costs u16 + its bytes (%zu)", len);
	/* Offsets in copy: the first entry's target length at 7 + 39 + 3. */
	at = 7 + 39 + 3;
	memcpy(copy, b.p + 5, len);
	copy[at + 2] = '\0';
	ok(proto_batch_decode(copy, len, &batch) == -EPROTO && batch.count == 0, "a NUL in a target is refused");
	memcpy(copy, b.p + 5, len);
	copy[at] = 0;
	copy[at + 1] = 0;
	ok(proto_batch_decode(copy, len, &batch) == -EPROTO, "an empty target (and what follows misread) is refused");
	memcpy(copy, b.p + 5, len);
	copy[at] = 0xff;
	ok(proto_batch_decode(copy, len, &batch) == -EPROTO, "a target longer than the message is refused");
	memcpy(copy, b.p + 5, len);
	copy[7] = 6;
	ok(proto_batch_decode(copy, len, &batch) == -EPROTO, "kind 6 is refused");
	memcpy(copy, b.p + 5, len);
	copy[7 + 5 + 7] = 1;	/* the symlink's size: links have none */
	ok(proto_batch_decode(copy, len, &batch) == -EPROTO, "a link with a size is refused");
	pbuf_free(&b);
	ok((PROTO_OPT_KNOWN & (PROTO_OPT_LINKS | PROTO_OPT_HARDLINKS)) == (PROTO_OPT_LINKS | PROTO_OPT_HARDLINKS),
	   "-l and -H are known HELLO options");
}

static void test_reply_error(void)
{
	struct pbuf b = { 0 };
	uint8_t type, reason;
	uint32_t len;
	char text[64];

	memset(&reply, 0, sizeof(reply));
	reply.seq = 3;
	reply.count = 2;
	reply.action[1] = PROTO_REJECT;
	reply.reason[1] = PR_NOTDIR;
	reply.offset[0] = 99;
	reply.hashlen[0] = PROTO_HASH_LEN;
	memset(reply.hash[0], 0xab, PROTO_HASH_LEN);
	ok(proto_reply_encode(&b, PROTO_ACK, &reply) == 0, "ACK encodes");
	proto_header_parse(b.p, &type, &len);
	memset(&reply, 0, sizeof(reply));
	ok(proto_reply_decode(PROTO_ACK, b.p + 5, len, &reply) == 0 && reply.seq == 3 &&
	   reply.count == 2 && reply.action[1] == PROTO_REJECT && reply.reason[1] == PR_NOTDIR &&
	   reply.offset[0] == 99 && reply.hashlen[0] == PROTO_HASH_LEN && reply.hash[0][31] == 0xab &&
	   reply.hashlen[1] == 0, "ACK round trip, with a resume offset and its prefix hash");
	b.p[5 + 6 + 10] = 31;	/* first hash length */
	ok(proto_reply_decode(PROTO_ACK, b.p + 5, len, &reply) == -EPROTO, "bad hash length is refused");
	b.p[5 + 6 + 10] = PROTO_HASH_LEN;
	b.p[5 + 6 + 11 + PROTO_HASH_LEN] = 7;	/* second action */
	ok(proto_reply_decode(PROTO_ACK, b.p + 5, len, &reply) == -EPROTO, "bad action is refused");
	b.len = 0;
	ok(proto_error_encode(&b, PR_NOSPACE, "disk full") == 0, "ERROR encodes");
	proto_header_parse(b.p, &type, &len);
	ok(proto_error_decode(b.p + 5, len, &reason, text, sizeof(text)) == 0 && reason == PR_NOSPACE &&
	   strcmp(text, "disk full") == 0, "ERROR round trip");
	pbuf_free(&b);
}

static void test_sums(void)
{
	struct pbuf b = { 0 };
	uint8_t type;
	uint32_t len;

	memset(&reply, 0, sizeof(reply));
	reply.seq = 9;
	reply.count = 3;
	reply.hashlen[0] = PROTO_HASH_LEN;
	memset(reply.hash[0], 0x5a, PROTO_HASH_LEN);
	reply.hashlen[2] = PROTO_HASH_LEN;
	memset(reply.hash[2], 0xc3, PROTO_HASH_LEN);
	ok(proto_reply_encode(&b, PROTO_SUMS, &reply) == 0, "SUMS encodes");
	ok(proto_header_parse(b.p, &type, &len) == 0 && type == PROTO_SUMS &&
	   len == 6 + 2 * (1 + PROTO_HASH_LEN) + 1, "SUMS is seq, count and a hash length (+ hash) per entry");
	memset(&reply, 0, sizeof(reply));
	ok(proto_reply_decode(PROTO_SUMS, b.p + 5, len, &reply) == 0 && reply.seq == 9 &&
	   reply.count == 3 && reply.hashlen[0] == PROTO_HASH_LEN && reply.hash[0][31] == 0x5a &&
	   reply.hashlen[1] == 0 && reply.hashlen[2] == PROTO_HASH_LEN && reply.hash[2][0] == 0xc3,
	   "SUMS round trip, an entry without a body has no hash");
	b.p[5 + 6] = 16;
	ok(proto_reply_decode(PROTO_SUMS, b.p + 5, len, &reply) == -EPROTO, "SUMS with a 16-byte hash is refused");
	b.p[5 + 6] = PROTO_HASH_LEN;
	ok(proto_reply_decode(PROTO_SUMS, b.p + 5, len - 1, &reply) == -EPROTO, "truncated SUMS is refused");
	b.p[0] = PROTO_SUMS;
	b.p[1] = 0x7f;
	ok(proto_header_parse(b.p, &type, &len) == -EPROTO, "an oversized SUMS is refused");
	ok(strcmp(proto_type_str(PROTO_SUMS), "SUMS") == 0 && strstr(proto_reason_str(PR_MISMATCH), "SHA-256"),
	   "SUMS and the mismatch reason have names");
	ok(PR_UNCHANGED == 15 && strstr(proto_reason_str(PR_UNCHANGED), "unchanged"),
	   "--sync's reason is 14, as the man page says");
	pbuf_free(&b);
}

static void test_chunk_hdr(void)
{
	uint8_t hdr[PROTO_CHUNK_HDR_LEN] = { 0xee, 0xee, 0xee, 0xee };
	uint32_t len = 1;

	ok(proto_chunk_hdr_encode(hdr, 0x10203) == 0 && hdr[0] == 0 && hdr[1] == 1 && hdr[2] == 2 &&
	   hdr[3] == 3, "a chunk header is the length, big-endian");
	ok(proto_chunk_hdr_decode(hdr, &len) == 0 && len == 0x10203, "chunk header round trip");
	ok(proto_chunk_hdr_encode(hdr, 0) == 0 && proto_chunk_hdr_decode(hdr, &len) == 0 && len == 0,
	   "a zero length (the end of a stream) round trips");
	ok(proto_chunk_hdr_encode(hdr, PROTO_CHUNK_MAX) == 0 && proto_chunk_hdr_decode(hdr, &len) == 0 &&
	   len == PROTO_CHUNK_MAX, "the largest chunk round trips");
	ok(proto_chunk_hdr_encode(hdr, PROTO_CHUNK_MAX + 1) == -EMSGSIZE &&
	   hdr[1] == 0x10, "an oversized chunk is not encoded and leaves the header as it was");
	hdr[0] = 0x80;
	ok(proto_chunk_hdr_decode(hdr, &len) == -EPROTO && len == 0x80100000u,
	   "an oversized chunk is refused, with its length for the message");
}

static void test_paths(void)
{
	static const struct { const char *p; int ok; } cases[] = {
		{ "a", 1 }, { "a/b/c.txt", 1 }, { "with space/ü.txt", 1 }, { ".hidden", 1 },
		{ "a..b", 1 }, { "...", 1 },
		{ "", 0 }, { "/etc/passwd", 0 }, { "..", 0 }, { "../x", 0 }, { "a/../../x", 0 },
		{ "a/..", 0 }, { ".", 0 }, { "./a", 0 }, { "a/./b", 0 }, { "a//b", 0 }, { "a/", 0 },
		{ "//a", 0 },
	};
	static char buf[PROTO_PATH_MAX + 10];
	size_t i;
	const char *why;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ok((proto_path_check(cases[i].p, strlen(cases[i].p), &why) == 0) == cases[i].ok,
		   "path \"%s\" is %s", cases[i].p, cases[i].ok ? "accepted" : "refused");
	ok(proto_path_check("a\0b", 3, &why) == -EINVAL, "NUL inside a path is refused");
	memset(buf, 'a', 256);
	ok(proto_path_check(buf, 256, &why) == -ENAMETOOLONG, "a 256-byte component is refused");
	ok(proto_path_check(buf, 255, &why) == 0, "a 255-byte component is accepted");
	memset(buf, 0, sizeof(buf));
	for (i = 0; i < PROTO_PATH_MAX + 1; i += 2)
		memcpy(buf + i, "a/", 2);
	ok(proto_path_check(buf, 2 * 129 - 1, &why) == -ENAMETOOLONG, "129 components are refused");
	ok(proto_path_check(buf, 2 * 128 - 1, &why) == 0, "128 components are accepted");
	ok(proto_path_check(buf, PROTO_PATH_MAX + 1, &why) == -ENAMETOOLONG, "a 4 KiB path is refused");
}

static void test_reconnect(void)
{
	struct pbuf b = { 0 };
	uint8_t key[PROTO_RECONN_KEY], got[PROTO_RECONN_KEY], type;
	uint16_t port = 0;
	uint32_t len;
	unsigned i;

	for (i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 7 + 1);
	ok(proto_reconnect_encode(&b, 40123, key) == 0 && b.len == PROTO_HDR_LEN + PROTO_RECONN_LEN,
	   "reconnect encodes to a fixed size");
	ok(proto_header_parse(b.p, &type, &len) == 0 && type == PROTO_RECONNECT && len == PROTO_RECONN_LEN,
	   "reconnect header parses");
	ok(proto_reconnect_decode(b.p + 5, len, &port, got) == 0 && port == 40123 &&
	   memcmp(got, key, sizeof(key)) == 0, "reconnect round trip");
	ok(proto_reconnect_decode(b.p + 5, len - 1, &port, got) == -EPROTO, "short reconnect is refused");
	b.p[5] = b.p[6] = 0;
	ok(proto_reconnect_decode(b.p + 5, len, &port, got) == -EPROTO, "reconnect to port 0 is refused");
	b.p[4] = PROTO_RECONN_LEN + 1;
	ok(proto_header_parse(b.p, &type, &len) == -EPROTO, "an oversized reconnect header is refused");
	pbuf_free(&b);
}

int main(void)
{
	test_reconnect();
	test_hello();
	test_batch();
	test_batch_limits();
	test_links();
	test_reply_error();
	test_sums();
	test_chunk_hdr();
	test_paths();
	return tap_done();
}
