/* clock: the one clock for durations and deadlines (the summary's seconds,
 * the server's handshake deadlines, the progress meter's rate): monotonic
 * seconds as a double, immune to changes of the wall clock. */
#ifndef KTLSCP_CLOCK_H
#define KTLSCP_CLOCK_H

#include <time.h>

static inline double clock_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
