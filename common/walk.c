/* walk: the source walker of the sender (see walk.h for what it promises).
 *
 * A stack of open directories, one per level below the argument being
 * walked; w->path holds the name of the entry in hand, each frame remembers
 * how long its directory's name is, so that going back up cuts w->path
 * there.  Every entry, top level or below, is opened by walk_open().
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "report.h"
#include "walk.h"

struct wframe {
	DIR *d;
	size_t plen;		/* strlen of this directory's name in w->path */
};

struct walk {
	char *const *args;
	int nargs, ai;
	bool recursive;
	const char *stdin_name;
	const char *target;
	struct wframe stack[PROTO_DEPTH_MAX];
	int depth;
	char path[PROTO_PATH_MAX + 1];
	bool have;		/* cur is produced and not yet taken */
	struct walk_entry cur;
	unsigned errors;
	enum kc_class first_class;
	bool links, safe_links, hard;
	struct hl *hl;		/* -H: files seen with more than one link */
	size_t hl_mask, hl_n;
};

/* -H: (device, inode) of a file with several links -> the first name it
 * was announced under; open addressing, grown at half full, bounded. */
struct hl {
	dev_t dev;
	ino_t ino;
	char *path;
};
#define HL_MAX (1u << 19)

static size_t hl_slot(const struct walk *w, dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)dev * 0x9e3779b97f4a7c15u) ^ ((uint64_t)ino * 0xc2b2ae3d27d4eb4fu);
	size_t k;

	for (k = (size_t)(h ^ (h >> 29)) & w->hl_mask;; k = (k + 1) & w->hl_mask)
		if (w->hl[k].path == NULL || (w->hl[k].dev == dev && w->hl[k].ino == ino))
			return k;
}

/* The earlier name of (dev, ino), or NULL after remembering path for it
 * (when there is room). */
static const char *hl_lookup(struct walk *w, dev_t dev, ino_t ino, const char *path)
{
	size_t k;

	if (w->hl_n + 1 > (w->hl_mask + 1) / 2) {
		size_t slots = w->hl_mask ? 2 * (w->hl_mask + 1) : 1024, i;
		struct hl *old = w->hl, *nw;
		size_t oldslots = w->hl_mask ? w->hl_mask + 1 : 0;

		if (w->hl_n >= HL_MAX || (nw = calloc(slots, sizeof(*nw))) == NULL)
			goto find;
		w->hl = nw;
		w->hl_mask = slots - 1;
		for (i = 0; i < oldslots; i++)
			if (old[i].path)
				w->hl[hl_slot(w, old[i].dev, old[i].ino)] = old[i];
		free(old);
	}
find:
	if (w->hl == NULL)
		return NULL;
	k = hl_slot(w, dev, ino);
	if (w->hl[k].path)
		return w->hl[k].path;
	if (w->hl_n + 1 > (w->hl_mask + 1) / 2 || (w->hl[k].path = strdup(path)) == NULL)
		return NULL;
	w->hl[k].dev = dev;
	w->hl[k].ino = ino;
	w->hl_n++;
	return NULL;
}

bool walk_link_safe(const char *t, size_t len, unsigned depth)
{
	size_t i = 0;
	long d = depth;

	if (len == 0 || t[0] == '/')
		return false;
	while (i < len) {
		size_t j = i;

		while (j < len && t[j] != '/')
			j++;
		if (j - i == 2 && t[i] == '.' && t[i + 1] == '.') {
			if (--d < 0)
				return false;
		} else if (j > i && !(j - i == 1 && t[i] == '.')) {
			d++;
		}
		i = j + 1;
	}
	return true;
}

void walk_set_links(struct walk *w, bool links, bool safe, bool hard)
{
	w->links = links;
	w->safe_links = safe;
	w->hard = hard;
}

static void walk_error(struct walk *w, enum kc_class cls, const char *name, const char *cause)
{
	report_entry_failed(name, cause);
	w->errors++;
	if (w->first_class == KC_OK)
		w->first_class = cls;
}

/* Why an entry could not be opened: below an argument (flags has
 * O_NOFOLLOW), a name readdir() just listed and that is gone has vanished
 * while the tree was walked (rsync's exit 24 case; ours is 6, as for any
 * source that cannot be read). */
static const char *walk_cause(int err, int flags)
{
	if (err == ENOENT && (flags & O_NOFOLLOW))
		return "vanished while the tree was walked";
	return strerror(err);
}

/* What a skipped entry is, in words. */
static const char *walk_kind_name(mode_t m)
{
	return S_ISLNK(m) ? "symbolic link" : S_ISFIFO(m) ? "FIFO" : S_ISSOCK(m) ? "socket"
	     : S_ISCHR(m) || S_ISBLK(m) ? "device" : "special file";
}

static void fill_stat(struct walk_entry *e, const struct stat *sb)
{
	e->mode = sb->st_mode & 07777;
	e->size = S_ISREG(sb->st_mode) ? (uint64_t)sb->st_size : 0;
	e->mtime = sb->st_mtim.tv_sec;
	e->mtime_ns = (uint32_t)sb->st_mtim.tv_nsec;
	e->atime = sb->st_atim.tv_sec;
	e->atime_ns = (uint32_t)sb->st_atim.tv_nsec;
	e->ctime = sb->st_ctim;
	e->dev = sb->st_dev;
	e->ino = sb->st_ino;
	e->nlink = sb->st_nlink;
	e->target[0] = '\0';
}

/* (walk.h) */
int walk_remote_name(const char *arg, char *out, size_t outsz)
{
	char buf[PATH_MAX], *end, *base;

	if (strlen(arg) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, arg);
	end = buf + strlen(buf);
	while (end > buf + 1 && end[-1] == '/')
		*--end = '\0';
	base = strrchr(buf, '/');
	base = base ? base + 1 : buf;
	if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0 || base[0] == '\0') {
		char real[PATH_MAX];

		if (realpath(arg, real) == NULL)
			return -errno;
		base = strrchr(real, '/');
		base = base ? base + 1 : real;
		if (base[0] == '\0')
			return -EINVAL;
		if (strlen(base) >= outsz)
			return -ENAMETOOLONG;
		strcpy(out, base);
		return 0;
	}
	if (strlen(base) >= outsz)
		return -ENAMETOOLONG;
	strcpy(out, base);
	return proto_path_check(out, strlen(out), NULL);
}

static int walk_push(struct walk *w, int dfd)
{
	DIR *d = fdopendir(dfd);

	if (d == NULL) {
		close(dfd);
		return -errno;
	}
	w->stack[w->depth].d = d;
	w->stack[w->depth].plen = strlen(w->path);
	w->depth++;
	return 0;
}

/* Open name (relative to at; flags adds O_NOFOLLOW below an argument), a
 * regular file or a directory as sb says, into w->cur under the name
 * w->path; a directory is pushed, to be read next.  A file's sb is
 * refreshed from its fd.  Returns true, or false when the entry is reported
 * and skipped (shown: the name in the message). */
static bool walk_open(struct walk *w, int at, const char *name, int flags, const char *shown,
		      struct stat *sb)
{
	struct walk_entry *e = &w->cur;
	int fd, rc;

	if (S_ISREG(sb->st_mode)) {
		fd = openat(at, name, O_RDONLY | O_CLOEXEC | flags);
		if (fd < 0 || fstat(fd, sb) < 0) {
			walk_error(w, KC_FILE, shown, walk_cause(errno, flags));
			if (fd >= 0)
				close(fd);
			return false;
		}
		e->kind = PROTO_KIND_FILE;
		e->fd = fd;
	} else {
		fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | flags);
		if (fd < 0 || (rc = walk_push(w, fd)) < 0) {
			walk_error(w, KC_FILE, shown, fd < 0 ? walk_cause(errno, flags) : strerror(-rc));
			return false;
		}
		e->kind = PROTO_KIND_DIR;
		e->fd = -1;
	}
	fill_stat(e, sb);
	strcpy(e->path, w->path);
	return true;
}

/* Standard input: a STREAM, size unknown, stamped now. */
static void walk_stdin(struct walk *w)
{
	struct walk_entry *e = &w->cur;
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	memset(e, 0, sizeof(*e));
	e->kind = PROTO_KIND_STREAM;
	e->fd = STDIN_FILENO;
	e->mode = 0644;
	e->mtime = e->atime = now.tv_sec;
	e->mtime_ns = e->atime_ns = (uint32_t)now.tv_nsec;
	snprintf(e->path, sizeof(e->path), "%s", w->stdin_name);
}

/* The next top-level argument into w->cur: true, or false when it was
 * reported and skipped. */
static bool walk_arg(struct walk *w, const char *arg)
{
	struct stat sb;

	if (strcmp(arg, "-") == 0) {
		walk_stdin(w);
		return true;
	}
	if (stat(arg, &sb) < 0) {
		walk_error(w, KC_FILE, arg, strerror(errno));
		return false;
	}
	if (walk_remote_name(arg, w->path, sizeof(w->path)) < 0) {
		walk_error(w, KC_USAGE, arg, "cannot send this path (name it by a directory below the root)");
		return false;
	}
	if (S_ISDIR(sb.st_mode) && !w->recursive) {
		walk_error(w, KC_FILE, arg, "is a directory (use -r to send it)");
		return false;
	}
	if (!S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode)) {
		walk_error(w, KC_FILE, arg, "not a regular file or directory");
		return false;
	}
	return walk_open(w, AT_FDCWD, arg, 0, arg, &sb);
}

/* -l: the symlink name in at (w->path) into w->cur: 1, or 0 when it is
 * skipped (--safe-links) or cannot be read (reported). */
static int walk_symlink(struct walk *w, int at, const char *name, const struct stat *sb)
{
	struct walk_entry *e = &w->cur;
	const char *c;
	unsigned depth = 0;
	ssize_t n;

	fill_stat(e, sb);
	n = readlinkat(at, name, e->target, sizeof(e->target));
	if (n < 0) {
		walk_error(w, KC_FILE, w->path, strerror(errno));
		return 0;
	}
	if (n == 0 || (size_t)n > PROTO_PATH_MAX) {
		walk_error(w, KC_FILE, w->path, "symbolic link target too long for the protocol");
		return 0;
	}
	/* Directories between the argument's root and the link (w->path is
	 * ARG/.../NAME: its slashes less one). */
	for (c = w->path; (c = strchr(c, '/')) != NULL; c++)
		depth++;
	depth = depth > 0 ? depth - 1 : 0;
	if (w->safe_links && !walk_link_safe(e->target, (size_t)n, depth)) {
		report_entry_skipped(w->path, "unsafe symbolic link (--safe-links)", true);
		return 0;
	}
	e->target[n] = '\0';
	e->kind = PROTO_KIND_SYMLINK;
	e->fd = -1;
	e->size = 0;
	e->mode = 0777;
	strcpy(e->path, w->path);
	return 1;
}

/* The next entry of the innermost open directory into w->cur: 1, 0 when
 * it was skipped, or -1 when that directory is done (and popped). */
static int walk_child(struct walk *w)
{
	struct wframe *f = &w->stack[w->depth - 1];
	struct dirent *de;
	struct stat sb;
	size_t nlen;

	errno = 0;
	de = readdir(f->d);
	if (de == NULL) {
		if (errno != 0)
			walk_error(w, KC_FILE, w->path, strerror(errno));
		closedir(f->d);
		w->depth--;
		w->path[w->depth > 0 ? w->stack[w->depth - 1].plen : 0] = '\0';
		return -1;
	}
	if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
		return 0;
	nlen = strlen(de->d_name);
	w->path[f->plen] = '\0';
	if (f->plen + 1 + nlen > PROTO_PATH_MAX || w->depth >= PROTO_DEPTH_MAX) {
		char full[PROTO_PATH_MAX + 300];

		snprintf(full, sizeof(full), "%s/%s", w->path, de->d_name);
		walk_error(w, KC_FILE, full, "path too long or too deep for the protocol");
		return 0;
	}
	w->path[f->plen] = '/';
	memcpy(w->path + f->plen + 1, de->d_name, nlen + 1);
	if (fstatat(dirfd(f->d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
		walk_error(w, KC_FILE, w->path, walk_cause(errno, O_NOFOLLOW));
		return 0;
	}
	if (S_ISLNK(sb.st_mode) && w->links)
		return walk_symlink(w, dirfd(f->d), de->d_name, &sb);
	if (!S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode)) {
		/* Like rsync without -l: links and special files are not
		 * followed or copied, and that is not an error. */
		report_entry_skipped(w->path, walk_kind_name(sb.st_mode), true);
		return 0;
	}
	return walk_open(w, dirfd(f->d), de->d_name, O_NOFOLLOW, w->path, &sb) ? 1 : 0;
}

/* --target: put the entry's name under the target directory.  false when
 * the whole name is not a valid protocol path (reported; fd closed). */
static bool walk_under_target(struct walk *w)
{
	struct walk_entry *e = &w->cur;
	char full[PROTO_PATH_MAX + 2];
	int n;

	if (w->target == NULL)
		return true;
	n = snprintf(full, sizeof(full), "%s/%s", w->target, e->path);
	if (n < 0 || n > PROTO_PATH_MAX || proto_path_check(full, (size_t)n, NULL) < 0) {
		walk_error(w, KC_FILE, e->path, "path too long or too deep under --target");
		if (e->fd > STDIN_FILENO)
			close(e->fd);
		return false;
	}
	memcpy(e->path, full, (size_t)n + 1);
	return true;
}

const struct walk_entry *walk_peek(struct walk *w)
{
	while (!w->have) {
		bool got;

		if (w->depth > 0) {
			got = walk_child(w) == 1;
		} else if (w->ai < w->nargs) {
			got = walk_arg(w, w->args[w->ai++]);
		} else {
			return NULL;
		}
		w->have = got && walk_under_target(w);
		if (w->have && w->hard && w->cur.kind == PROTO_KIND_FILE && w->cur.nlink > 1) {
			const char *first = hl_lookup(w, w->cur.dev, w->cur.ino, w->cur.path);

			if (first) {
				/* Another name of a file already announced. */
				close(w->cur.fd);
				w->cur.fd = -1;
				w->cur.kind = PROTO_KIND_HARDLINK;
				w->cur.size = 0;
				strcpy(w->cur.target, first);
			}
		}
	}
	return &w->cur;
}

void walk_take(struct walk *w)
{
	w->have = false;
}

struct walk *walk_new(char *const *args, int nargs, bool recursive, const char *stdin_name,
		      const char *target)
{
	struct walk *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->args = args;
	w->nargs = nargs;
	w->recursive = recursive;
	w->stdin_name = stdin_name;
	w->target = target;
	w->first_class = KC_OK;
	return w;
}

unsigned walk_errors(const struct walk *w, enum kc_class *cls)
{
	*cls = w->first_class;
	return w->errors;
}

void walk_free(struct walk *w)
{
	if (w == NULL)
		return;
	while (w->depth > 0)
		closedir(w->stack[--w->depth].d);
	if (w->have && w->cur.fd > STDIN_FILENO)
		close(w->cur.fd);
	for (size_t i = 0; w->hl && i <= w->hl_mask; i++)
		free(w->hl[i].path);
	free(w->hl);
	free(w);
}
