/* Unit tests of the config file's parser (common/userconf.c): sections,
 * first value wins, repeatable keywords, patterns, values checked, file
 * names resolved, errors with their line. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "userconf.h"

/* Every option exists for every command, except --max-size outside recv
 * and --listen as a flag (send's) or with a value (recv's). */
static bool has(const char *cmd, const char *option, bool value)
{
	if (strcmp(option, "--max-size") == 0)
		return strcmp(cmd, "recv") == 0;
	if (strcmp(option, "--listen") == 0)
		return value == (strcmp(cmd, "recv") == 0);
	return true;
}

static struct config_result r;

static int parse(const char *text, const char *cmd, const char *host)
{
	struct kc_status st = { 0 };
	int rc = config_parse(text, "cfg", "/conf", cmd, host, has, &r, &st);

	if (rc < 0)
		printf("# %s\n", kc_msg(&st));
	return rc;
}

/* The i-th option is option with value (NULL: a flag). */
static int opt_is(int i, const char *option, const char *value)
{
	if (i >= r.n || strcmp(r.opt[i].option, option) != 0 ||
	    (value ? r.opt[i].value == NULL || strcmp(r.opt[i].value, value) != 0 : r.opt[i].value != NULL)) {
		printf("# option %d of %d: %s %s\n", i, r.n, i < r.n ? r.opt[i].option : "-",
		       i < r.n && r.opt[i].value ? r.opt[i].value : "(none)");
		return 0;
	}
	return 1;
}

static int fails_with(const char *text, const char *cmd, const char *host, const char *msg)
{
	struct kc_status st = { 0 };
	int rc = config_parse(text, "cfg", "/conf", cmd, host, has, &r, &st);

	if (rc == 0 || strstr(kc_msg(&st), msg) == NULL) {
		printf("# rc %d: %s\n", rc, kc_msg(&st));
		config_result_free(&r);
		return 0;
	}
	return 1;
}

int main(void)
{
	const char *text = "# defaults\n"
			   "Timeout 30\n"
			   "Host nas backup\n"
			   "  HostName 10.0.0.5\n"
			   "  LimitRate=50M\n"
			   "  Timeout 5\n"
			   "  Pin SHA256:a\n"
			   "Host *\n"
			   "  Pin SHA256:b\n"
			   "  LimitRate 1M\n"
			   "  PskFile ~/k.psk\n"
			   "  Verify yes\n"
			   "  Resume no\n"
			   "Recv\n"
			   "  MaxSize 10G\n"
			   "  Listen 127.0.0.1\n";

	setenv("HOME", "/home/u", 1);
	ok(parse(text, "send", "NAS") == 0, "send to NAS (hosts match in any case)");
	ok(r.hostname && strcmp(r.hostname, "10.0.0.5") == 0, "HostName from its section");
	ok(opt_is(0, "--timeout", "30") && opt_is(1, "--limit-rate", "50M"), "the first value wins (file order)");
	ok(opt_is(2, "--pin", "SHA256:a") && opt_is(3, "--pin", "SHA256:b"), "Pin collects");
	ok(opt_is(4, "--psk-file", "/home/u/k.psk") && r.opt[4].trust, "~/ is HOME; a trust option");
	ok(opt_is(5, "--verify", NULL) && r.n == 6, "yes is the flag, no is nothing; Recv is not send's");
	config_result_free(&r);

	ok(parse(text, "send", "other") == 0 && r.hostname == NULL && opt_is(1, "--pin", "SHA256:b") &&
	   opt_is(2, "--limit-rate", "1M"), "another host: only Host *");
	config_result_free(&r);
	ok(parse(text, "cp", "nas") == 0 && r.hostname == NULL, "cp leaves HostName to ssh");
	config_result_free(&r);
	ok(parse(text, "recv", NULL) == 0 && r.n == 3 && opt_is(0, "--timeout", "30") &&
	   opt_is(1, "--max-size", "10G") && opt_is(2, "--listen", "127.0.0.1"), "recv: global and Recv");
	config_result_free(&r);

	ok(parse("Host *.lan !bad.lan\n  Tls 1.2\n", "send", "good.lan") == 0 && r.n == 1, "a wildcard");
	config_result_free(&r);
	ok(parse("Host *.lan !bad.lan\n  Tls 1.2\n", "send", "bad.lan") == 0 && r.n == 0, "! excludes");
	config_result_free(&r);
	ok(parse("Host x\n  Ca ca.pem\n  Cert \"/etc/a b.pem\"\n", "send", "x") == 0 &&
	   opt_is(0, "--ca", "/conf/ca.pem") && opt_is(1, "--cert", "/etc/a b.pem"),
	   "relative file names are the config directory's; quotes");
	config_result_free(&r);

	ok(fails_with("Timeout 1\nBogus 2\n", "send", "h", "cfg:2: unknown keyword 'Bogus'"), "unknown keyword");
	ok(fails_with("Host a\n  Port x\n", "send", "b", "cfg:2: Port x: expected a number"),
	   "values are checked in sections that do not apply too");
	ok(fails_with("LimitRate 5Q\n", "send", "h", "expected a size"), "a size");
	ok(fails_with("Cipher rot13\n", "send", "h", "Cipher rot13: expected one of"), "a cipher");
	ok(fails_with("Ktls maybe\n", "send", "h", "expected auto, require or off"), "a kTLS policy");
	ok(fails_with("Recv\n  HostName x\n", "recv", NULL, "cfg:2: HostName does not apply to recv"),
	   "HostName in Recv");
	ok(fails_with("Recv now\n", "recv", NULL, "Recv takes no value"), "Recv with a value");
	ok(fails_with("Host\n", "send", "h", "Host needs at least one pattern"), "Host without a pattern");
	ok(fails_with("Timeout\n", "send", "h", "cfg:1: Timeout needs a value"), "a keyword without a value");
	return tap_done();
}
