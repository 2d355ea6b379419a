#!/bin/sh
# Stage 2: PID 1 after switch_root (busybox sh, copied to /run/vmharness/bin).
# The environment is already set up by stage 1; this only runs the program:
#   * its stdout/stderr go through pipes to the virtio serial ports
#     "vmharness.stdout"/"vmharness.stderr", which the host streams out,
#   * with --delegate the forked child moves itself into ds-delegated first,
#   * it becomes the user with util-linux setpriv and execs the program with a
#     clean environment (/usr/bin/env -i),
#   * the exit status goes to ctl/status and to the console as a marker, then
#     the VM powers off.
# ctl/argv.sh (from run-in-vm.sh) sets "$@" to: ENV=VALUE... /program args...

BB=/run/vmharness/bin/busybox
CTL=/run/vmharness/ctl
V=/run/vmharness
PATH=/usr/sbin:/usr/bin:/sbin:/bin

finish() { # finish STATUS
    echo "$1" >$CTL/status.tmp && $BB mv $CTL/status.tmp $CTL/status
    echo "VMHARNESS_EXIT=$1"
    $BB sync
    $BB poweroff -f
    $BB sleep 10
}

exec </dev/null >/dev/console 2>&1
. $CTL/config.sh || finish 125
. $CTL/argv.sh || finish 125

# Find a virtio port by name (devtmpfs creates /dev/vportNpM); fall back to
# the console.
port() {
    for p in /sys/class/virtio-ports/*; do
        if [ -e "$p/name" ] && [ "$($BB cat "$p/name")" = "$1" ]; then
            echo "/dev/${p##*/}"
            return
        fi
    done
    echo /dev/console
}

# The program writes into pipes (like under a CI runner) and cat copies them to
# the ports: a virtio port can only be opened once, so a program re-opening
# /dev/stdout or /dev/stderr would get EBUSY on the port itself.
$BB mkfifo $V/stdout $V/stderr
$BB chown "$VM_UID" $V/stdout $V/stderr
$BB cat $V/stdout >"$(port vmharness.stdout)" &
cat_out=$!
$BB cat $V/stderr >"$(port vmharness.stderr)" &
cat_err=$!

if [ "$VM_UID" != 0 ]; then
    set -- /usr/bin/setpriv --reuid="$VM_UID" --regid="$VM_GID" --init-groups \
        /usr/bin/env -i "$@"
else
    set -- /usr/bin/env -i "$@"
fi

read -r t0 _ </proc/uptime
echo "vmharness: starting program at uptime ${t0}s"
# The host's boot watchdog waits for this file; after it, a VM that dies is not a harness failure.
: >$CTL/started
(
    # Forked child of PID 1: move into the delegated cgroup ("0" = this
    # process), then become the user and exec the program.
    if [ "$VM_DELEGATE" = 1 ]; then
        echo 0 >/sys/fs/cgroup/ds-delegated/cgroup.procs || exit 125
    fi
    cd "$VM_CWD" || exit 125
    exec "$@"
) </dev/null >$V/stdout 2>$V/stderr
status=$?
read -r t1 _ </proc/uptime
echo "vmharness: program exited with status $status at uptime ${t1}s"
echo "$t0 $t1" >$CTL/guest-times

# Background processes left by the program may keep the pipes open: give the
# copiers a moment to drain, then stop them.
i=0
while [ $i -lt 30 ] && { kill -0 $cat_out || kill -0 $cat_err; } 2>/dev/null; do
    $BB sleep 0.1
    i=$((i + 1))
done
kill $cat_out $cat_err 2>/dev/null
finish "$status"
