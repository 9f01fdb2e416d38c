/* trustdb: known_hosts (sender) and authorized_senders (receiver). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "trustdb.h"

void kh_name(const char *host, unsigned port, unsigned default_port, char *out, size_t outsz)
{
	size_t i;

	if (port == default_port)
		snprintf(out, outsz, "%s", host);
	else
		snprintf(out, outsz, "[%s]:%u", host, port);
	/* Lower-case; a blank, comma or '#' would break the line format. */
	for (i = 0; out[i]; i++)
		out[i] = (unsigned char)out[i] <= ' ' || out[i] == ',' || out[i] == '#'
				 ? '_' : (char)tolower((unsigned char)out[i]);
}

/* Split the next line of text at *pos into at most two whitespace-separated
 * fields (the second up to the next blank); returns false at the end. */
static bool next_line(const char *text, size_t *pos, unsigned *lineno, const char **f1,
		      size_t *l1, const char **f2, size_t *l2)
{
	const char *p, *end;

	for (;;) {
		if (text[*pos] == '\0')
			return false;
		p = text + *pos;
		end = strchr(p, '\n');
		if (end == NULL)
			end = p + strlen(p);
		*pos = (size_t)(end - text) + (*end == '\n');
		(*lineno)++;
		while (p < end && isblank((unsigned char)*p))
			p++;
		if (p == end || *p == '#' || *p == '\r')
			continue;
		*f1 = p;
		while (p < end && !isspace((unsigned char)*p))
			p++;
		*l1 = (size_t)(p - *f1);
		while (p < end && isblank((unsigned char)*p))
			p++;
		*f2 = p;
		while (p < end && !isspace((unsigned char)*p))
			p++;
		*l2 = (size_t)(p - *f2);
		return true;
	}
}

/* Does the comma-separated list names (len bytes) contain name? */
static bool names_have(const char *names, size_t len, const char *name)
{
	size_t nl = strlen(name);
	const char *p = names, *end = names + len;

	while (p < end) {
		const char *c = memchr(p, ',', (size_t)(end - p));
		size_t l = (size_t)((c ? c : end) - p), i;

		if (l == nl) {
			for (i = 0; i < l; i++)
				if (tolower((unsigned char)p[i]) != (unsigned char)name[i])
					break;
			if (i == l)
				return true;
		}
		p += l + 1;
	}
	return false;
}

enum kh_result kh_lookup_text(const char *text, const char *name, const char *fp, unsigned *line,
			      char oldfp[TRUSTDB_FP_LEN])
{
	size_t pos = 0, l1, l2;
	unsigned lineno = 0;
	const char *f1, *f2;
	enum kh_result r = KH_UNKNOWN;

	while (next_line(text, &pos, &lineno, &f1, &l1, &f2, &l2)) {
		if (!names_have(f1, l1, name))
			continue;
		if (l2 == strlen(fp) && memcmp(f2, fp, l2) == 0)
			return KH_MATCH;
		if (r == KH_UNKNOWN) {
			r = KH_CHANGED;
			*line = lineno;
			snprintf(oldfp, TRUSTDB_FP_LEN, "%.*s", (int)(l2 < TRUSTDB_FP_LEN ? l2 : 0), f2);
		}
	}
	return r;
}

/* Refuse a trust file that someone else could have written: 0, or -1 with st. */
static int trustdb_check_owner(const char *path, int fd, struct kc_status *st)
{
	struct stat sb;

	if (fstat(fd, &sb) < 0)
		return kc_fail(st, KC_FILE, "%s: %s", path, strerror(errno));
	if (!S_ISREG(sb.st_mode))
		return kc_fail(st, KC_FILE, "%s: not a regular file", path);
	if (sb.st_uid != geteuid() && sb.st_uid != 0)
		return kc_fail(st, KC_FILE, "%s: owned by another user (uid %u); refusing to trust it",
			       path, (unsigned)sb.st_uid);
	if (sb.st_mode & 022)
		return kc_fail(st, KC_FILE,
			       "%s: writable by group or others (mode %03o); refusing to trust it (chmod go-w)",
			       path, (unsigned)(sb.st_mode & 0777));
	return 0;
}

/* The directory holding a trust file: whoever may write there may replace
 * or delete the file, so it gets the same owner and mode test. */
static int check_dir(const char *path, struct kc_status *st)
{
	char dir[PATH_MAX];
	char *slash;
	struct stat sb;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (stat(dir, &sb) < 0)
		return errno == ENOENT ? 0 : kc_fail(st, KC_FILE, "%s: %s", dir, strerror(errno));
	if (sb.st_uid != geteuid() && sb.st_uid != 0)
		return kc_fail(st, KC_FILE, "%s: owned by another user (uid %u); refusing to trust files in it",
			       dir, (unsigned)sb.st_uid);
	if (sb.st_mode & 022)
		return kc_fail(st, KC_FILE,
			       "%s: writable by group or others (mode %03o); refusing to trust files in it (chmod go-w)",
			       dir, (unsigned)(sb.st_mode & 0777));
	return 0;
}

/* Read a trust file: 0 with *text (NULL if the file does not exist), or -1. */
static int read_trust_file(const char *path, char **text, struct kc_status *st)
{
	int fd;
	char *buf;
	size_t n = 0;

	*text = NULL;
	if (check_dir(path, st) < 0)
		return -1;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return kc_fail(st, KC_FILE, "%s: %s", path, errno == ELOOP ? "is a symbolic link" : strerror(errno));
	}
	if (trustdb_check_owner(path, fd, st) < 0) {
		close(fd);
		return -1;
	}
	buf = malloc(TRUSTDB_MAX_FILE + 1);
	if (buf == NULL) {
		close(fd);
		return kc_fail(st, KC_OTHER, "out of memory");
	}
	for (;;) {
		ssize_t r = read(fd, buf + n, TRUSTDB_MAX_FILE + 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			kc_fail(st, KC_FILE, "%s: %s", path, strerror(errno));
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > TRUSTDB_MAX_FILE) {
			kc_fail(st, KC_FILE, "%s: larger than %d bytes", path, TRUSTDB_MAX_FILE);
			break;
		}
	}
	close(fd);
	if (!kc_ok(st)) {
		free(buf);
		return -1;
	}
	buf[n] = '\0';
	if (memchr(buf, '\0', n) != NULL) {
		free(buf);
		return kc_fail(st, KC_FILE, "%s: not a text file", path);
	}
	*text = buf;
	return 0;
}

int kh_lookup(const char *path, const char *name, const char *fp, unsigned *line,
	      char oldfp[TRUSTDB_FP_LEN], struct kc_status *st)
{
	char *text;
	int r;

	if (read_trust_file(path, &text, st) < 0)
		return -1;
	if (text == NULL)
		return KH_UNKNOWN;
	r = kh_lookup_text(text, name, fp, line, oldfp);
	free(text);
	return r;
}

int kh_add(const char *path, const char *name, const char *fp, struct kc_status *st)
{
	char dir[PATH_MAX], line[PATH_MAX + TRUSTDB_FP_LEN];
	char *slash;
	int fd, n, rc = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	/* Only the configuration directory itself is made, never its parents:
	 * a mistyped or missing $HOME must not spring into existence. */
	if (slash && slash != dir) {
		*slash = '\0';
		rc = mkdir(dir, 0700) < 0 && errno != EEXIST ? -errno : 0;
		if (rc == -ENOENT)
			return kc_fail(st, KC_FILE, "%s: its parent directory does not exist; not creating it", dir);
		if (rc < 0)
			return kc_fail(st, KC_FILE, "%s: %s", dir, strerror(-rc));
	}
	if (check_dir(path, st) < 0)
		return -1;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return kc_fail(st, KC_FILE, "%s: %s", path, strerror(errno));
	if (trustdb_check_owner(path, fd, st) < 0) {
		close(fd);
		return -1;
	}
	/* One write of a whole line under a lock: concurrent senders that
	 * meet new receivers append whole lines. */
	n = snprintf(line, sizeof(line), "%s %s\n", name, fp);
	if (flock(fd, LOCK_EX) < 0)
		rc = -errno;
	else
		rc = fsu_write_all(fd, line, (size_t)n);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (rc < 0)
		kc_fail(st, KC_FILE, "%s: %s", path, strerror(-rc));
	close(fd);
	return rc < 0 ? -1 : 0;
}

int as_parse_text(const char *text, char (*fps)[TRUSTDB_FP_LEN], int max, unsigned *badline)
{
	size_t pos = 0, l1, l2;
	unsigned lineno = 0;
	const char *f1, *f2;
	int n = 0;

	while (next_line(text, &pos, &lineno, &f1, &l1, &f2, &l2)) {
		if (!tls_fp_valid(f1, l1)) {
			*badline = lineno;
			return -1;
		}
		if (n < max)
			snprintf(fps[n], TRUSTDB_FP_LEN, "%.*s", (int)l1, f1);
		n++;
	}
	return n;
}

int as_load(const char *path, char (*fps)[TRUSTDB_FP_LEN], int max, struct kc_status *st)
{
	char *text;
	unsigned bad = 0;
	int n;

	if (read_trust_file(path, &text, st) < 0)
		return -1;
	if (text == NULL)
		return 0;
	n = as_parse_text(text, fps, max, &bad);
	free(text);
	if (n < 0)
		return kc_fail(st, KC_FILE,
			       "%s: line %u: expected " TLS_FP_FORM ", then an optional comment",
			       path, bad);
	if (n > max)
		return kc_fail(st, KC_FILE, "%s: more than %d keys", path, max);
	return n;
}

int trustdb_read(const char *path, char **text, struct kc_status *st)
{
	return read_trust_file(path, text, st);
}
