/* ktls: the cipher table, key install, offload-mode discovery and control
 * records.
 *
 * Key mapping (gnutls_record_get_state -> struct tls12_crypto_info_*):
 *   salt    = the first 4 bytes of GnuTLS's IV (GCM, CCM; ChaCha has none)
 *   iv      = TLS 1.3: IV bytes 4..11; TLS 1.2 GCM/CCM: the explicit nonce
 *             start, which we take equal to the record sequence number as
 *             GnuTLS itself does (the kernel increments it per record; on RX
 *             the kernel reads it from each record and ignores ours);
 *             ChaCha20, both versions: all 12 IV bytes
 *   key     = cipher key;  rec_seq = the next record's sequence number.
 * optlen must be the exact struct size or the kernel answers EINVAL.  The
 * sizes and offsets come from linux/tls.h through the cipher table, and
 * ktls_crypto_fill is the one place that applies this mapping.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/inet_diag.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <gnutls/crypto.h>

#include "ktls.h"
#include "tlsrec.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

const char *ktls_mode_name(enum ktls_mode m)
{
	switch (m) {
	case KTLS_MODE_SW: return "sw";
	case KTLS_MODE_HW: return "hw";
	case KTLS_MODE_HW_RECORD: return "hw_record";
	case KTLS_MODE_KERNEL: return "kernel";
	default: return "userspace";
	}
}

int ktls_policy_parse(const char *s, enum ktls_policy *p)
{
	if (strcmp(s, "auto") == 0)
		*p = KTLS_AUTO;
	else if (strcmp(s, "require") == 0)
		*p = KTLS_REQUIRE;
	else if (strcmp(s, "off") == 0)
		*p = KTLS_OFF;
	else
		return -EINVAL;
	return 0;
}

enum ktls_mode ktls_mode_from_conf(int conf)
{
	switch (conf) {
	case TLS_CONF_SW: return KTLS_MODE_SW;
	case TLS_CONF_HW: return KTLS_MODE_HW;
	case TLS_CONF_HW_RECORD: return KTLS_MODE_HW_RECORD;
	default: return KTLS_MODE_USERSPACE;
	}
}

/* ---- ciphers and crypto_info ------------------------------------------ */

#define CIPHER_ROW(k, s, g, opt, gn, sep)                                                  \
	{ opt, gn, g, TLS_CIPHER_##k, TLS_CIPHER_##k##_KEY_SIZE, TLS_CIPHER_##k##_SALT_SIZE,       \
	  TLS_CIPHER_##k##_IV_SIZE, TLS_CIPHER_##k##_REC_SEQ_SIZE,                                 \
	  sizeof(struct tls12_crypto_info_##s), offsetof(struct tls12_crypto_info_##s, key),       \
	  offsetof(struct tls12_crypto_info_##s, salt), offsetof(struct tls12_crypto_info_##s, iv), \
	  offsetof(struct tls12_crypto_info_##s, rec_seq) },
static const struct ktls_cipher ciphers[KTLS_NCIPHERS] = { KTLS_CIPHERS(CIPHER_ROW) };
#undef CIPHER_ROW

/* Room for any of them. */
#define CIPHER_MEMBER(k, s, g, opt, gn, sep) struct tls12_crypto_info_##s s;
union ktls_crypto {
	struct tls_crypto_info info;
	KTLS_CIPHERS(CIPHER_MEMBER)
};
#undef CIPHER_MEMBER

const struct ktls_cipher *ktls_cipher_at(size_t i)
{
	return i < KTLS_NCIPHERS ? &ciphers[i] : NULL;
}

const struct ktls_cipher *ktls_cipher_by_name(const char *name)
{
	size_t i;

	for (i = 0; i < KTLS_NCIPHERS; i++)
		if (strcmp(name, ciphers[i].name) == 0)
			return &ciphers[i];
	return NULL;
}

const struct ktls_cipher *ktls_cipher_by_id(gnutls_cipher_algorithm_t id)
{
	size_t i;

	for (i = 0; i < KTLS_NCIPHERS; i++)
		if (ciphers[i].id == id)
			return &ciphers[i];
	return NULL;
}

int ktls_crypto_fill(const struct ktls_cipher *c, bool tls13, const uint8_t *key, size_t keylen,
		     const uint8_t *iv, size_t ivlen, const uint8_t seq[8], void *out, size_t outsz)
{
	struct tls_crypto_info info = { 0 };
	unsigned char *p = out;
	/* GnuTLS's IV: a salted cipher gives salt + nonce in TLS 1.3 and
	 * only the salt in TLS 1.2 (the explicit nonce travels in each
	 * record); ChaCha20 (no salt) gives the whole nonce in both, and
	 * the kernel takes all 12 bytes in both (GnuTLS < 3.8.13 got this
	 * wrong for TLS 1.2 in its own kTLS code). */
	size_t want_iv = c->salt_size == 0 ? c->iv_size
			 : tls13	   ? c->salt_size + c->iv_size
					   : c->salt_size;

	if (outsz < c->info_size || keylen != c->key_size || ivlen != want_iv ||
	    c->rec_seq_size != 8 || (!tls13 && c->salt_size > 0 && c->iv_size != 8))
		return -EINVAL;
	memset(out, 0, c->info_size);
	info.version = tls13 ? TLS_1_3_VERSION : TLS_1_2_VERSION;
	info.cipher_type = c->kernel;
	memcpy(p, &info, sizeof(info));
	memcpy(p + c->key_off, key, c->key_size);
	memcpy(p + c->salt_off, iv, c->salt_size);
	if (tls13 || c->salt_size == 0)
		memcpy(p + c->iv_off, iv + c->salt_size, c->iv_size);
	else
		memcpy(p + c->iv_off, seq, c->iv_size);
	memcpy(p + c->rec_seq_off, seq, c->rec_seq_size);
	return (int)c->info_size;
}

int ktls_crypto_build(gnutls_session_t s, int read, void *out, size_t outsz)
{
	gnutls_datum_t mac, iv, key;
	unsigned char seq[8];
	gnutls_protocol_t ver = gnutls_protocol_get_version(s);
	const struct ktls_cipher *c = ktls_cipher_by_id(gnutls_cipher_get(s));

	memset(out, 0, outsz);
	if (c == NULL || (ver != GNUTLS_TLS1_2 && ver != GNUTLS_TLS1_3))
		return -EOPNOTSUPP;
	if (gnutls_record_get_state(s, (unsigned)read, &mac, &iv, &key, seq) < 0)
		return -EINVAL;
	return ktls_crypto_fill(c, ver == GNUTLS_TLS1_3, key.data, key.size, iv.data, iv.size, seq, out,
				outsz);
}

/* ---- /proc/self/net/tls_stat ------------------------------------------- */

int ktls_stat_parse(const char *text, struct ktls_stat *c, int max)
{
	const char *p = text;
	int n = 0;

	while (*p && n < max) {
		const char *eol = strchr(p, '\n');
		size_t ll = eol ? (size_t)(eol - p) : strlen(p);
		char line[128];

		snprintf(line, sizeof(line), "%.*s", (int)(ll < sizeof(line) ? ll : sizeof(line) - 1), p);
		if (sscanf(line, "%63s %ld", c[n].name, &c[n].value) == 2)
			n++;
		p += ll + (eol != NULL);
	}
	return n;
}

int ktls_stat_read(struct ktls_stat *c, int max)
{
	char buf[8192];
	size_t n = 0;
	int fd = open("/proc/self/net/tls_stat", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (n < sizeof(buf) - 1) {
		ssize_t r = read(fd, buf + n, sizeof(buf) - 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			close(fd);
			return -e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	return ktls_stat_parse(buf, c, max);
}

/* The counters that tell which offload ktls_enable got. */
struct tls_stat {
	long tx_sw, rx_sw, tx_dev, rx_dev;
	bool ok;
};

static void tls_stat_get(struct tls_stat *t)
{
	struct ktls_stat c[KTLS_STAT_MAX];
	int n = ktls_stat_read(c, KTLS_STAT_MAX), i;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < n; i++) {
		if (strcmp(c[i].name, "TlsTxSw") == 0)
			t->tx_sw = c[i].value;
		else if (strcmp(c[i].name, "TlsRxSw") == 0)
			t->rx_sw = c[i].value;
		else if (strcmp(c[i].name, "TlsTxDevice") == 0)
			t->tx_dev = c[i].value;
		else if (strcmp(c[i].name, "TlsRxDevice") == 0)
			t->rx_dev = c[i].value;
		else
			continue;
		t->ok = true;
	}
}

/* ---- sock_diag --------------------------------------------------------- */

static int nested_u16(const struct rtattr *nest, unsigned short type, int *out)
{
	const struct rtattr *a;
	int left = (int)RTA_PAYLOAD(nest);

	for (a = RTA_DATA(nest); RTA_OK(a, left); a = RTA_NEXT(a, left)) {
		if (a->rta_type == type && RTA_PAYLOAD(a) >= 2) {
			uint16_t v;

			memcpy(&v, RTA_DATA(a), 2);
			*out = v;
			return 0;
		}
	}
	return -ENODATA;
}

int ktls_diag_parse(const void *buf, size_t len, int *txconf, int *rxconf)
{
	const struct nlmsghdr *nh;
	size_t left = len;

	*txconf = *rxconf = 0;
	for (nh = buf; NLMSG_OK(nh, left); nh = NLMSG_NEXT(nh, left)) {
		const struct inet_diag_msg *m;
		const struct rtattr *a;
		int alen;

		if (nh->nlmsg_type == NLMSG_DONE)
			break;
		if (nh->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(nh);

			if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
				return -EPROTO;
			return e->error < 0 ? e->error : -EPROTO;
		}
		if (nh->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
		    nh->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
			return -EPROTO;
		m = NLMSG_DATA(nh);
		alen = (int)(nh->nlmsg_len - NLMSG_LENGTH(sizeof(*m)));
		for (a = (const struct rtattr *)(m + 1); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
			const struct rtattr *u;
			int ulen;
			bool is_tls = false;
			const struct rtattr *tlsinfo = NULL;

			if (a->rta_type != INET_DIAG_ULP_INFO)
				continue;
			ulen = (int)RTA_PAYLOAD(a);
			for (u = RTA_DATA(a); RTA_OK(u, ulen); u = RTA_NEXT(u, ulen)) {
				if (u->rta_type == INET_ULP_INFO_NAME)
					is_tls = RTA_PAYLOAD(u) >= 3 &&
						 memcmp(RTA_DATA(u), "tls", 3) == 0;
				else if (u->rta_type == INET_ULP_INFO_TLS)
					tlsinfo = u;
			}
			if (!is_tls || tlsinfo == NULL)
				return -ENODATA;
			nested_u16(tlsinfo, TLS_INFO_TXCONF, txconf);
			nested_u16(tlsinfo, TLS_INFO_RXCONF, rxconf);
			return 0;
		}
		return -ENODATA;
	}
	return -ENODATA;
}

static int diag_query(int fd, int *txconf, int *rxconf)
{
	struct sockaddr_storage local, peer;
	socklen_t ll = sizeof(local), pl = sizeof(peer);
	struct {
		struct nlmsghdr nh;
		struct inet_diag_req_v2 r;
	} req;
	struct sockaddr_nl nladdr = { .nl_family = AF_NETLINK };
	char buf[8192];
	ssize_t n;
	int nl, rc;

	if (getsockname(fd, (struct sockaddr *)&local, &ll) < 0 ||
	    getpeername(fd, (struct sockaddr *)&peer, &pl) < 0)
		return -errno;
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = sizeof(req);
	req.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nh.nlmsg_flags = NLM_F_REQUEST;
	req.nh.nlmsg_seq = 1;
	req.r.sdiag_family = (uint8_t)local.ss_family;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_ext = 1 << (INET_DIAG_INFO - 1);
	req.r.idiag_states = ~0u;
	req.r.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	req.r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	if (local.ss_family == AF_INET) {
		struct sockaddr_in *l = (void *)&local, *p = (void *)&peer;

		req.r.id.idiag_sport = l->sin_port;
		req.r.id.idiag_dport = p->sin_port;
		memcpy(req.r.id.idiag_src, &l->sin_addr, 4);
		memcpy(req.r.id.idiag_dst, &p->sin_addr, 4);
	} else {
		struct sockaddr_in6 *l = (void *)&local, *p = (void *)&peer;

		req.r.id.idiag_sport = l->sin6_port;
		req.r.id.idiag_dport = p->sin6_port;
		memcpy(req.r.id.idiag_src, &l->sin6_addr, 16);
		memcpy(req.r.id.idiag_dst, &p->sin6_addr, 16);
	}
	nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return -errno;
	if (sendto(nl, &req, sizeof(req), 0, (struct sockaddr *)&nladdr, sizeof(nladdr)) < 0) {
		rc = -errno;
		close(nl);
		return rc;
	}
	do {
		n = recv(nl, buf, sizeof(buf), 0);
	} while (n < 0 && errno == EINTR);
	rc = n < 0 ? -errno : ktls_diag_parse(buf, (size_t)n, txconf, rxconf);
	close(nl);
	return rc;
}

/* ---- enabling ---------------------------------------------------------- */

static int set_dir(int fd, gnutls_session_t s, int read, char *why, size_t whysz)
{
	union ktls_crypto ci;
	int len = ktls_crypto_build(s, read, &ci, sizeof(ci)), rc = 0;

	if (len == -EOPNOTSUPP) {
		snprintf(why, whysz, "%s with %s has no kernel mapping",
			 gnutls_protocol_get_name(gnutls_protocol_get_version(s)),
			 gnutls_cipher_get_name(gnutls_cipher_get(s)));
		return len;
	}
	if (len < 0) {
		snprintf(why, whysz, "cannot read the %s keys from GnuTLS", read ? "receive" : "send");
		return len;
	}
	if (setsockopt(fd, SOL_TLS, read ? TLS_RX : TLS_TX, &ci, (socklen_t)len) < 0) {
		rc = -errno;
		snprintf(why, whysz, "the kernel refused %s for %s %s: %s",
			 read ? "TLS_RX" : "TLS_TX",
			 gnutls_protocol_get_name(gnutls_protocol_get_version(s)),
			 gnutls_cipher_get_name(gnutls_cipher_get(s)),
			 rc == -EINVAL ? "cipher or version not offered by this kernel" : strerror(-rc));
	}
	gnutls_memset(&ci, 0, sizeof(ci));
	return rc;
}

int ktls_enable(int fd, gnutls_session_t s, enum ktls_policy policy, struct ktls_info *ki,
		struct kc_status *st)
{
	struct tls_stat before, after;
	char why_tx[200] = "", why_rx[200] = "";
	int rc, txc = 0, rxc = 0;

	memset(ki, 0, sizeof(*ki));
	ki->source = "none";
	if (policy == KTLS_OFF) {
		snprintf(ki->reason, sizeof(ki->reason), "--ktls=off");
		return 0;
	}
	if (gnutls_record_check_pending(s) > 0) {
		/* Never happens with GnuTLS 3.7 on a stream socket (it reads no
		 * further than the handshake), but switching now would lose data. */
		snprintf(ki->reason, sizeof(ki->reason), "records already buffered in GnuTLS");
		goto out;
	}
	tls_stat_get(&before);
	if (setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) < 0) {
		if (errno == ENOENT)
			snprintf(ki->reason, sizeof(ki->reason),
				 "no tls module in this kernel (TCP_ULP \"tls\": %s)", strerror(errno));
		else
			snprintf(ki->reason, sizeof(ki->reason), "TCP_ULP \"tls\": %s", strerror(errno));
		goto out;
	}
	/* With only the ULP attached the socket still carries plain TCP, so a
	 * direction the kernel refuses stays with GnuTLS. */
	if (set_dir(fd, s, 0, why_tx, sizeof(why_tx)) == 0)
		ki->tx = KTLS_MODE_KERNEL;
	if (set_dir(fd, s, 1, why_rx, sizeof(why_rx)) == 0)
		ki->rx = KTLS_MODE_KERNEL;
#ifdef TLS_RX_EXPECT_NO_PAD
	/* TLS 1.3 RX: records are not padded by the kernel's TX nor by GnuTLS
	 * by default, so let the kernel decrypt straight into our buffer.  A
	 * peer that pads anyway costs a second decryption, not correctness
	 * (kernels from 6.0; older ones refuse the option, which is fine). */
	if (ki->rx == KTLS_MODE_KERNEL && gnutls_protocol_get_version(s) == GNUTLS_TLS1_3) {
		unsigned int one = 1;

		if (setsockopt(fd, SOL_TLS, TLS_RX_EXPECT_NO_PAD, &one, sizeof(one)) < 0)
			diag_debug("TLS_RX_EXPECT_NO_PAD: %s", strerror(errno));
	}
#endif
	if (ki->tx == KTLS_MODE_USERSPACE || ki->rx == KTLS_MODE_USERSPACE)
		snprintf(ki->reason, sizeof(ki->reason), "%s%s%s", why_tx,
			 why_tx[0] && why_rx[0] && strcmp(why_tx, why_rx) ? "; " : "",
			 strcmp(why_tx, why_rx) ? why_rx : "");
	if (ki->tx == KTLS_MODE_USERSPACE && ki->rx == KTLS_MODE_USERSPACE)
		goto out;

	rc = diag_query(fd, &txc, &rxc);
	diag_debug("sock_diag: %s (txconf %d, rxconf %d)", rc == 0 ? "ok" : strerror(-rc), txc, rxc);
	if (rc == 0 && (txc != 0 || rxc != 0)) {
		ki->source = "sock_diag";
		if (ki->tx != KTLS_MODE_USERSPACE)
			ki->tx = ktls_mode_from_conf(txc);
		if (ki->rx != KTLS_MODE_USERSPACE)
			ki->rx = ktls_mode_from_conf(rxc);
	} else {
		tls_stat_get(&after);
		if (before.ok && after.ok) {
			ki->source = "tls_stat";
			if (ki->tx != KTLS_MODE_USERSPACE)
				ki->tx = after.tx_dev > before.tx_dev ? KTLS_MODE_HW
					 : after.tx_sw > before.tx_sw ? KTLS_MODE_SW : KTLS_MODE_KERNEL;
			if (ki->rx != KTLS_MODE_USERSPACE)
				ki->rx = after.rx_dev > before.rx_dev ? KTLS_MODE_HW
					 : after.rx_sw > before.rx_sw ? KTLS_MODE_SW : KTLS_MODE_KERNEL;
		}
	}
out:
	if (policy == KTLS_REQUIRE &&
	    (ki->tx == KTLS_MODE_USERSPACE || ki->rx == KTLS_MODE_USERSPACE))
		return kc_fail(st, KC_KTLS, "kTLS required but unavailable: %s", ki->reason);
	return 0;
}

/* ---- probing ----------------------------------------------------------- */

/* A connected loopback pair; 0 or -errno. */
static int loop_pair(int fds[2])
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	int l, c = -1, s = -1, rc = 0;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		return -errno;
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &al) < 0)
		goto fail;
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)) < 0)
		goto fail;
	s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (s < 0)
		goto fail;
	close(l);
	fds[0] = c;
	fds[1] = s;
	return 0;
fail:
	rc = -errno;
	if (c >= 0)
		close(c);
	close(l);
	return rc;
}

int ktls_available(char *why, size_t whysz)
{
	int fds[2], rc;

	rc = loop_pair(fds);
	if (rc < 0) {
		snprintf(why, whysz, "cannot open a loopback connection to test: %s", strerror(-rc));
		return rc;
	}
	rc = setsockopt(fds[0], IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) < 0 ? -errno : 0;
	if (rc == -ENOENT)
		snprintf(why, whysz, "no tls module in this kernel (TCP_ULP \"tls\": %s)", strerror(ENOENT));
	else if (rc < 0)
		snprintf(why, whysz, "TCP_ULP \"tls\": %s", strerror(-rc));
	else
		snprintf(why, whysz, "the kernel accepts TCP_ULP \"tls\"");
	close(fds[0]);
	close(fds[1]);
	return rc;
}

/* 0 or the errno of setsockopt(TLS_TX or TLS_RX) with zero keys. */
static int probe_one(const struct ktls_cipher *c, int version, int dir)
{
	union ktls_crypto ci;
	socklen_t len = (socklen_t)c->info_size;
	int fds[2], rc;

	memset(&ci, 0, sizeof(ci));
	ci.info.version = (uint16_t)version;
	ci.info.cipher_type = c->kernel;
	rc = loop_pair(fds);
	if (rc < 0)
		return -rc;
	if (setsockopt(fds[0], IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) < 0 ||
	    setsockopt(fds[0], SOL_TLS, dir, &ci, len) < 0)
		rc = errno;
	close(fds[0]);
	close(fds[1]);
	return rc;
}

/* A loopback pair whose fds[0] has the ULP and a TLS 1.3 AES-GCM-128 TX
 * key (all zero: nothing is sent), for the probes.  0, or a negative
 * errno (the pair closed). */
static int probe_tx_socket(int fds[2], union ktls_crypto *ci, const struct ktls_cipher **c)
{
	int rc;

	*c = &ciphers[0];
	memset(ci, 0, sizeof(*ci));
	ci->info.version = TLS_1_3_VERSION;
	ci->info.cipher_type = (*c)->kernel;
	rc = loop_pair(fds);
	if (rc < 0)
		return rc;
	if (setsockopt(fds[0], IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) == 0 &&
	    setsockopt(fds[0], SOL_TLS, TLS_TX, ci, (socklen_t)(*c)->info_size) == 0)
		return 0;
	rc = -errno;
	close(fds[0]);
	close(fds[1]);
	return rc;
}

int ktls_rekey_probe(void)
{
	union ktls_crypto ci;
	const struct ktls_cipher *c;
	int fds[2], rc = probe_tx_socket(fds, &ci, &c);

	if (rc < 0)
		return rc;
	if (setsockopt(fds[0], SOL_TLS, TLS_TX, &ci, (socklen_t)c->info_size) == 0)
		rc = 1;
	else
		rc = errno == EBUSY ? 0 : -errno;
	close(fds[0]);
	close(fds[1]);
	return rc;
}

int ktls_diag_probe(void)
{
	union ktls_crypto ci;
	const struct ktls_cipher *c;
	int fds[2], txc = 0, rxc = 0, rc = probe_tx_socket(fds, &ci, &c);

	if (rc < 0)
		return rc;
	rc = diag_query(fds[0], &txc, &rxc) == 0 && txc != 0;
	close(fds[0]);
	close(fds[1]);
	return rc;
}

int ktls_probe(struct ktls_probe_result res[KTLS_PROBE_MAX], char *prio, size_t priosz)
{
	unsigned i, v, n = 0;
	int ok = 0;

	if (prio && priosz)
		prio[0] = '\0';
	for (i = 0; i < KTLS_NCIPHERS; i++) {
		bool all = true;

		for (v = 0; v < 2; v++) {
			struct ktls_probe_result *r = &res[n++];
			int ver = v == 0 ? TLS_1_3_VERSION : TLS_1_2_VERSION;

			r->cipher = ciphers[i].name;
			r->gnutls = ciphers[i].gnutls;
			r->version = v == 0 ? 13 : 12;
			r->tx_err = probe_one(&ciphers[i], ver, TLS_TX);
			r->rx_err = probe_one(&ciphers[i], ver, TLS_RX);
			if (r->tx_err == 0 && r->rx_err == 0)
				ok++;
			else
				all = false;
			if (r->tx_err == ENOENT)
				return -ENOENT;
		}
		if (all && prio) {
			size_t l = strlen(prio);

			snprintf(prio + l, priosz - l, "%s+%s", l ? ":" : "", ciphers[i].gnutls);
		}
	}
	return ok;
}

/* ---- control records --------------------------------------------------- */

int ktls_send_record(int fd, uint8_t type, const void *data, size_t len)
{
	char cbuf[CMSG_SPACE(sizeof(type))];
	struct iovec iov = { (void *)data, len };
	struct msghdr msg = { 0 };
	struct cmsghdr *cm;
	ssize_t n;

	memset(cbuf, 0, sizeof(cbuf));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof(cbuf);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_TLS;
	cm->cmsg_type = TLS_SET_RECORD_TYPE;
	cm->cmsg_len = CMSG_LEN(sizeof(type));
	memcpy(CMSG_DATA(cm), &type, sizeof(type));
	/* A record with a type cmsg goes out whole or not at all. */
	do {
		n = sendmsg(fd, &msg, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

static ssize_t recv_record(int fd, void *buf, size_t len, uint8_t *type, int flags)
{
	char cbuf[CMSG_SPACE(sizeof(uint8_t))];
	struct iovec iov = { buf, len };
	struct msghdr msg = { 0 };
	struct cmsghdr *cm;
	ssize_t n;

	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof(cbuf);
	n = recvmsg(fd, &msg, flags);
	if (n < 0)
		return -errno;
	*type = TLS_CT_APPLICATION_DATA;
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_TLS && cm->cmsg_type == TLS_GET_RECORD_TYPE)
			*type = *(uint8_t *)CMSG_DATA(cm);
	return n;
}

ssize_t ktls_recv_record(int fd, void *buf, size_t len, uint8_t *type)
{
	return recv_record(fd, buf, len, type, 0);
}

ssize_t ktls_peek_record_type(int fd, uint8_t *type)
{
	uint8_t b;

	return recv_record(fd, &b, 1, type, MSG_PEEK);
}

/* ---- NIC features ------------------------------------------------------ */

static int ethtool(int sock, const char *ifname, void *cmd)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = cmd;
	return ioctl(sock, SIOCETHTOOL, &ifr) < 0 ? -errno : 0;
}

int ktls_nic_features(const char *ifname, struct ktls_nic_feature f[KTLS_NIC_NFEAT])
{
	static const char *const names[KTLS_NIC_NFEAT] = {
		"tls-hw-tx-offload", "tls-hw-rx-offload", "tls-hw-record",
	};
	struct ethtool_sset_info *info = NULL;
	struct ethtool_gstrings *str = NULL;
	struct ethtool_gfeatures *feat = NULL;
	unsigned count, blocks, i, k;
	int sock, rc;

	for (k = 0; k < KTLS_NIC_NFEAT; k++) {
		f[k].name = names[k];
		f[k].known = f[k].active = f[k].fixed = false;
	}
	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return -errno;
	info = calloc(1, sizeof(*info) + sizeof(uint32_t));
	if (info == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	info->cmd = ETHTOOL_GSSET_INFO;
	info->sset_mask = 1ULL << ETH_SS_FEATURES;
	rc = ethtool(sock, ifname, info);
	if (rc < 0)
		goto out;
	count = info->sset_mask ? info->data[0] : 0;
	if (count == 0 || count > 4096) {
		rc = -ENODATA;
		goto out;
	}
	blocks = (count + 31) / 32;
	str = calloc(1, sizeof(*str) + (size_t)count * ETH_GSTRING_LEN);
	feat = calloc(1, sizeof(*feat) + blocks * sizeof(feat->features[0]));
	if (str == NULL || feat == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	str->cmd = ETHTOOL_GSTRINGS;
	str->string_set = ETH_SS_FEATURES;
	str->len = count;
	feat->cmd = ETHTOOL_GFEATURES;
	feat->size = blocks;
	rc = ethtool(sock, ifname, str);
	if (rc == 0)
		rc = ethtool(sock, ifname, feat);
	if (rc < 0)
		goto out;
	for (i = 0; i < count; i++) {
		const char *name = (const char *)str->data + (size_t)i * ETH_GSTRING_LEN;
		uint32_t bit = 1u << (i % 32);
		const struct ethtool_get_features_block *b = &feat->features[i / 32];

		for (k = 0; k < KTLS_NIC_NFEAT; k++) {
			if (strncmp(name, names[k], ETH_GSTRING_LEN) != 0)
				continue;
			f[k].known = true;
			f[k].active = (b->active & bit) != 0;
			f[k].fixed = (b->available & bit) == 0 || (b->never_changed & bit) != 0;
		}
	}
out:
	free(info);
	free(str);
	free(feat);
	close(sock);
	return rc;
}

uint64_t ktls_key_record_limit(gnutls_cipher_algorithm_t cipher, uint64_t lower)
{
	if (cipher == GNUTLS_CIPHER_CHACHA20_POLY1305)
		return 0;
	return lower > 0 && lower < KTLS_KEY_RECORD_LIMIT ? lower : KTLS_KEY_RECORD_LIMIT;
}

/* ---- TLS 1.3 key updates (RFC 8446 7.1, 7.2) ----------------------------- */

int ktls_hkdf_label(gnutls_mac_algorithm_t mac, const uint8_t *secret, size_t slen,
		    const char *label, uint8_t *out, size_t outlen)
{
	/* HkdfLabel: uint16 length, opaque label<7..255> = "tls13 " + label,
	 * opaque context<0..255> (empty here). */
	uint8_t info[2 + 1 + 255 + 1];
	size_t ll = strlen(label), n = 0;
	gnutls_datum_t k = { (unsigned char *)secret, (unsigned)slen }, i;
	int rc;

	if (ll > 255 - 6 || outlen > 0xffff)
		return -EINVAL;
	info[n++] = (uint8_t)(outlen >> 8);
	info[n++] = (uint8_t)outlen;
	info[n++] = (uint8_t)(6 + ll);
	memcpy(info + n, "tls13 ", 6);
	memcpy(info + n + 6, label, ll);
	n += 6 + ll;
	info[n++] = 0;
	i.data = info;
	i.size = (unsigned)n;
	rc = gnutls_hkdf_expand(mac, &k, &i, out, outlen);
	return rc < 0 ? -EINVAL : 0;
}

int ktls_secret_next(gnutls_mac_algorithm_t mac, uint8_t *secret, size_t len)
{
	uint8_t next[KTLS_SECRET_MAX];
	int rc;

	if (len > sizeof(next))
		return -EINVAL;
	rc = ktls_hkdf_label(mac, secret, len, "traffic upd", next, len);
	if (rc == 0)
		memcpy(secret, next, len);
	gnutls_memset(next, 0, sizeof(next));
	return rc;
}

int ktls_crypto_from_secret(const struct ktls_cipher *c, gnutls_mac_algorithm_t mac,
			    const uint8_t *secret, size_t len, void *out, size_t outsz)
{
	static const uint8_t seq0[8];
	uint8_t key[32], iv[12];
	size_t ivlen = c->salt_size + c->iv_size;
	int rc;

	if (c->key_size > sizeof(key) || ivlen != sizeof(iv))
		return -EINVAL;
	rc = ktls_hkdf_label(mac, secret, len, "key", key, c->key_size);
	if (rc == 0)
		rc = ktls_hkdf_label(mac, secret, len, "iv", iv, ivlen);
	if (rc == 0)
		rc = ktls_crypto_fill(c, true, key, c->key_size, iv, ivlen, seq0, out, outsz);
	gnutls_memset(key, 0, sizeof(key));
	gnutls_memset(iv, 0, sizeof(iv));
	return rc;
}

int ktls_rekey_install(int fd, bool rx, const struct ktls_cipher *c, gnutls_mac_algorithm_t mac,
		       const uint8_t *secret, size_t len)
{
	union ktls_crypto ci;
	int n = ktls_crypto_from_secret(c, mac, secret, len, &ci, sizeof(ci)), rc = 0;

	if (n < 0)
		rc = n;
	else if (setsockopt(fd, SOL_TLS, rx ? TLS_RX : TLS_TX, &ci, (socklen_t)n) < 0)
		rc = -errno;
	gnutls_memset(&ci, 0, sizeof(ci));
	return rc;
}
