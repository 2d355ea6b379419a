#!/bin/bash
# run-in-vm.sh — run one host program inside a small qemu VM whose kernel has a
# pure cgroup v2 hierarchy at /sys/fs/cgroup (Debian 12 kernel, built by
# build-assets.sh).
#
# Usage:
#   run-in-vm.sh [options] -- /abs/path/to/program [args...]
# Options:
#   --user NAME       run the program as NAME (must exist in the host /etc/passwd)
#   --delegate        create /sys/fs/cgroup/ds-delegated, delegate it to the user
#                     and start the program inside it
#   --share DIR       mount host DIR read-write at the same path in the VM
#                     (repeatable); everything else of the host root is read-only
#   --share-ro DIR    mount host DIR read-only at the same path (repeatable):
#                     for things under /tmp, /home, ... which tmpfs would hide
#   --env KEY=VALUE   extra environment variable for the program (repeatable);
#                     the program otherwise gets a minimal clean environment
#   --cwd DIR         working directory of the program (default /)
#   --timeout SECS    kill the VM after SECS seconds, exit 124 (default 1800); a VM that has not started
#                     the program within $VMHARNESS_BOOT_TIMEOUT seconds (default 120) is killed, exit 125
#   --mem SIZE        guest RAM (default 3G)        --smp N   vCPUs (default 2)
#   --accel A         tcg (default) | kvm | auto (kvm if the CPU has vmx/svm,
#                     else tcg)
#   --console-log F   keep the VM's serial console log in F
#   --verbose         print the console log and timings to stderr afterwards
#
# In the VM: / is the host root over 9p (read-only); /tmp, /var/tmp, /home, /run,
# /dev/shm are fresh tmpfs; /dev is devtmpfs; cgroup2 on /sys/fs/cgroup with
# +cpu +memory +pids enabled at the root; lo is up; unprivileged user
# namespaces are on. Note that the host's /tmp, /run, /home are therefore NOT
# visible in the VM unless shared with --share/--share-ro.
#
# The program's stdout/stderr are streamed to this script's stdout/stderr (via
# virtio serial ports). Exit status: the program's own status; 124 on timeout;
# 125 if the VM/harness failed before the program started (safe to retry);
# 123 if the VM died while the program ran (the console log is then printed to
# stderr).
#
# Env: VMHARNESS_ASSETS  directory with vmlinuz + initramfs.cpio
#                        (default: target/vm of the checkout, as build-assets.sh makes it)
#      VMHARNESS_KARGS   extra kernel command line (e.g. "loglevel=7")
#      VMHARNESS_QEMU_ARGS  extra qemu arguments (word-split), e.g.
#                        "-monitor unix:/tmp/mon.sock,server=on,wait=off"
#      VMHARNESS_CONTROLLERS  cgroup controllers to enable at the root
#                        (default "cpu memory pids")
set -uo pipefail

HERE=$(dirname "$(readlink -f "$0")")
ASSETS=${VMHARNESS_ASSETS:-$HERE/../../target/vm}

user="" delegate=0 cwd=/ timeout=1800 mem=3G smp=2 accel=tcg
console_keep="" verbose=0
shares=() share_modes=() envs=()

usage() { sed -n '2,/^set -uo/{/^#/s/^# \{0,1\}//p}' "$0" >&2; exit "${1:-125}"; }
err() { echo "run-in-vm: $*" >&2; }

while (($#)); do
    case $1 in --user | --share | --share-ro | --env | --cwd | --timeout | --mem | --smp | \
        --accel | --console-log)
        (($# >= 2)) || { err "$1 needs an argument"; exit 125; } ;;
    esac
    case $1 in
    --user) user=$2; shift 2 ;;
    --delegate) delegate=1; shift ;;
    --share) shares+=("$(readlink -f "$2")") share_modes+=(rw); shift 2 ;;
    --share-ro) shares+=("$(readlink -f "$2")") share_modes+=(ro); shift 2 ;;
    --env) envs+=("$2"); shift 2 ;;
    --cwd) cwd=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --mem) mem=$2; shift 2 ;;
    --smp) smp=$2; shift 2 ;;
    --accel) accel=$2; shift 2 ;;
    --console-log) console_keep=$2; shift 2 ;;
    --verbose) verbose=1; shift ;;
    --) shift; break ;;
    -h | --help) usage 0 ;;
    *) err "unknown option $1"; usage ;;
    esac
done
(($#)) || usage
[[ $1 == /* ]] || { err "program path must be absolute: $1"; exit 125; }
[[ $1 != *=* ]] || { err "program path must not contain '=' (env -i): $1"; exit 125; }
for e in "${envs[@]}"; do
    [[ $e == [A-Za-z_]*=* ]] || { err "--env wants KEY=VALUE: $e"; exit 125; }
done
[[ -n $user ]] && ! getent passwd "$user" >/dev/null &&
    { err "no such user in host passwd: $user"; exit 125; }
for f in stamp vmlinuz initramfs.cpio; do
    [[ -f $ASSETS/$f ]] || { err "missing $ASSETS/$f (run scripts/vm/build-assets.sh)"; exit 125; }
done

# Paths under the guest's tmpfs mounts are invisible unless shared.
visible() { # visible PATH: is PATH on the read-only root or in a share?
    local p=$1 s
    for s in "${shares[@]}"; do [[ $p == "$s" || $p == "$s"/* ]] && return 0; done
    case $p in /tmp/* | /var/tmp/* | /home/* | /run/* | /dev/shm/*) return 1 ;; esac
    return 0
}
visible "$1" || { err "$1 is hidden by a tmpfs in the VM; --share-ro its directory"; exit 125; }
for s in "${shares[@]}"; do
    [[ -d $s ]] || { err "--share: not a directory: $s"; exit 125; }
    [[ $s != *$'\n'* ]] || { err "--share: newline in path"; exit 125; }
done

case $accel in
tcg) accel_opts=(-accel "tcg,thread=multi") ;;
kvm) accel_opts=(-accel kvm) ;;
auto)
    # The KVM ioctl API can be present without hardware virtualisation (no
    # vmx/svm): only use kvm if the CPU flags say so.
    if [[ -w /dev/kvm ]] && grep -qwE 'vmx|svm' /proc/cpuinfo; then
        accel_opts=(-accel kvm)
    else
        accel_opts=(-accel "tcg,thread=multi")
    fi ;;
*) err "bad --accel $accel"; exit 125 ;;
esac

# --- per-run directory ---------------------------------------------------------
run=$(mktemp -d "${TMPDIR:-/tmp}/vmharness-run.XXXXXX") || exit 125
ctl=$run/ctl # exported to the guest as 9p tag "vmctl"
mkdir "$ctl"

shq() { # shell-quote one word for the guest's sh
    printf "'%s'" "${1//\'/\'\\\'\'}"
}
if [[ -n $user ]]; then
    IFS=: read -r _ _ uid gid _ home _ < <(getent passwd "$user")
else
    user=root uid=0 gid=0 home=/root
fi
{
    echo "VM_USER=$(shq "$user")"
    echo "VM_UID=$uid VM_GID=$gid"
    echo "VM_HOME=$(shq "$home")"
    echo "VM_DELEGATE=$delegate"
    echo "VM_CWD=$(shq "$cwd")"
    echo "VM_CONTROLLERS=$(shq "${VMHARNESS_CONTROLLERS:-cpu memory pids}")"
    echo "VM_NSHARES=${#shares[@]}"
} >"$ctl/config.sh"
# ctl/shares: "rw|ro PATH" per line, sorted by path so that a share nested
# in another one is mounted after it; tag shareN = line N (0-based).
for i in "${!shares[@]}"; do
    printf '%s %s\n' "${share_modes[$i]}" "${shares[$i]}"
done | sort -t' ' -k2 >"$ctl/shares"
# argv.sh sets "$@" in the guest to the environment + program + args, which
# stage 2 hands to `env -i`.
prog_env=(
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    "HOME=$home" "USER=$user" "LOGNAME=$user" SHELL=/bin/sh TERM=dumb
    LANG=C.UTF-8 "XDG_RUNTIME_DIR=/run/user/$uid" "${envs[@]}"
)
{
    printf 'set --'
    for a in "${prog_env[@]}" "$@"; do printf ' %s' "$(shq "$a")"; done
    echo
} >"$ctl/argv.sh"

# Program stdout/stderr: qemu writes the virtio serial ports to these FIFOs,
# cat copies them to our stdout/stderr (works whatever our stdout is: a pipe,
# a file opened for append, a socket, a tty).
mkfifo "$run/stdout" "$run/stderr"
: >"$run/console.log"
# They die with this script (setpriv --pdeathsig), even killed before qemu opened the FIFOs.
setpriv --pdeathsig KILL -- cat "$run/stdout" &
cat_out=$!
setpriv --pdeathsig KILL -- cat "$run/stderr" >&2 &
cat_err=$!

qemu_pid=""
# shellcheck disable=SC2317 # called via trap
cleanup() {
    [[ -n $qemu_pid ]] && kill "$qemu_pid" 2>/dev/null
    kill "$cat_out" "$cat_err" 2>/dev/null
    rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Prefer the uncompressed vmlinux (PVH boot, ~2 s faster under TCG).
kernel=$ASSETS/vmlinuz
[[ -f $ASSETS/vmlinux ]] && kernel=$ASSETS/vmlinux

fsdev() { # fsdev ID TAG PATH [extra fsdev opts]
    qemu_args+=(-fsdev "local,id=$1,path=$3,security_model=passthrough,multidevs=remap${4:+,$4}"
        -device "virtio-9p-pci,fsdev=$1,mount_tag=$2")
}
qemu_args=(
    -nodefaults -no-user-config -display none -monitor none -no-reboot
    # -machine pc, not microvm: microvm boots ~0.6 s faster but has no HPET or
    # ACPI PM timer, and under TCG the PIT calibration of the TSC fails now and
    # then (busy host), which hung ~10% of boots in early kernel init.
    -machine pc "${accel_opts[@]}" -cpu max -smp "$smp" -m "$mem"
    -kernel "$kernel" -initrd "$ASSETS/initramfs.cpio"
    # quiet boot; mitigations=off makes syscalls much cheaper under TCG;
    # panic=-1 + -no-reboot: a guest panic ends qemu.
    -append "console=ttyS0 quiet loglevel=4 panic=-1 mitigations=off 8250.nr_uarts=1 random.trust_cpu=on rdinit=/init i8042.noaux i8042.nokbd ${VMHARNESS_KARGS:-}"
    -chardev "file,id=con,path=$run/console.log" -serial chardev:con
    -device virtio-rng-pci
    -device virtio-serial-pci
    -chardev "file,id=out,path=$run/stdout,append=on"
    -device "virtserialport,chardev=out,name=vmharness.stdout"
    -chardev "file,id=err,path=$run/stderr,append=on"
    -device "virtserialport,chardev=err,name=vmharness.stderr"
)
# shellcheck disable=SC2206 # word splitting wanted
qemu_args+=(${VMHARNESS_QEMU_ARGS:-})
fsdev fsroot hostroot / readonly=on
fsdev fsctl vmctl "$ctl"
i=0
while IFS= read -r line; do
    ro=""
    [[ ${line%% *} == ro ]] && ro=readonly=on
    fsdev "fsshare$i" "share$i" "${line#* }" $ro
    i=$((i + 1))
done <"$ctl/shares"

t_start=$(date +%s.%N)
# Each dies with its parent (setpriv --pdeathsig): a run killed with SIGKILL, which no trap sees, takes the
# timeout and the VM with it instead of leaving qemu running until --timeout.
setpriv --pdeathsig KILL -- timeout -k 10 "$timeout" \
    setpriv --pdeathsig KILL -- qemu-system-x86_64 "${qemu_args[@]}" </dev/null &
qemu_pid=$!
# A boot that hangs (rare under TCG, but a CI run must not wait out --timeout for it): unless the guest has
# started the program within the boot timeout, the VM is stopped and the run is a harness failure (125).
boot_timeout=${VMHARNESS_BOOT_TIMEOUT:-120}
(
    for ((i = 0; i < boot_timeout * 2; i++)); do
        [[ -e $ctl/started ]] && exit 0
        kill -0 "$qemu_pid" 2>/dev/null || exit 0
        sleep 0.5
    done
    : >"$run/boot-timeout"
    kill "$qemu_pid" 2>/dev/null
) &
watchdog=$!
wait "$qemu_pid"
qrc=$?
qemu_pid=""
kill "$watchdog" 2>/dev/null
wait "$watchdog" 2>/dev/null
t_end=$(date +%s.%N)
# If qemu died before opening the FIFOs, the cats still block in open():
# an O_RDWR open (never blocks on Linux) + close releases them with EOF.
for f in "$run/stdout" "$run/stderr"; do exec 3<>"$f" 3>&-; done
wait "$cat_out" "$cat_err" 2>/dev/null

[[ -n $console_keep ]] && cp "$run/console.log" "$console_keep"
status=""
if [[ -s $ctl/status ]]; then
    status=$(<"$ctl/status")
else # fall back to the console marker
    status=$(sed -n 's/^VMHARNESS_EXIT=\([0-9]*\).*/\1/p' "$run/console.log" | tail -n1)
fi

if ((verbose)); then
    {
        echo "---- vm console ----"
        cat "$run/console.log"
        echo "---- end console ----"
        awk -v a="$t_start" -v b="$t_end" 'BEGIN { printf "run-in-vm: wall %.2fs", b - a }'
        [[ -s $ctl/guest-times ]] && printf ', guest uptime at exec/exit: %s' "$(<"$ctl/guest-times")"
        echo
    } >&2
fi

if [[ -e $run/boot-timeout ]]; then
    err "the VM did not start the program within ${boot_timeout}s (a hung boot); console log:"
    cat "$run/console.log" >&2
    exit 125
fi
if ((qrc == 124 || qrc == 137)); then
    err "timeout after ${timeout}s"
    ((verbose)) || tail -n 50 "$run/console.log" >&2
    exit 124
fi
if [[ ! $status =~ ^[0-9]+$ ]]; then
    if [[ -e $ctl/started ]]; then
        # Not the harness's failure alone: what the program did may have brought the VM down.
        err "the VM died while the program ran (qemu exit $qrc, no exit status); console log:"
        ((verbose)) || cat "$run/console.log" >&2
        exit 123
    fi
    err "VM failed before the program started (qemu exit $qrc); console log:"
    ((verbose)) || cat "$run/console.log" >&2
    exit 125
fi
if ((status == 125)) && grep -q '^VMHARNESS_ERROR' "$run/console.log"; then
    ((verbose)) || cat "$run/console.log" >&2
fi
exit "$status"
