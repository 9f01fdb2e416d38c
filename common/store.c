/* store: the receiver's durable, confined writes (the guarantees are listed
 * in store.h; each is kept by the function named there).
 *
 * A store holds the receiving directory's fd, the sender's options, our
 * umask, a cache of the directories the batch in hand writes into (so each
 * is resolved beneath DIR once per batch), and with -p the modes and times
 * of the directories received, to be set at the end.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "diag.h"
#include "store.h"

struct dcache {
	char *path;
	int fd;
};

struct dtimes {
	char *path;
	dev_t dev;		/* the directory we created, checked at the end */
	ino_t ino;
	mode_t mode;
	struct timespec ts[2];	/* atime, mtime */
};

/* -p: at most this many bytes of directory paths and times are kept for
 * the end of the transfer, each directory once; the times of directories
 * beyond it are not set (said once). */
#define DIRTIMES_MAX_BYTES	(32u << 20)

/* How long a file held by another connection is waited for (part_lock). */
#define STORE_LOCK_WAIT_MS	2000
#define STORE_LOCK_POLL_MS	20

struct store {
	int rootfd;
	uint32_t opts;			/* the sender's PROTO_OPT_* */
	mode_t umask;
	struct dcache dc[PROTO_BATCH_MAX];
	unsigned ndc;
	struct dtimes *dirs;		/* -p: directory times, set at the end */
	size_t ndirs, dircap;
	size_t *dirindex;		/* hash of dirs[] by path: index + 1, 0 empty */
	size_t dirindex_cap;		/* a power of two, at least twice ndirs */
	size_t dirbytes;		/* what dirs[] holds, against DIRTIMES_MAX_BYTES */
	bool dirs_full;			/* said that further times are not kept */
	bool batch_syncfs;		/* this batch's small files are flushed together */
	unsigned unsynced;		/* files closed without fdatasync in this batch */
	bool flushed;			/* syncfs ran for them (flush_err: its result) */
	int flush_err;
	struct inode *inodes;		/* -H: files this transfer stored (open addressing) */
	size_t inode_mask, ninodes;
	bool changed;			/* this batch created or wrote something (store_sync) */
	int pdir_fd;			/* store_policy's last directory, or -1 */
	char *pdir;			/* its path (malloc) */
};

/* -H: a hard link is made only to a file this transfer stored, known by
 * device and inode; at most INODES_MAX of them (24 MiB of table at most). */
struct inode {
	dev_t dev;
	ino_t ino;
	bool used;
};
#define INODES_MAX	(1u << 19)

static size_t inode_slot(const struct store *s, dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)dev * 0x9e3779b97f4a7c15u) ^ ((uint64_t)ino * 0xc2b2ae3d27d4eb4fu);
	size_t k;

	for (k = (size_t)(h ^ (h >> 29)) & s->inode_mask;; k = (k + 1) & s->inode_mask)
		if (!s->inodes[k].used || (s->inodes[k].dev == dev && s->inodes[k].ino == ino))
			return k;
}

static bool inode_known(const struct store *s, dev_t dev, ino_t ino)
{
	return s->inodes && s->inodes[inode_slot(s, dev, ino)].used;
}

/* Remember a stored file (silently not, past INODES_MAX: its links then
 * fail). */
static void inode_add(struct store *s, dev_t dev, ino_t ino)
{
	size_t k;

	if (s->ninodes + 1 > (s->inode_mask + 1) / 2) {
		size_t slots = s->inodes ? 2 * (s->inode_mask + 1) : 1024, i;
		size_t old_slots = s->inodes ? s->inode_mask + 1 : 0;
		struct inode *old = s->inodes, *nw;

		if (s->ninodes >= INODES_MAX || (nw = calloc(slots, sizeof(*nw))) == NULL)
			return;
		s->inodes = nw;
		s->inode_mask = slots - 1;
		for (i = 0; i < old_slots; i++)
			if (old[i].used)
				s->inodes[inode_slot(s, old[i].dev, old[i].ino)] = old[i];
		free(old);
	}
	k = inode_slot(s, dev, ino);
	if (!s->inodes[k].used) {
		s->inodes[k] = (struct inode){ dev, ino, true };
		s->ninodes++;
	}
}

/* Durability per batch, not per file.  Every file must be durable under
 * its final name before DONE, and its data durable before the rename (else
 * a crash could leave an empty file under the final name).  On ext4 every
 * fdatasync and every directory fsync is a journal commit; one syncfs
 * commits them all.  Measured with a script writing 20000 files of 1-8 KiB
 * in 200 directories, in batches of 256, with the syscalls used here (ext4
 * on virtio, 2 cores shared with other jobs: three alternating rounds,
 * seconds; read the ratios):
 *
 *   per-file fdatasync + directory fsyncs        9.4  28.6  19.2
 *   sync_file_range(WRITE) early, fdatasync all  10.0 21.2  32.8
 *   fdatasync each at the end of the batch       11.4 53.2  121
 *   syncfs, renames, directory fsyncs             4.4  11.8  29.4
 *   syncfs, renames, syncfs                       1.8   3.6  19.0
 *   no flush at all (the floor)                   1.8   2.3   5.4
 *
 * End to end, "send -r" of such a tree over loopback, main then this, in
 * three alternating rounds: 77.6 s / 13.1 s, 58.0 / 29.2, 81.8 / 19.9.
 *
 * So: a batch with at least SYNCFS_MIN_FILES files under SYNC_EACH_MIN
 * bytes closes them without fdatasync, runs one syncfs(2) before its first
 * rename (store_commit) and one after the last (store_sync) instead of the
 * directory fsyncs.  syncfs also flushes what other processes wrote to the
 * same file system, so a batch of few or large files keeps per-file
 * fdatasync, whose cost is its own data. */
#define SYNCFS_MIN_FILES	16
#define SYNC_EACH_MIN		(1u << 20)

/* FNV-1a of p[0..n). */
static size_t path_hash(const char *p, size_t n)
{
	uint64_t h = 14695981039346656037u;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 1099511628211u;
	return (size_t)h;
}

struct store *store_new(int rootfd, uint32_t opts)
{
	struct store *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->rootfd = rootfd;
	s->pdir_fd = -1;
	s->opts = opts;
	s->umask = umask(0);
	umask(s->umask);
	return s;
}

void store_batch_done(struct store *s)
{
	unsigned i;

	for (i = 0; i < s->ndc; i++) {
		close(s->dc[i].fd);
		free(s->dc[i].path);
	}
	s->ndc = 0;
	if (s->pdir_fd >= 0)
		close(s->pdir_fd);
	s->pdir_fd = -1;
	free(s->pdir);
	s->pdir = NULL;
	s->changed = false;
	s->batch_syncfs = s->flushed = false;
	s->unsynced = 0;
	s->flush_err = 0;
}

void store_free(struct store *s)
{
	if (s == NULL)
		return;
	store_batch_done(s);
	while (s->ndirs > 0)
		free(s->dirs[--s->ndirs].path);
	free(s->dirs);
	free(s->dirindex);
	free(s->inodes);
	free(s);
}

/* Directory fd for a checked relative dir path, created if missing. */
static int dcache_get(struct store *s, const char *dir)
{
	unsigned i;
	int fd;

	for (i = s->ndc; i-- > 0;)
		if (strcmp(s->dc[i].path, dir) == 0)
			return s->dc[i].fd;
	fd = fsu_open_dir_beneath(s->rootfd, dir, true);
	if (fd < 0)
		return fd;
	if (s->ndc == PROTO_BATCH_MAX) {	/* cannot happen: one dir per entry at most */
		close(fd);
		return -EMFILE;
	}
	s->dc[s->ndc].path = strdup(dir);
	if (s->dc[s->ndc].path == NULL) {
		close(fd);
		return -ENOMEM;
	}
	s->dc[s->ndc++].fd = fd;
	return fd;
}

uint64_t store_room(const struct store *s)
{
	struct statvfs vfs;
	uint64_t margin, avail;

	if (fstatvfs(s->rootfd, &vfs) < 0)
		return UINT64_MAX;
	/* Keep 1% of the file system (at most 64 MiB) free: a full disk
	 * helps nobody. */
	margin = (uint64_t)vfs.f_blocks * vfs.f_frsize / 100;
	if (margin > (64u << 20))
		margin = 64u << 20;
	avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	return avail > margin ? avail - margin : 0;
}

/* The slot of dirindex where path is, or the empty one where it would go. */
static size_t dirindex_find(const struct store *s, const char *path)
{
	size_t k = path_hash(path, strlen(path)) & (s->dirindex_cap - 1);

	while (s->dirindex[k] != 0 && strcmp(s->dirs[s->dirindex[k] - 1].path, path) != 0)
		k = (k + 1) & (s->dirindex_cap - 1);
	return k;
}

/* Room in dirindex for one more directory.  0 or -ENOMEM. */
static int dirindex_grow(struct store *s)
{
	size_t cap = s->dirindex_cap ? s->dirindex_cap : 64, i;
	size_t *old = s->dirindex;

	if (2 * (s->ndirs + 1) <= s->dirindex_cap)
		return 0;
	while (2 * (s->ndirs + 1) > cap)
		cap *= 2;
	s->dirindex = calloc(cap, sizeof(*s->dirindex));
	if (s->dirindex == NULL) {
		s->dirindex = old;
		return -ENOMEM;
	}
	s->dirindex_cap = cap;
	for (i = 0; i < s->ndirs; i++)
		s->dirindex[dirindex_find(s, s->dirs[i].path)] = i + 1;
	free(old);
	return 0;
}

/* -p: a directory's mode from the peer, without setgid (never from a
 * peer), and writable by others only with the sticky bit: a world-writable
 * directory that is not sticky would let every local user replace what
 * arrives in it. */
static mode_t dir_mode(uint32_t mode)
{
	mode &= 01777;
	return (mode & 01000) ? mode : mode & ~(mode_t)0002;
}

/* -p: was this directory created by this transfer (so its mode and times
 * are ours to set)? */
static bool dir_known(const struct store *s, const char *path)
{
	return s->dirindex_cap > 0 && s->dirindex[dirindex_find(s, path)] != 0;
}

/* -p: keep the mode and times of a directory this transfer created (fd,
 * which sb describes) for store_dir_times(), once per directory (a repeat
 * updates them), within DIRTIMES_MAX_BYTES.  Best effort: past that, or
 * out of memory, the times of further directories are not kept. */
static void remember_dir_times(struct store *s, const struct proto_entry *e, const struct stat *sb)
{
	size_t cost = sizeof(struct dtimes) + 2 * sizeof(size_t) + e->path_len + 1, k;
	struct dtimes *d;

	if (dirindex_grow(s) < 0)
		return;
	k = dirindex_find(s, e->path);
	if (s->dirindex[k] != 0) {
		d = &s->dirs[s->dirindex[k] - 1];
		if (d->dev != sb->st_dev || d->ino != sb->st_ino)
			return;	/* not the directory we created */
	} else {
		if (s->dirbytes + cost > DIRTIMES_MAX_BYTES) {
			if (!s->dirs_full)
				diag_print("-p: over %u MiB of directories; the times of further ones are not set",
					   DIRTIMES_MAX_BYTES >> 20);
			s->dirs_full = true;
			return;
		}
		if (s->ndirs == s->dircap) {
			size_t cap = s->dircap ? s->dircap * 2 : 64;
			struct dtimes *n = realloc(s->dirs, cap * sizeof(*n));

			if (n == NULL)
				return;
			s->dirs = n;
			s->dircap = cap;
		}
		d = &s->dirs[s->ndirs];
		d->path = strdup(e->path);
		if (d->path == NULL)
			return;
		s->dirindex[k] = ++s->ndirs;
		s->dirbytes += cost;
		d->dev = sb->st_dev;
		d->ino = sb->st_ino;
	}
	d->mode = dir_mode(e->mode);
	d->ts[0].tv_sec = e->atime;
	d->ts[0].tv_nsec = e->atime_ns;
	d->ts[1].tv_sec = e->mtime;
	d->ts[1].tv_nsec = e->mtime_ns;
}

int store_mkdir(struct store *s, const struct proto_entry *e)
{
	int fd = fsu_open_dir_beneath(s->rootfd, e->path, false);
	bool created = false;
	struct stat sb;

	if (fd == -ENOENT) {
		fd = fsu_open_dir_beneath(s->rootfd, e->path, true);
		created = true;
		s->changed = true;
	}
	if (fd < 0)
		return fd;
	/* -p sets the mode and times of directories this transfer created
	 * (here, or named again), never those of one that was there before. */
	if ((s->opts & PROTO_OPT_PRESERVE) && (created || dir_known(s, e->path)) && fstat(fd, &sb) == 0)
		remember_dir_times(s, e, &sb);
	close(fd);
	return 0;
}

void store_dir_times(struct store *s)
{
	struct stat sb;
	size_t i;

	s->changed |= s->ndirs > 0;
	for (i = s->ndirs; i-- > 0;) {
		int fd = fsu_open_dir_beneath(s->rootfd, s->dirs[i].path, false);

		/* Only the directory we created, not one put in its place. */
		if (fd >= 0 && fstat(fd, &sb) == 0 && sb.st_dev == s->dirs[i].dev &&
		    sb.st_ino == s->dirs[i].ino) {
			fchmod(fd, s->dirs[i].mode);
			futimens(fd, s->dirs[i].ts);
		}
		if (fd >= 0)
			close(fd);
	}
}

/* The directory a policy check looks in: the last one is kept until the
 * batch is done (a tree's files come directory by directory), so that a
 * --sync of many unchanged files opens each directory once.  Only one that
 * exists is kept: a later entry of the batch may create it. */
static int policy_dir(struct store *s, const char *parent)
{
	int fd;

	if (s->pdir_fd >= 0 && strcmp(s->pdir, parent) == 0)
		return s->pdir_fd;
	fd = fsu_open_dir_beneath(s->rootfd, parent, false);
	if (fd < 0)
		return fd;
	if (s->pdir_fd >= 0)
		close(s->pdir_fd);
	free(s->pdir);
	s->pdir = strdup(parent);
	s->pdir_fd = s->pdir ? fd : -1;
	if (s->pdir == NULL)
		close(fd);
	return s->pdir ? fd : -ENOMEM;
}

/* --checksum: does name in dfd, a regular file of size bytes, have the
 * SHA-256 sum? */
static bool same_content(int dfd, const char *name, uint64_t size, const uint8_t *sum)
{
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	uint8_t h[PROTO_HASH_LEN];
	struct stat sb;
	bool same;

	if (fd < 0)
		return false;
	same = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size == size &&
	       fsu_hash_prefix(fd, size, h) == 0 && memcmp(h, sum, PROTO_HASH_LEN) == 0;
	close(fd);
	return same;
}

uint8_t store_policy(struct store *s, const struct proto_entry *e, const uint8_t *sum, uint8_t *reason)
{
	char parent[PROTO_PATH_MAX + 1];
	const char *name = fsu_split(e->path, parent);
	struct stat sb;
	int dfd = policy_dir(s, parent), rc;

	if (dfd < 0)
		return PROTO_ACCEPT;	/* the directory is new, so is the file */
	rc = fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW);
	if (rc < 0)
		return PROTO_ACCEPT;
	if (s->opts & PROTO_OPT_NOCLOBBER) {
		*reason = PR_EXISTS;
		return PROTO_SKIP;
	}
	/* --sync: keep a regular file of the same size and modification time,
	 * to the nanosecond, except that a time here with no nanoseconds
	 * matches any (a file system that keeps whole seconds stored it so).
	 * Links and anything else are made again. */
	if (s->opts & PROTO_OPT_SYNC) {
		bool same = e->kind == PROTO_KIND_FILE && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size == e->size;

		if (same && (s->opts & PROTO_OPT_CHECKSUM))
			same = sum != NULL && same_content(dfd, name, e->size, sum);
		else if (same)
			same = sb.st_mtim.tv_sec == e->mtime &&
			       ((uint32_t)sb.st_mtim.tv_nsec == e->mtime_ns || sb.st_mtim.tv_nsec == 0);
		if (same) {
			*reason = PR_UNCHANGED;
			return PROTO_SKIP;
		}
		if (!(s->opts & PROTO_OPT_UPDATE))
			return PROTO_ACCEPT;
	}
	/* --update: replace only an older copy (by mtime, to the nanosecond). */
	if (sb.st_mtim.tv_sec > e->mtime ||
	    (sb.st_mtim.tv_sec == e->mtime && (uint32_t)sb.st_mtim.tv_nsec >= e->mtime_ns)) {
		*reason = PR_OK;
		return PROTO_SKIP;
	}
	return PROTO_ACCEPT;
}

/* --resume: the partial file of a path has a fixed name in its directory,
 * ".ktlscp-<first 16 hex digits of SHA-256(path)>.part", so that a later
 * run finds it. */
static void part_name(const char *path, char out[FSU_TMPNAME_MAX])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t d[32];
	char h[17];
	int i;

	gnutls_hash_fast(GNUTLS_DIG_SHA256, path, strlen(path), d);
	for (i = 0; i < 8; i++) {
		h[2 * i] = hex[d[i] >> 4];
		h[2 * i + 1] = hex[d[i] & 15];
	}
	h[16] = '\0';
	snprintf(out, FSU_TMPNAME_MAX, FSU_TMP_PREFIX "%s" FSU_TMP_SUFFIX, h);
}

bool store_name_reserved(const char *p, size_t len)
{
	const size_t np = strlen(FSU_TMP_PREFIX), ns = strlen(FSU_TMP_SUFFIX);
	const char *end = p + len;

	while (p < end) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		size_t n = slash ? (size_t)(slash - p) : (size_t)(end - p);

		if (n >= np + ns && memcmp(p, FSU_TMP_PREFIX, np) == 0 &&
		    memcmp(p + n - ns, FSU_TMP_SUFFIX, ns) == 0)
			return true;
		p += n + 1;
	}
	return false;
}

const char *store_strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case EEXIST:
		return "a file that is not this receiver's own partial is in the way at its temporary name";
	case EMLINK:
		return "a hard link is in the way at its temporary name";
	case ELOOP:
		return "a symbolic link is in the way";
	case ESTALE:
		return "its temporary file was replaced or changed by someone else meanwhile";
	case EBUSY:
		return "busy: another transfer of this file is in progress";
	default:
		return strerror(err);
	}
}

/* What is at a partial's name is ours to use when it is a regular file
 * with one link, owned by our effective user, that group and others cannot
 * write: nobody else created it or can change it.  0 or -errno. */
static int part_ours(const struct stat *sb)
{
	if (S_ISREG(sb->st_mode) && sb->st_nlink != 1)
		return -EMLINK;
	if (!S_ISREG(sb->st_mode) || sb->st_uid != geteuid() || (sb->st_mode & 022))
		return -EEXIST;
	return 0;
}

/* Open what is at a partial's name (flags: O_RDONLY or O_RDWR) without
 * blocking (a planted FIFO) or following a link, and keep it only when it
 * is ours (part_ours); its stat in *sb.  The fd or -errno. */
static int part_open(int dfd, const char *name, int flags, struct stat *sb)
{
	int fd = openat(dfd, name, flags | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC), rc;

	if (fd < 0)
		return -errno;
	rc = fstat(fd, sb) < 0 ? -errno : part_ours(sb);
	/* A regular file ignores O_NONBLOCK; cleared all the same. */
	if (rc == 0 && fcntl(fd, F_SETFL, flags) < 0)
		rc = -errno;
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

uint64_t store_offer(const struct store *s, const struct proto_entry *e,
		     uint8_t hash[PROTO_HASH_LEN], struct store_mark *m)
{
	char parent[PROTO_PATH_MAX + 1], name[FSU_TMPNAME_MAX];
	uint64_t len = 0;
	struct stat sb;
	int dfd, fd;

	fsu_split(e->path, parent);
	part_name(e->path, name);
	dfd = fsu_open_dir_beneath(s->rootfd, parent, false);
	if (dfd < 0)
		return 0;
	fd = part_open(dfd, name, O_RDONLY, &sb);
	close(dfd);
	if (fd < 0)
		return 0;
	if (sb.st_size > 0 && (uint64_t)sb.st_size <= e->size &&
	    fsu_hash_prefix(fd, (uint64_t)sb.st_size, hash) == 0) {
		len = (uint64_t)sb.st_size;
		m->dev = sb.st_dev;
		m->ino = sb.st_ino;
	}
	close(fd);
	return len;
}

/* The partial of a new body: created exclusively, or else what is there
 * if it is ours (part_open).  *fresh tells which.  The fd or -errno.
 *
 * Not O_TMPFILE: the partial must have its name while it is written, so
 * that a receiver killed in mid-file leaves it for --resume.  Its name is
 * predictable, so a local user can plant something there and make that
 * one file fail; O_EXCL and part_open() see to it that nothing planted is
 * ever written through, read back or renamed into place. */
static int part_create(struct store_file *f, struct stat *sb, bool *fresh)
{
	int fd = openat(f->dirfd, f->tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	*fresh = fd >= 0;
	if (fd >= 0 && fstat(fd, sb) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	if (fd >= 0)
		return fd;
	if (errno != EEXIST)
		return -errno;
	return part_open(f->dirfd, f->tmp, O_RDWR, sb);
}

/* Lock a partial against a second sender of the same path.  The holder
 * may be the serving child of a sender that was just killed and has not
 * seen its connection end yet, so a held lock is retried for up to
 * STORE_LOCK_WAIT_MS before giving up with EBUSY.  0, or -1 with errno. */
static int part_lock(int fd)
{
	const struct timespec pause = { 0, STORE_LOCK_POLL_MS * 1000000L };
	int waited;

	for (waited = 0;; waited += STORE_LOCK_POLL_MS) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		if (waited >= STORE_LOCK_WAIT_MS) {
			errno = EBUSY;
			return -1;
		}
		nanosleep(&pause, NULL);
	}
}

/* A file's partial under its fixed name, locked against a second sender
 * of the same path, cut to where the body starts: for start > 0 the one m
 * names, unchanged since it was offered.  0 or -errno; f->fd is left open
 * when the error came after the partial was safely opened. */
static int open_partial(const struct proto_entry *e, uint64_t start, const struct store_mark *m,
			gnutls_hash_hd_t h, struct store_file *f)
{
	struct stat psb;
	bool fresh = false;
	int fd;

	part_name(e->path, f->tmp);
	fd = start == 0 ? part_create(f, &psb, &fresh) : part_open(f->dirfd, f->tmp, O_RDWR, &psb);
	if (fd < 0)
		return start > 0 && fd == -ENOENT ? -ESTALE : fd;
	if (part_lock(fd) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	f->fd = fd;
	f->dev = psb.st_dev;
	f->ino = psb.st_ino;
	f->mode = psb.st_mode & 07777;
	/* Another file put in its place since the offer is not appended to.
	 * (One changed in place by our own user is what --verify catches.) */
	if (start > 0 && (m == NULL || psb.st_dev != m->dev || psb.st_ino != m->ino))
		return -ESTALE;
	if (fresh)
		return 0;	/* empty, at offset 0 */
	if (f->mode != 0600) {
		if (fchmod(fd, 0600) < 0)
			return -errno;
		f->mode = 0600;
	}
	if (ftruncate(fd, (off_t)start) < 0 || lseek(fd, (off_t)start, SEEK_SET) < 0)
		return -errno;
	/* --verify covers the whole file: the prefix kept from an earlier
	 * run is read back. */
	if (h && start > 0)
		return fsu_hash_range(fd, 0, start, h);
	return 0;
}

int store_open(struct store *s, const struct proto_entry *e, uint64_t start,
	       const struct store_mark *m, gnutls_hash_hd_t h, struct store_file *f)
{
	char parent[PROTO_PATH_MAX + 1];
	struct stat sb;
	int fd;

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	s->changed = true;
	fsu_split(e->path, parent);
	f->dirfd = dcache_get(s, parent);
	if (f->dirfd < 0)
		return f->dirfd;
	if (e->kind == PROTO_KIND_FILE) {
		f->partial = true;
		return open_partial(e, start, m, h, f);
	}
	fd = fsu_tmp_create(f->dirfd, f->tmp);
	if (fd < 0)
		return fd;
	f->fd = fd;
	if (fstat(fd, &sb) < 0)
		return -errno;
	f->dev = sb.st_dev;
	f->ino = sb.st_ino;
	f->mode = sb.st_mode & 07777;
	return 0;
}

/* A file's final mode.  Without -p, the sender's permission bits less our
 * umask, as scp does; with -p, exact bits (the umask is for files made
 * without such a request, as with cp -p and rsync -p), but never setuid or
 * setgid, and never writable by others: a peer does not open a file to
 * every local user. */
static mode_t file_mode(const struct store *s, const struct proto_entry *e)
{
	if (s->opts & PROTO_OPT_PRESERVE)
		return e->mode & 01775;
	return (e->mode & 0777) & ~s->umask;
}

void store_batch_begin(struct store *s, const struct proto_batch *b)
{
	unsigned i, small = 0;

	for (i = 0; i < b->count; i++)
		small += b->e[i].kind == PROTO_KIND_FILE && b->e[i].size < SYNC_EACH_MIN;
	s->batch_syncfs = small >= SYNCFS_MIN_FILES;
}

int store_close(struct store *s, const struct proto_entry *e, struct store_file *f, int werr)
{
	if (f->fd < 0)
		return -werr;
	if (werr == 0) {
		mode_t mode = file_mode(s, e);
		struct timespec ts[2] = { { e->atime, e->atime_ns }, { e->mtime, e->mtime_ns } };
		bool times = (s->opts & (PROTO_OPT_PRESERVE | PROTO_OPT_SYNC)) != 0;

		/* --sync keeps the modification time (the next run compares
		 * it), -p the access time too. */
		if (!(s->opts & PROTO_OPT_PRESERVE))
			ts[0].tv_nsec = UTIME_OMIT;
		/* fchmod even so: the partial is 0600 until it is complete, so
		 * that nobody reads a body that may yet be discarded. */
		f->unsynced = s->batch_syncfs && e->kind == PROTO_KIND_FILE && e->size < SYNC_EACH_MIN;
		if ((f->mode != mode && fchmod(f->fd, mode) < 0) ||
		    (times && futimens(f->fd, ts) < 0) ||
		    (!f->unsynced && fdatasync(f->fd) < 0))
			werr = errno;
		s->unsynced += f->unsynced && werr == 0;
	}
	if (close(f->fd) < 0 && werr == 0)
		werr = errno;
	f->fd = -1;
	if (werr)
		unlinkat(f->dirfd, f->tmp, 0);
	else
		f->pending = true;
	return -werr;
}

bool store_cut(struct store_file *f)
{
	bool kept = f->fd >= 0 && f->partial;

	if (f->fd >= 0) {
		/* A file's partial stays for --resume; a stream cannot be
		 * resumed. */
		if (!f->partial)
			unlinkat(f->dirfd, f->tmp, 0);
		close(f->fd);
		f->fd = -1;
	}
	return kept;
}

/* The data of a file closed without fdatasync, flushed by name (when
 * syncfs is not allowed, as under some seccomp filters).  0 or -errno. */
static int sync_by_name(const struct store_file *f)
{
	int fd = openat(f->dirfd, f->tmp, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), rc = 0;
	struct stat sb;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0 || fdatasync(fd) < 0)
		rc = -errno;
	else if (sb.st_dev != f->dev || sb.st_ino != f->ino)
		rc = -ESTALE;
	close(fd);
	return rc;
}

/* Before the first rename of a batch: its unsynced files' data are made
 * durable by one syncfs.  0 or -errno for f. */
static int flush_batch(struct store *s, const struct store_file *f)
{
	if (!s->flushed) {
		s->flushed = true;
		s->flush_err = syncfs(s->rootfd) < 0 ? -errno : 0;
	}
	if (s->flush_err == -ENOSYS || s->flush_err == -EPERM)
		return sync_by_name(f);
	return s->flush_err;
}

int store_commit(struct store *s, const struct proto_entry *e, struct store_file *f)
{
	char parent[PROTO_PATH_MAX + 1];
	const char *name = fsu_split(e->path, parent);

	struct stat sb;

	f->pending = false;
	/* What gets the final name is the file we wrote: someone who can
	 * write in the directory may have put another under the temporary
	 * name (then it is left alone, not ours to remove). */
	if (fstatat(f->dirfd, f->tmp, &sb, AT_SYMLINK_NOFOLLOW) < 0 || sb.st_dev != f->dev ||
	    sb.st_ino != f->ino)
		return -ESTALE;
	if (f->unsynced) {
		int err = flush_batch(s, f);

		if (err < 0) {
			unlinkat(f->dirfd, f->tmp, 0);
			return err;
		}
	}
	if ((s->opts & PROTO_OPT_NOCLOBBER)
		    ? renameat2(f->dirfd, f->tmp, f->dirfd, name, RENAME_NOREPLACE) < 0
		    : renameat(f->dirfd, f->tmp, f->dirfd, name) < 0) {
		int err = errno;

		unlinkat(f->dirfd, f->tmp, 0);
		return -err;
	}
	if (s->opts & PROTO_OPT_HARDLINKS)
		inode_add(s, f->dev, f->ino);
	return 0;
}

int store_link(struct store *s, const struct proto_entry *e)
{
	char parent[PROTO_PATH_MAX + 1], tparent[PROTO_PATH_MAX + 1], tmp[FSU_TMPNAME_MAX];
	const char *name = fsu_split(e->path, parent), *tname = NULL;
	int dfd, tfd = -1, rc;
	struct stat sb;

	s->changed = true;
	dfd = dcache_get(s, parent);
	if (dfd < 0)
		return dfd;
	if (e->kind == PROTO_KIND_HARDLINK) {
		/* The file it names must be one this transfer stored (and
		 * still is, at that name): never a file of DIR it did not
		 * write, never whatever a symlink points to. */
		tname = fsu_split(e->target, tparent);
		tfd = fsu_open_dir_beneath(s->rootfd, tparent, false);
		if (tfd < 0)
			return tfd == -ELOOP ? -ELOOP : -ENOENT;
		if (fstatat(tfd, tname, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode) ||
		    !inode_known(s, sb.st_dev, sb.st_ino)) {
			close(tfd);
			return -ENOENT;
		}
	}
	rc = fsu_tmp_link(dfd, tmp, e->kind == PROTO_KIND_SYMLINK ? e->target : NULL, tfd, tname);
	if (tfd >= 0)
		close(tfd);
	if (rc < 0)
		return rc;
	if (e->kind == PROTO_KIND_SYMLINK && (s->opts & PROTO_OPT_PRESERVE)) {
		struct timespec ts[2] = { { e->atime, e->atime_ns }, { e->mtime, e->mtime_ns } };

		utimensat(dfd, tmp, ts, AT_SYMLINK_NOFOLLOW);
	}
	if ((s->opts & PROTO_OPT_NOCLOBBER) ? renameat2(dfd, tmp, dfd, name, RENAME_NOREPLACE) < 0
					     : renameat(dfd, tmp, dfd, name) < 0) {
		rc = -errno;
		unlinkat(dfd, tmp, 0);
		return rc;
	}
	/* rename() of one name of a file onto another name of the same file
	 * does nothing: the temporary name would stay. */
	if (e->kind == PROTO_KIND_HARDLINK)
		unlinkat(dfd, tmp, 0);
	return 0;
}

void store_discard(struct store_file *f)
{
	if (f->pending)
		unlinkat(f->dirfd, f->tmp, 0);
	f->pending = false;
}

void store_abort(struct store_file *f)
{
	/* Complete files awaiting their rename stay as partials too: a
	 * --resume finds them whole and sends nothing. */
	if (f->pending && !f->partial)
		unlinkat(f->dirfd, f->tmp, 0);
	f->pending = false;
}

/* store_sync's set of directories already synced: prefixes of the batch's
 * paths (pointer and length, not copied), open addressing, FNV-1a. */
struct dirset {
	const char **p;
	size_t *len;
	size_t mask;
};

/* Add the prefix p[0..n) to ds; false if it was there already. */
static bool dirset_add(struct dirset *ds, const char *p, size_t n)
{
	uint64_t h = 14695981039346656037u;
	size_t i, k;

	for (i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 1099511628211u;
	for (k = (size_t)h & ds->mask;; k = (k + 1) & ds->mask) {
		if (ds->p[k] == NULL) {
			ds->p[k] = p;
			ds->len[k] = n;
			return true;
		}
		if (ds->len[k] == n && memcmp(ds->p[k], p, n) == 0)
			return false;
	}
}

int store_sync(struct store *s, const struct proto_batch *b)
{
	struct dirset ds = { 0 };
	size_t slots = 1, want = 1;
	unsigned i;
	int rc = 0;

	/* Nothing was created or written (--sync, -n, --update skipped it
	 * all, and its directories were there): nothing to make durable. */
	if (!s->changed)
		return 0;
	/* The batch's data went out with one syncfs: one more makes its
	 * renames and directories durable (see SYNCFS_MIN_FILES). */
	if (s->flushed && s->flush_err == 0)
		return syncfs(s->rootfd) < 0 ? -errno : 0;

	/* Each entry names at most one directory per component, DIR itself
	 * aside: the set is at most half full. */
	for (i = 0; i < b->count; i++) {
		const char *c;

		want++;
		for (c = b->e[i].path; (c = strchr(c, '/')) != NULL; c++)
			want++;
	}
	while (slots < 2 * want)
		slots *= 2;
	ds.mask = slots - 1;
	ds.p = calloc(slots, sizeof(*ds.p));
	ds.len = calloc(slots, sizeof(*ds.len));
	if (ds.p == NULL || ds.len == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	/* i == count: DIR itself.  Each directory is synced once; walking up
	 * from a directory stops at the first one already synced, whose
	 * ancestors are then synced too, so the work is linear in the paths'
	 * components. */
	for (i = 0; i <= b->count && rc == 0; i++) {
		const char *path = i < b->count ? b->e[i].path : "";
		size_t n = i < b->count ? b->e[i].path_len : 0;

		if (i < b->count && b->e[i].kind != PROTO_KIND_DIR) {
			const char *slash = memrchr(path, '/', n);

			n = slash ? (size_t)(slash - path) : 0;
		}
		for (;;) {
			char dir[PROTO_PATH_MAX + 1];
			const char *slash;
			int fd;

			if (!dirset_add(&ds, path, n))
				break;
			memcpy(dir, path, n);
			dir[n] = '\0';
			fd = fsu_open_dir_beneath(s->rootfd, dir, false);
			if (fd >= 0) {
				if (fsync(fd) < 0 && errno != EINVAL)
					rc = -errno;
				close(fd);
			}
			if (rc < 0 || n == 0)
				break;
			slash = memrchr(path, '/', n);
			n = slash ? (size_t)(slash - path) : 0;
		}
	}
out:
	free(ds.p);
	free(ds.len);
	return rc;
}
