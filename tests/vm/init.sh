#!/bin/sh
# tests/vm/init.sh — /init (PID 1) of the ktlscp test VM; busybox sh, not bash.
# setup.sh copies it into the initramfs; run.sh boots it.
#
# What it does:
#   1. mounts proc, sys and dev; loads the kernel modules listed in
#      /etc/modules.load (virtio, 9p, tls, ciphers) in order; brings up lo;
#   2. mounts the writable share (tag ktlscp_out, run.sh's --out DIR) on /out,
#      marks it "booted" and reads the job settings run.sh left there
#      (/out/.ktlscp-vm/vm.conf);
#   3. mounts the host's root read-only (tag hostroot) on /newroot, puts fresh
#      tmpfs on /tmp, /var/tmp and /run, the --out DIR back at its host path,
#      and proc/sys/dev/dev/pts/dev/shm inside it;
#   4. chroots into /newroot and runs /out/.ktlscp-vm/job.sh with bash (it sets
#      the environment, cds to the caller's working directory and runs the
#      command), writes the exit status to /out/.ktlscp-vm/exit-status, powers off.
# Errors are printed on the console as "vm-init: error: ..." and, once the share
# is mounted, saved to /out/.ktlscp-vm/init-error for run.sh to report.

PATH=/bin:/sbin
export PATH
CTL=/out/.ktlscp-vm
MSIZE=512000

# ktlscp.debug=1 on the kernel command line (KTLSCP_VM_DEBUG=1 for run.sh).
case " $(cat /proc/cmdline 2>/dev/null) " in *" ktlscp.debug=1 "*) set -x ;; esac

halt_vm() {
	sync
	# The kernel's own "Power down" is an emergency message: keep it off.
	echo 0 >/proc/sys/kernel/printk 2>/dev/null
	umount /newroot"${VM_OUT_PATH:-/nonexistent}" 2>/dev/null
	umount /out 2>/dev/null
	poweroff -f
	# If ACPI power-off is unavailable: reboot, which qemu -no-reboot turns into exit.
	reboot -f
	sleep 5
	exit 1  # PID 1 exiting panics; panic=-1 reboots, i.e. qemu exits.
}

fail() {
	echo "vm-init: error: $*" >&2
	[ -d "$CTL" ] && echo "$*" >"$CTL/init-error"
	halt_vm
}

warn() { echo "vm-init: warning: $*" >&2; }

mount -t proc proc /proc || fail "mount /proc failed"
# Only the command's output matters on the console from here on: kernel
# messages stay off it, except emergencies (a panic), which explain a dead run.
case " $(cat /proc/cmdline) " in *" ktlscp.debug=1 "*) ;; *) echo 1 >/proc/sys/kernel/printk ;; esac
mount -t sysfs sys /sys || fail "mount /sys failed"
mount -t devtmpfs dev /dev 2>/dev/null || mount -t tmpfs -o mode=755 dev /dev ||
	fail "mount /dev failed"
[ -c /dev/console ] || mknod -m 600 /dev/console c 5 1
[ -c /dev/null ] || mknod -m 666 /dev/null c 1 3
# Plain "\n" line ends on the serial console (the host reads it as a byte stream).
stty -onlcr </dev/console 2>/dev/null

while read -r mod; do
	[ -n "$mod" ] || continue
	insmod "$mod" || warn "insmod $mod failed"
done </etc/modules.load
[ -e /proc/net/tls_stat ] || warn "/proc/net/tls_stat missing: kernel TLS (tls.ko) is not available"

ip link set lo up || fail "cannot bring up lo"
ip addr add 127.0.0.1/8 dev lo 2>/dev/null
ip -6 addr add ::1/128 dev lo 2>/dev/null
hostname ktlscp-vm

# The writable share first: it carries the job and receives the results.
mount -t 9p -o trans=virtio,version=9p2000.L,msize=$MSIZE,cache=none ktlscp_out /out ||
	fail "mount of the writable 9p share ktlscp_out failed"
mkdir -p "$CTL" || fail "cannot create $CTL on the writable share"
echo booted >"$CTL/booted" || fail "cannot write to the writable share"
[ -r "$CTL/vm.conf" ] || fail "missing $CTL/vm.conf (written by run.sh)"
# shellcheck source=/dev/null
. "$CTL/vm.conf"  # VM_OUT_PATH, VM_KEEP_PATH, VM_TTY, VM_ROWS, VM_COLS
[ -n "$VM_OUT_PATH" ] || fail "vm.conf sets no VM_OUT_PATH"

# The host's root, read-only; loose caching makes exec and reads far cheaper.
mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=$MSIZE,cache=loose hostroot /newroot ||
	fail "mount of the host root (9p tag hostroot) failed"
[ -x /newroot/bin/bash ] || fail "host root has no /bin/bash"

# A host folder under /tmp, /var/tmp or /run (e.g. the checkout) would be hidden
# by the tmpfs below: hold it on /keep and put it back afterwards.
if [ -n "$VM_KEEP_PATH" ]; then
	mount --bind "/newroot$VM_KEEP_PATH" /keep || fail "cannot bind $VM_KEEP_PATH"
fi
mount -t tmpfs -o mode=1777 tmpfs /newroot/tmp || fail "mount tmpfs on /tmp failed"
mount -t tmpfs -o mode=1777 tmpfs /newroot/var/tmp 2>/dev/null || warn "no tmpfs on /var/tmp"
mount -t tmpfs -o mode=755 tmpfs /newroot/run 2>/dev/null || warn "no tmpfs on /run"
mkdir -p /newroot/tmp/home && chmod 700 /newroot/tmp/home
if [ -n "$VM_KEEP_PATH" ]; then
	mkdir -p "/newroot$VM_KEEP_PATH" 2>/dev/null
	mount --bind /keep "/newroot$VM_KEEP_PATH" || fail "cannot restore $VM_KEEP_PATH"
fi
# The --out DIR at its host path (a folder that exists on the host, or one we
# just made inside a tmpfs).
mkdir -p "/newroot$VM_OUT_PATH" 2>/dev/null
mount --bind /out "/newroot$VM_OUT_PATH" || fail "cannot mount the writable share at $VM_OUT_PATH"

mount -t proc proc /newroot/proc || fail "mount proc in the new root failed"
mount -t sysfs sys /newroot/sys || fail "mount sys in the new root failed"
mount -t devtmpfs dev /newroot/dev 2>/dev/null || mount --bind /dev /newroot/dev ||
	fail "mount dev in the new root failed"
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts /newroot/dev/pts ||
	fail "mount dev/pts in the new root failed"
[ -e /newroot/dev/ptmx ] || ln -s pts/ptmx /newroot/dev/ptmx
# devtmpfs lacks the symlinks udev/systemd make; bash process substitution
# (used by bats) needs /dev/fd.
ln -sfn /proc/self/fd /newroot/dev/fd
ln -sf /proc/self/fd/0 /newroot/dev/stdin
ln -sf /proc/self/fd/1 /newroot/dev/stdout
ln -sf /proc/self/fd/2 /newroot/dev/stderr
mount -t tmpfs -o mode=1777 tmpfs /newroot/dev/shm || warn "no tmpfs on /dev/shm"

# Run the job. With VM_TTY=1 (run.sh's stdout is a terminal) the command gets
# the console itself; otherwise a pipe, as it would on the host under CI. The
# pipe is a FIFO drained by cat, so a daemon the command leaves behind holding
# it open cannot keep the VM from powering off.
JOB="$VM_OUT_PATH/.ktlscp-vm/job.sh"
rm -f "$CTL/exit-status" "$CTL/exit-status.tmp"
if [ "$VM_TTY" = 1 ]; then
	[ -n "$VM_ROWS" ] && stty rows "$VM_ROWS" cols "$VM_COLS" </dev/console 2>/dev/null
	chroot /newroot /usr/bin/env -i /bin/bash "$JOB" </dev/null >/dev/console 2>&1
	echo $? >"$CTL/exit-status.tmp"
else
	mkfifo /job.out || fail "mkfifo failed"
	cat /job.out >/dev/console &
	catpid=$!
	chroot /newroot /usr/bin/env -i /bin/bash "$JOB" </dev/null >/job.out 2>&1
	echo $? >"$CTL/exit-status.tmp"
	# Let cat drain what is left (it ends once nobody holds the FIFO open).
	i=0
	while kill -0 "$catpid" 2>/dev/null && [ "$i" -lt 30 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill "$catpid" 2>/dev/null
fi
mv "$CTL/exit-status.tmp" "$CTL/exit-status" || fail "cannot record the exit status"
halt_vm
