/* tls: credentials, priorities, peer verification and the handshake.  This
 * host's key is made and loaded in identity.c, tokens and PSK files are
 * read in secrets.c. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <gnutls/crypto.h>

#include "clock.h"
#include "ktls.h"
#include "tls.h"
#include "tlsrec.h"
#include "trustdb.h"

int tls_cipher_check(const char *name)
{
	return ktls_cipher_by_name(name) ? 0 : -EINVAL;
}

const char *tls_auth_name(enum tls_auth a)
{
	switch (a) {
	case TLS_AUTH_PSK: return "psk";
	case TLS_AUTH_PIN: return "pin";
	case TLS_AUTH_X509: return "x509";
	default: return "none";
	}
}

/* An unknown identity gets a random key, so that its handshake fails
 * exactly as a known identity with a wrong key does: the peer cannot tell
 * which identities exist.  The receiver still says which it was. */
static int psk_server_cb(gnutls_session_t s, const char *username, gnutls_datum_t *key)
{
	struct tls_ctx *c = gnutls_session_get_ptr(s);
	const struct tls_psk *k = NULL;
	unsigned i;

	for (i = 0; i < c->npsk && k == NULL; i++)
		if (strcmp(c->psk[i].id, username) == 0)
			k = &c->psk[i];
	key->size = k ? (unsigned)k->len : TLS_TOKEN_KEY_LEN;
	key->data = gnutls_malloc(key->size);
	if (key->data == NULL)
		return -1;
	if (k)
		memcpy(key->data, k->key, k->len);
	else if (gnutls_rnd(GNUTLS_RND_NONCE, key->data, key->size) < 0)
		return -1;
	if (k == NULL)
		snprintf(c->verify_msg, sizeof(c->verify_msg),
			 "the sender's PSK identity is not in --psk-file (or it has no token)");
	return 0;
}

/* ---- peer verification ------------------------------------------------- */

/* Sender, no trust option: the receiver's key against known_hosts.  An
 * unknown receiver passes here only when it may be recorded (--accept-new)
 * or confirmed on the terminal after the handshake (tls_handshake); nothing
 * is sent to it before that. */
static int verify_known_host(struct tls_ctx *c)
{
	struct kc_status st = { 0 };
	char old[TRUSTDB_FP_LEN] = "";
	unsigned line = 0;
	int r = kh_lookup(c->kh_path, c->kh_name, c->peer_fp, &line, old, &st);

	if (r < 0) {
		snprintf(c->verify_msg, sizeof(c->verify_msg), "%.500s", kc_msg(&st));
		return -1;
	}
	if (r == KH_MATCH)
		return 0;
	if (r == KH_CHANGED) {
		snprintf(c->verify_msg, sizeof(c->verify_msg),
			 "WARNING: THE RECEIVER'S KEY HAS CHANGED: it presented %s, but %.200s line %u has %s for %.100s; "
			 "someone may be intercepting the connection, or the receiver's identity was replaced; "
			 "refusing (if the change is expected, delete that line)",
			 c->peer_fp, c->kh_path, line, old, c->kh_name);
		return -1;
	}
	if (c->accept_new || c->confirm) {
		c->kh_new = true;
		return 0;
	}
	snprintf(c->verify_msg, sizeof(c->verify_msg),
		 "unknown receiver: its key %s is not in %.250s; compare it with 'ktlscp id' on the receiver, "
		 "then pass --pin %s (or --accept-new to record it)",
		 c->peer_fp, c->kh_path, c->peer_fp);
	return -1;
}

/* After the handshake with a receiver not in known_hosts: ask the caller's
 * confirm function (unless --accept-new), then record it.  0 or -1 with st. */
static int confirm_new_host(struct tls_ctx *c, const char *peer, struct kc_status *st)
{
	if (!c->accept_new) {
		double t0 = clock_now();
		int yes = c->confirm(c->confirm_arg, peer, c->peer_fp, c->kh_path);

		c->prompt_secs += clock_now() - t0;

		if (yes < 0)
			return kc_fail(st, KC_TLS, "%s: receiver key %s not accepted (no answer)", peer,
				       c->peer_fp);
		if (yes == 0)
			return kc_fail(st, KC_TLS, "%s: receiver key %s not accepted", peer, c->peer_fp);
	}
	if (kh_add(c->kh_path, c->kh_name, c->peer_fp, st) < 0)
		return -1;
	diag_print("%s: added the receiver's key %s to %s", peer, c->peer_fp, c->kh_path);
	return 0;
}

/* The names a certificate is for: its DNS and IP subject alternative
 * names, else its CN; "a, b" into out. */
static void cert_names(gnutls_x509_crt_t crt, char *out, size_t outsz)
{
	char name[256];
	size_t l = 0, nl;
	unsigned i;
	int t;

	out[0] = '\0';
	for (i = 0; l + 3 < outsz; i++) {
		nl = sizeof(name);
		t = gnutls_x509_crt_get_subject_alt_name(crt, i, name, &nl, NULL);
		if (t == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (t == GNUTLS_SAN_IPADDRESS) {
			char ip[INET6_ADDRSTRLEN];

			if ((nl != 4 && nl != 16) || inet_ntop(nl == 4 ? AF_INET : AF_INET6, name, ip, sizeof(ip)) == NULL)
				continue;
			snprintf(name, sizeof(name), "%s", ip);
		} else if (t != GNUTLS_SAN_DNSNAME) {
			continue;
		}
		l += (size_t)snprintf(out + l, outsz - l, "%s%s", l ? ", " : "", name);
	}
	nl = sizeof(name);
	if (out[0] == '\0' && gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, name, &nl) == 0)
		snprintf(out, outsz, "%s", name);
	if (out[0] == '\0')
		snprintf(out, outsz, "no name");
	if (l >= outsz)
		snprintf(out + outsz - 4, 4, "...");
}

/* --allow-subject: does the certificate's subject DN (RFC 4514, as
 * "certtool -i" prints it), or one of its DNS or e-mail alternative names,
 * equal one of the allowed subjects? */
static bool subject_allowed(const struct tls_ctx *c, gnutls_x509_crt_t crt, char *dnout, size_t dnsz)
{
	gnutls_datum_t dn = { NULL, 0 };
	char name[256];
	size_t nl;
	unsigned i;
	int k, t;

	snprintf(dnout, dnsz, "(no subject)");
	if (gnutls_x509_crt_get_dn3(crt, &dn, 0) == 0) {
		snprintf(dnout, dnsz, "%s", (char *)dn.data);
		gnutls_free(dn.data);
	}
	for (k = 0; k < c->nsubjects; k++)
		if (strcmp(c->subjects[k], dnout) == 0)
			return true;
	for (i = 0;; i++) {
		nl = sizeof(name);
		t = gnutls_x509_crt_get_subject_alt_name(crt, i, name, &nl, NULL);
		if (t == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			return false;
		if (t != GNUTLS_SAN_DNSNAME && t != GNUTLS_SAN_RFC822NAME)
			continue;
		for (k = 0; k < c->nsubjects; k++)
			if (strcasecmp(c->subjects[k], name) == 0)
				return true;
	}
}

/* --ca: the chain, the key purpose (a receiver's certificate must be for
 * a TLS server, a sender's for a TLS client, when it names its purposes),
 * on the sender the receiver's name, then --allow-subject.  0 or -1 with
 * c->verify_msg. */
static int verify_ca(struct tls_ctx *c, gnutls_session_t s, gnutls_x509_crt_t crt)
{
	gnutls_typed_vdata_st vd[2];
	unsigned status = 0, nvd = 0;
	gnutls_datum_t out = { NULL, 0 };
	char names[300], dn[300];
	int rc;

	vd[nvd].type = GNUTLS_DT_KEY_PURPOSE_OID;
	vd[nvd].data = (unsigned char *)(c->server ? GNUTLS_KP_TLS_WWW_CLIENT : GNUTLS_KP_TLS_WWW_SERVER);
	vd[nvd++].size = 0;
	if (!c->server && c->hostname[0]) {
		vd[nvd].type = GNUTLS_DT_DNS_HOSTNAME;
		vd[nvd].data = (unsigned char *)c->hostname;
		vd[nvd++].size = 0;
	}
	rc = gnutls_certificate_verify_peers(s, vd, nvd, &status);
	if (rc < 0) {
		snprintf(c->verify_msg, sizeof(c->verify_msg), "certificate verification failed: %s",
			 gnutls_strerror(rc));
		return -1;
	}
	cert_names(crt, names, sizeof(names));
	if (status & GNUTLS_CERT_PURPOSE_MISMATCH) {
		snprintf(c->verify_msg, sizeof(c->verify_msg),
			 "the %s's certificate (for %s) is not meant for a TLS %s (its extended key usage); "
			 "it needs one with the %s purpose", c->server ? "sender" : "receiver", names,
			 c->server ? "client" : "server", c->server ? "TLS WWW client" : "TLS WWW server");
		return -1;
	}
	if (status == (GNUTLS_CERT_INVALID | GNUTLS_CERT_UNEXPECTED_OWNER)) {
		snprintf(c->verify_msg, sizeof(c->verify_msg),
			 "the receiver's certificate is for %s, not for %s (the name or address given to send)",
			 names, c->hostname);
		return -1;
	}
	if (status != 0) {
		gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0);
		snprintf(c->verify_msg, sizeof(c->verify_msg), "%s",
			 out.data ? (char *)out.data : "certificate not trusted");
		gnutls_free(out.data);
		return -1;
	}
	if (c->nsubjects > 0 && !subject_allowed(c, crt, dn, sizeof(dn))) {
		snprintf(c->verify_msg, sizeof(c->verify_msg),
			 "the %s's certificate subject \"%.200s\" (for %.200s) is not allowed by --allow-subject",
			 c->server ? "sender" : "receiver", dn, names);
		return -1;
	}
	return 0;
}

/* The pins, or known_hosts; --pin fails in the words of who asked. */
static int verify_pins(struct tls_ctx *c)
{
	int i;

	if (c->tofu)
		return verify_known_host(c);
	for (i = 0; i < c->npins; i++)
		if (strcmp(c->pins[i], c->peer_fp) == 0)
			return 0;
	if (c->npins == 0)
		return 0;
	if (c->server)
		snprintf(c->verify_msg, sizeof(c->verify_msg),
			 "sender key %s is not allowed by %s; if it is the one you expect, add it there "
			 "(the sender's 'ktlscp id' prints it)", c->peer_fp, c->pin_source);
	else
		snprintf(c->verify_msg, sizeof(c->verify_msg), "the receiver's key %s does not match --pin",
			 c->peer_fp);
	return -1;
}

static int verify_cb(gnutls_session_t s)
{
	struct tls_ctx *c = gnutls_session_get_ptr(s);
	const gnutls_datum_t *certs;
	unsigned ncerts = 0;
	gnutls_x509_crt_t crt = NULL;
	int rc;

	c->verify_msg[0] = '\0';
	c->peer_fp[0] = '\0';
	certs = gnutls_certificate_get_peers(s, &ncerts);
	if (certs == NULL || ncerts == 0) {
		snprintf(c->verify_msg, sizeof(c->verify_msg), "peer sent no certificate");
		return -1;
	}
	if (gnutls_x509_crt_init(&crt) < 0 ||
	    gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) < 0 ||
	    tls_fingerprint(crt, c->peer_fp) < 0) {
		snprintf(c->verify_msg, sizeof(c->verify_msg), "cannot parse the peer's certificate");
		if (crt)
			gnutls_x509_crt_deinit(crt);
		return -1;
	}
	rc = verify_pins(c);
	if (rc == 0 && c->use_ca)
		rc = verify_ca(c, s, crt);
	gnutls_x509_crt_deinit(crt);
	return rc;
}

/* ---- context ----------------------------------------------------------- */

static int build_priority(struct tls_ctx *c, const struct tls_opts *o, struct kc_status *st)
{
	char prio[512], ciphers[160] = "";
	const char *err = NULL;
	int rc;

	int version = o->version;

	/* GnuTLS 3.7 ties a TLS 1.3 external PSK to SHA-256, and AES-256-GCM
	 * comes with SHA-384 in TLS 1.3: with a PSK that cipher needs 1.2. */
	if (c->auth == TLS_AUTH_PSK && o->cipher && strcmp(o->cipher, "aes-256-gcm") == 0) {
		if (version == 13)
			return kc_fail(st, KC_USAGE,
				       "--cipher aes-256-gcm with a PSK or token needs TLS 1.2 (a TLS 1.3 PSK is bound to SHA-256)");
		version = 12;
	}
	if (o->cipher) {
		const struct ktls_cipher *kc = ktls_cipher_by_name(o->cipher);
		const char *g = kc ? kc->gnutls : NULL;

		if (g == NULL)
			return kc_fail(st, KC_USAGE, "--cipher %s: unknown cipher", o->cipher);
		if (o->kernel_ciphers && strstr(o->kernel_ciphers, g) == NULL)
			return kc_fail(st, KC_KTLS, "--cipher %s: this kernel's kTLS does not offer it",
				       o->cipher);
		snprintf(ciphers, sizeof(ciphers), "+%s", g);
	} else if (o->kernel_ciphers) {
		if (o->kernel_ciphers[0] == '\0')
			return kc_fail(st, KC_KTLS, "this kernel's kTLS offers none of our ciphers");
		snprintf(ciphers, sizeof(ciphers), "%s", o->kernel_ciphers);
	} else {
		const struct ktls_cipher *kc;
		size_t i, l = 0;

		for (i = 0; (kc = ktls_cipher_at(i)) != NULL && l < sizeof(ciphers); i++)
			l += (size_t)snprintf(ciphers + l, sizeof(ciphers) - l, "%s+%s", i ? ":" : "", kc->gnutls);
	}
	/* Only AEAD ciphers the kernel can take over; no tickets (nothing to
	 * resume, and a ticket is one more record to route after the switch). */
	snprintf(prio, sizeof(prio), "NORMAL:-VERS-ALL:%s:-CIPHER-ALL:%s:-KX-ALL:%s:%%NO_TICKETS",
		 version == 12 ? "+VERS-TLS1.2" : version == 13 ? "+VERS-TLS1.3"
								     : "+VERS-TLS1.3:+VERS-TLS1.2",
		 ciphers,
		 c->auth == TLS_AUTH_PSK ? "+ECDHE-PSK:+DHE-PSK" : "+ECDHE-ECDSA:+ECDHE-RSA");
	rc = gnutls_priority_init2(&c->prio, prio, &err, 0);
	if (rc < 0)
		return kc_fail(st, KC_TLS, "TLS priority \"%s\": %s", prio, gnutls_strerror(rc));
	return 0;
}

static int setup_certs(struct tls_ctx *c, const struct tls_opts *o, struct kc_status *st)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_x509_privkey_t key = NULL;
	char certpath[PATH_MAX];
	bool created;
	int rc, i;

	for (i = 0; i < o->nsubjects; i++)
		c->subjects[c->nsubjects++] = o->subjects[i];
	for (i = 0; i < o->npins; i++) {
		const char *p = o->pins[i];

		if (!tls_fp_valid(p, strlen(p)))
			return kc_fail(st, KC_USAGE, "--pin %s: expected " TLS_FP_FORM, p);
		snprintf(c->pins[c->npins++], TLS_FP_LEN, "%s", p);
	}
	rc = gnutls_certificate_allocate_credentials(&c->xcred);
	if (rc < 0)
		return kc_fail(st, KC_OTHER, "GnuTLS: %s", gnutls_strerror(rc));
	if (o->cert_file || o->key_file) {
		if (!o->cert_file || !o->key_file)
			return kc_fail(st, KC_USAGE, "--cert and --key go together");
		rc = tls_identity_load_pem(o->cert_file, o->key_file, &crt, &key, st);
	} else {
		rc = tls_identity_load(true, &crt, &key, certpath, sizeof(certpath), &created, st);
		if (rc == 0 && created)
			diag_print("created this host's identity %s", certpath);
	}
	if (rc == 0 && tls_fingerprint(crt, c->own_fp) < 0)
		c->own_fp[0] = '\0';
	if (rc == 0) {
		rc = gnutls_certificate_set_x509_key(c->xcred, &crt, 1, key);
		if (rc < 0)
			kc_fail(st, KC_FILE, "certificate and key do not match: %s", gnutls_strerror(rc));
	}
	if (crt)
		gnutls_x509_crt_deinit(crt);
	if (key)
		gnutls_x509_privkey_deinit(key);
	if (rc < 0)
		return -1;
	if (o->ca_file) {
		rc = gnutls_certificate_set_x509_trust_file(c->xcred, o->ca_file, GNUTLS_X509_FMT_PEM);
		if (rc <= 0)
			return kc_fail(st, KC_FILE, "%s: no CA certificate loaded%s%s", o->ca_file,
				       rc < 0 ? ": " : "", rc < 0 ? gnutls_strerror(rc) : "");
		c->use_ca = true;
	}
	gnutls_certificate_set_verify_function(c->xcred, verify_cb);
	return 0;
}

int tls_ctx_init(struct tls_ctx *c, const struct tls_opts *o, struct kc_status *st)
{
	bool psk = o->psk_file || o->token, cert = o->npins > 0 || o->ca_file;
	int rc;

	memset(c, 0, sizeof(*c));
	c->server = o->server;
	c->handshake_ms = o->handshake_ms;
	if (o->hostname)
		snprintf(c->hostname, sizeof(c->hostname), "%s", o->hostname);
	if (psk && cert)
		return kc_fail(st, KC_USAGE,
			       "choose one kind of trust: a PSK or token, or certificates (--pin/--ca)");
	if (o->nsubjects > 0 && !o->ca_file)
		return kc_fail(st, KC_USAGE, "--allow-subject goes with --ca (it restricts certificates the CA signed)");
	if (!psk && !cert && (o->server || !o->known_hosts))
		return kc_fail(st, KC_USAGE,
			       "no trust configured: use --token (printed by recv), --psk-file, --pin or --ca");
	if (o->accept_new && (psk || cert))
		return kc_fail(st, KC_USAGE,
			       "--accept-new is for receivers checked against known_hosts: not with a token, --psk-file, --pin or --ca");
	if (psk) {
		c->auth = TLS_AUTH_PSK;
		if (o->psk_file && o->token)
			return kc_fail(st, KC_USAGE, "--psk-file and --token exclude each other");
		if (o->psk_file) {
			unsigned max = sizeof(c->psk) / sizeof(c->psk[0]);

			if (tls_psk_load(o->psk_file, c->psk, max, &c->npsk, st) < 0)
				return -1;
		} else {
			if (tls_token_decode(o->token, c->psk[0].key) < 0)
				return kc_fail(st, KC_USAGE,
					       "the token is not valid: expected 32 characters as printed by ktlscp recv");
			c->psk[0].len = TLS_TOKEN_KEY_LEN;
			snprintf(c->psk[0].id, sizeof(c->psk[0].id), "ktlscp-token");
			c->npsk = 1;
		}
		if (c->server) {
			rc = gnutls_psk_allocate_server_credentials(&c->psks);
			if (rc == 0)
				gnutls_psk_set_server_credentials_function(c->psks, psk_server_cb);
		} else {
			gnutls_datum_t k = { c->psk[0].key, (unsigned)c->psk[0].len };

			rc = gnutls_psk_allocate_client_credentials(&c->pskc);
			if (rc == 0)
				rc = gnutls_psk_set_client_credentials(c->pskc, c->psk[0].id, &k,
								       GNUTLS_PSK_KEY_RAW);
		}
		if (rc < 0)
			return kc_fail(st, KC_OTHER, "GnuTLS PSK setup: %s", gnutls_strerror(rc));
	} else {
		c->auth = o->npins > 0 || !cert ? TLS_AUTH_PIN : TLS_AUTH_X509;
		snprintf(c->pin_source, sizeof(c->pin_source), "%s", o->pin_source ? o->pin_source : "--pin");
		if (!cert) {
			struct kc_status kst = { 0 };
			char old[TRUSTDB_FP_LEN];
			unsigned line;

			c->tofu = true;
			c->accept_new = o->accept_new;
			c->confirm = o->confirm;
			c->confirm_arg = o->confirm_arg;
			snprintf(c->kh_path, sizeof(c->kh_path), "%s", o->known_hosts);
			snprintf(c->kh_name, sizeof(c->kh_name), "%s", o->kh_name ? o->kh_name : "");
			/* A known_hosts file we cannot use is a local error,
			 * found before connecting. */
			if (kh_lookup(c->kh_path, "", "", &line, old, &kst) < 0) {
				*st = kst;
				return -1;
			}
		}
		if (setup_certs(c, o, st) < 0)
			return -1;
	}
	return build_priority(c, o, st);
}

void tls_ctx_free(struct tls_ctx *c)
{
	if (c->prio)
		gnutls_priority_deinit(c->prio);
	if (c->xcred)
		gnutls_certificate_free_credentials(c->xcred);
	if (c->pskc)
		gnutls_psk_free_client_credentials(c->pskc);
	if (c->psks)
		gnutls_psk_free_server_credentials(c->psks);
	gnutls_memset(c->psk, 0, sizeof(c->psk));
	c->prio = NULL;
	c->xcred = NULL;
	c->pskc = NULL;
	c->psks = NULL;
}

/* After a failed handshake: half-close and drain what the peer still sends
 * for a moment, so that our alert is not destroyed by a TCP reset (a peer
 * that finished its side of a TLS 1.3 handshake may already be writing). */
/* ---- traffic secrets, for key updates on a kTLS socket -------------------- */

/* GnuTLS gives each TLS 1.3 traffic secret to a secret function as it is
 * set; the application ones are kept here until the channel takes them
 * (tls_traffic_secrets).  A few slots keyed by session, no heap: the
 * session's own pointer is the tls_ctx, and nothing would free a
 * per-session allocation when the caller deinits the session. */
#define TLS_SECRET_SLOTS 8
static struct tls_secret_slot {
	gnutls_session_t s;
	uint8_t rd[KTLS_SECRET_MAX], wr[KTLS_SECRET_MAX];
	size_t len;
	bool have_rd, have_wr;
} secret_slots[TLS_SECRET_SLOTS];
static unsigned secret_slot_next;

static struct tls_secret_slot *secret_slot(gnutls_session_t s, bool create)
{
	struct tls_secret_slot *t;
	unsigned i;

	for (i = 0; i < TLS_SECRET_SLOTS; i++)
		if (secret_slots[i].s == s)
			return &secret_slots[i];
	if (!create)
		return NULL;
	t = &secret_slots[secret_slot_next++ % TLS_SECRET_SLOTS];
	gnutls_memset(t, 0, sizeof(*t));
	t->s = s;
	return t;
}

static int secret_keep(gnutls_session_t s, gnutls_record_encryption_level_t level,
		       const void *rd, const void *wr, size_t len)
{
	struct tls_secret_slot *t;

	if (level != GNUTLS_ENCRYPTION_LEVEL_APPLICATION || len > KTLS_SECRET_MAX)
		return 0;
	t = secret_slot(s, true);
	t->len = len;
	if (rd) {
		memcpy(t->rd, rd, len);
		t->have_rd = true;
	}
	if (wr) {
		memcpy(t->wr, wr, len);
		t->have_wr = true;
	}
	return 0;
}

void tls_keep_secrets(gnutls_session_t s)
{
	gnutls_handshake_set_secret_function(s, secret_keep);
}

int tls_traffic_secrets(gnutls_session_t s, uint8_t rd[KTLS_SECRET_MAX],
			uint8_t wr[KTLS_SECRET_MAX], size_t *len)
{
	struct tls_secret_slot *t = secret_slot(s, false);
	int rc = -ENOENT;

	if (t && t->have_rd && t->have_wr) {
		memcpy(rd, t->rd, t->len);
		memcpy(wr, t->wr, t->len);
		*len = t->len;
		rc = 0;
	}
	if (t)
		gnutls_memset(t, 0, sizeof(*t));
	return rc;
}

static void linger_close(int fd)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	char buf[4096];
	int i;

	shutdown(fd, SHUT_WR);
	for (i = 0; i < 16 && poll(&pfd, 1, 200) > 0; i++)
		if (read(fd, buf, sizeof(buf)) <= 0)
			break;
}

/* What a failed handshake means, in the words of the trust mode. */
static const char *refused_words(const struct tls_ctx *c, int alert, char *buf, size_t n)
{
	bool psk = c->auth == TLS_AUTH_PSK;

	if ((alert == GNUTLS_A_ACCESS_DENIED || alert == GNUTLS_A_BAD_CERTIFICATE) && c->server && !psk)
		return "the sender did not accept this receiver's key (it answered no at its prompt, or its "
		       "known_hosts, --pin or --ca says otherwise; 'ktlscp id' here prints the key)";
	if (alert == GNUTLS_A_HANDSHAKE_FAILURE || alert == GNUTLS_A_INSUFFICIENT_SECURITY)
		return psk ? (c->server ? "the sender offered no token or PSK (it needs this receiver's token, or a --psk-file key)"
					: "the receiver takes no token or PSK here (it checks keys or certificates)")
			   : (c->server ? "the sender has no key or certificate to offer: it sent a token or PSK"
					: "the receiver wants a token or PSK: pass --token, KTLSCP_TOKEN or --psk-file");
	if (psk && (alert == GNUTLS_A_ILLEGAL_PARAMETER || alert == GNUTLS_A_DECRYPT_ERROR ||
		    alert == GNUTLS_A_BAD_RECORD_MAC || alert == GNUTLS_A_UNKNOWN_PSK_IDENTITY))
		return c->server ? "the sender's token or PSK is wrong"
				 : "the receiver refused the token or PSK: wrong, expired, or a one-time token already used";
	if (!psk && (alert == GNUTLS_A_BAD_CERTIFICATE || alert == GNUTLS_A_CERTIFICATE_UNKNOWN ||
		     alert == GNUTLS_A_UNKNOWN_CA || alert == GNUTLS_A_ACCESS_DENIED)) {
		if (c->server)
			return "the sender did not accept this receiver's certificate (its --ca does not sign it)";
		snprintf(buf, n, "the receiver does not accept this host's key %s: on the receiver, add it to "
			 "authorized_senders or --allow%s", c->own_fp[0] ? c->own_fp : "('ktlscp id' prints it)",
			 c->use_ca ? " (or have the receiver's --ca sign this certificate)" : "");
		return buf;
	}
	return NULL;
}

/* Record why the handshake failed, in words, on either end. */
static void handshake_failed(struct tls_ctx *c, gnutls_session_t s, int rc, const char *peer,
			     struct kc_status *st)
{
	char eb[160], wb[300];
	const char *w;

	if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_TIMEDOUT) {
		kc_fail(st, KC_NET, "%s: TLS handshake timed out", peer);
	} else if (rc == GNUTLS_E_PUSH_ERROR || rc == GNUTLS_E_PULL_ERROR || rc == GNUTLS_E_PREMATURE_TERMINATION) {
		kc_fail(st, c->verify_msg[0] ? KC_TLS : KC_NET, "%s: connection lost during the TLS handshake%s%s",
			peer, c->verify_msg[0] ? ": " : "", c->verify_msg);
	} else if (c->verify_msg[0]) {
		kc_fail(st, KC_TLS, "%s: authentication failed: %s", peer, c->verify_msg);
	} else if (rc == GNUTLS_E_FATAL_ALERT_RECEIVED) {
		int a = (int)gnutls_alert_get(s);

		w = refused_words(c, a, wb, sizeof(wb));
		if (w)
			kc_fail(st, KC_TLS, "%s: authentication failed: %s", peer, w);
		else
			kc_fail(st, KC_TLS, "%s: TLS handshake failed: the peer sent alert \"%s\"", peer,
				gnutls_alert_get_name((gnutls_alert_description_t)a));
	} else if (rc == GNUTLS_E_INSUFFICIENT_CREDENTIALS || rc == GNUTLS_E_NO_CIPHER_SUITES ||
		   rc == GNUTLS_E_UNKNOWN_CIPHER_SUITE || rc == GNUTLS_E_NO_COMMON_KEY_SHARE) {
		w = refused_words(c, GNUTLS_A_HANDSHAKE_FAILURE, wb, sizeof(wb));
		kc_fail(st, KC_TLS, "%s: authentication failed: %s", peer, w);
	} else if (c->auth == TLS_AUTH_PSK && (rc == GNUTLS_E_RECEIVED_ILLEGAL_PARAMETER ||
					       rc == GNUTLS_E_DECRYPTION_FAILED || rc == GNUTLS_E_ERROR_IN_FINISHED_PACKET)) {
		kc_fail(st, KC_TLS, "%s: authentication failed: %s", peer,
			refused_words(c, GNUTLS_A_DECRYPT_ERROR, wb, sizeof(wb)));
	} else {
		kc_fail(st, KC_TLS, "%s: TLS handshake failed: %s", peer, diag_gnutls(rc, eb, sizeof(eb)));
	}
}

const char *tls_refused_after(const struct tls_ctx *c, char *buf, size_t n)
{
	return refused_words(c, GNUTLS_A_BAD_CERTIFICATE, buf, n);
}

int tls_handshake(struct tls_ctx *c, int fd, const char *peer, gnutls_session_t *out,
		  struct kc_status *st)
{
	gnutls_session_t s = NULL;
	unsigned flags = c->server ? GNUTLS_SERVER : (GNUTLS_CLIENT | GNUTLS_NO_TICKETS);
	int rc;

	*out = NULL;
	rc = gnutls_init(&s, flags);
	if (rc < 0)
		return kc_fail(st, KC_OTHER, "GnuTLS: %s", gnutls_strerror(rc));
	gnutls_session_set_ptr(s, c);
	tls_keep_secrets(s);
	rc = gnutls_priority_set(s, c->prio);
	if (rc == 0 && c->auth == TLS_AUTH_PSK)
		rc = gnutls_credentials_set(s, GNUTLS_CRD_PSK, c->server ? (void *)c->psks : (void *)c->pskc);
	else if (rc == 0) {
		rc = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, c->xcred);
		if (c->server)
			gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
		else if (c->hostname[0] && c->use_ca)
			gnutls_server_name_set(s, GNUTLS_NAME_DNS, c->hostname, strlen(c->hostname));
	}
	if (rc < 0) {
		gnutls_deinit(s);
		return kc_fail(st, KC_OTHER, "GnuTLS: %s", gnutls_strerror(rc));
	}
	gnutls_transport_set_int(s, fd);
	if (c->handshake_ms > 0)
		gnutls_handshake_set_timeout(s, (unsigned)c->handshake_ms);
	c->kh_new = false;
	c->prompt_secs = 0;
	c->verify_msg[0] = '\0';
	do {
		rc = gnutls_handshake(s);
	} while (rc == GNUTLS_E_INTERRUPTED || (rc < 0 && rc != GNUTLS_E_AGAIN && !gnutls_error_is_fatal(rc)));
	if (rc == 0 && c->kh_new && confirm_new_host(c, peer, st) < 0) {
		gnutls_alert_send(s, GNUTLS_AL_FATAL, GNUTLS_A_ACCESS_DENIED);
		linger_close(fd);
		gnutls_deinit(s);
		return -1;
	}
	if (rc == 0) {
		*out = s;
		return 0;
	}
	/* Tell the peer why (GnuTLS does not send the alert by itself), so
	 * that it can report an authentication failure rather than a lost
	 * connection. */
	if (rc != GNUTLS_E_AGAIN && rc != GNUTLS_E_TIMEDOUT && rc != GNUTLS_E_PUSH_ERROR &&
	    rc != GNUTLS_E_PULL_ERROR && rc != GNUTLS_E_PREMATURE_TERMINATION &&
	    rc != GNUTLS_E_FATAL_ALERT_RECEIVED)
		gnutls_alert_send_appropriate(s, rc);
	linger_close(fd);
	handshake_failed(c, s, rc, peer, st);
	gnutls_deinit(s);
	return -1;
}

/* The peek that lets recv -k spend a process only on a complete
 * ClientHello (see tls.h). */
int tls_first_record_in(int fd)
{
	unsigned char b[TLS_RECORD_HDR_LEN + TLS_RECORD_PAYLOAD_MAX + 256];
	ssize_t n;
	int need;

	do {
		n = recv(fd, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n == 0 || (n < 0 && errno != EAGAIN))
		return -1;
	if (n < TLS_RECORD_HDR_LEN) {
		need = TLS_RECORD_HDR_LEN;
	} else {
		/* Record header: type, version, 16-bit length. */
		need = TLS_RECORD_HDR_LEN + (b[3] << 8 | b[4]);
		if (b[0] != TLS_CT_HANDSHAKE || need > (int)sizeof(b) || n >= need)
			return 1;
	}
	/* Well below half the receive buffer, so the kernel neither clamps
	 * it nor grows the buffer for it. */
	setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &need, sizeof(need));
	return 0;
}

/* ---- follow-up connections (tls.h tls_handshake_bound) ----------------- */

#define TLS_BOUND_IDENTITY "ktlscp-reconnect"

static int bound_server_key(gnutls_session_t s, const char *user, gnutls_datum_t *key)
{
	const uint8_t *k = gnutls_session_get_ptr(s);

	if (k == NULL || strcmp(user, TLS_BOUND_IDENTITY) != 0)
		return -1;
	key->data = gnutls_malloc(TLS_BOUND_KEY);
	if (key->data == NULL)
		return -1;
	memcpy(key->data, k, TLS_BOUND_KEY);
	key->size = TLS_BOUND_KEY;
	return 0;
}

int tls_bound_start(struct tls_bound *hs, gnutls_session_t like, bool server, int fd,
		    const uint8_t key[TLS_BOUND_KEY], int handshake_ms, struct kc_status *st)
{
	gnutls_datum_t k = { (unsigned char *)key, TLS_BOUND_KEY };
	char prio[256];
	const char *err = NULL;
	int rc;

	memset(hs, 0, sizeof(*hs));
	/* The same version and cipher as the first connection; PSK with
	 * (EC)DHE only, so that each follow-up has fresh keys. */
	snprintf(prio, sizeof(prio),
		 "NORMAL:-VERS-ALL:+VERS-%s:-CIPHER-ALL:+%s:-KX-ALL:+ECDHE-PSK:+DHE-PSK",
		 gnutls_protocol_get_name(gnutls_protocol_get_version(like)),
		 gnutls_cipher_get_name(gnutls_cipher_get(like)));
	rc = gnutls_init(&hs->s, server ? GNUTLS_SERVER : (GNUTLS_CLIENT | GNUTLS_NO_TICKETS));
	if (rc < 0) {
		hs->s = NULL;
		return kc_fail(st, KC_OTHER, "GnuTLS: %s", gnutls_strerror(rc));
	}
	tls_keep_secrets(hs->s);
	rc = gnutls_priority_set_direct(hs->s, prio, &err);
	if (rc == 0 && server) {
		rc = gnutls_psk_allocate_server_credentials(&hs->ps);
		if (rc == 0) {
			gnutls_psk_set_server_credentials_function(hs->ps, bound_server_key);
			gnutls_session_set_ptr(hs->s, (void *)key);
			rc = gnutls_credentials_set(hs->s, GNUTLS_CRD_PSK, hs->ps);
		}
	} else if (rc == 0) {
		rc = gnutls_psk_allocate_client_credentials(&hs->pc);
		rc = rc ?: gnutls_psk_set_client_credentials(hs->pc, TLS_BOUND_IDENTITY, &k, GNUTLS_PSK_KEY_RAW);
		rc = rc ?: gnutls_credentials_set(hs->s, GNUTLS_CRD_PSK, hs->pc);
	}
	if (rc < 0) {
		tls_bound_free(hs);
		return kc_fail(st, KC_OTHER, "GnuTLS: %s", gnutls_strerror(rc));
	}
	gnutls_transport_set_int(hs->s, fd);
	if (handshake_ms > 0)
		gnutls_handshake_set_timeout(hs->s, (unsigned)handshake_ms);
	return 0;
}

int tls_bound_step(struct tls_bound *hs, const char *peer, struct kc_status *st)
{
	char eb[160];
	int rc;

	do {
		rc = gnutls_handshake(hs->s);
	} while (rc == GNUTLS_E_INTERRUPTED || (rc < 0 && rc != GNUTLS_E_AGAIN && !gnutls_error_is_fatal(rc)));
	if (rc == GNUTLS_E_AGAIN)
		return 1;
	if (rc == 0) {
		/* The credentials are only needed during the handshake. */
		gnutls_credentials_clear(hs->s);
		gnutls_session_set_ptr(hs->s, NULL);
		return 0;
	}
	if (rc != GNUTLS_E_TIMEDOUT && rc != GNUTLS_E_PUSH_ERROR && rc != GNUTLS_E_PULL_ERROR &&
	    rc != GNUTLS_E_PREMATURE_TERMINATION && rc != GNUTLS_E_FATAL_ALERT_RECEIVED)
		gnutls_alert_send_appropriate(hs->s, rc);
	if (rc == GNUTLS_E_TIMEDOUT || rc == GNUTLS_E_PULL_ERROR || rc == GNUTLS_E_PUSH_ERROR ||
	    rc == GNUTLS_E_PREMATURE_TERMINATION)
		return kc_fail(st, KC_NET, "%s: follow-up connection lost during its TLS handshake: %s", peer,
			       diag_gnutls(rc, eb, sizeof(eb)));
	return kc_fail(st, KC_TLS,
		       "%s: follow-up connection refused: it does not prove this transfer's "
		       "one-time binding (unknown, used or expired): %s", peer, diag_gnutls(rc, eb, sizeof(eb)));
}

gnutls_session_t tls_bound_take(struct tls_bound *hs)
{
	gnutls_session_t s = hs->s;

	hs->s = NULL;
	tls_bound_free(hs);
	return s;
}

void tls_bound_free(struct tls_bound *hs)
{
	if (hs->s) {
		gnutls_credentials_clear(hs->s);
		gnutls_session_set_ptr(hs->s, NULL);
		gnutls_deinit(hs->s);
	}
	if (hs->pc)
		gnutls_psk_free_client_credentials(hs->pc);
	if (hs->ps)
		gnutls_psk_free_server_credentials(hs->ps);
	memset(hs, 0, sizeof(*hs));
}

int tls_handshake_bound(gnutls_session_t like, bool server, int fd, const uint8_t key[TLS_BOUND_KEY],
			int handshake_ms, const char *peer, gnutls_session_t *out, struct kc_status *st)
{
	struct tls_bound hs;
	char eb[160];
	int rc;

	*out = NULL;
	if (tls_bound_start(&hs, like, server, fd, key, handshake_ms, st) < 0)
		return -1;
	rc = tls_bound_step(&hs, peer, st);
	if (rc == 0) {
		*out = tls_bound_take(&hs);
		return 0;
	}
	tls_bound_free(&hs);
	/* Blocking: GNUTLS_E_AGAIN is the socket's receive timeout. */
	if (rc > 0)
		return kc_fail(st, KC_NET, "%s: follow-up connection lost during its TLS handshake: %s", peer,
			       diag_gnutls(GNUTLS_E_AGAIN, eb, sizeof(eb)));
	return -1;
}
