/* report: the end-of-run summary, for people (stderr) and for scripts
 * (--json, one object on stdout; key names are fixed by DESIGN.md). */
#ifndef KTLSCP_REPORT_H
#define KTLSCP_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "diag.h"
#include "ktls.h"

struct xfer_stats {
	const char *role;		/* "send" / "recv" */
	char peer[128];
	char tls_version[16];		/* "TLS1.3" */
	char cipher[32];		/* "AES-128-GCM" */
	const char *auth;		/* "psk" / "pin" / "x509" */
	struct ktls_info ki;
	const char *tx_path, *rx_path;
	uint64_t files;			/* regular files durable at the receiver */
	uint64_t dirs;
	uint64_t bytes;			/* file body bytes */
	unsigned failed;		/* entries not transferred */
	unsigned skipped;		/* entries the receiver skipped (-n, --update) */
	uint64_t resumed;		/* --resume: bytes the receiver already had */
	uint64_t verified;		/* --verify: files (and streams) whose SHA-256 matched */
	double seconds;
	int handshake_done;
};

/* JSON object, one line, on f.  st->cls == KC_OK means status "ok". */
void report_json(FILE *f, const struct xfer_stats *s, const struct kc_status *st);
/* Human summary on stderr (two lines). */
void report_human(const struct xfer_stats *s);
/* "1.5 MB" style (powers of 1000) into out. */
void report_size(double bytes, char *out, size_t n);
/* JSON string escaping into f. */
void report_json_str(FILE *f, const char *s);

#endif
