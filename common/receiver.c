/* receiver: the receiving engine (see receiver.h for the messages it
 * speaks and xfer.h for the connection model).
 *
 * Two batches are in hand at most (slots 0 and 1): the one whose bodies are
 * being received, and the next, already answered with ACK.  Each entry
 * (struct rent) keeps what was decided for it and where its body went.
 * What arrives is written only through the store (store.h).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "body.h"
#include "clock.h"
#include "oplog.h"
#include "proto.h"
#include "receiver.h"
#include "report.h"
#include "store.h"
#include "walk.h"
#include "xfer.h"

#define ESC_MAX 512

static const char *esc(const char *s, char *buf)
{
	return diag_escape(s, strlen(s), buf, ESC_MAX);
}

struct rent {
	uint64_t offset;	/* --resume: the partial's length we offered */
	uint64_t start;		/* --resume: where the sender started the body */
	uint8_t action, reason;
	bool written;		/* --stdout: the body went out */
	bool ok;
	uint64_t got;		/* body bytes received */
	bool summed, verified;	/* --verify: sum is the body's SHA-256; it matched */
	uint8_t sum[PROTO_HASH_LEN];
	struct store_mark mark;	/* --resume: the partial offered */
	struct store_file f;	/* where the body went (not with --stdout) */
	char why[200];		/* why it was skipped or failed, for its log line */
};

/* An entry failed or was refused for the reason fmt: with the log on
 * (oplog.h), the reason waits in re->why for the entry's line; without
 * it, it is printed now as "PATH: REASON". */
static void note(const struct proto_entry *e, struct rent *re, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void note(const struct proto_entry *e, struct rent *re, const char *fmt, ...)
{
	char en[ESC_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(re->why, sizeof(re->why), fmt, ap);
	va_end(ap);
	if (!oplog_on())
		diag_print("%s: %s", esc(e->path, en), re->why);
}

/* An entry is skipped for the reason why: listed for the summary, told
 * now when print (and the log is off), kept for its log line. */
static void skip(const struct proto_entry *e, struct rent *re, const char *why, bool print)
{
	snprintf(re->why, sizeof(re->why), "%s", why);
	report_entry_skipped(e->path, why, print && !oplog_on());
}

struct rstate {
	struct chan *c;
	struct store *store;		/* NULL with --stdout */
	uint32_t opts;			/* the sender's PROTO_OPT_* */
	bool to_stdout;
	bool unsafe_links;		/* recv --unsafe-links */
	uint64_t max_bytes, max_entries;
	uint64_t accepted_bytes, entries;	/* so far, against the limits */
	uint64_t avail;			/* free bytes estimated for the batch being answered */
	uint64_t reserved;		/* accepted file bytes not yet written */
	struct proto_batch *b[2];
	struct rent *r[2];
	struct pbuf pb;
	struct proto_reply rep;
	struct proto_reply sums;	/* --verify: the sender's SUMS */
	struct proto_reply csums;	/* --checksum: the SUMS after the BATCH being decided */
	struct xfer_stats *stats;
	int (*path_ok)(void *arg, const char *path);	/* receiver_run_only(): cp pull names */
	void *path_arg;
};

static void cleanup_pending(struct rstate *s, int which)
{
	unsigned i;

	if (s->b[which] == NULL || s->r[which] == NULL)
		return;
	for (i = 0; i < s->b[which]->count; i++)
		store_abort(&s->r[which][i].f);
}

/* Free space: what the batch b would add must fit, with a margin (store_room);
 * s->avail gets what is left for it, UINT64_MAX when that is not known. */
static void estimate_room(struct rstate *s, const struct proto_batch *b)
{
	uint64_t want = 0;
	unsigned i;

	for (i = 0; i < b->count; i++)
		want = proto_size_add(want, b->e[i].kind == PROTO_KIND_FILE ? b->e[i].size : 0);
	s->avail = want > 0 ? store_room(s->store) : UINT64_MAX;
	/* The previous batch may still be on its way. */
	if (s->avail != UINT64_MAX)
		s->avail = s->avail > s->reserved ? s->avail - s->reserved : 0;
}

/* A symlink that stays beneath DIR wherever it is followed from: its
 * target relative, never climbing above DIR from the link's directory. */
static bool link_safe(const struct proto_entry *e)
{
	unsigned depth = 0;
	const char *c;

	for (c = e->path; (c = strchr(c, '/')) != NULL; c++)
		depth++;
	return walk_link_safe(e->target, e->target_len, depth);
}

/* Decide what becomes of entry i, whose path is checked: create a directory,
 * apply -n/--update, --max-size and the free space, offer a partial; the
 * answer goes to re and to slot i of the ACK. */
static void decide(struct rstate *s, const struct proto_entry *e, struct rent *re, unsigned i)
{
	re->action = PROTO_ACCEPT;
	if (s->to_stdout && PROTO_KIND_IS_LINK(e->kind)) {
		/* No file to make another name of, no DIR to put a link in. */
		re->action = PROTO_SKIP;
		re->reason = PR_OK;
		skip(e, re, "link, with --stdout", false);
	} else if (s->to_stdout) {
		/* Bodies go to standard output in order; nothing is
		 * created here, directories included. */
	} else if (e->kind == PROTO_KIND_SYMLINK && !s->unsafe_links && !link_safe(e)) {
		re->action = PROTO_SKIP;
		re->reason = PR_BADPATH;
		skip(e, re, "unsafe symbolic link (absolute, or leaves DIR; see --unsafe-links)", true);
	} else if (e->kind == PROTO_KIND_DIR) {
		int err = store_mkdir(s->store, e);

		if (err < 0) {
			re->action = PROTO_REJECT;
			re->reason = proto_reason_from_errno(err);
			note(e, re, "cannot create directory: %s", strerror(-err));
		}
	} else if (s->opts & (PROTO_OPT_NOCLOBBER | PROTO_OPT_UPDATE | PROTO_OPT_SYNC)) {
		bool sum = (s->opts & PROTO_OPT_CHECKSUM) && s->csums.hashlen[i] == PROTO_HASH_LEN;

		re->action = store_policy(s->store, e, sum ? s->csums.hash[i] : NULL, &re->reason);
		if (re->action == PROTO_SKIP)
			skip(e, re, re->reason == PR_EXISTS ? "it exists here (-n)"
				    : re->reason == PR_UNCHANGED && (s->opts & PROTO_OPT_CHECKSUM) ? "unchanged (--checksum: same size and SHA-256)"
				    : re->reason == PR_UNCHANGED ? "unchanged (--sync: same size and modification time)"
				    : "the copy here is not older (--update)",
			     false);
	}
	if (re->action == PROTO_ACCEPT && e->kind == PROTO_KIND_FILE) {
		if (s->max_bytes && proto_size_add(s->accepted_bytes, e->size) > s->max_bytes) {
			re->action = PROTO_REJECT;
			re->reason = PR_TOOBIG;
			note(e, re, "refused: over --max-size");
		} else if (!s->to_stdout && e->size > s->avail) {
			re->action = PROTO_REJECT;
			re->reason = PR_NOSPACE;
			note(e, re, "refused: %llu bytes do not fit in the free space", (unsigned long long)e->size);
		} else {
			s->accepted_bytes = proto_size_add(s->accepted_bytes, e->size);
			s->reserved = proto_size_add(s->reserved, e->size);
			if (s->avail != UINT64_MAX)
				s->avail -= e->size;
		}
	}
	s->rep.action[i] = re->action;
	s->rep.reason[i] = re->reason;
	s->rep.offset[i] = 0;
	s->rep.hashlen[i] = 0;
	if ((s->opts & PROTO_OPT_RESUME) && !s->to_stdout && e->kind == PROTO_KIND_FILE &&
	    re->action == PROTO_ACCEPT) {
		re->offset = store_offer(s->store, e, s->rep.hash[i], &re->mark);
		s->rep.offset[i] = re->offset;
		s->rep.hashlen[i] = re->offset ? PROTO_HASH_LEN : 0;
	}
}

static const struct proto_batch *sort_batch;	/* for cmp_path (qsort has no context) */

static int cmp_path(const void *a, const void *b)
{
	const struct proto_entry *x = &sort_batch->e[*(const uint16_t *)a];
	const struct proto_entry *y = &sort_batch->e[*(const uint16_t *)b];
	size_t n = x->path_len < y->path_len ? x->path_len : y->path_len;
	int c = memcmp(x->path, y->path, n);

	return c ? c : (x->path_len > y->path_len) - (x->path_len < y->path_len);
}

/* The index of an entry of b whose path an earlier entry of b has too, or
 * -1 when every path is there once (a sort, O(n log n)). */
static int find_duplicate(const struct proto_batch *b)
{
	uint16_t idx[PROTO_BATCH_MAX];
	unsigned i;

	for (i = 0; i < b->count; i++)
		idx[i] = (uint16_t)i;
	sort_batch = b;
	qsort(idx, b->count, sizeof(idx[0]), cmp_path);
	for (i = 1; i < b->count; i++)
		if (cmp_path(&idx[i - 1], &idx[i]) == 0)
			return idx[i];
	return -1;
}

/* Read one BATCH into slot and answer it (ACK). */
static int recv_manifest(struct rstate *s, int slot, uint32_t seq, struct kc_status *st)
{
	struct chan *c = s->c;
	struct proto_batch *b = s->b[slot];
	struct rent *r = s->r[slot];
	const uint8_t *p;
	uint32_t len;
	unsigned i;
	int rc;

	if (xfer_expect(c, PROTO_BATCH, &p, &len, st) < 0)
		return -1;
	rc = proto_batch_decode(p, len, b);
	if (rc == -ENAMETOOLONG)
		return xfer_abort(c, PR_BADPATH, st, KC_XFER,
				  "protocol error: the manifest has a path over the length limit; transfer refused");
	if (rc < 0 || b->seq != seq)
		return xfer_abort(c, PR_PROTOCOL, st, KC_XFER, "protocol error: malformed manifest batch");
	s->entries += b->count;
	if (s->max_entries && s->entries > s->max_entries) {
		char text[PROTO_ERRTEXT_MAX];

		snprintf(text, sizeof(text), "the manifest exceeds %llu entries; transfer refused",
			 (unsigned long long)s->max_entries);
		return xfer_abort(c, PR_LIMIT, st, KC_XFER, text);
	}
	if (!s->to_stdout)
		estimate_room(s, b);
	s->rep.seq = seq;
	s->rep.count = b->count;
	for (i = 0; i < b->count; i++) {
		const struct proto_entry *e = &b->e[i];
		const char *why = NULL;

		memset(&r[i], 0, sizeof(r[i]));
		r[i].f.fd = r[i].f.dirfd = -1;
		if (proto_path_check(e->path, e->path_len, &why) < 0) {
			char text[PROTO_ERRTEXT_MAX], en[ESC_MAX];

			snprintf(text, sizeof(text), "unsafe path \"%s\" in the manifest (%s); transfer refused",
				 diag_escape(e->path, e->path_len, en, 200), why);
			return xfer_abort(c, PR_BADPATH, st, KC_XFER, text);
		}
		/* A second sender must not name another transfer's partial. */
		if (!s->to_stdout && store_name_reserved(e->path, e->path_len)) {
			char text[PROTO_ERRTEXT_MAX], en[ESC_MAX];

			snprintf(text, sizeof(text),
				 "protocol error: the path \"%s\" has the form of the receiver's temporary files (" FSU_TMP_PREFIX "*" FSU_TMP_SUFFIX "); transfer refused",
				 diag_escape(e->path, e->path_len, en, 200));
			return xfer_abort(c, PR_PROTOCOL, st, KC_XFER, text);
		}
		/* Links only where HELLO asked for them; a hard link names a
		 * path as checked as any other. */
		if ((e->kind == PROTO_KIND_SYMLINK && !(s->opts & PROTO_OPT_LINKS)) ||
		    (e->kind == PROTO_KIND_HARDLINK && !(s->opts & PROTO_OPT_HARDLINKS)))
			return xfer_abort(c, PR_PROTOCOL, st, KC_XFER,
					  "protocol error: a link entry the sender did not announce (-l, -H); transfer refused");
		if (e->kind == PROTO_KIND_HARDLINK &&
		    (proto_path_check(e->target, e->target_len, &why) < 0 ||
		     store_name_reserved(e->target, e->target_len))) {
			char text[PROTO_ERRTEXT_MAX], en[ESC_MAX];

			snprintf(text, sizeof(text), "unsafe hard link target \"%s\" in the manifest; transfer refused",
				 diag_escape(e->target, e->target_len, en, 200));
			return xfer_abort(c, PR_BADPATH, st, KC_XFER, text);
		}
		if (s->path_ok && s->path_ok(s->path_arg, e->path) != 0) {
			char text[PROTO_ERRTEXT_MAX], en[ESC_MAX];

			snprintf(text, sizeof(text), "sent \"%s\", which was not asked for; transfer refused",
				 diag_escape(e->path, e->path_len, en, 200));
			return xfer_abort(c, PR_BADPATH, st, KC_XFER, text);
		}
	}
	/* A path twice in one batch would be created, offered and written
	 * twice (and the second body would replace the first): refused before
	 * anything is done for the batch.  With --stdout nothing is stored,
	 * so a file sent twice is simply written out twice. */
	if (!s->to_stdout && (rc = find_duplicate(b)) >= 0) {
		char text[PROTO_ERRTEXT_MAX], en[ESC_MAX];

		snprintf(text, sizeof(text), "protocol error: the path \"%s\" is twice in one batch; transfer refused",
			 diag_escape(b->e[rc].path, b->e[rc].path_len, en, 200));
		return xfer_abort(c, PR_PROTOCOL, st, KC_XFER, text);
	}
	/* --checksum: the SHA-256 of each file comes right after its BATCH. */
	if (s->opts & PROTO_OPT_CHECKSUM) {
		if (xfer_expect(c, PROTO_SUMS, &p, &len, st) < 0)
			return -1;
		if (proto_reply_decode(PROTO_SUMS, p, len, &s->csums) < 0 || s->csums.seq != b->seq ||
		    s->csums.count != b->count)
			return xfer_abort(c, PR_PROTOCOL, st, KC_XFER, "protocol error: malformed SUMS (--checksum)");
	}
	for (i = 0; i < b->count; i++)
		decide(s, &b->e[i], &r[i], i);
	s->pb.len = 0;
	if (proto_reply_encode(&s->pb, PROTO_ACK, &s->rep) < 0)
		return kc_fail(st, KC_OTHER, "cannot encode ACK");
	return chan_write(c, s->pb.p, s->pb.len, false, st);
}

/* --verify: the body is in; its hash goes to re->sum. */
static void end_rx_hash(struct chan *c, struct rent *re, int rc)
{
	if (chan_rx_hash(c) == NULL)
		return;
	chan_rx_hash_end(c, rc == 0 ? re->sum : NULL);
	re->summed = rc == 0;
}

/* --resume: PLAN, where the sender starts each body of the batch in slot;
 * only where a partial was offered may it start past 0. */
static int read_plan(struct rstate *s, int slot, uint64_t *start, struct kc_status *st)
{
	struct proto_batch *b = s->b[slot];
	const uint8_t *p;
	uint32_t len;
	unsigned i;

	if (xfer_expect(s->c, PROTO_PLAN, &p, &len, st) < 0)
		return -1;
	if (proto_reply_decode(PROTO_PLAN, p, len, &s->rep) < 0 || s->rep.seq != b->seq ||
	    s->rep.count != b->count)
		return xfer_abort(s->c, PR_PROTOCOL, st, KC_XFER, "protocol error: malformed PLAN");
	for (i = 0; i < b->count; i++) {
		start[i] = s->rep.offset[i];
		if (start[i] != 0 && start[i] != s->r[slot][i].offset)
			return xfer_abort(s->c, PR_PROTOCOL, st, KC_XFER,
					  "protocol error: PLAN starts a body where no partial was offered");
	}
	return 0;
}

/* What is left of --max-size for a stream's body (UINT64_MAX: no limit). */
static uint64_t stream_limit(const struct rstate *s)
{
	if (s->max_bytes == 0)
		return UINT64_MAX;
	return s->max_bytes > s->accepted_bytes ? s->max_bytes - s->accepted_bytes : 0;
}

/* A stream passed --max-size (body_recv_chunks returned 1): the rest of it
 * is not read, so the transfer ends here.  -1 with st. */
static int stream_over(struct rstate *s, const struct proto_entry *e, struct kc_status *st)
{
	char text[PROTO_ERRTEXT_MAX], en[ESC_MAX];

	snprintf(text, sizeof(text), "%s: the stream exceeds --max-size (%llu bytes); transfer refused",
		 esc(e->path, en), (unsigned long long)s->max_bytes);
	return xfer_abort(s->c, PR_TOOBIG, st, KC_XFER, text);
}

/* --stdout: the body goes to standard output, in order.  A write error
 * there ends the transfer (KC_FILE).  0 or -1 with st. */
static int recv_body_stdout(struct rstate *s, const struct proto_entry *e, struct rent *re,
			  struct kc_status *st)
{
	int werr = 0, rc;

	if (chan_progress(s->c))
		progress_file(chan_progress(s->c), e->path, e->size);
	if (e->kind == PROTO_KIND_STREAM)
		rc = body_recv_chunks(s->c, STDOUT_FILENO, stream_limit(s), &re->got, &werr, st);
	else
		rc = body_recv_file(s->c, STDOUT_FILENO, e->size, &werr, st);
	end_rx_hash(s->c, re, rc);
	if (rc == 1)
		return stream_over(s, e, st);
	if (e->kind == PROTO_KIND_STREAM)
		s->accepted_bytes = proto_size_add(s->accepted_bytes, re->got);
	if (rc < 0) {
		xfer_cut_in(st, e->path, NULL);
		return -1;
	}
	if (chan_progress(s->c))
		progress_file_done(chan_progress(s->c));
	if (e->kind == PROTO_KIND_FILE)
		re->got = e->size;
	if (werr) {
		char text[PROTO_ERRTEXT_MAX], en[ESC_MAX];

		snprintf(text, sizeof(text), "writing %s to standard output: %s", esc(e->path, en),
			 strerror(werr));
		xfer_abort(s->c, PR_IO, st, KC_FILE, text);
		return -1;
	}
	re->written = true;
	return 0;
}

/* The body, from byte start, into the store.  A local failure fails this
 * entry only (its body is still read off the connection), except a full
 * disk, which ends the transfer.  0 or -1 with st. */
static int recv_body_store(struct rstate *s, const struct proto_entry *e, struct rent *re,
			 uint64_t start, struct kc_status *st)
{
	char en[ESC_MAX];
	int werr, rc;

	werr = -store_open(s->store, e, start, &re->mark, chan_rx_hash(s->c), &re->f);
	if (chan_progress(s->c))
		progress_file(chan_progress(s->c), e->path, e->size - start);
	if (e->kind == PROTO_KIND_STREAM)
		rc = body_recv_chunks(s->c, re->f.fd, stream_limit(s), &re->got, &werr, st);
	else
		rc = body_recv_file(s->c, re->f.fd, e->size - start, &werr, st);
	end_rx_hash(s->c, re, rc);
	if (rc == 1) {
		/* Not more than --max-size was written; the temporary file
		 * goes. */
		store_close(s->store, e, &re->f, EFBIG);
		return stream_over(s, e, st);
	}
	re->got = e->kind == PROTO_KIND_STREAM ? re->got : e->size;
	if (rc == 0 && e->kind == PROTO_KIND_STREAM)
		s->accepted_bytes = proto_size_add(s->accepted_bytes, re->got);
	if (rc < 0) {
		bool kept = store_cut(&re->f);

		xfer_cut_in(st, e->path, kept ? "; its partial is kept for --resume" : NULL);
		return -1;
	}
	if (chan_progress(s->c))
		progress_file_done(chan_progress(s->c));
	werr = -store_close(s->store, e, &re->f, werr);
	if (werr) {
		/* Something not ours in the way (EEXIST) is refused, not "already
		 * there". */
		re->reason = werr == EEXIST ? PR_PERM : proto_reason_from_errno(werr);
		note(e, re, "%s", store_strerror(werr));
		if (werr == ENOSPC || werr == EDQUOT) {
			char text[PROTO_ERRTEXT_MAX];

			snprintf(text, sizeof(text), "%s: no space left on the receiver", esc(e->path, en));
			xfer_abort(s->c, PR_NOSPACE, st, KC_FILE, text);
			return -1;
		}
	}
	return 0;
}

/* PLAN (--resume) and the bodies of the batch in slot, in manifest order. */
static int recv_bodies(struct rstate *s, int slot, struct kc_status *st)
{
	struct proto_batch *b = s->b[slot];
	struct rent *r = s->r[slot];
	uint64_t start[PROTO_BATCH_MAX] = { 0 };
	unsigned i;

	if ((s->opts & PROTO_OPT_RESUME) && read_plan(s, slot, start, st) < 0)
		return -1;
	if (s->store)
		store_batch_begin(s->store, b);
	for (i = 0; i < b->count; i++) {
		const struct proto_entry *e = &b->e[i];

		r[i].start = start[i];
		if (e->kind == PROTO_KIND_DIR || PROTO_KIND_IS_LINK(e->kind) || r[i].action != PROTO_ACCEPT)
			continue;
		if ((s->opts & PROTO_OPT_VERIFY) && chan_rx_hash_start(s->c) < 0)
			return kc_fail(st, KC_OTHER, "out of memory");
		if ((s->to_stdout ? recv_body_stdout(s, e, &r[i], st)
				  : recv_body_store(s, e, &r[i], start[i], st)) < 0)
			return -1;
	}
	return 0;
}

/* What becomes of one accepted entry once the sender said whether it
 * stands behind the body (sender_ok) and, with --verify, sent its hash:
 * commit it, or discard it with a reason.  0, or -1 with st when SUMS
 * lacks a hash it owes. */
static int settle(struct rstate *s, const struct proto_entry *e, struct rent *re, bool sender_ok,
		  unsigned i, struct kc_status *st)
{
	int rc;

	if (e->kind == PROTO_KIND_DIR) {
		re->ok = true;
		return 0;
	}
	if (PROTO_KIND_IS_LINK(e->kind)) {
		/* Made now, in manifest order, so that a hard link's file is
		 * in place (committed earlier in this batch or before). */
		rc = sender_ok ? store_link(s->store, e) : -EIO;
		if (rc < 0) {
			re->reason = sender_ok ? proto_reason_from_errno(-rc) : PR_SOURCE;
			note(e, re, "cannot create %s link: %s", e->kind == PROTO_KIND_SYMLINK ? "symbolic" : "hard",
			     store_strerror(-rc));
			return 0;
		}
		re->ok = true;
		return 0;
	}
	/* --verify: before anything gets its final name, the body must
	 * hash to what the sender read from its file. */
	if ((s->opts & PROTO_OPT_VERIFY) && sender_ok && (re->written || re->f.pending)) {
		if (s->sums.hashlen[i] != PROTO_HASH_LEN || !re->summed)
			return xfer_abort(s->c, PR_PROTOCOL, st, KC_XFER,
					  "protocol error: SUMS lacks the hash of a file sent whole");
		if (memcmp(re->sum, s->sums.hash[i], PROTO_HASH_LEN) != 0) {
			note(e, re, "SHA-256 of the received bytes differs from the sender's file; %s",
			     re->written ? "what went to standard output is wrong" : "not stored");
			store_discard(&re->f);
			re->reason = PR_MISMATCH;
			return 0;
		}
		re->verified = true;
	}
	if (re->written) {
		/* --stdout: already out; a sender-side failure cannot be
		 * taken back, only reported. */
		re->ok = sender_ok;
		re->reason = re->ok ? PR_OK : PR_SOURCE;
		return 0;
	}
	if (!re->f.pending)
		return 0;
	if (!sender_ok) {
		store_discard(&re->f);
		re->reason = PR_SOURCE;
		return 0;
	}
	rc = store_commit(s->store, e, &re->f);
	if (rc < 0) {
		re->reason = proto_reason_from_errno(-rc);
		note(e, re, "%s", rc == -ESTALE ? store_strerror(rc) : strerror(-rc));
		return 0;
	}
	re->ok = true;
	return 0;
}

/* The log line of entry e (oplog.h), once its batch is settled: ok (a
 * directory only when it failed), skipped or failed with its reason. */
static void log_entry(const struct proto_entry *e, const struct rent *re)
{
	static const char *const kinds[] = {
		[PROTO_KIND_FILE] = "file", [PROTO_KIND_DIR] = "directory", [PROTO_KIND_STREAM] = "stream",
		[PROTO_KIND_SYMLINK] = "symlink", [PROTO_KIND_HARDLINK] = "hardlink",
	};
	const char *kind = e->kind < sizeof(kinds) / sizeof(kinds[0]) && kinds[e->kind] ? kinds[e->kind] : "entry";
	const char *why = re->why[0] ? re->why : proto_reason_str(re->reason ? re->reason : PR_OTHER);

	if (re->ok && e->kind == PROTO_KIND_DIR)
		return;
	if (re->ok)
		oplog_entry(kind, e->path, re->got, re->start, OPLOG_OK, NULL);
	else
		oplog_entry(kind, e->path, e->kind == PROTO_KIND_STREAM ? re->got : e->size, 0,
			    re->action == PROTO_SKIP ? OPLOG_SKIPPED : OPLOG_FAILED, why);
}

/* Entry e's outcome, for the progress lines and events (report.h): a file
 * durable, or an entry not stored (its cause was printed when it failed).
 * Skipped entries were told when decided. */
static void entry_outcome(const struct proto_entry *e, const struct rent *r, uint8_t reason)
{
	if (r->ok && e->kind != PROTO_KIND_DIR)
		report_entry_done(e->path, REPORT_OK, r->got, NULL);
	else if (!r->ok && r->action != PROTO_SKIP)
		report_entry_done(e->path, REPORT_FAILED, 0, proto_reason_str(reason));
}

/* DONE for the batch in slot: each entry durable or not (sync_rc < 0: the
 * directories could not be synced, so no file is), counted in the stats. */
static int answer_done(struct rstate *s, int slot, int sync_rc, struct kc_status *st)
{
	struct proto_batch *b = s->b[slot];
	struct rent *r = s->r[slot];
	unsigned i;

	s->rep.seq = b->seq;
	s->rep.count = b->count;
	for (i = 0; i < b->count; i++) {
		if (sync_rc < 0 && b->e[i].kind != PROTO_KIND_DIR)
			r[i].ok = false, r[i].reason = proto_reason_from_errno(sync_rc);
		s->rep.action[i] = r[i].ok ? 0 : 1;
		s->rep.reason[i] = r[i].ok ? PR_OK : (r[i].reason ? r[i].reason : PR_OTHER);
		s->rep.offset[i] = 0;
		entry_outcome(&b->e[i], &r[i], s->rep.reason[i]);
		if (r[i].ok && b->e[i].kind != PROTO_KIND_DIR) {
			s->stats->files++;
			s->stats->bytes = proto_size_add(s->stats->bytes, r[i].got);
			s->stats->verified += r[i].verified;
		} else if (r[i].ok) {
			s->stats->dirs++;
		} else if (r[i].action == PROTO_SKIP) {
			s->stats->skipped++;
		} else {
			s->stats->failed++;
		}
		if (oplog_on())
			log_entry(&b->e[i], &r[i]);
	}
	s->pb.len = 0;
	if (proto_reply_encode(&s->pb, PROTO_DONE, &s->rep) < 0)
		return kc_fail(st, KC_OTHER, "cannot encode DONE");
	return chan_write(s->c, s->pb.p, s->pb.len, false, st);
}

/* Read SUMS (--verify) and BATCH_END of the batch in slot, settle each
 * entry, make the batch durable and answer DONE. */
static int finish_batch(struct rstate *s, int slot, struct kc_status *st)
{
	struct proto_batch *b = s->b[slot];
	struct rent *r = s->r[slot];
	struct proto_reply *end = &s->rep;
	const uint8_t *p;
	uint32_t len;
	unsigned i;
	int rc;

	if (s->opts & PROTO_OPT_VERIFY) {
		if (xfer_expect(s->c, PROTO_SUMS, &p, &len, st) < 0)
			return -1;
		if (proto_reply_decode(PROTO_SUMS, p, len, &s->sums) < 0 || s->sums.seq != b->seq ||
		    s->sums.count != b->count)
			return xfer_abort(s->c, PR_PROTOCOL, st, KC_XFER, "protocol error: malformed SUMS");
	}
	if (xfer_expect(s->c, PROTO_BATCH_END, &p, &len, st) < 0)
		return -1;
	if (proto_reply_decode(PROTO_BATCH_END, p, len, end) < 0 || end->seq != b->seq ||
	    end->count != b->count)
		return xfer_abort(s->c, PR_PROTOCOL, st, KC_XFER, "protocol error: malformed BATCH_END");
	for (i = 0; i < b->count; i++)
		if (r[i].action == PROTO_ACCEPT && settle(s, &b->e[i], &r[i], end->action[i] == 0, i, st) < 0)
			return -1;
	for (i = 0; i < b->count; i++)
		if (b->e[i].kind == PROTO_KIND_FILE && r[i].action == PROTO_ACCEPT)
			s->reserved -= s->reserved >= b->e[i].size ? b->e[i].size : s->reserved;
	if (b->final && (s->opts & PROTO_OPT_PRESERVE) && s->store)
		store_dir_times(s->store);
	if (s->to_stdout) {
		rc = 0;
		if (fdatasync(STDOUT_FILENO) < 0 && errno != EINVAL && errno != EROFS)
			rc = -errno;
	} else {
		rc = store_sync(s->store, b);
	}
	if (s->store)
		store_batch_done(s->store);
	return answer_done(s, slot, rc, st);
}

int receiver_run(struct chan *c, const struct recv_opts *o, struct xfer_stats *stats,
		 struct kc_status *st)
{
	return receiver_run_only(c, o, NULL, NULL, stats, st);
}

int receiver_run_only(struct chan *c, const struct recv_opts *o, int (*path_ok)(void *arg, const char *path),
		      void *path_arg, struct xfer_stats *stats, struct kc_status *st)
{
	struct rstate *s = calloc(1, sizeof(*s));
	const uint8_t *p;
	uint32_t len, seq = 1, caps = 0;
	int cur = 0, rc = -1, wrote;
	double t0 = clock_now();

	if (s == NULL)
		return kc_fail(st, KC_OTHER, "out of memory");
	s->c = c;
	s->to_stdout = o->to_stdout;
	s->unsafe_links = o->unsafe_links;
	s->max_bytes = o->max_bytes;
	s->max_entries = o->max_entries;
	s->path_ok = path_ok;
	s->path_arg = path_arg;
	s->stats = stats;
	s->b[0] = malloc(sizeof(struct proto_batch));
	s->b[1] = malloc(sizeof(struct proto_batch));
	s->r[0] = calloc(PROTO_BATCH_MAX, sizeof(struct rent));
	s->r[1] = calloc(PROTO_BATCH_MAX, sizeof(struct rent));
	if (!s->b[0] || !s->b[1] || !s->r[0] || !s->r[1]) {
		kc_fail(st, KC_OTHER, "out of memory");
		goto out;
	}
	s->b[0]->count = s->b[1]->count = 0;
	if (xfer_expect(c, PROTO_HELLO, &p, &len, st) < 0 ||
	    xfer_hello_check(c, p, len, &s->opts, &caps, true, st) < 0)
		goto out;
	/* Until its first message the sender's user may be at its yes/no
	 * prompt about us: not transfer time (cli_finish deducts it). */
	stats->paused += clock_now() - t0;
	/* A sender whose send key can run out continues on follow-up
	 * connections, which we offer (chan.h). */
	caps = caps & PROTO_CAP_RECONNECT && chan_reconn_can_offer(c) ? PROTO_CAP_RECONNECT : 0;
	if (!s->to_stdout && (s->store = store_new(o->rootfd, s->opts)) == NULL) {
		kc_fail(st, KC_OTHER, "out of memory");
		goto out;
	}
	if (xfer_hello_encode(&s->pb, 0, caps) < 0)
		goto out;
	if (caps && chan_reconn_offer(c, &s->pb, st) < 0)
		goto out;
	wrote = chan_write(c, s->pb.p, s->pb.len, false, st);
	gnutls_memset(s->pb.p, 0, s->pb.len);	/* RECONNECT's secret is the channel's alone */
	if (wrote < 0)
		goto out;
	if (recv_manifest(s, cur, seq, st) < 0)
		goto out;
	for (;;) {
		if (!s->b[cur]->final && recv_manifest(s, 1 - cur, ++seq, st) < 0)
			goto out;
		if (recv_bodies(s, cur, st) < 0 || finish_batch(s, cur, st) < 0)
			goto out;
		if (s->b[cur]->final)
			break;
		cur = 1 - cur;
	}
	/* The last DONE is out: the sender's close_notify is the end now. */
	chan_reconn_end(c);
	chan_wait_close(c);
	if (stats->failed > 0) {
		kc_fail(st, KC_XFER, "%s: %u %s could not be stored (see above)", chan_peer(c), stats->failed,
			stats->failed == 1 ? "entry" : "entries");
		goto out;
	}
	rc = 0;
out:
	if (rc < 0) {
		cleanup_pending(s, 0);
		cleanup_pending(s, 1);
	}
	store_free(s->store);
	pbuf_free(&s->pb);
	free(s->b[0]);
	free(s->b[1]);
	free(s->r[0]);
	free(s->r[1]);
	free(s);
	return rc;
}
