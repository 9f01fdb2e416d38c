/* userconf: the config file's settings put before the command line's
 * options (common/userconf.h has the file's rules; man page, FILES). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "boot.h"
#include "identity.h"
#include "net.h"
#include "opts.h"
#include "trustdb.h"
#include "userconf.h"

static const struct cmd_entry *uc_cmd;
/* The argv popt parses, with the file's settings first: reachable until
 * exit, as the process's own argv is. */
static const char **uc_argv;

/* The option of table named long name (or short), through included tables. */
static const struct poptOption *find_opt(const struct poptOption *t, const char *lname, char sname)
{
	for (; t && (t->longName || t->shortName || t->argInfo || t->arg); t++) {
		if ((t->argInfo & POPT_ARG_MASK) == POPT_ARG_INCLUDE_TABLE) {
			const struct poptOption *o = find_opt(t->arg, lname, sname);

			if (o)
				return o;
		} else if ((lname && t->longName && strcmp(t->longName, lname) == 0) ||
			   (!lname && sname && t->shortName == sname)) {
			return t;
		}
	}
	return NULL;
}

static bool takes_value(const struct poptOption *o)
{
	return o && (o->argInfo & POPT_ARG_MASK) != POPT_ARG_NONE && (o->argInfo & POPT_ARG_MASK) != POPT_ARG_VAL;
}

static bool uc_has_option(const char *cmd, const char *option, bool value)
{
	const struct poptOption *o = find_opt(uc_cmd->table, option + 2, 0);

	(void)cmd;
	return o != NULL && takes_value(o) == value;
}

/* The operands of argv as popt will see them, and whether a trust option
 * or --listen is among the options. */
/* The long names of the options argv gives (short ones by their long
 * name), so the file's same settings are left out: the command line wins
 * without popt replacing (and losing) a value it parsed first. */
#define GIVEN_MAX 64
struct given {
	char name[GIVEN_MAX][64];
	int n;
};

static void given_add(struct given *g, const char *name)
{
	if (name && g->n < GIVEN_MAX)
		snprintf(g->name[g->n++], sizeof(g->name[0]), "%s", name);
}

static bool given_has(const struct given *g, const char *name)
{
	int i;

	for (i = 0; i < g->n; i++)
		if (strcmp(g->name[i], name) == 0)
			return true;
	return false;
}

static int scan(const struct poptOption *table, int argc, const char **argv, const char **ops, bool *trust,
		bool *listen, struct given *g)
{
	static const char *const trust_opts[] = { "psk-file", "token", "token-file", "pin", "ca",
						  "allow-subject", "cert", "key", "allow" };
	int i, n = 0;
	size_t k;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			while (++i < argc)
				ops[n++] = argv[i];
			break;
		}
		if (strncmp(a, "--", 2) == 0) {
			char name[64];
			const char *eq = strchr(a, '=');

			snprintf(name, sizeof(name), "%.*s", (int)(eq ? eq - a - 2 : (long)strlen(a + 2)), a + 2);
			for (k = 0; k < sizeof(trust_opts) / sizeof(trust_opts[0]); k++)
				if (strcmp(name, trust_opts[k]) == 0)
					*trust = true;
			if (strcmp(name, "listen") == 0)
				*listen = true;
			given_add(g, name);
			if (!eq && takes_value(find_opt(table, name, 0)))
				i++;
		} else if (a[0] == '-' && a[1] != '\0') {
			const char *c;

			for (c = a + 1; *c; c++) {
				const struct poptOption *o = find_opt(table, NULL, *c);

				given_add(g, o ? o->longName : NULL);
				if (takes_value(o)) {
					if (c[1] == '\0')
						i++;
					break;
				}
			}
		} else {
			ops[n++] = a;
		}
	}
	return n;
}

int cli_userconf_argv(const struct cmd_entry *cmd, int argc, const char **argv, int *nargc,
		      const char ***nargv, struct kc_status *st)
{
	const char *env = getenv("KTLSCP_CONFIG"), **ops, **out;
	char path[PATH_MAX + 16], dir[PATH_MAX], *text = NULL, *slash, hostbuf[300] = "", uh[300];
	const char *host = NULL, *rpath;
	struct config_result r;
	bool trust = getenv("KTLSCP_TOKEN") != NULL, listen = false;
	int nops, i, n = 0, rc = -1;
	struct kc_status tmp = { 0 };
	struct stat sb;
	struct given given = { .n = 0 };

	*nargc = argc;
	*nargv = argv;
	if (strcmp(cmd->name, "send") != 0 && strcmp(cmd->name, "recv") != 0 && strcmp(cmd->name, "cp") != 0)
		return 0;
	if (env && strcmp(env, "none") == 0)
		return 0;
	if (env && env[0])
		snprintf(path, sizeof(path), "%s", env);
	else if (tls_identity_dir(dir, sizeof(dir), &tmp) == 0)
		snprintf(path, sizeof(path), "%s/config", dir);
	else
		return 0;	/* no configuration directory: no file */
	/* No file, no rules: its directory is checked only when it holds one.
	 * A directory this user cannot search (another user's HOME) holds none
	 * for it. */
	if (lstat(path, &sb) < 0 && (errno == ENOENT || errno == ENOTDIR || errno == EACCES)) {
		if (env && env[0])
			return kc_fail(st, KC_FILE, "%s (KTLSCP_CONFIG): %s", path, strerror(errno));
		return 0;
	}
	if (trustdb_read(path, &text, st) < 0)
		return -1;
	if (text == NULL)
		return 0;
	snprintf(dir, sizeof(dir), "%.*s", (int)sizeof(dir) - 1, path);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");

	ops = calloc((size_t)argc + 1, sizeof(*ops));
	if (ops == NULL) {
		free(text);
		return kc_fail(st, KC_OTHER, "out of memory");
	}
	nops = scan(cmd->table, argc, argv, ops, &trust, &listen, &given);
	if (strcmp(cmd->name, "send") == 0 && !listen && nops > 0) {
		unsigned port;

		if (net_parse_hostport(ops[0], hostbuf, sizeof(hostbuf), &port) == 0)
			host = hostbuf;
	} else if (strcmp(cmd->name, "cp") == 0) {
		for (i = 0; i < nops && host == NULL; i++)
			if (boot_remote_parse(ops[i], uh, sizeof(uh), hostbuf, sizeof(hostbuf), &rpath) == 1)
				host = hostbuf;
	}
	uc_cmd = cmd;
	if (config_parse(text, path, dir, cmd->name, host, uc_has_option, &r, st) < 0)
		goto out;

	out = calloc((size_t)argc + 2 * CONFIG_MAX_OPTS + 2, sizeof(*out));
	if (out == NULL) {
		kc_fail(st, KC_OTHER, "out of memory");
		goto out_r;
	}
	out[n++] = argv[0];
	for (i = 0; i < r.n; i++) {
		if (r.opt[i].trust && trust)
			continue;	/* the command line's trust replaces the file's */
		if (given_has(&given, r.opt[i].option + 2))
			continue;	/* the command line's own setting wins */
		out[n++] = r.opt[i].option;
		if (r.opt[i].value) {
			out[n++] = r.opt[i].value;
			r.opt[i].value = NULL;	/* kept until exit, as argv is */
		}
	}
	for (i = 1; i < argc; i++) {
		/* HostName replaces the host send connects to, port kept. */
		if (r.hostname && nops > 0 && argv[i] == ops[0]) {
			const char *colon = ops[0][0] == '[' ? strstr(ops[0], "]:") : strrchr(ops[0], ':');
			size_t len = strlen(r.hostname) + (colon ? strlen(colon) : 0) + 3;
			char *h = malloc(len);

			if (h == NULL) {
				kc_fail(st, KC_OTHER, "out of memory");
				free(out);
				goto out_r;
			}
			snprintf(h, len, strchr(r.hostname, ':') ? "[%s]%s" : "%s%s", r.hostname,
				 colon ? (colon[0] == ']' ? colon + 1 : colon) : "");
			out[n++] = h;
			continue;
		}
		out[n++] = argv[i];
	}
	out[n] = NULL;
	free(uc_argv);
	uc_argv = out;
	*nargc = n;
	*nargv = out;
	rc = 0;
out_r:
	config_result_free(&r);
out:
	free(ops);
	free(text);
	return rc;
}
