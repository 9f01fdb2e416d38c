/* Unit tests of name escaping and of the struct kc_status API. */
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
	ok(esc_is("a\xe2\x80\xaetxt.exe", 11, "a\\xe2\\x80\\xaetxt.exe"), "U+202E (RLO) is escaped");
	ok(esc_is("\xe2\x80\xaa\xe2\x80\xac", 6, "\\xe2\\x80\\xaa\\xe2\\x80\\xac"), "U+202A and U+202C are escaped");
	ok(esc_is("\xe2\x81\xa6\xe2\x81\xa9", 6, "\\xe2\\x81\\xa6\\xe2\\x81\\xa9"), "U+2066 and U+2069 are escaped");
	ok(esc_is("z\xe2\x80\x8bw", 5, "z\\xe2\\x80\\x8bw"), "U+200B (zero-width space) is escaped");
	ok(esc_is("\xe2\x80\x8f", 3, "\\xe2\\x80\\x8f"), "U+200F (RLM) is escaped");
	ok(esc_is("\xe2\x80\xa8\xe2\x80\xa9", 6, "\\xe2\\x80\\xa8\\xe2\\x80\\xa9"), "U+2028 and U+2029 are escaped");
	ok(esc_is("\xef\xbb\xbf" "bom", 6, "\\xef\\xbb\\xbfbom"), "U+FEFF (BOM) is escaped");
	ok(esc_is("\xe2\x80\xa7\xe2\x80\xaf\xe2\x81\xa5\xe2\x80\x8a", 12,
		  "\xe2\x80\xa7\xe2\x80\xaf\xe2\x81\xa5\xe2\x80\x8a"),
	   "neighbours U+2027, U+202F, U+2065, U+200A pass");
	diag_escape("0123456789abcdef", 16, small, sizeof(small));
	ok(strlen(small) < sizeof(small) && strstr(small, "...") != NULL, "truncation is marked: %s", small);

	{
		struct kc_status st = { 0 };
		char big[1000];

		ok(kc_ok(&st) && kc_class(&st) == KC_OK && kc_msg(&st)[0] == '\0', "a new status is ok");
		kc_append(&st, " (cut off in %s)", "f");
		ok(kc_ok(&st) && kc_msg(&st)[0] == '\0', "append leaves an ok status alone");
		ok(kc_fail(&st, KC_NET, "%s: connection reset", "peer") == -1 && kc_class(&st) == KC_NET &&
			   strcmp(kc_msg(&st), "peer: connection reset") == 0,
		   "kc_fail records class and message");
		ok(kc_fail(&st, KC_FILE, "later") == -1 && kc_class(&st) == KC_NET &&
			   strcmp(kc_msg(&st), "peer: connection reset") == 0,
		   "the first failure wins");
		kc_append(&st, " (cut off in %s)", "a/b");
		ok(strcmp(kc_msg(&st), "peer: connection reset (cut off in a/b)") == 0, "kc_append: %s",
		   kc_msg(&st));
		ok(kc_replace(&st, KC_XFER, "peer aborted: %s", "disk full") == -1 &&
			   kc_class(&st) == KC_XFER && strcmp(kc_msg(&st), "peer aborted: disk full") == 0,
		   "kc_replace overrides the first failure");
		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		kc_append(&st, "%s", big);
		kc_append(&st, "%s", "more");
		ok(strlen(kc_msg(&st)) == sizeof(st.msg) - 1 && kc_class(&st) == KC_XFER,
		   "kc_append truncates to the message size");
		kc_clear(&st);
		ok(kc_ok(&st) && kc_msg(&st)[0] == '\0', "kc_clear: ok again, no message");
		ok(kc_fail(NULL, KC_OTHER, "x") == -1 && kc_replace(NULL, KC_OTHER, "x") == -1,
		   "a NULL status is allowed where failures are not wanted");
	}
	return tap_done();
}
