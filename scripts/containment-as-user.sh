#!/usr/bin/env bash
# Runs the emulator's containment tests (tests/emulator_containment.rs) as an ordinary, unprivileged user,
# the way most developers run the emulator: no cgroups, no uid per session, user namespaces only.
# CI runs it after the root run (.ci/run); on a laptop run it as root (it creates the user) with
#   sudo scripts/containment-as-user.sh
set -euo pipefail
cd "$(dirname "$0")/.."

USER_NAME="${DS_TEST_USER:-dsci}"
if [ "$(id -u)" -ne 0 ]; then
    echo "run as root: this script creates the user $USER_NAME and runs the tests as that user" >&2
    exit 2
fi
id -u "$USER_NAME" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$USER_NAME"

# Build as root, then hand the user a copy of the test binary it can read (the checkout may not be).
binary="$(cargo test --test emulator_containment --no-run --message-format=json 2>/dev/null \
    | sed -n 's/.*"executable":"\([^"]*emulator_containment[^"]*\)".*/\1/p' | tail -n 1)"
if [ -z "$binary" ] || [ ! -x "$binary" ]; then
    echo "could not build the containment tests" >&2
    exit 1
fi
work="$(mktemp -d /tmp/ds-containment-user.XXXXXX)"
trap 'rm -rf "$work"' EXIT
install -m 0755 "$binary" "$work/emulator_containment"
chown "$USER_NAME" "$work"
# The Python runtime the root run prepared is shared read-only (it is world-readable by design).
cd "$work"
runuser -u "$USER_NAME" -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$work" CI="${CI:-true}" \
    RUST_BACKTRACE=1 "$work/emulator_containment" --test-threads=2
