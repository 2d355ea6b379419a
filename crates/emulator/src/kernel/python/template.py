"""The session template ("zygote") of the emulator's namespace tier.

One template per emulator. It builds the sandbox's read-only root once, imports the preloaded modules once,
runs a warm-up (a DataFrame summary and a chart), freezes its heap, and then forks every session's kernel, so a
new session starts in milliseconds with the data stack already imported and its pages shared with every other
session. A second, bare template (forked before any import) serves `useEmptyKernel`.

It talks to the emulator on a SOCK_SEQPACKET socket: one JSON message per packet, file descriptors passed
along (SCM_RIGHTS). It runs no user code itself. Each session is forked three times:

  C1  joins the session's cgroup (root), becomes the session's host uid (root), makes its own user namespace
      (only its uid mapped, as 65534), sets the process limit inside it, and unshares the mount, network, IPC,
      UTS, pid and cgroup namespaces; forks C2 and waits for it. The template answers the fork request with a
      pidfd of C1: killing C1 kills C2 (its death signal), and C2 is pid 1 of the session, so all of it ends.
  C2  pid 1 of the session: mounts its /proc, /dev, /mnt/data (the session's own tmpfs), /tmp and /home/user
      (sized tmpfs), hides the template's other mounts, brings up its loopback, forks C3, then drops every
      capability (C3 serves no cell before that), applies the seccomp filter and reaps processes until C3 exits.
      C1 and C2 wait by exec'ing `ds-init` (init.c), which keeps a few hundred KB of its own where a forked
      Python process keeps 1.4-1.8 MB; where it cannot run (not built, a noexec mount) they wait in Python.
  C3  the kernel (or, for JavaScript, the launcher that becomes Node.js): closes every descriptor but its two
      pipes, drops every capability, applies the seccomp
      filter, empties its environment, reseeds every random generator it inherited, and serves cells.

The configuration is the first message on the control socket (JSON), so that nothing but the kernel's own
variables is in the environment every session inherits. The control socket's descriptor is argv[1].
"""

import ctypes
import gc
import importlib
import json
import os
import signal
import socket
import struct
import sys
import time

CONFIG = {}
libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
libc.unshare.argtypes = [ctypes.c_int]
libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
libc.syscall.restype = ctypes.c_long

CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS = 0x00020000, 0x02000000, 0x04000000
CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x08000000, 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC = 32, 1024, 2048, 4096, 16384
MS_PRIVATE, MS_RELATIME, MS_STRICTATIME = 1 << 18, 1 << 21, 1 << 24
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_SECCOMP, PR_CAPBSET_DROP = 1, 4, 22, 24
PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 38, 47
PR_CAP_AMBIENT_CLEAR_ALL, SECCOMP_MODE_FILTER = 4, 2
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV = 0x1, 0x2, 0x4
AT_FDCWD, AT_RECURSIVE = -100, 0x8000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 1


def check(rc, what):
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, "%s: %s" % (what, os.strerror(err)))


def mount(source, target, fstype, flags, data=None):
    enc = lambda s: s.encode() if isinstance(s, str) else s  # noqa: E731
    check(libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), "mount %s" % target)


def unshare(flags):
    check(libc.unshare(flags), "unshare")


def prctl(option, arg2=0, arg3=0, arg4=0, arg5=0):
    check(libc.prctl(option, arg2, arg3, arg4, arg5), "prctl %d" % option)


def write_file(path, text):
    with open(path, "w") as f:
        f.write(text)


# --------------------------------------------------------------------------------------------------------
# The template's root: a tmpfs with the host's system directories, the runtime and the kernel bound read-only
# at the same paths (so every path the interpreter knows stays valid), made read-only itself.

def _preserved_flags(path):
    """The flags a read-only bind of `path` must keep (a user namespace may not clear locked ones)."""
    st = os.statvfs(path)
    flags = 0
    for st_bit, ms_bit in ((1, MS_RDONLY), (2, MS_NOSUID), (4, MS_NODEV), (8, MS_NOEXEC), (1024, MS_NOATIME),
                           (2048, MS_NODIRATIME), (4096, MS_RELATIME)):
        if st.f_flag & st_bit:
            flags |= ms_bit
    return flags


def bind_readonly(source, target):
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            open(target, "w").close()
    mount(source, target, None, MS_BIND | MS_REC)
    flags = _preserved_flags(source) | MS_RDONLY | MS_NOSUID | MS_NODEV
    mount(None, target, None, MS_BIND | MS_REMOUNT | flags)
    # The remount above changes the top mount only: mounts below it (a separate /usr/local, the runtime's
    # filesystem) would keep their host flags. mount_setattr(2) makes the whole tree read-only.
    attr = struct.pack("QQQQ", MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, 0, 0, 0)
    rc = libc.syscall(ctypes.c_long(CONFIG["sys_mount_setattr"]), ctypes.c_long(AT_FDCWD), ctypes.c_char_p(target.encode()),
                      ctypes.c_long(AT_RECURSIVE), ctypes.c_char_p(attr), ctypes.c_long(len(attr)))
    if rc != 0 and ctypes.get_errno() != 38:  # ENOSYS: a kernel before 5.12 keeps the top-level remount
        check(rc, "mount_setattr %s" % target)


def build_root():
    root = CONFIG["root"]
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=0755")
    for name in ("proc", "dev", "tmp", "mnt/data", "home/user", "sessions", ".oldroot", "etc"):
        os.makedirs(os.path.join(root, name), exist_ok=True)
    os.chmod(os.path.join(root, "tmp"), 0o1777)
    for link, target in CONFIG["symlinks"]:
        os.symlink(target, root + link)
    for source, target in CONFIG["binds"]:
        if os.path.exists(source):
            bind_readonly(source, root + target)
    mount("tmpfs", os.path.join(root, "sessions"), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=1m,mode=0711")
    # The template's own /dev: the device nodes it (and sessions, later) bind from the host.
    mount("tmpfs", os.path.join(root, "dev"), "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755")
    for device in CONFIG["devices"]:
        target = root + device
        open(target, "w").close()
        mount(device, target, None, MS_BIND)
    old = os.path.join(root, ".oldroot")
    check(libc.syscall(CONFIG["sys_pivot_root"], root.encode(), old.encode()), "pivot_root")
    os.chdir("/")
    # The host stays under /.oldroot in the template only: a session mounts its own /proc while the host's is
    # still visible (the kernel requires that of a user namespace), then covers /.oldroot.


def seal_root():
    mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


# --------------------------------------------------------------------------------------------------------
# Preloading.

def use_runtime():
    """The runtime's packages and the kernel, at their places in the sandbox (/opt/runtime, /opt/kernel)."""
    import site

    runtime = CONFIG.get("runtime")
    if runtime:
        site.addsitedir(os.path.join(runtime, "lib", "python%d.%d" % sys.version_info[:2], "site-packages"))
    sys.path.insert(0, CONFIG["kernel_dir"])


def copy_mpl_cache():
    """matplotlib reads (and may write) its cache in MPLCONFIGDIR, /tmp/mpl: a copy of the runtime's prebuilt
    font cache goes there (the template's /tmp, then each session's own)."""
    mpl = CONFIG.get("mpl_cache")
    if mpl:
        os.makedirs("/tmp/mpl", exist_ok=True)
        for name in os.listdir(mpl):
            with open(os.path.join(mpl, name), "rb") as src, open(os.path.join("/tmp/mpl", name), "wb") as dst:
                dst.write(src.read())


def preload():
    use_runtime()
    started = time.perf_counter()
    copy_mpl_cache()
    errors = []
    import kernel  # noqa: F401  (its code is then shared by every session)

    for name in CONFIG["preimport"]:
        try:
            importlib.import_module(name)
        except Exception as e:  # noqa: BLE001 - reported, not fatal
            errors.append("%s: %s" % (name, e))
    if CONFIG.get("warm_up"):
        warm_up()
    return (time.perf_counter() - started) * 1000.0, errors


def warm_up():
    """Runs what nearly every first cell runs once, so the code paths, caches and lazily built tables are in
    the template's memory (shared) rather than built again by every session."""
    try:
        import pandas as pd

        pd.DataFrame({"a": range(100), "b": [i * 0.5 for i in range(100)]}).describe().to_string()
    except Exception:  # noqa: BLE001
        pass
    try:
        import io

        import matplotlib.pyplot as plt

        fig = plt.figure()
        plt.plot([1, 2, 3], [2, 1, 3])
        plt.title("warm-up")
        fig.savefig(io.BytesIO(), format="png", bbox_inches="tight")
        plt.close("all")
        # Fonts keep their files open (glyphs load lazily); a session closes every inherited descriptor, so
        # none may stay cached here. A session opens them again on its first chart (about a millisecond).
        import matplotlib.font_manager

        matplotlib.font_manager._get_font.cache_clear()
    except Exception:  # noqa: BLE001
        pass
    gc.collect()


def open_descriptors(keep):
    """The template's descriptors other than `keep`, as `fd -> target` (sessions close them)."""
    found = {}
    for name in os.listdir("/.oldroot/proc/self/fd"):
        fd = int(name)
        if fd in keep:
            continue
        try:
            found[fd] = os.readlink("/.oldroot/proc/self/fd/" + name)
        except OSError:
            pass  # the descriptor of the listing itself
    return found


# --------------------------------------------------------------------------------------------------------
# Sessions.

def drop_capabilities(last_cap):
    for cap in range(last_cap + 1):
        try:
            prctl(PR_CAPBSET_DROP, cap)
        except OSError:
            pass
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    header = struct.pack("Ii", 0x20080522, 0)
    data = struct.pack("IIIIII", 0, 0, 0, 0, 0, 0)
    check(libc.capset(header, data), "capset")


def apply_seccomp(program):
    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0), "seccomp")


def loopback_up():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", __import__("fcntl").ioctl(s.fileno(), SIOCGIFFLAGS, ifreq))[1]
        __import__("fcntl").ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))


def session_mounts(session_id):
    sizes = CONFIG["sizes"]
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    # Its own /dev, with the host's harmless device nodes (bound from the template's).
    mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755")
    for device in CONFIG["devices"]:
        open(device, "w").close()
        mount("/.oldroot" + device, device, None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, "/dev/" + name)
    os.mkdir("/dev/shm")
    mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=%d,mode=1777" % sizes["shm"])
    mount("/sessions/" + session_id, "/mnt/data", None, MS_BIND)
    mount(None, "/mnt/data", None, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV)
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=%d,mode=1777" % sizes["tmp"])
    mount("tmpfs", "/home/user", "tmpfs", MS_NOSUID | MS_NODEV, "size=%d,mode=0755,uid=65534,gid=65534" % sizes["home"])
    copy_mpl_cache()
    for hidden in ("/sessions", "/.oldroot"):
        mount("tmpfs", hidden, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0555")


def session(request, fds, seccomp, last_cap):
    """Runs in the forked child (C1); never returns."""
    proto_in, proto_out, err = fds[0], fds[1], fds[2]
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        os.dup2(err, 2)
        for fd in fds[3:]:  # the session's cgroup.procs files (root): join before anything else
            os.write(fd, b"0")
        os.dup2(proto_in, 3)
        os.dup2(proto_out, 4)
        os.closerange(5, os.sysconf("SC_OPEN_MAX"))
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the template's death ends the session
        os.setsid()
        import resource

        # The address space the session inherits (the template's, mostly reserved and shared) does not count
        # against its memory limit: RLIMIT_AS is that plus the limit.
        with open("/.oldroot/proc/self/statm") as f:
            inherited = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        for name, value in CONFIG["rlimits"]:
            if name == "RLIMIT_AS":
                value += inherited
                if request.get("language") == "javascript" and CONFIG.get("node"):
                    value += CONFIG["node"]["address_space_extra"]
            resource.setrlimit(getattr(resource, name), (value, value))
        uid = request.get("uid")
        if uid is not None:  # the emulator runs as root: become the session's own host uid
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            # Changing the uid made the process non-dumpable, which would leave its /proc files to root.
            prctl(PR_SET_DUMPABLE, 1)
        outer_uid, outer_gid = os.geteuid(), os.getegid()
        unshare(CLONE_NEWUSER)
        # The template has no /proc of its own; the host's (same pid namespace) is under /.oldroot.
        write_file("/.oldroot/proc/self/setgroups", "deny")
        write_file("/.oldroot/proc/self/uid_map", "65534 %d 1" % outer_uid)
        write_file("/.oldroot/proc/self/gid_map", "65534 %d 1" % outer_gid)
        # Counted per user namespace: this bounds the session alone.
        resource.setrlimit(resource.RLIMIT_NPROC, (CONFIG["nproc"], CONFIG["nproc"]))
        unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWCGROUP)
        # C1 stays: the emulator holds its pidfd, and its death (killed by the emulator, or with the
        # template) takes C2 and so the whole session with it. A pipe tells C2 whether C1 is still there once
        # C2 has asked for that death signal.
        alive_read, alive_write = os.pipe()
        init = os.fork()
        if init == 0:
            os.close(alive_write)
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            os.set_blocking(alive_read, False)
            try:
                gone = os.read(alive_read, 1) == b""
            except BlockingIOError:
                gone = False
            os.close(alive_read)
            if gone:
                os._exit(70)
            session_init(request, seccomp, last_cap)
        os.close(alive_read)
        # Nothing of the session's stays open here (its pipes must close when its kernel exits).
        os.closerange(0, alive_write)
        os.closerange(alive_write + 1, os.sysconf("SC_OPEN_MAX"))
        os.set_inheritable(alive_write, True)  # C2 may not have looked yet: it must not see C1 gone
        exec_init(init)
        while True:
            try:
                _, status = os.waitpid(init, 0)
                os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
            except InterruptedError:
                continue
            except ChildProcessError:
                os._exit(0)
    except BaseException as e:  # noqa: BLE001
        try:
            os.write(2, ("the session sandbox could not be set up: %s\n" % e).encode())
        finally:
            os._exit(70)


def session_init(request, seccomp, last_cap):
    """pid 1 of the session (C2)."""
    session_mounts(request["id"])
    socket.sethostname("session")
    loopback_up()
    # The kernel serves its first cell only once this process has dropped its capabilities (the pipe closes):
    # until then session code would meet a pid 1 with more privileges than its own (reading /proc/1/environ,
    # for one, fails). Both set themselves up meanwhile.
    dropped_read, dropped_write = os.pipe()
    kernel_pid = os.fork()
    if kernel_pid == 0:
        os.close(dropped_write)
        session_kernel(request, seccomp, last_cap, dropped_read)
    # The init: no capabilities, the same filter, then reap until the kernel exits.
    drop_capabilities(last_cap)
    os.closerange(0, dropped_write)
    os.closerange(dropped_write + 1, os.sysconf("SC_OPEN_MAX"))
    apply_seccomp(seccomp)
    # The kernel may serve cells once `dropped_write` closes: at the exec (it is close-on-exec), so session code
    # only ever meets pid 1 as `ds-init`; or here, when it cannot run.
    exec_init(kernel_pid)
    os.close(dropped_write)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(0)
        except InterruptedError:
            continue
        if pid == kernel_pid:
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def exec_init(child):
    """Becomes `ds-init`, which waits for `child` as the loops after the calls do (reaping every other child,
    exiting with `child`'s status), with the rights, limits, death signal and seccomp filter this process has.
    Returns only when it cannot run: the caller then waits in Python."""
    path = CONFIG.get("init")
    if path:
        try:
            os.execv(path, ["ds-init", str(child)])
        except OSError:
            pass


def reseed():
    """Every random generator a forked process inherits starts from fresh entropy."""
    import random

    random.seed(os.urandom(32))
    np = sys.modules.get("numpy")
    if np is not None:
        try:
            np.random.seed(np.frombuffer(os.urandom(32), dtype=np.uint32))
        except Exception:  # noqa: BLE001
            pass


def session_kernel(request, seccomp, last_cap, init_dropped):
    """The kernel (C3); `init_dropped` reads end-of-file once pid 1 has dropped its capabilities. A JavaScript
    session's kernel becomes Node.js (see launch.py), under the same filter and without capabilities."""
    try:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        drop_capabilities(last_cap)
        apply_seccomp(seccomp)
        os.environ.clear()
        os.environ.update(CONFIG["env"])
        os.chdir("/mnt/data")
        reseed()
        import kernel

        while os.read(init_dropped, 1):
            pass
        os.close(init_dropped)
        if request.get("language") == "javascript":
            import launch

            node = CONFIG["node"]
            launch.exec_node(node["path"], node["args"], node["kernel"], 3, 4, 2, dict(os.environ))
        kernel.start(3, 4, CONFIG.get("preimport_ms", 0.0), CONFIG.get("preimport_errors", []))
    except BaseException as e:  # noqa: BLE001
        try:
            os.write(2, ("the session kernel failed: %s\n" % e).encode())
        except OSError:
            pass
    os._exit(0)


# --------------------------------------------------------------------------------------------------------
# The control loop.

def serve(control, seccomp, last_cap, bare=None):
    """Answers the emulator's requests on `control`; forwards empty-kernel forks to `bare`."""
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, 65536, 16)
        except InterruptedError:
            continue
        except OSError:
            os._exit(0)
        if not message:
            os._exit(0)  # the emulator is gone
        request = json.loads(message)
        op = request.get("op")
        reply, reply_fds = {"ok": True}, []
        try:
            if op == "fork":
                if request.get("flavor") == "empty" and bare is not None:
                    # The bare template forks it and answers; its answer goes back as it came.
                    socket.send_fds(bare, [message], fds)
                    reply_message, reply_fds, _, _ = socket.recv_fds(bare, 65536, 4)
                    reply = json.loads(reply_message)
                else:
                    child = os.fork()
                    if child == 0:
                        control.close()
                        session(request, fds, seccomp, last_cap)
                    # A descriptor of the session's first process, taken while it surely lives (it waits for
                    # its whole session): the emulator signals and awaits the session through it, never by a
                    # pid that could be reused.
                    reply_fds = [os.pidfd_open(child)]
                    reply = {"ok": True, "pid": child}
            elif op == "mount":
                path = "/sessions/" + request["id"]
                os.mkdir(path, 0o700)
                options = "size=%d,mode=0700,uid=%d,gid=%d" % (request["size"], request["uid"], request["uid"])
                mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, options)
                reply_fds = [os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)]
            elif op == "umount":
                path = "/sessions/" + request["id"]
                libc.umount2(path.encode(), MNT_DETACH)
                os.rmdir(path)
            else:
                reply = {"ok": False, "error": "unknown op %r" % op}
        except (OSError, ValueError) as e:
            reply = {"ok": False, "error": str(e)}
        finally:
            for fd in fds:  # the session's pipes and cgroup files: the child has its copies
                os.close(fd)
        # Every request gets exactly one answer, with the request's number: the emulator drops an answer that
        # comes after its request stopped waiting, so answers can never drift from their requests.
        reply["seq"] = request.get("seq")
        socket.send_fds(control, [json.dumps(reply).encode()], reply_fds)
        for fd in reply_fds:
            os.close(fd)


def main():
    control = socket.socket(fileno=int(sys.argv[1]))
    message, _, _, _ = socket.recv_fds(control, 1 << 20, 0)
    CONFIG.update(json.loads(message))
    last_cap = int(open("/proc/sys/kernel/cap_last_cap").read())
    with open(CONFIG["seccomp"], "rb") as f:
        seccomp = f.read()
    build_root()
    # Forked sessions must never be zombies of the template; C1 restores the default.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    bare_here, bare_there = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    if os.fork() == 0:
        # The bare template: no preloaded modules (useEmptyKernel), the same root and session mounts.
        control.close()
        bare_here.close()
        use_runtime()
        import kernel  # noqa: F401

        gc.freeze()
        serve(bare_there, seccomp, last_cap)
    bare_there.close()
    preimport_ms, errors = preload()
    CONFIG["preimport_ms"], CONFIG["preimport_errors"] = preimport_ms, errors
    seal_root()
    gc.collect()
    gc.freeze()
    stray = open_descriptors({0, 1, 2, control.fileno(), bare_here.fileno()})
    ready = {"op": "ready", "preimport_ms": preimport_ms, "errors": errors, "stray_descriptors": stray}
    socket.send_fds(control, [json.dumps(ready).encode()], [])
    serve(control, seccomp, last_cap, bare_here)


if __name__ == "__main__":
    main()
