/* userconf: the user's defaults file, $XDG_CONFIG_HOME/ktlscp/config.
 *
 * ssh_config-like: "Keyword value" (or "Keyword=value") lines, keywords
 * in any case, '#' comments.  Lines before the first section apply to
 * every command; "Host PATTERN..." starts a section for send and cp when
 * the HOST typed matches a pattern (fnmatch; "!PATTERN" excludes); "Recv"
 * starts one for recv.  The first value found for a keyword is used (as in
 * ssh), except the repeatable ones (Pin, AllowSubject, Allow), which
 * collect.  The result is a list of command-line options that the command
 * line then overrides (man page, FILES).  The text functions are pure.
 */
#ifndef KTLSCP_USERCONF_H
#define KTLSCP_USERCONF_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"

#define CONFIG_MAX_OPTS 64

struct config_opt {
	const char *option;	/* "--limit-rate", ...; NULL for HostName */
	char *value;		/* malloc'd; NULL for a flag */
	bool trust;		/* one of the trust options (used as a group) */
	unsigned line;
};

struct config_result {
	struct config_opt opt[CONFIG_MAX_OPTS];
	int n;
	char *hostname;		/* HostName for send, malloc'd, or NULL */
};

/* Which options text gives command cmd ("send", "cp" or "recv") for host
 * (NULL for recv).  has_option(cmd, "--name", value) says whether cmd
 * takes that option, with a value or as a flag: keywords whose option cmd lacks are skipped in shared sections
 * and an error in cmd's own (Recv).  dir, for relative file names (the
 * config file's directory).  0, or -1 with st naming path and line. */
int config_parse(const char *text, const char *path, const char *dir, const char *cmd, const char *host,
		 bool (*has_option)(const char *cmd, const char *option, bool value), struct config_result *r,
		 struct kc_status *st);

void config_result_free(struct config_result *r);

#endif
