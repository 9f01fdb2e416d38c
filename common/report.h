/* report: the end-of-run summary, for people (stderr) and for scripts
 * (--json, one object on stdout; key names are fixed by DESIGN.md). */
#ifndef KTLSCP_REPORT_H
#define KTLSCP_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "diag.h"
#include "stats.h"

/* JSON object, one line, on f.  st->cls == KC_OK means status "ok". */
void report_json(FILE *f, const struct xfer_stats *s, const struct kc_status *st);
/* Human summary on stderr (two lines). */
void report_human(const struct xfer_stats *s);
/* "1.5 MB" style (powers of 1000) into out. */
void report_size(double bytes, char *out, size_t n);
/* JSON string escaping into f. */
void report_json_str(FILE *f, const char *s);

#endif
