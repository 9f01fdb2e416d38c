/* walk: the sender's view of its sources, one manifest entry at a time.
 *
 * The arguments are visited in order.  "-" is standard input, announced as
 * a STREAM under the stdin name.  A regular file is opened and announced
 * under its last component (as scp names it); a directory, only with
 * recursive, is announced and then read depth first, in readdir() order,
 * without following any symlink below the argument.  Symbolic links and
 * special files below an argument are skipped with a note, as rsync does
 * without -l; that is not an error (they are listed as skipped, see
 * report.h).  With links (-l, walk_set_links) a symlink below an argument
 * is announced as a SYMLINK, its target read verbatim (with safe_links one
 * whose target is absolute or climbs out of the argument's tree is skipped
 * instead); an argument itself is followed, as cp -H does.  With hard
 * (-H) a regular file whose device and inode an earlier entry of this walk
 * had is announced as a HARDLINK to that entry's name.  Everything else that keeps an entry
 * from being sent (a missing or unreadable source, a directory without -r,
 * a name too long or too deep for the protocol) is printed at once and
 * counted, and the walk goes on with the next entry.
 *
 * A file's stat data are taken from the descriptor it was opened as, so
 * what is announced describes what will be sent from.
 */
#ifndef KTLSCP_WALK_H
#define KTLSCP_WALK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "diag.h"
#include "proto.h"

struct walk_entry {
	uint8_t kind;		/* PROTO_KIND_FILE, _DIR, _STREAM, _SYMLINK or _HARDLINK */
	int fd;			/* FILE: open for reading; STREAM: 0; else -1 */
	uint32_t mode;		/* permission bits */
	uint64_t size;		/* FILE only */
	int64_t mtime;
	uint32_t mtime_ns;
	int64_t atime;
	uint32_t atime_ns;
	struct timespec ctime;	/* local only: to notice a change while sending */
	char path[PROTO_PATH_MAX + 1];	/* the name it arrives under, target included */
	char target[PROTO_PATH_MAX + 1];	/* SYMLINK: its bytes; HARDLINK: the earlier path */
	dev_t dev;		/* local: -H bookkeeping */
	ino_t ino;
	nlink_t nlink;
};

struct walk;

/* Start a walk over args (nargs of them).  stdin_name: the name "-" arrives
 * under; target: NULL, or a directory every name is put under (the whole
 * name must still pass proto_path_check()).  Returns NULL when out of
 * memory.  Nothing is opened before the first walk_peek(). */
struct walk *walk_new(char *const *args, int nargs, bool recursive, const char *stdin_name,
		      const char *target);

/* -l (links), --safe-links (safe) and -H (hard), before the first
 * walk_peek(). */
void walk_set_links(struct walk *w, bool links, bool safe, bool hard);

/* True when a symbolic link at depth (directories between the tree's root
 * and the link) with this target stays in the tree: a relative target
 * whose ".." components never climb above the root.  rsync's --safe-links
 * rule, used by the sender (tree: the argument) and the receiver (tree:
 * DIR). */
bool walk_link_safe(const char *target, size_t len, unsigned depth);

/* The next entry, produced if need be, or NULL when the walk is over.  The
 * entry (and its fd) stays the walker's, and the same one comes back, until
 * walk_take(). */
const struct walk_entry *walk_peek(struct walk *w);

/* The caller takes the peeked entry: its fd is the caller's to close. */
void walk_take(struct walk *w);

/* Sources that could not be sent so far; *cls gets the class of the first
 * (KC_FILE, or KC_USAGE for a name that cannot be expressed), KC_OK if none. */
unsigned walk_errors(const struct walk *w, enum kc_class *cls);

/* The name a top-level argument arrives under, as scp names it: its last
 * component (of the real path for . and ..).  0, or -errno (-EINVAL for
 * "/" and names the protocol cannot express). */
int walk_remote_name(const char *arg, char *out, size_t outsz);

/* Close what the walk holds (an untaken entry's fd too) and free it. */
void walk_free(struct walk *w);

#endif
