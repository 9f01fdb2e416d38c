/* id: print this host's identity fingerprint, creating the key on first use. */
#include "config.h"

#include <limits.h>
#include <stdio.h>

#include "opts.h"

static struct poptOption id_table[] = {
	POPT_AUTOHELP
	POPT_TABLEEND
};

static int cmd_id(const struct cmd_entry *self, int argc, const char **argv)
{
	struct kc_status st = { 0 };
	gnutls_x509_crt_t crt = NULL;
	gnutls_x509_privkey_t key = NULL;
	poptContext ctx = NULL;
	char certpath[PATH_MAX], fp[TLS_FP_LEN];
	bool created;
	int rc;

	if (cli_parse(self, id_table, argc, argv, &ctx) < 0) {
		poptFreeContext(ctx);
		return KC_USAGE;
	}
	if (poptPeekArg(ctx) != NULL) {
		fprintf(stderr, "ktlscp id: takes no arguments\n");
		poptFreeContext(ctx);
		return KC_USAGE;
	}
	rc = tls_identity_load(true, &crt, &key, certpath, sizeof(certpath), &created, &st);
	if (rc == 0 && tls_fingerprint(crt, fp) < 0)
		rc = kc_fail(&st, KC_OTHER, "%s: cannot compute the fingerprint", certpath);
	if (rc == 0) {
		if (created)
			diag_print("created this host's identity %s", certpath);
		printf("%s\n", fp);
	} else {
		diag_print("%s", kc_msg(&st));
	}
	if (crt)
		gnutls_x509_crt_deinit(crt);
	if (key)
		gnutls_x509_privkey_deinit(key);
	poptFreeContext(ctx);
	cli_free();
	return (int)kc_class(&st);
}

const struct cmd_entry cmd_id_entry = {
	.name = "id",
	.args = "",
	.summary = "print this host's key fingerprint (SHA256:...), creating the key on first use",
	.exec = cmd_id,
};
