/* progress: the meter (see progress.h). */
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

void progress_init(struct progress *p, bool on)
{
	struct winsize ws;

	memset(p, 0, sizeof(*p));
	p->on = on;
	p->fd = -1;
	p->t0 = clock_now();
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

static void draw(struct progress *p, bool force)
{
	double t = clock_now(), el = t - p->file_t0, rate;
	char done[24], speed[24], total[24], eta[24] = "", pct[8] = "    ", line[512];
	uint64_t q, fdone, all;
	int namew;

	if (!p->on || (!force && t - p->last < 0.2))
		return;
	p->last = t;
	p->shown = true;
	/* What the peer has not acknowledged is deducted from this file
	 * first (it was sent last), then from the total. */
	q = unacked(p);
	all = proto_size_add(p->bytes, p->file_done);
	all = all > q ? all - q : 0;
	fdone = p->file_done > q ? p->file_done - q : 0;
	rate = el > 0 ? (double)fdone / el : 0;
	/* A stream's size is not known: bytes and rate, no percentage. */
	if (!p->stream)
		snprintf(pct, sizeof(pct), "%3d%%",
			 p->file_size ? (int)(100.0 * (double)fdone / (double)p->file_size) : 100);
	report_size((double)fdone, done, sizeof(done));
	report_size(rate, speed, sizeof(speed));
	report_size((double)all, total, sizeof(total));
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
	if (!p->on)
		return;
	fprintf(stderr, "\r\033[K");
	fflush(stderr);
	diag_progress_dirty(0);
}
