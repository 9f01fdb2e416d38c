/* Unit tests of the TLS 1.3 key derivation ktlscp does itself for key
 * updates on a kTLS socket: HKDF-Expand-Label "key" and "iv" against the
 * application traffic keys of RFC 8448 section 3, and "traffic upd" (which
 * RFC 8448 has no vector for) against GnuTLS itself: two in-memory
 * sessions shake hands, one updates its key with gnutls_session_key_update,
 * and the keys GnuTLS then uses (gnutls_record_get_state) must be the ones
 * derived here from the secrets tls_keep_secrets caught.  The last check
 * records why ktlscp derives at all: GnuTLS 3.7.9 stops following a
 * peer's KeyUpdates after a few within a second.  (The sessions use a PSK,
 * which GnuTLS binds to SHA-256, so AES-256-GCM's SHA-384 is left out.) */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <gnutls/gnutls.h>

#include "ktls.h"
#include "tap.h"
#include "tls.h"

static size_t unhex(const char *h, uint8_t *out)
{
	size_t n = 0;

	for (; h[0] && h[1]; h += 2)
		out[n++] = (uint8_t)strtoul((char[3]){ h[0], h[1], 0 }, NULL, 16);
	return n;
}

/* RFC 8448 3: {server} / {client} "derive write traffic keys for
 * application data", from the "s ap traffic" / "c ap traffic" secrets. */
static void rfc8448(void)
{
	static const struct {
		const char *who, *secret, *key, *iv;
	} v[] = {
		{ "server", "a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643",
		  "9f02283b6c9c07efc26bb9f2ac92e356", "cf782b88dd83549aadf1e984" },
		{ "client", "9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5",
		  "17422dda596ed5d9acd890e3c63f5051", "5b78923dee08579033e523d9" },
	};
	const struct ktls_cipher *c = ktls_cipher_by_id(GNUTLS_CIPHER_AES_128_GCM);
	uint8_t secret[32], key[16], iv[12], out[256], zero[8] = { 0 };
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		int n;

		unhex(v[i].secret, secret);
		unhex(v[i].key, key);
		unhex(v[i].iv, iv);
		n = ktls_crypto_from_secret(c, GNUTLS_MAC_SHA256, secret, sizeof(secret), out, sizeof(out));
		ok(n == (int)c->info_size, "RFC 8448 %s: a kernel struct of the cipher's size", v[i].who);
		ok(memcmp(out + c->key_off, key, 16) == 0, "RFC 8448 %s: application key", v[i].who);
		ok(memcmp(out + c->salt_off, iv, 4) == 0 && memcmp(out + c->iv_off, iv + 4, 8) == 0,
		   "RFC 8448 %s: application iv as salt + iv", v[i].who);
		ok(memcmp(out + c->rec_seq_off, zero, 8) == 0, "RFC 8448 %s: record sequence 0", v[i].who);
	}
	ok(ktls_hkdf_label(GNUTLS_MAC_SHA256, secret, 32, "k", key, 16) == 0,
	   "a short label is fine");
}

/* Step both handshakes on a non-blocking socket pair until both finish. */
static int handshake_pair(gnutls_session_t a, gnutls_session_t b)
{
	int ra = GNUTLS_E_AGAIN, rb = GNUTLS_E_AGAIN, i;

	for (i = 0; i < 1000 && (ra != 0 || rb != 0); i++) {
		if (ra != 0)
			ra = gnutls_handshake(a);
		if (rb != 0)
			rb = gnutls_handshake(b);
		if ((ra < 0 && gnutls_error_is_fatal(ra)) || (rb < 0 && gnutls_error_is_fatal(rb)))
			return -1;
	}
	return ra == 0 && rb == 0 ? 0 : -1;
}

/* Does the key GnuTLS uses in direction read (1: RX) of s equal the one
 * derived from secret? */
static bool same_key(gnutls_session_t s, int read, const uint8_t *secret, size_t len)
{
	const struct ktls_cipher *c = ktls_cipher_by_id(gnutls_cipher_get(s));
	gnutls_mac_algorithm_t mac = (gnutls_mac_algorithm_t)gnutls_prf_hash_get(s);
	uint8_t want[256], got[256];
	int n = ktls_crypto_from_secret(c, mac, secret, len, want, sizeof(want));
	int m = ktls_crypto_build(s, read, got, sizeof(got));

	return n > 0 && n == m && memcmp(want, got, (size_t)n) == 0;
}

static int make(gnutls_session_t *s, unsigned flags, int fd, const char *prio, void *cred)
{
	if (gnutls_init(s, flags) < 0 || gnutls_priority_set_direct(*s, prio, NULL) < 0 ||
	    gnutls_credentials_set(*s, GNUTLS_CRD_PSK, cred) < 0)
		return -1;
	gnutls_transport_set_int(*s, fd);
	tls_keep_secrets(*s);
	return 0;
}

static const gnutls_datum_t psk = { (unsigned char *)"0123456789abcdef0123456789abcdef", 32 };

static int psk_cb(gnutls_session_t s, const char *user, gnutls_datum_t *key)
{
	(void)s;
	(void)user;
	key->data = gnutls_malloc(psk.size);
	if (key->data == NULL)
		return -1;
	memcpy(key->data, psk.data, psk.size);
	key->size = psk.size;
	return 0;
}

/* The client updates its key; the server reads the KeyUpdate.  Both must
 * then use the keys of the next secret.  Returns what the server's read
 * gave. */
static int update(gnutls_session_t cl, gnutls_session_t sv)
{
	uint8_t buf[64];
	int rc, i;

	do {
		rc = gnutls_session_key_update(cl, 0);
	} while (rc == GNUTLS_E_AGAIN);
	if (rc < 0)
		return rc;
	for (i = 0; i < 100; i++) {
		rc = (int)gnutls_record_recv(sv, buf, sizeof(buf));
		if (rc != GNUTLS_E_AGAIN)
			break;
		if (gnutls_record_get_state(sv, 1, NULL, NULL, NULL, NULL) == 0 && i > 0)
			break;
	}
	return rc;
}

static void against_gnutls(const char *cipher)
{
	gnutls_psk_client_credentials_t cc;
	gnutls_psk_server_credentials_t sc;
	gnutls_session_t cl = NULL, sv = NULL;
	uint8_t crd[KTLS_SECRET_MAX], cwr[KTLS_SECRET_MAX], srd[KTLS_SECRET_MAX], swr[KTLS_SECRET_MAX];
	size_t clen = 0, slen = 0;
	char prio[200];
	int fds[2], rc, i;
	bool same;

	snprintf(prio, sizeof(prio), "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+%s:+ECDHE-PSK", cipher);
	gnutls_psk_allocate_client_credentials(&cc);
	gnutls_psk_allocate_server_credentials(&sc);
	gnutls_psk_set_client_credentials(cc, "test", &psk, GNUTLS_PSK_KEY_RAW);
	gnutls_psk_set_server_credentials_function(sc, psk_cb);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0) {
		ok(0, "%s: socketpair: %s", cipher, strerror(errno));
		return;
	}
	rc = make(&cl, GNUTLS_CLIENT | GNUTLS_NONBLOCK | GNUTLS_NO_TICKETS, fds[0], prio, cc);
	if (rc == 0)
		rc = make(&sv, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_TICKETS, fds[1], prio, sc);
	if (rc == 0)
		rc = handshake_pair(cl, sv);
	ok(rc == 0, "%s: an in-memory TLS 1.3 handshake", cipher);
	if (rc < 0)
		goto out;
	ok(tls_traffic_secrets(cl, crd, cwr, &clen) == 0 && tls_traffic_secrets(sv, srd, swr, &slen) == 0,
	   "%s: both sides kept their application secrets", cipher);
	ok(clen == slen && memcmp(crd, swr, clen) == 0 && memcmp(cwr, srd, clen) == 0,
	   "%s: the client's read secret is the server's write secret and back", cipher);
	ok(tls_traffic_secrets(cl, crd, cwr, &clen) == -ENOENT, "%s: secrets are handed out once",
	   cipher);
	ok(same_key(cl, 0, cwr, clen) && same_key(cl, 1, crd, clen),
	   "%s: the kept secrets give the keys GnuTLS uses", cipher);
	rc = update(cl, sv);
	ok(ktls_secret_next((gnutls_mac_algorithm_t)gnutls_prf_hash_get(cl), cwr, clen) == 0 &&
	   same_key(cl, 0, cwr, clen),
	   "%s: after the client's KeyUpdate it sends with the keys of \"traffic upd\"", cipher);
	ok(rc == GNUTLS_E_AGAIN && same_key(sv, 1, cwr, clen),
	   "%s: and the server receives with them (read gave %d)", cipher, rc);
	for (i = 0, same = true; i < 20 && same; i++) {
		rc = update(cl, sv);
		same = rc == GNUTLS_E_AGAIN &&
		       ktls_secret_next((gnutls_mac_algorithm_t)gnutls_prf_hash_get(cl), cwr, clen) == 0 &&
		       same_key(cl, 0, cwr, clen) && same_key(sv, 1, cwr, clen);
	}
	ok(i > 1 && rc == GNUTLS_E_TOO_MANY_HANDSHAKE_PACKETS,
	   "%s: %d more KeyUpdates at once, each side following, until GnuTLS refuses more "
	   "(read gave %d)", cipher, i - 1, rc);
out:
	gnutls_memset(crd, 0, sizeof(crd));
	gnutls_memset(cwr, 0, sizeof(cwr));
	gnutls_memset(srd, 0, sizeof(srd));
	gnutls_memset(swr, 0, sizeof(swr));
	if (cl)
		gnutls_deinit(cl);
	if (sv)
		gnutls_deinit(sv);
	gnutls_psk_free_client_credentials(cc);
	gnutls_psk_free_server_credentials(sc);
	close(fds[0]);
	close(fds[1]);
}

int main(void)
{
	rfc8448();
	against_gnutls("AES-128-GCM");
	against_gnutls("CHACHA20-POLY1305");
	against_gnutls("AES-128-CCM");
	return tap_done();
}
