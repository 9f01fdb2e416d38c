/* trustdb: the files that remember whom to trust.
 *
 *   known_hosts          (sender) receivers seen before: lines "NAME SHA256:..."
 *                        where NAME is the host as typed, "[host]:port" when
 *                        the port is not the default; several names may share
 *                        a line, separated by commas.
 *   authorized_senders   (receiver) keys allowed to write: lines "SHA256:..."
 *                        followed by an optional comment.
 * Both live in the configuration directory (tls_identity_dir); '#' starts a
 * comment line.  The text functions are pure, for unit tests.
 */
#ifndef KTLSCP_TRUSTDB_H
#define KTLSCP_TRUSTDB_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "identity.h"

#define TRUSTDB_FP_LEN TLS_FP_LEN	/* keys are fingerprints (identity.h) */
#define TRUSTDB_MAX_FILE (1 << 20)

enum kh_result { KH_UNKNOWN = 0, KH_MATCH, KH_CHANGED };

/* The known_hosts name of host:port ("host" or "[host]:port"), lower-case. */
void kh_name(const char *host, unsigned port, unsigned default_port, char *out, size_t outsz);

/* Look name up in known_hosts text: KH_MATCH if some line for name has fp,
 * KH_CHANGED if lines for name exist but none has fp (then *line and oldfp
 * tell the first of them), else KH_UNKNOWN. */
enum kh_result kh_lookup_text(const char *text, const char *name, const char *fp, unsigned *line,
			      char oldfp[TRUSTDB_FP_LEN]);

/* The same on a file; a missing file is KH_UNKNOWN.  -1 with st on a file
 * that cannot be read or that others may write. */
int kh_lookup(const char *path, const char *name, const char *fp, unsigned *line,
	      char oldfp[TRUSTDB_FP_LEN], struct kc_status *st);

/* Append "name fp" to known_hosts (created 0600, its directory 0700). */
int kh_add(const char *path, const char *name, const char *fp, struct kc_status *st);

/* Read a small text file as trust files are read: refused (-1 with st)
 * when it, or its directory, is owned by another user (not root) or
 * writable by group or others, when it is a symbolic link or larger than
 * TRUSTDB_MAX_FILE.  0 with *text (malloc'd), or *text NULL when the file
 * does not exist. */
int trustdb_read(const char *path, char **text, struct kc_status *st);

/* Parse authorized_senders text into fps (at most max kept); returns how
 * many keys it lists, or -1 with *badline at the first malformed line. */
int as_parse_text(const char *text, char (*fps)[TRUSTDB_FP_LEN], int max, unsigned *badline);

/* Load authorized_senders: the number of keys (0 when the file does not
 * exist), or -1 with st (unreadable, malformed, writable by others, too
 * many keys). */
int as_load(const char *path, char (*fps)[TRUSTDB_FP_LEN], int max, struct kc_status *st);

#endif
