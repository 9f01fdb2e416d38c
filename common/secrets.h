/* secrets: what the PSK trust mode keeps secret, and reading such files.
 *
 * The one-time token that recv prints is a 160-bit key written as 32
 * characters of an unambiguous base-32 alphabet in groups of four; a
 * --psk-file holds lines IDENTITY:HEXKEY or HEXKEY (16 to 64 bytes).  A
 * file holding a secret must not be readable by group or others.
 */
#ifndef KTLSCP_SECRETS_H
#define KTLSCP_SECRETS_H

#include <stddef.h>
#include <stdint.h>

#include "diag.h"

#define TLS_TOKEN_LEN 40	/* 8 groups of 4 + 7 dashes + NUL */
#define TLS_TOKEN_KEY_LEN 20	/* the token's key: 160 bits, 32 base-32 characters */

/* One pre-shared key: the identity the client names and the key bytes. */
struct tls_psk {
	char id[128];
	uint8_t key[64];
	size_t len;
};

/* The one-time token: generate (out: TLS_TOKEN_LEN bytes); 0 or -EIO. */
int tls_token_generate(char *out);
/* Decode a token to its key bytes; 0 or -EINVAL. */
int tls_token_decode(const char *token, uint8_t key[TLS_TOKEN_KEY_LEN]);

/* Read a --psk-file into keys[*n ..] (at most max in all; *n counts them).
 * 0, or -1 with st: KC_FILE for a file others can read or that cannot be
 * read, KC_USAGE for a malformed line or no key.  The file's text is wiped
 * from memory before returning. */
int tls_psk_load(const char *path, struct tls_psk *keys, unsigned max, unsigned *n,
		 struct kc_status *st);

/* Refuse secrets that others can read: 0, or -1 with st (KC_FILE). */
int tls_check_secret_file(const char *path, struct kc_status *st);

/* Read a whole small file (at most max bytes) into a NUL-terminated buffer
 * the caller frees.  Returns 0 or -errno. */
int tls_read_small_file(const char *path, size_t max, char **out, size_t *len);

#endif
