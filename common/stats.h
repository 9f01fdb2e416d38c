/* stats: what one run moved and how, filled in by the handshake and the
 * protocol engines and read by the report module at the end.  A plain
 * struct with no behaviour, so that the engines do not depend on how the
 * summary is printed. */
#ifndef KTLSCP_STATS_H
#define KTLSCP_STATS_H

#include <stdint.h>

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
	unsigned reconnects;		/* follow-up connections past the key-use limit */
	double seconds;
	double paused;			/* of those, at the yes/no prompt (not counted);
					 * the receiver's: waiting for the first message */
	int handshake_done;
};

#endif
