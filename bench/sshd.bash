# shellcheck shell=bash
# shellcheck disable=SC2034 # what it sets is for bench/lib.bash and bench.sh
# bench/sshd.bash: the loopback sshd that the ssh peers (scp, rsync -e ssh,
# tar | ssh) copy through.  Everything it uses lives in $TMP/ssh: a
# throwaway host key and user key made here, an sshd_config, an ssh_config,
# and a known_hosts naming that host key; ~/.ssh and /etc/ssh are never
# read.  Each copy gets its own sshd: socat accepts one connection on
# 127.0.0.1 and execs "sshd -i" on it (inetd mode, nofork), so that the
# receiving end's process tree, timed by bench_one, is exactly the sshd
# that decrypts and what it runs (scp's sftp-server, rsync --server, tar x).
# Cipher aes128-gcm@openssh.com, no compression, on both sides.
#
# Sourced by bench/bench.sh, never run.

SSHD=/usr/sbin/sshd
SSH_DIR=""
SSH_WHY=""	# why the ssh peers cannot run, or empty

# sshd_setup: make the keys and configs, and prove one login works; on
# failure SSH_WHY says why and the ssh peers are skipped.
sshd_setup() {
	local d=$TMP/ssh port rpid t
	SSH_DIR=$d
	for t in "$SSHD" ssh scp ssh-keygen; do
		command -v "$t" >/dev/null || { SSH_WHY="$t not installed"; return 1; }
	done
	mkdir -m 0700 "$d" || { SSH_WHY="mkdir $d failed"; return 1; }
	# sshd's privilege separation needs this directory (normally made by
	# the openssh-server service, which the bench does not start).
	[ -d /run/sshd ] || mkdir -m 0755 /run/sshd 2>/dev/null
	ssh-keygen -q -t ed25519 -N '' -C ktlscp-bench-host -f "$d/host_key" &&
		ssh-keygen -q -t ed25519 -N '' -C ktlscp-bench-user -f "$d/user_key" ||
		{ SSH_WHY="ssh-keygen failed"; return 1; }
	cp "$d/user_key.pub" "$d/authorized_keys"
	echo "ktlscp-bench $(cat "$d/host_key.pub")" > "$d/known_hosts"
	cat > "$d/sshd_config" <<-EOF
	HostKey $d/host_key
	AuthorizedKeysFile $d/authorized_keys
	PidFile none
	StrictModes no
	UsePAM no
	PubkeyAuthentication yes
	PasswordAuthentication no
	KbdInteractiveAuthentication no
	PermitRootLogin prohibit-password
	AllowUsers $(id -un)
	Ciphers aes128-gcm@openssh.com
	Compression no
	UseDNS no
	PrintMotd no
	LogLevel ERROR
	Subsystem sftp /usr/lib/openssh/sftp-server
	EOF
	cat > "$d/ssh_config" <<-EOF
	Host ktlscp-bench
	  HostName 127.0.0.1
	  User $(id -un)
	  HostKeyAlias ktlscp-bench
	  UserKnownHostsFile $d/known_hosts
	  GlobalKnownHostsFile /dev/null
	  StrictHostKeyChecking yes
	  IdentityFile $d/user_key
	  IdentitiesOnly yes
	  IdentityAgent none
	  BatchMode yes
	  Ciphers aes128-gcm@openssh.com
	  Compression no
	  ControlMaster no
	  ControlPath none
	  LogLevel ERROR
	EOF
	"$SSHD" -t -f "$d/sshd_config" 2> "$d/t.err" ||
		{ SSH_WHY="sshd -t: $(head -c 200 "$d/t.err")"; return 1; }
	case $d in *[,:!\ ]*) SSH_WHY="temp dir $d has a character socat cannot take"; return 1;; esac
	port=$(free_port)
	sshd_cmd "$port"
	"${SSHD_CMD[@]}" < /dev/null > /dev/null 2> "$d/probe.err" &
	rpid=$!; BGPIDS+=("$rpid")
	if ! wait_listen "$rpid" "$port" ||
		! timeout 20 ssh -F "$d/ssh_config" -p "$port" ktlscp-bench true 2>> "$d/probe.err"; then
		SSH_WHY="a test login failed: $(head -c 300 "$d/probe.err" | tr '\n' ' ')"
		kill_tree "$rpid"; reap "$rpid" 2>/dev/null
		return 1
	fi
	reap "$rpid" 2>/dev/null
	return 0
}

# sshd_cmd PORT: SSHD_CMD, one sshd for one connection on 127.0.0.1:PORT.
sshd_cmd() {
	SSHD_CMD=(socat "TCP-LISTEN:$1,bind=127.0.0.1,reuseaddr"
		"EXEC:$SSHD -i -f $SSH_DIR/sshd_config,nofork")
}

# ssh_line PORT: the ssh command the peers use (rsync -e, tar | ssh).
ssh_line() { echo "ssh -F $SSH_DIR/ssh_config -p $1"; }
