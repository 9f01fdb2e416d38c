/* oplog: the serving receiver's log lines (see oplog.h), and who the
 * sender is in the words of its trust mode. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <gnutls/x509.h>

#include "oplog.h"

#define ESC_MAX 512

static bool on, errors_only;
static const char *logdir;
static bool stamp;		/* stderr lines start with the time */
static char peer[128];
static char ident[ESC_MAX + 100];	/* "" until authenticated */

void oplog_enable(const char *dir, bool errors)
{
	on = true;
	errors_only = errors;
	logdir = dir;
	/* journald stamps the lines itself (and takes their priority). */
	stamp = !diag_journal_levels();
}

bool oplog_on(void)
{
	return on;
}

void oplog_begin(const char *p)
{
	snprintf(peer, sizeof(peer), "%s", p);
	ident[0] = '\0';
}

/* The X.509 subject of the peer's certificate, escaped, or "?". */
static void peer_subject(gnutls_session_t s, char *out, size_t n)
{
	const gnutls_datum_t *certs;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t dn = { NULL, 0 };
	unsigned ncerts = 0;

	snprintf(out, n, "?");
	certs = gnutls_certificate_get_peers(s, &ncerts);
	if (certs == NULL || ncerts == 0 || gnutls_x509_crt_init(&crt) < 0)
		return;
	if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) == 0 &&
	    gnutls_x509_crt_get_dn2(crt, &dn) == 0)
		diag_escape((const char *)dn.data, dn.size, out, n);
	gnutls_free(dn.data);
	gnutls_x509_crt_deinit(crt);
}

void oplog_auth(gnutls_session_t s, const struct tls_ctx *tc, bool token)
{
	char e[ESC_MAX];
	const char *u;

	switch (tc->auth) {
	case TLS_AUTH_PSK:
		u = gnutls_psk_server_get_username(s);
		if (token)
			snprintf(ident, sizeof(ident), "token");
		else
			snprintf(ident, sizeof(ident), "psk \"%s\"", diag_escape(u ? u : "", u ? strlen(u) : 0, e, sizeof(e)));
		break;
	case TLS_AUTH_PIN:
		snprintf(ident, sizeof(ident), "key %s", tc->peer_fp);
		break;
	case TLS_AUTH_X509:
		peer_subject(s, e, sizeof(e));
		snprintf(ident, sizeof(ident), "x509 \"%s\" key %s", e, tc->peer_fp);
		break;
	default:
		snprintf(ident, sizeof(ident), "%s", tls_auth_name(tc->auth));
	}
}

/* One line, "[TIME ]PEER: TEXT", with a syslog priority. */
static void oplog_line(int prio, const char *text)
{
	char when[40] = "";
	struct tm tm;
	time_t t;

	if (stamp && !diag_to_syslog()) {
		t = time(NULL);
		if (localtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S%z ", &tm);
	}
	diag_log(prio, "%s%s: %s", when, peer[0] ? peer : "?", text);
}

void oplog_entry(const char *kind, const char *path, uint64_t bytes, uint64_t resumed,
		 enum oplog_result res, const char *why)
{
	char e[ESC_MAX], d[ESC_MAX], text[3 * ESC_MAX], rs[48] = "";

	if (!on || (errors_only && res != OPLOG_FAILED))
		return;
	diag_escape(path, strlen(path), e, sizeof(e));
	if (logdir)
		diag_escape(logdir, strlen(logdir), d, sizeof(d));
	if (resumed)
		snprintf(rs, sizeof(rs), " (%llu resumed)", (unsigned long long)resumed);
	snprintf(text, sizeof(text), "%s %s%s%s: %llu bytes%s: %s%s%s", kind, logdir ? d : "",
		 logdir && d[0] && d[strlen(d) - 1] != '/' ? "/" : "", e, (unsigned long long)bytes, rs,
		 res == OPLOG_OK ? "ok" : res == OPLOG_SKIPPED ? "skipped" : "failed", why ? ": " : "",
		 why ? why : "");
	oplog_line(res == OPLOG_FAILED ? LOG_WARNING : LOG_INFO, text);
}

void oplog_conn(const struct xfer_stats *s, const struct kc_status *st)
{
	char text[1600], tlsw[160] = "";
	const char *msg = kc_msg(st);
	size_t pl = strlen(peer);
	int prio;

	if (!on || (errors_only && kc_ok(st)))
		return;
	/* The cause without the peer, which starts the line. */
	if (pl > 0 && strncmp(msg, peer, pl) == 0 && strncmp(msg + pl, ": ", 2) == 0)
		msg += pl + 2;
	if (s->handshake_done)
		snprintf(tlsw, sizeof(tlsw), "; %s %s, kTLS tx=%s rx=%s", s->tls_version, s->cipher,
			 ktls_mode_name(s->ki.tx), ktls_mode_name(s->ki.rx));
	if (ident[0])
		snprintf(text, sizeof(text),
			 "connection: sender %s; %llu file%s, %llu bytes, %u failed, %u skipped in %.2f s%s: %s%s", ident,
			 (unsigned long long)s->files, s->files == 1 ? "" : "s", (unsigned long long)s->bytes, s->failed,
			 s->skipped, s->seconds, tlsw, kc_ok(st) ? "ok" : "failed: ", kc_ok(st) ? "" : msg);
	else
		snprintf(text, sizeof(text), "connection: sender not authenticated: failed: %s",
			 kc_ok(st) ? "?" : msg);
	prio = kc_ok(st) ? LOG_INFO : ident[0] ? LOG_ERR : LOG_WARNING;
	oplog_line(prio, text);
}
