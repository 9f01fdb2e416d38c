/* progress: the meter, the log lines and the JSON events (see progress.h). */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "diag.h"
#include "clock.h"
#include "progress.h"
#include "proto.h"
#include "report.h"

bool progress_wanted(void)
{
	pid_t fg;

	if (!isatty(STDERR_FILENO))
		return false;
	fg = tcgetpgrp(STDERR_FILENO);
	return fg != -1 && fg == getpgrp();
}

void progress_init(struct progress *p, unsigned mode)
{
	struct winsize ws;

	memset(p, 0, sizeof(*p));
	p->mode = mode;
	p->on = mode != 0;
	p->fd = -1;
	p->t0 = clock_now();
	p->lines_last = p->json_last = p->t0;
	p->width = 80;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
		p->width = ws.ws_col;
}

/* Bytes of ours the peer has not acknowledged yet (still in the socket's
 * send queue): the meter shows what reached the receiver, not what was
 * handed to the kernel. */
static uint64_t unacked(const struct progress *p)
{
	int n = 0;

	if (p->fd < 0 || ioctl(p->fd, SIOCOUTQ, &n) < 0 || n < 0)
		return 0;
	return (uint64_t)n;
}

/* Bytes the peer has acknowledged so far, over the whole run; at the end
 * (final) all of them: what is left in the send queue then is the
 * protocol's closing messages. */
static uint64_t delivered(const struct progress *p, bool final)
{
	uint64_t q = final ? 0 : unacked(p), all = proto_size_add(p->bytes, p->file_done);

	return all > q ? all - q : 0;
}

/* The total line (PROGRESS_LINES): "total so far" every
 * PROGRESS_LINES_EVERY seconds, "total" at the end. */
static void total_line(struct progress *p, bool final)
{
	double el = clock_now() - p->t0;
	uint64_t b = delivered(p, final);
	char rate[24];

	report_size(el > 0 ? (double)b / el : 0, rate, sizeof(rate));
	diag_print("%s: %llu file%s, %llu bytes in %.1f s, %s/s", final ? "total" : "total so far",
		   (unsigned long long)p->arrived, p->arrived == 1 ? "" : "s", (unsigned long long)b, el, rate);
}

/* The periodic output due at this moment, if any. */
static void tick(struct progress *p)
{
	double t;

	if (!(p->mode & (PROGRESS_LINES | PROGRESS_JSON)))
		return;
	t = clock_now();
	if ((p->mode & PROGRESS_LINES) && t - p->lines_last >= PROGRESS_LINES_EVERY) {
		p->lines_last = t;
		total_line(p, false);
	}
	if ((p->mode & PROGRESS_JSON) && t - p->json_last >= PROGRESS_JSON_EVERY) {
		p->json_last = t;
		printf("{\"event\":\"progress\",\"files\":%llu,\"bytes\":%llu,\"elapsed\":%.3f}\n",
		       (unsigned long long)p->arrived, (unsigned long long)delivered(p, false), t - p->t0);
		fflush(stdout);
	}
}

static const char *const result_name[] = {
	[REPORT_OK] = "ok",
	[REPORT_SKIPPED] = "skipped",
	[REPORT_FAILED] = "failed",
};

/* The report module's sink: one entry's outcome, as a line (unless it was
 * printed before the sink was set) and an event.  True when a line was
 * printed. */
static bool entry_done(void *arg, const struct report_outcome *o)
{
	struct progress *p = arg;
	bool line = (p->mode & PROGRESS_LINES) && !o->earlier;
	char e[1024];

	if (o->res == REPORT_OK)
		p->arrived++;
	if (line) {
		diag_escape(o->path, strlen(o->path), e, sizeof(e));
		if (o->res == REPORT_OK)
			diag_print("%s: ok, %llu bytes", e, (unsigned long long)o->bytes);
		else
			diag_print("%s: %s (%s)", e, result_name[o->res], o->why ? o->why : "no cause given");
	}
	if (p->mode & PROGRESS_JSON) {
		fputs("{\"event\":\"file\",\"name\":", stdout);
		report_json_str(stdout, o->path);
		printf(",\"bytes\":%llu,\"result\":\"%s\"", (unsigned long long)o->bytes, result_name[o->res]);
		if (o->res != REPORT_OK) {
			fputs(o->res == REPORT_FAILED ? ",\"error\":" : ",\"reason\":", stdout);
			report_json_str(stdout, o->why);
		}
		fputs("}\n", stdout);
		fflush(stdout);
	}
	tick(p);
	return line;
}

void progress_start(struct progress *p, const struct xfer_stats *s)
{
	if (!(p->mode & (PROGRESS_LINES | PROGRESS_JSON)))
		return;
	if (p->mode & PROGRESS_JSON) {
		fputs("{\"event\":\"start\",\"role\":", stdout);
		report_json_str(stdout, s->role);
		fputs(",\"peer\":", stdout);
		report_json_str(stdout, s->peer[0] ? s->peer : NULL);
		fputs(",\"tls_version\":", stdout);
		report_json_str(stdout, s->tls_version[0] ? s->tls_version : NULL);
		fputs(",\"cipher\":", stdout);
		report_json_str(stdout, s->cipher[0] ? s->cipher : NULL);
		fputs(",\"auth\":", stdout);
		report_json_str(stdout, s->auth);
		fputs(",\"ktls_tx\":", stdout);
		report_json_str(stdout, ktls_mode_name(s->ki.tx));
		fputs(",\"ktls_rx\":", stdout);
		report_json_str(stdout, ktls_mode_name(s->ki.rx));
		fputs("}\n", stdout);
		fflush(stdout);
	}
	p->following = true;
	report_set_sink(entry_done, p);
}

static void draw(struct progress *p, bool force)
{
	double t = clock_now(), el = t - p->file_t0, rate;
	char done[24], speed[24], total[24], eta[24] = "", pct[8] = "    ", line[512];
	uint64_t q, fdone;
	int namew;

	if (!(p->mode & PROGRESS_BAR) || (!force && t - p->last < 0.2))
		return;
	p->last = t;
	p->shown = true;
	/* What the peer has not acknowledged is deducted from this file
	 * first (it was sent last), then from the total. */
	q = unacked(p);
	fdone = p->file_done > q ? p->file_done - q : 0;
	rate = el > 0 ? (double)fdone / el : 0;
	/* A stream's size is not known: bytes and rate, no percentage. */
	if (!p->stream)
		snprintf(pct, sizeof(pct), "%3d%%",
			 p->file_size ? (int)(100.0 * (double)fdone / (double)p->file_size) : 100);
	report_size((double)fdone, done, sizeof(done));
	report_size(rate, speed, sizeof(speed));
	report_size((double)delivered(p, false), total, sizeof(total));
	if (rate > 0 && !p->stream && fdone < p->file_size) {
		double left = (double)(p->file_size - fdone) / rate;

		snprintf(eta, sizeof(eta), "%d:%02d ETA", (int)left / 60, (int)left % 60);
	} else if (el > 0) {
		snprintf(eta, sizeof(eta), "%d:%02d", (int)el / 60, (int)el % 60);
	}
	namew = p->width - 62;
	if (namew < 10)
		namew = 10;
	snprintf(line, sizeof(line), "%-*.*s %s %9s %9s/s %9s | %llu file%s, %s", namew, namew, p->name, pct,
		 done, speed, eta, (unsigned long long)p->files, p->files == 1 ? "" : "s", total);
	fprintf(stderr, "\r%.*s\033[K", p->width - 1, line);
	fflush(stderr);
	diag_progress_dirty(1);
}

static void file_begin(struct progress *p, const char *name, uint64_t size, bool stream)
{
	if (!p->on)
		return;
	diag_escape(name, strlen(name), p->name, sizeof(p->name));
	p->file_size = size;
	p->file_done = 0;
	p->stream = stream;
	p->file_t0 = clock_now();
	p->shown = false;
	draw(p, false);
}

void progress_file(struct progress *p, const char *name, uint64_t size)
{
	file_begin(p, name, size, false);
}

void progress_stream(struct progress *p, const char *name)
{
	file_begin(p, name, 0, true);
}

void progress_add(struct progress *p, uint64_t n)
{
	if (!p->on)
		return;
	p->file_done = proto_size_add(p->file_done, n);
	if (p->file_done > p->file_size)
		p->stream = true;	/* more than announced: standard input */
	draw(p, false);
	tick(p);
}

void progress_file_done(struct progress *p)
{
	if (!p->on)
		return;
	/* A stream is as long as what came; a file, its announced size. */
	if (p->stream)
		p->file_size = p->file_done;
	p->file_done = p->file_size;
	draw(p, p->shown);
	p->files++;
	p->bytes = proto_size_add(p->bytes, p->file_size);
	p->file_done = 0;
}

void progress_end(struct progress *p)
{
	if (p->following)
		report_set_sink(NULL, NULL);
	p->following = false;
	if (p->mode & PROGRESS_BAR) {
		fprintf(stderr, "\r\033[K");
		fflush(stderr);
		diag_progress_dirty(0);
	}
	if (p->mode & PROGRESS_LINES)
		total_line(p, true);
	p->mode = 0;
	p->on = false;
}
