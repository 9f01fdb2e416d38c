/* diag: error recording, message printing and escaping of untrusted names. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/stat.h>
#include <gnutls/gnutls.h>

#include "diag.h"

volatile sig_atomic_t kc_interrupted;
int diag_verbose;
static int progress_dirty;
static char diag_peer[80];
static bool use_syslog;
static bool journal_levels;

void diag_progress_dirty(int dirty)
{
	progress_dirty = dirty;
}

static void kc_vset(struct kc_status *st, enum kc_class cls, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
static void kc_vset(struct kc_status *st, enum kc_class cls, const char *fmt, va_list ap)
{
	st->cls = cls;
	st->printed = false;
	vsnprintf(st->msg, sizeof(st->msg), fmt, ap);
}

int kc_fail(struct kc_status *st, enum kc_class cls, const char *fmt, ...)
{
	va_list ap;

	if (st == NULL || st->cls != KC_OK)
		return -1;
	va_start(ap, fmt);
	kc_vset(st, cls, fmt, ap);
	va_end(ap);
	return -1;
}

int kc_replace(struct kc_status *st, enum kc_class cls, const char *fmt, ...)
{
	va_list ap;

	if (st == NULL)
		return -1;
	va_start(ap, fmt);
	kc_vset(st, cls, fmt, ap);
	va_end(ap);
	return -1;
}

void kc_append(struct kc_status *st, const char *fmt, ...)
{
	size_t n = strlen(st->msg);
	va_list ap;

	if (st->cls == KC_OK || n + 1 >= sizeof(st->msg))
		return;
	st->printed = false;
	va_start(ap, fmt);
	vsnprintf(st->msg + n, sizeof(st->msg) - n, fmt, ap);
	va_end(ap);
}

void kc_clear(struct kc_status *st)
{
	st->cls = KC_OK;
	st->msg[0] = '\0';
	st->printed = false;
}

void kc_mark_printed(struct kc_status *st)
{
	if (st->cls != KC_OK)
		st->printed = true;
}

bool kc_printed(const struct kc_status *st)
{
	return st->printed;
}

void diag_set_peer(const char *peer)
{
	snprintf(diag_peer, sizeof(diag_peer), "%s", peer ? peer : "");
}

void diag_syslog(void)
{
	/* Opened now, before any child is forked: they share the socket. */
	openlog("ktlscp", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	use_syslog = true;
}

bool diag_to_syslog(void)
{
	return use_syslog;
}

bool diag_journal_levels(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long dev, ino;
	struct stat sb;

	journal_levels = js && sscanf(js, "%lu:%lu", &dev, &ino) == 2 && fstat(2, &sb) == 0 &&
			 (unsigned long)sb.st_dev == dev && (unsigned long)sb.st_ino == ino;
	return journal_levels;
}

static void diag_vprint(int prio, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void diag_vprint(int prio, const char *fmt, va_list ap)
{
	char line[1024], level[8] = "";

	vsnprintf(line, sizeof(line), fmt, ap);
	if (use_syslog) {
		/* The ident says "ktlscp"; the peer as on stderr. */
		if (diag_peer[0] && strstr(line, diag_peer) == NULL)
			syslog(prio, "%s: %s", diag_peer, line);
		else
			syslog(prio, "%s", line);
		return;
	}
	if (journal_levels)
		snprintf(level, sizeof(level), "<%d>", prio);
	/* One write, so that concurrent writers do not interleave mid-line. */
	if (diag_peer[0] && strstr(line, diag_peer) == NULL)
		fprintf(stderr, "%s%sktlscp: %s: %s\n", progress_dirty ? "\n" : "", level, diag_peer, line);
	else
		fprintf(stderr, "%s%sktlscp: %s\n", progress_dirty ? "\n" : "", level, line);
	progress_dirty = 0;
}

void diag_print(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vprint(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void diag_log(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vprint(prio, fmt, ap);
	va_end(ap);
}

void diag_debug(const char *fmt, ...)
{
	va_list ap;

	if (diag_verbose <= 0)
		return;
	va_start(ap, fmt);
	diag_vprint(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

/* Length of the valid, printable UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len, i;
	unsigned int cp;

	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	len = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	if (len > n)
		return 0;
	cp = s[0] & (0x7f >> len);
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	/* C1 controls (U+0080..U+009F) are terminal controls too. */
	if (cp >= 0x80 && cp <= 0x9f)
		return 0;
	/* Invisible and direction-changing characters can make a printed name
	 * read as another: zero-width and marks (U+200B..U+200F), line and
	 * paragraph separators (U+2028, U+2029), embeddings and overrides
	 * (U+202A..U+202E), isolates (U+2066..U+2069) and U+FEFF. */
	if ((cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff)
		return 0;
	return len;
}

char *diag_escape(const char *s, size_t len, char *out, size_t outsz)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, o = 0, u;

	if (outsz == 0)
		return out;
	while (i < len) {
		char tmp[8];
		size_t tl;

		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') {
			tmp[0] = (char)p[i];
			tl = 1;
			u = 1;
		} else if (p[i] == '\\') {
			memcpy(tmp, "\\\\", 2);
			tl = 2;
			u = 1;
		} else if ((u = utf8_len(p + i, len - i)) > 0) {
			memcpy(tmp, p + i, u);
			tl = u;
		} else {
			snprintf(tmp, sizeof(tmp), "\\x%02x", p[i]);
			tl = 4;
			u = 1;
		}
		if (o + tl + 4 > outsz) {
			if (o + 4 <= outsz) {
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(out + o, tmp, tl);
		o += tl;
		i += u;
	}
	out[o] = '\0';
	return out;
}

const char *diag_gnutls(int code, char *buf, size_t bufsz)
{
	snprintf(buf, bufsz, "%s (%d)", gnutls_strerror(code), code);
	return buf;
}
