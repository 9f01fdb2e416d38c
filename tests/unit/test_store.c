/* Unit tests of the receiver's durable store, without a socket: planted
 * symlinks and hard links are refused, partials are reused only when they
 * are the one offered, a swapped temporary file is not renamed, the -n and
 * --update policy holds, a discarded or failed body leaves nothing, and
 * nothing is written outside DIR. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "tap.h"

static char root[] = "/tmp/ktlscp-store-XXXXXX", outside[] = "/tmp/ktlscp-sout-XXXXXX";
static int rfd;
/* Files of a batch that store.c flushes together (its SYNCFS_MIN_FILES). */
#define SYNCFS_FILES 16

static struct store_mark mark;	/* what store_offer() last offered */

static struct proto_entry entry(uint8_t kind, const char *path, uint64_t size, uint32_t mode,
				int64_t mtime)
{
	struct proto_entry e = { 0 };

	e.kind = kind;
	e.path = path;
	e.path_len = (uint16_t)strlen(path);
	e.size = size;
	e.mode = mode;
	e.mtime = e.atime = mtime;
	return e;
}

/* Read a file beneath root into buf; its length, or -1. */
static int slurp(const char *rel, char *buf, size_t len)
{
	int fd = openat(rfd, rel, O_RDONLY | O_NOFOLLOW);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return (int)n;
}

/* Files in a directory beneath root whose names start with the temporary
 * prefix. */
static int count_tmp(const char *rel)
{
	int fd = openat(rfd, rel, O_RDONLY | O_DIRECTORY);
	struct dirent *de;
	DIR *d;
	int n = 0;

	if (fd < 0 || (d = fdopendir(fd)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += strncmp(de->d_name, FSU_TMP_PREFIX, strlen(FSU_TMP_PREFIX)) == 0;
	closedir(d);
	return n;
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

/* Open, write text, close: the store_close() result. */
static int write_body(struct store *s, const struct proto_entry *e, uint64_t start,
		      const char *text, struct store_file *f)
{
	int rc = store_open(s, e, start, &mark, NULL, f);

	if (rc < 0)
		return rc;
	if (write(f->fd, text, strlen(text)) != (ssize_t)strlen(text))
		return -EIO;
	return store_close(s, e, f, 0);
}

int main(void)
{
	char buf[64], victim[300];
	struct store_file f;
	struct proto_entry e;
	struct store *s;
	struct stat sb;
	uint8_t reason, hash[PROTO_HASH_LEN], want[PROTO_HASH_LEN];

	umask(022);
	ok(mkdtemp(root) != NULL && mkdtemp(outside) != NULL, "temp dirs");
	rfd = open(root, O_RDONLY | O_DIRECTORY);
	snprintf(victim, sizeof(victim), "%s/victim", outside);
	{
		FILE *v = fopen(victim, "w");

		ok(v && fputs("keep", v) >= 0 && fclose(v) == 0, "a file outside DIR");
	}
	ok(symlinkat(outside, rfd, "evil") == 0, "plant a symlink to outside as a directory");

	/* A file: never under its final name before close, then committed. */
	s = store_new(rfd, 0);
	ok(s != NULL, "store_new");
	e = entry(PROTO_KIND_FILE, "d/f.txt", 5, 0666, 1000000000);
	ok(store_open(s, &e, 0, NULL, NULL, &f) == 0 && f.fd >= 0 && f.partial, "a file opens its partial");
	ok(write(f.fd, "hello", 5) == 5, "write the body");
	ok(faccessat(rfd, "d/f.txt", F_OK, AT_SYMLINK_NOFOLLOW) < 0, "no final name while it is written");
	ok(store_close(s, &e, &f, 0) == 0 && f.pending && f.fd < 0, "close: pending");
	ok(faccessat(rfd, "d/f.txt", F_OK, AT_SYMLINK_NOFOLLOW) < 0, "no final name before commit");
	ok(store_commit(s, &e, &f) == 0 && !f.pending, "commit");
	ok(slurp("d/f.txt", buf, sizeof(buf)) == 5 && strcmp(buf, "hello") == 0, "the final name has the body");
	ok(fstatat(rfd, "d/f.txt", &sb, 0) == 0 && (sb.st_mode & 07777) == 0644,
	   "without -p: the sender's bits less the umask");
	ok(count_tmp("d") == 0, "no partial is left after commit");
	{
		static struct proto_batch b;

		b.count = 2;
		b.e[0] = entry(PROTO_KIND_DIR, "d", 0, 0755, 0);
		b.e[1] = entry(PROTO_KIND_FILE, "d/f.txt", 5, 0644, 0);
		ok(store_sync(s, &b) == 0, "store_sync of a batch's directories");
	}

	/* Planted links under the partial's name are never written through. */
	e = entry(PROTO_KIND_FILE, "d/g", 4, 0644, 0);
	ok(store_open(s, &e, 0, NULL, NULL, &f) == 0, "open the partial of d/g");
	{
		char tmp[FSU_TMPNAME_MAX];
		char dpath[300];

		memcpy(tmp, f.tmp, sizeof(tmp));
		ok(store_cut(&f) == true && f.fd < 0, "a cut file keeps its partial");
		ok(unlinkat(f.dirfd, tmp, 0) == 0, "remove it");
		snprintf(dpath, sizeof(dpath), "%s/d/%s", root, tmp);
		ok(link(victim, dpath) == 0, "plant a hard link to outside as the partial");
		ok(store_open(s, &e, 0, NULL, NULL, &f) == -EMLINK && f.fd < 0, "a hard-linked partial is refused (EMLINK)");
		ok(store_offer(s, &e, hash, &mark) == 0, "and not offered for --resume");
		ok(unlink(dpath) == 0 && symlink(victim, dpath) == 0, "plant a symlink as the partial");
		ok(store_open(s, &e, 0, NULL, NULL, &f) < 0 && f.fd < 0, "a symlinked partial is refused");
		ok(store_offer(s, &e, hash, &mark) == 0, "and not offered");
		unlink(dpath);
	}
	ok(stat(victim, &sb) == 0 && sb.st_size == 4 && sb.st_nlink == 1, "the file outside is untouched");

	/* Nothing through a symlinked directory. */
	e = entry(PROTO_KIND_STREAM, "evil/x", 0, 0644, 0);
	ok(store_open(s, &e, 0, NULL, NULL, &f) < 0 && f.fd < 0, "a stream under a symlinked directory is refused");
	e = entry(PROTO_KIND_DIR, "evil/sub", 0, 0755, 0);
	ok(store_mkdir(s, &e) < 0, "a directory under a symlinked directory is refused");
	e = entry(PROTO_KIND_FILE, "evil/y", 1, 0644, 0);
	ok(store_offer(s, &e, hash, &mark) == 0 && store_policy(s, &e, NULL, &reason) == PROTO_ACCEPT,
	   "offer and policy do not look through it");
	ok(count_entries(outside) == 1, "nothing was created outside DIR");

	/* Streams: a failed or discarded body leaves nothing. */
	e = entry(PROTO_KIND_STREAM, "d/s", 0, 0644, 0);
	ok(write_body(s, &e, 0, "stream", &f) == 0 && f.pending && !f.partial, "a stream body is pending");
	store_discard(&f);
	ok(!f.pending && count_tmp("d") == 0 && faccessat(rfd, "d/s", F_OK, 0) < 0, "discard leaves nothing");
	ok(store_open(s, &e, 0, NULL, NULL, &f) == 0, "open a stream again");
	ok(store_close(s, &e, &f, EIO) == -EIO && !f.pending && count_tmp("d") == 0,
	   "a write error at close removes the temporary file");
	ok(write_body(s, &e, 0, "stream", &f) == 0, "a complete stream");
	store_abort(&f);
	ok(count_tmp("d") == 0, "an aborted transfer removes a pending stream");
	ok(store_open(s, &e, 0, NULL, NULL, &f) == 0 && store_cut(&f) == false && count_tmp("d") == 0,
	   "a stream cut off leaves nothing");
	e = entry(PROTO_KIND_FILE, "d/h", 3, 0644, 0);
	ok(write_body(s, &e, 0, "abc", &f) == 0, "a complete file");
	store_abort(&f);
	ok(count_tmp("d") == 1 && faccessat(rfd, "d/h", F_OK, 0) < 0,
	   "an aborted transfer keeps a pending file as its partial, not under its name");
	store_free(s);

	/* --resume: the partial is offered, its prefix kept, the body appended. */
	s = store_new(rfd, PROTO_OPT_RESUME);
	e = entry(PROTO_KIND_FILE, "d/r", 5, 0644, 0);
	ok(store_open(s, &e, 0, NULL, NULL, &f) == 0 && write(f.fd, "hel", 3) == 3 && store_cut(&f),
	   "a partial of three bytes");
	gnutls_hash_fast(GNUTLS_DIG_SHA256, "hel", 3, want);
	ok(store_offer(s, &e, hash, &mark) == 3 && memcmp(hash, want, sizeof(want)) == 0,
	   "offered: its length and the SHA-256 of its bytes");
	{
		struct proto_entry shorter = entry(PROTO_KIND_FILE, "d/r", 2, 0644, 0);

		ok(store_offer(s, &shorter, hash, &mark) == 0, "a partial longer than the file is not offered");
	}
	ok(write_body(s, &e, 3, "lo", &f) == 0 && store_commit(s, &e, &f) == 0, "resume at byte 3");
	ok(slurp("d/r", buf, sizeof(buf)) == 5 && strcmp(buf, "hello") == 0, "prefix kept, rest appended");
	ok(store_open(s, &e, 0, NULL, NULL, &f) == 0 && write(f.fd, "xyz", 3) == 3 && store_cut(&f), "another partial");
	ok(store_offer(s, &e, hash, &mark) == 3, "offered");
	ok(write_body(s, &e, 1, "ELLO", &f) == 0 && store_commit(s, &e, &f) == 0, "resume at byte 1");
	ok(slurp("d/r", buf, sizeof(buf)) == 5 && strcmp(buf, "xELLO") == 0, "the partial is cut to where the body starts");
	{
		struct store_file g;

		ok(store_open(s, &e, 0, NULL, NULL, &f) == 0, "a partial open by one receiver");
		ok(store_open(s, &e, 0, NULL, NULL, &g) == -EBUSY && g.fd < 0, "is refused to a second (EBUSY)");
		store_close(s, &e, &f, EIO);
	}
	{
		char tmp[FSU_TMPNAME_MAX], rel[80];
		int fd;

		/* The partial resumed is the one offered: another file put in
		 * its place since (another inode) is not appended to. */
		e = entry(PROTO_KIND_FILE, "d/q", 5, 0644, 0);
		ok(store_open(s, &e, 0, NULL, NULL, &f) == 0 && write(f.fd, "abc", 3) == 3 && store_cut(&f),
		   "a partial of d/q");
		ok(store_offer(s, &e, hash, &mark) == 3, "offered");
		memcpy(tmp, f.tmp, sizeof(tmp));
		snprintf(rel, sizeof(rel), "d/%s", tmp);
		fd = openat(rfd, "d/q.new", O_WRONLY | O_CREAT | O_EXCL, 0600);
		ok(fd >= 0 && write(fd, "abc", 3) == 3 && close(fd) == 0 && renameat(rfd, "d/q.new", rfd, rel) == 0,
		   "replace it with a copy");
		ok(store_open(s, &e, 3, &mark, NULL, &f) == -ESTALE, "the copy is not resumed (ESTALE)");
		store_close(s, &e, &f, ESTALE);
		ok(faccessat(rfd, rel, F_OK, 0) < 0 || unlinkat(rfd, rel, 0) == 0, "clean up");

		/* What is renamed into place is the file written: a file
		 * swapped in under the temporary name is left alone. */
		ok(write_body(s, &e, 0, "hello", &f) == 0 && f.pending, "a pending file");
		fd = openat(rfd, "d/q.new", O_WRONLY | O_CREAT | O_EXCL, 0600);
		ok(fd >= 0 && write(fd, "bad", 3) == 3 && close(fd) == 0 && renameat(rfd, "d/q.new", rfd, rel) == 0,
		   "another file swapped in under its temporary name");
		ok(store_commit(s, &e, &f) == -ESTALE && faccessat(rfd, "d/q", F_OK, 0) < 0,
		   "commit refuses it (ESTALE), nothing under the final name");
		ok(slurp(rel, buf, sizeof(buf)) == 3 && strcmp(buf, "bad") == 0 && unlinkat(rfd, rel, 0) == 0,
		   "and leaves the swapped-in file alone");
	}
	ok(store_name_reserved(".ktlscp-0123456789abcdef.part", 29) &&
	   store_name_reserved("a/.ktlscp-x.part/b", 18) && !store_name_reserved("a/.ktlscp-x.partial", 19) &&
	   !store_name_reserved("ktlscp-x.part", 13) && !store_name_reserved(".ktlscp-.par", 12),
	   "the reserved form is found in any component, and only it");
	store_free(s);

	/* -n: existing names are kept, even one that appears before commit. */
	s = store_new(rfd, PROTO_OPT_NOCLOBBER);
	e = entry(PROTO_KIND_FILE, "d/f.txt", 3, 0644, 0);
	ok(store_policy(s, &e, NULL, &reason) == PROTO_SKIP && reason == PR_EXISTS, "-n skips an existing file");
	e = entry(PROTO_KIND_FILE, "d/new", 3, 0644, 0);
	ok(store_policy(s, &e, NULL, &reason) == PROTO_ACCEPT, "-n accepts a new name");
	e = entry(PROTO_KIND_FILE, "new-dir/new", 3, 0644, 0);
	ok(store_policy(s, &e, NULL, &reason) == PROTO_ACCEPT, "-n accepts a name in a new directory");
	e = entry(PROTO_KIND_FILE, "d/f.txt", 3, 0644, 0);
	ok(write_body(s, &e, 0, "new", &f) == 0 && store_commit(s, &e, &f) == -EEXIST,
	   "-n: commit does not replace a name that exists");
	ok(slurp("d/f.txt", buf, sizeof(buf)) == 5 && strcmp(buf, "hello") == 0 && count_tmp("d") == 1,
	   "the old file is kept and the new body removed (only d/h's partial is left)");
	store_free(s);

	/* --update: replace only an older copy, to the nanosecond. */
	s = store_new(rfd, PROTO_OPT_UPDATE);
	{
		struct timespec ts[2] = { { 2000000000, 500 }, { 2000000000, 500 } };

		utimensat(rfd, "d/f.txt", ts, 0);
	}
	e = entry(PROTO_KIND_FILE, "d/f.txt", 3, 0644, 2000000000);
	e.mtime_ns = 499;
	ok(store_policy(s, &e, NULL, &reason) == PROTO_SKIP && reason == PR_OK, "--update skips when ours is newer");
	e.mtime_ns = 500;
	ok(store_policy(s, &e, NULL, &reason) == PROTO_SKIP, "--update skips the same mtime");
	e.mtime_ns = 501;
	ok(store_policy(s, &e, NULL, &reason) == PROTO_ACCEPT, "--update replaces an older copy");
	ok(write_body(s, &e, 0, "upd", &f) == 0 && store_commit(s, &e, &f) == 0 &&
	   slurp("d/f.txt", buf, sizeof(buf)) == 3 && strcmp(buf, "upd") == 0, "and the commit replaces it");
	store_free(s);

	/* --sync: keep a regular file of the same size and mtime (a time
	 * here with no nanoseconds matches any), replace anything else, older
	 * or newer; a stored file gets the sender's mtime. */
	s = store_new(rfd, PROTO_OPT_SYNC);
	{
		struct timespec ts[2] = { { 2000000000, 500 }, { 2000000000, 500 } };

		utimensat(rfd, "d/f.txt", ts, 0);
	}
	e = entry(PROTO_KIND_FILE, "d/f.txt", 3, 0644, 2000000000);
	e.mtime_ns = 500;
	ok(store_policy(s, &e, NULL, &reason) == PROTO_SKIP && reason == PR_UNCHANGED,
	   "--sync skips the same size and mtime");
	e.mtime_ns = 501;
	ok(store_policy(s, &e, NULL, &reason) == PROTO_ACCEPT, "--sync sends another nanosecond");
	e.mtime_ns = 499;
	ok(store_policy(s, &e, NULL, &reason) == PROTO_ACCEPT, "--sync replaces a newer copy too");
	e.mtime_ns = 500;
	e.size = 4;
	ok(store_policy(s, &e, NULL, &reason) == PROTO_ACCEPT, "--sync sends another size");
	ok(fstatat(rfd, "d", &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode), "d is a directory here");
	e = entry(PROTO_KIND_FILE, "d", (uint64_t)sb.st_size, 0644, sb.st_mtim.tv_sec);
	e.mtime_ns = (uint32_t)sb.st_mtim.tv_nsec;
	ok(store_policy(s, &e, NULL, &reason) == PROTO_ACCEPT, "--sync: a directory of that size and mtime is not a match");
	{
		struct timespec ts[2] = { { 2000000000, 0 }, { 2000000000, 0 } };

		utimensat(rfd, "d/f.txt", ts, 0);
	}
	e = entry(PROTO_KIND_FILE, "d/f.txt", 3, 0644, 2000000000);
	e.mtime_ns = 123456789;
	ok(store_policy(s, &e, NULL, &reason) == PROTO_SKIP && reason == PR_UNCHANGED,
	   "--sync: whole seconds here match any nanoseconds");
	e.mtime = 2000000001;
	ok(store_policy(s, &e, NULL, &reason) == PROTO_ACCEPT, "but not another second");
	e = entry(PROTO_KIND_FILE, "d/s", 1, 0666, 1500000000);
	e.mtime_ns = 42;
	ok(write_body(s, &e, 0, "s", &f) == 0 && store_commit(s, &e, &f) == 0 && fstatat(rfd, "d/s", &sb, 0) == 0 &&
	   sb.st_mtim.tv_sec == 1500000000 && sb.st_mtim.tv_nsec == 42 && (sb.st_mode & 0777) == 0644,
	   "--sync: a stored file has the sender's mtime, and the umask's mode");
	ok(store_policy(s, &e, NULL, &reason) == PROTO_SKIP, "and matches the next time");
	store_free(s);

	/* --checksum: size and SHA-256, whatever the mtime; no sum, no match. */
	s = store_new(rfd, PROTO_OPT_SYNC | PROTO_OPT_CHECKSUM);
	{
		uint8_t sum[PROTO_HASH_LEN], other[PROTO_HASH_LEN] = { 0 };

		gnutls_hash_fast(GNUTLS_DIG_SHA256, "s", 1, sum);
		e = entry(PROTO_KIND_FILE, "d/s", 1, 0644, 1);
		ok(store_policy(s, &e, sum, &reason) == PROTO_SKIP && reason == PR_UNCHANGED,
		   "--checksum skips the same content under another mtime");
		ok(store_policy(s, &e, other, &reason) == PROTO_ACCEPT, "--checksum sends other content");
		ok(store_policy(s, &e, NULL, &reason) == PROTO_ACCEPT, "--checksum without a sum sends it");
		e.size = 2;
		ok(store_policy(s, &e, sum, &reason) == PROTO_ACCEPT, "--checksum sends another size");
	}
	store_free(s);

	/* -p: exact bits but never setuid, times on files; directories last. */
	s = store_new(rfd, PROTO_OPT_PRESERVE);
	e = entry(PROTO_KIND_FILE, "d/p", 1, 04751, 1234567890);
	ok(write_body(s, &e, 0, "p", &f) == 0 && store_commit(s, &e, &f) == 0, "a file with -p");
	ok(fstatat(rfd, "d/p", &sb, 0) == 0 && (sb.st_mode & 07777) == 0751 && sb.st_mtim.tv_sec == 1234567890,
	   "-p: exact permission bits without setuid, and the mtime");
	e = entry(PROTO_KIND_DIR, "pd", 0, 0500, 1111111111);
	ok(store_mkdir(s, &e) == 0 && fstatat(rfd, "pd", &sb, 0) == 0 && S_ISDIR(sb.st_mode), "a directory");
	e = entry(PROTO_KIND_FILE, "pd/inner", 1, 0644, 0);
	ok(write_body(s, &e, 0, "i", &f) == 0 && store_commit(s, &e, &f) == 0, "a file written into it");
	store_dir_times(s);
	ok(fstatat(rfd, "pd", &sb, 0) == 0 && (sb.st_mode & 07777) == 0500 && sb.st_mtim.tv_sec == 1111111111,
	   "its mode and mtime are set at the end");
	ok(fchmodat(rfd, "pd", 0755, 0) == 0, "made writable again for cleanup");
	store_free(s);

	/* -p and what was there: an existing directory keeps its mode and
	 * times; others' write access only with the sticky bit. */
	s = store_new(rfd, PROTO_OPT_PRESERVE);
	ok(mkdirat(rfd, "mine", 0700) == 0 && fchmodat(rfd, "mine", 0700, 0) == 0, "a directory of the operator's");
	e = entry(PROTO_KIND_DIR, "mine", 0, 0777, 946684800);
	ok(store_mkdir(s, &e) == 0, "named by the sender");
	e = entry(PROTO_KIND_DIR, "mine/ww", 0, 0777, 946684800);
	ok(store_mkdir(s, &e) == 0, "a new world-writable directory");
	e = entry(PROTO_KIND_DIR, "mine/sticky", 0, 01777, 946684800);
	ok(store_mkdir(s, &e) == 0, "a new sticky one");
	e = entry(PROTO_KIND_FILE, "mine/f", 1, 0666, 0);
	ok(write_body(s, &e, 0, "f", &f) == 0 && store_commit(s, &e, &f) == 0, "a world-writable file");
	store_dir_times(s);
	ok(fstatat(rfd, "mine", &sb, 0) == 0 && (sb.st_mode & 07777) == 0700 && sb.st_mtim.tv_sec != 946684800,
	   "the existing directory keeps its mode and times");
	ok(fstatat(rfd, "mine/ww", &sb, 0) == 0 && (sb.st_mode & 07777) == 0775 && sb.st_mtim.tv_sec == 946684800,
	   "a new one gets the sender's, without others' write");
	ok(fstatat(rfd, "mine/sticky", &sb, 0) == 0 && (sb.st_mode & 07777) == 01777, "a sticky one keeps 1777");
	ok(fstatat(rfd, "mine/f", &sb, 0) == 0 && (sb.st_mode & 07777) == 0664, "a file never others' write");
	store_free(s);

	/* A batch of many small files: closed without fdatasync, their data
	 * flushed together before the first rename, the names after. */
	s = store_new(rfd, 0);
	{
		static struct proto_batch b;
		static struct store_file fs[SYNCFS_FILES];
		static char names[SYNCFS_FILES][16];
		int i, good = 1;

		b.count = SYNCFS_FILES;
		for (i = 0; i < SYNCFS_FILES; i++) {
			snprintf(names[i], sizeof(names[i]), "sb/f%02d", i);
			b.e[i] = entry(PROTO_KIND_FILE, names[i], 2, 0644, 0);
		}
		store_batch_begin(s, &b);
		for (i = 0; i < SYNCFS_FILES; i++)
			good &= write_body(s, &b.e[i], 0, "sb", &fs[i]) == 0 && fs[i].unsynced && fs[i].pending;
		ok(good, "a batch of small files is closed unsynced");
		for (i = 0; i < SYNCFS_FILES; i++)
			good &= store_commit(s, &b.e[i], &fs[i]) == 0;
		ok(good && store_sync(s, &b) == 0, "committed (one syncfs first) and synced");
		for (i = 0; i < SYNCFS_FILES; i++)
			good &= slurp(names[i], buf, sizeof(buf)) == 2;
		ok(good && count_tmp("sb") == 0, "every file under its name, no temporary left");
		store_batch_done(s);
		e = entry(PROTO_KIND_FILE, "sb/alone", 2, 0644, 0);
		ok(write_body(s, &e, 0, "sb", &f) == 0 && !f.unsynced && store_commit(s, &e, &f) == 0,
		   "the next batch, one file, is flushed by itself");
	}
	store_free(s);

	ok(count_entries(outside) == 1 && stat(victim, &sb) == 0 && sb.st_size == 4, "still nothing outside DIR");
	close(rfd);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s %s", root, outside);
		ok(system(cmd) == 0, "cleanup");
	}
	return tap_done();
}
