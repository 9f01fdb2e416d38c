/* Unit tests of the sender's source walker on a temporary tree: order,
 * recursion, names, what is skipped and what is an error. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report.h"
#include "walk.h"
#include "tap.h"

static char root[] = "/tmp/ktlscp-walk-XXXXXX";

static void put(const char *rel, const char *text)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void mk(const char *rel)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	mkdir(p, 0755);
}

/* Walk everything, keeping names and kinds in order ("d:top f:top/a"). */
static unsigned walk_all(struct walk *w, char names[][PROTO_PATH_MAX + 3], unsigned max)
{
	const struct walk_entry *e;
	unsigned n = 0;

	while ((e = walk_peek(w)) != NULL) {
		if (n < max)
			snprintf(names[n], PROTO_PATH_MAX + 3, "%c:%s",
				 e->kind == PROTO_KIND_DIR ? 'd' : e->kind == PROTO_KIND_FILE ? 'f' : 's',
				 e->path);
		n++;
		if (e->fd > STDIN_FILENO)
			close(e->fd);
		walk_take(w);
	}
	return n;
}

static int find(char names[][PROTO_PATH_MAX + 3], unsigned n, const char *want)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], want) == 0)
			return (int)i;
	return -1;
}

int main(void)
{
	static char names[32][PROTO_PATH_MAX + 3];
	char top[256], file[256], sub[256], slash[256], missing[256];
	const struct walk_entry *e, *again;
	enum kc_class cls;
	struct walk *w;
	struct stat sb;
	unsigned n;

	ok(mkdtemp(root) != NULL, "temp dir %s", root);
	mk("top");
	mk("top/sub");
	mk("top/sub/deeper");
	put("top/a.txt", "hello");
	put("top/sub/b.txt", "bb");
	put("top/sub/deeper/c.txt", "c");
	put("plain.txt", "plain");
	snprintf(top, sizeof(top), "%s/top", root);
	snprintf(file, sizeof(file), "%s/plain.txt", root);
	snprintf(sub, sizeof(sub), "%s/top/sub", root);
	snprintf(slash, sizeof(slash), "%s/top/sub//", root);
	snprintf(missing, sizeof(missing), "%s/no-such-file", root);
	{
		char p[256], q[256];

		snprintf(p, sizeof(p), "%s/top/link", root);
		ok(symlink("a.txt", p) == 0, "plant a symlink in the tree");
		snprintf(q, sizeof(q), "%s/top/fifo", root);
		ok(mkfifo(q, 0600) == 0, "plant a fifo in the tree");
	}

	/* A single file: its last component, opened, with its stat data. */
	{
		char *args[] = { file };

		w = walk_new(args, 1, false, "stdin", NULL);
		e = walk_peek(w);
		ok(e && e->kind == PROTO_KIND_FILE && strcmp(e->path, "plain.txt") == 0,
		   "a file arrives under its last component");
		ok(e && e->size == 5 && e->fd > STDIN_FILENO && fstat(e->fd, &sb) == 0 &&
		   (uint64_t)sb.st_size == e->size && e->mtime == sb.st_mtim.tv_sec,
		   "its fd is open and its stat data describe that fd");
		again = walk_peek(w);
		ok(again == e && again->fd == e->fd, "peek without take gives the same entry");
		walk_free(w);	/* closes the untaken fd */
	}

	/* Recursion: every entry once, each directory before what is in it. */
	{
		char *args[] = { top };
		int i_top, i_sub, i_deeper;

		w = walk_new(args, 1, true, "stdin", NULL);
		n = walk_all(w, names, 32);
		ok(n == 6, "six entries: top, a.txt, sub, b.txt, deeper, c.txt (got %u)", n);
		i_top = find(names, n, "d:top");
		i_sub = find(names, n, "d:top/sub");
		i_deeper = find(names, n, "d:top/sub/deeper");
		ok(i_top == 0, "the argument comes first");
		ok(find(names, n, "f:top/a.txt") > i_top, "top/a.txt after top");
		ok(i_sub > i_top && find(names, n, "f:top/sub/b.txt") > i_sub, "top/sub/b.txt after top/sub");
		ok(i_deeper > i_sub && find(names, n, "f:top/sub/deeper/c.txt") == i_deeper + 1,
		   "depth first: deeper/c.txt right after deeper");
		ok(find(names, n, "f:top/link") < 0 && find(names, n, "d:top/link") < 0,
		   "a symlink below the argument is not followed or sent");
		ok(find(names, n, "f:top/fifo") < 0, "a fifo is not sent");
		ok(walk_errors(w, &cls) == 0 && cls == KC_OK, "skipping links and specials is not an error");
		walk_free(w);
	}

	/* Back up from a subdirectory: the names of later siblings are right. */
	{
		char *args[] = { sub, file };

		w = walk_new(args, 2, true, "stdin", NULL);
		n = walk_all(w, names, 32);
		ok(n == 5 && find(names, n, "d:sub") == 0 && find(names, n, "f:sub/deeper/c.txt") > 0 &&
		   find(names, n, "f:sub/b.txt") > 0 && find(names, n, "f:plain.txt") == 4,
		   "after a tree, the next argument has its own name");
		walk_free(w);
	}

	/* A directory without -r, a missing source, then a good one. */
	{
		char *args[] = { top, missing, file };

		w = walk_new(args, 3, false, "stdin", NULL);
		n = walk_all(w, names, 32);
		ok(n == 1 && strcmp(names[0], "f:plain.txt") == 0, "only the file is walked");
		ok(walk_errors(w, &cls) == 2 && cls == KC_FILE, "a directory without -r and a missing file are two errors");
		walk_free(w);
	}

	/* Names: trailing slashes, "/", standard input, --target. */
	{
		char *args[] = { slash, "/", "-" };

		w = walk_new(args, 3, true, "from-stdin", "in/here");
		e = walk_peek(w);
		ok(e && strcmp(e->path, "in/here/sub") == 0, "trailing slashes are dropped, the target is put in front");
		n = walk_all(w, names, 32);
		ok(find(names, n, "f:in/here/sub/deeper/c.txt") > 0, "the target prefixes names below the argument too");
		ok(find(names, n, "s:in/here/from-stdin") == (int)n - 1, "\"-\" is a stream under the stdin name");
		ok(walk_errors(w, &cls) == 1 && cls == KC_USAGE, "\"/\" cannot be named: a usage error");
		walk_free(w);
	}
	{
		char *args[] = { "-" };

		w = walk_new(args, 1, false, "stdin", NULL);
		e = walk_peek(w);
		ok(e && e->kind == PROTO_KIND_STREAM && e->fd == STDIN_FILENO && e->size == 0,
		   "standard input: fd 0, size unknown");
		walk_free(w);
		ok(fcntl(STDIN_FILENO, F_GETFD) >= 0 || errno != EBADF, "walk_free leaves standard input open");
	}
	{
		char longt[PROTO_PATH_MAX];
		char *args[] = { file };

		memset(longt, 'x', sizeof(longt) - 1);
		longt[sizeof(longt) - 1] = '\0';
		w = walk_new(args, 1, false, "stdin", longt);
		ok(walk_peek(w) == NULL && walk_errors(w, &cls) == 1 && cls == KC_FILE,
		   "a name too long under the target is an error, not sent");
		walk_free(w);
	}

	/* A file that vanishes between readdir() and opening it. */
	{
		char p[256];
		char *args[] = { p };

		mk("gone");
		put("gone/x", "x");
		put("gone/y", "y");
		snprintf(p, sizeof(p), "%s/gone", root);
		report_free();
		w = walk_new(args, 1, true, "stdin", NULL);
		e = walk_peek(w);
		ok(e && e->kind == PROTO_KIND_DIR, "the directory comes first");
		walk_take(w);
		e = walk_peek(w);	/* reads the directory: both names are in hand */
		ok(e && e->kind == PROTO_KIND_FILE, "one file of two");
		if (e) {
			char q[300];

			snprintf(q, sizeof(q), "%s/%s", root, strcmp(e->path, "gone/x") == 0 ? "gone/y" : "gone/x");
			close(e->fd);
			walk_take(w);
			ok(unlink(q) == 0, "the other one vanishes");
		}
		ok(walk_peek(w) == NULL, "the walk ends");
		ok(walk_errors(w, &cls) == 1 && cls == KC_FILE, "the vanished file is reported, once");
		ok(strstr(report_first_failure(NULL), ": vanished while the tree was walked") != NULL,
		   "as vanished (%s)", report_first_failure(NULL));
		walk_free(w);
	}

	/* An unreadable file is reported and skipped (root reads anything). */
	if (geteuid() != 0) {
		char p[256];
		char *args[] = { p, file };

		snprintf(p, sizeof(p), "%s/secret", root);
		put("secret", "s");
		chmod(p, 0);
		w = walk_new(args, 2, false, "stdin", NULL);
		n = walk_all(w, names, 32);
		ok(n == 1 && walk_errors(w, &cls) == 1 && cls == KC_FILE, "an unreadable file is an error, the next is sent");
		walk_free(w);
	} else {
		printf("ok %d - # SKIP running as root: every file is readable\n", ++tap_n);
	}

	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
		ok(system(cmd) == 0, "cleanup");
	}
	/* --safe-links' rule. */
	ok(walk_link_safe("a", 1, 0) && walk_link_safe("sub/../a", 8, 0), "links inside the tree are safe");
	ok(walk_link_safe("../a", 4, 1) && !walk_link_safe("../a", 4, 0), "one level up is safe only from below");
	ok(!walk_link_safe("/etc", 4, 5) && !walk_link_safe("", 0, 3), "absolute and empty targets are not");
	ok(!walk_link_safe("a/../../b", 9, 0) && walk_link_safe("././/a/..", 9, 0),
	   "a climb counts where it happens; . and empty components do not count");
	ok(!walk_link_safe("x/../..", 7, 0) && walk_link_safe("x/../..", 7, 1), "a trailing .. counts");
	return tap_done();
}
