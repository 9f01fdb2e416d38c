/* fsutil: confined directory walks, temporary files, small I/O helpers. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "diag.h"
#include "fsutil.h"

static int openat2_dir(int rootfd, const char *dir)
{
#ifdef SYS_openat2
	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, rootfd, dir, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
#else
	(void)rootfd;
	(void)dir;
	return -ENOSYS;
#endif
}

bool fsu_have_openat2(void)
{
	int fd = openat2_dir(AT_FDCWD, ".");

	if (fd < 0)
		return fd != -ENOSYS && fd != -EPERM;
	close(fd);
	return true;
}

/* The portable walk: one component at a time, O_NOFOLLOW at each step, so no
 * symlink is ever traversed.  Components are known to be neither "." nor "..". */
static int walk_dir(int rootfd, const char *dir, bool create)
{
	char comp[256];
	const char *p = dir;
	int cur = dup(rootfd);

	if (cur < 0)
		return -errno;
	while (*p != '\0') {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		int next;

		if (n == 0 || n >= sizeof(comp)) {
			close(cur);
			return -EINVAL;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create) {
			if (mkdirat(cur, comp, 0777) < 0 && errno != EEXIST) {
				int e = errno;

				close(cur);
				return -e;
			}
			next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			int e = errno;

			close(cur);
			return -e;
		}
		close(cur);
		cur = next;
		p += n;
		if (*p == '/')
			p++;
	}
	return cur;
}

int fsu_open_dir_beneath(int rootfd, const char *dir, bool create)
{
	int fd;

	if (dir[0] == '\0') {
		fd = dup(rootfd);
		return fd < 0 ? -errno : fd;
	}
	fd = openat2_dir(rootfd, dir);
	if (fd >= 0)
		return fd;
	if (fd == -ENOSYS || fd == -EPERM /* seccomp filters */ || (fd == -ENOENT && create))
		return walk_dir(rootfd, dir, create);
	return fd;
}

const char *fsu_split(const char *path, char *parent)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL) {
		parent[0] = '\0';
		return path;
	}
	memcpy(parent, path, (size_t)(slash - path));
	parent[slash - path] = '\0';
	return slash + 1;
}

/* Fill buf with len random bytes (getrandom); 0 or -errno. */
static int fsu_random(void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A fresh random temporary name into name: 0 or -EIO. */
static int tmp_name(char *name)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[8];
	char rnd[17];
	int i;

	if (fsu_random(r, sizeof(r)) < 0)
		return -EIO;
	for (i = 0; i < 8; i++) {
		rnd[2 * i] = hex[r[i] >> 4];
		rnd[2 * i + 1] = hex[r[i] & 15];
	}
	rnd[16] = '\0';
	snprintf(name, FSU_TMPNAME_MAX, FSU_TMP_PREFIX "%s" FSU_TMP_SUFFIX, rnd);
	return 0;
}

int fsu_tmp_create(int dirfd, char *name)
{
	int tries;

	for (tries = 0; tries < 16; tries++) {
		int fd;

		if (tmp_name(name) < 0)
			return -EIO;
		fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

int fsu_tmp_link(int dirfd, char *name, const char *symtarget, int olddirfd, const char *oldname)
{
	int tries;

	for (tries = 0; tries < 16; tries++) {
		if (tmp_name(name) < 0)
			return -EIO;
		/* Neither follows a symlink: symlinkat makes one, linkat
		 * without AT_SYMLINK_FOLLOW links the name itself. */
		if ((symtarget ? symlinkat(symtarget, dirfd, name) : linkat(olddirfd, oldname, dirfd, name, 0)) == 0)
			return 0;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

int fsu_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fsu_hash_range(int fd, uint64_t off, uint64_t len, gnutls_hash_hd_t h)
{
	static uint8_t buf[256 * 1024];
	uint64_t end = off + len;

	while (off < end) {
		size_t want = end - off > sizeof(buf) ? sizeof(buf) : (size_t)(end - off);
		ssize_t n = pread(fd, buf, want, (off_t)off);

		if (n < 0 && errno == EINTR && !kc_interrupted)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		gnutls_hash(h, buf, (size_t)n);
		off += (uint64_t)n;
	}
	return 0;
}

int fsu_hash_prefix(int fd, uint64_t len, uint8_t *out)
{
	gnutls_hash_hd_t h;
	int rc;

	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
		return -ENOMEM;
	rc = fsu_hash_range(fd, 0, len, h);
	gnutls_hash_deinit(h, rc == 0 ? out : NULL);
	return rc;
}

int fsu_mkdir_p(const char *dir, mode_t mode)
{
	char buf[4096];
	size_t i, n = strlen(dir);

	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, dir, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		buf[i] = i < n ? '/' : '\0';
	}
	return 0;
}
