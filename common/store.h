/* store: the receiver's durable store beneath its directory DIR.
 *
 * Everything between "a checked relative path" (proto_path_check() has
 * passed) and "durable under its final name" happens here:
 *
 * - Nothing outside DIR: every directory is opened beneath DIR's fd without
 *   following a symlink (fsu_open_dir_beneath), and every file is opened in
 *   that directory with O_NOFOLLOW.  So a symlink the sender made (-l,
 *   store_link) never redirects what comes after it, and a hard link (-H)
 *   is made only to a file this transfer stored, never through a link.
 * - Never under its final name until complete: a file body is written to a
 *   partial ".ktlscp-<16 hex of SHA-256(path)>.part" in its final directory
 *   (a fixed name, so that --resume finds it), a stream body to a fresh
 *   random temporary name there; the final name appears by rename() only
 *   after mode, times and fdatasync() succeeded, and with -n by
 *   renameat2(RENAME_NOREPLACE), so an existing file is never replaced.
 * - Safe from local users who share DIR: a new body goes to a file created
 *   exclusively (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600).  Whatever is found
 *   at a partial's name is opened with O_NONBLOCK|O_NOFOLLOW (a planted
 *   FIFO cannot hang us, a symlink cannot redirect us) and used, for
 *   --resume or to be overwritten, only when it is ours: a regular file
 *   with one link, owned by our effective user, not writable by group or
 *   others (else EEXIST, "in the way"; EMLINK for a hard link; ELOOP for a
 *   symlink); one locked by another receiver is refused (EBUSY).  The
 *   partial resumed is the one offered (device and inode, else ESTALE).  What is renamed into place is the file we wrote: the
 *   device and inode at the temporary name are compared with ours just
 *   before the rename (ESTALE when someone swapped it).  Names of the
 *   store's own form (store_name_reserved) are refused from the wire, so a
 *   second sender cannot write into another transfer's partial.
 * - Durable when reported: a file's data before its rename, and after a
 *   batch is committed every directory it changed and all their ancestors
 *   up to DIR (store_sync); a batch of many small files pays this with two
 *   syncfs(2) instead of an fdatasync per file (store.c says why).
 * - A failed, disowned or mismatched body leaves nothing under its final
 *   name and no temporary file; only a file whose transfer was cut off (the
 *   connection lost, or the transfer aborted after its body was complete)
 *   keeps its partial, for --resume.
 * - Modes: without -p the sender's permission bits less our umask (as scp);
 *   with -p exact bits and times, but never setuid/setgid from a peer, and
 *   never writable by others (a directory keeps o+w only with the sticky
 *   bit).  Directory modes and times (-p) are set last (store_dir_times),
 *   so a read-only directory does not stop its own contents, and only for
 *   directories this transfer created (a directory that was there keeps
 *   its own); each directory is kept once, at most 32 MiB of them (memory
 *   per connection is bounded).
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
	dev_t dev;		/* the file written, checked before the rename */
	ino_t ino;
	mode_t mode;		/* its mode now */
	bool unsynced;		/* closed without fdatasync: the batch's syncfs flushes it */
};

/* --resume: which partial was offered, so that the body is appended to
 * that one and no other. */
struct store_mark {
	dev_t dev;
	ino_t ino;
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

/* -n, --sync and --update: PROTO_SKIP with *reason (PR_EXISTS for -n,
 * PR_UNCHANGED for a regular file of the same size and mtime with --sync,
 * PR_OK for a copy not older) when the receiver keeps what it has, else
 * PROTO_ACCEPT.  With --sync (and no --update) a file that differs is
 * replaced whatever its age.  With --checksum too, sum is the sender's
 * SHA-256 of the file (NULL: none, so not unchanged), compared with that
 * of the copy here when the sizes match, instead of the mtimes. */
uint8_t store_policy(struct store *s, const struct proto_entry *e, const uint8_t *sum, uint8_t *reason);

/* True when a component of the checked path p[0..len) has the form of
 * the store's own temporary names (".ktlscp-*.part"): such a path from
 * the wire is refused, as a protocol error. */
bool store_name_reserved(const char *p, size_t len);

/* The words for an error from the store (its own codes EEXIST, ESTALE,
 * EMLINK, ELOOP from store_open/store_commit get a sentence; others
 * strerror). */
const char *store_strerror(int err);

/* --resume: the length of e's partial and the SHA-256 of those bytes, if a
 * usable partial (ours, as above, not longer than e) is there, and in *m
 * which file it is.  Returns that length, or 0 for none. */
uint64_t store_offer(const struct store *s, const struct proto_entry *e,
		     uint8_t hash[PROTO_HASH_LEN], struct store_mark *m);

/* Open the place e's body goes (a FILE: its partial, locked and cut to
 * start; a STREAM: a new temporary file).  start > 0 needs m, the mark
 * store_offer() gave, and appends to that same file.  With h, the
 * partial's first start bytes are fed to h.  Returns 0 or -errno; f->fd
 * may be open even on an error (then nothing more is written and
 * store_close() removes it). */
int store_open(struct store *s, const struct proto_entry *e, uint64_t start,
	       const struct store_mark *m, gnutls_hash_hd_t h, struct store_file *f);

/* The bodies of batch b are about to arrive: decide whether its small
 * files are flushed one by one or together (see store.c). */
void store_batch_begin(struct store *s, const struct proto_batch *b);

/* The whole body is in (werr: 0 or the errno that stopped writing it): set
 * the mode (and times with -p), fdatasync (or leave that to the batch's
 * flush, store_commit), close.  On success the file is pending; on any
 * error it is removed.  Returns 0 or -errno, the first error (werr
 * included). */
int store_close(struct store *s, const struct proto_entry *e, struct store_file *f, int werr);

/* The connection died in the body: close; a stream's temporary file is
 * removed, a file's partial stays for --resume.  Returns true when a
 * partial was kept. */
bool store_cut(struct store_file *f);

/* Give a pending file its final name (e->path), its data made durable
 * first (the batch's first commit flushes every file left unsynced).  On
 * failure it is removed.  0 or -errno (-EEXIST with -n when the name
 * appeared meanwhile; -ESTALE when the file at the temporary name is not
 * the one written, which is left alone). */
int store_commit(struct store *s, const struct proto_entry *e, struct store_file *f);

/* A SYMLINK or HARDLINK entry, made at a fresh temporary name in its
 * directory (symlinkat, or linkat of the earlier path, which must be a
 * regular file this transfer stored: ENOENT else) and renamed into place
 * like a file (RENAME_NOREPLACE with -n); nothing is followed.  With -p a
 * symlink gets the sender's times.  Durable after store_sync().  0 or
 * -errno. */
int store_link(struct store *s, const struct proto_entry *e);

/* Remove a pending file (the sender failed it, or --verify did not match). */
void store_discard(struct store_file *f);

/* The transfer is aborted: a pending stream is removed; a pending file
 * stays as its partial, which a --resume finds whole and sends nothing. */
void store_abort(struct store_file *f);

/* fsync the directories the batch b changed and all their ancestors (a new
 * directory's own entry lives in its parent), or one syncfs when the
 * batch's data were flushed that way.  0 or -errno. */
int store_sync(struct store *s, const struct proto_batch *b);

/* The batch is done: close the directories cached for it. */
void store_batch_done(struct store *s);

/* -p: set the remembered directory modes and times, deepest first. */
void store_dir_times(struct store *s);

#endif
