/* proto: the ktlscp wire format, version 1.  Pure: it encodes into and
 * decodes from memory buffers and never touches a socket, so it can be unit
 * tested and fuzzed.  The man page (section WIRE PROTOCOL) is the reference;
 * this header is its implementation.
 *
 * Control messages are framed as  u8 type | u32 length (big-endian) | payload.
 * File bodies are not framed: after a batch is acknowledged, the bodies of its
 * accepted files follow back to back as raw bytes, so that the kernel path can
 * sendfile()/splice() them.  Every length and count is bounded below.
 */
#ifndef KTLSCP_PROTO_H
#define KTLSCP_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_VERSION		1
#define PROTO_MAGIC		"KTLSCP"	/* 6 bytes, first in HELLO */
#define PROTO_HDR_LEN		5
#define PROTO_MAX_MSG		(1u << 20)	/* largest control message payload */
#define PROTO_BATCH_MAX		256		/* entries per batch */
#define PROTO_PATH_MAX		4095		/* bytes in a relative path */
#define PROTO_NAME_MAX		255		/* bytes in one path component */
#define PROTO_DEPTH_MAX		128		/* components in a path */
#define PROTO_ERRTEXT_MAX	512
#define PROTO_FILE_MAX		(UINT64_C(1) << 62)

enum proto_type {
	PROTO_HELLO = 1,	/* both ways, first message */
	PROTO_BATCH = 2,	/* sender: manifest entries */
	PROTO_ACK = 3,		/* receiver: per entry accept/skip/reject + offset */
	PROTO_BATCH_END = 4,	/* sender: after the bodies, per entry ok/failed */
	PROTO_DONE = 5,		/* receiver: per entry durable/failed */
	PROTO_ERROR = 6,	/* either way: fatal, then close */
	PROTO_PLAN = 7,		/* sender, with --resume: where each body starts */
	PROTO_SUMS = 8,		/* sender, with --verify: SHA-256 of each body's file;
				 * with --checksum also right after each BATCH */
	PROTO_CP_REQ = 9,	/* cp, TLS client to the far end, first: push or pull what */
	PROTO_CP_INFO = 10,	/* cp, the far end's answer: its kTLS modes */
	PROTO_RECONNECT = 11,	/* TLS server: where and how to continue on a new connection */
};

/* A STREAM (standard input) has no size up front: its body is chunked,
 * u32 length + bytes, ended by a zero length. */
/* SYMLINK (-l) and HARDLINK (-H) have no body; their entry carries a
 * target after the path: a symbolic link's bytes verbatim, or for a hard
 * link the path (as sent in this transfer, earlier) of the file it is
 * another name of.  Each is sent only when HELLO asked for it
 * (PROTO_OPT_LINKS, PROTO_OPT_HARDLINKS); the receiver refuses it else. */
enum proto_kind {
	PROTO_KIND_FILE = 1, PROTO_KIND_DIR = 2, PROTO_KIND_STREAM = 3,
	PROTO_KIND_SYMLINK = 4, PROTO_KIND_HARDLINK = 5,
};
#define PROTO_KIND_IS_LINK(k)	((k) == PROTO_KIND_SYMLINK || (k) == PROTO_KIND_HARDLINK)
#define PROTO_CHUNK_MAX		(1u << 20)
#define PROTO_CHUNK_HDR_LEN	4		/* the u32 length before each chunk */

enum proto_action { PROTO_ACCEPT = 0, PROTO_SKIP = 1, PROTO_REJECT = 2 };

/* Portable reasons carried in ACK, DONE and ERROR (not errno values). */
enum proto_reason {
	PR_OK = 0, PR_EXISTS, PR_NOSPACE, PR_PERM, PR_NOTDIR, PR_ISDIR, PR_IO,
	PR_BADPATH, PR_TOOBIG, PR_SOURCE, PR_PROTOCOL, PR_LIMIT, PR_OTHER,
	PR_MISMATCH,		/* --verify: the receiver's SHA-256 differs */
	PR_BUSY,		/* another connection holds this file's partial */
	PR_UNCHANGED,		/* --sync: ACK skip, the receiver's copy matches
				 * (size and mtime; with --checksum size and SHA-256) */
	PR_MAX_
};

/* Capability bits in HELLO. */
#define PROTO_CAP_NONE		0u
/* Sender: my send direction may reach the key-use limit and cannot update
 * its key; receiver: I answer with RECONNECT after HELLO. */
#define PROTO_CAP_RECONNECT	(1u << 0)

/* Sender's requests in HELLO (the receiver applies them). */
#define PROTO_OPT_PRESERVE	(1u << 0)	/* exact mode, mtime and atime */
#define PROTO_OPT_NOCLOBBER	(1u << 1)	/* skip names that exist */
#define PROTO_OPT_UPDATE	(1u << 2)	/* skip unless the receiver's copy is older */
#define PROTO_OPT_RESUME	(1u << 3)	/* continue partial files */
#define PROTO_OPT_VERIFY	(1u << 4)	/* SUMS after each batch's bodies */
#define PROTO_OPT_LINKS		(1u << 5)	/* -l: SYMLINK entries may come */
#define PROTO_OPT_HARDLINKS	(1u << 6)	/* -H: HARDLINK entries may come */
#define PROTO_OPT_SYNC		(1u << 7)	/* skip files whose size and mtime match; set mtimes */
#define PROTO_OPT_CHECKSUM	(1u << 8)	/* with SYNC: compare SHA-256 (SUMS after each BATCH) */
#define PROTO_OPT_KNOWN		(PROTO_OPT_PRESERVE | PROTO_OPT_NOCLOBBER | PROTO_OPT_UPDATE | \
				 PROTO_OPT_RESUME | PROTO_OPT_VERIFY | PROTO_OPT_LINKS | \
				 PROTO_OPT_HARDLINKS | PROTO_OPT_SYNC | PROTO_OPT_CHECKSUM)
#define PROTO_HASH_LEN		32		/* SHA-256: a partial's prefix, a whole file */

struct proto_hello {
	uint16_t version;
	uint32_t caps;
	uint32_t batch_max;	/* receiver: largest batch it takes */
	uint32_t opts;		/* sender: PROTO_OPT_*; receiver: 0 */
};

struct proto_entry {
	uint8_t kind;
	uint32_t mode;		/* permission bits only (07777) */
	uint64_t size;		/* files; 0 for directories */
	int64_t mtime;
	uint32_t mtime_ns;
	int64_t atime;
	uint32_t atime_ns;
	uint16_t path_len;
	const char *path;	/* NUL-terminated, in the batch's arena */
	uint16_t target_len;	/* SYMLINK, HARDLINK: 1..PROTO_PATH_MAX; else 0 */
	const char *target;	/* NUL-terminated (no NUL inside), in the arena */
};

struct proto_batch {
	uint32_t seq;
	bool final;
	unsigned count;
	struct proto_entry e[PROTO_BATCH_MAX];
	size_t arena_used;
	char arena[PROTO_MAX_MSG + 2 * PROTO_BATCH_MAX];	/* paths and targets, NUL-terminated */
};

/* Per-entry lists (ACK, BATCH_END, DONE, PLAN, SUMS). */
struct proto_reply {
	uint32_t seq;
	unsigned count;
	uint8_t action[PROTO_BATCH_MAX];	/* ACK: action; BATCH_END/DONE: 0 ok, 1 failed */
	uint8_t reason[PROTO_BATCH_MAX];
	uint64_t offset[PROTO_BATCH_MAX];	/* ACK, PLAN */
	uint8_t hashlen[PROTO_BATCH_MAX];	/* ACK: 0, or PROTO_HASH_LEN with an offset;
						 * SUMS: 0 (no body, or a failed one) or PROTO_HASH_LEN */
	uint8_t hash[PROTO_BATCH_MAX][PROTO_HASH_LEN];
};

/* A growable output buffer.  buf_* return 0 or -ENOMEM / -EMSGSIZE. */
struct pbuf {
	uint8_t *p;
	size_t len, cap;
};
void pbuf_free(struct pbuf *b);

int proto_hello_encode(struct pbuf *b, const struct proto_hello *h);
/* 0, -EPROTO for a malformed HELLO, or -EOPNOTSUPP when it is well formed
 * but asks for option bits this version does not know (h is filled in, so
 * the caller can name them). */
int proto_hello_decode(const uint8_t *p, size_t len, struct proto_hello *h);

/* a + b for sizes and byte counts that came from the wire: UINT64_MAX
 * instead of wrapping, so that no sum of sizes passes a limit by
 * overflowing. */
static inline uint64_t proto_size_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Batch encoding is incremental so the sender can stop when full. */
int proto_batch_begin(struct pbuf *b, uint32_t seq, size_t *mark);
/* Append one entry; -ENOSPC when the message would exceed PROTO_MAX_MSG
 * (nothing appended, *count unchanged). */
int proto_batch_add(struct pbuf *b, size_t mark, unsigned *count, const struct proto_entry *e);
int proto_batch_finish(struct pbuf *b, size_t mark, unsigned count, bool final);
/* 0, or -EPROTO / -ENAMETOOLONG with out->count set to 0. */
int proto_batch_decode(const uint8_t *p, size_t len, struct proto_batch *out);

/* ACK, BATCH_END, DONE, PLAN and SUMS; SUMS carries only hashlen and hash. */
int proto_reply_encode(struct pbuf *b, enum proto_type type, const struct proto_reply *r);
int proto_reply_decode(enum proto_type type, const uint8_t *p, size_t len, struct proto_reply *r);

int proto_error_encode(struct pbuf *b, uint8_t reason, const char *text);
int proto_error_decode(const uint8_t *p, size_t len, uint8_t *reason, char *text, size_t textsz);

/* Parse a frame header; -EPROTO on an unknown type or a length above that
 * type's bound. */
int proto_header_parse(const uint8_t hdr[PROTO_HDR_LEN], uint8_t *type, uint32_t *len);

/* A STREAM chunk's header: its length, 0 for the end of the body.  Encode
 * returns 0, or -EMSGSIZE (hdr untouched) for a length above PROTO_CHUNK_MAX.
 * Decode returns 0, or -EPROTO for a length above PROTO_CHUNK_MAX; *len gets
 * the length either way, so that the caller can name it. */
int proto_chunk_hdr_encode(uint8_t hdr[PROTO_CHUNK_HDR_LEN], uint32_t len);
int proto_chunk_hdr_decode(const uint8_t hdr[PROTO_CHUNK_HDR_LEN], uint32_t *len);

/* Check a relative path from the wire or from the command line: not empty,
 * not absolute, no empty, "." or ".." components, no NUL, no component over
 * PROTO_NAME_MAX, at most PROTO_PATH_MAX bytes and PROTO_DEPTH_MAX components.
 * Returns 0 or a negative errno (-EINVAL, -ENAMETOOLONG); *why, if not NULL,
 * gets a static description. */
int proto_path_check(const char *path, size_t len, const char **why);

enum proto_reason proto_reason_from_errno(int err);
const char *proto_reason_str(unsigned reason);

/* cp's bootstrap messages, before HELLO (man page, COPYING OVER SSH).
 * CP_REQ: u8 direction, u8 flags, u32 PROTO_OPT_* for the far sender,
 * u16 count, then count paths of u16 length + bytes (push: one, the
 * far DIR, "" for its home; pull: the names to fetch, as typed).
 * CP_INFO: u8 kTLS TX mode, u8 RX mode (enum ktls_mode values: 0
 * userspace, 1 sw, 2 hw, 3 hw_record, 4 kernel); later versions may add
 * bytes, which are ignored. */
#define PROTO_CP_PUSH		1
#define PROTO_CP_PULL		2
#define PROTO_CP_RECURSIVE	(1u << 0)
#define PROTO_CP_PATHS_MAX	256
struct proto_cp_req {
	uint8_t dir, flags;
	uint32_t opts;
	unsigned count;
	const char *path[PROTO_CP_PATHS_MAX];	/* NUL-terminated, in arena */
	char arena[PROTO_MAX_MSG + PROTO_CP_PATHS_MAX];
};
int proto_cp_req_encode(struct pbuf *b, uint8_t dir, uint8_t flags, uint32_t opts,
			const char *const *paths, unsigned count);
/* 0, or -EPROTO for a malformed request (a path with a NUL, over
 * PROTO_PATH_MAX bytes, too many, an unknown direction). */
int proto_cp_req_decode(const uint8_t *p, size_t len, struct proto_cp_req *r);
int proto_cp_info_encode(struct pbuf *b, uint8_t tx, uint8_t rx);
int proto_cp_info_decode(const uint8_t *p, size_t len, uint8_t *tx, uint8_t *rx);
const char *proto_type_str(unsigned type);

/* RECONNECT: u16 port, then PROTO_RECONN_KEY bytes of binding secret: the
 * PSK that the one follow-up connection to that port must prove. */
#define PROTO_RECONN_KEY	32
#define PROTO_RECONN_LEN	(2 + PROTO_RECONN_KEY)
int proto_reconnect_encode(struct pbuf *b, uint16_t port, const uint8_t key[PROTO_RECONN_KEY]);
/* 0, or -EPROTO for a wrong length or port 0. */
int proto_reconnect_decode(const uint8_t *p, size_t len, uint16_t *port, uint8_t key[PROTO_RECONN_KEY]);

#endif
