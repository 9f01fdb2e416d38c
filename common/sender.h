/* sender: the sending end of the ktlscp protocol (the TLS client).
 *
 * It speaks, over an established chan: HELLO with its requests and BATCH 1
 * at once, then reads HELLO and ACK 1 (accept, reject, skip, or with
 * --resume an offer of a partial).  Then per batch k: read DONE k-1, send
 * BATCH k+1 (unless k was the final one), PLAN k (--resume: where each body
 * starts), the bodies of accepted entries unframed (a file: its bytes; a
 * stream: chunks), SUMS k (--verify: the SHA-256 of each body) and
 * BATCH_END k (which bodies it stands behind), and read ACK k+1.  At the
 * end it reads the last DONEs and sends close_notify.  The protocol as a
 * whole is told in xfer.h.
 */
#ifndef KTLSCP_SENDER_H
#define KTLSCP_SENDER_H

#include <stdbool.h>
#include <stdint.h>

#include "chan.h"
#include "diag.h"
#include "stats.h"

struct send_opts {
	char *const *paths;
	int npaths;
	bool recursive;
	unsigned prefailed;	/* sources the caller already reported as unusable */
	uint32_t opts;		/* PROTO_OPT_* requests for the receiver */
	const char *stdin_name;	/* the name "-" (standard input) arrives under */
	const char *target;	/* -t: a subdirectory of the receiver's DIR, or NULL */
	bool safe_links;	/* --safe-links: with -l, skip links that leave the tree */
};

/* Run the sender side.  Per-file problems are printed as they happen and
 * counted in stats->failed; the return is 0 when every file arrived durable,
 * else -1 with st set to the most telling class. */
int sender_run(struct chan *c, const struct send_opts *o, struct xfer_stats *stats,
	       struct kc_status *st);

#endif
