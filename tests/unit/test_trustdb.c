/* Unit tests of the known_hosts and authorized_senders formats. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "trustdb.h"

#define FP_A "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define FP_B "SHA256:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
#define FP_C "SHA256:Cc+/Cc+/Cc+/Cc+/Cc+/Cc+/Cc+/Cc+/Cc+/Cc+/Cc+"

int main(void)
{
	char name[300], old[TRUSTDB_FP_LEN], fps[4][TRUSTDB_FP_LEN];
	const char *kh = "# comment\n"
			 "\n"
			 "files.example.org " FP_A "\n"
			 "  [10.0.0.7]:9000,backup " FP_B " extra words\n"
			 "rotated " FP_A "\n"
			 "rotated " FP_C "\r\n";
	unsigned line = 0, bad = 0;

	kh_name("Files.Example.ORG", 7433, 7433, name, sizeof(name));
	ok(strcmp(name, "files.example.org") == 0, "default port: the bare name, lower-case (%s)", name);
	kh_name("::1", 9000, 7433, name, sizeof(name));
	ok(strcmp(name, "[::1]:9000") == 0, "other port: [host]:port (%s)", name);
	kh_name("a b,c#d", 7433, 7433, name, sizeof(name));
	ok(strcmp(name, "a_b_c_d") == 0, "blanks, commas and # cannot break the format (%s)", name);

	ok(tls_fp_valid(FP_C, strlen(FP_C)), "base64 with + and / is a fingerprint");
	ok(!tls_fp_valid(FP_C, strlen(FP_C) - 1), "42 characters are not");
	ok(!tls_fp_valid("SHA1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 47), "other hashes are not");
	ok(!tls_fp_valid("SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!", 50) &&
		   !tls_fp_valid("SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 50),
	   "43 characters outside unpadded base64 are not");

	ok(kh_lookup_text(kh, "files.example.org", FP_A, &line, old) == KH_MATCH, "known host, same key");
	ok(kh_lookup_text(kh, "files.example.org", FP_B, &line, old) == KH_CHANGED && line == 3 &&
		   strcmp(old, FP_A) == 0,
	   "known host, other key: changed, line %u, old key %s", line, old);
	ok(kh_lookup_text(kh, "backup", FP_B, &line, old) == KH_MATCH, "second name of a line");
	ok(kh_lookup_text(kh, "[10.0.0.7]:9000", FP_B, &line, old) == KH_MATCH, "bracketed name");
	ok(kh_lookup_text(kh, "10.0.0.7", FP_B, &line, old) == KH_UNKNOWN,
	   "the same address on the default port is another host");
	ok(kh_lookup_text(kh, "rotated", FP_C, &line, old) == KH_MATCH,
	   "any of several lines for a name may match (CRLF line)");
	ok(kh_lookup_text(kh, "back", FP_B, &line, old) == KH_UNKNOWN, "no prefix matches");
	ok(kh_lookup_text(kh, "", "", &line, old) == KH_UNKNOWN, "the empty name is never known");
	ok(kh_lookup_text("", "x", FP_A, &line, old) == KH_UNKNOWN, "empty file");

	ok(as_parse_text("# keys\n" FP_A " laptop\n\n" FP_B "\n", fps, 4, &bad) == 2 &&
		   strcmp(fps[0], FP_A) == 0 && strcmp(fps[1], FP_B) == 0,
	   "authorized_senders: keys with comments");
	ok(as_parse_text(FP_A "\nnot-a-key\n", fps, 4, &bad) == -1 && bad == 2,
	   "a malformed line is refused with its number (%u)", bad);
	ok(as_parse_text(FP_A "\n" FP_B "\n" FP_C "\n", fps, 2, &bad) == 3,
	   "more keys than room: counted, so the caller can refuse");
	ok(as_parse_text("", fps, 4, &bad) == 0, "empty file: no keys");

	{
		char tmpl[] = "/tmp/test_trustdb.XXXXXX", path[600], gone[64];
		struct kc_status st = { 0 };
		struct stat sb;

		if (mkdtemp(tmpl) == NULL)
			return 99;
		snprintf(gone, sizeof(gone), "%s/nohome", tmpl);
		snprintf(path, sizeof(path), "%s/.config/ktlscp/known_hosts", gone);
		ok(kh_add(path, "h", FP_A, &st) < 0 && strstr(kc_msg(&st), "/nohome/.config/ktlscp") &&
			   stat(gone, &sb) < 0,
		   "known_hosts under a missing home: fails naming the directory (%s), creates nothing",
		   kc_msg(&st));
		kc_clear(&st);
		snprintf(path, sizeof(path), "%s/ktlscp/known_hosts", tmpl);
		ok(kh_add(path, "h", FP_A, &st) == 0 && stat(path, &sb) == 0,
		   "known_hosts: the configuration directory is made under an existing parent");
		unlink(path);
		snprintf(path, sizeof(path), "%s/ktlscp", tmpl);
		rmdir(path);
		rmdir(tmpl);
	}
	return tap_done();
}
