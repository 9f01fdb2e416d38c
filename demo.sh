#!/usr/bin/env bash
# ./demo.sh: set up this machine (Debian 12) and run the main job once:
# a receiver on loopback prints a one-time token, a sender copies a small
# tree (a few MB, with a subdirectory) with that token, and both trees are
# compared by sha256.  The sender's summary shows each direction's offload
# mode, and why it is "userspace" when this kernel has no kTLS.
set -euo pipefail
cd "$(dirname "$0")"
lib_prog=demo
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

install_missing build-essential autoconf automake pkg-config libgnutls28-dev libpopt-dev jq
autoreconf_if_stale >/dev/null 2>&1
# Its own build folder: check.sh's build/ is configured with -Werror.
configure_in build-demo
K=$PWD/build-demo/ktlscp

work=$(mktemp -d /tmp/ktlscp-demo.XXXXXX)
recv_pid=
cleanup() {
	if [ -n "$recv_pid" ]; then kill "$recv_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT
# port_of ERRFILE [PATTERN]: the port of the receiver writing ERRFILE, once
# it has printed PATTERN; the demo ends here if it never does.
port_of() {
	wait_listening "$@" && return
	echo "demo: the receiver did not start:" >&2
	cat "$1" >&2
	exit 1
}
# Two hosts' worth of configuration, kept apart from yours.
rcfg=$work/receiver-config
scfg=$work/sender-config
export XDG_CONFIG_HOME=$rcfg

echo "== a few files to send"
mkdir -p "$work/src/photos/2026" "$work/in"
head -c 3000000 /dev/urandom >"$work/src/photos/2026/beach.raw"
head -c 1500000 /dev/urandom >"$work/src/photos/2026/sunset.raw"
seq 1 20000 >"$work/src/notes.txt"
: >"$work/src/empty"
(cd "$work/src" && find . -type f | sort | xargs ls -l | awk '{print "  " $5 "\t" $9}')

echo "== receiver (no trust configured: it prints a one-time token)"
unset KTLSCP_TOKEN
"$K" recv --listen 127.0.0.1 --port 0 "$work/in" 2>"$work/recv.err" &
recv_pid=$!
port=$(port_of "$work/recv.err" "one-time token")
sed 's/^/  /' "$work/recv.err"
token=$(sed -n 's/.*one-time token: \([a-z0-9-]*\).*/\1/p' "$work/recv.err")

echo "== sender"
echo "  \$ KTLSCP_TOKEN=... ktlscp send -r 127.0.0.1:$port src"
KTLSCP_TOKEN=$token XDG_CONFIG_HOME=$scfg "$K" send -r "127.0.0.1:$port" "$work/src" 2>&1 |
	sed 's/^/  /'
wait "$recv_pid"
recv_pid=

echo "== verify by sha256"
a=$(cd "$work/src" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
b=$(cd "$work/in/src" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
if [ "$a" = "$b" ]; then
	echo "  all $(echo "$a" | wc -l) files identical"
else
	echo "  MISMATCH"; diff <(echo "$a") <(echo "$b"); exit 1
fi

echo "== the same, as JSON for scripts"
"$K" recv --listen 127.0.0.1 --port 0 --token "$token" "$work/in" 2>"$work/recv2.err" >/dev/null &
recv_pid=$!
port=$(port_of "$work/recv2.err")
KTLSCP_TOKEN=$token XDG_CONFIG_HOME=$scfg "$K" send -q --json "127.0.0.1:$port" "$work/src/notes.txt" | jq .
wait "$recv_pid"
recv_pid=

echo "== keys instead of a token, like ssh"
sfp=$(XDG_CONFIG_HOME=$scfg "$K" id 2>/dev/null)
rfp=$(XDG_CONFIG_HOME=$rcfg "$K" id 2>/dev/null)
echo "  sender's key   $sfp  -> receiver's authorized_senders"
echo "$sfp demo sender" >"$rcfg/ktlscp/authorized_senders"
"$K" recv --listen 127.0.0.1 --port 0 "$work/in" 2>"$work/recv3.err" >/dev/null &
recv_pid=$!
port=$(port_of "$work/recv3.err")
echo "  receiver's key $rfp  -> recorded by the sender on first contact"
echo "  \$ ktlscp send --accept-new 127.0.0.1:$port src/notes.txt"
XDG_CONFIG_HOME=$scfg "$K" send --accept-new "127.0.0.1:$port" "$work/src/notes.txt" 2>&1 |
	grep -v '^ktlscp: TLS' | sed 's/^/  /'
wait "$recv_pid"
recv_pid=
echo "  sender's known_hosts: $(cat "$scfg/ktlscp/known_hosts")"
cmp "$work/src/notes.txt" "$work/in/notes.txt" && echo "  notes.txt identical"
echo "== this host's kernel"
"$K" info | sed 's/^/  /'
