#!/usr/bin/env bash
# Runs the README's test command N times in a row (default 20) in a clean clone of this checkout, stopping at
# the first failure: a check that no test is flaky. Not part of CI (it takes N times as long).
#   scripts/test-loop.sh [N]
set -euo pipefail
runs="${1:-20}"
source_dir="$(cd "$(dirname "$0")/.." && pwd)"
clone="$(mktemp -d /tmp/ds-test-loop.XXXXXX)"
git clone --quiet "$source_dir" "$clone"
cd "$clone"
for i in $(seq 1 "$runs"); do
    started=$(date +%s)
    if ! cargo test --workspace >"$clone/run-$i.log" 2>&1; then
        echo "run $i of $runs FAILED after $(( $(date +%s) - started )) s; log: $clone/run-$i.log"
        grep -E '^test .* FAILED|panicked' "$clone/run-$i.log" | head -20
        exit 1
    fi
    echo "run $i of $runs passed in $(( $(date +%s) - started )) s"
done
echo "all $runs runs passed ($clone)"
