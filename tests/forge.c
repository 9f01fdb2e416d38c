/* forge: a deliberately misbehaving peer for the hostile-peer and --verify
 * tests.  It authenticates properly (the test token as PSK, as ktlscp does)
 * and then speaks the wire protocol wrongly on purpose, using the project's
 * own encoder without its checks (or rightly, but with SUMS that may lie).
 * What the other end answered is printed on stdout, one line per message
 * ("ERROR <reason>: <text>", "CLOSED", ...).
 *
 * As a sender (connects to a receiver):
 *   forge HOST PORT TOKEN path RAWPATH     one file entry with this path
 *   forge HOST PORT TOKEN longpath N       a path of N bytes (at most 65535)
 *   forge HOST PORT TOKEN nulpath          a path with a NUL byte
 *   forge HOST PORT TOKEN short            declare 1000 bytes, send 10, close
 *   forge HOST PORT TOKEN extra            declare 10 bytes, send 10 + 64 KiB
 *   forge HOST PORT TOKEN garbage          random bytes after the handshake
 *   forge HOST PORT TOKEN announce         a BATCH whose count says 60000
 *   forge HOST PORT TOKEN flood N          N one-byte files, 256 a batch, as
 *                                          a correct sender would, until refused
 *   forge HOST PORT TOKEN dirflood N       -p; N directory entries, 256 a
 *                                          batch, the same 256 long paths in
 *                                          every batch
 *   forge HOST PORT TOKEN plan-start N     --resume; PLAN starts file "f"
 *                                          (100 bytes) at byte N
 *   forge HOST PORT TOKEN plan-count       --resume; PLAN for two entries of one
 *   forge HOST PORT TOKEN sums KIND TRUTH  --verify; one 100000-byte body named
 *                                          lie.bin (KIND file, or stream: two
 *                                          chunks), then SUMS with the SHA-256
 *                                          of those bytes (TRUTH good), of other
 *                                          bytes (bad), or none (nosum)
 *   forge HOST PORT TOKEN unknownbit       a HELLO asking for an option bit no
 *                                          version knows, a BATCH, nothing more
 *   forge HOST PORT TOKEN entries OPT SPEC...  one final BATCH of the entries
 *                                          SPEC, each f:PATH:SIZE (a file),
 *                                          d:PATH (a directory), l:PATH=TARGET
 *                                          (a symlink) or h:PATH=EARLIER (a hard
 *                                          link), with OPT one of plain, resume,
 *                                          preserve or links (-l -H); prints
 *                                          "ACK" and each entry's action
 *                                          (accept, skip, reject); then, unless
 *                                          resume or an accepted file is over
 *                                          1 MiB, the bodies ("x"s) and
 *                                          BATCH_END, and prints "DONE N
 *                                          failed" after DONE; then closes
 *   forge HOST PORT TOKEN replay FILE      send FILE as ktlscp send --tls 1.2
 *                                          --cipher aes-128-gcm would, across
 *                                          follow-up connections (lower the
 *                                          key-use limit with
 *                                          KTLSCP_KEY_RECORD_LIMIT); at each
 *                                          switch, before the real follow-up,
 *                                          try one with a random secret
 *                                          ("wrong", the first switch) and one
 *                                          with the secret the last switch used
 *                                          ("replay", the later ones), printing
 *                                          "REFUSED wrong" / "ACCEPTED wrong"
 *                                          and so on; then "SWITCHES N" and
 *                                          "DONE ok" or "DONE failed: <why>"
 *   forge HOST PORT TOKEN replay FILE stall   the same, and before those at
 *                                          each switch a connection that sends
 *                                          a ClientHello and then nothing (kept
 *                                          open to the end)
 * The last two print only the receiver's verdict, "DONE ok", "DONE failed:
 * <reason>" or "ERROR <reason>: <text>", and exit 0 only for DONE ok.
 * A sender waits at most 10 s for each answer, or KTLSCP_FORGE_IDLE seconds
 * (for batches whose honest work, such as syncing thousands of new
 * directories, takes longer than that on a loaded machine).
 *
 * As a receiver (listens on 127.0.0.1, a free port, which it names on stderr
 * as "listening on 127.0.0.1 port N"; serves one sender):
 *   forge recv TOKEN CASE
 * CASE is one of
 *   close          close_notify right after the handshake
 *   reset          TCP reset right after the handshake
 *   fin            read HELLO and BATCH, then close without close_notify
 *   garbage        random bytes instead of HELLO
 *   huge           a message header with a 4 GiB length
 *   stall          HELLO, then silence
 *   hello-version  a HELLO of protocol version 2
 *   error-ctrl     HELLO, then ERROR whose text has control characters
 *   ack-beyond     ACK offers to resume the first file past its end
 *   ack-dir        ACK offers to resume the first entry (a directory)
 *   ack-extra      ACK with one entry more than the batch
 *   ack-fewer      ACK with one entry less than the batch
 *   ack-hashlen    ACK with a 16-byte prefix hash
 *   ack-seq        ACK for batch 2 when batch 1 was sent
 *   ack-skip       ACK skips every file (not asked for: no -n, no --update)
 *   done-rejected  ACK rejects every file; DONE says all were stored
 *   done-early     ACK, then DONE at once, before any body arrived
 *   done-extra     DONE with one entry more than the batch
 *   done-seq       DONE for batch 9
 *   done-fail      DONE fails the first file (I/O error), honestly
 */
#include "config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "chan.h"
#include "net.h"
#include "proto.h"
#include "sender.h"
#include "tls.h"

static struct proto_batch batch;	/* large: not on the stack */
static struct proto_reply reply;

/* Print an ERROR message's body as "ERROR <reason>: <text>". */
static void print_error(const uint8_t *p, uint32_t len)
{
	char text[PROTO_ERRTEXT_MAX + 1];
	uint8_t reason;

	proto_error_decode(p, len, &reason, text, sizeof(text));
	printf("ERROR %s: %s\n", proto_reason_str(reason), text);
}

/* Print what the peer says, a line a message, until it sends an ERROR,
 * closes ("CLOSED") or breaks off (the error).  With verdict, only the
 * verdict on a one-entry batch: HELLO and ACK are passed over, and the
 * first other message ends it, a DONE as "DONE ok" or "DONE failed:
 * <reason>".  Returns 0 after DONE ok, else 1. */
static int show_reply(struct chan *c, bool verdict)
{
	struct kc_status st = { 0 };
	const uint8_t *p;
	uint32_t len;
	uint8_t type;
	int rc;

	while ((rc = chan_recv_msg(c, &type, &p, &len, &st)) == 0) {
		if (type == PROTO_ERROR) {
			print_error(p, len);
			return 1;
		}
		if (verdict) {
			if (type == PROTO_HELLO || type == PROTO_ACK)
				continue;
			if (type == PROTO_DONE && proto_reply_decode(PROTO_DONE, p, len, &reply) == 0 &&
			    reply.count == 1) {
				if (reply.action[0] == 0)
					printf("DONE ok\n");
				else
					printf("DONE failed: %s\n", proto_reason_str(reply.reason[0]));
				return reply.action[0] != 0;
			}
			printf("unexpected %s\n", proto_type_str(type));
			return 1;
		}
		if (type == PROTO_ACK) {
			struct proto_reply r;

			if (proto_reply_decode(PROTO_ACK, p, len, &r) == 0 && r.count > 0)
				printf("ACK %s\n", r.action[0] == PROTO_ACCEPT ? "accept" : "reject");
		} else {
			printf("%s\n", proto_type_str(type));
		}
	}
	printf("%s\n", rc == 1 ? "CLOSED" : kc_msg(&st));
	return 1;
}

/* Read one message; an ERROR or the end is printed and gives -1. */
static int expect(struct chan *c, uint8_t want, const uint8_t **p, uint32_t *len)
{
	struct kc_status st = { 0 };
	uint8_t type;
	int rc = chan_recv_msg(c, &type, p, len, &st);

	if (rc == 0 && type == want)
		return 0;
	if (rc == 0 && type == PROTO_ERROR)
		print_error(*p, *len);
	else if (rc == 0)
		printf("unexpected %s\n", proto_type_str(type));
	else
		printf("%s\n", rc == 1 ? "CLOSED" : kc_msg(&st));
	return -1;
}

static int send_buf(struct chan *c, struct pbuf *b)
{
	struct kc_status st = { 0 };

	return chan_write(c, b->p, b->len, false, &st);
}

static void put_be(uint8_t *p, uint64_t v, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

/* ---- as a sender ------------------------------------------------------- */

/* flood: a correct sender of n one-byte files "fK-I", 256 per batch, in the
 * order of ktlscp(1) WIRE PROTOCOL, until the receiver refuses.  Batch k's
 * count, finality and the receiver's actions live in slot k % 2. */
struct flood {
	struct chan *c;
	bool dirs;			/* dirflood */
	unsigned long n, sent;
	unsigned count[2];
	bool final[2];
	uint8_t act[2][PROTO_BATCH_MAX];
	struct pbuf b;
};

/* Append BATCH seq to f->b. */
static void flood_announce(struct flood *f, unsigned seq)
{
	struct proto_entry e = { .kind = PROTO_KIND_FILE, .mode = 0644, .size = 1 };
	char path[4000];
	size_t mark;
	unsigned cnt = 0;

	if (f->dirs) {
		e.kind = PROTO_KIND_DIR;
		e.mode = 0755;
		e.size = 0;
	}
	proto_batch_begin(&f->b, seq, &mark);
	while (cnt < PROTO_BATCH_MAX && f->sent < f->n) {
		if (f->dirs)
			e.path_len = (uint16_t)snprintf(path, sizeof(path), "%0255u/%0255u/%0255u/%0255u/%0255u/%0255u/%0255u/%0255u/%0255u/%0255u/%0255u/%0255u/d%u",
							0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, cnt);
		else
			e.path_len = (uint16_t)snprintf(path, sizeof(path), "f%u-%u", seq, cnt);
		e.path = path;
		proto_batch_add(&f->b, mark, &cnt, &e);
		f->sent++;
	}
	f->count[seq % 2] = cnt;
	f->final[seq % 2] = f->sent == f->n;
	proto_batch_finish(&f->b, mark, cnt, f->sent == f->n);
}

static int flood_ack(struct flood *f, unsigned seq)
{
	const uint8_t *p;
	uint32_t len;

	if (expect(f->c, PROTO_ACK, &p, &len) < 0 || proto_reply_decode(PROTO_ACK, p, len, &reply) < 0)
		return -1;
	memcpy(f->act[seq % 2], reply.action, PROTO_BATCH_MAX);
	return 0;
}

/* The bodies ("x" each) and BATCH_END of batch seq. */
static int flood_bodies(struct flood *f, unsigned seq)
{
	static uint8_t body[PROTO_BATCH_MAX];
	struct kc_status st = { 0 };
	unsigned i, nbody = 0;

	memset(body, 'x', sizeof(body));
	for (i = 0; i < f->count[seq % 2] && !f->dirs; i++)
		nbody += f->act[seq % 2][i] == PROTO_ACCEPT;
	memset(&reply, 0, sizeof(reply));
	reply.seq = seq;
	reply.count = f->count[seq % 2];
	f->b.len = 0;
	proto_reply_encode(&f->b, PROTO_BATCH_END, &reply);
	if (chan_write(f->c, body, nbody, true, &st) < 0)
		return -1;
	return send_buf(f->c, &f->b);
}

static int flood(struct chan *c, unsigned long n, bool dirs)
{
	struct proto_hello h = { PROTO_VERSION, 0, PROTO_BATCH_MAX, dirs ? PROTO_OPT_PRESERVE : 0 };
	struct flood f = { .c = c, .n = n, .dirs = dirs };
	const uint8_t *p;
	uint32_t len;
	unsigned k;

	proto_hello_encode(&f.b, &h);
	flood_announce(&f, 1);
	if (send_buf(c, &f.b) < 0 || expect(c, PROTO_HELLO, &p, &len) < 0 || flood_ack(&f, 1) < 0)
		goto out;
	for (k = 1;; k++) {
		if (!f.final[k % 2]) {
			if (k > 1 && expect(c, PROTO_DONE, &p, &len) < 0)
				goto out;
			f.b.len = 0;
			flood_announce(&f, k + 1);
			if (send_buf(c, &f.b) < 0)
				goto out;
		}
		if (flood_bodies(&f, k) < 0)
			goto out;
		if (f.final[k % 2])
			break;
		if (flood_ack(&f, k + 1) < 0)
			goto out;
	}
	if ((k > 1 && expect(c, PROTO_DONE, &p, &len) < 0) || expect(c, PROTO_DONE, &p, &len) < 0)
		goto out;
	chan_close_notify(c);
	printf("SENT %lu\n", f.sent);
out:
	pbuf_free(&f.b);
	return 0;
}

/* entries: one final BATCH as the SPECs say (see the top of the file);
 * the receiver's ACK (or ERROR) is printed, then, where the bodies are
 * small, they and BATCH_END are sent and the DONE is printed. */
static int entries(struct chan *c, const char *opt, int n, char **spec)
{
	struct proto_hello h = { PROTO_VERSION, 0, PROTO_BATCH_MAX, 0 };
	struct proto_entry e = { .mode = 0755 };
	struct pbuf b = { 0 };
	const uint8_t *p;
	uint32_t len;
	unsigned cnt = 0, i;
	size_t mark;
	int k;

	h.opts = strcmp(opt, "resume") == 0 ? PROTO_OPT_RESUME
		 : strcmp(opt, "preserve") == 0 ? PROTO_OPT_PRESERVE
		 : strcmp(opt, "links") == 0 ? PROTO_OPT_LINKS | PROTO_OPT_HARDLINKS : 0;
	proto_hello_encode(&b, &h);
	proto_batch_begin(&b, 1, &mark);
	for (k = 0; k < n; k++) {
		static char path[70000];
		char *colon;

		snprintf(path, sizeof(path), "%s", spec[k] + 2);
		e.kind = spec[k][0] == 'd' ? PROTO_KIND_DIR : spec[k][0] == 'l' ? PROTO_KIND_SYMLINK
		       : spec[k][0] == 'h' ? PROTO_KIND_HARDLINK : PROTO_KIND_FILE;
		e.size = 0;
		e.target_len = 0;
		if (PROTO_KIND_IS_LINK(e.kind)) {
			/* l:NAME=TARGET, h:NAME=EARLIER-PATH */
			char *eq = strchr(path, '=');

			*eq = '\0';
			e.target = eq + 1;
			e.target_len = (uint16_t)strlen(eq + 1);
		}
		colon = e.kind == PROTO_KIND_FILE ? strrchr(path, ':') : NULL;
		if (colon) {
			*colon = '\0';
			e.size = strtoull(colon + 1, NULL, 10);
		}
		e.path = path;
		e.path_len = (uint16_t)strlen(path);
		proto_batch_add(&b, mark, &cnt, &e);
	}
	proto_batch_finish(&b, mark, cnt, true);
	/* Our own batch, read back: the sizes, for the bodies. */
	proto_batch_decode(b.p + mark + PROTO_HDR_LEN, b.len - mark - PROTO_HDR_LEN, &batch);
	if (send_buf(c, &b) == 0 && expect(c, PROTO_HELLO, &p, &len) == 0 &&
	    expect(c, PROTO_ACK, &p, &len) == 0 && proto_reply_decode(PROTO_ACK, p, len, &reply) == 0) {
		printf("ACK");
		for (i = 0; i < reply.count; i++)
			printf(" %s", reply.action[i] == PROTO_ACCEPT ? "accept"
				      : reply.action[i] == PROTO_SKIP ? "skip" : "reject");
		printf("\n");
	} else {
		goto out;
	}
	if (h.opts & PROTO_OPT_RESUME)
		goto out;
	for (i = 0; i < batch.count; i++)
		if (reply.action[i] == PROTO_ACCEPT && batch.e[i].size > (1u << 20))
			goto out;
	for (i = 0; i < batch.count; i++) {
		static uint8_t x[1u << 20];
		struct kc_status st = { 0 };

		memset(x, 'x', sizeof(x));
		if (reply.action[i] == PROTO_ACCEPT && batch.e[i].size > 0 &&
		    chan_write(c, x, (size_t)batch.e[i].size, true, &st) < 0)
			goto out;
	}
	memset(&reply, 0, sizeof(reply));
	reply.seq = 1;
	reply.count = batch.count;
	b.len = 0;
	proto_reply_encode(&b, PROTO_BATCH_END, &reply);
	if (send_buf(c, &b) == 0 && expect(c, PROTO_DONE, &p, &len) == 0 &&
	    proto_reply_decode(PROTO_DONE, p, len, &reply) == 0) {
		unsigned failed = 0;

		for (i = 0; i < reply.count; i++)
			failed += reply.action[i] != 0;
		printf("DONE %u failed\n", failed);
		chan_close_notify(c);
	}
out:
	pbuf_free(&b);
	return 0;
}

/* sums and unknownbit: a sender asking for --verify, whose SUMS may lie
 * (see the top of the file).  Returns what show_reply() does. */
#define LIE_BODY 100000

static int lie(struct chan *c, bool unknown, bool stream, const char *truth)
{
	struct kc_status st = { 0 };
	struct pbuf b = { 0 };
	struct proto_hello h = { PROTO_VERSION, 0, PROTO_BATCH_MAX, PROTO_OPT_VERIFY };
	struct proto_entry e = { .kind = PROTO_KIND_FILE, .mode = 0644, .size = LIE_BODY,
				 .path = "lie.bin", .path_len = 7 };
	static uint8_t body[LIE_BODY];
	size_t mark;
	unsigned n = 0, i;
	int rc;

	if (unknown)
		h.opts |= UINT32_C(1) << 31;
	proto_hello_encode(&b, &h);
	if (stream) {
		e.kind = PROTO_KIND_STREAM;
		e.size = 0;
	}
	proto_batch_begin(&b, 1, &mark);
	proto_batch_add(&b, mark, &n, &e);
	proto_batch_finish(&b, mark, n, true);
	chan_write(c, b.p, b.len, false, &st);
	if (unknown) {
		rc = show_reply(c, true);
		goto out;
	}
	for (i = 0; i < LIE_BODY; i++)
		body[i] = (uint8_t)(i * 7 + 3);
	if (stream) {
		/* Two chunks of LIE_BODY / 2 (u32 length, bytes), then the end. */
		static const uint8_t hdr[4] = { 0, 0, (LIE_BODY / 2) >> 8, (LIE_BODY / 2) & 0xff };
		static const uint8_t end[4] = { 0 };

		chan_write(c, hdr, 4, true, &st);
		chan_write(c, body, LIE_BODY / 2, true, &st);
		chan_write(c, hdr, 4, true, &st);
		chan_write(c, body + LIE_BODY / 2, LIE_BODY / 2, true, &st);
		chan_write(c, end, 4, true, &st);
	} else {
		chan_write(c, body, LIE_BODY, true, &st);
	}
	memset(&reply, 0, sizeof(reply));
	reply.seq = 1;
	reply.count = 1;
	if (strcmp(truth, "nosum") != 0) {
		reply.hashlen[0] = PROTO_HASH_LEN;
		gnutls_hash_fast(GNUTLS_DIG_SHA256, body, LIE_BODY, reply.hash[0]);
		if (strcmp(truth, "bad") == 0)
			reply.hash[0][0] ^= 1;
	}
	b.len = 0;
	proto_reply_encode(&b, PROTO_SUMS, &reply);
	memset(&reply, 0, sizeof(reply));
	reply.seq = 1;
	reply.count = 1;
	proto_reply_encode(&b, PROTO_BATCH_END, &reply);
	if (chan_write(c, b.p, b.len, false, &st) < 0)
		fprintf(stderr, "forge: %s\n", kc_msg(&st));
	rc = show_reply(c, true);
	chan_close_notify(c);
out:
	pbuf_free(&b);
	return rc;
}

static int sender_main(int argc, char **argv)
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
	const char *mode = argv[4];
	const uint8_t *p;
	uint32_t len;
	uint8_t type;
	int rc = 0;

	o.token = argv[3];
	o.handshake_ms = 10000;
	if (tls_ctx_init(&tc, &o, &st) < 0 ||
	    (fd = net_connect(argv[1], (unsigned)atoi(argv[2]), AF_UNSPEC, 10000, &st)) < 0 ||
	    tls_handshake(&tc, fd, "receiver", &s, &st) < 0) {
		fprintf(stderr, "forge: %s\n", kc_msg(&st));
		return 1;
	}
	net_tune(fd, getenv("KTLSCP_FORGE_IDLE") ? atoi(getenv("KTLSCP_FORGE_IDLE")) * 1000 : 10000);
	chan_init(&c, fd, s, &ki, "receiver", NULL);
	if (strcmp(mode, "sums") == 0 || strcmp(mode, "unknownbit") == 0) {
		rc = lie(&c, mode[0] == 'u', argc > 5 && strcmp(argv[5], "stream") == 0,
			 argc > 6 ? argv[6] : "good");
		goto out;
	}
	if (strcmp(mode, "garbage") == 0) {
		uint8_t junk[4096];

		gnutls_rnd(GNUTLS_RND_NONCE, junk, sizeof(junk));
		chan_write(&c, junk, sizeof(junk), false, &st);
		show_reply(&c, false);
		return 0;
	}
	if (strcmp(mode, "flood") == 0 && argc > 5)
		return flood(&c, strtoul(argv[5], NULL, 10), false);
	if (strcmp(mode, "dirflood") == 0 && argc > 5)
		return flood(&c, strtoul(argv[5], NULL, 10), true);
	if (strcmp(mode, "entries") == 0 && argc > 6)
		return entries(&c, argv[5], argc - 6, argv + 6);
	if (strncmp(mode, "plan-", 5) == 0)
		h.opts = PROTO_OPT_RESUME;
	proto_hello_encode(&b, &h);
	proto_batch_begin(&b, 1, &mark);
	if (strcmp(mode, "path") == 0 && argc > 5) {
		snprintf(path, sizeof(path), "%s", argv[5]);
		e.path_len = (uint16_t)strlen(path);
	} else if (strcmp(mode, "longpath") == 0 && argc > 5) {
		size_t want = (size_t)atol(argv[5]);

		memset(path, 'a', want < sizeof(path) ? want : sizeof(path) - 1);
		e.path_len = (uint16_t)(want > 65535 ? 65535 : want);
	} else if (strcmp(mode, "nulpath") == 0) {
		memcpy(path, "ok\0evil", 7);
		e.path_len = 7;
	} else if (strcmp(mode, "short") == 0) {
		strcpy(path, "short.bin");
		e.path_len = 9;
		e.size = 1000;
	} else if (strcmp(mode, "extra") == 0) {
		strcpy(path, "extra.bin");
		e.path_len = 9;
		e.size = 10;
	} else if (strcmp(mode, "announce") == 0) {
		strcpy(path, "one");
		e.path_len = 3;
	} else if (strcmp(mode, "plan-start") == 0 || strcmp(mode, "plan-count") == 0) {
		strcpy(path, "f");
		e.path_len = 1;
		e.size = 100;
	} else {
		fprintf(stderr, "forge: unknown mode %s\n", mode);
		return 2;
	}
	e.path = path;
	proto_batch_add(&b, mark, &n, &e);
	proto_batch_finish(&b, mark, n, true);
	if (strcmp(mode, "announce") == 0)
		put_be(b.p + mark + PROTO_HDR_LEN + 5, 60000, 2);	/* the count field */
	chan_write(&c, b.p, b.len, false, &st);
	if (strcmp(mode, "short") == 0) {
		chan_recv_msg(&c, &type, &p, &len, &st);	/* HELLO */
		chan_recv_msg(&c, &type, &p, &len, &st);	/* ACK */
		chan_write(&c, "0123456789", 10, false, &st);
		/* Cut the connection without close_notify. */
		close(fd);
		printf("CUT\n");
		return 0;
	}
	if (strcmp(mode, "extra") == 0) {
		static uint8_t more[10 + 65536];
		struct proto_reply *r = &reply;

		if (expect(&c, PROTO_HELLO, &p, &len) < 0 || expect(&c, PROTO_ACK, &p, &len) < 0)
			return 0;
		/* The body, then 64 KiB nobody announced, then an honest
		 * BATCH_END: whatever the receiver makes of the extra bytes,
		 * it must not store the file. */
		memcpy(more, "0123456789", 10);
		memset(more + 10, 'A', sizeof(more) - 10);
		memset(r, 0, sizeof(*r));
		r->seq = 1;
		r->count = 1;
		b.len = 0;
		proto_reply_encode(&b, PROTO_BATCH_END, r);
		chan_write(&c, more, sizeof(more), true, &st);
		chan_write(&c, b.p, b.len, false, &st);
	}
	if (strncmp(mode, "plan-", 5) == 0) {
		struct proto_reply *r = &reply;

		if (expect(&c, PROTO_HELLO, &p, &len) < 0 || expect(&c, PROTO_ACK, &p, &len) < 0)
			return 0;
		memset(r, 0, sizeof(*r));
		r->seq = 1;
		r->count = strcmp(mode, "plan-count") == 0 ? 2 : 1;
		r->offset[0] = strcmp(mode, "plan-start") == 0 && argc > 5 ? strtoull(argv[5], NULL, 10) : 0;
		b.len = 0;
		proto_reply_encode(&b, PROTO_PLAN, r);
		chan_write(&c, b.p, b.len, false, &st);
		/* If the receiver wrongly goes on: the rest of the body. */
		memset(path, 'x', 100);
		chan_write(&c, path, r->offset[0] <= 100 ? 100 - (size_t)r->offset[0] : 0, true, &st);
		r->count = 1;
		r->offset[0] = 0;
		b.len = 0;
		proto_reply_encode(&b, PROTO_BATCH_END, r);
		chan_write(&c, b.p, b.len, false, &st);
	}
	if (strcmp(mode, "path") == 0 || strcmp(mode, "nulpath") == 0) {
		/* If the receiver wrongly accepts, send the body so that a file
		 * would really appear. */
		b.len = 0;
		chan_write(&c, "evil", 4, false, &st);
	}
	show_reply(&c, false);
out:
	chan_free(&c);
	pbuf_free(&b);
	gnutls_deinit(s);
	tls_ctx_free(&tc);
	close(fd);
	return rc;
}

/* ---- as a receiver ----------------------------------------------------- */

/* After misbehaving: end our side cleanly, print what the sender says
 * (its ERROR, normally), then wait for it to go. */
static void finish(struct chan *c)
{
	chan_close_notify(c);
	show_reply(c, false);
	chan_wait_close(c);
}

/* Read the bodies of the accepted files of batch and its BATCH_END. */
static int take_bodies(struct chan *c, const struct proto_reply *ack)
{
	static uint8_t sink[256 * 1024];
	struct kc_status st = { 0 };
	const uint8_t *p;
	uint32_t len;
	unsigned i;

	for (i = 0; i < batch.count; i++) {
		uint64_t left = batch.e[i].kind == PROTO_KIND_FILE && ack->action[i] == PROTO_ACCEPT
					? batch.e[i].size : 0;

		while (left > 0) {
			size_t k = left > sizeof(sink) ? sizeof(sink) : (size_t)left;

			if (chan_read_exact(c, sink, k, &st) < 0) {
				printf("%s\n", kc_msg(&st));
				return -1;
			}
			left -= k;
		}
	}
	return expect(c, PROTO_BATCH_END, &p, &len);
}

static int send_reply(struct chan *c, enum proto_type type, const struct proto_reply *r)
{
	struct pbuf b = { 0 };
	int rc = proto_reply_encode(&b, type, r) ?: send_buf(c, &b);

	pbuf_free(&b);
	return rc;
}

/* One answer to the sender's HELLO and BATCH 1, wrong in the way cs says. */
static int misbehave(struct chan *c, int fd, const char *cs)
{
	struct kc_status st = { 0 };
	struct proto_hello h = { PROTO_VERSION, 0, PROTO_BATCH_MAX, 0 };
	struct pbuf b = { 0 };
	const uint8_t *p;
	uint32_t len;
	unsigned i;

	if (strcmp(cs, "close") == 0) {
		chan_close_notify(c);
		chan_wait_close(c);
		return 0;
	}
	if (strcmp(cs, "reset") == 0) {
		struct linger l = { 1, 0 };

		setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		close(fd);
		return 0;
	}
	if (strcmp(cs, "garbage") == 0 || strcmp(cs, "huge") == 0) {
		uint8_t junk[4096];
		size_t n = sizeof(junk);

		gnutls_rnd(GNUTLS_RND_NONCE, junk, sizeof(junk));
		if (strcmp(cs, "huge") == 0) {
			junk[0] = PROTO_ACK;
			put_be(junk + 1, 0xffffffffu, 4);
			n = PROTO_HDR_LEN;
		}
		chan_write(c, junk, n, false, &st);
		finish(c);
		return 0;
	}
	if (expect(c, PROTO_HELLO, &p, &len) < 0 || expect(c, PROTO_BATCH, &p, &len) < 0)
		return 1;
	if (proto_batch_decode(p, len, &batch) < 0) {
		printf("bad BATCH from the sender\n");
		return 1;
	}
	if (strcmp(cs, "fin") == 0) {
		shutdown(fd, SHUT_WR);	/* no close_notify */
		chan_wait_close(c);
		return 0;
	}
	if (strcmp(cs, "hello-version") == 0)
		h.version = 2;
	proto_hello_encode(&b, &h);
	send_buf(c, &b);
	pbuf_free(&b);
	if (strcmp(cs, "stall") == 0) {
		/* Silence until the sender gives up. */
		chan_wait_close(c);
		return 0;
	}
	if (strcmp(cs, "hello-version") == 0) {
		finish(c);
		return 0;
	}
	if (strcmp(cs, "error-ctrl") == 0) {
		proto_error_encode(&b, PR_OTHER, "disk on fire\x1b[2J\x1b]0;owned\x07\r\nktlscp: all files stored\b");
		send_buf(c, &b);
		pbuf_free(&b);
		finish(c);
		return 0;
	}

	/* An ACK accepting everything, then changed as the case says. */
	memset(&reply, 0, sizeof(reply));
	reply.seq = batch.seq;
	reply.count = batch.count;
	if (strcmp(cs, "ack-beyond") == 0 || strcmp(cs, "ack-dir") == 0) {
		reply.offset[0] = batch.e[0].size + (strcmp(cs, "ack-beyond") == 0 ? 1000 : 1);
		reply.hashlen[0] = PROTO_HASH_LEN;
		gnutls_rnd(GNUTLS_RND_NONCE, reply.hash[0], PROTO_HASH_LEN);
	} else if (strcmp(cs, "ack-extra") == 0) {
		reply.count = batch.count + 1;
	} else if (strcmp(cs, "ack-fewer") == 0) {
		reply.count = batch.count - 1;
	} else if (strcmp(cs, "ack-seq") == 0) {
		reply.seq = batch.seq + 1;
	} else if (strcmp(cs, "ack-skip") == 0 || strcmp(cs, "done-rejected") == 0) {
		for (i = 0; i < batch.count; i++)
			if (batch.e[i].kind == PROTO_KIND_FILE) {
				reply.action[i] = cs[0] == 'a' ? PROTO_SKIP : PROTO_REJECT;
				reply.reason[i] = cs[0] == 'a' ? PR_EXISTS : PR_PERM;
			}
	}
	if (strcmp(cs, "ack-hashlen") == 0) {
		/* Encoded by hand: the encoder allows only 0 or 32. */
		uint8_t m[PROTO_HDR_LEN + 6 + PROTO_BATCH_MAX * 27], *q = m + PROTO_HDR_LEN;

		put_be(q, batch.seq, 4);
		put_be(q + 4, batch.count, 2);
		q += 6;
		for (i = 0; i < batch.count; i++) {
			memset(q, 0, 27);
			put_be(q + 2, 1, 8);	/* offset 1 */
			q[10] = 16;		/* a 16-byte hash follows */
			q += 27;
		}
		m[0] = PROTO_ACK;
		put_be(m + 1, (uint64_t)(q - m - PROTO_HDR_LEN), 4);
		chan_write(c, m, (size_t)(q - m), false, &st);
		finish(c);
		return 0;
	}
	send_reply(c, PROTO_ACK, &reply);
	if (strncmp(cs, "ack-", 4) == 0 && strcmp(cs, "ack-skip") != 0) {
		finish(c);
		return 0;
	}

	/* The DONE cases (and ack-skip, which then behaves). */
	if (strcmp(cs, "done-early") != 0 && take_bodies(c, &reply) < 0)
		return 1;
	reply.seq = batch.seq;
	reply.count = batch.count;
	memset(reply.action, 0, sizeof(reply.action));
	memset(reply.reason, 0, sizeof(reply.reason));
	memset(reply.offset, 0, sizeof(reply.offset));
	if (strcmp(cs, "done-extra") == 0) {
		reply.count = batch.count + 1;
	} else if (strcmp(cs, "done-seq") == 0) {
		reply.seq = 9;
	} else if (strcmp(cs, "done-fail") == 0) {
		reply.action[0] = 1;
		reply.reason[0] = PR_IO;
	}
	send_reply(c, PROTO_DONE, &reply);
	finish(c);
	return 0;
}

/* replay: the secret the last follow-up used, to try again at the next. */
static uint8_t used_key[PROTO_RECONN_KEY];
static bool have_used;
/* replay ... stall: the connections left hanging after their ClientHello. */
static bool stall;
static int stalled[64];
static unsigned nstalled;

/* One follow-up handshake to port with key: the session in *s, or -1
 * (with the connection closed). */
static int follow_up(gnutls_session_t like, unsigned port, const uint8_t *key, int *fd,
		     gnutls_session_t *s, struct kc_status *st)
{
	*fd = net_connect("127.0.0.1", port, AF_INET, 10000, st);
	if (*fd < 0)
		return -1;
	net_tune(*fd, 10000);
	if (tls_handshake_bound(like, false, *fd, key, 10000, "receiver", s, st) < 0) {
		close(*fd);
		*fd = -1;
		return -1;
	}
	return 0;
}

/* A forged follow-up, named what: REFUSED (the receiver would not have it)
 * or ACCEPTED (it did: the test fails). */
static void forged_follow_up(gnutls_session_t like, unsigned port, const uint8_t *key, const char *what)
{
	struct kc_status st = { 0 };
	gnutls_session_t s = NULL;
	int fd;

	if (follow_up(like, port, key, &fd, &s, &st) < 0) {
		printf("REFUSED %s\n", what);
		return;
	}
	printf("ACCEPTED %s\n", what);
	gnutls_deinit(s);
	close(fd);
}

static int replay_connect(int oldfd, gnutls_session_t like, unsigned port, const uint8_t *key,
			  int *fd, gnutls_session_t *s, struct ktls_info *ki, struct kc_status *st)
{
	uint8_t wrong[PROTO_RECONN_KEY];

	(void)oldfd;
	if (stall && nstalled < sizeof(stalled) / sizeof(stalled[0])) {
		struct kc_status ignore = { 0 };
		gnutls_session_t hs = NULL;
		int sfd = net_connect("127.0.0.1", port, AF_INET, 10000, &ignore);

		/* Non-blocking: the handshake sends its ClientHello and gives up
		 * at once, waiting for nothing; the connection stays open. */
		if (sfd >= 0) {
			gnutls_rnd(GNUTLS_RND_RANDOM, wrong, sizeof(wrong));
			fcntl(sfd, F_SETFL, O_NONBLOCK);
			tls_handshake_bound(like, false, sfd, wrong, 0, "receiver", &hs, &ignore);
			if (hs)
				gnutls_deinit(hs);
			stalled[nstalled++] = sfd;
		}
	}
	if (have_used) {
		forged_follow_up(like, port, used_key, "replay");
	} else {
		gnutls_rnd(GNUTLS_RND_RANDOM, wrong, sizeof(wrong));
		forged_follow_up(like, port, wrong, "wrong");
	}
	memset(ki, 0, sizeof(*ki));
	if (follow_up(like, port, key, fd, s, st) < 0)
		return -1;
	memcpy(used_key, key, sizeof(used_key));
	have_used = true;
	return 0;
}

static const struct chan_reconn replay_ops = { .connect = replay_connect };

/* forge HOST PORT TOKEN replay FILE (see the top). */
static int replay_main(char **argv)
{
	struct kc_status st = { 0 };
	struct tls_opts o = { .token = argv[3], .handshake_ms = 10000, .version = 12,
			      .cipher = "aes-128-gcm" };
	struct tls_ctx tc;
	struct ktls_info ki = { 0 };
	struct xfer_stats stats = { .role = "send" };
	struct send_opts so = { .paths = &argv[5], .npaths = 1 };
	const char *lim = getenv("KTLSCP_KEY_RECORD_LIMIT");
	struct chan_conf cc = {
		.idle_ms = 10000,
		.key_record_limit = lim ? strtoull(lim, NULL, 10) : 0,
		.reconn = &replay_ops,
		.client = true,
		.reconnects = &stats.reconnects,
	};
	struct chan c = { 0 };
	gnutls_session_t s = NULL;
	int fd = -1, rc = 1;

	if (tls_ctx_init(&tc, &o, &st) < 0 ||
	    (fd = net_connect(argv[1], (unsigned)atoi(argv[2]), AF_UNSPEC, 10000, &st)) < 0 ||
	    tls_handshake(&tc, fd, "receiver", &s, &st) < 0) {
		fprintf(stderr, "forge: %s\n", kc_msg(&st));
		goto out;
	}
	net_tune(fd, 10000);
	if (chan_init(&c, fd, s, &ki, "receiver", &cc) < 0) {
		fprintf(stderr, "forge: out of memory\n");
		goto out;
	}
	rc = sender_run(&c, &so, &stats, &st) < 0;
	printf("SWITCHES %u\n", stats.reconnects);
	if (rc)
		printf("DONE failed: %s\n", kc_msg(&st));
	else
		printf("DONE ok\n");
out:
	chan_free(&c);
	if (s)
		gnutls_deinit(s);
	if (fd >= 0)
		close(fd);
	tls_ctx_free(&tc);
	gnutls_memset(used_key, 0, sizeof(used_key));
	while (nstalled > 0)
		close(stalled[--nstalled]);
	return rc;
}

/* A listening socket on 127.0.0.1 and a free port (*port), or -1.  Plain
 * sockets: the test tool needs none of net_listen()'s options. */
static int listen_local(unsigned *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &alen) < 0) {
		perror("forge: listen");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

/* The first sender within two minutes, or -1. */
static int accept_one(int lfd)
{
	struct pollfd p = { lfd, POLLIN, 0 };

	if (poll(&p, 1, 120000) != 1) {
		fprintf(stderr, "forge: no sender came\n");
		return -1;
	}
	return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

static int recv_main(const char *token, const char *cs)
{
	struct kc_status st = { 0 };
	struct tls_opts o = { 0 };
	struct tls_ctx tc;
	struct ktls_info ki = { 0 };
	struct chan c;
	gnutls_session_t s = NULL;
	int lfd = -1, fd = -1, rc = 1;
	unsigned port;

	o.server = true;
	o.token = token;
	o.handshake_ms = 10000;
	if (tls_ctx_init(&tc, &o, &st) < 0 || (lfd = listen_local(&port)) < 0)
		goto out;
	fprintf(stderr, "forge: listening on 127.0.0.1 port %u\n", port);
	if ((fd = accept_one(lfd)) < 0 || tls_handshake(&tc, fd, "sender", &s, &st) < 0)
		goto out;
	net_tune(fd, 30000);
	if (chan_init(&c, fd, s, &ki, "sender", NULL) < 0)
		goto out;
	rc = misbehave(&c, fd, cs);
	if (strcmp(cs, "reset") == 0)
		fd = -1;	/* closed already */
	chan_free(&c);
	fflush(stdout);
out:
	if (rc && kc_msg(&st)[0])
		fprintf(stderr, "forge: %s\n", kc_msg(&st));
	if (s)
		gnutls_deinit(s);
	if (fd >= 0)
		close(fd);
	if (lfd >= 0)
		close(lfd);
	tls_ctx_free(&tc);
	return rc;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && strcmp(argv[1], "recv") == 0)
		return recv_main(argv[2], argv[3]);
	if (argc < 5 || (strcmp(argv[4], "sums") == 0 && argc < 7)) {
		fprintf(stderr, "usage: forge HOST PORT TOKEN MODE [ARG...] | forge recv TOKEN CASE\n");
		return 2;
	}
	if (strcmp(argv[4], "replay") == 0) {
		stall = argc == 7 && strcmp(argv[6], "stall") == 0;
		return argc == 6 || stall ? replay_main(argv) : 2;
	}
	return sender_main(argc, argv);
}
