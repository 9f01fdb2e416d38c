/* ktls: hand the GnuTLS traffic keys to the kernel (TCP_ULP "tls",
 * SOL_TLS TLS_TX/TLS_RX), find out which offload mode each direction got,
 * and speak TLS control records (alerts, handshake messages) once the kernel
 * owns the record layer.  See shared/reference/ktls-facts.md for the facts
 * behind the key mapping. */
#ifndef KTLSCP_KTLS_H
#define KTLSCP_KTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <gnutls/gnutls.h>

#include "diag.h"

enum ktls_mode {
	KTLS_MODE_USERSPACE = 0,	/* GnuTLS records in this process */
	KTLS_MODE_SW,			/* TLS_SW: kernel software crypto */
	KTLS_MODE_HW,			/* TLS_HW: NIC crypto offload */
	KTLS_MODE_HW_RECORD,		/* TLS_HW_RECORD: NIC does the record layer */
	KTLS_MODE_KERNEL,		/* kTLS on, sw/hw not visible to us */
};

enum ktls_policy { KTLS_AUTO = 0, KTLS_REQUIRE, KTLS_OFF };

struct ktls_info {
	enum ktls_mode tx, rx;
	const char *source;	/* "sock_diag", "tls_stat" or "none" */
	char reason[256];	/* why a direction is userspace; "" when both are kernel */
};

const char *ktls_mode_name(enum ktls_mode m);
/* Parse "auto|require|off"; 0 or -EINVAL. */
int ktls_policy_parse(const char *s, enum ktls_policy *p);

/* After a successful handshake on fd: install the keys in the kernel where
 * possible.  Fills ki for every outcome.  Returns 0, or -1 with st set
 * (KC_KTLS) when policy is KTLS_REQUIRE and a direction stayed in user
 * space.  Key copies are wiped before returning. */
int ktls_enable(int fd, gnutls_session_t s, enum ktls_policy policy, struct ktls_info *ki,
		struct kc_status *st);

/* Is kTLS usable at all here?  Tries TCP_ULP "tls" on a loopback connection.
 * Returns 0 or a negative errno (-ENOENT: no tls module); why gets a
 * sentence either way. */
int ktls_available(char *why, size_t whysz);

/* Probe which (version, cipher) pairs the kernel accepts for TX and RX on a
 * loopback connection.  Fills a GnuTLS priority fragment with the ciphers
 * accepted for both TLS 1.2 and 1.3 in both directions (for --ktls=require),
 * e.g. "+AES-128-GCM:+AES-256-GCM".  Returns the number of accepted pairs,
 * or a negative errno. */
struct ktls_probe_result {
	const char *cipher;	/* "aes-128-gcm", ... */
	const char *gnutls;	/* "AES-128-GCM", ... */
	int version;		/* 12 or 13 */
	int tx_err, rx_err;	/* 0 or errno from setsockopt */
};
#define KTLS_PROBE_MAX 8
int ktls_probe(struct ktls_probe_result res[KTLS_PROBE_MAX], char *prio, size_t priosz);

/* A network interface's TLS offload features, from the ethtool feature
 * strings "tls-hw-tx-offload", "tls-hw-rx-offload", "tls-hw-record". */
struct ktls_nic_feature {
	const char *name;
	bool known;		/* the kernel has this feature bit */
	bool active;
	bool fixed;		/* cannot be changed (no driver support) */
};
#define KTLS_NIC_NFEAT 3
/* Returns 0 or -errno (ioctl SIOCETHTOOL). */
int ktls_nic_features(const char *ifname, struct ktls_nic_feature f[KTLS_NIC_NFEAT]);

/* Decode a sock_diag reply (one or more netlink messages) for TLS_INFO_TXCONF
 * and TLS_INFO_RXCONF.  Pure, for tests.  Returns 0 with the TLS_CONF_*
 * values (0 when absent), -ENODATA when the reply has no kTLS ULP info (the
 * kernel withheld it, e.g. without CAP_NET_ADMIN before Linux ~6.15), or
 * -errno from an NLMSG_ERROR / -EPROTO for a malformed reply. */
int ktls_diag_parse(const void *buf, size_t len, int *txconf, int *rxconf);
enum ktls_mode ktls_mode_from_conf(int conf);

/* Control records on a kTLS socket. */
/* Send one record of the given content type (21 alert, 22 handshake). */
int ktls_send_record(int fd, uint8_t type, const void *data, size_t len);
/* recvmsg() that also reports the record type (23 for application data).
 * Returns bytes, 0 at TCP EOF, or -errno. */
ssize_t ktls_recv_record(int fd, void *buf, size_t len, uint8_t *type);

/* The key-use budget.  RFC 8446 5.5: an AES-GCM (or AES-CCM) key protects
 * about 2^24.5 full records safely; the kernels this targets cannot re-key,
 * so a kernel-TX connection stops a margin below, at KTLS_KEY_RECORD_LIMIT
 * records of TLS_RECORD_PAYLOAD_MAX bytes (~256 GiB). */
#define KTLS_KEY_RECORD_LIMIT (UINT64_C(1) << 24)
/* The records one TX key of cipher may protect: KTLS_KEY_RECORD_LIMIT, or
 * lower when 0 < lower < KTLS_KEY_RECORD_LIMIT (a lower limit can be asked
 * for, as tests do; a higher one cannot), or 0 for no limit: ChaCha20-
 * Poly1305's sequence number wraps first. */
uint64_t ktls_key_record_limit(gnutls_cipher_algorithm_t cipher, uint64_t lower);

#endif
