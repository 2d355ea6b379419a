#!/usr/bin/env bash
# Runs the emulator's containment tests (crates/emulator/tests/containment.rs) as an ordinary, unprivileged user,
# twice, the two ways developers run the emulator:
#   1. as a plain user: no cgroups, no uid per session, user namespaces and rlimits only;
#   2. in a cgroup delegated to the user (what `systemd-run --user --scope -p Delegate=yes` gives, made here
#      by hand so that it works on hosts without a user systemd, cgroup v1 or v2): then every session also
#      gets memory and pids cgroups of its own.
# CI runs it after the root run (.ci/run); on a laptop run it as root (it creates the user) with
#   sudo scripts/containment-as-user.sh
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib/containment.sh

USER_NAME="${DS_TEST_USER:-dsci}"
require_root "creates the user $USER_NAME and runs the tests as that user"
ensure_user "$USER_NAME"

# Build as root, then hand the user a copy of the test binary it can read (the checkout may not be).
binary="$(containment_binary)"
work="$(mktemp -d /tmp/ds-containment-user.XXXXXX)"
trap 'rm -rf "$work"' EXIT
install -m 0755 "$binary" "$work/emulator_containment"
chown "$USER_NAME" "$work"
# The Python runtime the root run prepared is shared read-only (it is world-readable by design).
cd "$work"
as_user() {
    # setpriv execs (runuser would stay behind as a parent in the cgroup): the tests are alone in theirs.
    exec setpriv --reuid="$USER_NAME" --regid="$(id -g "$USER_NAME")" --init-groups \
        env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$work" CI="${CI:-true}" RUST_BACKTRACE=1 "$@" \
        "$work/emulator_containment" --test-threads=2
}

echo "containment tests as $USER_NAME, without cgroups"
(as_user)

# A cgroup delegated to the user: created by root, owned by the user, the test process alone in it.
delegated=()
cleanup_cgroups() {
    for dir in "${delegated[@]}"; do
        find "$dir" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null || true
        rmdir "$dir" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup_cgroups EXIT
name="ds-delegated-$USER_NAME-$$"
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    echo "+pids +memory" >/sys/fs/cgroup/cgroup.subtree_control
    dir="/sys/fs/cgroup/$name"
    mkdir "$dir"
    chown "$USER_NAME" "$dir" "$dir/cgroup.procs" "$dir/cgroup.subtree_control" "$dir/cgroup.threads"
    delegated+=("$dir")
else
    for controller in pids memory cpu; do
        line="$(awk -F: -v c="$controller" '{ n = split($2, cs, ","); for (i = 1; i <= n; i++) if (cs[i] == c) print $2 ":" $3 }' /proc/self/cgroup | head -n 1)"
        [ -n "$line" ] || { echo "no $controller cgroup v1 hierarchy" >&2; exit 1; }
        dir="/sys/fs/cgroup/${line%%:*}${line#*:}/$name"
        dir="${dir//\/\///}"
        mkdir "$dir"
        chown -R "$USER_NAME" "$dir"
        delegated+=("$dir")
    done
fi
echo "containment tests as $USER_NAME, in the delegated cgroup ${delegated[*]}"
(
    for dir in "${delegated[@]}"; do echo "$BASHPID" >"$dir/cgroup.procs"; done
    as_user DS_TEST_DELEGATED_CGROUP=1
)
