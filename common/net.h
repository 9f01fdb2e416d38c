/* net: address parsing, connecting and listening, with timeouts.  Sockets
 * are blocking; the idle limit is SO_RCVTIMEO/SO_SNDTIMEO, which also bounds
 * GnuTLS reads, sendfile() and splice() on the socket. */
#ifndef KTLSCP_NET_H
#define KTLSCP_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "diag.h"

#define NET_DEFAULT_PORT 7433

/* Split "HOST", "HOST:PORT", "[V6]" or "[V6]:PORT" into host and port (port
 * left unchanged when absent).  Returns 0 or -EINVAL. */
int net_parse_hostport(const char *arg, char *host, size_t hostsz, unsigned *port);

/* Connect to host:port within timeout_ms (0 = no limit); tries every address
 * of family (AF_UNSPEC, AF_INET or AF_INET6).  Returns the socket or -1 with
 * st set (KC_NET). */
int net_connect(const char *host, unsigned port, int family, int timeout_ms, struct kc_status *st);
/* As net_connect(), with TCP_MAXSEG set to mss before connecting (mss > 0):
 * the segment size bounds the bursts a paced connection sends. */
int net_connect_mss(const char *host, unsigned port, int family, int timeout_ms, int mss, struct kc_status *st);

/* Listen backlog: the kernel's default net.core.somaxconn since Linux 5.4;
 * listen(2) truncates it to the sysctl where that is lower. */
#define NET_BACKLOG 4096

/* Listen on addr (NULL = all addresses of family; AF_UNSPEC: IPv6 and IPv4)
 * and port (0 = any), backlog NET_BACKLOG.  With reuseport, SO_REUSEPORT is
 * set before bind, so that several sockets can share the port and the kernel
 * spreads new connections over them.  The socket is non-blocking (accept
 * only; accepted sockets are blocking).  Returns the socket or -1 with st. */
int net_listen(const char *addr, unsigned port, int family, bool reuseport, struct kc_status *st);

/* systemd socket activation (sd_listen_fds(3) protocol): when LISTEN_PID is
 * our pid and LISTEN_FDS is 1 or more, returns fd 3 (made close-on-exec and,
 * when listening, non-blocking) and sets *listening (SO_ACCEPTCONN); further
 * passed descriptors are ignored.  Returns -1 when nothing was passed, or -1
 * with st set (KC_USAGE) when fd 3 is not a stream socket.  Unsets
 * LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES in every case, so that no child
 * takes them for its own. */
int net_inherited(bool *listening, struct kc_status *st);

/* Accept one connection within timeout_ms (0 = forever); returns fd or -1. */
int net_accept(int lfd, int timeout_ms, struct kc_status *st);

/* Accept one waiting connection without blocking: the fd, or -EAGAIN when
 * none waits, or another -errno (EMFILE, ENFILE, ENOBUFS, ENOMEM: out of
 * resources; the connection stays queued). */
int net_accept_now(int lfd);

/* Set SO_RCVTIMEO/SO_SNDTIMEO (0 = none, clearing a previous limit),
 * TCP_NODELAY and keepalive on.  SO_RCVBUF/SO_SNDBUF stay unset on purpose:
 * setting them turns off the kernel's buffer autotuning (tcp_rmem/tcp_wmem),
 * which grows a connection's buffers to what its bandwidth-delay product
 * needs and keeps idle ones small. */
int net_tune(int fd, int idle_ms);

/* Peer / local address of a connected socket, formatted. */
char *net_peer_str(int fd, char *buf, size_t bufsz);
unsigned net_local_port(int fd);
/* Local address of a socket, formatted as net_addr_str does. */
char *net_local_str(int fd, char *buf, size_t bufsz);

#endif
