/* server: the serving loops of the side that listens: a receiver (recv)
 * or a sender (send --listen), told apart only by the serve callback.
 *
 * Connection and process model.  One-shot (no -k), server_run_once
 * accepts connections one at a time and serves each in this process,
 * with the same handshake deadline as below; a peer refused before it is
 * authenticated (a port scan, a wrong token, a peer that declined our key)
 * costs at most that deadline and does not use the one transfer up: it is
 * named in one line and the next connection is taken, until one peer is
 * served or the token expires.  With -k it is a small server:
 *
 *   parent   with --workers N > 1, forks N workers, each with a listening
 *            socket of its own on the same port (SO_REUSEPORT: the kernel
 *            spreads new connections over them), and waits for them;
 *   worker   accepts connections as they come into a pending list, where a
 *            connection costs only its descriptor until the peer's first
 *            bytes (its ClientHello) arrive; then forks one child for it;
 *   child    the handshake, then the transfer (a peer cannot disturb
 *            another's files, memory or descriptors), in the caller's
 *            serve callback.  It writes one byte on a pipe to its worker
 *            once the peer is authenticated; the pipe's end of file tells
 *            the worker it exited.
 *
 * Limits, per worker (the receiver's --max-conns and --max-startups split
 * over the workers): at most max_conns children, handshaking or
 * transferring; of those at most max_startups still unauthenticated, so
 * that idle or slow peers can hold only those slots and only briefly;
 * pending connections at most SERVER_PENDING_MAX (the oldest is dropped for
 * a new one).  Every connection must finish its handshake within
 * --handshake-timeout of being accepted: pending ones are closed then, a
 * child gives up at that deadline (GnuTLS handshake timeout and socket
 * receive timeout) and is killed KILL_GRACE later if it has not.  With
 * max_conns children, a worker stops accepting and new connections wait in
 * the kernel's listen backlog (NET_BACKLOG).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "diag.h"
#include "net.h"
#include "server.h"
#include "tls.h"

#define KILL_GRACE 2.0		/* seconds past the handshake deadline before SIGKILL */

double server_deadline(const struct server_conf *c, double t)
{
	return c->handshake_secs > 0 ? t + c->handshake_secs : INFINITY;
}

int server_ms_until(double t)
{
	double left = t - clock_now();

	if (isinf(t))
		return 0;
	if (left <= 0.001)
		return 1;
	return left > 86400 ? 86400 * 1000 : (int)(left * 1000) + 1;
}

/* Milliseconds left until stop_at: 0 when there is none, -1 once passed. */
static int stop_ms(const struct server_conf *c)
{
	double left;

	if (c->stop_at <= 0)
		return 0;
	left = c->stop_at - clock_now();
	if (left <= 0)
		return -1;
	return (int)(left * 1000) + 1;
}

static double earlier(double a, double b)
{
	return a < b ? a : b;
}

/* An accepted connection without a process yet. */
struct pending_conn {
	int fd;
	double deadline;
	bool ready;		/* its first bytes arrived */
};

/* A child serving one connection. */
struct kid {
	pid_t pid;
	int authfd;		/* read end of its pipe */
	bool authed;
	double deadline;	/* handshake deadline, INFINITY once killed */
	char peer[64];
};

/* One worker's state. */
struct worker {
	int lfd;
	const struct server_conf *conf;
	struct server_limits lim;	/* this worker's share */
	struct pending_conn *pend;
	size_t npend;
	struct kid *kids;
	size_t nkids;
	unsigned unauthed;
};

static void drop_pending(struct worker *sv, size_t i, const char *why)
{
	char peer[64];

	if (why) {
		net_peer_str(sv->pend[i].fd, peer, sizeof(peer));
		diag_print("%s: %s", peer, why);
	}
	close(sv->pend[i].fd);
	memmove(&sv->pend[i], &sv->pend[i + 1], (sv->npend - i - 1) * sizeof(sv->pend[0]));
	sv->npend--;
}

/* Fork a child for pending connection i and move it to the children.
 * Returns 0, or -1 when the fork failed (the connection is dropped). */
static int spawn(struct worker *sv, size_t i)
{
	struct pending_conn pc = sv->pend[i];
	struct kid *k = &sv->kids[sv->nkids];
	char peer[64];
	int pfd[2];
	pid_t pid;
	size_t j;

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		diag_print("cannot serve a %s: pipe: %s", sv->conf->peer_word, strerror(errno));
		drop_pending(sv, i, NULL);
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		close(pfd[0]);
		if (sv->lfd >= 0)
			close(sv->lfd);
		for (j = 0; j < sv->npend; j++)
			if (j != i)
				close(sv->pend[j].fd);
		for (j = 0; j < sv->nkids; j++)
			close(sv->kids[j].authfd);
		/* Several children share stderr: each line says whose it is. */
		net_peer_str(pc.fd, peer, sizeof(peer));
		diag_set_peer(strcmp(peer, "?") ? peer : NULL);
		_exit(sv->conf->serve(pc.fd, pc.deadline, pfd[1], sv->conf->arg));
	}
	close(pfd[1]);
	if (pid < 0) {
		diag_print("cannot serve a %s: fork: %s", sv->conf->peer_word, strerror(errno));
		close(pfd[0]);
		drop_pending(sv, i, NULL);
		return -1;
	}
	k->pid = pid;
	k->authfd = pfd[0];
	k->authed = false;
	k->deadline = pc.deadline;
	net_peer_str(pc.fd, k->peer, sizeof(k->peer));
	sv->nkids++;
	sv->unauthed++;
	drop_pending(sv, i, NULL);
	return 0;
}

/* A child's pipe is readable: it authenticated, or it exited. */
static void kid_event(struct worker *sv, size_t i)
{
	struct kid *k = &sv->kids[i];
	char b;
	ssize_t n;

	do {
		n = read(k->authfd, &b, 1);
	} while (n < 0 && errno == EINTR);
	if (n == 1 && !k->authed) {
		k->authed = true;
		sv->unauthed--;
		return;
	}
	if (n < 0 && errno == EAGAIN)
		return;
	/* End of file: it is exiting (the pipe closes before the process
	 * becomes a zombie, so this wait is short). */
	while (waitpid(k->pid, NULL, 0) < 0 && errno == EINTR)
		;
	close(k->authfd);
	if (!k->authed)
		sv->unauthed--;
	memmove(k, k + 1, (sv->nkids - i - 1) * sizeof(*k));
	sv->nkids--;
}

/* Take the connections waiting in the backlog into the pending list. */
static void accept_all(struct worker *sv, double *pause_until)
{
	for (;;) {
		int fd = net_accept_now(sv->lfd);

		if (fd == -EAGAIN)
			return;
		if (fd < 0) {
			/* Out of descriptors or memory: the connection stays
			 * queued; try again shortly rather than spin. */
			diag_print("accept: %s", strerror(-fd));
			*pause_until = clock_now() + 0.5;
			return;
		}
		if (sv->npend >= sv->lim.pending)
			drop_pending(sv, 0, "dropped: too many connections waiting for a handshake");
		sv->pend[sv->npend].fd = fd;
		sv->pend[sv->npend].deadline = server_deadline(sv->conf, clock_now());
		sv->pend[sv->npend].ready = false;
		sv->npend++;
	}
}

/* Stop accepting: close the listening socket and the connections that
 * have no process yet; the children finish. */
static void stop_accepting(struct worker *sv)
{
	close(sv->lfd);
	sv->lfd = -1;
	while (sv->npend > 0)
		drop_pending(sv, 0, NULL);
	if (sv->nkids > 0)
		diag_print("stopping: waiting for %zu %s%s to finish", sv->nkids, sv->conf->peer_word,
			   sv->nkids == 1 ? "" : "s");
}

/* Drop pending connections past their handshake deadline and kill
 * children KILL_GRACE past theirs.  Returns the next deadline (INFINITY:
 * none). */
static double enforce_deadlines(struct worker *sv, double now)
{
	double next = INFINITY;
	size_t i;

	for (i = 0; i < sv->npend;) {
		if (now >= sv->pend[i].deadline) {
			char why[120];

			snprintf(why, sizeof(why),
				 "TLS handshake not done within %d s (--handshake-timeout); connection dropped",
				 sv->conf->handshake_secs);
			drop_pending(sv, i, why);
			continue;
		}
		next = earlier(next, sv->pend[i].deadline);
		i++;
	}
	for (i = 0; i < sv->nkids; i++) {
		struct kid *k = &sv->kids[i];

		if (k->authed || isinf(k->deadline))
			continue;
		if (now >= k->deadline + KILL_GRACE) {
			diag_print("%s: TLS handshake not done within %d s (--handshake-timeout); process killed",
				   k->peer, sv->conf->handshake_secs);
			kill(k->pid, SIGKILL);
			k->deadline = INFINITY;
			continue;
		}
		next = earlier(next, k->deadline + KILL_GRACE);
	}
	return next;
}

/* Handshakes for peers whose bytes arrived, oldest first, as far as the
 * connection and startup slots go. */
static void start_ready(struct worker *sv)
{
	size_t i;

	for (i = 0; i < sv->npend && sv->nkids < sv->lim.conns && sv->unauthed < sv->lim.startups;) {
		if (sv->pend[i].ready)
			spawn(sv, i);	/* removes entry i either way */
		else
			i++;
	}
}

/* Poll results for the first npend pending connections (pfd[i] is
 * pending connection i): mark those whose ClientHello is in, drop those
 * that closed (from the end: drop_pending moves the later ones). */
static void pending_events(struct worker *sv, const struct pollfd *pfd, size_t npend)
{
	size_t i = npend;

	while (i-- > 0) {
		int r;

		if (sv->pend[i].ready || !pfd[i].revents)
			continue;
		r = tls_first_record_in(sv->pend[i].fd);
		/* Closed half-way: it cannot complete (and would stay
		 * readable, at end of file, until dropped). */
		if (r == 0 && (pfd[i].revents & (POLLRDHUP | POLLHUP | POLLERR)))
			r = -1;
		if (r < 0)
			drop_pending(sv, i, NULL);
		else if (r > 0)
			sv->pend[i].ready = true;
	}
}

/* One worker: accept peers until SIGINT/SIGTERM or stop_at, as
 * described at the top.  On SIGINT/SIGTERM: stop accepting, close the
 * connections that have no process yet, let the children finish (they
 * ignore the signal), then return 0. */
static int serve_forever(int lfd, const struct server_conf *c, const struct server_limits *lim)
{
	struct worker sv = { .lfd = lfd, .conf = c, .lim = *lim };
	struct pollfd *pfd;
	double pause_until = 0;
	bool stopping = false;
	int rc = 0;

	sv.pend = calloc(lim->pending, sizeof(*sv.pend));
	sv.kids = calloc(lim->conns, sizeof(*sv.kids));
	pfd = calloc(1 + lim->pending + lim->conns, sizeof(*pfd));
	if (!sv.pend || !sv.kids || !pfd) {
		diag_print("out of memory");
		rc = KC_OTHER;
		stopping = true;
	}
	for (;;) {
		double now = clock_now(), next;
		size_t n = 0, i, npoll_pend = 0, nk;
		bool polled_l = false;
		int wait_ms;

		if (!stopping && (kc_interrupted || stop_ms(c) < 0)) {
			if (!kc_interrupted)
				diag_print("%s", c->stop_msg);
			stopping = true;
		}
		if (stopping && sv.lfd >= 0)
			stop_accepting(&sv);
		if (stopping && sv.nkids == 0)
			break;
		next = enforce_deadlines(&sv, now);
		start_ready(&sv);

		if (sv.lfd >= 0 && sv.nkids < sv.lim.conns && now >= pause_until) {
			pfd[n].fd = sv.lfd;
			pfd[n++].events = POLLIN;
			polled_l = true;
		} else if (sv.lfd >= 0 && now < pause_until) {
			next = earlier(next, pause_until);
		}
		for (i = 0; i < sv.npend; i++) {
			pfd[n].fd = sv.pend[i].ready ? -1 : sv.pend[i].fd;
			pfd[n++].events = POLLIN | POLLRDHUP;
		}
		npoll_pend = sv.npend;
		nk = sv.nkids;
		for (i = 0; i < sv.nkids; i++) {
			pfd[n].fd = sv.kids[i].authfd;
			pfd[n++].events = POLLIN;
		}
		wait_ms = isinf(next) ? -1 : server_ms_until(next);
		if (!stopping && c->stop_at > 0) {
			int t = stop_ms(c);

			if (t >= 0 && (wait_ms < 0 || t < wait_ms))
				wait_ms = t;
		}
		if (poll(pfd, n, wait_ms) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			diag_print("poll: %s", strerror(errno));
			rc = KC_OTHER;
			stopping = true;
			continue;
		}

		/* Children first (from the end: kid_event may remove one), then
		 * pending connections, then new ones (appended). */
		i = nk;
		while (i-- > 0)
			if (pfd[n - nk + i].revents)
				kid_event(&sv, i);
		pending_events(&sv, pfd + (polled_l ? 1 : 0), npoll_pend);
		if (polled_l && pfd[0].revents)
			accept_all(&sv, &pause_until);
	}
	free(pfd);
	free(sv.kids);
	free(sv.pend);
	if (sv.lfd >= 0)
		close(sv.lfd);
	return rc;
}

/* Share total out over n workers: worker i's part (at least 1). */
static unsigned share(unsigned total, unsigned n, unsigned i)
{
	unsigned part = total / n + (i < total % n ? 1 : 0);

	return part > 0 ? part : 1;
}

/* Fork n workers, worker i serving on lfds[i] with its share of the
 * limits; forward SIGINT/SIGTERM to them and wait for all.  Returns 0, or
 * KC_OTHER when a worker could not start or failed. */
static int run_workers(int *lfds, unsigned n, const struct server_conf *c)
{
	const struct server_limits *lim = &c->lim;
	pid_t pids[SERVER_MAX_WORKERS];
	unsigned i, j, alive = 0;
	bool forwarded = false;
	int rc = 0;

	for (i = 0; i < n; i++) {
		struct server_limits wl = {
			.conns = share(lim->conns, n, i),
			.startups = share(lim->startups, n, i),
			.pending = share(lim->pending, n, i),
		};

		pids[i] = fork();
		if (pids[i] == 0) {
			for (j = 0; j < n; j++)
				if (lfds[j] != lfds[i] && (j == 0 || lfds[j] != lfds[j - 1]))
					close(lfds[j]);
			_exit(serve_forever(lfds[i], c, &wl));
		}
		if (pids[i] < 0) {
			diag_print("cannot start worker %u: fork: %s", i + 1, strerror(errno));
			rc = KC_OTHER;
			kc_interrupted = 1;
			break;
		}
		alive++;
	}
	for (j = 0; j < n; j++)
		if (j == 0 || lfds[j] != lfds[j - 1])
			close(lfds[j]);
	while (alive > 0) {
		int status;
		pid_t pid;

		if (kc_interrupted && !forwarded) {
			for (j = 0; j < i; j++)
				if (pids[j] > 0)
					kill(pids[j], SIGTERM);
			forwarded = true;
		}
		pid = waitpid(-1, &status, 0);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (j = 0; j < i; j++) {
			if (pids[j] != pid)
				continue;
			pids[j] = 0;
			alive--;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
				diag_print("worker %u (pid %d) ended unexpectedly (%s %d)", j + 1, (int)pid,
					   WIFEXITED(status) ? "status" : "signal",
					   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
				rc = KC_OTHER;
			}
		}
	}
	return rc;
}

int server_run(int *lfds, unsigned n, const struct server_conf *c)
{
	if (n > 1)
		return run_workers(lfds, n, c);
	return serve_forever(lfds[0], c, &c->lim);
}

/* Wait for one connection until the earliest of stop_at, until (clock_now()
 * seconds; 0: none) and a signal.  The socket, or -1 with st. */
static int once_accept(int lfd, const struct server_conf *c, double until, struct kc_status *st)
{
	for (;;) {
		struct pollfd pfd = { lfd, POLLIN, 0 };
		double end = c->stop_at > 0 && (until <= 0 || c->stop_at < until) ? c->stop_at : until;
		int fd, ms = end > 0 ? server_ms_until(end) : -1;

		if (kc_interrupted)
			return kc_fail(st, KC_OTHER, "interrupted while waiting for a %s", c->peer_word);
		if (end > 0 && clock_now() >= end)
			return kc_fail(st, KC_NET, "no %s connected within the time limit", c->peer_word);
		if (poll(&pfd, 1, ms) < 0 && errno != EINTR)
			return kc_fail(st, KC_OTHER, "poll: %s", strerror(errno));
		fd = net_accept_now(lfd);
		if (fd >= 0)
			return fd;
		if (fd != -EAGAIN && fd != -EINTR)
			return kc_fail(st, KC_NET, "accept: %s", strerror(-fd));
	}
}

int server_run_once(int lfd, const struct server_conf *c, int wait_ms, unsigned *refused,
		    struct kc_status *st)
{
	double until = wait_ms > 0 ? clock_now() + wait_ms / 1000.0 : 0;

	*refused = 0;
	for (;;) {
		int fd = once_accept(lfd, c, until, st), rc;

		if (fd < 0)
			return -1;
		rc = c->serve(fd, server_deadline(c, clock_now()), -1, c->arg);
		close(fd);
		if (rc != SERVER_REFUSED)
			return rc;
		(*refused)++;
	}
}
