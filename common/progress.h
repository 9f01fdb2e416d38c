/* progress: a one-line progress meter on stderr, pv/scp style: the current
 * file's name, percent, bytes, rate and ETA, and the running total, counted
 * as the peer acknowledged them (not as handed to the socket); a stream
 * (standard input, of unknown size) shows bytes and rate only.  Shown
 * only when asked to (the CLI decides: a terminal in the foreground process
 * group, or --progress), redrawn at most five times a second, and cleared
 * before any other message (diag starts errors on a fresh line). */
#ifndef KTLSCP_PROGRESS_H
#define KTLSCP_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct progress {
	bool on;
	double t0, file_t0, last;
	char name[80];
	uint64_t file_size, file_done;
	uint64_t bytes, files;
	int width;
	bool shown;		/* the current file was drawn */
	bool stream;		/* the current file outgrew its size: no percentage */
	int fd;			/* the connection, for unacknowledged bytes; -1 */
};

void progress_init(struct progress *p, bool on);
/* A new file of size bytes begins. */
void progress_file(struct progress *p, const char *name, uint64_t size);
/* A stream (standard input) begins: its size is not known. */
void progress_stream(struct progress *p, const char *name);
/* n more bytes of the current file moved. */
void progress_add(struct progress *p, uint64_t n);
/* The current file is done. */
void progress_file_done(struct progress *p);
/* Clear the line (end of run). */
void progress_end(struct progress *p);

/* Should a meter show by default?  stderr is a terminal and we are in its
 * foreground process group. */
bool progress_wanted(void);

#endif
