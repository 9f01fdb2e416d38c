/* opts: shared option tables, parsing and the final report. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "opts.h"
#include "progress.h"

struct cli_opts cli = { .timeout = -1, .port = -1, .token_ttl = 600 };

struct poptOption cli_trust_table[] = {
	{ "psk-file", 0, POPT_ARG_STRING, &cli.psk_file, 0,
	  "pre-shared key: a file with IDENTITY:HEXKEY or HEXKEY (16+ bytes)", "FILE" },
	{ "token", 0, POPT_ARG_STRING, &cli.token, 0,
	  "one-time token printed by recv (also KTLSCP_TOKEN)", "TOKEN" },
	{ "token-file", 0, POPT_ARG_STRING, &cli.token_file, 0,
	  "read the token from FILE", "FILE" },
	{ "pin", 0, POPT_ARG_ARGV, &cli.pins, 0,
	  "accept only a peer whose key has this fingerprint (repeatable)", "SHA256:..." },
	{ "ca", 0, POPT_ARG_STRING, &cli.ca, 0,
	  "verify the peer's certificate against these CA certificates (PEM)", "FILE" },
	{ "cert", 0, POPT_ARG_STRING, &cli.cert, 0,
	  "our certificate (PEM; default: this host's identity from 'ktlscp id')", "FILE" },
	{ "key", 0, POPT_ARG_STRING, &cli.key, 0, "private key for --cert (PEM, mode 0600)", "FILE" },
	{ "tls", 0, POPT_ARG_STRING, &cli.tls, 0, "TLS version: 1.2 or 1.3 (default: 1.3, else 1.2)",
	  "VERSION" },
	{ "cipher", 0, POPT_ARG_STRING, &cli.cipher, 0,
	  KTLS_CIPHER_NAMES, "NAME" },
	{ "ktls", 0, POPT_ARG_STRING, &cli.ktls, 0,
	  "auto (default): kernel TLS where possible; require: fail (exit 7) without it; off",
	  "auto|require|off" },
	{ "timeout", 0, POPT_ARG_INT, &cli.timeout, 0,
	  "connect, handshake and idle limit in seconds (default 60; 0 = none)", "SECONDS" },
	POPT_TABLEEND
};

struct poptOption cli_output_table[] = {
	{ "json", 0, POPT_ARG_NONE, &cli.json, 0, "print one JSON summary object on stdout", NULL },
	{ "quiet", 'q', POPT_ARG_NONE, &cli.quiet, 0, "print errors only", NULL },
	{ "verbose", 'v', POPT_ARG_NONE, &cli.verbose, 0, "print more about the connection", NULL },
	{ "progress", 0, POPT_ARG_NONE, &cli.progress, 0,
	  "show a progress meter on stderr even when it is not a terminal", NULL },
	{ "no-progress", 0, POPT_ARG_NONE, &cli.no_progress, 0, "never show a progress meter", NULL },
	POPT_TABLEEND
};

int cli_parse(const struct cmd_entry *cmd, struct poptOption *table, int argc, const char **argv,
	      poptContext *ctx)
{
	static char name[64];
	char usage[256];
	int rc;

	snprintf(name, sizeof(name), "ktlscp %s", cmd->name);
	snprintf(usage, sizeof(usage), "%s", cmd->args);
	/* popt prints argv[0] in its usage line: make it "ktlscp send". */
	argv[0] = name;
	/* No poptReadDefaultConfig(): alias files must not change a security tool. */
	*ctx = poptGetContext(name, argc, argv, table, 0);
	poptSetOtherOptionHelp(*ctx, usage);
	while ((rc = poptGetNextOpt(*ctx)) > 0)
		;
	if (rc < -1) {
		fprintf(stderr, "ktlscp %s: %s: %s\n", cmd->name,
			poptBadOption(*ctx, POPT_BADOPTION_NOALIAS), poptStrerror(rc));
		fprintf(stderr, "Try 'ktlscp %s --help' for more information.\n", cmd->name);
		return -1;
	}
	diag_verbose = cli.verbose;
	return 0;
}

static int read_token_file(const char *path, char **out, struct kc_status *st)
{
	char *buf = NULL;
	size_t len;
	int rc;

	if (tls_check_secret_file(path, st) < 0)
		return -1;
	rc = tls_read_small_file(path, 1024, &buf, &len);
	if (rc < 0)
		return kc_fail(st, KC_FILE, "%s: %s", path, strerror(-rc));
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	*out = buf;
	return 0;
}

int cli_tls_opts(struct tls_opts *o, enum ktls_policy *pol, bool server, struct kc_status *st)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->server = server;
	*pol = KTLS_AUTO;
	if (cli.ktls && ktls_policy_parse(cli.ktls, pol) < 0)
		return kc_fail(st, KC_USAGE, "--ktls %s: expected auto, require or off", cli.ktls);
	if (cli.tls) {
		if (strcmp(cli.tls, "1.2") == 0)
			o->version = 12;
		else if (strcmp(cli.tls, "1.3") == 0)
			o->version = 13;
		else
			return kc_fail(st, KC_USAGE, "--tls %s: expected 1.2 or 1.3", cli.tls);
	}
	if (cli.cipher && tls_cipher_check(cli.cipher) < 0)
		return kc_fail(st, KC_USAGE,
			       "--cipher %s: expected " KTLS_CIPHER_NAMES, cli.cipher);
	if (cli.timeout < -1)
		return kc_fail(st, KC_USAGE, "--timeout %d: must be 0 or more", cli.timeout);
	o->cipher = cli.cipher;
	o->psk_file = cli.psk_file;
	o->cert_file = cli.cert;
	o->key_file = cli.key;
	o->ca_file = cli.ca;
	for (i = 0; cli.pins && cli.pins[i]; i++) {
		if (o->npins >= TLS_MAX_PINS)
			return kc_fail(st, KC_USAGE, "at most %d --pin/--allow options", TLS_MAX_PINS);
		o->pins[o->npins++] = cli.pins[i];
	}
	for (i = 0; cli.allow && cli.allow[i]; i++) {
		if (o->npins >= TLS_MAX_PINS)
			return kc_fail(st, KC_USAGE, "at most %d --pin/--allow options", TLS_MAX_PINS);
		o->pins[o->npins++] = cli.allow[i];
	}
	o->pin_source = cli.allow && cli.pins ? "--pin/--allow" : cli.allow ? "--allow" : "--pin";
	if (cli.token && cli.token_file)
		return kc_fail(st, KC_USAGE, "--token and --token-file exclude each other");
	if (cli.token_file) {
		char *t = NULL;

		if (read_token_file(cli.token_file, &t, st) < 0)
			return -1;
		free(cli.token);
		cli.token = t;
	}
	if (cli.token == NULL && !cli.psk_file && o->npins == 0 && !cli.ca && !cli.accept_new &&
	    getenv("KTLSCP_TOKEN")) {
		cli.token = strdup(getenv("KTLSCP_TOKEN"));
		if (cli.token == NULL)
			return kc_fail(st, KC_OTHER, "out of memory");
	}
	o->token = cli.token;
	o->handshake_ms = cli_timeout_ms();
	o->accept_new = cli.accept_new;
	if (!server && !o->token && !o->psk_file && o->npins == 0 && !o->ca_file) {
		static char kh[4096];
		char dir[4000];

		if (tls_identity_dir(dir, sizeof(dir), st) < 0)
			return -1;
		snprintf(kh, sizeof(kh), "%s/known_hosts", dir);
		o->known_hosts = kh;
	}
	return 0;
}

int cli_ktls_precheck(enum ktls_policy pol, char *prio, size_t priosz, struct kc_status *st)
{
	struct ktls_probe_result res[KTLS_PROBE_MAX];
	char why[200];
	int rc;

	prio[0] = '\0';
	if (pol != KTLS_REQUIRE)
		return 0;
	if (ktls_available(why, sizeof(why)) < 0)
		return kc_fail(st, KC_KTLS, "kTLS required but unavailable: %s", why);
	rc = ktls_probe(res, prio, priosz);
	if (rc <= 0 || prio[0] == '\0')
		return kc_fail(st, KC_KTLS, "kTLS required but this kernel accepts none of our ciphers");
	return 0;
}

int cli_parse_size(const char *s, uint64_t min, uint64_t *out)
{
	char *end;
	double v;
	uint64_t mult = 1;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v <= 0)
		return -EINVAL;
	if (*end == 'k' || *end == 'K')
		mult = 1000;
	else if (*end == 'M')
		mult = 1000000;
	else if (*end == 'G')
		mult = 1000000000;
	else if (*end == 'T')
		mult = 1000000000000ULL;
	if (mult > 1) {
		end++;
		if (*end == 'i') {
			mult = mult == 1000 ? 1024ULL : mult == 1000000 ? 1048576ULL
			     : mult == 1000000000 ? 1073741824ULL : 1099511627776ULL;
			end++;
		}
	}
	if (*end == 'B')
		end++;
	if (*end != '\0' || v * (double)mult < (double)min || v * (double)mult > 1.8e19)
		return -EINVAL;
	*out = (uint64_t)(v * (double)mult);
	return 0;
}

bool cli_progress(void)
{
	if (cli.no_progress || cli.quiet || cli.json)
		return false;
	return cli.progress || progress_wanted();
}

int cli_family(void)
{
	return cli.ipv4 && !cli.ipv6 ? AF_INET : cli.ipv6 && !cli.ipv4 ? AF_INET6 : AF_UNSPEC;
}

int cli_timeout_ms(void)
{
	if (cli.timeout < 0)
		return 60 * 1000;
	return cli.timeout * 1000;
}

static void on_signal(int sig)
{
	(void)sig;
	kc_interrupted = 1;
}

void cli_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_signal;	/* no SA_RESTART: blocking calls return EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int cli_finish(struct xfer_stats *stats, struct kc_status *st)
{
	if (st->cls == KC_OTHER && kc_interrupted && st->msg[0] == '\0')
		snprintf(st->msg, sizeof(st->msg), "interrupted");
	if (st->cls != KC_OK)
		diag_print("%s", st->msg);
	if (cli.json)
		report_json(stdout, stats, st);
	else if (st->cls == KC_OK && !cli.quiet)
		report_human(stats);
	else if (st->cls != KC_OK && stats->handshake_done && cli.verbose)
		report_human(stats);
	return (int)st->cls;
}

double cli_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int cli_secure(int fd, struct tls_ctx *tc, enum ktls_policy pol, bool meter, struct xfer_stats *stats,
	       gnutls_session_t *sess, struct chan *ch, struct progress *prog, struct kc_status *st)
{
	int rc;

	if (tls_handshake(tc, fd, stats->peer, sess, st) < 0)
		return -1;
	stats->handshake_done = 1;
	snprintf(stats->tls_version, sizeof(stats->tls_version), "%s",
		 gnutls_protocol_get_name(gnutls_protocol_get_version(*sess)));
	snprintf(stats->cipher, sizeof(stats->cipher), "%s", gnutls_cipher_get_name(gnutls_cipher_get(*sess)));
	rc = ktls_enable(fd, *sess, pol, &stats->ki, st);
	stats->tx_path = stats->ki.tx != KTLS_MODE_USERSPACE ? "sendfile" : "copy";
	stats->rx_path = "copy";
	if (rc < 0)
		return -1;
	diag_debug("%s: %s %s, auth %s, kTLS tx=%s rx=%s", stats->peer, stats->tls_version, stats->cipher,
		   stats->auth, ktls_mode_name(stats->ki.tx), ktls_mode_name(stats->ki.rx));
	if (chan_init(ch, fd, *sess, &stats->ki, stats->peer) < 0)
		return kc_fail(st, KC_OTHER, "out of memory");
	ch->idle_ms = cli_timeout_ms();
	progress_init(prog, meter);
	ch->prog = prog;
	stats->tx_path = chan_tx_path(ch);
	stats->rx_path = chan_rx_path(ch);
	return 0;
}

static void free_argv(const char **v)
{
	int i;

	for (i = 0; v && v[i]; i++)
		free((char *)v[i]);
	free(v);
}

void cli_free(void)
{
	free(cli.psk_file);
	free(cli.token);
	free(cli.token_file);
	free(cli.cert);
	free(cli.key);
	free(cli.ca);
	free(cli.tls);
	free(cli.cipher);
	free(cli.ktls);
	free(cli.listen);
	free(cli.name);
	free(cli.target);
	free(cli.limit_rate);
	free(cli.max_size);
	free_argv(cli.pins);
	free_argv(cli.allow);
	memset(&cli, 0, sizeof(cli));
	cli.timeout = -1;
	cli.port = -1;
	cli.token_ttl = 600;
}
