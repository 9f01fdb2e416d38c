/* id: print this host's identity fingerprint, creating the key on first use. */
#include "config.h"

#include <limits.h>
#include <stdio.h>

#include "opts.h"

/* id has no options of its own. */
static struct poptOption id_table[] = {
	CLI_HELP_TABLE
	POPT_TABLEEND
};

static int cmd_id(const struct cmd_entry *self, int nargs, const char **args)
{
	struct kc_status st = { 0 };
	gnutls_x509_crt_t crt = NULL;
	gnutls_x509_privkey_t key = NULL;
	char certpath[PATH_MAX], fp[TLS_FP_LEN];
	bool created;
	int rc;

	(void)self;
	(void)nargs;
	(void)args;
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
	return (int)kc_class(&st);
}

const struct cmd_entry cmd_id_entry = {
	.name = "id",
	.args = "",
	.summary = "print this host's key fingerprint (SHA256:...), creating the key on first use",
	.table = id_table,
	.min_args = 0,
	.max_args = 0,
	.exec = cmd_id,
};
