# shellcheck shell=bash
# Shared by the scripts that run the emulator's containment tests somewhere else than `cargo test` does
# (containment-as-user.sh, containment-cgroup-v2.sh). Source it from the repository root.

# Exits unless root; $1 says why root is needed.
require_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "run as root: this script $1" >&2
        exit 2
    fi
}

# Creates the system user $1 (no home, no login) unless it exists.
ensure_user() {
    id -u "$1" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$1"
}

# Builds the containment tests and prints the test binary's path.
containment_binary() {
    local binary
    binary="$(cargo test -p dynamic-sessions-emulator --test containment --no-run --message-format=json 2>/dev/null \
        | sed -n 's/.*"executable":"\([^"]*\/containment-[^"]*\)".*/\1/p' | tail -n 1)"
    if [ -z "$binary" ] || [ ! -x "$binary" ]; then
        echo "could not build the containment tests" >&2
        return 1
    fi
    printf '%s\n' "$binary"
}

# Prepares (or verifies) the Python runtime the emulator tests share, as testing::shared_runtime_dir finds
# it, and prints its path. It is world-readable by design, so other users and VMs can use it read-only.
shared_test_runtime() {
    local dir="${DS_EMULATOR_TEST_RUNTIME_DIR:-${TMPDIR:-/tmp}/dynamic-sessions-emulator-test-runtime}"
    cargo run --quiet -p dynamic-sessions-emulator -- setup --runtime-dir "$dir" >&2 || return 1
    printf '%s\n' "$dir"
}
