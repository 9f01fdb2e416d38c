/* Unit tests of the sock_diag reply decoder with crafted netlink messages
 * (no NIC here can produce hw or hw_record), of the cipher table and the
 * key layout handed to the kernel (checked against linux/tls.h, since the
 * native lane has no kTLS to refuse a wrong one), and of small helpers. */
#include "config.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tls.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ktls.h"
#include "tap.h"

static uint8_t buf[1024];

static size_t put_attr(uint8_t *p, unsigned short type, const void *data, size_t len)
{
	struct rtattr *a = (struct rtattr *)p;

	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	if (data)
		memcpy(RTA_DATA(a), data, len);
	return RTA_ALIGN(a->rta_len);
}

/* Build a SOCK_DIAG_BY_FAMILY reply; ulp: 0 none, 1 "tls" with confs,
 * 2 "mptcp". */
static size_t build(int ulp, uint16_t tx, uint16_t rx)
{
	struct nlmsghdr *nh = (struct nlmsghdr *)buf;
	uint8_t *p;
	size_t off;

	memset(buf, 0, sizeof(buf));
	nh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	off = NLMSG_LENGTH(sizeof(struct inet_diag_msg));
	p = buf + NLMSG_ALIGN(off);
	/* An unrelated attribute first. */
	{
		uint32_t mark = 7;

		p += put_attr(p, INET_DIAG_MARK, &mark, sizeof(mark));
	}
	if (ulp) {
		struct rtattr *ulpa = (struct rtattr *)p;
		uint8_t *q = (uint8_t *)RTA_DATA(ulpa);
		uint8_t *start = q;

		ulpa->rta_type = INET_DIAG_ULP_INFO;
		q += put_attr(q, INET_ULP_INFO_NAME, ulp == 1 ? "tls" : "mptcp", ulp == 1 ? 4 : 6);
		if (ulp == 1) {
			struct rtattr *t = (struct rtattr *)q;
			uint8_t *r = (uint8_t *)RTA_DATA(t);
			uint8_t *rs = r;
			uint16_t v = TLS_1_3_VERSION, c = TLS_CIPHER_AES_GCM_128;

			t->rta_type = INET_ULP_INFO_TLS;
			r += put_attr(r, TLS_INFO_VERSION, &v, 2);
			r += put_attr(r, TLS_INFO_CIPHER, &c, 2);
			r += put_attr(r, TLS_INFO_TXCONF, &tx, 2);
			r += put_attr(r, TLS_INFO_RXCONF, &rx, 2);
			t->rta_len = (unsigned short)RTA_LENGTH(r - rs);
			q += RTA_ALIGN(t->rta_len);
		}
		ulpa->rta_len = (unsigned short)RTA_LENGTH(q - start);
		p += RTA_ALIGN(ulpa->rta_len);
	}
	nh->nlmsg_len = (uint32_t)(p - buf);
	return nh->nlmsg_len;
}

/* A salted cipher (AES-GCM, AES-CCM): the fill must match the kernel's
 * own struct field by field. */
#define CHECK_SALTED(NAME, K, S)                                                                  \
	do {                                                                                      \
		const struct ktls_cipher *c = ktls_cipher_by_name(NAME);                          \
		struct tls12_crypto_info_##S ci;                                                  \
		uint8_t key[TLS_CIPHER_##K##_KEY_SIZE], iv[12], seq[8];                            \
		size_t i;                                                                         \
                                                                                                  \
		for (i = 0; i < sizeof(key); i++)                                                 \
			key[i] = (uint8_t)(0x40 + i);                                             \
		for (i = 0; i < sizeof(iv); i++)                                                  \
			iv[i] = (uint8_t)(0x10 + i);                                              \
		for (i = 0; i < sizeof(seq); i++)                                                 \
			seq[i] = (uint8_t)(0xa0 + i);                                             \
		ok(c && c->kernel == TLS_CIPHER_##K && c->info_size == sizeof(ci) &&              \
			   c->key_size == sizeof(ci.key) && c->salt_size == sizeof(ci.salt) &&     \
			   c->iv_size == sizeof(ci.iv) && c->rec_seq_size == sizeof(ci.rec_seq),  \
		   "%s: the table has linux/tls.h's sizes", NAME);                                \
		memset(&ci, 0xee, sizeof(ci));                                                    \
		ok(ktls_crypto_fill(c, true, key, sizeof(key), iv, 12, seq, &ci, sizeof(ci)) ==    \
				   (int)sizeof(ci) &&                                             \
			   ci.info.version == TLS_1_3_VERSION && ci.info.cipher_type == TLS_CIPHER_##K && \
			   memcmp(ci.key, key, sizeof(key)) == 0 && memcmp(ci.salt, iv, 4) == 0 &&   \
			   memcmp(ci.iv, iv + 4, 8) == 0 && memcmp(ci.rec_seq, seq, 8) == 0,       \
		   "%s, TLS 1.3: salt and nonce from the IV, key, sequence number", NAME);       \
		memset(&ci, 0xee, sizeof(ci));                                                    \
		ok(ktls_crypto_fill(c, false, key, sizeof(key), iv, 4, seq, &ci, sizeof(ci)) ==    \
				   (int)sizeof(ci) &&                                             \
			   ci.info.version == TLS_1_2_VERSION && memcmp(ci.salt, iv, 4) == 0 &&      \
			   memcmp(ci.iv, seq, 8) == 0 && memcmp(ci.rec_seq, seq, 8) == 0 &&         \
			   memcmp(ci.key, key, sizeof(key)) == 0,                                  \
		   "%s, TLS 1.2: salt from the IV, explicit nonce = sequence number", NAME);     \
		ok(ktls_crypto_fill(c, true, key, sizeof(key), iv, 4, seq, &ci, sizeof(ci)) ==     \
				   -EINVAL &&                                                     \
			   ktls_crypto_fill(c, false, key, sizeof(key) - 1, iv, 4, seq, &ci,       \
					    sizeof(ci)) == -EINVAL &&                              \
			   ktls_crypto_fill(c, false, key, sizeof(key), iv, 4, seq, &ci,           \
					    sizeof(ci) - 1) == -EINVAL,                            \
		   "%s: a wrong IV, key or buffer length is refused", NAME);                     \
	} while (0)

static void check_salted(void)
{
	CHECK_SALTED("aes-128-gcm", AES_GCM_128, aes_gcm_128);
	CHECK_SALTED("aes-256-gcm", AES_GCM_256, aes_gcm_256);
	CHECK_SALTED("aes-128-ccm", AES_CCM_128, aes_ccm_128);
}

static void check_ciphers(void)
{
	const struct ktls_cipher *c;
	struct tls12_crypto_info_chacha20_poly1305 ch;
	uint8_t key[32], iv[12], seq[8];
	size_t i, n = 0;

	for (i = 0; (c = ktls_cipher_at(i)) != NULL; i++)
		n += ktls_cipher_by_name(c->name) == c && ktls_cipher_by_id(c->id) == c &&
		     strcmp(gnutls_cipher_get_name(c->id), c->gnutls) == 0 &&
		     strstr(KTLS_CIPHER_NAMES, c->name) != NULL;
	ok(i == KTLS_NCIPHERS && n == i && KTLS_PROBE_MAX == 2 * i,
	   "%zu ciphers, each found by name and by GnuTLS id, named as GnuTLS names it, in the help list", n);
	ok(strcmp(KTLS_CIPHER_NAMES, "aes-128-gcm, aes-256-gcm, chacha20-poly1305 or aes-128-ccm") == 0,
	   "the help list: %s", KTLS_CIPHER_NAMES);
	ok(ktls_cipher_by_name("aes-128-cbc") == NULL && ktls_cipher_by_id(GNUTLS_CIPHER_AES_128_CBC) == NULL,
	   "ciphers the kernel cannot take are not in the table");
	check_salted();

	c = ktls_cipher_by_name("chacha20-poly1305");
	for (i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(0x40 + i);
	for (i = 0; i < sizeof(iv); i++)
		iv[i] = (uint8_t)(0x10 + i);
	for (i = 0; i < sizeof(seq); i++)
		seq[i] = (uint8_t)(0xa0 + i);
	ok(c && c->kernel == TLS_CIPHER_CHACHA20_POLY1305 && c->info_size == sizeof(ch) &&
		   c->key_size == sizeof(ch.key) && c->salt_size == 0 && c->iv_size == sizeof(ch.iv) &&
		   c->rec_seq_size == sizeof(ch.rec_seq),
	   "chacha20-poly1305: the table has linux/tls.h's sizes");
	memset(&ch, 0xee, sizeof(ch));
	ok(ktls_crypto_fill(c, false, key, 32, iv, 12, seq, &ch, sizeof(ch)) == (int)sizeof(ch) &&
		   ch.info.version == TLS_1_2_VERSION && ch.info.cipher_type == TLS_CIPHER_CHACHA20_POLY1305 &&
		   memcmp(ch.iv, iv, 12) == 0 && memcmp(ch.key, key, 32) == 0 && memcmp(ch.rec_seq, seq, 8) == 0,
	   "chacha20-poly1305, TLS 1.2: the whole 12-byte IV");
	memset(&ch, 0xee, sizeof(ch));
	ok(ktls_crypto_fill(c, true, key, 32, iv, 12, seq, &ch, sizeof(ch)) == (int)sizeof(ch) &&
		   ch.info.version == TLS_1_3_VERSION && memcmp(ch.iv, iv, 12) == 0,
	   "chacha20-poly1305, TLS 1.3: the whole 12-byte IV");
	ok(ktls_crypto_fill(c, true, key, 32, iv, 4, seq, &ch, sizeof(ch)) == -EINVAL,
	   "chacha20-poly1305: a short IV is refused");
}

static const uint8_t psk_key[16] = "0123456789abcdef";

static int psk_cb(gnutls_session_t s, const char *user, gnutls_datum_t *key)
{
	(void)s;
	(void)user;
	key->data = gnutls_malloc(sizeof(psk_key));
	if (key->data == NULL)
		return -1;
	memcpy(key->data, psk_key, sizeof(psk_key));
	key->size = sizeof(psk_key);
	return 0;
}

/* A PSK handshake over a socketpair with only cipher c and one version;
 * 0 with both sessions, or -1 (then nothing is left to free). */
static int pair_handshake(const struct ktls_cipher *c, int version, gnutls_session_t *cl,
			  gnutls_session_t *sv, gnutls_psk_client_credentials_t cc,
			  gnutls_psk_server_credentials_t sc, int fds[2])
{
	char prio[256];
	int cr = GNUTLS_E_AGAIN, sr = GNUTLS_E_AGAIN, i;

	snprintf(prio, sizeof(prio),
		 "NORMAL:-VERS-ALL:+VERS-TLS1.%d:-CIPHER-ALL:+%s:-KX-ALL:+ECDHE-PSK:+DHE-PSK:%%NO_TICKETS",
		 version - 10, c->gnutls);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0)
		return -1;
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	gnutls_init(cl, GNUTLS_CLIENT | GNUTLS_NONBLOCK);
	gnutls_init(sv, GNUTLS_SERVER | GNUTLS_NONBLOCK);
	if (gnutls_priority_set_direct(*cl, prio, NULL) < 0 || gnutls_priority_set_direct(*sv, prio, NULL) < 0)
		cr = -1;
	gnutls_credentials_set(*cl, GNUTLS_CRD_PSK, cc);
	gnutls_credentials_set(*sv, GNUTLS_CRD_PSK, sc);
	gnutls_transport_set_int(*cl, fds[0]);
	gnutls_transport_set_int(*sv, fds[1]);
	for (i = 0; i < 1000 && (cr == GNUTLS_E_AGAIN || sr == GNUTLS_E_AGAIN); i++) {
		if (cr == GNUTLS_E_AGAIN)
			cr = gnutls_handshake(*cl);
		if (sr == GNUTLS_E_AGAIN)
			sr = gnutls_handshake(*sv);
	}
	if (cr == 0 && sr == 0)
		return 0;
	gnutls_deinit(*cl);
	gnutls_deinit(*sv);
	close(fds[0]);
	close(fds[1]);
	return -1;
}

/* What ktls_enable would install, from real GnuTLS sessions: one side's
 * TX must be the other side's RX byte for byte, with the cipher's kernel
 * type and struct size.  Catches a key mapping that GnuTLS's IV and key
 * lengths do not fit, which only the kTLS lane would otherwise see. */
static void check_sessions(void)
{
	gnutls_psk_client_credentials_t cc;
	gnutls_psk_server_credentials_t sc;
	gnutls_datum_t k = { (unsigned char *)psk_key, sizeof(psk_key) };
	const struct ktls_cipher *c;
	size_t i;
	int v, done = 0;

	gnutls_psk_allocate_client_credentials(&cc);
	gnutls_psk_set_client_credentials(cc, "test", &k, GNUTLS_PSK_KEY_RAW);
	gnutls_psk_allocate_server_credentials(&sc);
	gnutls_psk_set_server_credentials_function(sc, psk_cb);
	for (i = 0; (c = ktls_cipher_at(i)) != NULL; i++) {
		for (v = 12; v <= 13; v++) {
			unsigned char ctx[512], srx[512], stx[512], crx[512];
			struct tls_crypto_info info;
			gnutls_session_t cl, sv;
			int fds[2], a, b, d, e;

			if (pair_handshake(c, v, &cl, &sv, cc, sc, fds) < 0) {
				/* e.g. AES-256-GCM: a TLS 1.3 PSK is bound to SHA-256 */
				ok(1, "%s TLS 1.%d from a session # SKIP no PSK handshake with it here", c->name,
				   v - 10);
				continue;
			}
			a = ktls_crypto_build(cl, 0, ctx, sizeof(ctx));
			b = ktls_crypto_build(sv, 1, srx, sizeof(srx));
			d = ktls_crypto_build(sv, 0, stx, sizeof(stx));
			e = ktls_crypto_build(cl, 1, crx, sizeof(crx));
			memcpy(&info, ctx, sizeof(info));
			ok(a == (int)c->info_size && b == a && d == a && e == a && memcmp(ctx, srx, c->info_size) == 0 &&
				   memcmp(stx, crx, c->info_size) == 0 && info.cipher_type == c->kernel &&
				   info.version == (v == 13 ? TLS_1_3_VERSION : TLS_1_2_VERSION) &&
				   memcmp(ctx + c->key_off, stx + c->key_off, c->key_size) != 0,
			   "%s TLS 1.%d from a session: client TX = server RX, server TX = client RX (%d, %d, %d, %d)",
			   c->name, v - 10, a, b, d, e);
			done++;
			gnutls_deinit(cl);
			gnutls_deinit(sv);
			close(fds[0]);
			close(fds[1]);
		}
	}
	ok(done >= 4, "%d cipher and version pairs checked from sessions", done);
	gnutls_psk_free_client_credentials(cc);
	gnutls_psk_free_server_credentials(sc);
}

int main(void)
{
	int tx, rx;
	size_t len;
	enum ktls_policy pol;

	check_ciphers();
	check_sessions();

	len = build(1, TLS_CONF_SW, TLS_CONF_SW);
	ok(ktls_diag_parse(buf, len, &tx, &rx) == 0 && tx == TLS_CONF_SW && rx == TLS_CONF_SW,
	   "sw/sw decoded");
	ok(ktls_mode_from_conf(tx) == KTLS_MODE_SW && strcmp(ktls_mode_name(KTLS_MODE_SW), "sw") == 0,
	   "TLS_CONF_SW is reported as sw");
	len = build(1, TLS_CONF_HW, TLS_CONF_SW);
	ok(ktls_diag_parse(buf, len, &tx, &rx) == 0 && tx == TLS_CONF_HW && rx == TLS_CONF_SW,
	   "hw tx, sw rx decoded");
	ok(strcmp(ktls_mode_name(ktls_mode_from_conf(tx)), "hw") == 0, "TLS_CONF_HW is reported as hw");
	len = build(1, TLS_CONF_HW_RECORD, TLS_CONF_HW_RECORD);
	ok(ktls_diag_parse(buf, len, &tx, &rx) == 0 && tx == TLS_CONF_HW_RECORD &&
	   strcmp(ktls_mode_name(ktls_mode_from_conf(rx)), "hw_record") == 0, "hw_record decoded");
	len = build(1, TLS_CONF_BASE, TLS_CONF_BASE);
	ok(ktls_diag_parse(buf, len, &tx, &rx) == 0 &&
	   ktls_mode_from_conf(tx) == KTLS_MODE_USERSPACE, "TLS_CONF_BASE (no keys) is userspace");
	len = build(0, 0, 0);
	ok(ktls_diag_parse(buf, len, &tx, &rx) == -ENODATA, "no ULP info (unprivileged, old kernel)");
	len = build(2, 0, 0);
	ok(ktls_diag_parse(buf, len, &tx, &rx) == -ENODATA, "another ULP is not kTLS");
	{
		struct nlmsghdr *nh = (struct nlmsghdr *)buf;
		struct nlmsgerr *e = NLMSG_DATA(nh);

		memset(buf, 0, sizeof(buf));
		nh->nlmsg_type = NLMSG_ERROR;
		nh->nlmsg_len = NLMSG_LENGTH(sizeof(*e));
		e->error = -ENOENT;
		ok(ktls_diag_parse(buf, nh->nlmsg_len, &tx, &rx) == -ENOENT, "NLMSG_ERROR is returned");
	}
	len = build(1, TLS_CONF_SW, TLS_CONF_SW);
	ok(ktls_diag_parse(buf, len - 3, &tx, &rx) != 0 || 1, "truncated reply does not crash");
	ok(ktls_diag_parse(buf, 10, &tx, &rx) == -ENODATA, "tiny reply");
	ok(ktls_policy_parse("require", &pol) == 0 && pol == KTLS_REQUIRE, "--ktls require");
	ok(ktls_policy_parse("sometimes", &pol) == -EINVAL, "--ktls bad value");
	{
		struct ktls_stat c[3];
		const char *text = "TlsCurrTxSw                     \t1\n"
				   "TlsTxSw 42\n"
				   "not a counter\n"
				   "TlsRxDevice 7";

		ok(ktls_stat_parse(text, c, 3) == 3 && strcmp(c[0].name, "TlsCurrTxSw") == 0 &&
			   c[0].value == 1 && strcmp(c[1].name, "TlsTxSw") == 0 && c[1].value == 42 &&
			   strcmp(c[2].name, "TlsRxDevice") == 0 && c[2].value == 7,
		   "tls_stat: counters by name, other lines skipped, no final newline needed");
		ok(ktls_stat_parse(text, c, 1) == 1 && ktls_stat_parse("", c, 3) == 0,
		   "tls_stat: at most max counters; empty text");
	}
	ok(strcmp(ktls_mode_name(KTLS_MODE_USERSPACE), "userspace") == 0 &&
	   strcmp(ktls_mode_name(KTLS_MODE_KERNEL), "kernel") == 0, "mode vocabulary");
	ok(ktls_key_record_limit(GNUTLS_CIPHER_AES_128_GCM, 0) == KTLS_KEY_RECORD_LIMIT &&
	   ktls_key_record_limit(GNUTLS_CIPHER_AES_128_CCM, 0) == KTLS_KEY_RECORD_LIMIT,
	   "key-use budget: AES-GCM and AES-CCM stop at 2^24 records");
	ok(ktls_key_record_limit(GNUTLS_CIPHER_AES_256_GCM, 50) == 50,
	   "key-use budget: a lower limit can be asked for");
	ok(ktls_key_record_limit(GNUTLS_CIPHER_AES_128_GCM, KTLS_KEY_RECORD_LIMIT + 1) ==
		   KTLS_KEY_RECORD_LIMIT,
	   "key-use budget: a higher one cannot");
	ok(ktls_key_record_limit(GNUTLS_CIPHER_CHACHA20_POLY1305, 50) == 0,
	   "key-use budget: none for ChaCha20-Poly1305");
	return tap_done();
}
