/* store: the receiver's durable store beneath its directory DIR.
 *
 * Everything between "a checked relative path" (proto_path_check() has
 * passed) and "durable under its final name" happens here:
 *
 * - Nothing outside DIR: every directory is opened beneath DIR's fd without
 *   following a symlink (fsu_open_dir_beneath), and every file is opened in
 *   that directory with O_NOFOLLOW.
 * - Never under its final name until complete: a file body is written to a
 *   partial ".ktlscp-<16 hex of SHA-256(path)>.part" in its final directory
 *   (a fixed name, so that --resume finds it), a stream body to a fresh
 *   random temporary name there; the final name appears by rename() only
 *   after mode, times and fdatasync() succeeded, and with -n by
 *   renameat2(RENAME_NOREPLACE), so an existing file is never replaced.
 * - Never through a planted link: a partial that is not a regular file
 *   with one link is refused (EMLINK); a partial locked by another receiver
 *   is refused (EBUSY).
 * - Durable when reported: after a batch is committed, every directory it
 *   changed and all their ancestors up to DIR are fsynced (store_sync).
 * - A failed, disowned or mismatched body leaves nothing under its final
 *   name and no temporary file; only a file whose transfer was cut off (the
 *   connection lost, or the transfer aborted after its body was complete)
 *   keeps its partial, for --resume.
 * - Modes: without -p the sender's permission bits less our umask (as scp);
 *   with -p exact bits and times, but never setuid/setgid from a peer.
 *   Directory modes and times (-p) are set last (store_dir_times), so a
 *   read-only directory does not stop its own contents; each directory is
 *   kept once, at most 32 MiB of them (memory per connection is bounded).
 */
#ifndef KTLSCP_STORE_H
#define KTLSCP_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <gnutls/crypto.h>

#include "fsutil.h"
#include "proto.h"

struct store;

/* One body on its way into the store. */
struct store_file {
	int fd;			/* -1: the body is discarded */
	int dirfd;		/* borrowed from the store's directory cache */
	bool partial;		/* a FILE's partial (kept for --resume), else a temp */
	bool pending;		/* complete and durable, awaiting store_commit() */
	char tmp[FSU_TMPNAME_MAX];	/* its name in dirfd */
};

/* A store writing beneath rootfd (borrowed, not closed), with the sender's
 * PROTO_OPT_* requests (-p, -n, --update, --resume).  Takes the process
 * umask.  NULL when out of memory. */
struct store *store_new(int rootfd, uint32_t opts);
void store_free(struct store *s);

/* Free bytes for new files: what the file system offers less a margin (1%,
 * at most 64 MiB), or UINT64_MAX when it cannot tell. */
uint64_t store_room(const struct store *s);

/* A directory entry: create it (and its parents) beneath DIR; with -p its
 * mode and times are set by store_dir_times().  0 or -errno. */
int store_mkdir(struct store *s, const struct proto_entry *e);

/* -n and --update: PROTO_SKIP with *reason (PR_EXISTS for -n, PR_OK for a
 * copy not older) when the receiver keeps what it has, else PROTO_ACCEPT. */
uint8_t store_policy(const struct store *s, const struct proto_entry *e, uint8_t *reason);

/* --resume: the length of e's partial and the SHA-256 of those bytes, if a
 * usable partial (a regular file with one link, not longer than e) is
 * there.  Returns that length, or 0 for none. */
uint64_t store_offer(const struct store *s, const struct proto_entry *e,
		     uint8_t hash[PROTO_HASH_LEN]);

/* Open the place e's body goes (a FILE: its partial, locked and cut to
 * start; a STREAM: a new temporary file).  With h, the partial's first
 * start bytes are fed to h.  Returns 0 or -errno; f->fd may be open even on
 * an error (then nothing more is written and store_close() removes it). */
int store_open(struct store *s, const struct proto_entry *e, uint64_t start, gnutls_hash_hd_t h,
	       struct store_file *f);

/* The whole body is in (werr: 0 or the errno that stopped writing it): set
 * the mode (and times with -p), fdatasync, close.  On success the file is
 * pending; on any error it is removed.  Returns 0 or -errno, the first
 * error (werr included). */
int store_close(struct store *s, const struct proto_entry *e, struct store_file *f, int werr);

/* The connection died in the body: close; a stream's temporary file is
 * removed, a file's partial stays for --resume.  Returns true when a
 * partial was kept. */
bool store_cut(struct store_file *f);

/* Give a pending file its final name (e->path).  On failure it is removed.
 * 0 or -errno (-EEXIST with -n when the name appeared meanwhile). */
int store_commit(struct store *s, const struct proto_entry *e, struct store_file *f);

/* Remove a pending file (the sender failed it, or --verify did not match). */
void store_discard(struct store_file *f);

/* The transfer is aborted: a pending stream is removed; a pending file
 * stays as its partial, which a --resume finds whole and sends nothing. */
void store_abort(struct store_file *f);

/* fsync the directories the batch b changed and all their ancestors (a new
 * directory's own entry lives in its parent).  0 or -errno. */
int store_sync(struct store *s, const struct proto_batch *b);

/* The batch is done: close the directories cached for it. */
void store_batch_done(struct store *s);

/* -p: set the remembered directory modes and times, deepest first. */
void store_dir_times(struct store *s);

#endif
