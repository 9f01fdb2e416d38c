/* oplog: the serving receiver's log, so that an operator can answer "who
 * wrote this file, and when".  While it is on (recv -k, a connection
 * passed in by systemd, or --syslog), the receiver writes one line per
 * entry it stored, skipped or failed (once its batch is durable, or known
 * not to be) and one per connection (peer, the sender's identity, files,
 * bytes, the result), through diag: on stderr, where each line starts
 * with a time stamp unless stderr is the journal (JOURNAL_STREAM), or to
 * syslog (diag_syslog), which stamps them itself.  The lines' formats are
 * in the man page (SERVING, "The log"); an entry's failure is told only in
 * its line, not also on its own.
 */
#ifndef KTLSCP_OPLOG_H
#define KTLSCP_OPLOG_H

#include <stdbool.h>
#include <stdint.h>
#include <gnutls/gnutls.h>

#include "diag.h"
#include "stats.h"
#include "tls.h"

/* Log from now on; entries are named DIR/PATH (dir NULL: PATH alone, as
 * with --stdout).  dir is borrowed.  errors_only (-q): only the lines of
 * what failed. */
void oplog_enable(const char *dir, bool errors_only);
bool oplog_on(void);

/* A connection from peer starts: its sender is not known yet. */
void oplog_begin(const char *peer);

/* The sender on session s is authenticated through tc: remember who it is
 * for the lines that follow ("token", psk "IDENTITY", key SHA256:..., or
 * x509 "SUBJECT" key SHA256:...).  token: the PSK is recv's token. */
void oplog_auth(gnutls_session_t s, const struct tls_ctx *tc, bool token);

/* How an entry ended. */
enum oplog_result { OPLOG_OK, OPLOG_SKIPPED, OPLOG_FAILED };

/* One entry's line.  kind: "file", "stream", "symlink", "hardlink",
 * "directory"; bytes its body (what was announced, unless it arrived);
 * resumed the bytes that were there already (--resume); why the reason it
 * was skipped or failed (NULL with OPLOG_OK). */
void oplog_entry(const char *kind, const char *path, uint64_t bytes, uint64_t resumed,
		 enum oplog_result res, const char *why);

/* The connection's line, from its summary and status: ok, or failed with
 * the cause. */
void oplog_conn(const struct xfer_stats *s, const struct kc_status *st);

#endif
