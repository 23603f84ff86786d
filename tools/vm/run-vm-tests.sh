#!/usr/bin/env bash
# run-vm-tests.sh — boots a small Debian-kernel VM under QEMU (TCG, no KVM needed)
# with Soft-RoCE (rdma_rxe) on a virtio NIC, runs RDMA sanity checks
# (ibv_devinfo, ibv_rc_pingpong, rping) and then an optional test command,
# and exits 0 only if the guest reports "SANWSP-VM-RESULT: PASS".
#
# See tools/vm/README.md for the knobs. Quick use:
#   tools/vm/run-vm-tests.sh                                   # sanity checks only
#   tools/vm/run-vm-tests.sh --run 'sh /host/tools/vm/guest-tests.sh'
set -euo pipefail

SCRIPT_PATH=$(readlink -f "${BASH_SOURCE[0]}")
SCRIPT_DIR=$(dirname "$SCRIPT_PATH")
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)

# ---------------------------------------------------------------- knobs
CACHE_DIR=${SANWSP_VM_CACHE:-$REPO_ROOT/.build-vm}
SHARE_DIR=${SANWSP_VM_SHARE:-$REPO_ROOT}
TIMEOUT=${SANWSP_VM_TIMEOUT:-600}
MEM=${SANWSP_VM_MEM:-1024}
SMP=${SANWSP_VM_SMP:-2}
RUN_CMD=${SANWSP_VM_RUN:-}
SANITY=${SANWSP_VM_SANITY:-1}
EXTRA_BINS=${SANWSP_VM_EXTRA_BINS:-}
EXTRA_LIBS=${SANWSP_VM_EXTRA_LIBS:-}
EXTRA_MODULES=${SANWSP_VM_EXTRA_MODULES:-}
KERNEL_PKG=${SANWSP_VM_KERNEL_PKG:-linux-image-amd64}
KERNEL_DEB=${SANWSP_VM_KERNEL_DEB:-}
APPEND_EXTRA=${SANWSP_VM_APPEND:-}
PP_ITERS=${SANWSP_VM_PINGPONG_ITERS:-200}
SHELL_AFTER=0
BUILD_ONLY=0
REBUILD=0
QUIET=0

usage() {
    cat <<'EOF'
usage: tools/vm/run-vm-tests.sh [options]
  --run CMD          shell command to run in the guest after the sanity checks
                     (cwd /host; e.g. --run 'sh /host/tools/vm/guest-tests.sh')
  --share DIR        host directory shared read-only at /host (default: repo root)
  --timeout SEC      host-side limit for the whole VM run (default 600)
  --mem MB / --smp N guest memory (1024) / vCPUs (2)
  --no-sanity        skip ibv_devinfo / ibv_rc_pingpong / rping checks
  --cache DIR        cache dir (default <repo>/.build-vm)
  --extra-bins "B.." more host binaries (with their libs) to put in the guest
  --extra-libs "L.." more host shared libraries to put in the guest
  --append ARGS      extra kernel command line arguments
  --rebuild          rebuild the initramfs even if a cached one matches
  --build-only       prepare kernel + initramfs, do not boot
  --shell            after the tests, drop into a guest shell on the console
                     instead of powering off (interactive use only)
  -q, --quiet        do not echo the guest console (still saved to console.log)
Environment: SANWSP_VM_{CACHE,SHARE,TIMEOUT,MEM,SMP,RUN,SANITY,EXTRA_BINS,
  EXTRA_LIBS,EXTRA_MODULES,KERNEL_PKG,KERNEL_DEB,APPEND,PINGPONG_ITERS}.
Exit: 0 PASS, 1 guest FAIL, 2 no result marker, 3 timeout, 4 setup error.
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
        --run) RUN_CMD=$2; shift 2 ;;
        --share) SHARE_DIR=$2; shift 2 ;;
        --timeout) TIMEOUT=$2; shift 2 ;;
        --mem) MEM=$2; shift 2 ;;
        --smp) SMP=$2; shift 2 ;;
        --no-sanity) SANITY=0; shift ;;
        --cache) CACHE_DIR=$2; shift 2 ;;
        --extra-bins) EXTRA_BINS="$EXTRA_BINS $2"; shift 2 ;;
        --extra-libs) EXTRA_LIBS="$EXTRA_LIBS $2"; shift 2 ;;
        --append) APPEND_EXTRA="$APPEND_EXTRA $2"; shift 2 ;;
        --rebuild) REBUILD=1; shift ;;
        --build-only) BUILD_ONLY=1; shift ;;
        --shell) SHELL_AFTER=1; shift ;;
        -q|--quiet) QUIET=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run-vm-tests: unknown argument: $1" >&2; usage >&2; exit 4 ;;
    esac
done

log() { echo "run-vm-tests: $*" >&2; }
die() { log "error: $*"; exit 4; }
now() { date +%s.%N; }
T0=$(now)
elapsed() { awk -v a="$T0" -v b="$(now)" 'BEGIN{printf "%.1fs", b-a}'; }

[ "$(uname -m)" = x86_64 ] || die "only x86_64 hosts are supported"
SHARE_DIR=$(cd "$SHARE_DIR" && pwd) || die "share dir not found"
mkdir -p "$CACHE_DIR"
CACHE_DIR=$(cd "$CACHE_DIR" && pwd)
# One run at a time per cache dir (run/ and console.log are shared).
exec 9> "$CACHE_DIR/.lock"
if ! flock -n 9; then
    echo "run-vm-tests: waiting for another run using $CACHE_DIR" >&2
    flock 9
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 && SUDO=(sudo)
fi

# ---------------------------------------------------------------- 1. host packages
APT_UPDATED=0
apt_update_once() {
    [ "$APT_UPDATED" = 1 ] && return 0
    log "apt-get update"
    "${SUDO[@]}" apt-get update -qq >/dev/null || die "apt-get update failed"
    APT_UPDATED=1
}

ensure_packages() {
    local want=(qemu-system-x86 busybox-static cpio kmod libc-bin
                libibverbs1 ibverbs-providers librdmacm1 ibverbs-utils rdmacm-utils
                iproute2 libstdc++6 libgcc-s1)
    local optional=(perftest)
    local missing=() p
    for p in "${want[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        [ ${#SUDO[@]} -gt 0 ] || [ "$(id -u)" -eq 0 ] || die "need root to install: ${missing[*]}"
        apt_update_once
        log "installing ${missing[*]}"
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends "${missing[@]}" >/dev/null || die "apt-get install failed"
    fi
    for p in "${optional[@]}"; do
        if ! dpkg -s "$p" >/dev/null 2>&1; then
            apt_update_once
            "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                --no-install-recommends "$p" >/dev/null 2>&1 || log "optional package $p not installed"
        fi
    done
}

# ---------------------------------------------------------------- 2. kernel
# Sets KDEB (the .deb), KVER (uname -r of the guest), VMLINUZ (cached image).
resolve_kernel_pkg() {
    # linux-image-amd64 is a metapackage: its first Depends is the real image.
    local dep
    dep=$(apt-cache depends "$KERNEL_PKG" 2>/dev/null | awk '$1=="Depends:"{print $2; exit}')
    [ -n "$dep" ] && { echo "$dep"; return; }
    apt-cache show "$KERNEL_PKG" >/dev/null 2>&1 && { echo "$KERNEL_PKG"; return; }
    return 1
}

fetch_kernel() {
    local kcache=$CACHE_DIR/kernel deb
    mkdir -p "$kcache"
    if [ -n "$KERNEL_DEB" ]; then
        deb=$(readlink -f "$KERNEL_DEB")
    else
        local pkg="" ver="" try
        for try in 1 2; do
            if pkg=$(resolve_kernel_pkg); then
                ver=$(apt-cache policy "$pkg" | awk '/Candidate:/{print $2; exit}')
                deb=$(ls "$kcache/${pkg}_${ver//:/%3a}_"*.deb 2>/dev/null | head -n1 || true)
                [ -n "$deb" ] && break
                log "downloading $pkg $ver"
                if (cd "$kcache" && apt-get download -q -o APT::Sandbox::User=root \
                        "$pkg=$ver" >/dev/null 2>&1); then
                    deb=$(ls "$kcache/${pkg}_${ver//:/%3a}_"*.deb 2>/dev/null | head -n1 || true)
                    [ -n "$deb" ] && break
                fi
            fi
            # no package lists yet, or stale ones: refresh once and retry
            [ "$try" = 1 ] && [ "$APT_UPDATED" = 0 ] || die "cannot download $KERNEL_PKG"
            apt_update_once
        done
        # drop kernels that linux-image-amd64 no longer points to
        local old
        for old in "$kcache"/*.deb; do
            [ -e "$old" ] && [ "$old" != "$deb" ] || continue
            log "pruning old kernel $(basename "$old")"
            rm -rf "$old" "${old%.deb}.vmlinuz"
        done
    fi
    [ -f "$deb" ] || die "kernel package not found: $deb"
    KDEB=$deb
    VMLINUZ=$CACHE_DIR/kernel/$(basename "$deb" .deb).vmlinuz
    # uname -r of the guest: the image package is named linux-image-<kver>
    KVER=$(dpkg-deb -f "$deb" Package)
    KVER=${KVER#linux-image-}; KVER=${KVER%-unsigned}
}

# Unpacks the kernel package into a temporary KDIR (the full module tree is
# ~420 MB, so it is only kept while an initramfs is being built) and copies
# the kernel image to $VMLINUZ.
extract_kernel() {
    KDIR=$(mktemp -d "$CACHE_DIR/kernel/x.XXXXXX")
    log "unpacking $(basename "$KDEB")"
    dpkg -x "$KDEB" "$KDIR"
    local vml
    vml=$(ls "$KDIR"/boot/vmlinuz-* | head -n1)
    [ "${vml##*/vmlinuz-}" = "$KVER" ] || die "kernel version mismatch: $vml vs $KVER"
    [ -d "$KDIR/lib/modules/$KVER" ] || die "no modules for $KVER in $KDEB"
    if [ ! -s "$KDIR/lib/modules/$KVER/modules.dep" ]; then
        if command -v depmod >/dev/null; then
            depmod -b "$KDIR" "$KVER"
        else
            busybox depmod -b "$KDIR" "$KVER"
        fi
    fi
    cp "$vml" "$VMLINUZ.tmp" && mv "$VMLINUZ.tmp" "$VMLINUZ"
}

# Prints module paths (relative to lib/modules/KVER) in load order: a
# depth-first walk of modules.dep, so every module comes after its deps.
# crc32_generic is listed before rdma_rxe because rxe asks the crypto API for
# "crc32" (no modules.dep edge) and `rdma link add` fails without it.
ROOT_MODULES="virtio_pci virtio_net 9pnet_virtio 9p crc32_generic ib_uverbs rdma_ucm rdma_rxe"
module_order() {
    local mdir=$KDIR/lib/modules/$KVER
    declare -A dep=() path=() seen=()
    local line file deps name
    while IFS= read -r line; do
        file=${line%%:*}; deps=${line#*:}
        name=${file##*/}; name=${name%%.ko*}; name=${name//-/_}
        path[$name]=$file; dep[$file]=$deps
    done < "$mdir/modules.dep"
    local builtin=" $(sed -e 's#.*/##' -e 's/\.ko.*//' -e 's/-/_/g' "$mdir/modules.builtin" | tr '\n' ' ') "
    ORDER=()
    visit() {
        local f=$1 d
        [ -n "${seen[$f]:-}" ] && return 0
        seen[$f]=1
        for d in ${dep[$f]}; do visit "$d"; done
        ORDER+=("$f")
    }
    local m
    for m in $ROOT_MODULES $EXTRA_MODULES; do
        m=${m//-/_}
        if [ -n "${path[$m]:-}" ]; then
            visit "${path[$m]}"
        elif [[ $builtin == *" $m "* ]]; then
            :   # built into the kernel
        else
            die "kernel module $m not found in $KVER"
        fi
    done
    printf '%s\n' "${ORDER[@]}"
}

# ---------------------------------------------------------------- 3. initramfs
ROOTFS=
copy_file() {   # copy_file HOSTPATH -> same path in ROOTFS (under merged /usr)
    local src=$1 dst=$1
    case "$dst" in
        /lib/*|/lib64/*|/bin/*|/sbin/*) dst=/usr$dst ;;
    esac
    [ -e "$ROOTFS$dst" ] && [ ! -L "$ROOTFS$dst" ] && return 0
    mkdir -p "$ROOTFS$(dirname "$dst")"
    rm -f "$ROOTFS$dst"
    cp -L "$src" "$ROOTFS$dst"
}

copy_with_libs() {  # copy an ELF file and every shared library ldd finds for it
    local f=$1 lib
    copy_file "$f"
    while read -r lib; do
        [ -n "$lib" ] && copy_file "$lib"
    done < <(ldd "$f" 2>/dev/null | awk '$2=="=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
}

find_lib() {  # find_lib SONAME -> host path
    local n=$1 d
    for d in /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu /usr/lib64 /usr/lib; do
        [ -e "$d/$n" ] && { echo "$d/$n"; return 0; }
    done
    ldconfig -p | awk -v n="$n" '$1==n && /x86-64/ {print $NF; exit}'
}

write_init() {
    cat > "$ROOTFS/init" <<'GUEST_INIT'
#!/bin/sh
# Guest init, generated by tools/vm/run-vm-tests.sh.
export PATH=/usr/local/bin:/usr/bin:/usr/sbin:/bin:/sbin
export HOME=/root TERM=vt100
LIBPATH=/usr/lib/x86_64-linux-gnu:/usr/lib64:/usr/lib
IP=10.0.2.15
KVER=$(uname -r)
FAILS=""
T0=$(cut -d' ' -f1 /proc/uptime 2>/dev/null)

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
dmesg -n 1 2>/dev/null
ulimit -l unlimited 2>/dev/null

say()  { echo "SANWSP-VM: $*"; }
step() { say "=== $* (t=$(cut -d' ' -f1 /proc/uptime)s) ==="; }
fail() { FAILS="$FAILS $1"; say "FAIL: $1"; }
prefix() { sed "s/^/  [$1] /" "$2"; }

finish() {
    step "done"
    sync
    if [ -z "$FAILS" ]; then
        echo "SANWSP-VM-RESULT: PASS"
    else
        echo "SANWSP-VM-RESULT: FAIL$FAILS"
    fi
    if grep -q 'sanwsp_shell=1' /proc/cmdline; then
        echo "SANWSP-VM: shell (exit it to power off)"
        setsid cttyhack sh
    fi
    sync
    poweroff -f
    sleep 5
    echo o > /proc/sysrq-trigger
    sleep 5
    exit 1   # init exiting panics; panic=-1 + -no-reboot ends QEMU
}

wait_for() {  # wait_for SECONDS TEST... ; polls 10x/s
    local n=$(( $1 * 10 )); shift
    while [ $n -gt 0 ]; do "$@" && return 0; n=$((n - 1)); sleep 0.1; done
    return 1
}

tcp_listening() {  # tcp_listening PORT (decimal)
    awk -v p="$(printf ':%04X' "$1")" '$2 ~ p"$" && $4 == "0A" {f=1} END {exit !f}' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

step "boot: kernel $KVER, $(grep -c ^processor /proc/cpuinfo) cpus"

# -- kernel modules, in the order computed on the host from modules.dep
while read -r m; do
    [ -n "$m" ] || continue
    if ! out=$(insmod "/lib/modules/$KVER/$m" 2>&1); then
        case "$out" in *"File exists"*) continue ;; esac
        say "insmod $m: $out"; dmesg | tail -n 20
        fail "insmod:${m##*/}"; finish
    fi
done < /etc/sanwsp/modules

# -- shared directories
mkdir -p /host /vmrun
wait_for 10 mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro host /host \
    || { fail "mount:/host"; finish; }
wait_for 10 mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 vmrun /vmrun \
    || { fail "mount:/vmrun"; finish; }
SANITY=1; RUN=0; PP_ITERS=200
[ -f /vmrun/config ] && . /vmrun/config

# -- network
wait_for 10 test -e /sys/class/net/eth0 || { fail "no-eth0"; finish; }
ip link set lo up
ip link set eth0 up
ip addr add $IP/24 dev eth0
ip route add default via 10.0.2.2 2>/dev/null
printf '127.0.0.1 localhost\n%s sanwsp-vm\n' $IP > /etc/hosts
hostname sanwsp-vm

# -- Soft-RoCE
step "rdma link add rxe0 type rxe netdev eth0"
if ! rdma link add rxe0 type rxe netdev eth0; then
    dmesg | tail -n 20; fail "rdma-link-add"; finish
fi
wait_for 10 test -e /sys/class/infiniband/rxe0 || { fail "no-rxe0"; finish; }
rdma link show
# RoCEv2 GID of the IPv4 address (::ffff:10.0.2.15), found in the GID table.
GIDX=""
want=$(printf '0000:0000:0000:0000:0000:ffff:%02x%02x:%02x%02x' $(echo $IP | tr . ' '))
find_gid() {
    for g in /sys/class/infiniband/rxe0/ports/1/gids/*; do
        [ "$(cat "$g" 2>/dev/null)" = "$want" ] && { GIDX=${g##*/}; return 0; }
    done
    return 1
}
wait_for 10 find_gid || { say "IPv4 GID not found, using index 0"; GIDX=0; }
say "rxe0 RoCEv2 IPv4 GID index: $GIDX"
wait_for 10 grep -q ACTIVE /sys/class/infiniband/rxe0/ports/1/state
export SANWSP_VM=1 SANWSP_VM_IP=$IP SANWSP_VM_RDMA_DEV=rxe0 SANWSP_VM_GID_INDEX=$GIDX \
       SANWSP_VM_OUT=/vmrun/out

# -- sanity checks
if [ "$SANITY" = 1 ]; then
    step "ibv_devices"
    ibv_devices > /tmp/devs 2>&1; prefix ibv_devices /tmp/devs
    grep -q rxe0 /tmp/devs || fail "ibv_devices"

    step "ibv_devinfo -d rxe0"
    ibv_devinfo -d rxe0 > /tmp/devinfo 2>&1; prefix ibv_devinfo /tmp/devinfo
    grep -q PORT_ACTIVE /tmp/devinfo || fail "ibv_devinfo"

    step "ibv_rc_pingpong -d rxe0 -g $GIDX -n $PP_ITERS (server + client to $IP)"
    timeout 120 ibv_rc_pingpong -d rxe0 -g "$GIDX" -n "$PP_ITERS" > /tmp/pp-s 2>&1 &
    spid=$!
    wait_for 30 tcp_listening 18515 || say "pingpong server not listening yet"
    timeout 120 ibv_rc_pingpong -d rxe0 -g "$GIDX" -n "$PP_ITERS" $IP > /tmp/pp-c 2>&1
    crc=$?
    wait $spid; src=$?
    prefix pp-server /tmp/pp-s; prefix pp-client /tmp/pp-c
    say "ibv_rc_pingpong server rc=$src client rc=$crc"
    [ $src = 0 ] && [ $crc = 0 ] && grep -q "iters in" /tmp/pp-c || fail "ibv_rc_pingpong"

    step "rping -s -a $IP / rping -c -a $IP -C 5 -v"
    timeout 120 rping -s -a $IP -v > /tmp/rp-s 2>&1 &
    spid=$!
    crc=1
    for try in 1 2 3 4 5 6 7 8 9 10; do
        sleep 1
        timeout 60 rping -c -a $IP -C 5 -v > /tmp/rp-c 2>&1 && { crc=0; break; }
        say "rping client attempt $try failed"
    done
    wait $spid; src=$?
    prefix rping-server /tmp/rp-s; prefix rping-client /tmp/rp-c
    say "rping server rc=$src client rc=$crc"
    [ $crc = 0 ] && [ "$(grep -c 'ping data' /tmp/rp-c)" -ge 5 ] || fail "rping"
fi

# -- the caller's command
if [ "$RUN" = 1 ]; then
    mkdir -p /vmrun/out 2>/dev/null
    step "run: $(cat /vmrun/cmd)"
    ( cd /host && LD_LIBRARY_PATH="$LIBPATH${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" sh /vmrun/cmd )
    rc=$?
    step "run finished: rc=$rc"
    [ $rc = 0 ] || fail "run:rc=$rc"
fi

finish
GUEST_INIT
    chmod 755 "$ROOTFS/init"
}

build_initramfs() {
    local out=$1 tmp
    tmp=$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")
    ROOTFS=$tmp/root
    mkdir -p "$ROOTFS"/{bin,sbin,etc/sanwsp,etc/libibverbs.d,proc,sys,dev,tmp,root,host,vmrun} \
             "$ROOTFS"/usr/{bin,sbin,lib/x86_64-linux-gnu,lib64,local/bin}
    ln -s usr/lib "$ROOTFS/lib"
    ln -s usr/lib64 "$ROOTFS/lib64"

    # busybox (static) provides init's shell and all small tools
    local bb
    bb=$(command -v busybox || echo /bin/busybox)
    ldd "$bb" >/dev/null 2>&1 && die "$bb is not static (install busybox-static)"
    cp "$bb" "$ROOTFS/bin/busybox"
    local a
    for a in $("$ROOTFS/bin/busybox" --list-full); do
        [ -e "$ROOTFS/$a" ] || [ -L "$ROOTFS/$a" ] || ln -s /bin/busybox "$ROOTFS/$a"
    done

    # RDMA tools and their libraries (real binaries win over busybox applets:
    # they go to /usr/bin, first on PATH)
    local bins=() b
    mapfile -t bins < <( { dpkg -L ibverbs-utils rdmacm-utils; dpkg -L perftest 2>/dev/null; } \
                         | grep -E '^/usr/s?bin/[^/]+$' | sort -u)
    bins+=("$(command -v rdma)")
    for b in $EXTRA_BINS; do
        b=$(command -v "$b" || echo "$b")
        [ -x "$b" ] || die "extra binary not found: $b"
        bins+=("$b")
    done
    for b in "${bins[@]}"; do
        [ -f "$b" ] || continue
        rm -f "$ROOTFS/usr/bin/${b##*/}" "$ROOTFS/bin/${b##*/}" "$ROOTFS/sbin/${b##*/}" "$ROOTFS/usr/sbin/${b##*/}"
        cp -L "$b" "$ROOTFS/usr/bin/"
        copy_with_libs "$b"
    done

    # The rxe user-space driver (ibverbs-providers) + its config file.
    local drv
    drv=$(dpkg -L ibverbs-providers | grep -E '/librxe-rdmav[0-9]+\.so$' | head -n1)
    [ -n "$drv" ] || die "librxe provider not found in ibverbs-providers"
    copy_with_libs "$drv"
    cp /etc/libibverbs.d/rxe.driver "$ROOTFS/etc/libibverbs.d/"

    # Libraries the provider under test needs even if no tool above uses them.
    local l p
    for l in libc.so.6 libm.so.6 libpthread.so.0 libdl.so.2 librt.so.1 libresolv.so.2 \
             libgcc_s.so.1 libstdc++.so.6 libibverbs.so.1 librdmacm.so.1 $EXTRA_LIBS; do
        if [[ $l == /* ]]; then p=$l; else p=$(find_lib "$l"); fi
        [ -n "$p" ] && [ -e "$p" ] || die "library not found: $l"
        copy_with_libs "$p"
    done

    # Kernel modules (decompressed, so busybox insmod can load them).
    local mdir=$KDIR/lib/modules/$KVER m dst
    : > "$ROOTFS/etc/sanwsp/modules"
    while read -r m; do
        dst=${m%.xz}; dst=${dst%.zst}; dst=${dst%.gz}
        mkdir -p "$ROOTFS/lib/modules/$KVER/$(dirname "$dst")"
        case "$m" in
            *.xz)  xz -dc "$mdir/$m" > "$ROOTFS/lib/modules/$KVER/$dst" ;;
            *.zst) zstd -qdc "$mdir/$m" > "$ROOTFS/lib/modules/$KVER/$dst" ;;
            *.gz)  gzip -dc "$mdir/$m" > "$ROOTFS/lib/modules/$KVER/$dst" ;;
            *)     cp "$mdir/$m" "$ROOTFS/lib/modules/$KVER/$dst" ;;
        esac
        echo "$dst" >> "$ROOTFS/etc/sanwsp/modules"
    done < <(module_order)
    [ -s "$ROOTFS/etc/sanwsp/modules" ] || die "module list is empty"

    # /etc bits: loader cache, name service, passwd for tools that look it up.
    printf '/usr/lib/x86_64-linux-gnu\n/usr/lib64\n/usr/lib\n' > "$ROOTFS/etc/ld.so.conf"
    ldconfig -r "$ROOTFS" 2>/dev/null || log "ldconfig -r failed (LD_LIBRARY_PATH still set)"
    printf 'passwd: files\ngroup: files\nhosts: files\n' > "$ROOTFS/etc/nsswitch.conf"
    printf 'root:x:0:0:root:/root:/bin/sh\n' > "$ROOTFS/etc/passwd"
    printf 'root:x:0:\n' > "$ROOTFS/etc/group"
    printf '127.0.0.1 localhost\n' > "$ROOTFS/etc/hosts"

    write_init

    (cd "$ROOTFS" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) > "$out.tmp"
    mv "$out.tmp" "$out"
    rm -rf "$tmp"
}

# ---------------------------------------------------------------- main
ensure_packages
fetch_kernel

key_src() {
    cat "$SCRIPT_PATH"
    echo "$KDEB $KVER"
    dpkg-query -W busybox-static libc6 libibverbs1 ibverbs-providers librdmacm1 ibverbs-utils \
        rdmacm-utils iproute2 libstdc++6 libgcc-s1 perftest 2>/dev/null
    echo "bins=$EXTRA_BINS libs=$EXTRA_LIBS mods=$EXTRA_MODULES"
}
KEY=$(key_src | sha256sum | cut -c1-16)
INITRD=$CACHE_DIR/initrd-$KVER-$KEY.cpio
if [ "$REBUILD" = 1 ] || [ ! -s "$INITRD" ] || [ ! -s "$VMLINUZ" ]; then
    rm -rf "$CACHE_DIR"/kernel/x.* "$CACHE_DIR"/rootfs.*   # leftovers of an interrupted build
    extract_kernel
    log "building initramfs for $KVER ($KEY)"
    rm -f "$CACHE_DIR"/initrd-*.cpio
    build_initramfs "$INITRD"
    rm -rf "$KDIR"
    log "initramfs ready: $(du -h "$INITRD" | cut -f1) (t=$(elapsed))"
else
    log "using cached initramfs $(basename "$INITRD")"
fi
[ "$BUILD_ONLY" = 1 ] && { log "build only: $VMLINUZ $INITRD"; exit 0; }

# Per-run share: the command to run and config; the guest may write /vmrun/out.
RUN_DIR=$CACHE_DIR/run
rm -rf "$RUN_DIR"
mkdir -p "$RUN_DIR/out"
{
    echo "SANITY=$SANITY"
    echo "PP_ITERS=$PP_ITERS"
    if [ -n "$RUN_CMD" ]; then echo "RUN=1"; else echo "RUN=0"; fi
} > "$RUN_DIR/config"
[ -n "$RUN_CMD" ] && printf '%s\n' "$RUN_CMD" > "$RUN_DIR/cmd"

APPEND="console=ttyS0 quiet loglevel=3 panic=-1 $APPEND_EXTRA"
[ "$SHELL_AFTER" = 1 ] && APPEND="$APPEND sanwsp_shell=1"
QEMU=(qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp "$SMP" -m "$MEM"
      -nographic -no-reboot -vga none
      -kernel "$VMLINUZ" -initrd "$INITRD" -append "$APPEND"
      -netdev user,id=n0,restrict=on -device virtio-net-pci,netdev=n0,romfile=
      -virtfs "local,path=$SHARE_DIR,mount_tag=host,security_model=none,readonly=on"
      -virtfs "local,path=$RUN_DIR,mount_tag=vmrun,security_model=none")

CONSOLE=$CACHE_DIR/console.log
log "booting $KVER (TCG, timeout ${TIMEOUT}s), console -> $CONSOLE"
set +e
if [ "$SHELL_AFTER" = 1 ]; then
    timeout --foreground -k 10 "$TIMEOUT" "${QEMU[@]}" | tee "$CONSOLE"
    rc=${PIPESTATUS[0]}
elif [ "$QUIET" = 1 ]; then
    timeout --foreground -k 10 "$TIMEOUT" "${QEMU[@]}" < /dev/null > "$CONSOLE" 2>&1
    rc=$?
else
    timeout --foreground -k 10 "$TIMEOUT" "${QEMU[@]}" < /dev/null 2>&1 | tee "$CONSOLE"
    rc=${PIPESTATUS[0]}
fi
set -e

result=$(tr -d '\r' < "$CONSOLE" | grep -a '^SANWSP-VM-RESULT: ' | tail -n1 || true)
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    log "TIMEOUT after ${TIMEOUT}s (qemu killed), total $(elapsed)${result:+; last: $result}"
    exit 3
fi
case "$result" in
    "SANWSP-VM-RESULT: PASS") log "PASS (total $(elapsed))"; exit 0 ;;
    "SANWSP-VM-RESULT: FAIL"*) log "${result#SANWSP-VM-RESULT: } (total $(elapsed))"; exit 1 ;;
    *) log "no result marker in console (qemu rc=$rc, total $(elapsed))"; exit 2 ;;
esac
