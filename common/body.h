/* body: file bodies in bulk over a struct chan (chan.h), by the fastest
 * path each direction allows.  Kernel TX: sendfile() from a file, splice()
 * from a pipe; kernel RX: recvmsg() into a large buffer, or splice() into
 * the file (conf->rx_path); GnuTLS: a large buffer either way.  Also the
 * STREAM body framing (chunks, headers by proto.c), the AES key-use budget
 * check before each kernel send (ktls_key_record_limit), the progress meter
 * and the --verify hashing of bodies as they pass (chan_tx_hash_set,
 * chan_rx_hash_start).
 *
 * Every function returns 0, or -1 with st (the classes of chan.h).  For a
 * file body, what fd cannot give or take is reported through *read_err or
 * *write_err without stopping the stream, so that both ends stay in step.
 * fd stays the caller's.
 */
#ifndef KTLSCP_BODY_H
#define KTLSCP_BODY_H

#include <stdbool.h>
#include <stdint.h>

#include "chan.h"
#include "diag.h"

/* Send len bytes of file fd from offset off.  If the file ended early
 * (shrank), the rest is zero padding and *short_file is set.  Read errors
 * on fd also pad and set *short_file, with *read_err = errno.  0, or -1
 * with st on connection errors. */
int body_send_file(struct chan *c, int fd, uint64_t off, uint64_t len, bool *short_file,
		   int *read_err, struct kc_status *st);

/* Receive len bytes into fd (or discard them when fd < 0).  A write error
 * on fd does not stop the stream: the rest is discarded and *write_err gets
 * the errno.  With an RX hash running (chan_rx_hash_start), the splice path
 * is taken only for an fd open for reading and writing at a seekable offset
 * (it reads back what it wrote).  0, or -1 with st for connection errors. */
int body_recv_file(struct chan *c, int fd, uint64_t len, int *write_err, struct kc_status *st);

/* Receive until the peer's close_notify, writing everything to fd.  *bytes
 * gets the count.  0, or -1 with st (KC_FILE for a write error on fd). */
int body_recv_stream(struct chan *c, int fd, uint64_t *bytes, struct kc_status *st);

/* Send everything readable from fd (a pipe, terminal or file) until EOF.
 * 0, or -1 with st. */
int body_send_stream(struct chan *c, int fd, uint64_t *bytes, struct kc_status *st);

/* A STREAM body: everything readable from fd until EOF, as chunks (a
 * proto_chunk_hdr_encode() header + bytes), then a zero length.  On the
 * kernel TX path each chunk moves by splice() (fd -> pipe -> socket) after
 * its header, unless fd is a terminal, cannot be spliced (EINVAL on the
 * first chunk) or a TX hash is set (chan_tx_hash_set); then, and on the
 * GnuTLS path, it is read into a buffer and sent.  *bytes gets the payload
 * count.  0, or -1 with st (KC_FILE for a read error on fd). */
int body_send_chunks(struct chan *c, int fd, uint64_t *bytes, struct kc_status *st);
/* Receive a STREAM body into fd (fd < 0: discard); write errors as in
 * body_recv_file.  At most limit payload bytes (UINT64_MAX: no limit): a
 * chunk that would take the stream past limit is not read, and 1 is
 * returned at once; the connection is then out of step and the caller must
 * end the transfer.  0, 1, or -1 with st. */
int body_recv_chunks(struct chan *c, int fd, uint64_t limit, uint64_t *bytes, int *write_err,
		     struct kc_status *st);

#endif
