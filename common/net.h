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

/* Listen on addr (NULL = all addresses of family; AF_UNSPEC: IPv6 and IPv4)
 * and port (0 = any).  Returns the socket or -1 with st set. */
int net_listen(const char *addr, unsigned port, int family, struct kc_status *st);

/* Accept one connection within timeout_ms (0 = forever); returns fd or -1. */
int net_accept(int lfd, int timeout_ms, struct kc_status *st);

/* Set SO_RCVTIMEO/SO_SNDTIMEO (0 = none), TCP_NODELAY and keepalive on. */
int net_tune(int fd, int idle_ms);

/* Format an address as "1.2.3.4:5" or "[::1]:5". */
char *net_addr_str(const struct sockaddr *sa, socklen_t len, char *buf, size_t bufsz);
/* Peer / local address of a connected socket, formatted. */
char *net_peer_str(int fd, char *buf, size_t bufsz);
unsigned net_local_port(int fd);

#endif
