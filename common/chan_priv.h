/* chan_priv: what chan.c shares with body.c and no one else may call: the
 * send and receive primitives under chan_write() / chan_read_exact(), with
 * the error wording of chan.h.  struct chan itself is in chan.h. */
#ifndef KTLSCP_CHAN_PRIV_H
#define KTLSCP_CHAN_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "chan.h"

/* Fail st for errno err while doing ("sending", "receiving"), with the
 * class a timeout, an interruption, a forged record or a lost connection
 * gets.  Returns -1. */
int chan_net_err(struct chan *c, int err, const char *doing, struct kc_status *st);
/* Send what GnuTLS holds corked.  0 or -1 with st. */
int chan_uncork(struct chan *c, struct kc_status *st);
/* chan_write(), counting records for the key-use budget on kernel TX. */
int chan_send_raw(struct chan *c, const uint8_t *p, size_t len, bool more, struct kc_status *st);
/* One read of up to len bytes, past the read-ahead buffer (which the caller
 * drains first): >0 bytes, 0 on close_notify, -1 with st. */
ssize_t chan_recv_some(struct chan *c, uint8_t *buf, size_t len, struct kc_status *st);

#endif
