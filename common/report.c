/* report: summary printing. */
#include "config.h"

#include <string.h>

#include "report.h"

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
	report_json_str(f, s->auth);
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
	fprintf(f, ",\"files\":%llu,\"dirs\":%llu,\"failed\":%u,\"skipped\":%u,\"bytes\":%llu,\"resumed\":%llu,\"verified\":%llu,\"seconds\":%.3f",
		(unsigned long long)s->files, (unsigned long long)s->dirs, s->failed, s->skipped,
		(unsigned long long)s->bytes, (unsigned long long)s->resumed,
		(unsigned long long)s->verified, s->seconds);
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

void report_human(const struct xfer_stats *s)
{
	char sz[32], rate[32];
	double secs = s->seconds > 0 ? s->seconds : 1e-6;

	report_size((double)s->bytes, sz, sizeof(sz));
	report_size((double)s->bytes / secs, rate, sizeof(rate));
	char skipped[48] = "";

	if (s->skipped)
		snprintf(skipped, sizeof(skipped), ", %u skipped", s->skipped);
	diag_print("%s %llu file%s (%s)%s %s %s in %.2f s, %s/s",
		   strcmp(s->role, "send") == 0 ? "sent" : "received",
		   (unsigned long long)s->files, s->files == 1 ? "" : "s", sz, skipped,
		   strcmp(s->role, "send") == 0 ? "to" : "from", s->peer, s->seconds, rate);
	if (!s->handshake_done)
		return;
	diag_print("%s %s, auth %s; kTLS tx=%s rx=%s (mode from %s); data path tx=%s rx=%s%s%s",
		   s->tls_version, s->cipher, s->auth, ktls_mode_name(s->ki.tx), ktls_mode_name(s->ki.rx),
		   s->ki.source, s->tx_path, s->rx_path, s->ki.reason[0] ? "; userspace because: " : "",
		   s->ki.reason);
}
