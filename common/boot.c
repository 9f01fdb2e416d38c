/* boot: cp's ssh bootstrap (boot.h tells the process model): the key line
 * and the banner, the PSK context made from the key, scp's HOST:PATH
 * syntax, running the remote shell with its stderr relayed, and the far
 * end's watch on the ssh channel. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <gnutls/crypto.h>

#include "boot.h"
#include "clock.h"

#define KEY_TAG "KTLSCP-BOOT "
#define BANNER_TAG "KTLSCP-FAR "

int boot_key_new(uint8_t key[BOOT_KEY_LEN])
{
	return gnutls_rnd(GNUTLS_RND_KEY, key, BOOT_KEY_LEN) < 0 ? -EIO : 0;
}

void boot_key_line(const uint8_t key[BOOT_KEY_LEN], char *out)
{
	int n = snprintf(out, BOOT_LINE_MAX, KEY_TAG "%u ", BOOT_VERSION);
	unsigned i;

	for (i = 0; i < BOOT_KEY_LEN; i++)
		n += snprintf(out + n, (size_t)(BOOT_LINE_MAX - n), "%02x", key[i]);
	snprintf(out + n, (size_t)(BOOT_LINE_MAX - n), "\n");
}

static int hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int boot_key_parse(const char *line, uint8_t key[BOOT_KEY_LEN])
{
	const char *p = line + strlen(KEY_TAG);
	char *end;
	unsigned long v;
	unsigned i;

	if (strncmp(line, KEY_TAG, strlen(KEY_TAG)) != 0)
		return -EINVAL;
	v = strtoul(p, &end, 10);
	if (end == p || *end != ' ')
		return -EINVAL;
	if (v != BOOT_VERSION)
		return -EPROTONOSUPPORT;
	p = end + 1;
	if (strlen(p) != 2 * BOOT_KEY_LEN)
		return -EINVAL;
	for (i = 0; i < BOOT_KEY_LEN; i++) {
		int hi = hexval(p[2 * i]), lo = hexval(p[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		key[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int boot_banner_parse(const char *line, unsigned *version, unsigned *port, char *addr, size_t addrsz)
{
	const char *p = line + strlen(BANNER_TAG);
	char *end;
	unsigned long v, pt;

	if (strncmp(line, BANNER_TAG, strlen(BANNER_TAG)) != 0)
		return -EINVAL;
	v = strtoul(p, &end, 10);
	if (end == p)
		return -EINVAL;
	*version = v > 65535 ? 65535 : (unsigned)v;
	if (v != BOOT_VERSION)
		return -EPROTONOSUPPORT;
	if (*end != ' ')
		return -EINVAL;
	p = end + 1;
	pt = strtoul(p, &end, 10);
	if (end == p || *end != ' ' || pt == 0 || pt > 65535)
		return -EINVAL;
	p = end + 1;
	if (*p == '\0' || strlen(p) >= addrsz || strpbrk(p, " \t"))
		return -EINVAL;
	*port = (unsigned)pt;
	snprintf(addr, addrsz, "%s", p);
	return 0;
}

int boot_tls_ctx(struct tls_ctx *tc, const struct tls_opts *o, const uint8_t key[BOOT_KEY_LEN],
		 struct kc_status *st)
{
	struct tls_opts to = *o;
	gnutls_datum_t k = { (unsigned char *)key, BOOT_KEY_LEN };
	char token[TLS_TOKEN_LEN];
	int rc;

	/* tls_ctx_init() knows PSKs from a token or a file: make the context
	 * with a throwaway token, then put the bootstrap key in its place
	 * (the server looks its key up at handshake time, by identity). */
	to.psk_file = NULL;
	to.npins = 0;
	to.ca_file = to.cert_file = to.key_file = NULL;
	to.known_hosts = NULL;
	to.accept_new = false;
	to.confirm = NULL;
	if (tls_token_generate(token) < 0)
		return kc_fail(st, KC_OTHER, "cannot generate a key");
	to.token = token;
	rc = tls_ctx_init(tc, &to, st);
	gnutls_memset(token, 0, sizeof(token));
	if (rc < 0)
		return -1;
	memcpy(tc->psk[0].key, key, BOOT_KEY_LEN);
	tc->psk[0].len = BOOT_KEY_LEN;
	snprintf(tc->psk[0].id, sizeof(tc->psk[0].id), "%s", BOOT_PSK_ID);
	if (tc->server)
		return 0;
	gnutls_psk_free_client_credentials(tc->pskc);
	tc->pskc = NULL;
	rc = gnutls_psk_allocate_client_credentials(&tc->pskc);
	if (rc == 0)
		rc = gnutls_psk_set_client_credentials(tc->pskc, BOOT_PSK_ID, &k, GNUTLS_PSK_KEY_RAW);
	if (rc < 0)
		return kc_fail(st, KC_OTHER, "GnuTLS PSK setup: %s", gnutls_strerror(rc));
	return 0;
}

/* Copy n bytes of s into out (outsz), NUL-terminated; -ENAMETOOLONG. */
static int copy_part(char *out, size_t outsz, const char *s, size_t n)
{
	if (n >= outsz)
		return -ENAMETOOLONG;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

int boot_remote_parse(const char *arg, char *userhost, size_t uhsz, char *host, size_t hostsz,
		      const char **path)
{
	const char *colon, *slash = strchr(arg, '/'), *hs, *he, *at;
	size_t ulen;

	if (arg[0] == '[' || (strstr(arg, "@[") && (!slash || strstr(arg, "@[") < slash))) {
		hs = arg[0] == '[' ? arg + 1 : strstr(arg, "@[") + 2;
		he = strchr(hs, ']');
		if (he == NULL || he[1] != ':')
			return -EINVAL;
		colon = he + 1;
	} else {
		colon = strchr(arg, ':');
		if (colon == NULL || (slash && slash < colon))
			return 0;
		at = memrchr(arg, '@', (size_t)(colon - arg));
		hs = at ? at + 1 : arg;
		he = colon;
	}
	ulen = (size_t)(hs - arg) - (hs > arg && hs[-1] == '[' ? 1 : 0);
	/* No empty host, and none that ssh would take for an option. */
	if (he == hs || hs[0] == '-' || arg[0] == '-' || memchr(hs, '/', (size_t)(he - hs)))
		return -EINVAL;
	if (copy_part(host, hostsz, hs, (size_t)(he - hs)) < 0 || ulen + strlen(host) >= uhsz)
		return -EINVAL;
	memcpy(userhost, arg, ulen);
	snprintf(userhost + ulen, uhsz - ulen, "%s", host);
	*path = colon + 1;
	return 1;
}

/* ---- the remote shell ---------------------------------------------------- */

/* The relay: each line of the child's stderr as "ktlscp: LABEL: line". */
static void relay_line(struct boot_child *c, char *line, size_t n)
{
	char e[1100];

	if (n >= 8 && memcmp(line, "ktlscp: ", 8) == 0) {
		line += 8;
		n -= 8;
	}
	diag_print("%s: %s", c->label, diag_escape(line, n, e, sizeof(e)));
}

static void *relay_main(void *arg)
{
	struct boot_child *c = arg;
	char buf[1024];
	size_t used = 0;

	for (;;) {
		struct pollfd pfd = { c->err, POLLIN, 0 };
		ssize_t n;
		char *nl;

		if (poll(&pfd, 1, 200) == 0) {
			if (c->stop)
				break;
			continue;
		}
		n = read(c->err, buf + used, sizeof(buf) - 1 - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		used += (size_t)n;
		while ((nl = memchr(buf, '\n', used)) != NULL) {
			relay_line(c, buf, (size_t)(nl - buf));
			used -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, used);
		}
		if (used == sizeof(buf) - 1) {
			relay_line(c, buf, used);
			used = 0;
		}
	}
	if (used > 0)
		relay_line(c, buf, used);
	return NULL;
}

/* The argument vector: rsh's words, userhost, "--", cmd.  One block the
 * caller frees (the words point into it). */
static char **spawn_argv(const char *rsh, const char *userhost, const char *const *cmd)
{
	size_t ncmd = 0, nw = 0, rl = strlen(rsh);
	char **v, *copy, *p, *save = NULL;

	while (cmd[ncmd])
		ncmd++;
	v = malloc((rl / 2 + 4 + ncmd) * sizeof(*v) + rl + 1);
	if (v == NULL)
		return NULL;
	copy = (char *)(v + rl / 2 + 4 + ncmd);
	memcpy(copy, rsh, rl + 1);
	for (p = strtok_r(copy, " \t\n", &save); p; p = strtok_r(NULL, " \t\n", &save))
		v[nw++] = p;
	if (nw == 0) {
		free(v);
		return NULL;
	}
	v[nw++] = (char *)userhost;
	v[nw++] = (char *)"--";
	memcpy(v + nw, cmd, ncmd * sizeof(*v));
	v[nw + ncmd] = NULL;
	return v;
}

static void child_exec(char **argv, int pin[2], int pout[2], int perr[2])
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (dup2(pin[0], 0) < 0 || dup2(pout[1], 1) < 0 || dup2(perr[1], 2) < 0)
		_exit(127);
	execvp(argv[0], argv);
	dprintf(2, "ktlscp: cannot run the remote shell %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

int boot_spawn(struct boot_child *c, const char *rsh, const char *userhost, const char *const *cmd,
	       const char *label, struct kc_status *st)
{
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 };
	char **argv = spawn_argv(rsh, userhost, cmd);

	c->pid = -1;
	c->in = c->out = c->err = -1;
	snprintf(c->label, sizeof(c->label), "%s", label);
	if (argv == NULL)
		return kc_fail(st, KC_USAGE, "--rsh: no command given");
	if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0) {
		kc_fail(st, KC_OTHER, "pipe: %s", strerror(errno));
		goto fail;
	}
	c->pid = fork();
	if (c->pid < 0) {
		kc_fail(st, KC_OTHER, "fork: %s", strerror(errno));
		goto fail;
	}
	if (c->pid == 0)
		child_exec(argv, pin, pout, perr);
	free(argv);
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	c->in = pin[1];
	c->out = pout[0];
	c->err = perr[0];
	c->stop = 0;
	c->relaying = pthread_create(&c->relay, NULL, relay_main, c) == 0;
	return 0;
fail:
	free(argv);
	for (int i = 0; i < 2; i++) {
		if (pin[i] >= 0)
			close(pin[i]);
		if (pout[i] >= 0)
			close(pout[i]);
		if (perr[i] >= 0)
			close(perr[i]);
	}
	return -1;
}

int boot_read_line(struct boot_child *c, char *line, size_t linesz, int timeout_ms, struct kc_status *st)
{
	double deadline = clock_now() + timeout_ms / 1000.0;
	size_t n = 0;

	for (;;) {
		struct pollfd pfd = { c->out, POLLIN, 0 };
		int left = timeout_ms > 0 ? (int)((deadline - clock_now()) * 1000) : -1;
		ssize_t r;
		char ch;

		if (timeout_ms > 0 && left <= 0)
			return kc_fail(st, KC_NET, "%s: the far end did not start within %d s (--timeout)", c->label,
				       timeout_ms / 1000);
		if (poll(&pfd, 1, left) < 0) {
			if (errno == EINTR && !kc_interrupted)
				continue;
			return kc_fail(st, KC_OTHER, "interrupted");
		}
		r = read(c->out, &ch, 1);
		if (r < 0 && errno == EINTR && !kc_interrupted)
			continue;
		if (r < 0)
			return kc_fail(st, KC_OTHER, "%s: reading from the remote shell: %s", c->label, strerror(errno));
		if (r == 0 && n == 0)
			return 1;
		if (r == 0 || ch == '\n')
			break;
		if (n + 1 >= linesz) {
			line[n] = '\0';
			break;	/* the caller reports what it got */
		}
		line[n++] = ch;
	}
	line[n] = '\0';
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* waitpid within ms; the status, or -1 if the child is still running. */
static int wait_for(pid_t pid, int ms)
{
	double deadline = clock_now() + ms / 1000.0;
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		if (r < 0 && errno != EINTR)
			return 255;
		if (clock_now() >= deadline)
			return -1;
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
}

int boot_reap(struct boot_child *c, int wait_ms)
{
	int rc = -1;

	close_fd(&c->in);
	if (c->pid > 0) {
		rc = wait_for(c->pid, wait_ms);
		if (rc < 0) {
			kill(c->pid, SIGTERM);
			rc = wait_for(c->pid, 2000);
		}
		if (rc < 0) {
			kill(c->pid, SIGKILL);
			rc = wait_for(c->pid, 5000);
		}
		c->pid = -1;
	}
	c->stop = 1;
	if (c->relaying)
		pthread_join(c->relay, NULL);
	c->relaying = false;
	close_fd(&c->out);
	close_fd(&c->err);
	return rc;
}

/* ---- the far end's watch on the ssh channel ------------------------------ */

static pthread_t watched;

static void *watch_main(void *arg)
{
	char buf[256];

	(void)arg;
	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

		if (n == 0 || (n < 0 && errno != EINTR))
			break;
	}
	kc_interrupted = 1;
	pthread_kill(watched, SIGTERM);
	sleep(10);
	_exit(KC_NET);
	return NULL;
}

int boot_watch_stdin(void)
{
	pthread_t t;
	int rc;

	watched = pthread_self();
	rc = pthread_create(&t, NULL, watch_main, NULL);
	if (rc != 0)
		return -rc;
	pthread_detach(t);
	return 0;
}
