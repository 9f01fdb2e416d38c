/* opts: shared option tables, usage errors and the final report. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <time.h>

#include <gnutls/crypto.h>

#include "opts.h"
#include "clock.h"
#include "net.h"
#include "oplog.h"
#include "progress.h"

struct cli_trust cli_trust = { .timeout = -1 };
struct cli_output cli_out;
static const struct cmd_entry *cli_cmd;

struct poptOption cli_trust_table[] = {
	{ "psk-file", 0, POPT_ARG_STRING, &cli_trust.psk_file, 0,
	  "pre-shared key: a file with IDENTITY:HEXKEY or HEXKEY (16+ bytes)", "FILE" },
	{ "token", 0, POPT_ARG_STRING, &cli_trust.token, 0,
	  "one-time token printed by recv (also KTLSCP_TOKEN)", "TOKEN" },
	{ "token-file", 0, POPT_ARG_STRING, &cli_trust.token_file, 0,
	  "read the token from FILE", "FILE" },
	{ "pin", 0, POPT_ARG_ARGV, &cli_trust.pins, 0,
	  "accept only a peer whose key has this fingerprint (repeatable)", "SHA256:..." },
	{ "ca", 0, POPT_ARG_STRING, &cli_trust.ca, 0,
	  "verify the peer's certificate against these CA certificates (PEM)", "FILE" },
	{ "allow-subject", 0, POPT_ARG_ARGV, &cli_trust.subjects, 0,
	  "with --ca: accept only a peer certificate with this subject DN (as certtool -i prints it), "
	  "DNS or e-mail name (repeatable)", "NAME" },
	{ "cert", 0, POPT_ARG_STRING, &cli_trust.cert, 0,
	  "our certificate (PEM; default: this host's identity from 'ktlscp id')", "FILE" },
	{ "key", 0, POPT_ARG_STRING, &cli_trust.key, 0, "private key for --cert (PEM, mode 0600)", "FILE" },
	{ "tls", 0, POPT_ARG_STRING, &cli_trust.tls, 0, "TLS version: 1.2 or 1.3 (default: 1.3, else 1.2)",
	  "VERSION" },
	{ "cipher", 0, POPT_ARG_STRING, &cli_trust.cipher, 0,
	  KTLS_CIPHER_NAMES, "NAME" },
	{ "ktls", 0, POPT_ARG_STRING, &cli_trust.ktls, 0,
	  "auto (default): kernel TLS where possible; require: fail (exit 7) without it; off",
	  "auto|require|off" },
	{ "timeout", 0, POPT_ARG_INT, &cli_trust.timeout, 0,
	  "connect, handshake and idle limit in seconds (default 60; 0 = none)", "SECONDS" },
	POPT_TABLEEND
};

struct poptOption cli_output_table[] = {
	{ "json", 0, POPT_ARG_NONE, &cli_out.json, 0, "print one JSON summary object on stdout", NULL },
	{ "quiet", 'q', POPT_ARG_NONE, &cli_out.quiet, 0, "print errors only", NULL },
	{ "verbose", 'v', POPT_ARG_NONE, &cli_out.verbose, 0, "print more about the connection", NULL },
	{ "progress", 0, POPT_ARG_STRING | POPT_ARGFLAG_OPTIONAL, &cli_out.progress, 0,
	  "progress on stderr: bar, a meter (alone: also when not a terminal); lines, a line per file and "
	  "a total every 10 s, for logs; none", "bar|lines|none" },
	{ "no-progress", 0, POPT_ARG_NONE, &cli_out.no_progress, 0, "no progress on stderr (--progress=none)", NULL },
	{ "json-progress", 0, POPT_ARG_NONE, &cli_out.json_progress, 0,
	  "JSON events on stdout, one per line (start, file, progress), ending with the --json summary; "
	  "implies --json", NULL },
	POPT_TABLEEND
};

struct poptOption cli_help_table[] = {
	{ "help", 'h', POPT_ARG_NONE, NULL, CLI_OPT_HELP, "show this help", NULL },
	{ NULL, '?', POPT_ARG_NONE | POPT_ARGFLAG_DOC_HIDDEN, NULL, CLI_OPT_HELP, NULL, NULL },
	{ "usage", 0, POPT_ARG_NONE, NULL, CLI_OPT_USAGE, "show a brief usage message", NULL },
	POPT_TABLEEND
};

void cli_set_command(const struct cmd_entry *cmd)
{
	cli_cmd = cmd;
}

int cli_usage(const char *fmt, ...)
{
	const char *name = cli_cmd ? cli_cmd->name : NULL;
	va_list ap;

	fprintf(stderr, "ktlscp%s%s: ", name ? " " : "", name ? name : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'ktlscp%s%s --help' for more information.\n", name ? " " : "", name ? name : "");
	return KC_USAGE;
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

/* KTLSCP_TOKEN: copied, then wiped from our environment (and so from
 * /proc/PID/environ and from any child's). */
static int env_token(struct kc_status *st)
{
	char *e = getenv("KTLSCP_TOKEN");

	cli_trust.token = strdup(e);
	gnutls_memset(e, 0, strlen(e));
	unsetenv("KTLSCP_TOKEN");
	if (cli_trust.token == NULL)
		return kc_fail(st, KC_OTHER, "out of memory");
	cli_trust.token_from_env = 1;
	return 0;
}

int cli_tls_opts(struct tls_opts *o, enum ktls_policy *pol, bool server, struct kc_status *st)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->server = server;
	*pol = KTLS_AUTO;
	if (cli_trust.ktls && ktls_policy_parse(cli_trust.ktls, pol) < 0)
		return kc_fail(st, KC_USAGE, "--ktls %s: expected auto, require or off", cli_trust.ktls);
	if (cli_trust.tls) {
		if (strcmp(cli_trust.tls, "1.2") == 0)
			o->version = 12;
		else if (strcmp(cli_trust.tls, "1.3") == 0)
			o->version = 13;
		else
			return kc_fail(st, KC_USAGE, "--tls %s: expected 1.2 or 1.3", cli_trust.tls);
	}
	if (cli_trust.cipher && tls_cipher_check(cli_trust.cipher) < 0)
		return kc_fail(st, KC_USAGE,
			       "--cipher %s: expected " KTLS_CIPHER_NAMES,
			       cli_trust.cipher);
	if (cli_trust.timeout < -1)
		return kc_fail(st, KC_USAGE, "--timeout %d: must be 0 or more", cli_trust.timeout);
	o->cipher = cli_trust.cipher;
	o->psk_file = cli_trust.psk_file;
	o->cert_file = cli_trust.cert;
	o->key_file = cli_trust.key;
	o->ca_file = cli_trust.ca;
	for (i = 0; cli_trust.pins && cli_trust.pins[i]; i++) {
		if (o->npins >= TLS_MAX_PINS)
			return kc_fail(st, KC_USAGE, "at most %d --pin/--allow options", TLS_MAX_PINS);
		o->pins[o->npins++] = cli_trust.pins[i];
	}
	for (i = 0; cli_trust.allow && cli_trust.allow[i]; i++) {
		if (o->npins >= TLS_MAX_PINS)
			return kc_fail(st, KC_USAGE, "at most %d --pin/--allow options", TLS_MAX_PINS);
		o->pins[o->npins++] = cli_trust.allow[i];
	}
	for (i = 0; cli_trust.subjects && cli_trust.subjects[i]; i++) {
		if (o->nsubjects >= TLS_MAX_PINS)
			return kc_fail(st, KC_USAGE, "at most %d --allow-subject options", TLS_MAX_PINS);
		o->subjects[o->nsubjects++] = cli_trust.subjects[i];
	}
	o->pin_source = cli_trust.allow && cli_trust.pins ? "--pin/--allow" : cli_trust.allow ? "--allow" : "--pin";
	if (cli_trust.token && cli_trust.token_file)
		return kc_fail(st, KC_USAGE, "--token and --token-file exclude each other");
	if (cli_trust.token_file) {
		char *t = NULL;

		if (read_token_file(cli_trust.token_file, &t, st) < 0)
			return -1;
		if (cli_trust.token)
			gnutls_memset(cli_trust.token, 0, strlen(cli_trust.token));
		free(cli_trust.token);
		cli_trust.token = t;
	}
	if (cli_trust.token == NULL && !cli_trust.psk_file && o->npins == 0 && !cli_trust.ca && !cli_trust.accept_new &&
	    getenv("KTLSCP_TOKEN") && env_token(st) < 0)
		return -1;
	o->token = cli_trust.token;
	o->handshake_ms = cli_timeout_ms();
	o->accept_new = cli_trust.accept_new;
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
	static const char units[] = "kmgt";
	const char *u;
	char *end;
	double v;
	uint64_t mult = 1;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v <= 0 || *s == '-' || *s == '+')
		return -EINVAL;
	u = *end ? strchr(units, tolower((unsigned char)*end)) : NULL;
	if (u != NULL) {
		int k, n = (int)(u - units) + 1;
		bool bin = end[1] == 'i' || end[1] == 'I';

		for (k = 0; k < n; k++)
			mult *= bin ? 1024 : 1000;
		end += bin ? 2 : 1;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end != '\0')
		return -EINVAL;
	if (v * (double)mult < (double)min || v * (double)mult > 1.8e19)
		return -ERANGE;
	*out = (uint64_t)(v * (double)mult);
	return 0;
}

void cli_progress_argv(int argc, const char **argv)
{
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--progress") == 0)
			argv[i] = "--progress=bar";
}

int cli_output_check(struct kc_status *st)
{
	const char *m = cli_out.progress;

	if (m && strcmp(m, "bar") != 0 && strcmp(m, "lines") != 0 && strcmp(m, "none") != 0)
		return kc_fail(st, KC_USAGE, "--progress=%s: expected bar, lines or none", m);
	if (cli_out.json_progress)
		cli_out.json = 1;
	return 0;
}

unsigned cli_progress(void)
{
	const char *m = cli_out.progress;
	unsigned mode = cli_out.json_progress ? PROGRESS_JSON : 0;

	if (cli_out.no_progress || cli_out.quiet || (m && strcmp(m, "none") == 0))
		return mode;
	if (m && strcmp(m, "lines") == 0)
		return mode | PROGRESS_LINES;
	if (cli_out.json)
		return mode;
	return m || progress_wanted() ? mode | PROGRESS_BAR : mode;
}

int cli_family(int ipv4, int ipv6)
{
	return ipv4 && !ipv6 ? AF_INET : ipv6 && !ipv4 ? AF_INET6 : AF_UNSPEC;
}

const char *cli_any_address(int ipv4, int ipv6)
{
	switch (cli_family(ipv4, ipv6)) {
	case AF_INET:
		return "all IPv4 addresses";
	case AF_INET6:
		return "all IPv6 addresses";
	default:
		return "all addresses";
	}
}

int cli_timeout_ms(void)
{
	if (cli_trust.timeout < 0)
		return 60 * 1000;
	return cli_trust.timeout * 1000;
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

/* The context of the last handshake, for cli_finish's words about a peer
 * that refused us after it. */
static const struct tls_ctx *secured;

int cli_finish(struct xfer_stats *stats, struct kc_status *st)
{
	char wb[300];
	const char *w;
	bool partial = stats->handshake_done && (stats->files > 0 || cli_out.verbose);

	if (kc_class(st) == KC_OTHER && kc_interrupted && kc_msg(st)[0] == '\0')
		kc_replace(st, KC_OTHER, "interrupted");
	if (kc_class(st) == KC_USAGE)
		return cli_usage("%s", kc_msg(st));
	/* Authentication refused once the handshake was over (TLS 1.3: the
	 * receiver checks the sender's key after the sender's handshake). */
	if (kc_class(st) == KC_TLS && stats->handshake_done && secured &&
	    (w = tls_refused_after(secured, wb, sizeof(wb))) != NULL)
		kc_append(st, ": %s", w);
	/* Time at the yes/no prompt is not transfer time. */
	if (stats->paused > 0 && stats->seconds > stats->paused)
		stats->seconds -= stats->paused;
	/* On failure, how far it got comes first: the last line is the cause. */
	if (oplog_on() && stats->peer[0] && strcmp(stats->role, "recv") == 0) {
		/* A serving receiver: its log has the connection's line, the
		 * cause included (oplog.h). */
		oplog_conn(stats, st);
		kc_mark_printed(st);
	} else if (!cli_out.json && !cli_out.quiet && (kc_ok(st) || partial)) {
		report_human(stats, st, cli_out.verbose);
	}
	if (!kc_ok(st) && !kc_printed(st))
		diag_print("%s", kc_msg(st));
	if (cli_out.json)
		report_json(stdout, stats, st);
	return (int)kc_class(st);
}

enum cli_reconn_role cli_reconn_role;
unsigned cli_reconn_port_lo, cli_reconn_port_hi;
static enum ktls_policy reconn_pol;

/* The follow-up connection to the peer of oldfd, on port. */
static int reconn_connect(int oldfd, gnutls_session_t like, unsigned port, const uint8_t *key, int *fd,
			  gnutls_session_t *s, struct ktls_info *ki, struct kc_status *st)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[NI_MAXHOST], peer[160];
	unsigned rate = 0;
	socklen_t rl = sizeof(rate);

	*fd = -1;
	if (getpeername(oldfd, (struct sockaddr *)&ss, &sl) < 0 ||
	    getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), NULL, 0, NI_NUMERICHOST) != 0)
		return kc_fail(st, KC_NET, "follow-up connection: the peer's address: %s", strerror(errno));
	*fd = net_connect(host, port, ss.ss_family, cli_timeout_ms(), st);
	if (*fd < 0) {
		kc_append(st, " (the follow-up connection past the key-use limit)");
		return -1;
	}
	net_tune(*fd, cli_timeout_ms());
	/* --limit-rate goes on with the transfer. */
	if (getsockopt(oldfd, SOL_SOCKET, SO_MAX_PACING_RATE, &rate, &rl) == 0 && rate != ~0u)
		setsockopt(*fd, SOL_SOCKET, SO_MAX_PACING_RATE, &rate, sizeof(rate));
	net_peer_str(*fd, peer, sizeof(peer));
	if (tls_handshake_bound(like, false, *fd, key, cli_timeout_ms(), peer, s, st) < 0 ||
	    ktls_enable(*fd, *s, reconn_pol, ki, st) < 0) {
		if (*s)
			gnutls_deinit(*s);
		*s = NULL;
		close(*fd);
		*fd = -1;
		return -1;
	}
	return 0;
}

/* A listener for the follow-ups on oldfd's local address, on the first free
 * port of cli_reconn_port_lo..hi (SO_REUSEADDR: the data port itself once
 * its own listener is closed), or on any. */
static int reconn_listen(int oldfd, unsigned *port, struct kc_status *st)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	unsigned p = cli_reconn_port_lo, hi = cli_reconn_port_lo ? cli_reconn_port_hi : 0;
	int lfd = -1, err = 0;

	if (getsockname(oldfd, (struct sockaddr *)&ss, &sl) < 0)
		return kc_fail(st, KC_NET, "follow-up listener: %s", strerror(errno));
	for (; p <= hi; p++) {
		if (ss.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)p);
		else
			((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)p);
		lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (lfd < 0)
			return kc_fail(st, KC_NET, "follow-up listener: %s", strerror(errno));
		if (p > 0)
			setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int));
		if (bind(lfd, (struct sockaddr *)&ss, sl) == 0 && listen(lfd, 4) == 0)
			break;
		err = errno;
		close(lfd);
		lfd = -1;
		if (err != EADDRINUSE)
			return kc_fail(st, KC_NET, "follow-up listener: %s", strerror(err));
	}
	if (lfd < 0)
		return kc_fail(st, KC_NET, "follow-up listener: no free port in --data-port %u-%u: %s",
			       cli_reconn_port_lo, hi, strerror(err));
	if (getsockname(lfd, (struct sockaddr *)&ss, &sl) < 0) {
		err = errno;
		close(lfd);
		return kc_fail(st, KC_NET, "follow-up listener: %s", strerror(err));
	}
	*port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					       : ((struct sockaddr_in *)&ss)->sin_port);
	return lfd;
}

/* Follow-up candidates: connections that came to the follow-up listener,
 * silent until their first TLS record is in (tls_first_record_in), then in
 * their handshake on a non-blocking socket, all at once: peers that connect
 * and say nothing, or stop half-way through a handshake, neither hold up
 * the sender's connection nor take unbounded descriptors.  At most
 * RECONN_PENDING are kept; a new one replaces the oldest silent one, else
 * the oldest. */
#define RECONN_PENDING 16

struct reconn_cand {
	int fd;
	bool started;			/* its handshake began */
	struct tls_bound hs;
	char peer[160];
};

static void cand_drop(struct reconn_cand *c, int *n, int i)
{
	tls_bound_free(&c[i].hs);
	close(c[i].fd);
	memmove(c + i, c + i + 1, (size_t)(*n - i - 1) * sizeof(*c));
	(*n)--;
}

/* Candidate i's socket is ready: go on with it.  1 keep waiting, 0 its
 * handshake is done, -1 dropped (refused with a line, or closed). */
static int cand_step(struct reconn_cand *c, int *n, int i, short ev, gnutls_session_t like,
		     const uint8_t *key, struct kc_status *st)
{
	int r;

	if (!c[i].started) {
		r = tls_first_record_in(c[i].fd);
		if (r == 0 && (ev & (POLLRDHUP | POLLHUP | POLLERR)))
			r = -1;
		if (r == 0)
			return 1;
		if (r < 0) {
			cand_drop(c, n, i);
			return -1;
		}
		setsockopt(c[i].fd, SOL_SOCKET, SO_RCVLOWAT, &(int){ 1 }, sizeof(int));
		fcntl(c[i].fd, F_SETFL, fcntl(c[i].fd, F_GETFL) | O_NONBLOCK);
		net_peer_str(c[i].fd, c[i].peer, sizeof(c[i].peer));
		/* No GnuTLS timeout: it would wait in poll() itself. */
		if (tls_bound_start(&c[i].hs, like, true, c[i].fd, key, 0, st) < 0) {
			diag_print("%s: %s", c[i].peer, kc_msg(st));
			kc_clear(st);
			cand_drop(c, n, i);
			return -1;
		}
		c[i].started = true;
	}
	r = tls_bound_step(&c[i].hs, c[i].peer, st);
	if (r < 0) {
		diag_print("%s", kc_msg(st));
		kc_clear(st);
		cand_drop(c, n, i);
	}
	return r;
}

/* Exactly one follow-up that proves key, within the handshake timeout;
 * the others are refused (one line each) or, still silent at the end,
 * closed. */
static int reconn_accept(int lfd, gnutls_session_t like, const uint8_t *key, int *fd, gnutls_session_t *s,
			 struct ktls_info *ki, struct kc_status *st)
{
	/* --timeout 0 (no idle limit) still bounds the wait: 60 s. */
	int lim = cli_timeout_ms() > 0 ? cli_timeout_ms() : 60 * 1000;
	double end = clock_now() + lim / 1000.0;
	struct pollfd pfd[1 + RECONN_PENDING];
	struct reconn_cand c[RECONN_PENDING];
	int n = 0, rc = -1, i;

	*fd = -1;
	*s = NULL;
	for (;;) {
		int ms = (int)((end - clock_now()) * 1000), r, won = -1;

		if (ms <= 0) {
			kc_fail(st, KC_XFER,
				"the sender did not continue on a follow-up connection within %d s "
				"(transfer cut short)", lim / 1000);
			break;
		}
		pfd[0] = (struct pollfd){ lfd, POLLIN, 0 };
		for (i = 0; i < n; i++)
			pfd[1 + i] = (struct pollfd){ c[i].fd, !c[i].started ? POLLIN | POLLRDHUP
					 : gnutls_record_get_direction(c[i].hs.s) ? POLLOUT : POLLIN, 0 };
		r = poll(pfd, 1 + (nfds_t)n, ms);
		if (r < 0 && errno == EINTR && !kc_interrupted)
			continue;
		if (r < 0) {
			kc_fail(st, KC_OTHER, "interrupted while waiting for the follow-up connection");
			break;
		}
		/* From the end: a dropped candidate moves the later ones. */
		for (i = n; i-- > 0 && won < 0;) {
			if (pfd[1 + i].revents && cand_step(c, &n, i, pfd[1 + i].revents, like, key, st) == 0)
				won = i;
		}
		if (won >= 0) {
			*fd = c[won].fd;
			*s = tls_bound_take(&c[won].hs);
			memmove(c + won, c + won + 1, (size_t)(n - won - 1) * sizeof(*c));
			n--;
			fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) & ~O_NONBLOCK);
			net_tune(*fd, cli_timeout_ms());
			if (ktls_enable(*fd, *s, reconn_pol, ki, st) == 0) {
				rc = 0;
				break;
			}
			gnutls_deinit(*s);
			*s = NULL;
			close(*fd);
			*fd = -1;
			break;
		}
		if (pfd[0].revents & POLLIN) {
			int nfd = net_accept_now(lfd);

			if (nfd < 0 && nfd != -EAGAIN) {
				kc_fail(st, KC_NET, "follow-up listener: accept: %s", strerror(-nfd));
				break;
			}
			if (nfd >= 0 && n == RECONN_PENDING) {
				for (i = 0; i < n && c[i].started; i++)
					;
				cand_drop(c, &n, i < n ? i : 0);
			}
			if (nfd >= 0)
				c[n++] = (struct reconn_cand){ .fd = nfd };
		}
	}
	/* Those in their handshake hear why (a fatal alert: their senders
	 * exit with status 4, as for a refusal); the silent ones are closed. */
	while (n > 0) {
		if (c[n - 1].started) {
			gnutls_alert_send(c[n - 1].hs.s, GNUTLS_AL_FATAL, GNUTLS_A_ACCESS_DENIED);
			if (rc == 0)
				diag_print("%s: follow-up connection refused: the sender's own follow-up "
					   "came first", c[n - 1].peer);
		}
		cand_drop(c, &n, n - 1);
	}
	return rc;
}

static const struct chan_reconn reconn_ops = {
	.connect = reconn_connect,
	.listen = reconn_listen,
	.accept = reconn_accept,
};

int cli_secure(int fd, struct tls_ctx *tc, enum ktls_policy pol, bool progress, struct xfer_stats *stats,
	       gnutls_session_t *sess, struct chan *ch, struct progress *prog, struct kc_status *st)
{
	/* Two knobs for tests and measurements, documented in ENVIRONMENT. */
	const char *rx = getenv("KTLSCP_RX_PATH"), *lim = getenv("KTLSCP_KEY_RECORD_LIMIT");
	struct chan_conf cc = {
		.idle_ms = cli_timeout_ms(),
		.prog = prog,
		.rx_path = rx && strcmp(rx, "splice") == 0 ? CHAN_RX_SPLICE : CHAN_RX_READ,
		.key_record_limit = lim ? strtoull(lim, NULL, 10) : 0,
		.reconn = cli_reconn_role != CLI_RECONN_NONE ? &reconn_ops : NULL,
		.client = cli_reconn_role == CLI_RECONN_DIALED,
		.reconnects = &stats->reconnects,
	};
	int rc;

	secured = tc;
	reconn_pol = pol;
	rc = tls_handshake(tc, fd, stats->peer, sess, st);
	stats->paused = tc->prompt_secs;
	if (rc < 0)
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
	if (chan_init(ch, fd, *sess, &stats->ki, stats->peer, &cc) < 0)
		return kc_fail(st, KC_OTHER, "out of memory");
	progress_init(prog, progress ? cli_progress() : 0);
	/* The sender's unacknowledged bytes are file data; the receiver's
	 * are its replies. */
	prog->fd = strcmp(stats->role, "send") == 0 ? fd : -1;
	progress_start(prog, stats);
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
	free(cli_trust.psk_file);
	if (cli_trust.token)
		gnutls_memset(cli_trust.token, 0, strlen(cli_trust.token));
	free(cli_trust.token);
	free(cli_trust.token_file);
	free(cli_trust.cert);
	free(cli_trust.key);
	free(cli_trust.ca);
	free(cli_trust.tls);
	free(cli_trust.cipher);
	free(cli_trust.ktls);
	free(cli_out.progress);
	free_argv(cli_trust.pins);
	free_argv(cli_trust.allow);
	free_argv(cli_trust.subjects);
	memset(&cli_trust, 0, sizeof(cli_trust));
	cli_trust.timeout = -1;
	report_free();
	memset(&cli_out, 0, sizeof(cli_out));
}
