#!/bin/bash
# build-assets.sh — build the kernel + initramfs used by run-in-vm.sh (a small qemu VM with a pure cgroup v2
# hierarchy, for scripts/containment-cgroup-v2.sh).
#
# Everything comes from Debian bookworm apt packages:
#   * linux-image-<abi>-amd64   (the generic Debian kernel; it has 9p as modules.
#                                The smaller -cloud-amd64 flavour has NO 9p.)
#   * busybox-static            (the initramfs userland)
# Both are fetched with `apt-get download` and unpacked with `dpkg -x` into the
# work directory; nothing is installed system-wide except the host tools
# (qemu-system-x86, cpio, kmod, xz-utils), which are installed if missing.
#
# Usage: build-assets.sh [OUTDIR]        (default: $VMHARNESS_ASSETS, else target/vm of the checkout)
# Env:   KERNEL_PKG=linux-image-6.1.0-57-amd64   pin a kernel package; default
#        is whatever the linux-image-amd64 meta package currently depends on
#        (old ABIs disappear from the mirror, so pinning is fragile).
#        EXTRA_MODULES="overlay veth"   more kernel modules (+ deps) to load at
#        boot; the guest cannot autoload modules.
#
# Output (OUTDIR), complete once `stamp` (the kernel package) exists:
#   vmlinuz             the kernel (bzImage, as shipped)
#   vmlinux             the same kernel uncompressed (ELF, booted via PVH)
#   initramfs.cpio      uncompressed newc archive (fastest to unpack under TCG)
#   kernel-version      e.g. 6.1.0-57-amd64
#   packages.txt        exact package versions used
# The build is reproducible: file order and timestamps in the cpio are fixed.
set -euo pipefail

HERE=$(dirname "$(readlink -f "$0")")
OUT=${1:-${VMHARNESS_ASSETS:-$HERE/../../target/vm}}
mkdir -p "$OUT"
OUT=$(readlink -f "$OUT")
WORK="$OUT/.work"
export LC_ALL=C

log() { printf '[build-assets] %s\n' "$*" >&2; }

# apt lists must exist for apt-get download / apt-cache.
if ! apt-cache show busybox-static >/dev/null 2>&1; then
    log "apt lists missing, running apt-get update"
    apt-get update -q >&2
fi

# --- host tools ---------------------------------------------------------------
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v cpio >/dev/null || need+=(cpio)
command -v modprobe >/dev/null && command -v depmod >/dev/null || need+=(kmod)
command -v xz >/dev/null || need+=(xz-utils)
if ((${#need[@]})); then
    log "installing host tools: ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >&2
fi


# --- resolve the kernel package and download ------------------------------------
# The stamp is written last: a build that stops half-way leaves none, and the next one starts over.
# An old vmlinux goes too: run-in-vm.sh prefers it, and this build may not make one.
rm -f "$OUT/stamp" "$OUT/vmlinux"
rm -rf "$WORK"
mkdir -p "$WORK/debs" "$WORK/kernel" "$WORK/busybox" "$WORK/root" "$WORK/out"
pinned=${KERNEL_PKG:-}
download() {
    if [[ -z $pinned ]]; then
        KERNEL_PKG=$(apt-cache depends linux-image-amd64 |
            sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n1)
        [[ -n "$KERNEL_PKG" ]] || { log "cannot resolve linux-image-amd64"; return 1; }
    fi
    log "kernel package: $KERNEL_PKG"
    (cd "$WORK/debs" && apt-get download -q -o APT::Sandbox::User=root "$KERNEL_PKG" busybox-static >&2)
}
# Stale package lists name a kernel the mirror no longer has: refresh them and try once more.
if ! download; then
    log "download failed: refreshing the package lists and trying again"
    apt-get update -q >&2
    rm -f "$WORK"/debs/*.deb
    download
fi
KVER=${KERNEL_PKG#linux-image-}
dpkg -x "$WORK"/debs/"$KERNEL_PKG"_*.deb "$WORK/kernel"
dpkg -x "$WORK"/debs/busybox-static_*.deb "$WORK/busybox"
[[ -f "$WORK/kernel/boot/vmlinuz-$KVER" ]] || { log "no vmlinuz in $KERNEL_PKG"; exit 1; }
# The .deb ships no modules.dep (it is made by depmod at install time).
depmod -b "$WORK/kernel" "$KVER"

# --- initramfs tree -----------------------------------------------------------
R="$WORK/root"
mkdir -p "$R"/{bin,dev,newroot,lib/modules}
mknod -m 0600 "$R/dev/console" c 5 1 # stage 1's stdout before anything is mounted
cp "$WORK/busybox/bin/busybox" "$R/bin/busybox"
# Applet symlinks (done here instead of `busybox --install` at boot).
for a in sh mount mkdir insmod cat cp ln chown chmod hostname ip sleep poweroff \
    switch_root; do
    ln -s busybox "$R/bin/$a"
done
install -m 0755 "$HERE/guest/init" "$R/init"
install -m 0755 "$HERE/guest/stage2.sh" "$R/stage2.sh"

# Modules: 9p over virtio-pci, virtio serial ports (program stdout/stderr),
# virtio-rng (early entropy). `modprobe --show-depends` gives load order.
: >"$R/modules.list"
# EXTRA_MODULES (env, space-separated) adds more, e.g. "overlay veth fuse": the
# guest cannot autoload modules (the host root has no /lib/modules/<this kver>).
for m in virtio_pci 9pnet_virtio 9p virtio_console virtio-rng ${EXTRA_MODULES:-}; do
    modprobe -d "$WORK/kernel" -S "$KVER" --show-depends "$m" |
        awk '$1 == "insmod" { print $2 }'
done | awk '!seen[$0]++' | while read -r ko; do
    base=$(basename "$ko")
    cp "$ko" "$R/lib/modules/$base"
    echo "$base" >>"$R/modules.list"
done
log "modules: $(tr '\n' ' ' <"$R/modules.list")"

# --- pack (reproducibly) -----------------------------------------------------
find "$R" -exec touch -h -d @0 {} +
(cd "$R" && find . -mindepth 1 | sort |
    cpio --quiet -o -H newc -R 0:0 --reproducible) >"$WORK/out/initramfs.cpio"
cp "$WORK/kernel/boot/vmlinuz-$KVER" "$WORK/out/vmlinuz"
# Also the uncompressed ELF vmlinux: qemu boots it directly through the PVH
# entry point (CONFIG_PVH=y), skipping SeaBIOS's real-mode boot and the
# in-guest XZ decompression, which costs ~2 s under TCG. The bzImage payload
# is one XZ stream (CONFIG_KERNEL_XZ=y); find its magic and decompress it
# (xz complains about the trailing data after the stream: ignored).
off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$WORK/out/vmlinuz" | head -n1 | cut -d: -f1)
if [[ -n $off ]]; then
    { tail -c +$((off + 1)) "$WORK/out/vmlinuz" | xz -dcq >"$WORK/out/vmlinux"; } 2>/dev/null || true
    if [[ $(head -c 4 "$WORK/out/vmlinux" | od -An -tx1 | tr -d ' ') != 7f454c46 ]]; then
        log "vmlinux extraction failed; run-in-vm.sh will boot vmlinuz"
        rm -f "$WORK/out/vmlinux"
    fi
else
    log "no XZ payload found in vmlinuz; run-in-vm.sh will boot vmlinuz"
    rm -f "$WORK/out/vmlinux"
fi
echo "$KVER" >"$WORK/out/kernel-version"
{
    for d in "$WORK"/debs/*.deb; do
        echo "$(dpkg-deb -f "$d" Package) $(dpkg-deb -f "$d" Version)" \
            "$(stat -c %s "$d") bytes"
    done
} >"$WORK/out/packages.txt"
# Into place, then the stamp (what run-in-vm.sh and the scripts check for).
mv "$WORK"/out/* "$OUT"/
echo "$KERNEL_PKG" >"$OUT/stamp"
rm -rf "$WORK"
log "done: $OUT ($(du -sh "$OUT" | cut -f1))"
cat "$OUT/packages.txt" >&2
