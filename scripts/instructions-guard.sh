#!/usr/bin/env bash
# Counts the instructions of the hot paths (benches/instructions.rs) under callgrind and compares them with
# the checked-in baseline (benches/instructions.baseline.json): fails when a count grew more than 10 %.
#
#   scripts/instructions-guard.sh            # check (what CI runs)
#   scripts/instructions-guard.sh --update   # write the counts of this run into the baseline
#
# A baseline change is a commit of its own whose message says why the counts moved.
# Needs valgrind; installs the gungraun runner (the exact version of the library) into target/gungraun-runner.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNNER_VERSION=0.20.0
RUNNER_ROOT="${GUNGRAUN_RUNNER_ROOT:-$PWD/target/gungraun-runner}"
if [ "$("$RUNNER_ROOT/bin/gungraun-runner" --version 2>/dev/null | awk '{print $2}')" != "$RUNNER_VERSION" ]; then
    echo "installing gungraun-runner $RUNNER_VERSION into $RUNNER_ROOT" >&2
    cargo install --quiet --locked --root "$RUNNER_ROOT" gungraun-runner --version "$RUNNER_VERSION"
fi
export PATH="$RUNNER_ROOT/bin:$PATH"
command -v valgrind >/dev/null || { echo "valgrind is missing (apt-get install valgrind)" >&2; exit 1; }

HOME_DIR="$PWD/target/gungraun-home"
rm -rf "$HOME_DIR"
# Gungraun's own comparison is not used: the guard compares with the checked-in JSON.
cargo bench --locked -p dynamic-sessions-benches --bench instructions -- \
    --home="$HOME_DIR" --save-summary=json --output-format=default
mode=check
[ "${1:-}" = "--update" ] && mode=update
cargo run --quiet --locked -p dynamic-sessions-benches --bin instructions-guard -- \
    "$mode" "$HOME_DIR" benches/instructions.baseline.json
