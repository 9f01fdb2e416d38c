#!/usr/bin/env bash
# tests/vm/setup.sh — prepare everything tests/vm/run.sh needs (idempotent).
#
#   1. installs the missing Debian packages (qemu-system-x86, busybox-static);
#      `apt-get update` runs only when something has to be installed or looked up;
#   2. fetches Debian's distribution kernel (the linux-image-6.1.*-amd64 package
#      that `linux-image-amd64` depends on) with `apt-get download` and unpacks it
#      with `dpkg-deb -x` into the cache — nothing is installed on the host;
#      with KTLSCP_VM_SUITE=SUITE (e.g. trixie-backports) the kernel comes from
#      that suite instead, looked up through a private apt configuration in the
#      cache that names the host's own Debian mirror (the host's apt sources and
#      state are not touched), together with the same-version linux-binary-*,
#      linux-modules-* and linux-base-* packages newer kernels are split into;
#   3. builds a busybox initramfs holding tests/vm/init.sh as /init plus the
#      kernel modules the guest needs (virtio + 9p for the shared folders, tls and
#      the AEAD ciphers for kTLS), rebuilt only when one of its inputs changes.
#
# Cache folder: ${KTLSCP_VM_CACHE:-/var/cache/ktlscp-vm}. Must run as root (apt,
# mknod). Progress goes to stderr; on success it writes $CACHE/current.env
# ($CACHE/suite-SUITE.env with KTLSCP_VM_SUITE), which run.sh sources
# (KTLSCP_VM_KERNEL, KTLSCP_VM_INITRD, KTLSCP_VM_KVER, ...).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
CACHE=${KTLSCP_VM_CACHE:-/var/cache/ktlscp-vm}
INIT_SRC=$HERE/init.sh
SUITE=${KTLSCP_VM_SUITE:-}
ENV_FILE=$CACHE/current.env
[[ -z $SUITE ]] || ENV_FILE=$CACHE/suite-$SUITE.env

# Modules wanted in the guest, in load order. Their modules.dep dependencies are
# added in front of them automatically; any of them may be built into the kernel.
REQUIRED_MODULES=(
	virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci
	netfs fscache 9pnet 9pnet_virtio 9p
	tls
	cryptd crypto_simd aesni-intel gcm chacha20poly1305 ccm
	# sock_diag for TCP sockets: how ktlscp reads each socket's kTLS mode
	inet_diag tcp_diag
)
# Required modules that newer kernels merged into others or dropped (fscache
# lives in netfs, AES-NI needs no cryptd/crypto_simd on 7.x): absent is fine.
MERGED_AWAY=(fscache cryptd crypto_simd)
# Algorithms the crypto templates above ask for at run time (by name, not by
# symbol, so modules.dep does not list them); skipped if the kernel lacks them.
OPTIONAL_MODULES=(
	ctr ghash-generic ghash-clmulni-intel
	chacha_generic chacha-x86_64 poly1305_generic poly1305-x86_64
	# 7.x: the chacha20 skcipher over lib/crypto (poly1305 is a library there)
	chacha
)

die() { echo "vm setup: error: $*" >&2; exit 1; }
say() { echo "vm setup: $*" >&2; }

[[ $(id -u) -eq 0 ]] || die "must run as root (apt-get, mknod); current uid $(id -u)"
[[ -r $INIT_SRC ]] || die "missing guest init script $INIT_SRC"

mkdir -p "$CACHE" || die "cannot create cache folder $CACHE"
# One setup at a time per cache (parallel `make check-vm` runs share it).
exec 9>"$CACHE/.lock"
flock 9 || die "cannot lock $CACHE/.lock"

# --- 1. host packages --------------------------------------------------------
APT_UPDATED=0
apt_update_once() {
	if [[ $APT_UPDATED -eq 0 ]]; then
		say "apt-get update"
		apt-get update -qq >&2 || die "apt-get update failed"
		APT_UPDATED=1
	fi
}

pkg_installed() {
	[[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

ensure_packages() {
	local missing=() p
	for p in "$@"; do pkg_installed "$p" || missing+=("$p"); done
	[[ ${#missing[@]} -eq 0 ]] && return 0
	apt_update_once
	say "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >&2 || die "apt-get install ${missing[*]} failed"
}

ensure_packages qemu-system-x86 busybox-static
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found after install"
BUSYBOX=/bin/busybox
# busybox-static's binary (it conflicts with the dynamically linked "busybox").
[[ -x $BUSYBOX ]] || die "$BUSYBOX (busybox-static) not found"

# --- 2. the kernel -------------------------------------------------------------
# With a suite, apt runs on a private configuration: its own sources.list (the
# suite on the host's Debian mirror), state and cache under $CACHE/apt/SUITE.
APT=(apt-get) APTC=(apt-cache) KAPT_UPDATED=0
# host_mirror: "URI KEYRING" of the host's first deb source for its own Debian
# codename (deb822 .sources files and one-line sources.list both count).
host_mirror() {
	local codename
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	[[ -n $codename ]] || return 1
	cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk -v c="$codename" '
		function flush() { if (t ~ /(^| )deb( |$)/ && (" " s " ") ~ (" " c " ") && u != "" && !done) {
			print u, (k == "" ? "-" : k); done = 1 } t = s = u = k = "" }
		/^[ \t]*$/ { flush(); next }
		/^Types:/ { sub(/^Types:[ \t]*/, ""); t = $0 }
		/^Suites:/ { sub(/^Suites:[ \t]*/, ""); s = $0 }
		/^URIs:/ { u = $2 }
		/^Signed-By:/ { k = $2 }
		END { flush() }'
	# One-line form: deb [opt=val ...] URI SUITE COMPONENTS...
	sed -n 's/^deb[ \t]\+//p' /etc/apt/sources.list 2>/dev/null | awk -v c="$codename" '{
		k = "-"; o = 0
		while ($1 ~ /^\[/ || o) { o = ($1 !~ /\]$/); if ($1 ~ /signed-by=/) { k = $1; sub(/.*signed-by=/, "", k); sub(/\]$/, "", k) }
			$1 = ""; $0 = $0 }
		if ($2 == c) { print $1, k; exit } }'
}
if [[ -n $SUITE ]]; then
	[[ $SUITE =~ ^[a-z0-9-]+$ ]] || die "KTLSCP_VM_SUITE must be a Debian suite name, got '$SUITE'"
	read -r MIRROR KEYRING < <(host_mirror | head -n1) || true
	[[ -n ${MIRROR:-} ]] || die "cannot find the host's Debian mirror in /etc/apt/sources*"
	[[ $KEYRING != - ]] || KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
	PAPT=$CACHE/apt/$SUITE
	mkdir -p "$PAPT"/etc/sources.list.d "$PAPT"/etc/preferences.d "$PAPT"/etc/apt.conf.d \
		"$PAPT"/state/lists/partial "$PAPT"/cache/archives/partial
	echo "deb [signed-by=$KEYRING] $MIRROR $SUITE main" >"$PAPT/etc/sources.list"
	[[ -e $PAPT/state/status ]] || : >"$PAPT/state/status"
	PRIV=(-o "Dir::Etc=$PAPT/etc" -o "Dir::Etc::sourcelist=$PAPT/etc/sources.list"
		-o "Dir::Etc::sourceparts=$PAPT/etc/sources.list.d"
		-o "Dir::Etc::preferencesparts=$PAPT/etc/preferences.d"
		-o "Dir::Etc::parts=$PAPT/etc/apt.conf.d"
		-o "Dir::State=$PAPT/state" -o "Dir::State::status=$PAPT/state/status"
		-o "Dir::Cache=$PAPT/cache" -o "APT::Architecture=amd64" -o "APT::Sandbox::User=root")
	APT=(apt-get "${PRIV[@]}") APTC=(apt-cache "${PRIV[@]}")
	# The private lists are refreshed once a day (and when a download fails).
	if [[ -z $(find "$PAPT/state/lists" -maxdepth 1 -name '*_Packages*' -mtime -1 2>/dev/null) ]]; then
		say "apt-get update ($SUITE on $MIRROR, private configuration)"
		"${APT[@]}" update -qq >&2 || say "warning: apt-get update of $SUITE failed"
		KAPT_UPDATED=1
	fi
fi

# The concrete image package, e.g. linux-image-6.1.0-56-amd64.
resolve_kernel_pkg() {
	"${APTC[@]}" depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-amd64$/ { print $2; exit }'
}
# The image package's same-version parts (linux-binary-*, linux-modules-*, ...).
kernel_parts() {
	local abi=${1#linux-image-}
	echo "$1"
	"${APTC[@]}" depends "$1" 2>/dev/null |
		awk -v abi="$abi" '$1 == "Depends:" && substr($2, length($2) - length(abi) + 1) == abi &&
			$2 ~ /^linux-(binary|modules|base)-/ { print $2 }'
}
# kernel_apt_update_once: apt_update_once for the apt that fetches the kernel.
kernel_apt_update_once() {
	if [[ -z $SUITE ]]; then apt_update_once; return; fi
	if [[ $KAPT_UPDATED -eq 0 ]]; then
		say "apt-get update ($SUITE, private configuration)"
		"${APT[@]}" update -qq >&2 || die "apt-get update of $SUITE failed"
		KAPT_UPDATED=1
	fi
}

KPKG=$(resolve_kernel_pkg || true)
if [[ -z $KPKG ]]; then
	kernel_apt_update_once
	KPKG=$(resolve_kernel_pkg || true)
fi
if [[ -z $KPKG ]]; then
	# Offline and no apt lists: fall back to the kernel we used last time.
	if [[ -r $ENV_FILE ]]; then
		# shellcheck source=/dev/null
		KPKG=$(. "$ENV_FILE" && echo "$KTLSCP_VM_KPKG")
		say "warning: cannot resolve linux-image-amd64 with apt-cache; reusing cached $KPKG"
	fi
	[[ -n $KPKG ]] || die "cannot resolve the package linux-image-amd64 depends on (apt-cache depends)"
fi

# kernel_paths ROOT KVER: set KERNEL and MODDIR for an unpacked kernel, in the
# old layout (/boot/vmlinuz-KVER, /lib/modules) or the new (/usr/lib/modules/KVER/vmlinuz).
kernel_paths() {
	if [[ -d $1/lib/modules/$2 ]]; then
		MODDIR=$1/lib/modules/$2 KERNEL=$1/boot/vmlinuz-$2
	else
		MODDIR=$1/usr/lib/modules/$2 KERNEL=$1/usr/lib/modules/$2/vmlinuz
	fi
}

KROOT=$CACHE/kernel/$KPKG
if [[ ! -e $KROOT/.complete ]]; then
	dl=$(mktemp -d "$CACHE/.download.XXXXXX")
	trap 'rm -rf "$dl"' EXIT
	mapfile -t parts < <(kernel_parts "$KPKG")
	say "downloading ${parts[*]}"
	if ! (cd "$dl" && "${APT[@]}" download "${parts[@]}" >&2 2>/dev/null); then
		# Stale apt lists name a version the mirror no longer has: refresh once.
		kernel_apt_update_once
		(cd "$dl" && "${APT[@]}" download "${parts[@]}" >&2) || die "apt-get download $KPKG failed"
	fi
	debs=("$dl"/*.deb)
	[[ -f ${debs[0]} ]] || die "apt-get download $KPKG produced no .deb"
	for deb in "${debs[@]}"; do
		say "unpacking ${deb##*/}"
		dpkg-deb -x "$deb" "$dl/root" || die "dpkg-deb -x $deb failed"
	done
	rm -f "${debs[@]}"
	vmlinuz=("$dl"/root/boot/vmlinuz-* "$dl"/root/usr/lib/modules/*/vmlinuz)
	for kver in "${vmlinuz[@]}"; do [[ -f $kver ]] && break; done
	[[ -f $kver ]] || die "$KPKG has no /boot/vmlinuz-* nor /usr/lib/modules/*/vmlinuz"
	case $kver in
	*/boot/vmlinuz-*) kver=${kver##*/vmlinuz-} ;;
	*) kver=${kver%/vmlinuz}; kver=${kver##*/} ;;
	esac
	kernel_paths "$dl/root" "$kver"
	[[ -d $MODDIR/kernel ]] || die "$KPKG has no modules in ${MODDIR#"$dl/root"}"
	# Debian generates modules.dep in postinst; build it here without kmod.
	"$BUSYBOX" depmod -b "${MODDIR%/lib/modules/*}" "$kver" || die "depmod for $kver failed"
	[[ -s $MODDIR/modules.dep ]] || die "depmod wrote no modules.dep for $kver"
	echo "$kver" >"$dl/root/.kver"
	rm -rf "$KROOT"
	mkdir -p "$CACHE/kernel"
	mv "$dl/root" "$KROOT"
	touch "$KROOT/.complete"
	rm -rf "$dl"
	trap - EXIT
fi
KVER=$(cat "$KROOT/.kver")
kernel_paths "$KROOT" "$KVER"
[[ -f $KERNEL ]] || die "cached kernel $KERNEL is missing; delete $KROOT and retry"

# --- 3. module list --------------------------------------------------------------
# Module name from a path or name: basename, no .ko*, "-" as "_". Sets NAME
# (no subshell: modules.dep has thousands of lines).
norm() { NAME=${1##*/}; NAME=${NAME%%.ko*}; NAME=${NAME//-/_}; }

declare -A MODPATH=() MODDEPS=() BUILTIN=() SEEN=()
while IFS= read -r line; do
	path=${line%%:*}
	norm "$path"
	MODPATH[$NAME]=$path
	MODDEPS[$NAME]=${line#*:}
done <"$MODDIR/modules.dep"
if [[ -r $MODDIR/modules.builtin ]]; then
	while IFS= read -r path; do norm "$path"; BUILTIN[$NAME]=1; done <"$MODDIR/modules.builtin"
fi

LOAD=()      # module paths (relative to $MODDIR), in load order
BUILTINS=()  # wanted modules that are compiled into the kernel
visit() {
	local name d deps=()
	norm "$1"; name=$NAME
	[[ -n ${SEEN[$name]:-} ]] && return 0
	SEEN[$name]=1
	# modules.dep lists dependencies so that the last one loads first.
	read -r -a deps <<<"${MODDEPS[$name]}"
	for ((d = ${#deps[@]} - 1; d >= 0; d--)); do visit "${deps[d]}"; done
	LOAD+=("${MODPATH[$name]}")
}
want() {  # want NAME required|optional
	local name
	norm "$1"; name=$NAME
	if [[ -n ${MODPATH[$name]:-} ]]; then
		visit "$name"
	elif [[ -n ${BUILTIN[$name]:-} ]]; then
		[[ -n ${SEEN[$name]:-} ]] || BUILTINS+=("$1")
		SEEN[$name]=1
	elif [[ $2 == required && " ${MERGED_AWAY[*]} " != *" $name "* ]]; then
		die "kernel $KVER has module $1 neither built in nor as a .ko"
	fi
}
for m in "${REQUIRED_MODULES[@]}"; do want "$m" required; done
for m in "${OPTIONAL_MODULES[@]}"; do want "$m" optional; done

# --- 4. initramfs (rebuilt only when an input changes) -------------------------
INITRD=$CACHE/initramfs-$KVER.cpio.gz
STAMP=$INITRD.inputs
inputs=$(
	echo "kernel $KPKG $KVER"
	sha256sum "$BUSYBOX" "$INIT_SRC" "${BASH_SOURCE[0]}" | awk '{ print $1 }'
	printf 'load %s\n' "${LOAD[@]}"
	printf 'builtin %s\n' "${BUILTINS[@]}"
)
if [[ ! -s $INITRD || ! -r $STAMP || $(cat "$STAMP") != "$inputs" ]]; then
	say "building initramfs for $KVER (${#LOAD[@]} modules)"
	st=$(mktemp -d "$CACHE/.initramfs.XXXXXX")
	trap 'rm -rf "$st"' EXIT
	mkdir -p "$st"/{bin,sbin,dev,proc,sys,etc,tmp,newroot,out,keep,lib/modules/"$KVER"}
	cp "$BUSYBOX" "$st/bin/busybox"
	for applet in $("$BUSYBOX" --list); do
		[[ $applet == busybox ]] || ln -s busybox "$st/bin/$applet"
	done
	# The kernel's usermode helper runs /sbin/modprobe for request_module().
	ln -s ../bin/busybox "$st/sbin/modprobe"
	# The kernel opens /dev/console for /init's stdio before devtmpfs is mounted.
	mknod -m 600 "$st/dev/console" c 5 1
	mknod -m 666 "$st/dev/null" c 1 3
	: >"$st/etc/modules.load"
	for rel in "${LOAD[@]}"; do
		src=$MODDIR/$rel
		dst=$st/lib/modules/$KVER/${rel%.ko*}.ko
		mkdir -p "${dst%/*}"
		case $rel in  # busybox insmod needs plain .ko files
		*.ko) cp "$src" "$dst" ;;
		*.ko.xz) ensure_packages xz-utils; xz -dc "$src" >"$dst" ;;
		*.ko.zst) ensure_packages zstd; zstd -qdc "$src" >"$dst" ;;
		*.ko.gz) gzip -dc "$src" >"$dst" ;;
		*) die "unknown module format $rel" ;;
		esac
		echo "/lib/modules/$KVER/${rel%.ko*}.ko" >>"$st/etc/modules.load"
	done
	cp "$MODDIR/modules.builtin" "$st/lib/modules/$KVER/" 2>/dev/null || true
	"$BUSYBOX" depmod -b "$st" "$KVER" || die "depmod for the initramfs failed"
	install -m 755 "$INIT_SRC" "$st/init"
	(cd "$st" && find . -mindepth 1 | LC_ALL=C sort | "$BUSYBOX" cpio -o -H newc -R 0:0 2>/dev/null) |
		gzip -6 >"$INITRD.tmp" || die "cpio/gzip of the initramfs failed"
	mv "$INITRD.tmp" "$INITRD"
	echo "$inputs" >"$STAMP"
	rm -rf "$st"
	trap - EXIT
	{
		echo "# modules for $KVER ($KPKG), load order"
		for rel in "${LOAD[@]}"; do norm "$rel"; echo "loaded   $NAME"; done
		for m in "${BUILTINS[@]}"; do echo "builtin  $m"; done
	} >"$CACHE/modules-$KVER.txt"
fi

# --- 5. hand-over to run.sh ----------------------------------------------------------
tmp=$(mktemp "$CACHE/.env.XXXXXX")
cat >"$tmp" <<EOF
# written by tests/vm/setup.sh
KTLSCP_VM_KPKG=$KPKG
KTLSCP_VM_KVER=$KVER
KTLSCP_VM_KERNEL=$KERNEL
KTLSCP_VM_INITRD=$INITRD
KTLSCP_VM_MODULES=$CACHE/modules-$KVER.txt
EOF
mv "$tmp" "$ENV_FILE"
