/* libFuzzer target: the path checker.  Anything it accepts must really be
 * safe to resolve beneath a directory: relative, no "." or ".." component,
 * no empty component, no NUL, within the length and depth limits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *why;
	size_t i, start = 0, depth = 0;

	if (proto_path_check(p, size, &why) != 0) {
		if (why == NULL)
			abort();
		return 0;
	}
	if (size == 0 || size > PROTO_PATH_MAX || p[0] == '/' || memchr(p, 0, size))
		abort();
	for (i = 0; i <= size; i++) {
		size_t n;

		if (i < size && p[i] != '/')
			continue;
		n = i - start;
		if (n == 0 || n > PROTO_NAME_MAX || (n == 1 && p[start] == '.') ||
		    (n == 2 && p[start] == '.' && p[start + 1] == '.'))
			abort();
		depth++;
		start = i + 1;
	}
	if (depth > PROTO_DEPTH_MAX)
		abort();
	return 0;
}
