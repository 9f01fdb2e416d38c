#!/usr/bin/env bash
# tests/vm/smoke.sh — prove the kTLS VM lane works end to end.
#
# Boots the VM through run.sh and checks inside it that
#   (a) /proc/net/tls_stat exists (tls.ko loaded);
#   (b) on a connected loopback TCP pair, setsockopt(IPPROTO_TCP, TCP_ULP, "tls")
#       succeeds on both ends, TLS_TX on one end and TLS_RX on the other accept an
#       all-zero TLS 1.3 AES-GCM-128 crypto_info, and a message sent through
#       arrives unchanged (and the kernel's software TX/RX counters moved).
# The same is done for aes-256-gcm, chacha20-poly1305 and aes-128-ccm and for
# TLS 1.2 (the ciphers ktlscp offers); any failure fails the test, or, with
# KTLSCP_VM_SMOKE_STRICT=0, only a failure of AES-GCM-128 under TLS 1.3.
#
# The probe is Python (/usr/bin/python3) when the host has it, else a C program
# compiled on the host; KTLSCP_VM_SMOKE_LANG=c|python forces one.
# Prints "vm smoke: ok" and exits 0 on success, non-zero otherwise.
# Usage: tests/vm/smoke.sh [--timeout SECS]   (passed on to run.sh; default 600)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
TIMEOUT=600
case ${1:-} in
--timeout) [[ $# -eq 2 ]] || { echo "usage: ${0##*/} [--timeout SECS]" >&2; exit 2; }; TIMEOUT=$2 ;;
'') ;;
*) echo "usage: ${0##*/} [--timeout SECS]" >&2; exit 2 ;;
esac

die() { echo "vm smoke: error: $*" >&2; exit 1; }

OUT=$(mktemp -d "${TMPDIR:-/tmp}/ktlscp-vm-smoke.XXXXXX") || die "mktemp failed"
trap 'rm -rf -- "$OUT"' EXIT

LANG_=${KTLSCP_VM_SMOKE_LANG:-}
if [[ -z $LANG_ ]]; then
	if [[ -x /usr/bin/python3 ]]; then LANG_=python; else LANG_=c; fi
fi

# --- the probe, Python flavour -----------------------------------------------------
cat >"$OUT/probe.py" <<'EOF'
import socket, struct, sys

SOL_TLS, TCP_ULP, TLS_TX, TLS_RX = 282, 31, 1, 2
TLS12, TLS13 = 0x0303, 0x0304
# name: (cipher_type, iv, key, salt, rec_seq) sizes, from <linux/tls.h>
CIPHERS = {
    "aes-128-gcm": (51, 8, 16, 4, 8),
    "aes-256-gcm": (52, 8, 32, 4, 8),
    "chacha20-poly1305": (54, 12, 32, 0, 8),
    "aes-128-ccm": (53, 8, 16, 4, 8),
}

def stat():
    with open("/proc/net/tls_stat") as f:
        return {k: int(v) for k, v in (l.split() for l in f if l.strip())}

def probe(name, version):
    ctype, *sizes = CIPHERS[name]
    info = struct.pack("=HH", version, ctype) + bytes(sum(sizes))  # all-zero keys
    if name == "aes-128-gcm":
        assert len(info) == 40, len(info)  # struct tls12_crypto_info_aes_gcm_128
    lsn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(1)
    cli = socket.create_connection(lsn.getsockname(), timeout=30)
    srv, _ = lsn.accept()
    srv.settimeout(30)
    try:
        for s in (cli, srv):
            s.setsockopt(socket.IPPROTO_TCP, TCP_ULP, b"tls")
        cli.setsockopt(SOL_TLS, TLS_TX, info)
        srv.setsockopt(SOL_TLS, TLS_RX, info)
        msg = b"ktlscp vm smoke %s %x " % (name.encode(), version) * 100
        cli.sendall(msg)
        got = b""
        while len(got) < len(msg):
            chunk = srv.recv(len(msg) - len(got))
            if not chunk:
                break
            got += chunk
        if got != msg:
            raise RuntimeError("received %d bytes that differ from the %d sent" % (len(got), len(msg)))
    finally:
        for s in (cli, srv, lsn):
            s.close()

before = stat()
failed_required = failed = 0
for version, vname in ((TLS13, "TLS1.3"), (TLS12, "TLS1.2")):
    for name in CIPHERS:
        required = name == "aes-128-gcm" and version == TLS13
        try:
            probe(name, version)
            print("  %-7s %-18s ok" % (vname, name))
        except Exception as e:
            print("  %-7s %-18s FAIL: %s%s" % (vname, name, e, " (required)" if required else ""))
            failed += 1
            failed_required += required
after = stat()
for key in ("TlsTxSw", "TlsRxSw"):
    delta = after.get(key, 0) - before.get(key, 0)
    print("  %s +%d" % (key, delta))
    if delta < 1:
        print("  FAIL: %s did not move: no software kTLS was used" % key)
        failed_required += 1
sys.exit(2 if failed_required else (1 if failed else 0))
EOF

# --- the probe, C flavour (built on the host, run in the VM) --------------------------
cat >"$OUT/probe.c" <<'EOF'
#include <arpa/inet.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef TCP_ULP
#define TCP_ULP 31
#endif
#ifndef SOL_TLS
#define SOL_TLS 282
#endif

static long stat_get(const char *key)
{
	FILE *f = fopen("/proc/net/tls_stat", "r");
	char k[64];
	long v, r = -1;
	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", k, &v) == 2)
		if (!strcmp(k, key))
			r = v;
	fclose(f);
	return r;
}

/* 0 on success; prints the failing step otherwise. */
static int probe(const char *name, unsigned short version, unsigned short ctype, size_t infolen)
{
	unsigned char info[64] = { 0 };
	struct tls_crypto_info *ci = (struct tls_crypto_info *)info;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	char msg[4000], got[4000];
	size_t n = 0;
	int lsn, cli = -1, srv = -1, rc = -1;

	ci->version = version;
	ci->cipher_type = ctype;
	snprintf(msg, sizeof(msg), "ktlscp vm smoke %s %x", name, version);
	memset(msg + strlen(msg), 'x', sizeof(msg) - strlen(msg));
	lsn = socket(AF_INET, SOCK_STREAM, 0);
	if (lsn < 0 || bind(lsn, (void *)&a, sizeof(a)) || listen(lsn, 1) ||
	    getsockname(lsn, (void *)&a, &al)) {
		perror("  listen");
		goto out;
	}
	cli = socket(AF_INET, SOCK_STREAM, 0);
	if (cli < 0 || connect(cli, (void *)&a, sizeof(a)) || (srv = accept(lsn, NULL, NULL)) < 0) {
		perror("  connect/accept");
		goto out;
	}
	if (setsockopt(cli, IPPROTO_TCP, TCP_ULP, "tls", 3) || setsockopt(srv, IPPROTO_TCP, TCP_ULP, "tls", 3)) {
		perror("  setsockopt TCP_ULP tls");
		goto out;
	}
	if (setsockopt(cli, SOL_TLS, TLS_TX, info, infolen)) {
		perror("  setsockopt TLS_TX");
		goto out;
	}
	if (setsockopt(srv, SOL_TLS, TLS_RX, info, infolen)) {
		perror("  setsockopt TLS_RX");
		goto out;
	}
	if (write(cli, msg, sizeof(msg)) != (ssize_t)sizeof(msg)) {
		perror("  write");
		goto out;
	}
	while (n < sizeof(got)) {
		ssize_t r = read(srv, got + n, sizeof(got) - n);
		if (r <= 0) {
			perror("  read");
			goto out;
		}
		n += r;
	}
	if (memcmp(msg, got, sizeof(msg))) {
		fprintf(stderr, "  received bytes differ from those sent\n");
		goto out;
	}
	rc = 0;
out:
	if (cli >= 0)
		close(cli);
	if (srv >= 0)
		close(srv);
	if (lsn >= 0)
		close(lsn);
	return rc;
}

int main(void)
{
	static const struct {
		const char *name;
		unsigned short ctype;
		size_t len;
	} c[] = {
		{ "aes-128-gcm", TLS_CIPHER_AES_GCM_128, sizeof(struct tls12_crypto_info_aes_gcm_128) },
		{ "aes-256-gcm", TLS_CIPHER_AES_GCM_256, sizeof(struct tls12_crypto_info_aes_gcm_256) },
		{ "chacha20-poly1305", TLS_CIPHER_CHACHA20_POLY1305, sizeof(struct tls12_crypto_info_chacha20_poly1305) },
		{ "aes-128-ccm", TLS_CIPHER_AES_CCM_128, sizeof(struct tls12_crypto_info_aes_ccm_128) },
	};
	static const struct {
		const char *name;
		unsigned short v;
	} v[] = { { "TLS1.3", TLS_1_3_VERSION }, { "TLS1.2", TLS_1_2_VERSION } };
	long tx0 = stat_get("TlsTxSw"), rx0 = stat_get("TlsRxSw");
	int failed = 0, failed_required = 0;

	if (sizeof(struct tls12_crypto_info_aes_gcm_128) != 40) {
		fprintf(stderr, "  struct tls12_crypto_info_aes_gcm_128 is not 40 bytes\n");
		return 2;
	}
	for (size_t i = 0; i < 2; i++)
		for (size_t j = 0; j < sizeof(c) / sizeof(c[0]); j++) {
			int required = j == 0 && i == 0;
			fflush(stdout);
			if (probe(c[j].name, v[i].v, c[j].ctype, c[j].len) == 0) {
				printf("  %-7s %-18s ok\n", v[i].name, c[j].name);
			} else {
				printf("  %-7s %-18s FAIL%s\n", v[i].name, c[j].name, required ? " (required)" : "");
				failed++;
				failed_required += required;
			}
		}
	long dtx = stat_get("TlsTxSw") - tx0, drx = stat_get("TlsRxSw") - rx0;
	printf("  TlsTxSw +%ld\n  TlsRxSw +%ld\n", dtx, drx);
	if (dtx < 1 || drx < 1) {
		printf("  FAIL: software kTLS counters did not move\n");
		failed_required++;
	}
	return failed_required ? 2 : failed ? 1 : 0;
}
EOF

case $LANG_ in
python) PROBE=(/usr/bin/python3 "$OUT/probe.py") ;;
c)
	CC=${CC:-cc}
	command -v "$CC" >/dev/null || die "no python3 at /usr/bin/python3 and no C compiler ($CC)"
	"$CC" -O2 -Wall -o "$OUT/probe" "$OUT/probe.c" || die "compiling the C probe failed"
	PROBE=("$OUT/probe")
	;;
*) die "KTLSCP_VM_SMOKE_LANG must be python or c, not '$LANG_'" ;;
esac

# --- what runs inside the VM -------------------------------------------------------------
# shellcheck disable=SC2016  # these lines expand in the guest, not here
{
	echo 'set -u'
	echo 'echo "kernel: $(uname -r) ($(uname -v))"'
	echo '[ -e /proc/net/tls_stat ] || { echo "FAIL: /proc/net/tls_stat is missing"; exit 3; }'
	echo 'echo "/proc/net/tls_stat: present"'
	printf 'echo "kTLS probe (%s):"\n' "$LANG_"
	printf '%q ' "${PROBE[@]}"
	echo
	echo 'rc=$?'
	echo '[ "$rc" -eq 0 ] || { [ "$rc" -eq 1 ] && [ "${KTLSCP_VM_SMOKE_STRICT:-1}" = 0 ]; } || exit "$rc"'
	echo 'exit 0'
} >"$OUT/check.sh"

start=$SECONDS
rc=0
"$HERE/run.sh" --timeout "$TIMEOUT" --out "$OUT" -- bash "$OUT/check.sh" || rc=$?
if [[ $rc -ne 0 ]]; then
	echo "vm smoke: FAILED (exit $rc after $((SECONDS - start)) s)" >&2
	exit "$rc"
fi
echo "vm smoke: ok ($((SECONDS - start)) s)"
