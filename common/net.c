/* net: resolve, connect, listen, accept. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net.h"

int net_parse_hostport(const char *arg, char *host, size_t hostsz, unsigned *port)
{
	const char *h = arg, *p = NULL;
	size_t hl;

	if (arg[0] == '[') {
		const char *end = strchr(arg, ']');

		if (end == NULL)
			return -EINVAL;
		h = arg + 1;
		hl = (size_t)(end - h);
		if (end[1] == ':')
			p = end + 2;
		else if (end[1] != '\0')
			return -EINVAL;
	} else {
		const char *c = strchr(arg, ':');

		/* A bare IPv6 address has several colons and no port. */
		if (c != NULL && strchr(c + 1, ':') == NULL) {
			hl = (size_t)(c - arg);
			p = c + 1;
		} else {
			hl = strlen(arg);
		}
	}
	if (hl == 0 || hl >= hostsz)
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (p != NULL) {
		char *end;
		unsigned long v;

		errno = 0;
		v = strtoul(p, &end, 10);
		if (*p == '\0' || *end != '\0' || errno || v == 0 || v > 65535)
			return -EINVAL;
		*port = (unsigned)v;
	}
	return 0;
}

/* Format an address as "1.2.3.4:5" or "[::1]:5". */
static char *net_addr_str(const struct sockaddr *sa, socklen_t len, char *buf, size_t bufsz)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	(void)len;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		port = ntohs(s4->sin_port);
		snprintf(buf, bufsz, "%s:%u", host, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], host, sizeof(host));
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		port = ntohs(s6->sin6_port);
		snprintf(buf, bufsz, IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) ? "%s:%u" : "[%s]:%u",
			 host, port);
	} else {
		snprintf(buf, bufsz, "?");
	}
	return buf;
}

char *net_peer_str(int fd, char *buf, size_t bufsz)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0) {
		snprintf(buf, bufsz, "?");
		return buf;
	}
	return net_addr_str((struct sockaddr *)&ss, len, buf, bufsz);
}

char *net_local_str(int fd, char *buf, size_t bufsz)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		snprintf(buf, bufsz, "?");
		return buf;
	}
	return net_addr_str((struct sockaddr *)&ss, len, buf, bufsz);
}

unsigned net_local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

int net_tune(int fd, int idle_ms)
{
	int one = 1;
	struct timeval tv = { idle_ms / 1000, (idle_ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	/* We coalesce ourselves (GnuTLS cork, MSG_MORE, one message per
	 * batch); Nagle would only hold back the small handshake and reply
	 * records and cost a delayed-ACK wait (~40 ms) each. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	return 0;
}

/* Non-blocking connect bounded by timeout_ms; returns 0 or -errno. */
static int connect_timed(int fd, const struct sockaddr *sa, socklen_t len, int timeout_ms)
{
	int flags = fcntl(fd, F_GETFL), err = 0;
	socklen_t elen = sizeof(err);
	struct pollfd pfd = { fd, POLLOUT, 0 };
	int rc;

	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	rc = connect(fd, sa, len);
	if (rc < 0 && errno != EINPROGRESS) {
		err = errno;
		goto out;
	}
	if (rc < 0) {
		do {
			rc = poll(&pfd, 1, timeout_ms > 0 ? timeout_ms : -1);
		} while (rc < 0 && errno == EINTR);
		if (rc == 0) {
			err = ETIMEDOUT;
			goto out;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			err = errno;
	}
out:
	fcntl(fd, F_SETFL, flags);
	return -err;
}

int net_connect(const char *host, unsigned port, int family, int timeout_ms, struct kc_status *st)
{
	return net_connect_mss(host, port, family, timeout_ms, 0, st);
}

int net_connect_mss(const char *host, unsigned port, int family, int timeout_ms, int mss, struct kc_status *st)
{
	struct addrinfo hints = { 0 }, *res = NULL, *ai;
	char portstr[8];
	int fd = -1, rc, last = 0;

	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	snprintf(portstr, sizeof(portstr), "%u", port);
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc == EAI_ADDRFAMILY || rc == EAI_NONAME) {
		hints.ai_flags = 0;	/* loopback-only hosts have no "configured" address */
		rc = getaddrinfo(host, portstr, &hints, &res);
	}
	if (rc != 0) {
		kc_fail(st, KC_NET, "%s: cannot resolve: %s", host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			last = -errno;
			continue;
		}
		/* Before connecting, when the MSS is also announced and clamped. */
		if (mss > 0)
			setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof(mss));
		rc = connect_timed(fd, ai->ai_addr, ai->ai_addrlen, timeout_ms);
		if (rc == 0)
			break;
		last = rc;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		if (strchr(host, ':'))
			kc_fail(st, KC_NET, "[%s]:%u: cannot connect: %s", host, port, strerror(-last));
		else
			kc_fail(st, KC_NET, "%s:%u: cannot connect: %s", host, port, strerror(-last));
	}
	return fd;
}

static int listen_on(int family, const struct sockaddr *sa, socklen_t len, bool v6only,
		     bool reuseport, int *err)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	int v6 = v6only ? 1 : 0;

	if (fd < 0) {
		*err = errno;
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6, sizeof(v6));
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
		*err = errno;
		close(fd);
		return -1;
	}
	/* A deep backlog: recv -k accepts promptly, but a burst of senders
	 * (or of idle connections) that overflows the queue costs the senders
	 * a SYN retransmission, a second or more each.  An entry is small
	 * (a request sock until the handshake, then the socket itself). */
	if (bind(fd, sa, len) < 0 || listen(fd, NET_BACKLOG) < 0 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		*err = errno;
		close(fd);
		return -1;
	}
	return fd;
}

int net_listen(const char *addr, unsigned port, int family, bool reuseport, struct kc_status *st)
{
	int fd = -1, err = 0;

	if (addr == NULL && family == AF_INET) {
		struct sockaddr_in s4 = { 0 };

		s4.sin_family = AF_INET;
		s4.sin_addr.s_addr = htonl(INADDR_ANY);
		s4.sin_port = htons(port);
		fd = listen_on(AF_INET, (struct sockaddr *)&s4, sizeof(s4), false, reuseport, &err);
	} else if (addr == NULL) {
		struct sockaddr_in6 s6 = { 0 };
		struct sockaddr_in s4 = { 0 };

		s6.sin6_family = AF_INET6;
		s6.sin6_addr = in6addr_any;
		s6.sin6_port = htons(port);
		fd = listen_on(AF_INET6, (struct sockaddr *)&s6, sizeof(s6), family == AF_INET6, reuseport,
			       &err);
		if (fd >= 0 || family == AF_INET6)
			goto done;
		if (err != EAFNOSUPPORT && err != EADDRNOTAVAIL) {
			kc_fail(st, KC_NET, "port %u: cannot listen: %s", port, strerror(err));
			return -1;
		}
		s4.sin_family = AF_INET;
		s4.sin_addr.s_addr = htonl(INADDR_ANY);
		s4.sin_port = htons(port);
		fd = listen_on(AF_INET, (struct sockaddr *)&s4, sizeof(s4), false, reuseport, &err);
	} else {
		struct addrinfo hints = { 0 }, *res = NULL;
		char portstr[8];
		int rc;

		hints.ai_family = family;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
		snprintf(portstr, sizeof(portstr), "%u", port);
		rc = getaddrinfo(addr, portstr, &hints, &res);
		if (rc != 0) {
			kc_fail(st, KC_USAGE, "%s: cannot resolve listen address: %s", addr,
				gai_strerror(rc));
			return -1;
		}
		fd = listen_on(res->ai_family, res->ai_addr, res->ai_addrlen, true, reuseport, &err);
		freeaddrinfo(res);
	}
done:
	if (fd < 0)
		kc_fail(st, KC_NET, "%s port %u: cannot listen: %s", addr ? addr : "*", port,
			strerror(err));
	return fd;
}

int net_accept(int lfd, int timeout_ms, struct kc_status *st)
{
	struct pollfd pfd = { lfd, POLLIN, 0 };
	int rc, fd;

	for (;;) {
		rc = poll(&pfd, 1, timeout_ms > 0 ? timeout_ms : -1);
		if (rc < 0 && errno == EINTR)
			return kc_fail(st, KC_OTHER, "interrupted while waiting for a sender");
		if (rc == 0)
			return kc_fail(st, KC_NET, "no sender connected within the timeout");
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			return fd;
		if (errno == EAGAIN)
			continue;	/* gone before we took it, or another worker did */
		if (errno == EINTR)
			return kc_fail(st, KC_OTHER, "interrupted while waiting for a sender");
		if (errno != ECONNABORTED && errno != EAGAIN)
			return kc_fail(st, KC_NET, "accept: %s", strerror(errno));
	}
}

int net_accept_now(int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd >= 0)
			return fd;
		/* A connection reset while queued: try the next one. */
		if (errno == ECONNABORTED || errno == EINTR)
			continue;
		/* Linux reports pending network errors of the new socket on
		 * accept (accept(2)); the listening socket is fine. */
		if (errno == ENETDOWN || errno == EPROTO || errno == ENOPROTOOPT ||
		    errno == EHOSTDOWN || errno == ENONET || errno == EHOSTUNREACH ||
		    errno == EOPNOTSUPP || errno == ENETUNREACH)
			continue;
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
}

int net_inherited(bool *listening, struct kc_status *st)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	char *end;
	unsigned long p = 0, n = 0;
	int type = 0, acc = 0;
	socklen_t len = sizeof(type);
	bool ours;

	if (pid) {
		errno = 0;
		p = strtoul(pid, &end, 10);
		if (errno || *end || end == pid)
			p = 0;
	}
	if (fds) {
		errno = 0;
		n = strtoul(fds, &end, 10);
		if (errno || *end || end == fds)
			n = 0;
	}
	ours = pid && fds && p == (unsigned long)getpid() && n >= 1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (!ours)
		return -1;
	if (getsockopt(3, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM)
		return kc_fail(st, KC_USAGE, "socket activation: descriptor 3 is not a stream socket");
	len = sizeof(acc);
	if (getsockopt(3, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) < 0)
		return kc_fail(st, KC_USAGE, "socket activation: descriptor 3: %s", strerror(errno));
	fcntl(3, F_SETFD, FD_CLOEXEC);
	*listening = acc != 0;
	if (*listening)
		fcntl(3, F_SETFL, fcntl(3, F_GETFL) | O_NONBLOCK);
	return 3;
}
