/* identity: this host's key and certificate, and key fingerprints.
 *
 * `ktlscp id`, and the certificate modes when no --cert is given, use an
 * ECDSA P-256 key with a self-signed certificate in the configuration
 * directory (id.key, mode 0600, and id.crt), made on first use.  Peers
 * name a key by its fingerprint, "SHA256:" and the unpadded base64 of the
 * SHA-256 of its SubjectPublicKeyInfo, as ssh writes them.
 */
#ifndef KTLSCP_IDENTITY_H
#define KTLSCP_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "diag.h"

#define TLS_FP_LEN 64		/* "SHA256:" + 43 base64 chars + NUL, rounded up */
/* For messages: "expected " TLS_FP_FORM. */
#define TLS_FP_FORM "SHA256: and 43 base64 characters"

/* dir gets $XDG_CONFIG_HOME/ktlscp or $HOME/.config/ktlscp.  Returns 0 or
 * -1 with st. */
int tls_identity_dir(char *dir, size_t dirsz, struct kc_status *st);

/* Load this host's identity, creating it first when create is set and it
 * does not exist (*created tells).  certpath gets the certificate's path.
 * On success *crt and *key are the caller's to deinit.  0 or -1 with st. */
int tls_identity_load(bool create, gnutls_x509_crt_t *crt, gnutls_x509_privkey_t *key,
		      char *certpath, size_t certpathsz, bool *created, struct kc_status *st);

/* Load a PEM certificate and a PEM private key that others cannot read
 * (--cert, --key).  *crt and *key are the caller's to deinit, also on
 * failure when set.  0 or -1 with st (KC_FILE). */
int tls_identity_load_pem(const char *certpath, const char *keypath, gnutls_x509_crt_t *crt,
			  gnutls_x509_privkey_t *key, struct kc_status *st);

/* crt's key fingerprint.  0 or -errno. */
int tls_fingerprint(gnutls_x509_crt_t crt, char fp[TLS_FP_LEN]);

/* Are the len bytes at s a fingerprint (a --pin value, a key in a trust
 * file)? */
bool tls_fp_valid(const char *s, size_t len);

#endif
