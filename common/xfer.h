/* xfer: the two ends of the ktlscp protocol over an established chan.
 *
 * Connection model: one TCP connection, one TLS session, one sender (the TLS
 * client) and one receiver (the TLS server).  The sender streams a manifest
 * in batches of at most PROTO_BATCH_MAX entries; the receiver answers each
 * batch once (ACK), the bodies of accepted files follow unframed, the sender
 * closes the batch with BATCH_END, and the receiver reports each file durable
 * (fsynced and renamed) in DONE.  The sender keeps one batch in flight ahead
 * of the bodies it is sending, so many small files cost no round trip each,
 * and it waits for DONE of batch k-1 before announcing batch k+1, so no more
 * than two batches of results are ever unread (no deadlock on full socket
 * buffers).  The sender exits 0 only after every DONE arrived.
 */
#ifndef KTLSCP_XFER_H
#define KTLSCP_XFER_H

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
};

struct recv_opts {
	int rootfd;		/* the receiving directory, or -1 with to_stdout */
	const char *rootname;	/* for messages */
	bool to_stdout;		/* file and stream bodies go to fd 1, in order */
	uint64_t max_bytes;	/* --max-size: file bytes one sender may write (0: no limit) */
	uint64_t max_entries;	/* manifest entries one sender may announce */
};

/* Run the sender side.  Per-file problems are printed as they happen and
 * counted in stats->failed; the return is 0 when every file arrived durable,
 * else -1 with st set to the most telling class. */
int xfer_send(struct chan *c, const struct send_opts *o, struct xfer_stats *stats,
	      struct kc_status *st);

/* Run the receiver side.  Returns 0 or -1 with st set; temporary files of an
 * aborted batch are removed. */
int xfer_recv(struct chan *c, const struct recv_opts *o, struct xfer_stats *stats,
	      struct kc_status *st);

/* --raw: no ktlscp framing, one byte stream over plain TLS, for interop
 * with openssl s_client/s_server, gnutls-cli/serv, socat, ncat --ssl.
 * Sender: the bytes of path ("-": standard input), then close_notify; what
 * the peer sends back is written to outfd (unless outfd < 0).
 * Receiver: everything until the peer's close_notify, written to outfd; a
 * stream that ends without close_notify is a truncation (KC_XFER). */
int xfer_send_raw(struct chan *c, const char *path, int outfd, struct xfer_stats *stats,
		  struct kc_status *st);
int xfer_recv_raw(struct chan *c, int outfd, struct xfer_stats *stats, struct kc_status *st);
#endif
