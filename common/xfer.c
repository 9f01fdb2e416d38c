/* xfer: sender and receiver protocol engines (see xfer.h for the model and
 * ktlscp(1) WIRE PROTOCOL for the bytes). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "fsutil.h"
#include "proto.h"
#include "store.h"
#include "walk.h"
#include "xfer.h"

#define ESC_MAX 512

static const char *esc(const char *s, char *buf)
{
	return diag_escape(s, strlen(s), buf, ESC_MAX);
}

/* The connection failed in the middle of a body: name the file after the
 * cause (note is NULL or more words for the parenthesis).  A local read
 * error names its file already. */
static void cut_in(struct kc_status *st, const char *path, const char *note)
{
	size_t n = strlen(st->msg);
	char e[ESC_MAX];

	if (st->cls == KC_FILE)
		return;
	snprintf(st->msg + n, sizeof(st->msg) - n, " (cut off in %s%s)", esc(path, e),
		 note ? note : "");
}

/* Send ERROR to the peer (best effort) and record the failure locally. */
static int abort_with(struct chan *c, uint8_t reason, struct kc_status *st, enum kc_class cls,
		      const char *text)
{
	struct pbuf b = { 0 };
	struct kc_status ignore = { 0 };

	if (proto_error_encode(&b, reason, text) == 0)
		chan_write(c, b.p, b.len, false, &ignore);
	pbuf_free(&b);
	return kc_fail(st, cls, "%s: %s", c->peer, text);
}

/* Receive a message of the expected type.  ERROR from the peer and a clean
 * close become failures with the peer's words. */
static int expect_msg(struct chan *c, uint8_t want, const uint8_t **p, uint32_t *len,
		      struct kc_status *st)
{
	uint8_t type;
	int rc = chan_recv_msg(c, &type, p, len, st);

	if (rc < 0)
		return -1;
	if (rc == 1)
		return kc_fail(st, KC_XFER, "%s: peer closed the session early (expected %s)", c->peer,
			       proto_type_str(want));
	if (type == PROTO_ERROR) {
		char text[PROTO_ERRTEXT_MAX + 1], e[ESC_MAX];
		uint8_t reason;

		if (proto_error_decode(*p, *len, &reason, text, sizeof(text)) < 0)
			return kc_fail(st, KC_XFER, "%s: peer aborted with a malformed error", c->peer);
		return kc_fail(st, reason == PR_NOSPACE ? KC_XFER : KC_XFER, "%s: peer aborted: %s",
			       c->peer, esc(text, e));
	}
	if (type != want)
		return abort_with(c, PR_PROTOCOL, st, KC_XFER, "protocol error: unexpected message");
	return 0;
}

/* After a failed send, the receiver may have said why before closing. */
static void peer_reason(struct chan *c, struct kc_status *st)
{
	struct kc_status tmp = { 0 };
	const uint8_t *p;
	uint32_t len;
	uint8_t type;
	char text[PROTO_ERRTEXT_MAX + 1], e[ESC_MAX];
	uint8_t reason;

	if (st->cls != KC_NET)
		return;
	while (chan_recv_msg(c, &type, &p, &len, &tmp) == 0) {
		if (type != PROTO_ERROR)
			continue;
		if (proto_error_decode(p, len, &reason, text, sizeof(text)) == 0) {
			st->cls = KC_XFER;
			snprintf(st->msg, sizeof(st->msg), "%s: peer aborted: %s", c->peer,
				 esc(text, e));
		}
		return;
	}
}

static int send_hello(struct pbuf *b, uint32_t opts)
{
	struct proto_hello h = { PROTO_VERSION, PROTO_CAP_NONE, PROTO_BATCH_MAX, opts };

	return proto_hello_encode(b, &h);
}

/* Check the peer's HELLO; *opts gets the sender's requests.  Option bits
 * are requests from a sender: a receiver's HELLO may carry bits of a later
 * version, which a sender ignores. */
static int check_hello(struct chan *c, const uint8_t *p, uint32_t len, uint32_t *opts,
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
		return abort_with(c, PR_PROTOCOL, st, KC_XFER, text);
	}
	if (rc < 0)
		return abort_with(c, PR_PROTOCOL, st, KC_XFER,
				  "protocol error: the peer is not a ktlscp (bad HELLO)");
	if (h.version != PROTO_VERSION) {
		char text[128];

		snprintf(text, sizeof(text), "protocol version %u is not supported (this is %u)",
			 h.version, PROTO_VERSION);
		return abort_with(c, PR_PROTOCOL, st, KC_XFER, text);
	}
	*opts = h.opts;
	return 0;
}

/* ======================================================================= */
/* Sender                                                                  */
/* ======================================================================= */

struct sent {
	int fd;
	uint8_t kind;
	uint64_t size;
	struct timespec mtime, ctime;	/* as announced, to notice changes */
	char *path;
	uint8_t action, reason;
	uint64_t offset;
	uint8_t status;		/* BATCH_END: 0 ok, 1 failed here */
	uint64_t sent;		/* body bytes sent (streams: known only afterwards) */
	uint8_t hashlen, hash[PROTO_HASH_LEN];	/* --resume: the receiver's prefix */
	bool summed;				/* --verify: sum holds the whole file's */
	uint8_t sum[PROTO_HASH_LEN];
};

struct sbatch {
	uint32_t seq;
	bool final;
	unsigned n;
	struct sent e[PROTO_BATCH_MAX];
};

static void sbatch_release(struct sbatch *b)
{
	unsigned i;

	for (i = 0; i < b->n; i++) {
		if (b->e[i].fd > STDIN_FILENO)
			close(b->e[i].fd);
		free(b->e[i].path);
	}
	b->n = 0;
}

/* Fill b from the walker and encode it into pb (appended). */
static int build_batch(struct walk *w, struct sbatch *b, uint32_t seq, struct pbuf *pb,
		       struct kc_status *st)
{
	const struct walk_entry *we;
	size_t mark;
	int rc;

	b->seq = seq;
	b->n = 0;
	b->final = false;
	if (proto_batch_begin(pb, seq, &mark) < 0)
		return kc_fail(st, KC_OTHER, "out of memory");
	while (b->n < PROTO_BATCH_MAX) {
		struct proto_entry pe;
		struct sent *se;

		we = walk_peek(w);
		if (we == NULL) {
			b->final = true;
			break;
		}
		pe.kind = we->kind;
		pe.mode = we->mode;
		pe.size = we->size;
		pe.mtime = we->mtime;
		pe.mtime_ns = we->mtime_ns;
		pe.atime = we->atime;
		pe.atime_ns = we->atime_ns;
		pe.path = we->path;
		pe.path_len = (uint16_t)strlen(we->path);
		rc = proto_batch_add(pb, mark, &b->n, &pe);
		if (rc == -ENOSPC)
			break;
		if (rc < 0)
			return kc_fail(st, KC_OTHER, "out of memory");
		se = &b->e[b->n - 1];
		memset(se, 0, sizeof(*se));
		se->fd = we->fd;
		se->kind = we->kind;
		se->size = we->size;
		se->mtime.tv_sec = we->mtime;
		se->mtime.tv_nsec = we->mtime_ns;
		se->ctime = we->ctime;
		se->path = strdup(we->path);
		walk_take(w);
		if (se->path == NULL)
			return kc_fail(st, KC_OTHER, "out of memory");
	}
	if (!b->final && walk_peek(w) == NULL)
		b->final = true;
	if (proto_batch_finish(pb, mark, b->n, b->final) < 0)
		return kc_fail(st, KC_OTHER, "cannot encode the manifest");
	return 0;
}

static void note_failure(struct xfer_stats *stats, enum kc_class *worst, enum kc_class cls)
{
	stats->failed++;
	if (*worst == KC_OK || (*worst == KC_FILE && cls == KC_XFER))
		*worst = cls;
}

static int apply_ack(struct chan *c, struct sbatch *b, struct proto_reply *r, uint32_t opts,
		     struct xfer_stats *stats, enum kc_class *worst, struct kc_status *st)
{
	const uint8_t *p;
	uint32_t len;
	unsigned i;

	if (expect_msg(c, PROTO_ACK, &p, &len, st) < 0)
		return -1;
	if (proto_reply_decode(PROTO_ACK, p, len, r) < 0 || r->seq != b->seq || r->count != b->n)
		return abort_with(c, PR_PROTOCOL, st, KC_XFER, "protocol error: malformed ACK");
	for (i = 0; i < b->n; i++) {
		struct sent *e = &b->e[i];
		char en[ESC_MAX];

		e->action = r->action[i];
		e->reason = r->reason[i];
		e->offset = r->offset[i];
		e->hashlen = r->hashlen[i];
		memcpy(e->hash, r->hash[i], sizeof(e->hash));
		if (e->action == PROTO_ACCEPT && e->offset != 0 &&
		    (!(opts & PROTO_OPT_RESUME) || e->kind != PROTO_KIND_FILE || e->offset > e->size))
			return abort_with(c, PR_PROTOCOL, st, KC_XFER,
					  "protocol error: a resume offset the sender did not ask for");
		/* A skip keeps the receiver's copy instead of ours: only -n
		 * and --update ask for that, else it would pass for success. */
		if (e->action == PROTO_SKIP && !(opts & (PROTO_OPT_NOCLOBBER | PROTO_OPT_UPDATE)))
			return abort_with(c, PR_PROTOCOL, st, KC_XFER,
					  "protocol error: a skip the sender did not ask for");
		if (e->action == PROTO_REJECT) {
			diag_print("%s: rejected by the receiver: %s", esc(e->path, en),
				   proto_reason_str(e->reason));
			note_failure(stats, worst, KC_XFER);
		} else if (e->action == PROTO_SKIP) {
			stats->skipped++;
			diag_debug("%s: skipped by the receiver: %s", esc(e->path, en),
				   e->reason == PR_EXISTS ? "it exists there" : "its copy is not older");
		}
	}
	return 0;
}

static int apply_done(struct chan *c, struct sbatch *b, struct proto_reply *r, bool verify,
		      struct xfer_stats *stats, enum kc_class *worst, struct kc_status *st)
{
	const uint8_t *p;
	uint32_t len;
	unsigned i;

	if (expect_msg(c, PROTO_DONE, &p, &len, st) < 0)
		return -1;
	if (proto_reply_decode(PROTO_DONE, p, len, r) < 0 || r->seq != b->seq || r->count != b->n)
		return abort_with(c, PR_PROTOCOL, st, KC_XFER, "protocol error: malformed DONE");
	for (i = 0; i < b->n; i++) {
		struct sent *e = &b->e[i];
		char en[ESC_MAX];

		if (e->action != PROTO_ACCEPT || e->status != 0)
			continue;	/* already reported */
		if (r->action[i] == 0) {
			if (e->kind != PROTO_KIND_DIR) {
				stats->files++;
				stats->bytes += e->sent;
				stats->verified += verify;
			} else {
				stats->dirs++;
			}
			continue;
		}
		diag_print("%s: not stored by the receiver: %s", esc(e->path, en),
			   proto_reason_str(r->reason[i]));
		note_failure(stats, worst, KC_XFER);
	}
	return 0;
}

/* Did the file change since it was announced?  (Its bytes may then be a mix
 * of old and new: the receiver must not keep them.) */
static bool source_changed(const struct sent *e)
{
	struct stat sb;

	if (fstat(e->fd, &sb) < 0)
		return true;
	return (uint64_t)sb.st_size != e->size || sb.st_mtim.tv_sec != e->mtime.tv_sec ||
	       sb.st_mtim.tv_nsec != e->mtime.tv_nsec || sb.st_ctim.tv_sec != e->ctime.tv_sec ||
	       sb.st_ctim.tv_nsec != e->ctime.tv_nsec;
}

/* --resume: keep the receiver's prefix only if it is ours, byte for byte;
 * tell the receiver where each body starts (PLAN). */
static int send_plan(struct chan *c, struct sbatch *b, struct pbuf *pb, struct proto_reply *r,
		     struct xfer_stats *stats, struct kc_status *st)
{
	unsigned i;

	memset(r, 0, sizeof(*r));
	r->seq = b->seq;
	r->count = b->n;
	for (i = 0; i < b->n; i++) {
		struct sent *e = &b->e[i];
		uint8_t mine[PROTO_HASH_LEN];
		char en[ESC_MAX];

		if (e->action != PROTO_ACCEPT || e->offset == 0)
			continue;
		if (fsu_hash_prefix(e->fd, e->offset, mine) == 0 && memcmp(mine, e->hash, PROTO_HASH_LEN) == 0) {
			stats->resumed += e->offset;
			diag_debug("%s: resuming at byte %llu", esc(e->path, en),
				   (unsigned long long)e->offset);
		} else {
			diag_print("%s: the receiver's partial copy differs from this file; sending it whole",
				   esc(e->path, en));
			e->offset = 0;
		}
		r->offset[i] = e->offset;
	}
	pb->len = 0;
	if (proto_reply_encode(pb, PROTO_PLAN, r) < 0)
		return kc_fail(st, KC_OTHER, "cannot encode PLAN");
	return chan_write(c, pb->p, pb->len, true, st);
}

/* --verify: the whole file's SHA-256 (a resumed prefix too), read by
 * pread() one step ahead of sending that step: sendfile() never passes the
 * bytes through this process, the hash warms the page cache it then sends
 * from, and a long file never leaves the receiver waiting for the hash.
 * As chan_send_file(); e->summed tells whether e->sum is the file's. */
#define VERIFY_STEP (8u << 20)

static int send_file_verified(struct chan *c, struct sent *e, bool *short_file, int *rerr,
			      struct kc_status *st)
{
	gnutls_hash_hd_t h;
	uint64_t pos = e->offset;
	int hr;

	*short_file = false;
	*rerr = 0;
	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
		return kc_fail(st, KC_OTHER, "out of memory");
	hr = fsu_hash_range(e->fd, 0, e->offset, h);
	while (pos < e->size && hr == 0 && !*short_file) {
		uint64_t step = e->size - pos > VERIFY_STEP ? VERIFY_STEP : e->size - pos;

		hr = fsu_hash_range(e->fd, pos, step, h);
		if (hr < 0)
			break;
		if (chan_send_file(c, e->fd, pos, step, short_file, rerr, st) < 0) {
			gnutls_hash_deinit(h, NULL);
			return -1;
		}
		pos += step;
	}
	gnutls_hash_deinit(h, e->sum);
	e->summed = hr == 0 && !*short_file;
	if (pos < e->size) {
		/* The rest of the body (chan_send_file pads what it cannot
		 * read); the receiver discards it. */
		bool sf;
		int re;

		if (chan_send_file(c, e->fd, pos, e->size - pos, &sf, &re, st) < 0)
			return -1;
		if (!*short_file) {
			*short_file = true;
			*rerr = hr == -EIO ? 0 : -hr;
		}
	}
	return 0;
}

/* --verify: SUMS, the SHA-256 of every body the sender stands behind. */
static int send_sums(struct chan *c, struct sbatch *b, struct pbuf *pb, struct proto_reply *r,
		     struct kc_status *st)
{
	unsigned i;

	memset(r, 0, sizeof(*r));
	r->seq = b->seq;
	r->count = b->n;
	for (i = 0; i < b->n; i++) {
		if (b->e[i].action != PROTO_ACCEPT || b->e[i].status != 0 || !b->e[i].summed)
			continue;
		r->hashlen[i] = PROTO_HASH_LEN;
		memcpy(r->hash[i], b->e[i].sum, PROTO_HASH_LEN);
	}
	pb->len = 0;
	if (proto_reply_encode(pb, PROTO_SUMS, r) < 0)
		return kc_fail(st, KC_OTHER, "cannot encode SUMS");
	return chan_write(c, pb->p, pb->len, true, st);
}

static int send_bodies(struct chan *c, struct sbatch *b, struct pbuf *pb, uint32_t opts,
		       struct xfer_stats *stats, enum kc_class *worst, struct kc_status *st)
{
	bool resume = opts & PROTO_OPT_RESUME, verify = opts & PROTO_OPT_VERIFY;
	struct proto_reply *r = calloc(1, sizeof(*r));
	unsigned i;
	int rc = -1;

	if (r == NULL)
		return kc_fail(st, KC_OTHER, "out of memory");
	if (resume && send_plan(c, b, pb, r, stats, st) < 0)
		goto out;
	memset(r, 0, sizeof(*r));
	for (i = 0; i < b->n; i++) {
		struct sent *e = &b->e[i];
		bool short_file;
		int rerr;
		char en[ESC_MAX];

		r->action[i] = 0;
		r->reason[i] = PR_OK;
		if (e->kind == PROTO_KIND_STREAM && e->action == PROTO_ACCEPT) {
			gnutls_hash_hd_t h = NULL;
			int sr;

			if (c->prog)
				progress_file(c->prog, e->path, 0);
			if (verify && gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0) {
				kc_fail(st, KC_OTHER, "out of memory");
				goto out;
			}
			c->tx_hash = h;
			sr = chan_send_chunks(c, e->fd, &e->sent, st);
			c->tx_hash = NULL;
			if (h)
				gnutls_hash_deinit(h, sr == 0 ? e->sum : NULL);
			e->summed = h && sr == 0;
			if (sr < 0) {
				cut_in(st, e->path, NULL);
				goto out;
			}
			if (c->prog)
				progress_file_done(c->prog);
			e->fd = -1;
			continue;
		}
		if (e->kind != PROTO_KIND_FILE || e->action != PROTO_ACCEPT)
			continue;
		e->sent = e->size - e->offset;
		if (c->prog)
			progress_file(c->prog, e->path, e->size - e->offset);
		if ((verify ? send_file_verified(c, e, &short_file, &rerr, st)
			    : chan_send_file(c, e->fd, e->offset, e->size - e->offset, &short_file, &rerr, st)) < 0) {
			cut_in(st, e->path, NULL);
			goto out;
		}
		if (c->prog)
			progress_file_done(c->prog);
		if (!short_file && source_changed(e)) {
			diag_print("%s: changed while being sent (size, mtime or ctime); not stored, send it again",
				   esc(e->path, en));
			short_file = true;
		} else if (short_file && rerr) {
			diag_print("%s: read error while sending: %s", esc(e->path, en), strerror(rerr));
		} else if (short_file) {
			diag_print("%s: file shrank while being sent; not stored", esc(e->path, en));
		}
		if (short_file) {
			e->status = 1;
			r->action[i] = 1;
			r->reason[i] = PR_SOURCE;
			note_failure(stats, worst, rerr ? KC_FILE : KC_XFER);
		}
		if (e->fd > STDIN_FILENO)
			close(e->fd);
		e->fd = -1;
	}
	if (verify) {
		struct proto_reply *sums = calloc(1, sizeof(*sums));

		int sr = sums ? send_sums(c, b, pb, sums, st) : kc_fail(st, KC_OTHER, "out of memory");

		free(sums);
		if (sr < 0)
			goto out;
	}
	r->seq = b->seq;
	r->count = b->n;
	pb->len = 0;
	if (proto_reply_encode(pb, PROTO_BATCH_END, r) < 0) {
		kc_fail(st, KC_OTHER, "cannot encode BATCH_END");
		goto out;
	}
	rc = chan_write(c, pb->p, pb->len, false, st);
out:
	free(r);
	return rc;
}

int xfer_send(struct chan *c, const struct send_opts *o, struct xfer_stats *stats,
	      struct kc_status *st)
{
	struct walk *w = walk_new(o->paths, o->npaths, o->recursive,
				  o->stdin_name ? o->stdin_name : "stdin", o->target);
	struct sbatch *bs[2] = { calloc(1, sizeof(struct sbatch)), calloc(1, sizeof(struct sbatch)) };
	struct proto_reply *r = calloc(1, sizeof(*r));
	struct sbatch *cur, *prev = NULL, *next;
	struct pbuf pb = { 0 };
	enum kc_class worst = KC_OK, local_class;
	unsigned local_errors;
	const uint8_t *p;
	uint32_t len, peer_opts;
	bool verify = o->opts & PROTO_OPT_VERIFY;
	int rc = -1;

	if (w == NULL || bs[0] == NULL || bs[1] == NULL || r == NULL) {
		kc_fail(st, KC_OTHER, "out of memory");
		goto out;
	}
	cur = bs[0];
	if (send_hello(&pb, o->opts) < 0 || build_batch(w, cur, 1, &pb, st) < 0)
		goto out;
	if (chan_write(c, pb.p, pb.len, false, st) < 0)
		goto out_net;
	if (expect_msg(c, PROTO_HELLO, &p, &len, st) < 0 || check_hello(c, p, len, &peer_opts, false, st) < 0) {
		/* A receiver from before --verify refuses its option bit. */
		if (verify && strstr(st->msg, "bad HELLO"))
			snprintf(st->msg + strlen(st->msg), sizeof(st->msg) - strlen(st->msg),
				 " (a receiver older than --verify refuses it: upgrade it or send without --verify)");
		goto out;
	}
	if (apply_ack(c, cur, r, o->opts, stats, &worst, st) < 0)
		goto out;
	for (;;) {
		next = NULL;
		if (!cur->final) {
			if (prev) {
				if (apply_done(c, prev, r, verify, stats, &worst, st) < 0)
					goto out;
				sbatch_release(prev);
			}
			next = prev ? prev : bs[1];
			pb.len = 0;
			if (build_batch(w, next, cur->seq + 1, &pb, st) < 0)
				goto out;
			if (chan_write(c, pb.p, pb.len, true, st) < 0)
				goto out_net;
		}
		if (send_bodies(c, cur, &pb, o->opts, stats, &worst, st) < 0)
			goto out_net;
		if (next && apply_ack(c, next, r, o->opts, stats, &worst, st) < 0)
			goto out;
		if (cur->final)
			break;
		prev = cur;
		cur = next;
	}
	if (prev && apply_done(c, prev, r, verify, stats, &worst, st) < 0)
		goto out;
	if (apply_done(c, cur, r, verify, stats, &worst, st) < 0)
		goto out;
	chan_close_notify(c);
	local_errors = o->prefailed + walk_errors(w, &local_class);
	if (o->prefailed)
		local_class = KC_FILE;
	if (local_errors > 0 && (worst == KC_OK || worst == KC_FILE || worst == KC_USAGE)) {
		stats->failed += local_errors;
		worst = local_class == KC_USAGE ? KC_FILE : local_class;
	}
	if (worst != KC_OK) {
		kc_fail(st, worst, "%s: %u %s not transferred (see above)", c->peer, stats->failed,
			stats->failed == 1 ? "entry was" : "entries were");
		goto out;
	}
	rc = 0;
	goto out;
out_net:
	peer_reason(c, st);
out:
	walk_free(w);
	if (bs[0])
		sbatch_release(bs[0]);
	if (bs[1])
		sbatch_release(bs[1]);
	free(bs[0]);
	free(bs[1]);
	free(r);
	pbuf_free(&pb);
	return rc;
}

/* ======================================================================= */
/* Receiver                                                                */
/* ======================================================================= */

struct rent {
	uint64_t offset;	/* --resume: the partial's length we offered */
	uint8_t action, reason;
	bool written;		/* --stdout: the body went out */
	bool ok;
	uint64_t got;		/* body bytes received */
	bool summed, verified;	/* --verify: sum is the body's SHA-256; it matched */
	uint8_t sum[PROTO_HASH_LEN];
	struct store_file f;	/* where the body went (not with --stdout) */
};

struct rstate {
	struct chan *c;
	struct store *store;		/* NULL with --stdout */
	uint32_t opts;			/* the sender's PROTO_OPT_* */
	bool to_stdout;
	uint64_t max_bytes, max_entries;
	uint64_t accepted_bytes, entries;	/* so far, against the limits */
	uint64_t avail;			/* free bytes estimated for the batch being answered */
	uint64_t reserved;		/* accepted file bytes not yet written */
	struct proto_batch *b[2];
	struct rent *r[2];
	struct pbuf pb;
	struct proto_reply rep;
	struct proto_reply sums;	/* --verify: the sender's SUMS */
	struct xfer_stats *stats;
};

static void cleanup_pending(struct rstate *s, int which)
{
	unsigned i;

	if (s->b[which] == NULL || s->r[which] == NULL)
		return;
	for (i = 0; i < s->b[which]->count; i++)
		store_abort(&s->r[which][i].f);
}

/* Read and answer one BATCH into slot. */
static int recv_manifest(struct rstate *s, int slot, uint32_t seq, struct kc_status *st)
{
	struct chan *c = s->c;
	struct proto_batch *b = s->b[slot];
	struct rent *r = s->r[slot];
	const uint8_t *p;
	uint32_t len;
	unsigned i;
	int rc;

	if (expect_msg(c, PROTO_BATCH, &p, &len, st) < 0)
		return -1;
	rc = proto_batch_decode(p, len, b);
	if (rc == -ENAMETOOLONG)
		return abort_with(c, PR_BADPATH, st, KC_XFER,
				  "protocol error: the manifest has a path over the length limit; transfer refused");
	if (rc < 0 || b->seq != seq)
		return abort_with(c, PR_PROTOCOL, st, KC_XFER, "protocol error: malformed manifest batch");
	s->entries += b->count;
	if (s->max_entries && s->entries > s->max_entries) {
		char text[PROTO_ERRTEXT_MAX];

		snprintf(text, sizeof(text), "the manifest exceeds %llu entries; transfer refused",
			 (unsigned long long)s->max_entries);
		return abort_with(c, PR_LIMIT, st, KC_XFER, text);
	}
	/* Free space: what this batch would add must fit, with a margin. */
	if (!s->to_stdout) {
		uint64_t want = 0;

		for (i = 0; i < b->count; i++)
			want += b->e[i].kind == PROTO_KIND_FILE ? b->e[i].size : 0;
		s->avail = want > 0 ? store_room(s->store) : UINT64_MAX;
		/* The previous batch may still be on its way. */
		if (s->avail != UINT64_MAX)
			s->avail = s->avail > s->reserved ? s->avail - s->reserved : 0;
	}
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
			return abort_with(c, PR_BADPATH, st, KC_XFER, text);
		}
		r[i].action = PROTO_ACCEPT;
		if (s->to_stdout) {
			/* Bodies go to standard output in order; nothing is
			 * created here, directories included. */
		} else if (e->kind == PROTO_KIND_DIR) {
			int err = store_mkdir(s->store, e);

			if (err < 0) {
				char en[ESC_MAX];

				r[i].action = PROTO_REJECT;
				r[i].reason = proto_reason_from_errno(err);
				diag_print("%s: cannot create directory: %s", esc(e->path, en), strerror(-err));
			}
		} else if (s->opts & (PROTO_OPT_NOCLOBBER | PROTO_OPT_UPDATE)) {
			r[i].action = store_policy(s->store, e, &r[i].reason);
		}
		if (r[i].action == PROTO_ACCEPT && e->kind == PROTO_KIND_FILE) {
			char en[ESC_MAX];

			if (s->max_bytes && s->accepted_bytes + e->size > s->max_bytes) {
				r[i].action = PROTO_REJECT;
				r[i].reason = PR_TOOBIG;
				diag_print("%s: refused: over --max-size", esc(e->path, en));
			} else if (!s->to_stdout && e->size > s->avail) {
				r[i].action = PROTO_REJECT;
				r[i].reason = PR_NOSPACE;
				diag_print("%s: refused: %llu bytes do not fit in the free space", esc(e->path, en),
					   (unsigned long long)e->size);
			} else {
				s->accepted_bytes += e->size;
				s->reserved += e->size;
				if (s->avail != UINT64_MAX)
					s->avail -= e->size;
			}
		}
		s->rep.action[i] = r[i].action;
		s->rep.reason[i] = r[i].reason;
		s->rep.offset[i] = 0;
		s->rep.hashlen[i] = 0;
		if ((s->opts & PROTO_OPT_RESUME) && !s->to_stdout && e->kind == PROTO_KIND_FILE &&
		    r[i].action == PROTO_ACCEPT) {
			r[i].offset = store_offer(s->store, e, s->rep.hash[i]);
			s->rep.offset[i] = r[i].offset;
			s->rep.hashlen[i] = r[i].offset ? PROTO_HASH_LEN : 0;
		}
	}
	s->pb.len = 0;
	if (proto_reply_encode(&s->pb, PROTO_ACK, &s->rep) < 0)
		return kc_fail(st, KC_OTHER, "cannot encode ACK");
	return chan_write(c, s->pb.p, s->pb.len, false, st);
}

/* --verify: the body is in; its hash goes to re->sum. */
static void end_rx_hash(struct chan *c, struct rent *re, int rc)
{
	if (c->rx_hash == NULL)
		return;
	gnutls_hash_deinit(c->rx_hash, rc == 0 ? re->sum : NULL);
	c->rx_hash = NULL;
	re->summed = rc == 0;
}

static int recv_bodies(struct rstate *s, int slot, struct kc_status *st)
{
	struct proto_batch *b = s->b[slot];
	struct rent *r = s->r[slot];
	uint64_t start[PROTO_BATCH_MAX] = { 0 };
	unsigned i;

	if (s->opts & PROTO_OPT_RESUME) {
		const uint8_t *p;
		uint32_t len;

		if (expect_msg(s->c, PROTO_PLAN, &p, &len, st) < 0)
			return -1;
		if (proto_reply_decode(PROTO_PLAN, p, len, &s->rep) < 0 || s->rep.seq != b->seq ||
		    s->rep.count != b->count)
			return abort_with(s->c, PR_PROTOCOL, st, KC_XFER, "protocol error: malformed PLAN");
		for (i = 0; i < b->count; i++) {
			start[i] = s->rep.offset[i];
			if (start[i] != 0 && start[i] != r[i].offset)
				return abort_with(s->c, PR_PROTOCOL, st, KC_XFER,
						  "protocol error: PLAN starts a body where no partial was offered");
		}
	}

	for (i = 0; i < b->count; i++) {
		const struct proto_entry *e = &b->e[i];
		struct rent *re = &r[i];
		char en[ESC_MAX];
		int werr = 0, rc;

		if (e->kind == PROTO_KIND_DIR || re->action != PROTO_ACCEPT)
			continue;
		if ((s->opts & PROTO_OPT_VERIFY) && gnutls_hash_init(&s->c->rx_hash, GNUTLS_DIG_SHA256) < 0)
			return kc_fail(st, KC_OTHER, "out of memory");
		if (s->to_stdout) {
			if (s->c->prog)
				progress_file(s->c->prog, e->path, e->size);
			if (e->kind == PROTO_KIND_STREAM)
				rc = chan_recv_chunks(s->c, STDOUT_FILENO, &re->got, &werr, st);
			else
				rc = chan_recv_file(s->c, STDOUT_FILENO, e->size, &werr, st);
			end_rx_hash(s->c, re, rc);
			if (rc < 0) {
				cut_in(st, e->path, NULL);
				return -1;
			}
			if (s->c->prog)
				progress_file_done(s->c->prog);
			if (e->kind == PROTO_KIND_FILE)
				re->got = e->size;
			if (werr) {
				char text[PROTO_ERRTEXT_MAX];

				snprintf(text, sizeof(text), "writing %s to standard output: %s",
					 esc(e->path, en), strerror(werr));
				abort_with(s->c, PR_IO, st, KC_FILE, text);
				return -1;
			}
			re->written = true;
			continue;
		}
		werr = -store_open(s->store, e, start[i], s->c->rx_hash, &re->f);
		if (s->c->prog)
			progress_file(s->c->prog, e->path, e->size - start[i]);
		if (e->kind == PROTO_KIND_STREAM)
			rc = chan_recv_chunks(s->c, re->f.fd, &re->got, &werr, st);
		else
			rc = chan_recv_file(s->c, re->f.fd, e->size - start[i], &werr, st);
		end_rx_hash(s->c, re, rc);
		re->got = e->kind == PROTO_KIND_STREAM ? re->got : e->size;
		if (rc == 0 && e->kind == PROTO_KIND_STREAM && s->max_bytes) {
			s->accepted_bytes += re->got;
			if (s->accepted_bytes > s->max_bytes && werr == 0)
				werr = EFBIG;
		}
		if (rc < 0) {
			bool kept = store_cut(&re->f);

			cut_in(st, e->path, kept ? "; its partial is kept for --resume" : NULL);
			return -1;
		}
		if (s->c->prog)
			progress_file_done(s->c->prog);
		werr = -store_close(s->store, e, &re->f, werr);
		if (werr) {
			re->reason = proto_reason_from_errno(werr);
			diag_print("%s: %s", esc(e->path, en), strerror(werr));
			if (werr == ENOSPC || werr == EDQUOT) {
				char text[PROTO_ERRTEXT_MAX];

				snprintf(text, sizeof(text), "%s: no space left on the receiver", esc(e->path, en));
				abort_with(s->c, PR_NOSPACE, st, KC_FILE, text);
				return -1;
			}
		}
	}
	return 0;
}

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
		if (expect_msg(s->c, PROTO_SUMS, &p, &len, st) < 0)
			return -1;
		if (proto_reply_decode(PROTO_SUMS, p, len, &s->sums) < 0 || s->sums.seq != b->seq ||
		    s->sums.count != b->count)
			return abort_with(s->c, PR_PROTOCOL, st, KC_XFER, "protocol error: malformed SUMS");
	}
	if (expect_msg(s->c, PROTO_BATCH_END, &p, &len, st) < 0)
		return -1;
	if (proto_reply_decode(PROTO_BATCH_END, p, len, end) < 0 || end->seq != b->seq ||
	    end->count != b->count)
		return abort_with(s->c, PR_PROTOCOL, st, KC_XFER, "protocol error: malformed BATCH_END");
	for (i = 0; i < b->count; i++) {
		const struct proto_entry *e = &b->e[i];
		struct rent *re = &r[i];
		char en[ESC_MAX];

		if (re->action != PROTO_ACCEPT)
			continue;
		if (e->kind == PROTO_KIND_DIR) {
			re->ok = true;
			continue;
		}
		/* --verify: before anything gets its final name, the body must
		 * hash to what the sender read from its file. */
		if ((s->opts & PROTO_OPT_VERIFY) && end->action[i] == 0 && (re->written || re->f.pending)) {
			if (s->sums.hashlen[i] != PROTO_HASH_LEN || !re->summed)
				return abort_with(s->c, PR_PROTOCOL, st, KC_XFER,
						  "protocol error: SUMS lacks the hash of a file sent whole");
			if (memcmp(re->sum, s->sums.hash[i], PROTO_HASH_LEN) != 0) {
				diag_print("%s: SHA-256 of the received bytes differs from the sender's file; %s",
					   esc(e->path, en), re->written ? "what went to standard output is wrong"
									 : "not stored");
				store_discard(&re->f);
				re->reason = PR_MISMATCH;
				continue;
			}
			re->verified = true;
		}
		if (re->written) {
			/* --stdout: already out; a sender-side failure cannot be
			 * taken back, only reported. */
			re->ok = end->action[i] == 0;
			re->reason = re->ok ? PR_OK : PR_SOURCE;
			continue;
		}
		if (!re->f.pending)
			continue;
		if (end->action[i] != 0) {
			store_discard(&re->f);
			re->reason = PR_SOURCE;
			continue;
		}
		rc = store_commit(s->store, e, &re->f);
		if (rc < 0) {
			re->reason = proto_reason_from_errno(-rc);
			diag_print("%s: %s", esc(e->path, en), strerror(-rc));
			continue;
		}
		re->ok = true;
	}
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
	s->rep.seq = b->seq;
	s->rep.count = b->count;
	for (i = 0; i < b->count; i++) {
		if (rc < 0 && b->e[i].kind != PROTO_KIND_DIR)
			r[i].ok = false, r[i].reason = proto_reason_from_errno(rc);
		s->rep.action[i] = r[i].ok ? 0 : 1;
		s->rep.reason[i] = r[i].ok ? PR_OK : (r[i].reason ? r[i].reason : PR_OTHER);
		s->rep.offset[i] = 0;
		if (r[i].ok && b->e[i].kind != PROTO_KIND_DIR) {
			s->stats->files++;
			s->stats->bytes += r[i].got;
			s->stats->verified += r[i].verified;
		} else if (r[i].ok) {
			s->stats->dirs++;
		} else if (r[i].action == PROTO_SKIP) {
			s->stats->skipped++;
		} else {
			s->stats->failed++;
		}
	}
	s->pb.len = 0;
	if (proto_reply_encode(&s->pb, PROTO_DONE, &s->rep) < 0)
		return kc_fail(st, KC_OTHER, "cannot encode DONE");
	return chan_write(s->c, s->pb.p, s->pb.len, false, st);
}

int xfer_recv(struct chan *c, const struct recv_opts *o, struct xfer_stats *stats,
	      struct kc_status *st)
{
	struct rstate *s = calloc(1, sizeof(*s));
	const uint8_t *p;
	uint32_t len, seq = 1;
	int cur = 0, rc = -1;

	if (s == NULL)
		return kc_fail(st, KC_OTHER, "out of memory");
	s->c = c;
	s->to_stdout = o->to_stdout;
	s->max_bytes = o->max_bytes;
	s->max_entries = o->max_entries;
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
	if (expect_msg(c, PROTO_HELLO, &p, &len, st) < 0 || check_hello(c, p, len, &s->opts, true, st) < 0)
		goto out;
	if (!s->to_stdout && (s->store = store_new(o->rootfd, s->opts)) == NULL) {
		kc_fail(st, KC_OTHER, "out of memory");
		goto out;
	}
	if (send_hello(&s->pb, 0) < 0 || chan_write(c, s->pb.p, s->pb.len, false, st) < 0)
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
	chan_wait_close(c);
	if (stats->failed > 0) {
		kc_fail(st, KC_XFER, "%s: %u %s could not be stored (see above)", c->peer, stats->failed,
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

		rc = chan_send_file(c, fd, 0, (uint64_t)sb.st_size, &short_file, &rerr, st);
		if (rc == 0 && short_file)
			rc = kc_fail(st, rerr ? KC_FILE : KC_XFER, "%s: %s", path,
				     rerr ? strerror(rerr) : "file shrank while being sent");
		n = (uint64_t)sb.st_size;
	} else {
		rc = chan_send_stream(c, fd, &n, st);
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

		chan_recv_stream(c, outfd, &back, &ignore);
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
	int rc = chan_recv_stream(c, outfd, &n, st);

	stats->bytes = n;
	if (rc < 0)
		return -1;
	stats->files = 1;
	return 0;
}
