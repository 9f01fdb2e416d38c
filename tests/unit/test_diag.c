/* Unit tests of name escaping and JSON strings. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "tap.h"

static int esc_is(const char *in, size_t len, const char *want)
{
	char out[256];

	diag_escape(in, len, out, sizeof(out));
	if (strcmp(out, want) != 0)
		printf("# got \"%s\"\n", out);
	return strcmp(out, want) == 0;
}

int main(void)
{
	char small[12];

	ok(esc_is("plain.txt", 9, "plain.txt"), "plain names pass");
	ok(esc_is("new\nline", 8, "new\\x0aline"), "newline is escaped");
	ok(esc_is("\x1b[31mred", 8, "\\x1b[31mred"), "ESC is escaped");
	ok(esc_is("back\\slash", 10, "back\\\\slash"), "backslash is doubled");
	ok(esc_is("caf\xc3\xa9", 5, "caf\xc3\xa9"), "UTF-8 passes");
	ok(esc_is("bad\xff", 4, "bad\\xff"), "invalid UTF-8 is escaped");
	ok(esc_is("\xc2\x9b" "x", 3, "\\xc2\\x9bx"), "C1 control (CSI) is escaped");
	ok(esc_is("\xed\xa0\x80", 3, "\\xed\\xa0\\x80"), "UTF-16 surrogate is escaped");
	ok(esc_is("del\x7f", 4, "del\\x7f"), "DEL is escaped");
	diag_escape("0123456789abcdef", 16, small, sizeof(small));
	ok(strlen(small) < sizeof(small) && strstr(small, "...") != NULL, "truncation is marked: %s", small);
	return tap_done();
}
