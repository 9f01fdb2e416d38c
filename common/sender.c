/* sender: the sending engine (see sender.h for the messages it speaks and
 * xfer.h for the connection model).
 *
 * Two batches are in hand at most: cur, whose bodies are being sent, and
 * the one before or after it, whose DONE or ACK is awaited.  Each entry of
 * a batch (struct sent) keeps the fd it is sent from and what was
 * announced, so that a file changed while being sent is not stood behind.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "body.h"
#include "fsutil.h"
#include "proto.h"
#include "report.h"
#include "sender.h"
#include "walk.h"
#include "xfer.h"

#define ESC_MAX 512

static const char *esc(const char *s, char *buf)
{
	return diag_escape(s, strlen(s), buf, ESC_MAX);
}

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
	bool acked;		/* its ACK arrived: each entry's action is known */
	bool done;		/* its DONE arrived: every entry is accounted for */
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
	b->acked = false;
	b->done = false;
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
		pe.target = we->target;
		pe.target_len = PROTO_KIND_IS_LINK(we->kind) ? (uint16_t)strlen(we->target) : 0;
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

/* --checksum: SUMS after b's BATCH in pb, the SHA-256 of each file (none
 * for one that cannot be read: it is sent, and fails or not as usual). */
static int add_checksums(const struct sbatch *b, struct pbuf *pb, struct kc_status *st)
{
	struct proto_reply *r = calloc(1, sizeof(*r));
	unsigned i;
	int rc;

	if (r == NULL)
		return kc_fail(st, KC_OTHER, "out of memory");
	r->seq = b->seq;
	r->count = b->n;
	for (i = 0; i < b->n; i++)
		if (b->e[i].kind == PROTO_KIND_FILE && b->e[i].fd >= 0 &&
		    fsu_hash_prefix(b->e[i].fd, b->e[i].size, r->hash[i]) == 0)
			r->hashlen[i] = PROTO_HASH_LEN;
	rc = proto_reply_encode(pb, PROTO_SUMS, r);
	free(r);
	return rc < 0 ? kc_fail(st, KC_OTHER, "cannot encode SUMS") : 0;
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

	if (xfer_expect(c, PROTO_ACK, &p, &len, st) < 0)
		return -1;
	if (proto_reply_decode(PROTO_ACK, p, len, r) < 0 || r->seq != b->seq || r->count != b->n)
		return xfer_abort(c, PR_PROTOCOL, st, KC_XFER, "protocol error: malformed ACK");
	for (i = 0; i < b->n; i++) {
		struct sent *e = &b->e[i];
		char cause[200];

		e->action = r->action[i];
		e->reason = r->reason[i];
		e->offset = r->offset[i];
		e->hashlen = r->hashlen[i];
		memcpy(e->hash, r->hash[i], sizeof(e->hash));
		if (e->action == PROTO_ACCEPT && e->offset != 0 &&
		    (!(opts & PROTO_OPT_RESUME) || e->kind != PROTO_KIND_FILE || e->offset > e->size))
			return xfer_abort(c, PR_PROTOCOL, st, KC_XFER,
					  "protocol error: a resume offset the sender did not ask for");
		/* A skip keeps the receiver's copy instead of ours: only -n
		 * and --update ask for that, else it would pass for success. */
		/* A link may be skipped too: the receiver keeps unsafe
		 * symbolic links out of its DIR (PR_BADPATH) and has nowhere to
		 * put one with --stdout (PR_OK).  --sync asks for skipping a
		 * FILE the receiver has unchanged; that answer is taken on
		 * trust, as -n's and --update's are: the receiver only keeps
		 * its own copy, which it could as well drop after DONE. */
		if (e->action == PROTO_SKIP && !(opts & (PROTO_OPT_NOCLOBBER | PROTO_OPT_UPDATE)) &&
		    !PROTO_KIND_IS_LINK(e->kind) &&
		    !((opts & PROTO_OPT_SYNC) && e->kind == PROTO_KIND_FILE && e->reason == PR_UNCHANGED))
			return xfer_abort(c, PR_PROTOCOL, st, KC_XFER,
					  "protocol error: a skip the sender did not ask for");
		if (e->action == PROTO_REJECT) {
			snprintf(cause, sizeof(cause), "rejected by the receiver: %s", proto_reason_str(e->reason));
			report_entry_failed(e->path, cause);
			note_failure(stats, worst, KC_XFER);
		} else if (e->action == PROTO_SKIP) {
			report_entry_skipped(e->path, e->reason == PR_EXISTS ? "it exists on the receiver (-n)"
						      : e->reason == PR_UNCHANGED && (opts & PROTO_OPT_CHECKSUM) ? "unchanged (same SHA-256)"
						      : e->reason == PR_UNCHANGED ? "unchanged"
						      : e->reason == PR_BADPATH ? "unsafe symbolic link, refused by the receiver (recv --unsafe-links keeps it)"
						      : PROTO_KIND_IS_LINK(e->kind) && !(opts & PROTO_OPT_UPDATE) ? "link not stored by the receiver (--stdout)"
						      : "the receiver's copy is not older (--update)",
					     e->reason == PR_BADPATH);
		}
	}
	b->acked = true;
	return 0;
}

static int apply_done(struct chan *c, struct sbatch *b, struct proto_reply *r, bool verify,
		      struct xfer_stats *stats, enum kc_class *worst, struct kc_status *st)
{
	const uint8_t *p;
	uint32_t len;
	unsigned i;

	if (xfer_expect(c, PROTO_DONE, &p, &len, st) < 0)
		return -1;
	if (proto_reply_decode(PROTO_DONE, p, len, r) < 0 || r->seq != b->seq || r->count != b->n)
		return xfer_abort(c, PR_PROTOCOL, st, KC_XFER, "protocol error: malformed DONE");
	for (i = 0; i < b->n; i++) {
		struct sent *e = &b->e[i];
		char cause[200];

		if (e->action != PROTO_ACCEPT || e->status != 0)
			continue;	/* already reported */
		if (r->action[i] == 0) {
			if (e->kind != PROTO_KIND_DIR) {
				stats->files++;
				stats->bytes += e->sent;
				stats->verified += verify;
				report_entry_done(e->path, REPORT_OK, e->sent, NULL);
			} else {
				stats->dirs++;
			}
			continue;
		}
		snprintf(cause, sizeof(cause), "not stored by the receiver: %s", proto_reason_str(r->reason[i]));
		report_entry_failed(e->path, cause);
		note_failure(stats, worst, KC_XFER);
	}
	b->done = true;
	return 0;
}

/* After the run stopped short (a lost connection, a protocol error): the
 * entries of b still in flight (announced, not refused, not failed here,
 * not confirmed) did not arrive either.  Each is counted and listed as
 * failed, quietly: the run's error line is the message. */
static void list_unconfirmed(const struct sbatch *b, struct xfer_stats *stats)
{
	unsigned i;

	for (i = 0; !b->done && i < b->n; i++) {
		if (b->e[i].action != PROTO_ACCEPT || b->e[i].status != 0)
			continue;
		report_entry_lost(b->e[i].path, b->acked ? "the transfer stopped before the receiver confirmed it"
							 : "the transfer stopped before the receiver answered for it");
		stats->failed++;
	}
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
			stats->resumed = proto_size_add(stats->resumed, e->offset);
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
 * As body_send_file(); e->summed tells whether e->sum is the file's. */
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
		if (body_send_file(c, e->fd, pos, step, short_file, rerr, st) < 0) {
			gnutls_hash_deinit(h, NULL);
			return -1;
		}
		pos += step;
	}
	gnutls_hash_deinit(h, e->sum);
	e->summed = hr == 0 && !*short_file;
	if (pos < e->size) {
		/* The rest of the body (body_send_file pads what it cannot
		 * read); the receiver discards it. */
		bool sf;
		int re;

		if (body_send_file(c, e->fd, pos, e->size - pos, &sf, &re, st) < 0)
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

/* A STREAM body: standard input until EOF, in chunks (with --verify
 * hashed on the way).  0, or -1 with st. */
static int send_stream_body(struct chan *c, struct sent *e, bool verify, struct kc_status *st)
{
	gnutls_hash_hd_t h = NULL;
	int sr;

	if (chan_progress(c))
		progress_stream(chan_progress(c), e->path);
	if (verify && gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
		return kc_fail(st, KC_OTHER, "out of memory");
	chan_tx_hash_set(c, h);
	sr = body_send_chunks(c, e->fd, &e->sent, st);
	chan_tx_hash_set(c, NULL);
	if (h)
		gnutls_hash_deinit(h, sr == 0 ? e->sum : NULL);
	e->summed = h && sr == 0;
	if (sr < 0) {
		xfer_cut_in(st, e->path, NULL);
		return -1;
	}
	if (chan_progress(c))
		progress_file_done(chan_progress(c));
	e->fd = -1;
	return 0;
}

/* A FILE body from e->offset, always its announced length.  If the file
 * shrank, could not be read or changed meanwhile, the sender does not stand
 * behind it: e->status = 1 and *failed gets the class to count it under.
 * The file is closed.  0, or -1 with st when the connection failed. */
static int send_file_body(struct chan *c, struct sent *e, bool verify, enum kc_class *failed,
			  struct kc_status *st)
{
	bool short_file;
	int rerr;
	char cause[200];

	e->sent = e->size - e->offset;
	if (chan_progress(c))
		progress_file(chan_progress(c), e->path, e->size - e->offset);
	if ((verify ? send_file_verified(c, e, &short_file, &rerr, st)
		    : body_send_file(c, e->fd, e->offset, e->size - e->offset, &short_file, &rerr, st)) < 0) {
		xfer_cut_in(st, e->path, NULL);
		return -1;
	}
	if (chan_progress(c))
		progress_file_done(chan_progress(c));
	if (!short_file && source_changed(e)) {
		report_entry_failed(e->path, "changed while being sent (size, mtime or ctime); not stored, send it again");
		short_file = true;
	} else if (short_file && rerr) {
		snprintf(cause, sizeof(cause), "read error here, while sending: %s", strerror(rerr));
		report_entry_failed(e->path, cause);
	} else if (short_file) {
		report_entry_failed(e->path, "file shrank while being sent; not stored");
	}
	if (short_file) {
		e->status = 1;
		*failed = rerr ? KC_FILE : KC_XFER;
	}
	if (e->fd > STDIN_FILENO)
		close(e->fd);
	e->fd = -1;
	return 0;
}

/* PLAN (--resume), the bodies of the accepted entries of b in manifest
 * order, SUMS (--verify) and BATCH_END. */
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
		enum kc_class failed = KC_OK;

		r->action[i] = 0;
		r->reason[i] = PR_OK;
		if (e->action != PROTO_ACCEPT)
			continue;
		if (e->kind == PROTO_KIND_STREAM) {
			if (send_stream_body(c, e, verify, st) < 0)
				goto out;
			continue;
		}
		if (e->kind != PROTO_KIND_FILE)
			continue;
		if (send_file_body(c, e, verify, &failed, st) < 0)
			goto out;
		if (e->status) {
			r->action[i] = 1;
			r->reason[i] = PR_SOURCE;
			note_failure(stats, worst, failed);
		}
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

/* The receiver's answer to our HELLO: its own HELLO, and RECONNECT when
 * we asked for it (reconnect) and it offers one.  0 or -1 with st. */
static int read_hello(struct chan *c, bool verify, bool reconnect, struct kc_status *st)
{
	const uint8_t *p;
	uint32_t len, peer_opts, caps = 0;
	uint8_t refused = PR_OK;

	if (xfer_expect_or_refused(c, PROTO_HELLO, &p, &len, &refused, st) == 0 &&
	    xfer_hello_check(c, p, len, &peer_opts, &caps, false, st) == 0) {
		if (!reconnect || !(caps & PROTO_CAP_RECONNECT))
			return 0;
		if (xfer_expect(c, PROTO_RECONNECT, &p, &len, st) < 0)
			return -1;
		return chan_reconn_arm(c, p, len, st);
	}
	/* A receiver from before --verify refuses its option bit: it takes
	 * our HELLO for a malformed one (a protocol error). */
	if (verify && refused == PR_PROTOCOL)
		kc_append(st, " (a receiver older than --verify refuses it: upgrade it or send without --verify)");
	return -1;
}

/* After the last DONE: sources the caller or the walker could not send
 * count as failures too, and the most telling class is the outcome.  The
 * message says how many and the first cause (it is that cause alone for a
 * single local failure, already printed).  0, or -1 with st. */
static int verdict(struct chan *c, const struct send_opts *o, const struct walk *w, enum kc_class worst,
		   struct xfer_stats *stats, struct kc_status *st)
{
	enum kc_class local_class;
	unsigned local_errors = o->prefailed + walk_errors(w, &local_class), repeats;
	const char *first;

	if (o->prefailed)
		local_class = KC_FILE;
	stats->failed += local_errors;
	if (local_errors > 0 && (worst == KC_OK || worst == KC_FILE || worst == KC_USAGE))
		worst = local_class == KC_USAGE ? KC_FILE : local_class;
	if (worst == KC_OK)
		return 0;
	first = report_first_failure(&repeats);
	if (first[0] == '\0')
		first = "(no cause recorded)";
	/* One source that failed here: its own line was the message. */
	if (stats->failed == 1 && worst == KC_FILE) {
		kc_fail(st, worst, "%s", first);
		kc_mark_printed(st);
		return -1;
	}
	/* The receiver's doing names the receiver; ours does not. */
	if (worst == KC_FILE)
		kc_fail(st, worst, "%u %s not sent: %s", stats->failed, stats->failed == 1 ? "entry was" : "entries were",
			first);
	else
		kc_fail(st, worst, "%s: %u %s not transferred: %s", chan_peer(c), stats->failed,
			stats->failed == 1 ? "entry was" : "entries were", first);
	if (repeats)
		kc_append(st, " (%u more with a cause shown above; -v or --json lists them)", repeats);
	return -1;
}

/* The connection failed while b's DONE may already be here (a receiver
 * killed while the next batch's bodies went out had confirmed b): read it,
 * so that b's durable files count as sent in the summary and the JSON.  An
 * ERROR read instead is the cause, in the peer's words. */
static void drain_done(struct chan *c, struct sbatch *b, struct proto_reply *r, bool verify,
		       struct xfer_stats *stats, enum kc_class *worst, struct kc_status *st)
{
	struct kc_status tmp = { 0 };
	char aborted[160];

	if (b == NULL || b->done || kc_class(st) != KC_NET)
		return;
	if (apply_done(c, b, r, verify, stats, worst, &tmp) == 0)
		return;
	snprintf(aborted, sizeof(aborted), "%s: peer aborted: ", chan_peer(c));
	if (kc_class(&tmp) == KC_XFER && strncmp(kc_msg(&tmp), aborted, strlen(aborted)) == 0)
		*st = tmp;
}

/* The per-batch pipeline (sender.h): one batch's bodies in flight while
 * the next batch's ACK and the previous one's DONE are awaited. */
int sender_run(struct chan *c, const struct send_opts *o, struct xfer_stats *stats,
	       struct kc_status *st)
{
	struct walk *w = walk_new(o->paths, o->npaths, o->recursive,
				  o->stdin_name ? o->stdin_name : "stdin", o->target);
	struct sbatch *bs[2] = { calloc(1, sizeof(struct sbatch)), calloc(1, sizeof(struct sbatch)) };
	struct proto_reply *r = calloc(1, sizeof(*r));
	struct sbatch *cur, *prev = NULL, *next;
	struct pbuf pb = { 0 };
	enum kc_class worst = KC_OK;
	bool verify = o->opts & PROTO_OPT_VERIFY, checksum = o->opts & PROTO_OPT_CHECKSUM;
	bool reconnect = chan_reconn_wanted(c);
	int rc = -1;

	if (w == NULL || bs[0] == NULL || bs[1] == NULL || r == NULL) {
		kc_fail(st, KC_OTHER, "out of memory");
		goto out;
	}
	walk_set_links(w, o->opts & PROTO_OPT_LINKS, o->safe_links, o->opts & PROTO_OPT_HARDLINKS);
	cur = bs[0];
	if (xfer_hello_encode(&pb, o->opts, reconnect ? PROTO_CAP_RECONNECT : 0) < 0 ||
	    build_batch(w, cur, 1, &pb, st) < 0 || (checksum && add_checksums(cur, &pb, st) < 0))
		goto out;
	if (chan_write(c, pb.p, pb.len, false, st) < 0)
		goto out_net;
	if (read_hello(c, verify, reconnect, st) < 0)
		goto out;
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
			if (build_batch(w, next, cur->seq + 1, &pb, st) < 0 ||
			    (checksum && add_checksums(next, &pb, st) < 0))
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
	rc = verdict(c, o, w, worst, stats, st);
	goto out;
out_net:
	drain_done(c, prev, r, verify, stats, &worst, st);
	xfer_peer_reason(c, st);
out:
	stats->skipped = report_skipped();	/* by the receiver and by the walk */
	if (rc < 0 && bs[0] && bs[1]) {
		/* In manifest order: the older batch first. */
		bool swap = bs[1]->n > 0 && bs[1]->seq < bs[0]->seq;

		list_unconfirmed(bs[swap], stats);
		list_unconfirmed(bs[!swap], stats);
	}
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
