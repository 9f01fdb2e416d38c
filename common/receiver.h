/* receiver: the receiving end of the ktlscp protocol (the TLS server).
 *
 * It speaks, over an established chan: read HELLO, answer HELLO, read
 * BATCH 1 and answer ACK 1.  Then per batch k: read BATCH k+1 (unless k was
 * the final one) and answer it with ACK k+1 (paths checked, limits and
 * -n/--update applied, --resume offers made); read PLAN k (--resume), the
 * bodies of batch k into the store (or to standard output), SUMS k
 * (--verify) and BATCH_END k; commit what the sender stands behind and
 * what hashed right, sync, and answer DONE k.  The protocol as a whole is
 * told in xfer.h; what "durable" means, in store.h.
 */
#ifndef KTLSCP_RECEIVER_H
#define KTLSCP_RECEIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "chan.h"
#include "diag.h"
#include "stats.h"

struct recv_opts {
	int rootfd;		/* the receiving directory, or -1 with to_stdout */
	bool to_stdout;		/* file and stream bodies go to fd 1, in order */
	uint64_t max_bytes;	/* --max-size: file bytes one sender may write (0: no limit) */
	uint64_t max_entries;	/* manifest entries one sender may announce */
	bool unsafe_links;	/* --unsafe-links: keep symlinks that leave DIR too */
};

/* Run the receiver side.  Returns 0 or -1 with st set.  After a failure a
 * stream's temporary file is removed and a file's partial stays for
 * --resume (store.h). */
int receiver_run(struct chan *c, const struct recv_opts *o, struct xfer_stats *stats,
		 struct kc_status *st);

/* cp's pull: receiver_run(), where every manifest path must also pass
 * path_ok (it lies under a name that was asked for): 0 passes, anything
 * else refuses the whole transfer before that batch is answered. */
int receiver_run_only(struct chan *c, const struct recv_opts *o, int (*path_ok)(void *arg, const char *path),
		      void *path_arg, struct xfer_stats *stats, struct kc_status *st);

#endif
