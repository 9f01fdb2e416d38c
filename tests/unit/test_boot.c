/* Unit tests of cp's pure parts: scp's [USER@]HOST:PATH syntax, the key
 * line and the banner (common/boot.c), and the CP_REQ / CP_INFO messages
 * (common/proto.c). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"
#include "proto.h"
#include "tap.h"

/* parse arg: rc, and for a remote one USERHOST, HOST and PATH. */
static int remote_is(const char *arg, int want, const char *uh, const char *host, const char *path)
{
	char u[300], h[256];
	const char *p = NULL;
	int rc = boot_remote_parse(arg, u, sizeof(u), h, sizeof(h), &p);

	if (rc != want) {
		printf("# %s: rc %d\n", arg, rc);
		return 0;
	}
	if (rc != 1)
		return 1;
	if (strcmp(u, uh) != 0 || strcmp(h, host) != 0 || strcmp(p, path) != 0) {
		printf("# %s: \"%s\" \"%s\" \"%s\"\n", arg, u, h, p);
		return 0;
	}
	return 1;
}

static void test_remote(void)
{
	ok(remote_is("host:f", 1, "host", "host", "f"), "HOST:PATH");
	ok(remote_is("me@host:", 1, "me@host", "host", ""), "USER@HOST: (the home)");
	ok(remote_is("me@host:/a b/c:d", 1, "me@host", "host", "/a b/c:d"), "only the first colon splits");
	ok(remote_is("[::1]:x", 1, "::1", "::1", "x"), "[V6]:PATH");
	ok(remote_is("me@[fe80::1]:/y", 1, "me@fe80::1", "fe80::1", "/y"), "USER@[V6]:PATH");
	ok(remote_is("./a:b", 0, NULL, NULL, NULL), "./a:b is local");
	ok(remote_is("/abs/a:b", 0, NULL, NULL, NULL), "a colon after a slash is local");
	ok(remote_is("plain", 0, NULL, NULL, NULL), "no colon is local");
	ok(remote_is(":x", -EINVAL, NULL, NULL, NULL), "an empty host is refused");
	ok(remote_is("-oProxyCommand=evil:x", -EINVAL, NULL, NULL, NULL), "a host ssh would take for an option is refused");
	ok(remote_is("me@-oX:x", -EINVAL, NULL, NULL, NULL), "USER@-option is refused too");
	ok(remote_is("[::1:x", -EINVAL, NULL, NULL, NULL), "an unclosed bracket is refused");
}

static void test_lines(void)
{
	uint8_t key[BOOT_KEY_LEN], back[BOOT_KEY_LEN];
	char line[BOOT_LINE_MAX], addr[64];
	unsigned ver = 0, port = 0, i;

	for (i = 0; i < BOOT_KEY_LEN; i++)
		key[i] = (uint8_t)(i * 37 + 5);
	boot_key_line(key, line);
	ok(strncmp(line, "KTLSCP-BOOT 1 ", 14) == 0 && strlen(line) == 14 + 64 + 1 && line[78] == '\n',
	   "the key line is KTLSCP-BOOT 1 and 64 hex digits");
	line[78] = '\0';
	ok(boot_key_parse(line, back) == 0 && memcmp(key, back, sizeof(key)) == 0, "the key line parses back");
	line[20] = 'X';
	ok(boot_key_parse(line, back) == -EINVAL, "a key line with a bad digit is refused");
	ok(boot_key_parse("KTLSCP-BOOT 2 00", back) == -EPROTONOSUPPORT, "another key line version is named");
	ok(boot_key_parse("KTLSCP-BOOT 1 0011", back) == -EINVAL, "a short key is refused");
	ok(boot_banner_parse("KTLSCP-FAR 1 4242 ::1", &ver, &port, addr, sizeof(addr)) == 0 && port == 4242 &&
	   strcmp(addr, "::1") == 0, "the banner gives port and address");
	ok(boot_banner_parse("KTLSCP-FAR 7 1 -", &ver, &port, addr, sizeof(addr)) == -EPROTONOSUPPORT && ver == 7,
	   "another banner version is named");
	ok(boot_banner_parse("Welcome!", &ver, &port, addr, sizeof(addr)) == -EINVAL, "other text is not a banner");
	ok(boot_banner_parse("KTLSCP-FAR 1 0 -", &ver, &port, addr, sizeof(addr)) == -EINVAL, "port 0 is refused");
	ok(boot_banner_parse("KTLSCP-FAR 1 70000 -", &ver, &port, addr, sizeof(addr)) == -EINVAL,
	   "a port over 65535 is refused");
	ok(boot_banner_parse("KTLSCP-FAR 1 22 a b", &ver, &port, addr, sizeof(addr)) == -EINVAL,
	   "an address with a blank is refused");
}

static void test_messages(void)
{
	const char *paths[] = { "a b", "new\nline", "/abs" };
	struct proto_cp_req *r = malloc(sizeof(*r));
	struct pbuf b = { 0 };
	uint8_t type, tx = 9, rx = 9, bad[16];
	uint32_t len;

	ok(proto_cp_req_encode(&b, PROTO_CP_PULL, PROTO_CP_RECURSIVE, PROTO_OPT_VERIFY, paths, 3) == 0 &&
	   proto_header_parse(b.p, &type, &len) == 0 && type == PROTO_CP_REQ, "CP_REQ encodes and frames");
	ok(proto_cp_req_decode(b.p + PROTO_HDR_LEN, len, r) == 0 && r->dir == PROTO_CP_PULL && r->count == 3 &&
	   r->flags == PROTO_CP_RECURSIVE && r->opts == PROTO_OPT_VERIFY && strcmp(r->path[1], "new\nline") == 0 &&
	   strcmp(r->path[2], "/abs") == 0, "CP_REQ decodes to the same paths");
	ok(proto_cp_req_decode(b.p + PROTO_HDR_LEN, len - 1, r) == -EPROTO && r->count == 0, "a cut CP_REQ is refused");
	/* dir, flags, opts (4), count 1, one path of one byte: a NUL */
	memcpy(bad, b.p + PROTO_HDR_LEN, 6);
	memcpy(bad + 6, "\0\1\0\1\0", 5);
	ok(proto_cp_req_decode(bad, 11, r) == -EPROTO, "a path with a NUL is refused");
	bad[10] = 'x';
	ok(proto_cp_req_decode(bad, 11, r) == 0 && strcmp(r->path[0], "x") == 0, "the same path without it passes");
	bad[0] = 3;
	ok(proto_cp_req_decode(bad, 11, r) == -EPROTO, "an unknown direction is refused");
	b.len = 0;
	ok(proto_cp_req_encode(&b, PROTO_CP_PUSH, 0, 0, paths, 2) == 0 && proto_header_parse(b.p, &type, &len) == 0 &&
	   proto_cp_req_decode(b.p + PROTO_HDR_LEN, len, r) == -EPROTO, "a push with two directories is refused");
	b.len = 0;
	ok(proto_cp_info_encode(&b, 1, 0) == 0 && proto_header_parse(b.p, &type, &len) == 0 && type == PROTO_CP_INFO &&
	   proto_cp_info_decode(b.p + PROTO_HDR_LEN, len, &tx, &rx) == 0 && tx == 1 && rx == 0,
	   "CP_INFO carries both modes");
	ok(proto_cp_info_decode((const uint8_t *)"\x01\x00\x07", 3, &tx, &rx) == 0, "later CP_INFO bytes are ignored");
	ok(proto_cp_info_decode((const uint8_t *)"\x09\x00", 2, &tx, &rx) == -EPROTO, "an unknown mode is refused");
	pbuf_free(&b);
	free(r);
}

int main(void)
{
	test_remote();
	test_lines();
	test_messages();
	return tap_done();
}
