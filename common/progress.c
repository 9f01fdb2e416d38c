/* progress: the meter (see progress.h). */
#include "config.h"

#include <stdio.h>
#include <string.h>
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
	p->t0 = clock_now();
	p->width = 80;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
		p->width = ws.ws_col;
}

static void draw(struct progress *p, bool force)
{
	double t = clock_now(), el = t - p->file_t0, rate;
	char done[24], speed[24], total[24], eta[24] = "", line[512];
	int pct, namew;

	if (!p->on || (!force && t - p->last < 0.2))
		return;
	p->last = t;
	p->shown = true;
	rate = el > 0 ? (double)p->file_done / el : 0;
	pct = p->file_size ? (int)(100.0 * (double)p->file_done / (double)p->file_size) : 100;
	report_size((double)p->file_done, done, sizeof(done));
	report_size(rate, speed, sizeof(speed));
	report_size((double)(p->bytes + p->file_done), total, sizeof(total));
	if (rate > 0 && p->file_done < p->file_size) {
		double left = (double)(p->file_size - p->file_done) / rate;

		snprintf(eta, sizeof(eta), "%d:%02d ETA", (int)left / 60, (int)left % 60);
	} else if (el > 0) {
		snprintf(eta, sizeof(eta), "%d:%02d", (int)el / 60, (int)el % 60);
	}
	namew = p->width - 62;
	if (namew < 10)
		namew = 10;
	snprintf(line, sizeof(line), "%-*.*s %3d%% %9s %9s/s %9s | %llu files, %s", namew, namew,
		 p->name, pct, done, speed, eta, (unsigned long long)p->files, total);
	fprintf(stderr, "\r%.*s\033[K", p->width - 1, line);
	fflush(stderr);
	diag_progress_dirty(1);
}

void progress_file(struct progress *p, const char *name, uint64_t size)
{
	if (!p->on)
		return;
	diag_escape(name, strlen(name), p->name, sizeof(p->name));
	p->file_size = size;
	p->file_done = 0;
	p->file_t0 = clock_now();
	p->shown = false;
	draw(p, false);
}

void progress_add(struct progress *p, uint64_t n)
{
	if (!p->on)
		return;
	p->file_done = proto_size_add(p->file_done, n);
	draw(p, false);
}

void progress_file_done(struct progress *p)
{
	if (!p->on)
		return;
	/* A file the meter showed ends at 100%, whatever the rate limit. */
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
