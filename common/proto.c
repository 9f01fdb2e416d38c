/* proto: encoder and decoder of the ktlscp v1 wire format (see proto.h and
 * the WIRE PROTOCOL section of ktlscp(1)).  No I/O, no global state. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* ---- output buffer ---------------------------------------------------- */

void pbuf_free(struct pbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

static int pbuf_reserve(struct pbuf *b, size_t more)
{
	size_t need = b->len + more, cap;
	uint8_t *np;

	if (need <= b->cap)
		return 0;
	if (need > PROTO_HDR_LEN + (size_t)PROTO_MAX_MSG + 4096)
		return -EMSGSIZE;
	cap = b->cap ? b->cap : 4096;
	while (cap < need)
		cap *= 2;
	np = realloc(b->p, cap);
	if (np == NULL)
		return -ENOMEM;
	b->p = np;
	b->cap = cap;
	return 0;
}

static int put_bytes(struct pbuf *b, const void *v, size_t n)
{
	int rc = pbuf_reserve(b, n);

	if (rc < 0)
		return rc;
	memcpy(b->p + b->len, v, n);
	b->len += n;
	return 0;
}

static int put_be(struct pbuf *b, uint64_t v, unsigned n)
{
	uint8_t tmp[8];
	unsigned i;

	for (i = 0; i < n; i++)
		tmp[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	return put_bytes(b, tmp, n);
}

static void set_be(uint8_t *p, uint64_t v, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

/* ---- input reader ------------------------------------------------------ */

struct rd {
	const uint8_t *p;
	size_t left;
	bool bad;
};

static uint64_t get_be(struct rd *r, unsigned n)
{
	uint64_t v = 0;
	unsigned i;

	if (r->bad || r->left < n) {
		r->bad = true;
		return 0;
	}
	for (i = 0; i < n; i++)
		v = (v << 8) | r->p[i];
	r->p += n;
	r->left -= n;
	return v;
}

static const uint8_t *get_bytes(struct rd *r, size_t n)
{
	const uint8_t *p = r->p;

	if (r->bad || r->left < n) {
		r->bad = true;
		return NULL;
	}
	r->p += n;
	r->left -= n;
	return p;
}

/* ---- framing ----------------------------------------------------------- */

static uint32_t type_bound(unsigned type)
{
	switch (type) {
	case PROTO_HELLO:
		return 64;
	case PROTO_BATCH:
		return PROTO_MAX_MSG;
	case PROTO_ACK:
		return 8 + PROTO_BATCH_MAX * (11 + PROTO_HASH_LEN);
	case PROTO_PLAN:
		return 8 + PROTO_BATCH_MAX * 10;
	case PROTO_SUMS:
		return 8 + PROTO_BATCH_MAX * (1 + PROTO_HASH_LEN);
	case PROTO_BATCH_END:
	case PROTO_DONE:
		return 8 + PROTO_BATCH_MAX * 2;
	case PROTO_ERROR:
		return 3 + PROTO_ERRTEXT_MAX;
	case PROTO_CP_REQ:
		return PROTO_MAX_MSG;
	case PROTO_CP_INFO:
		return 64;
	case PROTO_RECONNECT:
		return PROTO_RECONN_LEN;
	default:
		return 0;
	}
}

int proto_header_parse(const uint8_t hdr[PROTO_HDR_LEN], uint8_t *type, uint32_t *len)
{
	uint32_t l = ((uint32_t)hdr[1] << 24) | ((uint32_t)hdr[2] << 16) |
		     ((uint32_t)hdr[3] << 8) | hdr[4];
	uint32_t bound = type_bound(hdr[0]);

	if (bound == 0 || l > bound)
		return -EPROTO;
	*type = hdr[0];
	*len = l;
	return 0;
}

int proto_chunk_hdr_encode(uint8_t hdr[PROTO_CHUNK_HDR_LEN], uint32_t len)
{
	if (len > PROTO_CHUNK_MAX)
		return -EMSGSIZE;
	set_be(hdr, len, PROTO_CHUNK_HDR_LEN);
	return 0;
}

int proto_chunk_hdr_decode(const uint8_t hdr[PROTO_CHUNK_HDR_LEN], uint32_t *len)
{
	*len = ((uint32_t)hdr[0] << 24) | ((uint32_t)hdr[1] << 16) | ((uint32_t)hdr[2] << 8) | hdr[3];
	return *len > PROTO_CHUNK_MAX ? -EPROTO : 0;
}

/* Begin/end a framed message; between them append the payload. */
static int proto_msg_begin(struct pbuf *b, enum proto_type type, size_t *mark)
{
	*mark = b->len;
	return put_be(b, type, 1) ?: put_be(b, 0, 4);
}

static int proto_msg_end(struct pbuf *b, size_t mark)
{
	size_t len = b->len - mark - PROTO_HDR_LEN;

	if (len > type_bound(b->p[mark]))
		return -EMSGSIZE;
	set_be(b->p + mark + 1, len, 4);
	return 0;
}

/* ---- HELLO ------------------------------------------------------------- */

int proto_hello_encode(struct pbuf *b, const struct proto_hello *h)
{
	size_t mark;
	int rc;

	rc = proto_msg_begin(b, PROTO_HELLO, &mark);
	rc = rc ?: put_bytes(b, PROTO_MAGIC, 6);
	rc = rc ?: put_be(b, h->version, 2);
	rc = rc ?: put_be(b, h->caps, 4);
	rc = rc ?: put_be(b, h->batch_max, 4);
	rc = rc ?: put_be(b, h->opts, 4);
	return rc ?: proto_msg_end(b, mark);
}

int proto_hello_decode(const uint8_t *p, size_t len, struct proto_hello *h)
{
	struct rd r = { p, len, false };
	const uint8_t *magic = get_bytes(&r, 6);

	if (magic == NULL || memcmp(magic, PROTO_MAGIC, 6) != 0)
		return -EPROTO;
	h->version = (uint16_t)get_be(&r, 2);
	h->caps = (uint32_t)get_be(&r, 4);
	h->batch_max = (uint32_t)get_be(&r, 4);
	h->opts = (uint32_t)get_be(&r, 4);
	/* Later versions may append fields: ignore what follows. */
	if (r.bad || h->version == 0)
		return -EPROTO;
	return h->opts & ~PROTO_OPT_KNOWN ? -EOPNOTSUPP : 0;
}

/* ---- BATCH ------------------------------------------------------------- */
/* payload: u32 seq | u8 final | u16 count | count x entry
 * entry:   u8 kind | u32 mode | u64 size | s64 mtime | u32 mtime_ns |
 *          s64 atime | u32 atime_ns | u16 path_len | path bytes
 *          [SYMLINK, HARDLINK: u16 target_len | target bytes]              */

#define BATCH_HEAD	7	/* seq + final + count */
#define ENTRY_FIXED	39

int proto_batch_begin(struct pbuf *b, uint32_t seq, size_t *mark)
{
	int rc = proto_msg_begin(b, PROTO_BATCH, mark);

	rc = rc ?: put_be(b, seq, 4);
	rc = rc ?: put_be(b, 0, 1);
	return rc ?: put_be(b, 0, 2);
}

int proto_batch_add(struct pbuf *b, size_t mark, unsigned *count, const struct proto_entry *e)
{
	size_t payload = b->len - mark - PROTO_HDR_LEN;
	int rc;

	bool link = PROTO_KIND_IS_LINK(e->kind);
	size_t extra = link ? 2u + e->target_len : 0;

	if (*count >= PROTO_BATCH_MAX ||
	    payload + ENTRY_FIXED + e->path_len + extra > PROTO_MAX_MSG)
		return -ENOSPC;
	rc = put_be(b, e->kind, 1);
	rc = rc ?: put_be(b, e->mode & 07777, 4);
	rc = rc ?: put_be(b, e->size, 8);
	rc = rc ?: put_be(b, (uint64_t)e->mtime, 8);
	rc = rc ?: put_be(b, e->mtime_ns, 4);
	rc = rc ?: put_be(b, (uint64_t)e->atime, 8);
	rc = rc ?: put_be(b, e->atime_ns, 4);
	rc = rc ?: put_be(b, e->path_len, 2);
	rc = rc ?: put_bytes(b, e->path, e->path_len);
	if (link) {
		rc = rc ?: put_be(b, e->target_len, 2);
		rc = rc ?: put_bytes(b, e->target, e->target_len);
	}
	if (rc == 0)
		(*count)++;
	return rc;
}

int proto_batch_finish(struct pbuf *b, size_t mark, unsigned count, bool final)
{
	uint8_t *h = b->p + mark + PROTO_HDR_LEN;

	h[4] = final ? 1 : 0;
	set_be(h + 5, count, 2);
	return proto_msg_end(b, mark);
}

static int batch_decode(const uint8_t *p, size_t len, struct proto_batch *out)
{
	struct rd r = { p, len, false };
	unsigned i, fin;

	out->seq = (uint32_t)get_be(&r, 4);
	fin = (unsigned)get_be(&r, 1);
	out->count = (unsigned)get_be(&r, 2);
	out->arena_used = 0;
	if (r.bad || fin > 1 || out->count > PROTO_BATCH_MAX)
		return -EPROTO;
	out->final = fin == 1;
	for (i = 0; i < out->count; i++) {
		struct proto_entry *e = &out->e[i];
		const uint8_t *path, *target;

		e->kind = (uint8_t)get_be(&r, 1);
		e->mode = (uint32_t)get_be(&r, 4);
		e->size = get_be(&r, 8);
		e->mtime = (int64_t)get_be(&r, 8);
		e->mtime_ns = (uint32_t)get_be(&r, 4);
		e->atime = (int64_t)get_be(&r, 8);
		e->atime_ns = (uint32_t)get_be(&r, 4);
		e->path_len = (uint16_t)get_be(&r, 2);
		path = get_bytes(&r, e->path_len);
		e->target_len = 0;
		target = NULL;
		if (PROTO_KIND_IS_LINK(e->kind)) {
			e->target_len = (uint16_t)get_be(&r, 2);
			target = get_bytes(&r, e->target_len);
		}
		if (r.bad)
			return -EPROTO;
		if ((e->kind != PROTO_KIND_FILE && e->kind != PROTO_KIND_DIR &&
		     e->kind != PROTO_KIND_STREAM && !PROTO_KIND_IS_LINK(e->kind)) ||
		    (target && (e->target_len == 0 || memchr(target, '\0', e->target_len))) ||
		    e->mode > 07777 || e->mtime_ns >= 1000000000u || e->atime_ns >= 1000000000u ||
		    e->size > PROTO_FILE_MAX ||
		    (e->kind != PROTO_KIND_FILE && e->size != 0))
			return -EPROTO;
		if (e->path_len > PROTO_PATH_MAX || e->target_len > PROTO_PATH_MAX)
			return -ENAMETOOLONG;
		if (out->arena_used + e->path_len + 1 + e->target_len + 1 > sizeof(out->arena))
			return -EPROTO;
		memcpy(out->arena + out->arena_used, path, e->path_len);
		out->arena[out->arena_used + e->path_len] = '\0';
		e->path = out->arena + out->arena_used;
		out->arena_used += e->path_len + 1;
		e->target = out->arena + out->arena_used;
		if (target)
			memcpy(out->arena + out->arena_used, target, e->target_len);
		out->arena[out->arena_used + e->target_len] = '\0';
		out->arena_used += e->target_len + 1;
	}
	if (r.left != 0)
		return -EPROTO;
	return 0;
}

/* On failure count is 0: callers that clean up after a refused batch walk
 * its entries, and the count on the wire may be anything. */
int proto_batch_decode(const uint8_t *p, size_t len, struct proto_batch *out)
{
	int rc = batch_decode(p, len, out);

	if (rc < 0)
		out->count = 0;
	return rc;
}

/* ---- ACK / BATCH_END / DONE / PLAN / SUMS ------------------------------- */
/* payload: u32 seq | u16 count | count x (u8 action | u8 reason [| u64 offset
 * [| u8 hashlen | hash]]): offset in ACK and PLAN, the prefix hash in ACK.
 * SUMS: u32 seq | u16 count | count x (u8 hashlen | hash). */

int proto_reply_encode(struct pbuf *b, enum proto_type type, const struct proto_reply *r)
{
	size_t mark;
	unsigned i;
	int rc;

	if (r->count > PROTO_BATCH_MAX)
		return -EINVAL;
	rc = proto_msg_begin(b, type, &mark);
	rc = rc ?: put_be(b, r->seq, 4);
	rc = rc ?: put_be(b, r->count, 2);
	for (i = 0; rc == 0 && i < r->count; i++) {
		if (type != PROTO_SUMS) {
			rc = put_be(b, r->action[i], 1);
			rc = rc ?: put_be(b, r->reason[i], 1);
		}
		if (type == PROTO_ACK || type == PROTO_PLAN)
			rc = rc ?: put_be(b, r->offset[i], 8);
		if (type == PROTO_ACK || type == PROTO_SUMS) {
			uint8_t hl = r->hashlen[i] == PROTO_HASH_LEN ? PROTO_HASH_LEN : 0;

			rc = rc ?: put_be(b, hl, 1);
			rc = rc ?: put_bytes(b, r->hash[i], hl);
		}
	}
	return rc ?: proto_msg_end(b, mark);
}

int proto_reply_decode(enum proto_type type, const uint8_t *p, size_t len, struct proto_reply *r)
{
	struct rd rd = { p, len, false };
	unsigned i, maxact = type == PROTO_ACK ? PROTO_REJECT : 1;

	r->seq = (uint32_t)get_be(&rd, 4);
	r->count = (unsigned)get_be(&rd, 2);
	if (rd.bad || r->count > PROTO_BATCH_MAX)
		return -EPROTO;
	for (i = 0; i < r->count; i++) {
		r->action[i] = type == PROTO_SUMS ? 0 : (uint8_t)get_be(&rd, 1);
		r->reason[i] = type == PROTO_SUMS ? 0 : (uint8_t)get_be(&rd, 1);
		r->offset[i] = type == PROTO_ACK || type == PROTO_PLAN ? get_be(&rd, 8) : 0;
		r->hashlen[i] = 0;
		if (type == PROTO_ACK || type == PROTO_SUMS) {
			const uint8_t *h;

			r->hashlen[i] = (uint8_t)get_be(&rd, 1);
			if (r->hashlen[i] != 0 && r->hashlen[i] != PROTO_HASH_LEN)
				return -EPROTO;
			h = get_bytes(&rd, r->hashlen[i]);
			if (h && r->hashlen[i])
				memcpy(r->hash[i], h, PROTO_HASH_LEN);
			if (type == PROTO_ACK && (r->hashlen[i] != 0) != (r->offset[i] != 0))
				return -EPROTO;
		}
		if (rd.bad || r->action[i] > maxact || r->reason[i] >= PR_MAX_ ||
		    (type == PROTO_PLAN && r->action[i] != 0))
			return -EPROTO;
	}
	if (rd.left != 0)
		return -EPROTO;
	return 0;
}

/* ---- ERROR ------------------------------------------------------------- */
/* payload: u8 reason | u16 len | text (UTF-8, not NUL-terminated) */

int proto_error_encode(struct pbuf *b, uint8_t reason, const char *text)
{
	size_t n = strlen(text), mark;
	int rc;

	if (n > PROTO_ERRTEXT_MAX)
		n = PROTO_ERRTEXT_MAX;
	rc = proto_msg_begin(b, PROTO_ERROR, &mark);
	rc = rc ?: put_be(b, reason, 1);
	rc = rc ?: put_be(b, n, 2);
	rc = rc ?: put_bytes(b, text, n);
	return rc ?: proto_msg_end(b, mark);
}

int proto_error_decode(const uint8_t *p, size_t len, uint8_t *reason, char *text, size_t textsz)
{
	struct rd r = { p, len, false };
	size_t n;
	const uint8_t *t;

	*reason = (uint8_t)get_be(&r, 1);
	n = (size_t)get_be(&r, 2);
	t = get_bytes(&r, n);
	if (r.bad || n > PROTO_ERRTEXT_MAX || *reason >= PR_MAX_ || textsz == 0)
		return -EPROTO;
	if (n >= textsz)
		n = textsz - 1;
	memcpy(text, t, n);
	text[n] = '\0';
	return 0;
}

/* ---- paths ------------------------------------------------------------- */

int proto_path_check(const char *path, size_t len, const char **why)
{
	const char *w = NULL;
	size_t i, start = 0, depth = 0;
	int rc = 0;

	if (len == 0) {
		w = "empty path";
		rc = -EINVAL;
	} else if (len > PROTO_PATH_MAX) {
		w = "path too long";
		rc = -ENAMETOOLONG;
	} else if (path[0] == '/') {
		w = "absolute path";
		rc = -EINVAL;
	} else if (memchr(path, '\0', len) != NULL) {
		w = "NUL byte in path";
		rc = -EINVAL;
	}
	for (i = 0; rc == 0 && i <= len; i++) {
		size_t clen;

		if (i < len && path[i] != '/')
			continue;
		clen = i - start;
		if (clen == 0) {
			w = "empty path component";
			rc = -EINVAL;
		} else if (clen == 1 && path[start] == '.') {
			w = "\".\" path component";
			rc = -EINVAL;
		} else if (clen == 2 && path[start] == '.' && path[start + 1] == '.') {
			w = "\"..\" path component";
			rc = -EINVAL;
		} else if (clen > PROTO_NAME_MAX) {
			w = "path component too long";
			rc = -ENAMETOOLONG;
		} else if (++depth > PROTO_DEPTH_MAX) {
			w = "path too deep";
			rc = -ENAMETOOLONG;
		}
		start = i + 1;
	}
	if (why)
		*why = w;
	return rc;
}

/* ---- reasons ----------------------------------------------------------- */

enum proto_reason proto_reason_from_errno(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return PR_OK;
	case EEXIST:
		return PR_EXISTS;
	case ENOSPC:
	case EDQUOT:
		return PR_NOSPACE;
	case EACCES:
	case EPERM:
	case EROFS:
		return PR_PERM;
	case ENOTDIR:
	case ELOOP:
		return PR_NOTDIR;
	case EISDIR:
		return PR_ISDIR;
	case EIO:
		return PR_IO;
	case EINVAL:
	case ENAMETOOLONG:
		return PR_BADPATH;
	case EFBIG:
		return PR_TOOBIG;
	case EBUSY:
		return PR_BUSY;
	default:
		return PR_OTHER;
	}
}

const char *proto_reason_str(unsigned reason)
{
	static const char *const s[PR_MAX_] = {
		[PR_OK] = "ok",
		[PR_EXISTS] = "already exists",
		[PR_NOSPACE] = "no space left on the receiver",
		[PR_PERM] = "permission denied on the receiver",
		[PR_NOTDIR] = "a path component is not a directory (or is a symlink)",
		[PR_ISDIR] = "is a directory on the receiver",
		[PR_IO] = "I/O error on the receiver",
		[PR_BADPATH] = "unsafe or invalid path",
		[PR_TOOBIG] = "too large",
		[PR_SOURCE] = "source file changed or could not be read while sending",
		[PR_PROTOCOL] = "protocol violation",
		[PR_LIMIT] = "limit exceeded",
		[PR_OTHER] = "failed on the receiver",
		[PR_MISMATCH] = "content differs from the sender's file (SHA-256 mismatch)",
		[PR_BUSY] = "busy: another transfer of this file is in progress",
		[PR_UNCHANGED] = "unchanged (same size and modification time, or content with --checksum)",
	};

	return reason < PR_MAX_ ? s[reason] : "unknown reason";
}

const char *proto_type_str(unsigned type)
{
	switch (type) {
	case PROTO_HELLO: return "HELLO";
	case PROTO_BATCH: return "BATCH";
	case PROTO_ACK: return "ACK";
	case PROTO_BATCH_END: return "BATCH_END";
	case PROTO_DONE: return "DONE";
	case PROTO_ERROR: return "ERROR";
	case PROTO_PLAN: return "PLAN";
	case PROTO_SUMS: return "SUMS";
	case PROTO_CP_REQ: return "CP_REQ";
	case PROTO_CP_INFO: return "CP_INFO";
	case PROTO_RECONNECT: return "RECONNECT";
	default: return "unknown";
	}
}

/* ---- cp's bootstrap messages -------------------------------------------- */

int proto_cp_req_encode(struct pbuf *b, uint8_t dir, uint8_t flags, uint32_t opts,
			const char *const *paths, unsigned count)
{
	size_t mark;
	unsigned i;
	int rc;

	if (count > PROTO_CP_PATHS_MAX)
		return -EMSGSIZE;
	rc = proto_msg_begin(b, PROTO_CP_REQ, &mark);
	rc = rc ?: put_be(b, dir, 1);
	rc = rc ?: put_be(b, flags, 1);
	rc = rc ?: put_be(b, opts, 4);
	rc = rc ?: put_be(b, count, 2);
	for (i = 0; i < count && rc == 0; i++) {
		size_t n = strlen(paths[i]);

		if (n > PROTO_PATH_MAX)
			return -ENAMETOOLONG;
		rc = put_be(b, n, 2) ?: put_bytes(b, paths[i], n);
	}
	return rc ?: proto_msg_end(b, mark);
}

int proto_cp_req_decode(const uint8_t *p, size_t len, struct proto_cp_req *r)
{
	struct rd rd = { p, len, false };
	size_t used = 0;
	unsigned i;

	r->dir = (uint8_t)get_be(&rd, 1);
	r->flags = (uint8_t)get_be(&rd, 1);
	r->opts = (uint32_t)get_be(&rd, 4);
	r->count = (unsigned)get_be(&rd, 2);
	if (rd.bad || (r->dir != PROTO_CP_PUSH && r->dir != PROTO_CP_PULL) || r->count > PROTO_CP_PATHS_MAX ||
	    (r->dir == PROTO_CP_PUSH && r->count != 1))
		goto bad;
	for (i = 0; i < r->count; i++) {
		size_t n = (size_t)get_be(&rd, 2);
		const uint8_t *s = get_bytes(&rd, n);

		if (s == NULL || n > PROTO_PATH_MAX || memchr(s, 0, n) != NULL)
			goto bad;
		memcpy(r->arena + used, s, n);
		r->arena[used + n] = '\0';
		r->path[i] = r->arena + used;
		used += n + 1;
	}
	if (rd.left == 0)
		return 0;
bad:
	r->count = 0;
	return -EPROTO;
}

int proto_cp_info_encode(struct pbuf *b, uint8_t tx, uint8_t rx)
{
	size_t mark;
	int rc;

	rc = proto_msg_begin(b, PROTO_CP_INFO, &mark);
	rc = rc ?: put_be(b, tx, 1);
	rc = rc ?: put_be(b, rx, 1);
	return rc ?: proto_msg_end(b, mark);
}

int proto_cp_info_decode(const uint8_t *p, size_t len, uint8_t *tx, uint8_t *rx)
{
	if (len < 2 || p[0] > 4 || p[1] > 4)
		return -EPROTO;
	*tx = p[0];
	*rx = p[1];
	return 0;
}

int proto_reconnect_encode(struct pbuf *b, uint16_t port, const uint8_t key[PROTO_RECONN_KEY])
{
	size_t mark, i;
	int rc;

	rc = proto_msg_begin(b, PROTO_RECONNECT, &mark);
	rc = rc ?: put_be(b, port, 2);
	for (i = 0; i < PROTO_RECONN_KEY; i++)
		rc = rc ?: put_be(b, key[i], 1);
	return rc ?: proto_msg_end(b, mark);
}

int proto_reconnect_decode(const uint8_t *p, size_t len, uint16_t *port, uint8_t key[PROTO_RECONN_KEY])
{
	if (len != PROTO_RECONN_LEN || (p[0] == 0 && p[1] == 0))
		return -EPROTO;
	*port = (uint16_t)(p[0] << 8 | p[1]);
	memcpy(key, p + 2, PROTO_RECONN_KEY);
	return 0;
}
