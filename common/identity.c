/* identity: this host's key and self-signed certificate (ktlscp id), made on
 * first use in the configuration directory, loading a certificate and key
 * pair from PEM files, and key fingerprints. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <gnutls/crypto.h>

#include "fsutil.h"
#include "identity.h"
#include "secrets.h"

int tls_identity_dir(char *dir, size_t dirsz, struct kc_status *st)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	int n;

	if (xdg && xdg[0] == '/')
		n = snprintf(dir, dirsz, "%s/ktlscp", xdg);
	else if (home && home[0] == '/')
		n = snprintf(dir, dirsz, "%s/.config/ktlscp", home);
	else
		return kc_fail(st, KC_FILE, "cannot find the configuration directory: set HOME or XDG_CONFIG_HOME");
	if (n < 0 || (size_t)n >= dirsz)
		return kc_fail(st, KC_FILE, "configuration directory path too long");
	return 0;
}

/* The configuration directory is created under the home directory, never the
 * home directory itself: a mistyped or unset-then-defaulted $HOME must not
 * spring into existence.  With XDG_CONFIG_HOME set, its ktlscp directory is
 * created, parents included, as that variable names the place to use.
 * Returns true with st set when dir is under $HOME and $HOME is not an
 * existing directory. */
static bool identity_home_missing(const char *dir, struct kc_status *st)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	struct stat sb;

	if ((xdg && xdg[0] == '/') || !home)
		return false;
	if (stat(home, &sb) == 0 && S_ISDIR(sb.st_mode))
		return false;
	kc_fail(st, KC_FILE, "%s: home directory does not exist; not creating %s (set HOME or XDG_CONFIG_HOME)",
		home, dir);
	return true;
}

int tls_fingerprint(gnutls_x509_crt_t crt, char fp[TLS_FP_LEN])
{
	unsigned char id[32];
	size_t idlen = sizeof(id);
	gnutls_datum_t in, out;
	size_t i;

	if (gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, id, &idlen) < 0 || idlen != 32)
		return -EINVAL;
	in.data = id;
	in.size = (unsigned)idlen;
	if (gnutls_base64_encode2(&in, &out) < 0)
		return -ENOMEM;
	snprintf(fp, TLS_FP_LEN, "SHA256:%.*s", (int)out.size, (char *)out.data);
	gnutls_free(out.data);
	/* Drop base64 padding, as ssh does. */
	for (i = strlen(fp); i > 0 && fp[i - 1] == '='; i--)
		fp[i - 1] = '\0';
	return 0;
}

bool tls_fp_valid(const char *s, size_t len)
{
	size_t i;

	if (len != 7 + 43 || strncmp(s, "SHA256:", 7) != 0)
		return false;
	for (i = 7; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '+' && s[i] != '/')
			return false;
	return true;
}

static int write_secret_atomic(const char *dir, const char *name, const gnutls_datum_t *d,
			       mode_t mode, struct kc_status *st)
{
	char tmp[PATH_MAX], final[PATH_MAX];
	int fd, rc;

	snprintf(final, sizeof(final), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp%ld", dir, name, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return kc_fail(st, KC_FILE, "%s: %s", tmp, strerror(errno));
	rc = fsu_write_all(fd, d->data, d->size);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	/* link() instead of rename(): never replace an identity another
	 * process created meanwhile. */
	if (rc == 0 && link(tmp, final) < 0)
		rc = -errno;
	unlink(tmp);
	if (rc < 0)
		return kc_fail(st, KC_FILE, "%s: %s", final, strerror(-rc));
	return 0;
}

static int identity_create(const char *dir, struct kc_status *st)
{
	gnutls_x509_privkey_t key = NULL;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t kpem = { NULL, 0 }, cpem = { NULL, 0 };
	unsigned char serial[16];
	char host[256] = "localhost", cn[300];
	time_t now = time(NULL);
	int rc = -1;

	gethostname(host, sizeof(host) - 1);
	snprintf(cn, sizeof(cn), "ktlscp@%s", host);
	if (gnutls_x509_privkey_init(&key) < 0 || gnutls_x509_crt_init(&crt) < 0)
		goto out;
	if (gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
					 GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0)
		goto out;
	gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial));
	serial[0] &= 0x7f;
	if (gnutls_x509_crt_set_version(crt, 3) < 0 ||
	    gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)) < 0 ||
	    gnutls_x509_crt_set_activation_time(crt, now - 86400) < 0 ||
	    gnutls_x509_crt_set_expiration_time(crt, now + 100L * 365 * 86400) < 0 ||
	    gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen(cn)) < 0 ||
	    gnutls_x509_crt_set_key(crt, key) < 0 ||
	    gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE) < 0 ||
	    gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0) < 0 ||
	    gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_CLIENT, 0) < 0 ||
	    gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0) < 0)
		goto out;
	if (gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &kpem) < 0 ||
	    gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cpem) < 0)
		goto out;
	if (write_secret_atomic(dir, "id.key", &kpem, 0600, st) < 0)
		goto out_st;
	if (write_secret_atomic(dir, "id.crt", &cpem, 0644, st) < 0)
		goto out_st;
	rc = 0;
	goto out_st;
out:
	kc_fail(st, KC_OTHER, "%s: cannot create the identity key and certificate", dir);
out_st:
	if (kpem.data) {
		gnutls_memset(kpem.data, 0, kpem.size);
		gnutls_free(kpem.data);
	}
	gnutls_free(cpem.data);
	if (crt)
		gnutls_x509_crt_deinit(crt);
	if (key)
		gnutls_x509_privkey_deinit(key);
	return rc;
}

/* Read a PEM file (at most 1 MiB) into d; the caller wipes and frees
 * d->data.  0 or -1 with st. */
static int read_pem(const char *path, gnutls_datum_t *d, struct kc_status *st)
{
	char *buf = NULL;
	size_t len;
	int rc = tls_read_small_file(path, 1 << 20, &buf, &len);

	if (rc < 0)
		return kc_fail(st, KC_FILE, "%s: %s", path, strerror(-rc));
	d->data = (unsigned char *)buf;
	d->size = (unsigned)len;
	return 0;
}

int tls_identity_load_pem(const char *certpath, const char *keypath, gnutls_x509_crt_t *crt,
			  gnutls_x509_privkey_t *key, struct kc_status *st)
{
	gnutls_datum_t d;
	int rc;

	if (tls_check_secret_file(keypath, st) < 0 || read_pem(certpath, &d, st) < 0)
		return -1;
	rc = gnutls_x509_crt_init(crt);
	if (rc == 0)
		rc = gnutls_x509_crt_import(*crt, &d, GNUTLS_X509_FMT_PEM);
	free(d.data);
	if (rc < 0)
		return kc_fail(st, KC_FILE, "%s: not a PEM certificate: %s", certpath, gnutls_strerror(rc));
	if (read_pem(keypath, &d, st) < 0)
		return -1;
	rc = gnutls_x509_privkey_init(key);
	if (rc == 0)
		rc = gnutls_x509_privkey_import(*key, &d, GNUTLS_X509_FMT_PEM);
	gnutls_memset(d.data, 0, d.size);
	free(d.data);
	if (rc < 0)
		return kc_fail(st, KC_FILE, "%s: not a PEM private key: %s", keypath, gnutls_strerror(rc));
	return 0;
}

int tls_identity_load(bool create, gnutls_x509_crt_t *crt, gnutls_x509_privkey_t *key,
		      char *certpath, size_t certpathsz, bool *created, struct kc_status *st)
{
	char dir[PATH_MAX - 16], keypath[PATH_MAX];
	struct stat sb;

	*created = false;
	if (tls_identity_dir(dir, sizeof(dir), st) < 0)
		return -1;
	snprintf(certpath, certpathsz, "%s/id.crt", dir);
	snprintf(keypath, sizeof(keypath), "%s/id.key", dir);
	if (stat(keypath, &sb) < 0 && errno == ENOENT) {
		int rc;

		if (!create)
			return kc_fail(st, KC_FILE, "%s: no identity yet (run: ktlscp id)", keypath);
		if (identity_home_missing(dir, st))
			return -1;
		rc = fsu_mkdir_p(dir, 0700);
		if (rc < 0)
			return kc_fail(st, KC_FILE, "%s: %s", dir, strerror(-rc));
		if (identity_create(dir, st) < 0) {
			/* Lost a race with another process: use its identity. */
			if (kc_class(st) == KC_FILE && stat(keypath, &sb) == 0 && stat(certpath, &sb) == 0)
				kc_clear(st);
			else
				return -1;
		} else {
			*created = true;
		}
	}
	return tls_identity_load_pem(certpath, keypath, crt, key, st);
}
