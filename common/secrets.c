/* secrets: the shared secrets of the PSK trust mode (the one-time token that
 * recv prints, --psk-file keys) and the file checks that keep secrets
 * private.  Key and certificate files of this host are in identity.c. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <gnutls/crypto.h>

#include "secrets.h"

int tls_read_small_file(const char *path, size_t max, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf;
	size_t n = 0;

	if (fd < 0)
		return -errno;
	buf = malloc(max + 1);
	if (buf == NULL) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t r = read(fd, buf + n, max + 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			free(buf);
			close(fd);
			return -e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			free(buf);
			close(fd);
			return -EFBIG;
		}
	}
	close(fd);
	buf[n] = '\0';
	*out = buf;
	if (len)
		*len = n;
	return 0;
}

int tls_check_secret_file(const char *path, struct kc_status *st)
{
	struct stat sb;

	if (stat(path, &sb) < 0)
		return kc_fail(st, KC_FILE, "%s: %s", path, strerror(errno));
	if (sb.st_mode & 077)
		return kc_fail(st, KC_FILE,
			       "%s: secret is readable by group or others (mode %03o); run chmod 600 on it",
			       path, (unsigned)(sb.st_mode & 0777));
	return 0;
}

/* ---- tokens ------------------------------------------------------------ */

static const char b32[] = "abcdefghijkmnpqrstuvwxyz23456789";	/* no l, o, 0, 1 */

int tls_token_generate(char *out)
{
	uint8_t raw[TLS_TOKEN_KEY_LEN];
	unsigned i, bits = 0, acc = 0, n = 0, o = 0;

	if (gnutls_rnd(GNUTLS_RND_KEY, raw, sizeof(raw)) < 0)
		return -EIO;
	for (i = 0; i < sizeof(raw); i++) {
		acc = (acc << 8) | raw[i];
		bits += 8;
		while (bits >= 5) {
			if (n > 0 && n % 4 == 0)
				out[o++] = '-';
			out[o++] = b32[(acc >> (bits - 5)) & 31];
			bits -= 5;
			n++;
		}
	}
	out[o] = '\0';
	gnutls_memset(raw, 0, sizeof(raw));
	return 0;
}

int tls_token_decode(const char *token, uint8_t key[TLS_TOKEN_KEY_LEN])
{
	unsigned acc = 0, bits = 0, n = 0, o = 0;
	const char *p;

	for (p = token; *p; p++) {
		const char *pos;
		int c = tolower((unsigned char)*p);

		if (c == '-' || c == ' ' || c == '\n' || c == '\r')
			continue;
		pos = strchr(b32, c);
		if (pos == NULL || c == '\0')
			return -EINVAL;
		acc = (acc << 5) | (unsigned)(pos - b32);
		bits += 5;
		n++;
		if (bits >= 8) {
			if (o >= TLS_TOKEN_KEY_LEN)
				return -EINVAL;
			key[o++] = (uint8_t)(acc >> (bits - 8));
			bits -= 8;
		}
	}
	return (n == (TLS_TOKEN_KEY_LEN * 8 + 4) / 5 && o == TLS_TOKEN_KEY_LEN) ? 0 : -EINVAL;
}

/* ---- PSK --------------------------------------------------------------- */

static int hex_decode(const char *s, size_t n, uint8_t *out, size_t outsz, size_t *len)
{
	size_t i;

	if (n % 2 != 0 || n / 2 > outsz)
		return -EINVAL;
	for (i = 0; i < n; i += 2) {
		char b[3] = { s[i], s[i + 1], 0 };
		char *end;

		if (!isxdigit((unsigned char)b[0]) || !isxdigit((unsigned char)b[1]))
			return -EINVAL;
		out[i / 2] = (uint8_t)strtoul(b, &end, 16);
	}
	*len = n / 2;
	return 0;
}

int tls_psk_load(const char *path, struct tls_psk *keys, unsigned max, unsigned *n,
		 struct kc_status *st)
{
	char *buf = NULL, *line, *save = NULL;
	size_t len = 0;
	int rc, lineno = 0;

	if (tls_check_secret_file(path, st) < 0)
		return -1;
	rc = tls_read_small_file(path, 65536, &buf, &len);
	if (rc < 0)
		return kc_fail(st, KC_FILE, "%s: %s", path, strerror(-rc));
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct tls_psk *k;
		char *colon, *hex;
		size_t hl;

		lineno++;
		while (*line == ' ' || *line == '\t')
			line++;
		hl = strlen(line);
		while (hl > 0 && (line[hl - 1] == '\r' || line[hl - 1] == ' ' || line[hl - 1] == '\t'))
			line[--hl] = '\0';
		if (*line == '\0' || *line == '#')
			continue;
		if (*n >= max)
			break;
		k = &keys[*n];
		colon = strrchr(line, ':');
		if (colon) {
			*colon = '\0';
			hex = colon + 1;
			if (strlen(line) == 0 || strlen(line) >= sizeof(k->id)) {
				rc = -EINVAL;
				break;
			}
			snprintf(k->id, sizeof(k->id), "%s", line);
		} else {
			hex = line;
			snprintf(k->id, sizeof(k->id), "ktlscp");
		}
		if (hex_decode(hex, strlen(hex), k->key, sizeof(k->key), &k->len) < 0 || k->len < 16) {
			rc = -EINVAL;
			break;
		}
		(*n)++;
	}
	/* All of it: strtok_r and the ':' split left NULs in the text. */
	gnutls_memset(buf, 0, len);
	free(buf);
	if (rc < 0)
		return kc_fail(st, KC_USAGE,
			       "%s: line %d: expected IDENTITY:HEXKEY or HEXKEY with a key of 16 to 64 bytes",
			       path, lineno);
	if (*n == 0)
		return kc_fail(st, KC_USAGE, "%s: no key found", path);
	return 0;
}
