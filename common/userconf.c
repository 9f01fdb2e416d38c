/* userconf: the user's defaults file (userconf.h). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ktls.h"
#include "userconf.h"

enum {
	CF_TRUST = 1 << 0,	/* a trust option: used only as a group */
	CF_FLAG = 1 << 1,	/* yes|no: the option without a value */
	CF_FILE = 1 << 2,	/* a file name: ~/ and relative names resolved */
	CF_REPEAT = 1 << 3,	/* every value, not only the first */
};

enum cf_check { CK_ANY, CK_UINT, CK_SIZE, CK_TLS, CK_KTLS, CK_CIPHER, CK_PORTS, CK_PROGRESS };

static const struct keyword {
	const char *name, *option;
	unsigned flags;
	enum cf_check check;
} keywords[] = {
	{ "HostName", NULL, 0, CK_ANY },
	{ "Port", "--port", 0, CK_UINT },
	{ "LimitRate", "--limit-rate", 0, CK_SIZE },
	{ "Timeout", "--timeout", 0, CK_UINT },
	{ "Tls", "--tls", 0, CK_TLS },
	{ "Cipher", "--cipher", 0, CK_CIPHER },
	{ "Ktls", "--ktls", 0, CK_KTLS },
	{ "Verify", "--verify", CF_FLAG, CK_ANY },
	{ "Preserve", "--preserve", CF_FLAG, CK_ANY },
	{ "Resume", "--resume", CF_FLAG, CK_ANY },
	{ "Progress", "--progress", 0, CK_PROGRESS },
	{ "PskFile", "--psk-file", CF_TRUST | CF_FILE, CK_ANY },
	{ "TokenFile", "--token-file", CF_TRUST | CF_FILE, CK_ANY },
	{ "Pin", "--pin", CF_TRUST | CF_REPEAT, CK_ANY },
	{ "Ca", "--ca", CF_TRUST | CF_FILE, CK_ANY },
	{ "AllowSubject", "--allow-subject", CF_TRUST | CF_REPEAT, CK_ANY },
	{ "Cert", "--cert", CF_TRUST | CF_FILE, CK_ANY },
	{ "Key", "--key", CF_TRUST | CF_FILE, CK_ANY },
	{ "Allow", "--allow", CF_TRUST | CF_REPEAT, CK_ANY },
	{ "Rsh", "--rsh", 0, CK_ANY },
	{ "RemoteKtlscp", "--remote-ktlscp", 0, CK_ANY },
	{ "DataPort", "--data-port", 0, CK_PORTS },
	{ "Listen", "--listen", 0, CK_ANY },
	{ "MaxSize", "--max-size", 0, CK_SIZE },
	{ "MaxFiles", "--max-files", 0, CK_UINT },
	{ "MaxConns", "--max-conns", 0, CK_UINT },
};
#define NKEYWORDS (sizeof(keywords) / sizeof(keywords[0]))

static const struct keyword *keyword_find(const char *name)
{
	size_t i;

	for (i = 0; i < NKEYWORDS; i++)
		if (strcasecmp(keywords[i].name, name) == 0)
			return &keywords[i];
	return NULL;
}

/* A value of kind ck?  NULL, or what it should have been. */
static const char *check_value(enum cf_check ck, const char *v)
{
	size_t n = strspn(v, "0123456789");

	switch (ck) {
	case CK_UINT:
		return n > 0 && n < 10 && v[n] == '\0' ? NULL : "a number";
	case CK_SIZE:
		if (n == 0)
			return "a size such as 50M or 1Gi";
		v += n;
		if (*v && strchr("kKmMgGtT", *v))
			v++;
		if (*v == 'i')
			v++;
		if (*v == 'B' || *v == 'b')
			v++;
		return *v == '\0' ? NULL : "a size such as 50M or 1Gi";
	case CK_TLS:
		return strcmp(v, "1.2") == 0 || strcmp(v, "1.3") == 0 ? NULL : "1.2 or 1.3";
	case CK_KTLS:
		return strcmp(v, "auto") == 0 || strcmp(v, "require") == 0 || strcmp(v, "off") == 0
			       ? NULL : "auto, require or off";
	case CK_PROGRESS:
		return strcmp(v, "bar") == 0 || strcmp(v, "lines") == 0 || strcmp(v, "none") == 0
			       ? NULL : "bar, lines or none";
	case CK_CIPHER:
		return ktls_cipher_by_name(v) ? NULL : "one of " KTLS_CIPHER_NAMES;
	case CK_PORTS:
		if (n == 0)
			return "N or LOW-HIGH";
		if (v[n] == '-' && strspn(v + n + 1, "0123456789") > 0)
			n += 1 + strspn(v + n + 1, "0123456789");
		return v[n] == '\0' ? NULL : "N or LOW-HIGH";
	case CK_ANY:
		break;
	}
	return NULL;
}

/* Does host match the patterns (a "!" pattern that matches excludes)? */
static bool host_matches(char *patterns, const char *host)
{
	bool yes = false;
	char *save = NULL, *p;

	for (p = strtok_r(patterns, " \t", &save); p; p = strtok_r(NULL, " \t", &save)) {
		bool neg = p[0] == '!';

		if (fnmatch(neg ? p + 1 : p, host, FNM_CASEFOLD) == 0) {
			if (neg)
				return false;
			yes = true;
		}
	}
	return yes;
}

static int add_opt(struct config_result *r, const struct keyword *k, const char *value, const char *dir,
		   unsigned line, const char *path, struct kc_status *st)
{
	struct config_opt *o;
	char buf[PATH_MAX];
	const char *home = getenv("HOME");
	int i;

	if (!(k->flags & CF_REPEAT))
		for (i = 0; i < r->n; i++)
			if (strcmp(r->opt[i].option, k->option) == 0)
				return 0;	/* the first value wins */
	if (r->n == CONFIG_MAX_OPTS)
		return kc_fail(st, KC_USAGE, "%s:%u: more than %d settings apply", path, line, CONFIG_MAX_OPTS);
	o = &r->opt[r->n];
	o->option = k->option;
	o->trust = k->flags & CF_TRUST;
	o->line = line;
	o->value = NULL;
	if (k->flags & CF_FLAG) {
		if (strcasecmp(value, "yes") == 0)
			goto done;
		if (strcasecmp(value, "no") == 0)
			return 0;
		return kc_fail(st, KC_USAGE, "%s:%u: %s %s: expected yes or no", path, line, k->name, value);
	}
	if ((k->flags & CF_FILE) && strncmp(value, "~/", 2) == 0) {
		if (home == NULL)
			return kc_fail(st, KC_USAGE, "%s:%u: %s %s: HOME is not set", path, line, k->name, value);
		snprintf(buf, sizeof(buf), "%s/%s", home, value + 2);
		value = buf;
	} else if ((k->flags & CF_FILE) && value[0] != '/') {
		snprintf(buf, sizeof(buf), "%s/%s", dir, value);
		value = buf;
	}
	o->value = strdup(value);
	if (o->value == NULL)
		return kc_fail(st, KC_OTHER, "out of memory");
done:
	r->n++;
	return 0;
}

int config_parse(const char *text, const char *path, const char *dir, const char *cmd, const char *host,
		 bool (*has_option)(const char *cmd, const char *option, bool value), struct config_result *r,
		 struct kc_status *st)
{
	enum { GLOBAL, ACTIVE, INACTIVE, OWN } sect = GLOBAL;
	const char *p = text;
	unsigned lineno = 0;

	memset(r, 0, sizeof(*r));
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		char line[1024], *kw, *val, *end;
		const struct keyword *k;
		const char *bad;

		lineno++;
		if (len >= sizeof(line)) {
			kc_fail(st, KC_USAGE, "%s:%u: line too long", path, lineno);
			goto fail;
		}
		memcpy(line, p, len);
		line[len] = '\0';
		p += len + (eol ? 1 : 0);
		for (kw = line; isspace((unsigned char)*kw); kw++)
			;
		end = kw + strlen(kw);
		while (end > kw && isspace((unsigned char)end[-1]))
			*--end = '\0';
		if (*kw == '\0' || *kw == '#')
			continue;
		val = kw + strcspn(kw, " \t=");
		if (*val) {
			*val++ = '\0';
			val += strspn(val, " \t");
			if (*val == '=')
				val += 1 + strspn(val + 1, " \t");
		}
		if (val[0] == '"' && strlen(val) >= 2 && val[strlen(val) - 1] == '"') {
			val[strlen(val) - 1] = '\0';
			val++;
		}
		if (strcasecmp(kw, "Host") == 0) {
			if (*val == '\0') {
				kc_fail(st, KC_USAGE, "%s:%u: Host needs at least one pattern", path, lineno);
				goto fail;
			}
			sect = host && strcmp(cmd, "recv") != 0 && host_matches(val, host) ? ACTIVE : INACTIVE;
			continue;
		}
		if (strcasecmp(kw, "Recv") == 0) {
			if (*val != '\0') {
				kc_fail(st, KC_USAGE, "%s:%u: Recv takes no value", path, lineno);
				goto fail;
			}
			sect = strcmp(cmd, "recv") == 0 ? OWN : INACTIVE;
			continue;
		}
		k = keyword_find(kw);
		if (k == NULL) {
			kc_fail(st, KC_USAGE, "%s:%u: unknown keyword '%s'", path, lineno, kw);
			goto fail;
		}
		if (*val == '\0') {
			kc_fail(st, KC_USAGE, "%s:%u: %s needs a value", path, lineno, k->name);
			goto fail;
		}
		if ((bad = check_value(k->check, val)) != NULL) {
			kc_fail(st, KC_USAGE, "%s:%u: %s %s: expected %s", path, lineno, k->name, val, bad);
			goto fail;
		}
		if (sect == INACTIVE)
			continue;
		if (k->option == NULL) {	/* HostName: send's, in a Host section */
			if (sect == ACTIVE && strcmp(cmd, "send") == 0 && r->hostname == NULL &&
			    (r->hostname = strdup(val)) == NULL) {
				kc_fail(st, KC_OTHER, "out of memory");
				goto fail;
			}
			if (sect == OWN) {
				kc_fail(st, KC_USAGE, "%s:%u: HostName does not apply to recv", path, lineno);
				goto fail;
			}
			continue;
		}
		if (!has_option(cmd, k->option, !(k->flags & CF_FLAG))) {
			if (sect == OWN) {
				kc_fail(st, KC_USAGE, "%s:%u: %s does not apply to recv", path, lineno, k->name);
				goto fail;
			}
			continue;
		}
		if (add_opt(r, k, val, dir, lineno, path, st) < 0)
			goto fail;
	}
	return 0;
fail:
	config_result_free(r);
	return -1;
}

void config_result_free(struct config_result *r)
{
	int i;

	for (i = 0; i < r->n; i++)
		free(r->opt[i].value);
	free(r->hostname);
	memset(r, 0, sizeof(*r));
}
