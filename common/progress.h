/* progress: what a run shows while it runs, in the forms the CLI chooses
 * (cli_progress(); man page, Output):
 *
 *  PROGRESS_BAR    a one-line meter on stderr, pv/scp style: the current
 *                  file's name, percent, bytes, rate and ETA, and the
 *                  running total; a stream (standard input, of unknown
 *                  size) shows bytes and rate only.  Redrawn at most five
 *                  times a second and cleared before any other message
 *                  (diag starts errors on a fresh line).
 *  PROGRESS_LINES  for logs (CI, journalctl): one line per entry finished
 *                  ("NAME: ok, N bytes", "NAME: skipped (WHY)", "NAME:
 *                  failed (CAUSE)"), a total line every 10 s and one at the
 *                  end; never a carriage return or an escape sequence.
 *  PROGRESS_JSON   newline-delimited JSON events on stdout: "start", one
 *                  "file" per entry finished, "progress" every second; the
 *                  --json summary that ends them is cli_finish's.
 *
 * Bytes are counted as the peer acknowledged them (not as handed to the
 * socket); entries as the report module hears their outcome (report.h,
 * report_set_sink): a file is "ok" once the receiver has it durable. */
#ifndef KTLSCP_PROGRESS_H
#define KTLSCP_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

#include "stats.h"

enum { PROGRESS_BAR = 1u << 0, PROGRESS_LINES = 1u << 1, PROGRESS_JSON = 1u << 2 };

/* Seconds between total lines (PROGRESS_LINES) and progress events
 * (PROGRESS_JSON). */
#define PROGRESS_LINES_EVERY 10.0
#define PROGRESS_JSON_EVERY 1.0

struct progress {
	unsigned mode;		/* PROGRESS_* bits; 0: nothing shown */
	bool on;		/* mode != 0: bytes are counted */
	double t0, file_t0, last;
	double lines_last, json_last;	/* the last total line, progress event */
	char name[80];
	uint64_t file_size, file_done;
	uint64_t bytes, files;
	uint64_t arrived;	/* entries whose outcome was "ok" */
	int width;
	bool shown;		/* the current file was drawn */
	bool stream;		/* the current file outgrew its size: no percentage */
	bool following;		/* the report sink is ours */
	int fd;			/* the connection, for unacknowledged bytes; -1 */
};

/* Start counting, showing what mode asks for (0: nothing). */
void progress_init(struct progress *p, unsigned mode);
/* The transfer begins (after the handshake; s has the peer, TLS and
 * offload): the "start" event, and from here every entry's outcome is
 * followed (report_set_sink) until progress_end(). */
void progress_start(struct progress *p, const struct xfer_stats *s);
/* A new file of size bytes begins. */
void progress_file(struct progress *p, const char *name, uint64_t size);
/* A stream (standard input) begins: its size is not known. */
void progress_stream(struct progress *p, const char *name);
/* n more bytes of the current file moved. */
void progress_add(struct progress *p, uint64_t n);
/* The current file is done. */
void progress_file_done(struct progress *p);
/* End of run: clear the meter, print the last total line, stop following
 * entries.  Safe to call again, and on a struct never initialized. */
void progress_end(struct progress *p);

/* Should a meter show by default?  stderr is a terminal and we are in its
 * foreground process group. */
bool progress_wanted(void);

#endif
