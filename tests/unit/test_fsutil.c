/* Unit tests of confined directory opening, temp files and hashing a file. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "tap.h"

int main(void)
{
	char root[] = "/tmp/ktlscp-fsu-XXXXXX", outside[] = "/tmp/ktlscp-out-XXXXXX";
	char parent[64], tmp[FSU_TMPNAME_MAX];
	const char *last;
	struct stat sb;
	int rfd, fd;

	ok(mkdtemp(root) != NULL && mkdtemp(outside) != NULL, "temp dirs");
	rfd = open(root, O_RDONLY | O_DIRECTORY);
	fd = fsu_open_dir_beneath(rfd, "a/b/c", true);
	ok(fd >= 0, "nested directories are created");
	close(fd);
	ok(fstatat(rfd, "a/b/c", &sb, 0) == 0 && S_ISDIR(sb.st_mode), "a/b/c exists");
	fd = fsu_open_dir_beneath(rfd, "a/b", false);
	ok(fd >= 0, "existing directory opens without create");
	close(fd);
	ok(fsu_open_dir_beneath(rfd, "nope", false) == -ENOENT, "missing directory without create");

	ok(symlinkat(outside, rfd, "evil") == 0, "plant a symlink to outside");
	fd = fsu_open_dir_beneath(rfd, "evil", true);
	ok(fd < 0, "a symlinked directory is not followed (%d)", fd);
	fd = fsu_open_dir_beneath(rfd, "evil/sub", true);
	ok(fd < 0, "nor a path through it (%d)", fd);
	ok(fstatat(AT_FDCWD, outside, &sb, 0) == 0 && sb.st_nlink == 2, "nothing created outside");
	ok(symlinkat("/", rfd, "a/up") == 0, "plant a deeper symlink");
	fd = fsu_open_dir_beneath(rfd, "a/up/tmp", true);
	ok(fd < 0, "deeper symlink is not followed either");

	ok(mkdirat(rfd, "file-not-dir", 0700) == 0 || 1, "setup");
	fd = openat(rfd, "plainfile", O_CREAT | O_WRONLY, 0600);
	close(fd);
	ok(fsu_open_dir_beneath(rfd, "plainfile/x", true) == -ENOTDIR, "a file as a directory: ENOTDIR");

	last = fsu_split("a/b/c.txt", parent);
	ok(strcmp(parent, "a/b") == 0 && strcmp(last, "c.txt") == 0, "split a/b/c.txt");
	last = fsu_split("top", parent);
	ok(parent[0] == '\0' && strcmp(last, "top") == 0, "split top");

	fd = fsu_tmp_create(rfd, tmp);
	ok(fd >= 0 && strncmp(tmp, FSU_TMP_PREFIX, strlen(FSU_TMP_PREFIX)) == 0, "temp file %s", tmp);
	ok(fstat(fd, &sb) == 0 && (sb.st_mode & 0777) == 0600, "temp file mode 0600");
	{
		uint8_t got[32], want[32];
		int rd;

		ok(fsu_write_all(fd, "abcdef", 6) == 0, "write_all");
		rd = openat(rfd, tmp, O_RDONLY);
		gnutls_hash_fast(GNUTLS_DIG_SHA256, "abcd", 4, want);
		ok(fsu_hash_prefix(rd, 4, got) == 0 && memcmp(got, want, 32) == 0, "hash of a file's prefix");
		ok(fsu_hash_prefix(rd, 7, got) == -EIO, "a prefix longer than the file: -EIO");
		close(rd);
	}
	close(fd);
	unlinkat(rfd, tmp, 0);
	close(rfd);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s %s", root, outside);
		ok(system(cmd) == 0, "cleanup");
	}
	return tap_done();
}
