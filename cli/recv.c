/* recv: listen for senders and receive files into a directory.
 *
 * Connection and process model.  One-shot recv accepts one connection and
 * serves it in this process.  recv -k is a small server:
 *
 *   parent   with --workers N > 1, forks N workers, each with a listening
 *            socket of its own on the same port (SO_REUSEPORT: the kernel
 *            spreads new connections over them), and waits for them;
 *   worker   accepts connections as they come into a pending list, where a
 *            connection costs only its descriptor until the sender's first
 *            bytes (its ClientHello) arrive; then forks one child for it;
 *   child    the handshake, then the transfer (a sender cannot disturb
 *            another's files, memory or descriptors).  It writes one byte
 *            on a pipe to its worker once the peer is authenticated; the
 *            pipe's end of file tells the worker it exited.
 *
 * Limits, per worker (the receiver's --max-conns and --max-startups split
 * over the workers): at most max_conns children, handshaking or
 * transferring; of those at most max_startups still unauthenticated, so
 * that idle or slow peers can hold only those slots and only briefly;
 * pending connections at most PENDING_MAX (the oldest is dropped for a new
 * one).  Every connection must finish its handshake within
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"
#include "net.h"
#include "opts.h"
#include "progress.h"
#include "receiver.h"
#include "tlsrec.h"
#include "trustdb.h"
#include "xfer.h"

#define HANDSHAKE_TIMEOUT_DEFAULT 10	/* seconds */
#define MAX_CONNS_DEFAULT 64
#define MAX_STARTUPS_DEFAULT 10
#define PENDING_MAX 1024	/* connections waiting without a process, per receiver */
#define KILL_GRACE 2.0		/* seconds past the handshake deadline before SIGKILL */
#define MAX_WORKERS 256

static int handshake_timeout = -1;	/* --handshake-timeout, seconds; -1: default */
static int max_startups = -1;		/* --max-startups; -1: default */
static int nworkers = -1;		/* --workers; -1: one */

static struct poptOption recv_table[] = {
	{ "port", 'P', POPT_ARG_INT, &cli.port, 0, "TCP port to listen on (default 7433; 0: any free port)", "N" },
	{ "listen", 0, POPT_ARG_STRING, &cli.listen, 0, "address to bind (default: all, IPv6 and IPv4)", "ADDR" },
	{ "keep-open", 'k', POPT_ARG_NONE, &cli.keep_open, 0,
	  "keep accepting senders, several at once, until SIGINT or SIGTERM", NULL },
	{ "max-conns", 0, POPT_ARG_INT, &cli.max_conns, 0,
	  "with -k: connections served at once, in the handshake or transferring (default 64)", "N" },
	{ "max-startups", 0, POPT_ARG_INT, &max_startups, 0,
	  "with -k: of those, at most N not yet authenticated (default 10)", "N" },
	{ "handshake-timeout", 0, POPT_ARG_INT, &handshake_timeout, 0,
	  "drop a connection whose TLS handshake is not done within SECONDS of accepting it (default 10; 0: only --timeout)",
	  "SECONDS" },
	{ "workers", 0, POPT_ARG_INT, &nworkers, 0,
	  "with -k: N processes accept on the same port (SO_REUSEPORT; default 1)", "N" },
	{ "token-ttl", 0, POPT_ARG_INT, &cli.token_ttl, 0,
	  "a printed token is good for this many seconds (default 600; 0: until exit)", "SECONDS" },
	{ "max-size", 0, POPT_ARG_STRING, &cli.max_size, 0,
	  "refuse files beyond SIZE bytes in all from one sender (e.g. 10G)", "SIZE" },
	{ "max-files", 0, POPT_ARG_LONG, &cli.max_files, 0,
	  "refuse a sender announcing more than N entries (default 10000000)", "N" },
	{ "stdout", 0, POPT_ARG_NONE, &cli.to_stdout, 0,
	  "write what arrives to standard output, in order, instead of into DIR", NULL },
	{ "raw", 0, POPT_ARG_NONE, &cli.raw, 0,
	  "no ktlscp framing: write one plain TLS byte stream to standard output", NULL },
	{ "allow", 0, POPT_ARG_ARGV, &cli.allow, 0,
	  "accept only senders whose key has this fingerprint (repeatable; default: the authorized_senders file)",
	  "SHA256:..." },
	{ NULL, '4', POPT_ARG_NONE, &cli.ipv4, 0, "IPv4 only", NULL },
	{ NULL, '6', POPT_ARG_NONE, &cli.ipv6, 0, "IPv6 only", NULL },
	{ NULL, 0, POPT_ARG_INCLUDE_TABLE, cli_trust_table, 0, "Trust and TLS:", NULL },
	{ NULL, 0, POPT_ARG_INCLUDE_TABLE, cli_output_table, 0, "Output:", NULL },
	POPT_AUTOHELP
	POPT_TABLEEND
};

static uint64_t max_bytes;	/* --max-size */
static double token_expiry;	/* a printed token is refused after this (cli_now()), 0: never */

/* Milliseconds left for accepting: the printed token's lifetime and the
 * wait limit of --timeout (0 = none); -1 when the token has expired. */
static int accept_ms(int timeout_ms)
{
	double left;

	if (token_expiry <= 0)
		return timeout_ms;
	left = token_expiry - cli_now();
	if (left <= 0)
		return -1;
	if (timeout_ms > 0 && timeout_ms < left * 1000)
		return timeout_ms;
	return (int)(left * 1000) + 1;
}

/* The handshake limit in seconds; 0: none of its own (--timeout applies). */
static int handshake_secs(void)
{
	return handshake_timeout < 0 ? HANDSHAKE_TIMEOUT_DEFAULT : handshake_timeout;
}

/* The handshake deadline of a connection accepted at t (INFINITY: none). */
static double handshake_deadline(double t)
{
	return handshake_secs() > 0 ? t + handshake_secs() : INFINITY;
}

static double earlier(double a, double b)
{
	return a < b ? a : b;
}

/* Milliseconds from now until t, at least 1; 0 for INFINITY. */
static int ms_until(double t)
{
	double left = t - cli_now();

	if (isinf(t))
		return 0;
	if (left <= 0.001)
		return 1;
	return left > 86400 ? 86400 * 1000 : (int)(left * 1000) + 1;
}

/* One sender on an accepted connection: handshake (done by the deadline),
 * keys to the kernel, the transfer, the summary.  Once the peer is
 * authenticated, writes one byte to authfd (unless -1).  Returns the exit
 * status. */
static int serve(int fd, struct tls_ctx *tc, enum ktls_policy pol, int rootfd, const char *dir,
		 double deadline, int authfd)
{
	struct kc_status st = { 0 };
	struct xfer_stats stats = { .role = "recv" };
	struct progress prog = { 0 };
	struct recv_opts ro;
	struct chan ch;
	gnutls_session_t sess = NULL;
	double t0 = cli_now();
	int rc, hs_ms = isinf(deadline) ? cli_timeout_ms() : ms_until(deadline);

	memset(&ch, 0, sizeof(ch));
	ch.pipe[0] = ch.pipe[1] = -1;
	stats.auth = tls_auth_name(tc->auth);
	net_peer_str(fd, stats.peer, sizeof(stats.peer));
	/* Until authenticated, every wait counts against the deadline: GnuTLS
	 * measures the whole handshake, the receive timeout each read. */
	tc->handshake_ms = hs_ms;
	net_tune(fd, hs_ms);
	setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &(int){ 1 }, sizeof(int));	/* see first_record_in */
	if (cli_secure(fd, tc, pol, cli_progress() && !cli.raw && !cli.keep_open, &stats, &sess, &ch,
		       &prog, &st) < 0) {
		if (st.cls == KC_NET && !isinf(deadline) && cli_now() >= deadline - 0.25)
			snprintf(st.msg, sizeof(st.msg),
				 "%s: TLS handshake not done within %d s (--handshake-timeout); connection dropped",
				 stats.peer, handshake_secs());
		goto out;
	}
	if (authfd >= 0 && write(authfd, "A", 1) != 1)
		diag_debug("cannot tell the receiver that %s is authenticated: %s", stats.peer,
			   strerror(errno));
	net_tune(fd, cli_timeout_ms());
	ro.rootfd = rootfd;
	ro.rootname = dir;
	ro.to_stdout = cli.to_stdout;
	ro.max_bytes = max_bytes;
	ro.max_entries = cli.max_files > 0 ? (uint64_t)cli.max_files : 10000000;
	if (cli.raw)
		xfer_recv_raw(&ch, STDOUT_FILENO, &stats, &st);
	else
		receiver_run(&ch, &ro, &stats, &st);
	chan_close_notify(&ch);
	stats.seconds = cli_now() - t0;
out:
	progress_end(&prog);
	rc = cli_finish(&stats, &st);
	chan_free(&ch);
	if (sess)
		gnutls_deinit(sess);
	return rc;
}

/* What one worker may hold at once (see the model at the top). */
struct serve_limits {
	unsigned conns, startups, pending;
};

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

struct server {
	int lfd;
	struct tls_ctx *tc;
	enum ktls_policy pol;
	int rootfd;
	const char *dir;
	struct serve_limits lim;
	struct pending_conn *pend;
	size_t npend;
	struct kid *kids;
	size_t nkids;
	unsigned unauthed;
};

static void drop_pending(struct server *sv, size_t i, const char *why)
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
static int spawn(struct server *sv, size_t i)
{
	struct pending_conn pc = sv->pend[i];
	struct kid *k = &sv->kids[sv->nkids];
	int pfd[2];
	pid_t pid;
	size_t j;

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		diag_print("cannot serve a sender: pipe: %s", strerror(errno));
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
		_exit(serve(pc.fd, sv->tc, sv->pol, sv->rootfd, sv->dir, pc.deadline, pfd[1]));
	}
	close(pfd[1]);
	if (pid < 0) {
		diag_print("cannot serve a sender: fork: %s", strerror(errno));
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
static void kid_event(struct server *sv, size_t i)
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

/* Has the sender's first TLS record (its ClientHello, whole) arrived?  A
 * process and a startup slot go only to connections whose ClientHello is
 * complete: a peer that trickles it in byte by byte, or sends nothing,
 * holds a descriptor until its deadline and nothing else.  Returns 1 yes
 * (also for bytes that are not a TLS handshake record: GnuTLS refuses those
 * at once), 0 not yet (SO_RCVLOWAT is raised to the bytes still needed, so
 * that poll() reports the socket only once they are in), -1 when the peer
 * closed without a byte (a port scan, a health check: it goes quietly). */
static int first_record_in(int fd)
{
	unsigned char b[TLS_RECORD_HDR_LEN + TLS_RECORD_PAYLOAD_MAX + 256];
	ssize_t n;
	int need;

	do {
		n = recv(fd, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n == 0 || (n < 0 && errno != EAGAIN))
		return -1;
	if (n < TLS_RECORD_HDR_LEN) {
		need = TLS_RECORD_HDR_LEN;
	} else {
		/* Record header: type, version, 16-bit length. */
		need = TLS_RECORD_HDR_LEN + (b[3] << 8 | b[4]);
		if (b[0] != TLS_CT_HANDSHAKE || need > (int)sizeof(b) || n >= need)
			return 1;
	}
	/* Well below half the receive buffer, so the kernel neither clamps
	 * it nor grows the buffer for it. */
	setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &need, sizeof(need));
	return 0;
}

/* Take the connections waiting in the backlog into the pending list. */
static void accept_all(struct server *sv, double *pause_until)
{
	for (;;) {
		int fd = net_accept_now(sv->lfd);

		if (fd == -EAGAIN)
			return;
		if (fd < 0) {
			/* Out of descriptors or memory: the connection stays
			 * queued; try again shortly rather than spin. */
			diag_print("accept: %s", strerror(-fd));
			*pause_until = cli_now() + 0.5;
			return;
		}
		if (sv->npend >= sv->lim.pending)
			drop_pending(sv, 0, "dropped: too many connections waiting for a handshake");
		sv->pend[sv->npend].fd = fd;
		sv->pend[sv->npend].deadline = handshake_deadline(cli_now());
		sv->pend[sv->npend].ready = false;
		sv->npend++;
	}
}

/* recv -k, one worker: accept senders until SIGINT/SIGTERM or the token's
 * end, as described at the top.  On SIGINT/SIGTERM: stop accepting, close
 * the connections that have no process yet, let the children finish (they
 * ignore the signal), then return 0. */
static int serve_forever(int lfd, struct tls_ctx *tc, enum ktls_policy pol, int rootfd,
			 const char *dir, const struct serve_limits *lim)
{
	struct server sv = { .lfd = lfd, .tc = tc, .pol = pol, .rootfd = rootfd, .dir = dir,
			     .lim = *lim };
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
		double now = cli_now(), next = INFINITY;
		size_t n = 0, i, npoll_pend = 0, nk;
		bool polled_l = false;
		int wait_ms;

		if (!stopping && (kc_interrupted || accept_ms(0) < 0)) {
			if (!kc_interrupted)
				diag_print("the session token expired (--token-ttl); no longer accepting senders");
			stopping = true;
		}
		if (stopping && sv.lfd >= 0) {
			close(sv.lfd);
			sv.lfd = -1;
			while (sv.npend > 0)
				drop_pending(&sv, 0, NULL);
			if (sv.nkids > 0)
				diag_print("stopping: waiting for %zu sender%s to finish", sv.nkids,
					   sv.nkids == 1 ? "" : "s");
		}
		if (stopping && sv.nkids == 0)
			break;

		/* Deadlines. */
		for (i = 0; i < sv.npend;) {
			if (now >= sv.pend[i].deadline) {
				char why[120];

				snprintf(why, sizeof(why),
					 "TLS handshake not done within %d s (--handshake-timeout); connection dropped",
					 handshake_secs());
				drop_pending(&sv, i, why);
				continue;
			}
			next = earlier(next, sv.pend[i].deadline);
			i++;
		}
		for (i = 0; i < sv.nkids; i++) {
			struct kid *k = &sv.kids[i];

			if (k->authed || isinf(k->deadline))
				continue;
			if (now >= k->deadline + KILL_GRACE) {
				diag_print("%s: TLS handshake not done within %d s (--handshake-timeout); process killed",
					   k->peer, handshake_secs());
				kill(k->pid, SIGKILL);
				k->deadline = INFINITY;
				continue;
			}
			next = earlier(next, k->deadline + KILL_GRACE);
		}

		/* Handshakes for senders whose bytes arrived, oldest first. */
		for (i = 0; i < sv.npend && sv.nkids < sv.lim.conns && sv.unauthed < sv.lim.startups;) {
			if (sv.pend[i].ready)
				spawn(&sv, i);	/* removes entry i either way */
			else
				i++;
		}

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
		wait_ms = isinf(next) ? -1 : ms_until(next);
		if (!stopping && token_expiry > 0) {
			int t = accept_ms(0);

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
		{
			size_t base = polled_l ? 1 : 0;
			bool lready = polled_l && pfd[0].revents;

			i = npoll_pend;
			while (i-- > 0) {
				int r;

				if (sv.pend[i].ready || !pfd[base + i].revents)
					continue;
				r = first_record_in(sv.pend[i].fd);
				/* Closed half-way: it cannot complete (and would
				 * stay readable, at end of file, until dropped). */
				if (r == 0 && (pfd[base + i].revents & (POLLRDHUP | POLLHUP | POLLERR)))
					r = -1;
				if (r < 0)
					drop_pending(&sv, i, NULL);
				else if (r > 0)
					sv.pend[i].ready = true;
			}
			if (lready)
				accept_all(&sv, &pause_until);
		}
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

/* recv -k --workers N: fork N workers, worker i serving on lfds[i] (all
 * the same descriptor for an inherited socket, which they then share),
 * with its share of the limits; forward SIGINT/SIGTERM to them and wait
 * for all.  Returns 0, or KC_OTHER when a worker could not start or failed. */
static int run_workers(int *lfds, unsigned n, struct tls_ctx *tc, enum ktls_policy pol, int rootfd,
		       const char *dir, const struct serve_limits *lim)
{
	pid_t pids[MAX_WORKERS];
	unsigned i, j, alive = 0;
	bool forwarded = false;
	int rc = 0;

	for (i = 0; i < n; i++) {
		struct serve_limits wl = {
			.conns = share(lim->conns, n, i),
			.startups = share(lim->startups, n, i),
			.pending = share(lim->pending, n, i),
		};

		pids[i] = fork();
		if (pids[i] == 0) {
			for (j = 0; j < n; j++)
				if (lfds[j] != lfds[i] && (j == 0 || lfds[j] != lfds[j - 1]))
					close(lfds[j]);
			_exit(serve_forever(lfds[i], tc, pol, rootfd, dir, &wl));
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

static int cmd_recv(const struct cmd_entry *self, int argc, const char **argv)
{
	struct kc_status st = { 0 };
	struct xfer_stats stats = { .role = "recv" };
	struct tls_opts to;
	struct tls_ctx tc;
	enum ktls_policy pol;
	poptContext ctx = NULL;
	const char **args;
	const char *dir = ".";
	char kprio[160], token[TLS_TOKEN_LEN] = "";
	static char askeys[TLS_MAX_PINS][TRUSTDB_FP_LEN], aspath[4096];
	unsigned port = NET_DEFAULT_PORT, nlfd = 0, i;
	int nargs = 0, lfd = -1, fd = -1, rootfd = -1, rc, lfds[MAX_WORKERS];
	struct serve_limits lim;
	struct rlimit rl;
	char where[80];
	bool listening = true;

	memset(&tc, 0, sizeof(tc));
	if (cli_parse(self, recv_table, argc, argv, &ctx) < 0) {
		rc = KC_USAGE;
		goto out_nosummary;
	}
	args = poptGetArgs(ctx);
	while (args && args[nargs])
		nargs++;
	if (nargs > 1) {
		fprintf(stderr, "ktlscp recv: at most one DIR\nUsage: ktlscp recv %s\n", self->args);
		rc = KC_USAGE;
		goto out_nosummary;
	}
	if (nargs == 1)
		dir = args[0];
	if ((cli.raw || cli.to_stdout) && (nargs > 0 || cli.json || cli.keep_open)) {
		fprintf(stderr, "ktlscp recv: --%s writes to standard output: no DIR, --json or -k\n",
			cli.raw ? "raw" : "stdout");
		rc = KC_USAGE;
		goto out_nosummary;
	}
	if (cli.max_conns < 0 || max_startups == 0 || max_startups < -1 || nworkers == 0 || nworkers < -1 ||
	    ((cli.max_conns > 0 || max_startups > 0 || nworkers > 0) && !cli.keep_open)) {
		fprintf(stderr, "ktlscp recv: --max-conns, --max-startups and --workers take a positive number and go with -k\n");
		rc = KC_USAGE;
		goto out_nosummary;
	}
	if (nworkers < 0)
		nworkers = 1;
	lim.conns = cli.max_conns > 0 ? (unsigned)cli.max_conns : MAX_CONNS_DEFAULT;
	lim.startups = max_startups > 0 ? (unsigned)max_startups : MAX_STARTUPS_DEFAULT;
	lim.pending = PENDING_MAX;
	if (cli.max_conns == 0 && lim.conns < (unsigned)nworkers)
		lim.conns = (unsigned)nworkers;
	/* The default startups: 10, within --max-conns, one per worker at least. */
	if (max_startups < 0 && lim.startups > lim.conns)
		lim.startups = lim.conns;
	if (max_startups < 0 && lim.startups < (unsigned)nworkers)
		lim.startups = (unsigned)nworkers;
	if (nworkers > MAX_WORKERS || lim.conns < (unsigned)nworkers ||
	    lim.startups < (unsigned)nworkers || lim.startups > lim.conns) {
		fprintf(stderr, "ktlscp recv: --workers takes 1 to %d, at most --max-conns and --max-startups; --max-startups at most --max-conns\n",
			MAX_WORKERS);
		rc = KC_USAGE;
		goto out_nosummary;
	}
	if (handshake_timeout < -1) {
		fprintf(stderr, "ktlscp recv: --handshake-timeout takes seconds, 0 for none of its own\n");
		rc = KC_USAGE;
		goto out_nosummary;
	}
	if (cli.token_ttl < 0) {
		fprintf(stderr, "ktlscp recv: --token-ttl takes seconds, 0 for no limit\n");
		rc = KC_USAGE;
		goto out_nosummary;
	}
	if ((cli.max_size && cli_parse_size(cli.max_size, 1, &max_bytes) < 0) || cli.max_files < 0) {
		fprintf(stderr, "ktlscp recv: --max-size takes a size such as 10G, --max-files a count\n");
		rc = KC_USAGE;
		goto out_nosummary;
	}
	if (cli.port != -1) {
		if (cli.port < 0 || cli.port > 65535) {
			kc_fail(&st, KC_USAGE, "--port %d: expected 0 to 65535", cli.port);
			goto out;
		}
		port = (unsigned)cli.port;
	}
	if (cli_tls_opts(&to, &pol, true, &st) < 0)
		goto out;
	rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		kc_fail(&st, KC_FILE, "%s: %s", dir, strerror(errno));
		goto out;
	}
	if (cli_ktls_precheck(pol, kprio, sizeof(kprio), &st) < 0)
		goto out;
	to.kernel_ciphers = kprio[0] ? kprio : NULL;
	/* No trust option: the keys in authorized_senders, if it lists any;
	 * else a fresh token is the PSK (one sender, or with -k every sender
	 * until it expires). */
	if (!to.psk_file && !to.token && to.npins == 0 && !to.ca_file) {
		char cdir[4000];
		int n, k;

		if (tls_identity_dir(cdir, sizeof(cdir), &st) < 0)
			goto out;
		snprintf(aspath, sizeof(aspath), "%s/authorized_senders", cdir);
		n = as_load(aspath, askeys, TLS_MAX_PINS, &st);
		if (n < 0)
			goto out;
		for (k = 0; k < n; k++)
			to.pins[to.npins++] = askeys[k];
		if (n > 0)
			to.pin_source = aspath;
	}
	if (!to.psk_file && !to.token && to.npins == 0 && !to.ca_file) {
		if (tls_token_generate(token) < 0) {
			kc_fail(&st, KC_OTHER, "cannot generate a token");
			goto out;
		}
		to.token = token;
	}
	if (tls_ctx_init(&tc, &to, &st) < 0)
		goto out;
	stats.auth = tls_auth_name(tc.auth);
	/* A batch may hold many open directories: raise the soft fd limit. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* systemd socket activation: a listening socket serves as ours; a
	 * connected one (Accept=yes) is the one sender to serve. */
	lfd = net_inherited(&listening, &st);
	if (lfd < 0 && st.cls != KC_OK)
		goto out;
	if (lfd >= 0 && !listening) {
		fd = lfd;
		lfd = -1;
		diag_print("receiving into %s; serving %s, on the connection passed in",
			   cli.raw || cli.to_stdout ? "standard output" : dir,
			   net_peer_str(fd, where, sizeof(where)));
	} else if (lfd >= 0) {
		/* Every worker accepts on the one socket passed in. */
		for (nlfd = 0; nlfd < (unsigned)nworkers; nlfd++)
			lfds[nlfd] = lfd;
		port = net_local_port(lfd);
		diag_print("receiving into %s; listening on the socket passed in (%s), port %u",
			   cli.raw || cli.to_stdout ? "standard output" : dir,
			   net_local_str(lfd, where, sizeof(where)), port);
	} else {
		for (nlfd = 0; nlfd < (unsigned)nworkers; nlfd++) {
			lfds[nlfd] = net_listen(cli.listen, port, cli_family(), nworkers > 1, &st);
			if (lfds[nlfd] < 0)
				break;
			port = net_local_port(lfds[nlfd]);	/* --port 0: the others share it */
		}
		if (nlfd < (unsigned)nworkers) {
			for (i = 0; i < nlfd; i++)
				close(lfds[i]);
			nlfd = 0;
			goto out;
		}
		lfd = lfds[0];
		diag_print("receiving into %s; listening on %s port %u",
			   cli.raw || cli.to_stdout ? "standard output" : dir,
			   cli.listen ? cli.listen : "all addresses", port);
	}
	if (to.pin_source == aspath)
		diag_print("accepting the %d sender key%s in %s", to.npins, to.npins == 1 ? "" : "s",
			   aspath);
	if (to.token == token) {
		if (cli.token_ttl > 0)
			token_expiry = cli_now() + cli.token_ttl;
		diag_print("%s token: %s (valid for %d s)", cli.keep_open ? "session" : "one-time", token,
			   cli.token_ttl);
		diag_print("on the sender: KTLSCP_TOKEN=%s ktlscp send THIS-HOST:%u FILE...", token, port);
	}
	cli_signals();
	if (fd >= 0) {
		rc = serve(fd, &tc, pol, rootfd, dir, handshake_deadline(cli_now()), -1);
		goto out_nosummary;
	}
	if (cli.keep_open) {
		if (nworkers > 1)
			rc = run_workers(lfds, nlfd, &tc, pol, rootfd, dir, &lim);
		else
			rc = serve_forever(lfd, &tc, pol, rootfd, dir, &lim);
		lfd = -1;
		goto out_nosummary;
	}
	/* One-shot: the extra sockets of --workers do not exist (it needs -k). */
	fd = net_accept(lfd, accept_ms(cli.timeout > 0 ? cli.timeout * 1000 : 0), &st);
	if (fd < 0) {
		if (accept_ms(0) < 0) {
			st.cls = KC_OK;
			kc_fail(&st, KC_NET, "the one-time token expired after %d s (--token-ttl) and no sender came; run recv again",
				cli.token_ttl);
		}
		goto out;
	}
	close(lfd);
	lfd = -1;
	rc = serve(fd, &tc, pol, rootfd, dir, handshake_deadline(cli_now()), -1);
	goto out_nosummary;
out:
	rc = cli_finish(&stats, &st);
out_nosummary:
	if (fd >= 0)
		close(fd);
	if (lfd >= 0)
		close(lfd);
	if (rootfd >= 0)
		close(rootfd);
	tls_ctx_free(&tc);
	gnutls_memset(token, 0, sizeof(token));
	if (ctx)
		poptFreeContext(ctx);
	cli_free();
	return rc;
}

const struct cmd_entry cmd_recv_entry = {
	.name = "recv",
	.args = "[OPTIONS] [DIR]",
	.summary = "listen for a sender (-k: many) and receive into DIR (default .)",
	.exec = cmd_recv,
};
