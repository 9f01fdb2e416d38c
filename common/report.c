/* report: summary printing, and the lists of entries that failed or were
 * skipped (one run's worth, per process). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "report.h"

#define ESC_MAX 512
#define CAUSES_SHOWN 16	/* distinct causes counted, to not print one cause without end */
#define CAUSE_REPEATS 3	/* entries printed with one cause; the rest are counted */

struct rentry {
	char *path, *why;
};

struct rlist {
	struct rentry *e;
	unsigned n, total;
};

static struct rlist failures, skips;
static char *shown[CAUSES_SHOWN];
static unsigned shown_n[CAUSES_SHOWN];
static unsigned nshown, repeats;
static char first_failure[700];
static bool (*sink)(void *arg, const struct report_outcome *o);
static void *sink_arg;

/* Keep (path, why) in l, up to REPORT_LIST_MAX; counts every call. */
static void rlist_add(struct rlist *l, const char *path, const char *why)
{
	l->total++;
	if (l->n >= REPORT_LIST_MAX)
		return;
	if (l->e == NULL) {
		l->e = calloc(REPORT_LIST_MAX, sizeof(*l->e));
		if (l->e == NULL)
			return;
	}
	l->e[l->n].path = strdup(path);
	l->e[l->n].why = strdup(why);
	if (l->e[l->n].path && l->e[l->n].why) {
		l->n++;
		return;
	}
	free(l->e[l->n].path);
	free(l->e[l->n].why);
}

/* Was this cause printed CAUSE_REPEATS times already?  Counts it (while
 * there is room for another cause). */
static bool cause_seen(const char *cause)
{
	unsigned i;

	for (i = 0; i < nshown; i++)
		if (strcmp(shown[i], cause) == 0)
			return ++shown_n[i] > CAUSE_REPEATS;
	if (nshown < CAUSES_SHOWN && (shown[nshown] = strdup(cause)) != NULL)
		shown_n[nshown++] = 1;
	return false;
}

/* Tell the sink; true when it printed the entry's line. */
static bool tell(const char *path, enum report_result res, uint64_t bytes, const char *why)
{
	struct report_outcome o = { .path = path, .res = res, .bytes = bytes, .why = why };

	return sink && sink(sink_arg, &o);
}

void report_entry_failed(const char *path, const char *cause)
{
	char e[ESC_MAX];

	diag_escape(path, strlen(path), e, sizeof(e));
	if (failures.total == 0)
		snprintf(first_failure, sizeof(first_failure), "%s: %s", e, cause);
	rlist_add(&failures, path, cause);
	if (tell(path, REPORT_FAILED, 0, cause))
		return;
	if (cause_seen(cause)) {
		repeats++;
		diag_debug("%s: %s", e, cause);
		return;
	}
	diag_print("%s: %s", e, cause);
}

void report_entry_lost(const char *path, const char *cause)
{
	char e[ESC_MAX];

	rlist_add(&failures, path, cause);
	diag_escape(path, strlen(path), e, sizeof(e));
	diag_debug("%s: %s", e, cause);
}

void report_entry_skipped(const char *path, const char *why, bool print)
{
	char e[ESC_MAX];

	rlist_add(&skips, path, why);
	if (tell(path, REPORT_SKIPPED, 0, why))
		return;
	diag_escape(path, strlen(path), e, sizeof(e));
	if (print)
		diag_print("%s: skipping %s", e, why);
	else
		diag_debug("%s: skipping %s", e, why);
}

void report_entry_done(const char *path, enum report_result res, uint64_t bytes, const char *why)
{
	tell(path, res, bytes, why);
}

void report_set_sink(bool (*fn)(void *arg, const struct report_outcome *o), void *arg)
{
	struct report_outcome o = { .res = REPORT_FAILED, .earlier = true };
	unsigned i;

	sink = fn;
	sink_arg = arg;
	for (i = 0; fn && i < failures.n; i++) {
		o.path = failures.e[i].path;
		o.why = failures.e[i].why;
		fn(arg, &o);
	}
	o.res = REPORT_SKIPPED;
	for (i = 0; fn && i < skips.n; i++) {
		o.path = skips.e[i].path;
		o.why = skips.e[i].why;
		fn(arg, &o);
	}
}

unsigned report_skipped(void)
{
	return skips.total;
}

const char *report_first_failure(unsigned *nrepeats)
{
	if (nrepeats)
		*nrepeats = repeats;
	return first_failure;
}

static void rlist_free(struct rlist *l)
{
	unsigned i;

	for (i = 0; i < l->n; i++) {
		free(l->e[i].path);
		free(l->e[i].why);
	}
	free(l->e);
	memset(l, 0, sizeof(*l));
}

void report_free(void)
{
	unsigned i;

	rlist_free(&failures);
	rlist_free(&skips);
	sink = NULL;
	sink_arg = NULL;
	for (i = 0; i < nshown; i++)
		free(shown[i]);
	nshown = repeats = 0;
	first_failure[0] = '\0';
}

static void rlist_json(FILE *f, const char *key, const char *whykey, const struct rlist *l)
{
	unsigned i;

	fprintf(f, ",\"%s\":[", key);
	for (i = 0; i < l->n; i++) {
		fputs(i ? ",{\"path\":" : "{\"path\":", f);
		report_json_str(f, l->e[i].path);
		fprintf(f, ",\"%s\":", whykey);
		report_json_str(f, l->e[i].why);
		fputc('}', f);
	}
	fputc(']', f);
}

void report_json_str(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (s == NULL) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static const char *or_null(const char *s)
{
	return s && *s ? s : NULL;
}

void report_json(FILE *f, const struct xfer_stats *s, const struct kc_status *st)
{
	bool hs = s->handshake_done;

	fputs("{\"role\":", f);
	report_json_str(f, s->role);
	fputs(",\"peer\":", f);
	report_json_str(f, or_null(s->peer));
	fputs(",\"tls_version\":", f);
	report_json_str(f, hs ? or_null(s->tls_version) : NULL);
	fputs(",\"cipher\":", f);
	report_json_str(f, hs ? or_null(s->cipher) : NULL);
	fputs(",\"auth\":", f);
	report_json_str(f, hs ? s->auth : NULL);
	fputs(",\"ktls_tx\":", f);
	report_json_str(f, hs ? ktls_mode_name(s->ki.tx) : NULL);
	fputs(",\"ktls_rx\":", f);
	report_json_str(f, hs ? ktls_mode_name(s->ki.rx) : NULL);
	fputs(",\"ktls_mode_source\":", f);
	report_json_str(f, hs ? s->ki.source : NULL);
	fputs(",\"ktls_reason\":", f);
	report_json_str(f, hs ? or_null(s->ki.reason) : NULL);
	fputs(",\"tx_path\":", f);
	report_json_str(f, hs ? s->tx_path : NULL);
	fputs(",\"rx_path\":", f);
	report_json_str(f, hs ? s->rx_path : NULL);
	fprintf(f, ",\"files\":%llu,\"dirs\":%llu,\"failed\":%u,\"skipped\":%u,\"bytes\":%llu,\"resumed\":%llu,\"verified\":%llu,\"reconnects\":%u,\"seconds\":%.3f",
		(unsigned long long)s->files, (unsigned long long)s->dirs, s->failed, s->skipped,
		(unsigned long long)s->bytes, (unsigned long long)s->resumed,
		(unsigned long long)s->verified, s->reconnects, s->seconds);
	rlist_json(f, "failures", "error", &failures);
	rlist_json(f, "skipped_entries", "reason", &skips);
	fputs(",\"status\":", f);
	report_json_str(f, kc_ok(st) ? "ok" : "error");
	fprintf(f, ",\"exit_code\":%d,\"error\":", (int)kc_class(st));
	report_json_str(f, kc_ok(st) ? NULL : kc_msg(st));
	fputs("}\n", f);
	fflush(f);
}

void report_size(double b, char *out, size_t n)
{
	const char *u[] = { "B", "kB", "MB", "GB", "TB" };
	int i = 0;

	while (b >= 1000 && i < 4) {
		b /= 1000;
		i++;
	}
	snprintf(out, n, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

void report_human(const struct xfer_stats *s, const struct kc_status *st, bool verbose)
{
	char sz[32], rate[32], skipped[48] = "", of[32] = "";
	double secs = s->seconds > 0 ? s->seconds : 1e-6;
	bool send = strcmp(s->role, "send") == 0;
	uint64_t all = s->files + (kc_ok(st) ? 0 : s->failed);

	report_size((double)s->bytes, sz, sizeof(sz));
	report_size((double)s->bytes / secs, rate, sizeof(rate));
	if (s->skipped)
		snprintf(skipped, sizeof(skipped), ", %u skipped", s->skipped);
	if (!kc_ok(st))
		snprintf(of, sizeof(of), " of %llu", (unsigned long long)all);
	diag_print("%s %llu%s file%s (%s)%s %s %s in %.2f s, %s/s", send ? "sent" : "received",
		   (unsigned long long)s->files, of, (of[0] ? all : s->files) == 1 ? "" : "s", sz, skipped,
		   send ? "to" : "from", s->peer, s->seconds, rate);
	if (!s->handshake_done || !verbose)
		return;
	diag_print("%s %s, auth %s; kTLS tx=%s rx=%s (mode from %s); data path tx=%s rx=%s%s%s",
		   s->tls_version, s->cipher, s->auth, ktls_mode_name(s->ki.tx), ktls_mode_name(s->ki.rx),
		   s->ki.source, s->tx_path, s->rx_path, s->ki.reason[0] ? "; userspace because: " : "",
		   s->ki.reason);
}
