# shellcheck shell=bash
# shellcheck disable=SC2034 # what it sets is for bench/lib.bash and bench.sh
# bench/tools.bash: the copies each scenario compares, one function per
# tool: tool_SCENARIO_TOOL PORT fills in the two ends for bench_one (see
# bench/lib.bash for the variables).  Every TLS copy uses TLS 1.3 with
# AES-128-GCM; every ssh copy aes128-gcm@openssh.com.  ktlscp makes each
# file durable itself (fsync before rename, then it reports); every other
# receiver gets a post step, timed with the copy and counted on its end:
# "sync FILE DIR" (fsync of both) for one file, "sync -f DIR" (syncfs) for a
# tree, the cheapest way for a tool without its own fsync to be as durable.
# Also tool_label, the name a tool has in the tables.
#
# Sourced by bench/bench.sh, never run.

OSSL_SUITE=TLS_AES_128_GCM_SHA256
TLS_ARGS=(--tls 1.3 --cipher aes-128-gcm)

tool_label() {
	case $1 in
	a/ktlscp) echo "ktlscp";;
	a/socat_tls) echo "socat OPENSSL, 128 KiB buffers";;
	a/openssl) echo "openssl s_server / s_client";;
	a/scp) echo "scp";;
	a/rsync) echo "rsync -e ssh";;
	a/tcp) echo "socat plain TCP, 128 KiB (no crypto)";;
	b/ktlscp) echo "ktlscp send -r";;
	b/scp) echo "scp -r";;
	b/rsync) echo "rsync -a -e ssh";;
	b/tar) echo "tar c | ssh tar x";;
	c/one) echo "ktlscp, 1 sender, all files";;
	c/many) echo "ktlscp, $SENDERS concurrent senders";;
	*) echo "$1";;
	esac
}

# ---- ends shared by several tools --------------------------------------------

ktlscp_recv() {	# PORT [recv options]
	local port=$1
	shift
	R_CMD=("$BIN" recv "$@" -P "$port" --listen 127.0.0.1 --psk-file "$PSK" "${TLS_ARGS[@]}" \
		-q "$DST")
}

ktlscp_send() {	# PORT [send options and paths]
	local port=$1
	shift
	S_CMD=("$BIN" send -P "$port" --psk-file "$PSK" "${TLS_ARGS[@]}" --json 127.0.0.1 "$@")
	T_CHECK=ktlscp_check
}

# ktlscp_check RUNDIR: the sender's --json must say TLS 1.3, AES-128-GCM;
# keeps the last one for the report.
ktlscp_check() {
	local j
	j=$(tail -n 1 "$1/s.out")
	case $j in
	*'"tls_version":"TLS1.3"'*'"cipher":"AES-128-GCM"'*) printf '%s\n' "$j" > "$TMP/ktlscp.json";;
	*) echo "ktlscp did not report TLS1.3/AES-128-GCM";;
	esac
}

ssh_recv() {	# PORT
	sshd_cmd "$1"
	R_CMD=("${SSHD_CMD[@]}")
	R_ANYRC=1	# sshd -i exits 255 when the client hangs up
}

sync_file() { P_CMD=(sync -- "$OUT" "$DST"); }
sync_tree() { P_CMD=(sync -f "$DST"); }

# ---- a: one large file to a new file --------------------------------------------

tool_a_ktlscp() {
	ktlscp_recv "$1"
	ktlscp_send "$1" "$SRC"
	OUT=$DST/${SRC##*/}
}

tool_a_socat_tls() {
	OUT=$DST/socat_tls.out
	R_CMD=(env OPENSSL_CONF="$OSSL_CNF" socat -d -d -u -b 131072
		"OPENSSL-LISTEN:$1,bind=127.0.0.1,reuseaddr,cert=$CERT,key=$KEY,verify=0"
		"OPEN:$OUT,creat,trunc")
	S_CMD=(env OPENSSL_CONF="$OSSL_CNF" socat -u -b 131072 "OPEN:$SRC,rdonly"
		"OPENSSL:127.0.0.1:$1,verify=0")
	T_CHECK=socat_check
	sync_file
}

# socat_check RUNDIR: OPENSSL_CONF ($OSSL_CNF) is what pins socat to TLS 1.3
# and AES-128-GCM; its log must say so.
socat_check() {
	grep -q 'SSL proto version used: TLSv1.3' "$1/r.err" &&
		grep -q "SSL connection using $OSSL_SUITE" "$1/r.err" ||
		echo "socat did not log TLSv1.3/$OSSL_SUITE"
}

tool_a_openssl() {
	OUT=$DST/openssl.out
	# s_server ends at EOF on stdin, so its stdin is a FIFO we hold open
	# (never EOF); -naccept 1 ends it after the client's close_notify.
	R_CMD=(openssl s_server -accept "127.0.0.1:$1" -cert "$CERT" -key "$KEY" -tls1_3
		-ciphersuites "$OSSL_SUITE" -quiet -naccept 1)
	R_IN=$FIFO R_OUTF=$OUT
	# -no_ign_eof (after -quiet) sends close_notify at EOF; -nocommands
	# keeps a chunk starting with Q, R or K from being a command.
	S_CMD=(openssl s_client -connect "127.0.0.1:$1" -tls1_3 -ciphersuites "$OSSL_SUITE"
		-quiet -no_ign_eof -nocommands)
	S_IN=$SRC
	sync_file
}

tool_a_scp() {
	OUT=$DST/scp.out
	ssh_recv "$1"
	S_CMD=(scp -q -F "$SSH_DIR/ssh_config" -P "$1" "$SRC" "ktlscp-bench:$OUT")
	sync_file
}

tool_a_rsync() {
	OUT=$DST/rsync.out
	ssh_recv "$1"
	S_CMD=(rsync -e "$(ssh_line "$1")" "$SRC" "ktlscp-bench:$OUT")
	sync_file
}

tool_a_tcp() {
	OUT=$DST/tcp.out
	R_CMD=(socat -u -b 131072 "TCP-LISTEN:$1,bind=127.0.0.1,reuseaddr" "OPEN:$OUT,creat,trunc")
	S_CMD=(socat -u -b 131072 "OPEN:$SRC,rdonly" "TCP:127.0.0.1:$1")
	sync_file
}

# ---- b: many small files in many directories ---------------------------------------

tool_b_ktlscp() {
	OUT=$DST/${SRC_TREE##*/}
	ktlscp_recv "$1"
	ktlscp_send "$1" -r "$SRC_TREE"
}

tool_b_scp() {
	OUT=$DST/${SRC_TREE##*/}
	ssh_recv "$1"
	S_CMD=(scp -q -r -F "$SSH_DIR/ssh_config" -P "$1" "$SRC_TREE" "ktlscp-bench:$DST/")
	sync_tree
}

tool_b_rsync() {
	OUT=$DST/${SRC_TREE##*/}
	ssh_recv "$1"
	S_CMD=(rsync -a -e "$(ssh_line "$1")" "$SRC_TREE" "ktlscp-bench:$DST/")
	sync_tree
}

tool_b_tar() {
	OUT=$DST/${SRC_TREE##*/}
	ssh_recv "$1"
	# $2 is split into words on purpose: it is the ssh command line.
	# shellcheck disable=SC2016
	S_CMD=(sh -c 'tar -C "$1" -cf - "$4" | $2 ktlscp-bench tar -C "$3" -xf -' sh
		"${SRC_TREE%/*}" "$(ssh_line "$1")" "$DST" "${SRC_TREE##*/}")
	sync_tree
}

# ---- c: many concurrent senders into one recv -k -----------------------------------

tool_c_one() {
	OUT=$DST
	ktlscp_recv "$1" -k
	R_KEEP=1
	ktlscp_send "$1" "${C_FILES[@]}"
}

tool_c_many() {
	OUT=$DST
	ktlscp_recv "$1" -k
	R_KEEP=1
	ktlscp_send "$1"	# for T_CHECK and the options; the files go below
	# One sender per file, all at once; the end fails if any sender does.
	# Their --json lines share stdout (one write each).
	# shellcheck disable=SC2016
	S_CMD=(bash -c 'n=$1; shift; cmd=("${@:1:n}"); shift "$n"; pids=()
		for f in "$@"; do "${cmd[@]}" "$f" & pids+=($!); done
		rc=0; for p in "${pids[@]}"; do wait "$p" || rc=1; done; exit "$rc"' bash
		"${#S_CMD[@]}" "${S_CMD[@]}" "${C_FILES[@]}")
}
