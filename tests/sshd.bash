# sshd.bash: a throwaway OpenSSH server for the cp tests, and the remote
# shell command that reaches it.  Everything lives under the test's temp
# directory: the host key, the user key, authorized_keys, known_hosts and
# the server's configuration.  Nothing reads or writes ~/.ssh or /etc/ssh:
# the server gets its own config file (-f), the client -F /dev/null and
# every file it needs on its command line.  The server runs as the current
# user (root in CI, where it needs PermitRootLogin prohibit-password) on a
# free loopback port, in the foreground (-D) of a background job, and is
# stopped by sshd_stop.
#
# After sshd_start:
#   SSHD_PORT   its port (on 127.0.0.1 and, where there is IPv6, ::1)
#   SSH_USER    the login name
#   RSH         the remote shell for -e: ssh with port, key, known_hosts
#   FAR         a --remote-ktlscp wrapper: cd to $REMOTE_HOME (the far
#               end's "home"), then exec $KTLSCP with its arguments
#   REMOTE_HOME a directory standing in for the far host's home
# sshd itself sets the session's HOME from the password database; the
# wrapper's cd is what makes remote relative names resolve in REMOTE_HOME.

SSHD_BIN=${SSHD_BIN:-/usr/sbin/sshd}

# cp_host_only: the kTLS VM lanes run only the cp tests whose bytes take
# the data path (push, pull, trees, -p, --verify, --resume, --reverse, IPv6,
# a hostile far end, the key's secrecy); the bootstrap's parsing and error
# messages are the same on any kernel and run in the native lanes, which
# keeps the VM lane within its time budget (ssh is slow under TCG).
cp_host_only() {
	[ -z "${KTLSCP_IN_VM:-}" ] || skip "the same on any kernel; the native lanes run it"
}

skip_unless_sshd() {
	[ -x "$SSHD_BIN" ] || skip "no $SSHD_BIN (openssh-server)"
	command -v ssh >/dev/null || skip "no ssh (openssh-client)"
	command -v ssh-keygen >/dev/null || skip "no ssh-keygen"
}

# sshd_keys DIR: the host and user keys, made once per bats file.
sshd_keys() {
	[ -s "$1/id_ed25519" ] && return 0
	ssh-keygen -q -t ed25519 -N '' -C ktlscp-test-host -f "$1/host_ed25519" </dev/null
	ssh-keygen -q -t ed25519 -N '' -C ktlscp-test-user -f "$1/id_ed25519" </dev/null
}

# sshd_config DIR PORT: the server's whole configuration.
sshd_config() {
	local v6=
	python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null &&
		v6="ListenAddress [::1]:$2"
	cat >"$1/sshd_config" <<EOF
ListenAddress 127.0.0.1:$2
$v6
HostKey $1/host_ed25519
PidFile $1/sshd.pid
AuthorizedKeysFile $1/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
PermitUserEnvironment no
AllowTcpForwarding no
X11Forwarding no
PrintMotd no
Subsystem sftp internal-sftp
LogLevel ERROR
EOF
}

# sshd_start: start the server (a few tries at a free port); sets the
# variables above.  Fails the test, with the server's log, if it never
# accepts a login.
sshd_start() {
	local d=$BATS_FILE_TMPDIR/sshd i try key
	mkdir -p "$d"
	chmod 700 "$d"
	sshd_keys "$d"
	cp "$d/id_ed25519.pub" "$d/authorized_keys"
	key=$(cut -d' ' -f1-2 "$d/host_ed25519.pub")
	# Root's sshd insists on its privilege separation directory; in the VM
	# lane /run is a fresh tmpfs.
	if [ "$(id -u)" -eq 0 ] && [ ! -d /run/sshd ]; then
		mkdir -p /run/sshd && chmod 755 /run/sshd
	fi
	SSH_USER=$(id -un)
	for try in 1 2 3; do
		SSHD_PORT=$(unused_port)
		sshd_config "$d" "$SSHD_PORT"
		printf '[127.0.0.1]:%s %s\n[::1]:%s %s\n[localhost]:%s %s\n' "$SSHD_PORT" "$key" \
			"$SSHD_PORT" "$key" "$SSHD_PORT" "$key" >"$d/known_hosts"
		RSH="ssh -F /dev/null -p $SSHD_PORT -i $d/id_ed25519 -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=$d/known_hosts -o StrictHostKeyChecking=yes -o LogLevel=ERROR"
		"$SSHD_BIN" -D -e -f "$d/sshd_config" 2>"$d/sshd.log" 3>&- &
		SSHD_PID=$!
		for i in $(seq 1 100); do
			if $RSH "$SSH_USER@127.0.0.1" true </dev/null 2>/dev/null; then
				sshd_far
				return 0
			fi
			kill -0 "$SSHD_PID" 2>/dev/null || break
			sleep 0.1
		done
		sshd_stop
	done
	echo "sshd did not start:" >&2
	cat "$d/sshd.log" >&2
	return 1
}

# sshd_far: the --remote-ktlscp wrapper and the far end's home.
sshd_far() {
	REMOTE_HOME=$BATS_TEST_TMPDIR/remote-home
	FAR=$BATS_TEST_TMPDIR/far-ktlscp
	mkdir -p "$REMOTE_HOME"
	printf '#!/bin/sh\ncd %q || exit 1\nexec %q "$@"\n' "$REMOTE_HOME" "$KTLSCP" >"$FAR"
	chmod 755 "$FAR"
}

sshd_stop() {
	if [ -n "${SSHD_PID:-}" ]; then
		kill "$SSHD_PID" 2>/dev/null || true
		wait "$SSHD_PID" 2>/dev/null || true
		SSHD_PID=
	fi
}
