/* report: the end-of-run summary, for people (stderr) and for scripts
 * (--json, one object on stdout; key names are fixed by DESIGN.md), and the
 * run's per-entry lists (entries that failed, entries skipped), which the
 * sender fills as it goes and the JSON object carries. */
#ifndef KTLSCP_REPORT_H
#define KTLSCP_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "diag.h"
#include "stats.h"

/* At most this many entries are kept in each list (the counts go on). */
#define REPORT_LIST_MAX 1000

/* JSON object, one line, on f.  st->cls == KC_OK means status "ok". */
void report_json(FILE *f, const struct xfer_stats *s, const struct kc_status *st);
/* Human summary on stderr: one line; the TLS and offload line too when
 * verbose.  On failure (st not ok) the line says how much of it got
 * through: "sent N of M files". */
void report_human(const struct xfer_stats *s, const struct kc_status *st, bool verbose);
/* "1.5 MB" style (powers of 1000) into out. */
void report_size(double bytes, char *out, size_t n);
/* JSON string escaping into f. */
void report_json_str(FILE *f, const char *s);

/* An entry (path, unescaped) that was not transferred, and why: printed
 * as "ktlscp: PATH: CAUSE", except that after three entries with one cause
 * (a full disk) the others are only counted (-v prints them); recorded for
 * the JSON "failures" list. */
void report_entry_failed(const char *path, const char *cause);
/* An entry the run stopped before the peer confirmed (the connection was
 * lost, or the peer broke the protocol): recorded for the JSON "failures"
 * list like the above, but printed only with -v, as the run's own error
 * line says why it stopped. */
void report_entry_lost(const char *path, const char *cause);
/* An entry left out on purpose (a symbolic link, a special file, one the
 * receiver kept with -n/--update): printed as "ktlscp: PATH: skipping
 * WHY" when print, recorded for the JSON "skipped_entries" list. */
void report_entry_skipped(const char *path, const char *why, bool print);
/* How many entries report_entry_skipped() saw. */
unsigned report_skipped(void);
/* The first failure as "PATH: CAUSE" (escaped), "" if none; and how many
 * failures were not printed. */
const char *report_first_failure(unsigned *repeats);
/* Forget the lists (at exit, or before another run in this process). */
void report_free(void);

/* The outcome of one entry, for whoever follows the run entry by entry
 * (the progress lines and JSON events, progress.h). */
enum report_result { REPORT_OK, REPORT_SKIPPED, REPORT_FAILED };
struct report_outcome {
	const char *path;	/* unescaped */
	enum report_result res;
	uint64_t bytes;		/* REPORT_OK: the body, as the summary counts it */
	const char *why;	/* the cause or reason; NULL for REPORT_OK */
	bool earlier;		/* recorded before the sink was set: its line was printed */
};
/* Tell fn (with arg) every entry's outcome from now on, after those
 * recorded so far (the sources that failed before connecting); NULL
 * stops.  fn returns true when it printed the entry's line itself: then
 * report_entry_failed() and report_entry_skipped() print none.  One sink
 * per process. */
void report_set_sink(bool (*fn)(void *arg, const struct report_outcome *o), void *arg);
/* An entry's outcome, told to the sink only (not printed, not recorded):
 * a file that arrived, or one that failed where its message was printed
 * otherwise (the receiver's).  report_entry_failed() and
 * report_entry_skipped() tell the sink themselves.  why NULL for
 * REPORT_OK. */
void report_entry_done(const char *path, enum report_result res, uint64_t bytes, const char *why);

#endif
