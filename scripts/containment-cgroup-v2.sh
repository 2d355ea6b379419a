#!/usr/bin/env bash
# Runs the emulator's containment tests (crates/emulator/tests/containment.rs) on a cgroup v2 host, which CI machines
# (cgroup v1, with memory bound there and in use) are not: a small qemu VM (software emulation, or KVM where
# the CPU offers it) booting the Debian kernel the host's apt sources name (6.1 on Debian 12, as in CI;
# AppArmor on) with a pure cgroup v2 hierarchy over the host's root, read-only (scripts/vm/). Twice, the ways
# the emulator meets cgroup v2:
#   1. as the ordinary user dsci in a cgroup v2 subtree delegated to it (what `systemd-run --user --scope
#      -p Delegate=yes` gives): the emulator moves itself into a leaf and gives every session memory and pids
#      cgroups of its own there;
#   2. as root, with the emulator's cgroups at the top of the hierarchy.
# CI runs it after the other containment runs (.ci/run); on a laptop: sudo scripts/containment-cgroup-v2.sh
# The VM's kernel and initramfs are built once from Debian's packages into target/vm (about 15 s, 72 MB of
# downloads; scripts/vm/build-assets.sh); delete that directory to rebuild them.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/containment.sh

USER_NAME="${DS_TEST_USER:-dsci}"
require_root "creates the user $USER_NAME and starts a virtual machine"
ensure_user "$USER_NAME"

assets="${VMHARNESS_ASSETS:-$PWD/target/vm}"
if [ ! -f "$assets/stamp" ] || ! command -v qemu-system-x86_64 >/dev/null; then
    scripts/vm/build-assets.sh "$assets"
fi
export VMHARNESS_ASSETS="$assets"

# The VM sees the host's root read-only, with fresh tmpfs on /tmp, /home and /run: the test binary and the
# Python runtime the tests share are handed in as read-only shares at their own paths.
work="$(mktemp -d /tmp/ds-containment-v2.XXXXXX)"
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"
binary="$(containment_binary)"
install -m 0755 "$binary" "$work/emulator_containment"
runtime="$(shared_test_runtime)"

# A VM that fails before the tests start (125: it did not boot, or the harness broke) is retried once; a
# test failure, a VM that dies while the tests run (123) and a timeout are not.
run_in_vm() {
    local who="$1" attempt rc
    shift
    for attempt in 1 2; do
        echo "containment tests in a cgroup v2 virtual machine, $who (attempt $attempt)"
        rc=0
        scripts/vm/run-in-vm.sh "$@" --accel auto --share-ro "$work" --share-ro "$runtime" --timeout 1500 \
            --env CI="${CI:-true}" --env RUST_BACKTRACE=1 --env DS_EMULATOR_TEST_RUNTIME_DIR="$runtime" \
            --env DS_TEST_CGROUP_VERSION=v2 \
            -- "$work/emulator_containment" --test-threads=2 || rc=$?
        [ "$rc" -eq 125 ] || return "$rc"
        echo "the virtual machine failed before the tests started (attempt $attempt of 2)" >&2
    done
    return "$rc"
}
run_in_vm "as $USER_NAME in a delegated cgroup" --user "$USER_NAME" --delegate --env DS_TEST_DELEGATED_CGROUP=1
run_in_vm "as root"
