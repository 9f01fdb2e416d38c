/* server: the serving loops of the side that listens (recv, send
 * --listen).  Listening sockets go in; with -k each authenticated-or-not
 * connection is handed, in a child process of its own, to a callback that
 * runs the TLS session and the transfer; one-shot, connections are served
 * one at a time in this process until one peer is served.  The process
 * model and the limits are described at the top of server.c. */
#ifndef KTLSCP_SERVER_H
#define KTLSCP_SERVER_H

#include <stdbool.h>

#include "diag.h"

#define SERVER_MAX_WORKERS 256
/* Connections waiting without a process, per receiver (split over workers). */
#define SERVER_PENDING_MAX 1024

/* What the server may hold at once, in all (split over the workers). */
struct server_limits {
	unsigned conns;		/* children, handshaking or transferring */
	unsigned startups;	/* of those, not yet authenticated */
	unsigned pending;	/* accepted connections without a process */
};

/* What a serve callback returns, one-shot, for a peer that was refused
 * before it was authenticated (it has printed the one line saying so): the
 * server then keeps listening. */
#define SERVER_REFUSED (-1)

struct server_conf {
	struct server_limits lim;
	const char *peer_word;	/* "sender" or "receiver", for messages */
	int handshake_secs;	/* handshake limit from accepting; 0: none */
	double stop_at;		/* stop accepting at this clock_now(); 0: never */
	const char *stop_msg;	/* printed when stop_at is reached */
	/* Serve one connection, in a child: fd the connection, deadline its
	 * handshake deadline (clock_now() seconds; INFINITY: none).  Once the
	 * peer is authenticated, write one byte to authfd (unless -1).
	 * Returns the child's exit status. */
	int (*serve)(int fd, double deadline, int authfd, void *arg);
	void *arg;
};


/* The handshake deadline of a connection accepted at t (INFINITY: none). */
double server_deadline(const struct server_conf *c, double t);

/* Milliseconds from now until t, at least 1; 0 for INFINITY. */
int server_ms_until(double t);

/* Serve on lfds[0..n-1] until SIGINT/SIGTERM (kc_interrupted) or stop_at:
 * with n == 1 in this process, else in n worker processes, worker i on
 * lfds[i] (all the same descriptor for an inherited socket, which they then
 * share) with its share of the limits.  On the way out, stops accepting,
 * closes connections that have no process yet and waits for the children
 * to finish.  Closes the listening sockets.  Returns 0, or KC_OTHER when
 * out of memory, poll failed, or a worker could not start or failed. */
int server_run(int *lfds, unsigned n, const struct server_conf *c);

/* One-shot: accept on lfd and serve each connection in this process
 * (authfd -1), one at a time, with its handshake deadline, until serve
 * returns anything but SERVER_REFUSED: that is returned.  Gives up at
 * stop_at, after wait_ms from now (0: no limit) or on SIGINT/SIGTERM:
 * returns -1 with st set (KC_NET for the time limits, KC_OTHER when
 * interrupted or accept failed) and *refused the peers refused so far.
 * Does not close lfd. */
int server_run_once(int lfd, const struct server_conf *c, int wait_ms, unsigned *refused,
		    struct kc_status *st);

#endif
