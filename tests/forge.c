/* forge: a deliberately misbehaving sender for the hostile-peer tests.  It
 * authenticates properly (token or PSK file) and then speaks the wire
 * protocol wrongly on purpose, using the project's own encoder without its
 * path checks.  What the receiver answered is printed on stdout.
 *
 *   forge HOST PORT TOKEN path RAWPATH     one file entry with this path
 *   forge HOST PORT TOKEN longpath N       a path of N bytes
 *   forge HOST PORT TOKEN nulpath          a path with a NUL byte
 *   forge HOST PORT TOKEN short            declare 1000 bytes, send 10, close
 *   forge HOST PORT TOKEN garbage          random bytes after the handshake
 */
#include "config.h"

#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chan.h"
#include "net.h"
#include "proto.h"
#include "tls.h"
#include <gnutls/crypto.h>

static void show_reply(struct chan *c)
{
	struct kc_status st = { 0 };
	const uint8_t *p;
	uint32_t len;
	uint8_t type;
	int rc;

	while ((rc = chan_recv_msg(c, &type, &p, &len, &st)) == 0) {
		if (type == PROTO_ERROR) {
			char text[PROTO_ERRTEXT_MAX + 1];
			uint8_t reason;

			proto_error_decode(p, len, &reason, text, sizeof(text));
			printf("ERROR %s: %s\n", proto_reason_str(reason), text);
			return;
		}
		if (type == PROTO_ACK) {
			struct proto_reply r;

			if (proto_reply_decode(PROTO_ACK, p, len, &r) == 0 && r.count > 0)
				printf("ACK %s\n", r.action[0] == PROTO_ACCEPT ? "accept" : "reject");
		} else {
			printf("%s\n", proto_type_str(type));
		}
	}
	printf("%s\n", rc == 1 ? "CLOSED" : st.msg);
}

int main(int argc, char **argv)
{
	struct kc_status st = { 0 };
	struct tls_opts o = { 0 };
	struct tls_ctx tc;
	struct ktls_info ki = { 0 };
	struct chan c;
	struct pbuf b = { 0 };
	struct proto_hello h = { PROTO_VERSION, 0, PROTO_BATCH_MAX, 0 };
	struct proto_entry e = { .kind = PROTO_KIND_FILE, .mode = 0644, .size = 4 };
	gnutls_session_t s;
	static char path[70000];
	size_t mark;
	unsigned n = 0;
	int fd;
	const char *mode;

	if (argc < 5) {
		fprintf(stderr, "usage: forge HOST PORT TOKEN MODE [ARG]\n");
		return 2;
	}
	mode = argv[4];
	o.token = argv[3];
	o.handshake_ms = 10000;
	if (tls_ctx_init(&tc, &o, &st) < 0 ||
	    (fd = net_connect(argv[1], (unsigned)atoi(argv[2]), AF_UNSPEC, 10000, &st)) < 0 ||
	    tls_handshake(&tc, fd, "receiver", &s, &st) < 0) {
		fprintf(stderr, "forge: %s\n", st.msg);
		return 1;
	}
	net_tune(fd, 10000);
	chan_init(&c, fd, s, &ki, "receiver");
	if (strcmp(mode, "garbage") == 0) {
		uint8_t junk[4096];

		gnutls_rnd(GNUTLS_RND_NONCE, junk, sizeof(junk));
		chan_write(&c, junk, sizeof(junk), false, &st);
		show_reply(&c);
		return 0;
	}
	proto_hello_encode(&b, &h);
	proto_batch_begin(&b, 1, &mark);
	if (strcmp(mode, "path") == 0 && argc > 5) {
		snprintf(path, sizeof(path), "%s", argv[5]);
		e.path_len = (uint16_t)strlen(path);
	} else if (strcmp(mode, "longpath") == 0 && argc > 5) {
		size_t len = (size_t)atol(argv[5]);

		memset(path, 'a', len < sizeof(path) ? len : sizeof(path) - 1);
		e.path_len = (uint16_t)(len > 65535 ? 65535 : len);
	} else if (strcmp(mode, "nulpath") == 0) {
		memcpy(path, "ok\0evil", 7);
		e.path_len = 7;
	} else if (strcmp(mode, "short") == 0) {
		strcpy(path, "short.bin");
		e.path_len = 9;
		e.size = 1000;
	} else {
		fprintf(stderr, "forge: unknown mode %s\n", mode);
		return 2;
	}
	e.path = path;
	proto_batch_add(&b, mark, &n, &e);
	proto_batch_finish(&b, mark, n, true);
	chan_write(&c, b.p, b.len, false, &st);
	if (strcmp(mode, "short") == 0) {
		const uint8_t *p;
		uint32_t len;
		uint8_t type;

		chan_recv_msg(&c, &type, &p, &len, &st);	/* HELLO */
		chan_recv_msg(&c, &type, &p, &len, &st);	/* ACK */
		chan_write(&c, "0123456789", 10, false, &st);
		/* Cut the connection without close_notify. */
		close(fd);
		printf("CUT\n");
		return 0;
	}
	if (strcmp(mode, "path") == 0 || strcmp(mode, "nulpath") == 0) {
		/* If the receiver wrongly accepts, send the body so that a file
		 * would really appear. */
		b.len = 0;
		chan_write(&c, "evil", 4, false, &st);
	}
	show_reply(&c);
	chan_free(&c);
	pbuf_free(&b);
	gnutls_deinit(s);
	tls_ctx_free(&tc);
	close(fd);
	return 0;
}
