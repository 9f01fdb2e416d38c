/* ktls: hand the GnuTLS traffic keys to the kernel (TCP_ULP "tls",
 * SOL_TLS TLS_TX/TLS_RX), find out which offload mode each direction got,
 * and speak TLS control records (alerts, handshake messages) once the kernel
 * owns the record layer.  The key mapping follows RFC 8446 section 7.3 and
 * RFC 5288/7905 (TLS 1.2 nonces): for AES-GCM and AES-CCM the 12-byte
 * GnuTLS IV is the kernel's 4-byte salt then 8-byte iv in TLS 1.3, and the
 * 4-byte implicit salt with the sequence number as explicit iv in TLS 1.2;
 * ChaCha20-Poly1305 takes all 12 bytes as iv in both. */
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

/* The ciphers ktlscp offers: the AEADs that the kernel can take over.  One
 * row each, in order of preference:
 *   X(linux/tls.h TLS_CIPHER_ name, struct tls12_crypto_info_ suffix,
 *     gnutls_cipher_algorithm_t, --cipher name, GnuTLS priority name,
 *     what joins the --cipher name to the list before it in messages)
 * ktls.c makes struct ktls_cipher rows from it (with the kernel's sizes);
 * KTLS_CIPHER_NAMES is the list for help text and messages. */
#define KTLS_CIPHERS(X)                                                                              \
	X(AES_GCM_128, aes_gcm_128, GNUTLS_CIPHER_AES_128_GCM, "aes-128-gcm", "AES-128-GCM", "")       \
	X(AES_GCM_256, aes_gcm_256, GNUTLS_CIPHER_AES_256_GCM, "aes-256-gcm", "AES-256-GCM", ", ")     \
	X(CHACHA20_POLY1305, chacha20_poly1305, GNUTLS_CIPHER_CHACHA20_POLY1305, "chacha20-poly1305", \
	  "CHACHA20-POLY1305", ", ")                                                                 \
	X(AES_CCM_128, aes_ccm_128, GNUTLS_CIPHER_AES_128_CCM, "aes-128-ccm", "AES-128-CCM", " or ")

#define KTLS_CIPHER_NAME_(k, s, g, opt, gn, sep) sep opt
#define KTLS_CIPHER_COUNT_(k, s, g, opt, gn, sep) +1
/* "aes-128-gcm, aes-256-gcm, chacha20-poly1305 or aes-128-ccm" */
#define KTLS_CIPHER_NAMES KTLS_CIPHERS(KTLS_CIPHER_NAME_)
#define KTLS_NCIPHERS (0 KTLS_CIPHERS(KTLS_CIPHER_COUNT_))

/* One row of KTLS_CIPHERS with the kernel's facts about it. */
struct ktls_cipher {
	const char *name;		/* --cipher value, "aes-128-gcm" */
	const char *gnutls;		/* GnuTLS priority name, "AES-128-GCM" */
	gnutls_cipher_algorithm_t id;
	uint16_t kernel;		/* TLS_CIPHER_* */
	/* linux/tls.h TLS_CIPHER_*_{KEY,SALT,IV,REC_SEQ}_SIZE */
	size_t key_size, salt_size, iv_size, rec_seq_size;
	/* struct tls12_crypto_info_*: its size (the exact optlen the kernel
	 * wants) and where each field sits in it */
	size_t info_size, key_off, salt_off, iv_off, rec_seq_off;
};

/* The i-th row (0 .. KTLS_NCIPHERS-1), or NULL past the end. */
const struct ktls_cipher *ktls_cipher_at(size_t i);
/* The row for a --cipher name or a GnuTLS cipher, or NULL. */
const struct ktls_cipher *ktls_cipher_by_name(const char *name);
const struct ktls_cipher *ktls_cipher_by_id(gnutls_cipher_algorithm_t id);

/* Fill out (outsz bytes, at least c->info_size) with the kernel's
 * struct tls12_crypto_info_* for one direction, from the key, IV and next
 * record sequence number that gnutls_record_get_state gives (see ktls.c for
 * the mapping).  Pure, for tests.  Returns c->info_size, or -EINVAL when a
 * length does not fit the cipher. */
int ktls_crypto_fill(const struct ktls_cipher *c, bool tls13, const uint8_t *key, size_t keylen,
		     const uint8_t *iv, size_t ivlen, const uint8_t seq[8], void *out, size_t outsz);

/* The same from a session after its handshake, for one direction (read=1:
 * RX), as ktls_enable installs it; out is wiped first.  Returns the struct
 * size, or -EOPNOTSUPP (cipher or version not mappable) / -EINVAL.  The
 * caller wipes out after use. */
int ktls_crypto_build(gnutls_session_t s, int read, void *out, size_t outsz);

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
#define KTLS_PROBE_MAX (2 * KTLS_NCIPHERS)	/* each cipher with TLS 1.3 and 1.2 */
int ktls_probe(struct ktls_probe_result res[KTLS_PROBE_MAX], char *prio, size_t priosz);

/* Can this kernel take new keys on a kTLS socket (TLS 1.3 KeyUpdate, Linux
 * 6.14 and backports)?  Asked, never inferred from a version number: a
 * second TLS_TX (TLS 1.3 AES-GCM-128) on a loopback kTLS socket.  Returns 1
 * when it succeeds, 0 when the kernel refuses with EBUSY (keys are set once),
 * or a negative errno when there is no kTLS to ask (-ENOENT: no tls module). */
int ktls_rekey_probe(void);

/* Does sock_diag tell this process a kTLS socket's offload mode (the
 * INET_DIAG_ULP_INFO that ktls_enable reads first; without CAP_NET_ADMIN
 * only on newer kernels)?  Asked on a loopback socket with a TLS_TX key:
 * 1 yes, 0 no (modes then come from /proc/net/tls_stat), or a negative
 * errno when there is no kTLS to ask. */
int ktls_diag_probe(void);

/* /proc/net/tls_stat: the kernel's kTLS counters, "NAME VALUE" lines whose
 * set and order change between kernels, so they are read by name. */
struct ktls_stat {
	char name[64];		/* "TlsTxSw", ... */
	long value;
};
#define KTLS_STAT_MAX 64
/* Parse tls_stat text into c (at most max counters; lines that are not
 * "NAME VALUE" are skipped).  Pure, for tests.  Returns the count. */
int ktls_stat_parse(const char *text, struct ktls_stat *c, int max);
/* Read /proc/net/tls_stat: the count, or -errno (-ENOENT: no tls module). */
int ktls_stat_read(struct ktls_stat *c, int max);

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
/* Send one record of a tlsrec.h content type (TLS_CT_ALERT, TLS_CT_HANDSHAKE). */
int ktls_send_record(int fd, uint8_t type, const void *data, size_t len);
/* recvmsg() that also reports the record type (TLS_CT_APPLICATION_DATA for data).
 * Returns bytes, 0 at TCP EOF, or -errno. */
ssize_t ktls_recv_record(int fd, void *buf, size_t len, uint8_t *type);
/* The type of the next record, which stays unread (MSG_PEEK): 1, 0 at TCP
 * EOF, or -errno.  A control record must be read whole: a short read leaves
 * its rest to come as if it were a record of its own. */
ssize_t ktls_peek_record_type(int fd, uint8_t *type);

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

/* TLS 1.3 key updates on a kTLS socket (RFC 8446 7.1, 7.2).  GnuTLS 3.7.9
 * has no kTLS code, and the receive side of its own key update refuses
 * more than a few KeyUpdates within a second (GNUTLS_E_TOO_MANY_HANDSHAKE_
 * PACKETS; tests/unit/test_rekey.c), below the rate a lowered budget
 * forces on a fast link: so ktlscp derives the next
 * keys itself from the traffic secrets GnuTLS hands out at the handshake
 * (tls.h tls_traffic_secrets). */
#define KTLS_SECRET_MAX 64	/* a traffic secret: the suite's hash length */
/* HKDF-Expand-Label(secret, label, "", outlen) with HMAC-mac.  0 or -EINVAL. */
int ktls_hkdf_label(gnutls_mac_algorithm_t mac, const uint8_t *secret, size_t slen,
		    const char *label, uint8_t *out, size_t outlen);
/* secret = HKDF-Expand-Label(secret, "traffic upd", "", len), in place.
 * 0 or -EINVAL. */
int ktls_secret_next(gnutls_mac_algorithm_t mac, uint8_t *secret, size_t len);
/* The kernel's struct for a TLS 1.3 traffic secret: its "key" and "iv"
 * (12 bytes: salt then iv for the salted ciphers), record sequence 0.
 * Returns c->info_size or -EINVAL; the caller wipes out. */
int ktls_crypto_from_secret(const struct ktls_cipher *c, gnutls_mac_algorithm_t mac,
			    const uint8_t *secret, size_t len, void *out, size_t outsz);
/* Install the keys of secret as the socket's new TLS_TX or TLS_RX key (a
 * second setsockopt, which kernels that cannot rekey refuse with EBUSY).
 * 0 or -errno. */
int ktls_rekey_install(int fd, bool rx, const struct ktls_cipher *c, gnutls_mac_algorithm_t mac,
		       const uint8_t *secret, size_t len);

#endif
