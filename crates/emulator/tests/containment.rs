//! What sandboxed session code cannot do, in every sandbox tier: reach the network or the host, see other
//! sessions, escape through planted symlinks, widen the kernel surface, or take the machine down with
//! fork, memory, tmpfs, disk, descriptor or output bombs.
//!
//! CI runs this binary as root, and as an unprivileged user with and without a delegated cgroup
//! (`scripts/containment-as-user.sh`), because the guarantees differ in how they are enforced (cgroups and a
//! uid per session as root; user namespaces and rlimits as a user) and all must hold; then again on a cgroup
//! v2 host, a small virtual machine (`scripts/containment-cgroup-v2.sh`).
//!
//! Every network probe targets loopback only: listeners this test starts itself. No packet is ever sent to
//! another address, not even from inside a sandbox that should block it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "containment/delegated_cgroup.rs"]
mod delegated_cgroup;
#[path = "containment/javascript.rs"]
mod javascript;

use std::time::{Duration, Instant};

use common::{Harness, new_id, start_tier};
use dynamic_sessions::{Error, ExecutionStatus, Session};
use dynamic_sessions_emulator::config::SandboxMode;
use serde_json::{Value, json};

/// Every tier, strongest first.
const ALL: [SandboxMode; 3] = [SandboxMode::Namespaces, SandboxMode::Bubblewrap, SandboxMode::Landlock];
/// The tiers with namespaces.
const NAMESPACED: [SandboxMode; 2] = [SandboxMode::Namespaces, SandboxMode::Bubblewrap];

const MEMORY: u64 = 512 << 20;
const DISK: u64 = 64 << 20;
const TMP: u64 = 32 << 20;
const PROCESSES: u32 = 64;

/// In the Landlock tier as an ordinary user without cgroups, every session counts against one process ceiling
/// (the user's): while its fork bomb runs, another test's kernels could not start processes. Every test holds
/// this lock shared; that fork bomb holds it alone.
static PROCESS_COUNT: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// A test's shared hold on [`PROCESS_COUNT`].
async fn sharing_processes() -> tokio::sync::RwLockReadGuard<'static, ()> {
    PROCESS_COUNT.read().await
}

/// The hold a fork bomb in `tier` needs: [`PROCESS_COUNT`] alone where every session counts against one
/// process ceiling (the Landlock tier as an ordinary user without cgroups), shared elsewhere.
async fn hold_processes_for_a_bomb(
    h: &Harness,
    tier: SandboxMode,
) -> (Option<tokio::sync::RwLockWriteGuard<'static, ()>>, Option<tokio::sync::RwLockReadGuard<'static, ()>>) {
    let shared_count = tier == SandboxMode::Landlock && !as_root() && h.emulator.emulator.sandbox().cgroups == "none";
    if shared_count { (Some(PROCESS_COUNT.write().await), None) } else { (None, Some(sharing_processes().await)) }
}

async fn contained(mode: SandboxMode) -> Option<Harness> {
    start_tier(mode, containment_limits).await
}

/// The limits every containment test runs under, and one ready session.
fn containment_limits(c: &mut dynamic_sessions_emulator::config::EmulatorConfig) {
    c.limits.memory_bytes = MEMORY;
    c.limits.max_processes = PROCESSES;
    c.limits.disk_bytes = DISK;
    c.limits.tmp_bytes = TMP;
    c.ready_sessions = 1;
}

fn as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A file on the host, outside every session: `(its directory, its path)`.
fn host_secret() -> (tempfile::TempDir, std::path::PathBuf) {
    let outside = tempfile::tempdir().unwrap();
    let path = outside.path().join("host-secret.txt");
    std::fs::write(&path, "host secret").unwrap();
    (outside, path)
}

/// Runs code that prints one JSON object and returns it.
async fn probe(session: &Session, code: &str) -> Value {
    let run = session.execute(code).timeout(Duration::from_secs(60)).send().await.unwrap();
    assert!(run.is_success(), "probe failed: {}", run.stderr);
    serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("probe output {:?}: {e}", run.stdout))
}

/// `t(name, f)` records `ok: <repr>` or `blocked: <exception>`; `call(name, nr, *args)` makes a raw system call
/// and records `[result, errno]` (a `clone` that worked exits in the child at once).
const TRY: &str = r#"
import ctypes, json, os, socket
out = {}
def t(name, f):
    try:
        out[name] = "ok: " + repr(f())[:100]
    except BaseException as e:
        out[name] = "blocked: " + type(e).__name__
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
def call(name, nr, *args):
    ctypes.set_errno(0)
    r = _libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    if r == 0 and nr == 56:
        os._exit(0)
    out[name] = [r, ctypes.get_errno()]
"#;

fn blocked(out: &Value, keys: &[&str], tier: SandboxMode) {
    for key in keys {
        assert!(out[*key].as_str().unwrap_or_default().starts_with("blocked"), "{tier:?} {key}: {}", out[*key]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_network_is_only_the_sessions_own_loopback() {
    let _processes = sharing_processes().await;
    for tier in ALL {
        let Some(h) = contained(tier).await else { continue };
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let name = format!("ds-containment-{}", std::process::id());
        let address =
            <std::os::unix::net::SocketAddr as std::os::linux::net::SocketAddrExt>::from_abstract_name(name.as_bytes())
                .unwrap();
        let abstract_unix = std::os::unix::net::UnixListener::bind_addr(&address).unwrap();
        abstract_unix.set_nonblocking(true).unwrap();
        let session = h.client().session(new_id());
        let code = format!(
            "{TRY}\nt('host_tcp', lambda: socket.create_connection(('127.0.0.1', {tcp}), timeout=3))\n\
             t('host_abstract_unix', lambda: socket.socket(socket.AF_UNIX).connect('\\0{name}'))\n\
             t('udp_to_host', lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', {udp})))\n\
             t('interfaces', lambda: sorted(l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]))\n\
             t('routes', lambda: len(open('/proc/net/route').readlines()) - 1)\n\
             t('own_loopback_server', lambda: socket.create_server(('127.0.0.1', 0)).getsockname()[1] > 0)\n\
             print(json.dumps(out))",
            tcp = tcp.local_addr().unwrap().port(),
            udp = udp.local_addr().unwrap().port(),
        );
        let out = probe(&session, &code).await;
        blocked(&out, &["host_tcp", "host_abstract_unix"], tier);
        if tier == SandboxMode::Landlock {
            // No network namespace: no socket at all (and no /proc to list interfaces from).
            blocked(&out, &["udp_to_host", "own_loopback_server", "interfaces"], tier);
        } else {
            assert_eq!(out["interfaces"], json!("ok: ['lo']"), "{tier:?}: only a loopback of its own");
            assert_eq!(out["routes"], json!("ok: 0"), "{tier:?}: no route anywhere");
            assert_eq!(out["own_loopback_server"], json!("ok: True"), "{tier:?}: its own loopback works");
        }
        let mut buffer = [0u8; 16];
        let heard = tokio::time::timeout(Duration::from_millis(200), udp.recv_from(&mut buffer)).await;
        assert!(heard.is_err(), "{tier:?}: the host's UDP socket heard the session");
        let accepted = tokio::time::timeout(Duration::from_millis(100), tcp.accept()).await;
        assert!(accepted.is_err(), "{tier:?}: the host's TCP listener saw a connection");
        assert!(abstract_unix.accept().is_err(), "{tier:?}: the host's abstract socket saw a connection");
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_and_other_sessions_are_invisible_and_the_root_is_read_only() {
    let _processes = sharing_processes().await;
    for tier in NAMESPACED {
        let Some(h) = contained(tier).await else { continue };
        let (_outside, host_secret) = host_secret();
        let client = h.client();
        let a = client.session(new_id());
        let b = client.session(new_id());
        a.files().upload("a-secret.txt", "session A's secret").await.unwrap();
        a.execute("open('/tmp/a-tmp.txt', 'w').write('tmp of A')").await.unwrap();
        let code = format!(
            "{TRY}\nt('host_file', lambda: open({secret:?}).read())\n\
             t('etc_shadow', lambda: open('/etc/shadow').read())\n\
             t('root_home', lambda: os.listdir('/root'))\n\
             t('emulator_data', lambda: os.listdir({data:?}))\n\
             t('a_tmp', lambda: open('/tmp/a-tmp.txt').read())\n\
             t('my_files', lambda: os.listdir('/mnt/data'))\n\
             t('write_usr', lambda: open('/usr/evil', 'w'))\n\
             t('write_etc', lambda: open('/etc/evil', 'w'))\n\
             t('write_root', lambda: open('/evil', 'w'))\n\
             t('write_runtime', lambda: open('/opt/runtime/evil', 'w'))\n\
             t('write_tmp', lambda: open('/tmp/ok', 'w').write('x'))\n\
             t('write_data', lambda: open('/mnt/data/ok', 'w').write('x'))\n\
             t('uid', lambda: os.getuid())\n\
             t('pids', lambda: max(int(p) for p in os.listdir('/proc') if p.isdigit()) < 10)\n\
             t('signal_host', lambda: os.kill({test_pid}, 0))\n\
             t('environ_1', lambda: set(filter(None, open('/proc/1/environ', 'rb').read().decode().split(chr(0)))) <= {{k + '=' + v for k, v in os.environ.items()}})\n\
             t('host_vars', lambda: [k for k in os.environ if k.startswith(('CARGO', 'RUST', 'AZURE', 'DYNAMIC', 'HOME=/root'))])\n\
             t('mount', lambda: _libc.mount(b'none', b'/tmp', b'tmpfs', 0, None) == 0 or 1/0)\n\
             print(json.dumps(out))",
            secret = host_secret.display().to_string(),
            data = h.data_dir().display().to_string(),
            test_pid = std::process::id(),
        );
        let out = probe(&b, &code).await;
        blocked(
            &out,
            &[
                "host_file",
                "etc_shadow",
                "root_home",
                "emulator_data",
                "a_tmp",
                "write_usr",
                "write_etc",
                "write_root",
                "write_runtime",
                "signal_host",
                "mount",
            ],
            tier,
        );
        assert_eq!(out["my_files"], json!("ok: []"), "{tier:?}: B sees none of A's files");
        assert_eq!(out["write_tmp"], json!("ok: 1"));
        assert_eq!(out["write_data"], json!("ok: 1"));
        assert_eq!(out["uid"], json!("ok: 65534"));
        assert_eq!(out["pids"], json!("ok: True"), "{tier:?}: a pid namespace of its own");
        assert_eq!(out["environ_1"], json!("ok: True"), "{tier:?}: pid 1 knows no variable the kernel does not");
        assert_eq!(out["host_vars"], json!("ok: []"));
        assert!(b.files().list().await.unwrap().iter().all(|f| f.name != "a-secret.txt"));
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_symlinks_cannot_reach_host_files() {
    let _processes = sharing_processes().await;
    for tier in ALL {
        let Some(h) = contained(tier).await else { continue };
        let (outside, host_secret) = host_secret();
        let session = h.client().session(new_id());
        let plant = format!(
            // Relative to the working directory, /mnt/data (the Landlock tier has no mount there).
            "import os\nos.symlink({:?}, 'evil.txt')\nos.symlink('/etc/passwd', 'passwd')\n\
             os.symlink({:?}, 'outside')\nos.mkfifo('fifo')\nsorted(os.listdir('.'))",
            host_secret.display().to_string(),
            outside.path().display().to_string()
        );
        let run = session.execute(plant).await.unwrap();
        assert!(run.is_success(), "{tier:?}: {}", run.stderr);
        for name in ["evil.txt", "passwd", "outside/host-secret.txt", "fifo"] {
            let err = session.files().download(name).await.unwrap_err();
            assert!(matches!(err, Error::Service(_) | Error::NotFound(_)), "{tier:?} {name}: {err:?}");
            assert!(!err.to_string().contains("host secret"));
        }
        let err = session.files().upload("outside/pwned.txt", "x").await.unwrap_err();
        assert!(matches!(err, Error::Service(_)), "{tier:?}: {err:?}");
        assert!(!outside.path().join("pwned.txt").exists(), "{tier:?}: nothing was written through the link");
        let listed = session.files().list().recursive(true).await.unwrap();
        assert!(listed.is_empty(), "{tier:?}: links and FIFOs are not session files: {listed:?}");
        assert_eq!(std::fs::read_to_string(&host_secret).unwrap(), "host secret");
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kernel_surface_is_narrow() {
    let _processes = sharing_processes().await;
    const EPERM: i64 = 1;
    const ENOSYS: i64 = 38;
    for tier in ALL {
        let Some(h) = contained(tier).await else { continue };
        let client = h.client();
        let a = client.session(new_id());
        let b = client.session(new_id());
        let code = format!(
            "{TRY}\n\
             call('unshare_user', 272, 0x10000000)\n\
             call('unshare_net', 272, 0x40000000)\n\
             call('clone_user', 56, 0x10000000 | 17, 0, 0, 0, 0)\n\
             call('clone_pid_net', 56, 0x20000000 | 0x40000000 | 17, 0, 0, 0, 0)\n\
             call('clone3', 435, 0, 0)\n\
             call('x32_getpid', 0x40000000 | 39)\n\
             call('x32_unshare', 0x40000000 | 272, 0x10000000)\n\
             call('ptrace_traceme', 101, 0, 0, 0, 0)\n\
             call('keyctl', 250, 0, 0, 0, 0, 0)\n\
             call('bpf', 321, 0, 0, 0)\n\
             call('io_uring', 425, 1, 0)\n\
             t('netlink', lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0))\n\
             t('packet', lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0))\n\
             t('vsock', lambda: socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM, 0))\n\
             t('raw_icmp', lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))\n\
             t('host_cmdline', lambda: open('/proc/{test_pid}/cmdline', 'rb').read())\n\
             shm = _libc.shmget(0x5eed, 4096, 0o1666)\n\
             out['shmget'] = [shm, ctypes.get_errno()]\n\
             print(json.dumps(out))",
            test_pid = std::process::id(),
        );
        let out = probe(&a, &code).await;
        for key in ["unshare_user", "unshare_net", "clone_user", "clone_pid_net", "ptrace_traceme", "keyctl", "bpf"] {
            assert_eq!(out[key], json!([-1, EPERM]), "{tier:?} {key}");
        }
        for key in ["clone3", "x32_getpid", "x32_unshare"] {
            assert_eq!(out[key], json!([-1, ENOSYS]), "{tier:?} {key}");
        }
        assert_eq!(out["io_uring"][0], json!(-1), "{tier:?} io_uring");
        blocked(&out, &["netlink", "packet", "vsock", "raw_icmp", "host_cmdline"], tier);
        if tier == SandboxMode::Landlock {
            // No IPC namespace: SysV IPC is refused (its objects would outlive the session).
            assert_eq!(out["shmget"], json!([-1, EPERM]), "{tier:?}");
        } else {
            // An IPC namespace of its own: a segment exists for its maker only.
            assert!(out["shmget"][0].as_i64().unwrap() >= 0, "{tier:?}: {}", out["shmget"]);
            let other = probe(&b, &format!("{TRY}\nout['shmget'] = [_libc.shmget(0x5eed, 0, 0o666), ctypes.get_errno()]\nprint(json.dumps(out))")).await;
            assert_eq!(other["shmget"], json!([-1, 2]), "{tier:?}: B does not see A's segment (ENOENT)");
        }
        h.stop().await;
    }
}

/// Asserts that another session answers within 5 s, and that the host can still start processes.
async fn neighbour_and_host_are_fine(neighbour: &Session, after: &str) {
    let started = Instant::now();
    let run = neighbour.execute("sum(range(1000))").timeout(Duration::from_secs(30)).send().await.unwrap();
    assert_eq!(run.result, Some(json!(499500)), "after {after}");
    assert!(started.elapsed() < Duration::from_secs(5), "after {after} the neighbour took {:?}", started.elapsed());
    let status = std::process::Command::new("true").status();
    assert!(status.is_ok_and(|s| s.success()), "after {after} the host cannot start a process");
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let available_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    assert!(available_kib > 256 * 1024, "after {after} the host has {available_kib} KiB available");
}

/// Fills the directory `path` with 16 MiB files (below the per-file size limit, so only a bound on the
/// total stops it) until an error, then removes them: `[bytes written, errno]`.
const FILL: &str = r#"
import os
def fill(path, most=2 << 30):
    n, names = 0, []
    try:
        while n < most:
            name = os.path.join(path, 'fill-%d' % len(names))
            names.append(name)
            with open(name, 'wb') as f:
                for _ in range(16):
                    f.write(b'x' * (1 << 20))
                    f.flush()
                    n += 1 << 20
        return [n, 0]
    except OSError as e:
        return [n, e.errno]
    finally:
        for name in names:
            try:
                os.remove(name)
            except OSError:
                pass
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_bombs_are_contained() {
    for tier in ALL {
        let Some(h) = contained(tier).await else { continue };
        let _processes = hold_processes_for_a_bomb(&h, tier).await;
        let client = h.client();
        let neighbour = client.session(new_id());
        neighbour.execute("1").await.unwrap();

        // Fork bomb: the process limit (a pids cgroup; RLIMIT_NPROC in the session's user namespace; or, in
        // the Landlock tier as an ordinary user, a ceiling of RLIMIT_NPROC over the user's processes) stops
        // it; the neighbour answers while it runs and after, and deleting the session ends every process.
        let bomb = client.session(new_id());
        let fork_bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass";
        let (run, ()) = tokio::join!(bomb.execute(fork_bomb).timeout(Duration::from_secs(4)).send(), async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            neighbour_and_host_are_fine(&neighbour, "a running fork bomb").await;
        });
        assert_eq!(run.unwrap().status, ExecutionStatus::Failed, "{tier:?}");
        bomb.delete().await.unwrap();
        neighbour_and_host_are_fine(&neighbour, "a fork bomb").await;

        // Memory bomb: the address-space limit turns it into a MemoryError and the session keeps its state.
        let hog = client.session(new_id());
        hog.execute("kept = 'still here'").await.unwrap();
        let run = hog.execute("hoard = []\nwhile True:\n    hoard.append(bytearray(32 * 1024 * 1024))").await.unwrap();
        assert_eq!(run.status, ExecutionStatus::Failed, "{tier:?}");
        assert!(run.stderr.contains("MemoryError"), "{tier:?}: {}", run.stderr);
        neighbour_and_host_are_fine(&neighbour, "a memory bomb").await;
        let after = hog.execute("del hoard\nkept").await.unwrap();
        assert_eq!(after.result, Some(json!("still here")), "{tier:?}: {after:?}");

        // Fillers: every writable place is bounded in total (ENOSPC at its size). Where the session's files
        // are a host directory (the landlock tier as an ordinary user) only the per-file limit holds
        // (SECURITY.md); those places are left out.
        let mut places: Vec<(&str, u64)> = Vec::new();
        if disk_is_bounded(tier) {
            places.push(("'.'", DISK));
        }
        if tier != SandboxMode::Landlock || as_root() {
            places.push(("__import__('tempfile').gettempdir()", TMP));
        }
        if tier != SandboxMode::Landlock {
            places.push(("'/home/user'", dynamic_sessions_emulator::config::HOME_BYTES));
            places.push(("'/dev/shm'", dynamic_sessions_emulator::config::SHM_BYTES));
        }
        let filler = client.session(new_id());
        for (path, size) in places {
            let out = probe(&filler, &format!("{FILL}\nimport json\nprint(json.dumps(fill({path})))")).await;
            let (written, errno) = (out[0].as_u64().unwrap(), out[1].as_i64().unwrap());
            assert_eq!(errno, 28, "{tier:?} {path}: stopped by errno {errno} after {written} bytes, not by ENOSPC");
            assert!(written <= size, "{tier:?} {path}: {written} bytes written, the limit is {size}");
            neighbour_and_host_are_fine(&neighbour, &format!("filling {path}")).await;
        }

        // A million open files: the descriptor limit stops it well before.
        let opener = client.session(new_id());
        let run = opener
            .execute("files = []\nfor _ in range(10**6):\n    files.append(open('/dev/null'))")
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .unwrap();
        assert!(run.stderr.contains("Too many open files"), "{tier:?}: {}", run.stderr);
        neighbour_and_host_are_fine(&neighbour, "a million open files").await;
        let count = opener.execute("n = len(files)\ndel files\nn").await.unwrap();
        assert!(count.result.as_ref().and_then(Value::as_u64).is_some_and(|n| n <= 1024), "{tier:?}: {count:?}");

        // 200 MB of output, from Python and from a child process at the descriptor level: the emulator keeps
        // at most its output cap, and the session lives on.
        let flood = client.session(new_id());
        let run = flood
            .execute(
                "import subprocess, sys\nchunk = 'y' * (1 << 20)\nfor _ in range(200):\n    sys.stdout.write(chunk)\n\
                 subprocess.run('yes | head -c 209715200', shell=True)\n'survived'",
            )
            .output_streams_max_length(u32::MAX)
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .unwrap();
        assert_eq!(run.result, Some(json!("survived")), "{tier:?}: {}", run.stderr);
        assert!(run.stdout.len() <= (2 << 20), "{tier:?}: {} bytes of output kept", run.stdout.len());
        neighbour_and_host_are_fine(&neighbour, "a 200 MB output flood").await;
        // Not one process of the fork bomb (copies of the kernel) or of the floods is left.
        stop_leaving_nothing(h, tier).await;
    }
}

/// Whether a session's `/mnt/data` is bounded in total in `tier` (everywhere but the Landlock tier as an
/// ordinary user, where it is a host directory: SECURITY.md).
fn disk_is_bounded(tier: SandboxMode) -> bool {
    as_root() || tier != SandboxMode::Landlock
}

/// Stops the emulator and checks that nothing of its sessions is left running: every kernel, every process
/// a session started (their command lines name the kernel under the data directory), every holder.
async fn stop_leaving_nothing(h: Harness, tier: SandboxMode) {
    let data_dir = h.data_dir().to_path_buf();
    h.stop().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !processes_naming(&data_dir).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(processes_naming(&data_dir), Vec::<String>::new(), "{tier:?}: left running after stop");
}

/// The processes whose command line contains `needle`, as `pid: command line`.
fn processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push(format!("{}: {cmdline}", entry.file_name().to_string_lossy()));
        }
    }
    found
}

/// The processes whose command line names a path under `dir` (kernels, bubblewrap, the template).
fn processes_naming(dir: &std::path::Path) -> Vec<String> {
    processes_with(&dir.display().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_outlive_a_kernel_restart_and_stay_within_the_disk_size() {
    let _processes = sharing_processes().await;
    for tier in ALL {
        let Some(h) = contained(tier).await else { continue };
        let sandbox = h.emulator.emulator.sandbox();
        assert_eq!(sandbox.disk_quota, disk_is_bounded(tier), "{tier:?}");
        // Where it is not, the emulator says so, and /health lists no disk limit.
        let warned = sandbox.warnings.iter().any(|w| w.contains("/mnt/data") && w.contains("total size"));
        assert_eq!(warned, !disk_is_bounded(tier), "{tier:?}: {:?}", sandbox.warnings);
        let disk = sandbox.limits.iter().find(|l| l.resource == "disk").and_then(|l| l.value);
        assert_eq!(disk, disk_is_bounded(tier).then_some(DISK as f64), "{tier:?}");
        let session = h.client().session(new_id());
        session.files().upload("uploaded.txt", "from the API").await.unwrap();
        session.execute("open('written.txt', 'w').write('from the code')").await.unwrap();

        // A cell that ignores the interrupt: the kernel is killed and a new one started.
        let stubborn = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass";
        let run = session.execute(stubborn).timeout(Duration::from_secs(1)).send().await.unwrap();
        assert!(run.stderr.contains("state (variables, imports) was lost"), "{tier:?}: {}", run.stderr);

        // The new kernel sees the same files, and the API sees what it writes.
        let out = probe(
            &session,
            "import json\nopen('after.txt', 'w').write('after the restart')\n\
             print(json.dumps([open('uploaded.txt').read(), open('written.txt').read()]))",
        )
        .await;
        assert_eq!(out, json!(["from the API", "from the code"]), "{tier:?}");
        let after = session.files().download("after.txt").await.unwrap().bytes().await.unwrap();
        assert_eq!(&after[..], b"after the restart", "{tier:?}");

        // And they are still bounded by the disk size: the restarted kernel has the same tmpfs, not the
        // directory it covers.
        if disk_is_bounded(tier) {
            let out = probe(&session, &format!("{FILL}\nimport json\nprint(json.dumps(fill('.')))")).await;
            let (written, errno) = (out[0].as_u64().unwrap(), out[1].as_i64().unwrap());
            assert_eq!(errno, 28, "{tier:?}: stopped by errno {errno} after {written} bytes, not by ENOSPC");
            assert!(written <= DISK, "{tier:?}: {written} bytes written, the limit is {DISK}");
            let too_big = session.files().upload("too-big.bin", vec![0u8; DISK as usize + (1 << 20)]).await;
            assert!(too_big.is_err(), "{tier:?}: an upload above the disk size was taken");
        }
        if tier != SandboxMode::Landlock {
            // What the kernel sees at /mnt/data is a tmpfs of the disk size (its mount table is its own).
            let out = probe(
                &session,
                "import json\nprint(json.dumps([l.split(' - ')[1] for l in open('/proc/self/mountinfo') \
                 if l.split()[4] == '/mnt/data']))",
            )
            .await;
            let mounts = out.as_array().unwrap();
            let sized = format!("size={}k", DISK >> 10);
            assert!(
                mounts.len() == 1 && mounts[0].as_str().is_some_and(|m| m.starts_with("tmpfs") && m.contains(&sized)),
                "{tier:?}: /mnt/data is {mounts:?}"
            );
        }
        session.delete().await.unwrap();
        stop_leaving_nothing(h, tier).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sessions_processes_end_with_it_even_those_that_try_to_leave() {
    let _processes = sharing_processes().await;
    for tier in ALL {
        let Some(h) = contained(tier).await else { continue };
        let session = h.client().session(new_id());
        // A marker no other process has: `sleep` accepts fractions.
        let marker = format!("1000.{}", std::process::id() * 10 + tier as u32);
        let code = format!(
            "import os, subprocess\n\
             subprocess.Popen(['sleep', '{marker}'])\n\
             if os.fork() == 0:\n\
             \x20   if os.fork() == 0:\n\
             \x20       try:\n\
             \x20           os.setsid()\n\
             \x20       except OSError:\n\
             \x20           try:\n\
             \x20               os.setpgid(0, 0)\n\
             \x20           except OSError:\n\
             \x20               pass\n\
             \x20       os.execvp('sleep', ['sleep', '{marker}'])\n\
             \x20   os._exit(0)\n\
             os.wait()"
        );
        let run = session.execute(code).send().await.unwrap();
        assert!(run.is_success(), "{tier:?}: {}", run.stderr);
        let deadline = Instant::now() + Duration::from_secs(5);
        while processes_with(&marker).len() < 2 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(processes_with(&marker).len(), 2, "{tier:?}: a child and a daemonized grandchild run");
        // A shell command runs in a process group of its own (so a timeout can stop it whole), except in the
        // Landlock tier, where every process stays in the kernel's group (which ends them all).
        let kernel_group = session.execute("__import__('os').getpgrp()").await.unwrap().result;
        let shell = session.shell("python3 -c 'import os; print(os.getpgrp())'").send().await.unwrap();
        let shell_group: Option<u64> = shell.stdout.trim().parse().ok();
        assert!(shell_group.is_some(), "{tier:?}: {shell:?}");
        assert_eq!(
            kernel_group == shell_group.map(|g| json!(g)),
            tier == SandboxMode::Landlock,
            "{tier:?}: the kernel's group {kernel_group:?}, the shell's {shell_group:?}"
        );

        session.delete().await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !processes_with(&marker).is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(processes_with(&marker), Vec::<String>::new(), "{tier:?}: left running after delete");
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_landlock_tier_keeps_sessions_apart_without_namespaces() {
    let _processes = sharing_processes().await;
    let Some(h) = contained(SandboxMode::Landlock).await else { return };
    assert_eq!(h.emulator.emulator.sandbox().tier, dynamic_sessions_emulator::Tier::Landlock);
    assert!(h.emulator.emulator.sandbox().landlock_abi > 0);
    let (_outside, host_secret) = host_secret();
    let client = h.client();
    let a = client.session(new_id());
    let b = client.session(new_id());
    a.files().upload("input.csv", "n\n1\n2\n").await.unwrap();
    let code = format!(
        "{TRY}\nt('host_file', lambda: open({:?}).read())\n\
         t('etc_shadow', lambda: open('/etc/shadow').read())\n\
         t('write_usr', lambda: open('/usr/evil', 'w'))\n\
         t('upload_via_mnt_data', lambda: open('/mnt/data/input.csv').read())\n\
         t('write_mnt_data', lambda: open('/mnt/data/out.txt', 'w').write('x'))\n\
         t('tempfile', lambda: __import__('tempfile').mkstemp()[1] != '')\n\
         t('host_processes', lambda: os.listdir('/proc'))\n\
         print(json.dumps(out))",
        host_secret.display().to_string()
    );
    let out = probe(&a, &code).await;
    blocked(&out, &["host_file", "etc_shadow", "write_usr", "host_processes"], SandboxMode::Landlock);
    assert_eq!(out["upload_via_mnt_data"], json!("ok: 'n\\n1\\n2\\n'"));
    assert_eq!(out["write_mnt_data"], json!("ok: 1"));
    assert_eq!(out["tempfile"], json!("ok: True"));
    assert_eq!(a.files().download("out.txt").await.unwrap().bytes().await.unwrap().as_ref(), b"x");
    let chart = a.execute("import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()").await.unwrap();
    assert!(chart.is_success() && chart.stderr.is_empty(), "{chart:?}");
    assert_eq!(chart.images.len(), 1);
    // Session B cannot reach A's directory, whatever its host path.
    let find_a = "import os\nroot = os.path.dirname(os.path.dirname(os.getcwd()))\n\
                  try:\n    siblings = os.listdir(root)\nexcept OSError:\n    siblings = []\n\
                  found = []\nfor d in siblings:\n    \
                  try:\n        found.append(open(os.path.join(root, d, 'data', 'input.csv')).read())\n    \
                  except OSError:\n        pass\nfound";
    let run = b.execute(find_a).await.unwrap();
    assert_eq!(run.result, Some(json!("[]")), "{run:?}");
    let denied = b.execute("open('/etc/shadow')").await.unwrap();
    assert!(denied.stderr.contains("PermissionError") && !denied.stderr.contains("kernel.py"), "{}", denied.stderr);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_forked_from_one_template_share_nothing() {
    let _processes = sharing_processes().await;
    let Some(h) = contained(SandboxMode::Namespaces).await else { return };
    let template = h.emulator.emulator.footprint().template_pid.expect("the namespace tier has a template");
    // While the template forks a session (the pool starts one at any time), it holds that session's pipes for
    // a moment: what it holds for good is what it holds before the sessions run and after.
    let held = || -> Vec<String> {
        std::fs::read_dir(format!("/proc/{template}/fd"))
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .map(|t| t.display().to_string())
            .filter(|t| t.starts_with("socket:") || t.starts_with("pipe:") || t.starts_with('/'))
            .filter(|t| t != "/dev/null")
            .collect()
    };
    let before = held();
    let code = format!(
        "{TRY}\nimport sys, random, uuid\n\
         out['preloaded'] = 'pandas' in sys.modules and 'matplotlib.pyplot' in sys.modules\n\
         import numpy\n\
         out['random'] = random.random()\n\
         out['numpy'] = float(numpy.random.rand())\n\
         out['uuid'] = uuid.uuid4().hex\n\
         out['init'] = open('/proc/1/comm').read().strip()\n\
         out['fds'] = sorted(os.readlink('/proc/self/fd/' + f) for f in os.listdir('/proc/self/fd') if os.path.exists('/proc/self/fd/' + f))\n\
         t('signal_template', lambda: os.kill({template}, 0))\n\
         t('read_template', lambda: open('/proc/{template}/maps').read())\n\
         call('attach_template', 101, 16, {template}, 0, 0)\n\
         print(json.dumps(out))",
    );
    let client = h.client();
    let (a, b) = (client.session(new_id()), client.session(new_id()));
    let (one, two) = tokio::join!(probe(&a, &code), probe(&b, &code));
    let after = held();
    let template_fds: Vec<&String> = before.iter().filter(|fd| after.contains(fd)).collect();
    assert!(template_fds.iter().any(|t| t.starts_with("socket:")), "the template's control socket: {template_fds:?}");
    for out in [&one, &two] {
        assert_eq!(out["preloaded"], json!(true), "a fresh session has the data stack imported: {out}");
        // pid 1 waits as the small init the crate builds, not as a forked Python process (benchmarks.md).
        assert_eq!(out["init"], json!("ds-init"), "{out}");
        blocked(out, &["signal_template", "read_template"], SandboxMode::Namespaces);
        assert_eq!(out["attach_template"][0], json!(-1));
        let fds: Vec<String> = serde_json::from_value(out["fds"].clone()).unwrap();
        for fd in &fds {
            assert!(!template_fds.contains(&fd), "the template's descriptor {fd} is open in a session: {fds:?}");
            assert!(!fd.contains("/sessions/") && !fd.ends_with(".ttf"), "{fd} leaked into a session");
        }
    }
    for key in ["random", "numpy", "uuid"] {
        assert_ne!(one[key], two[key], "two sessions forked from one template drew the same {key}");
    }
    h.stop().await;
}

/// Whether this run must find cgroups: always as root; as an ordinary user when the runner started it in a
/// cgroup delegated to that user (`scripts/containment-as-user.sh` sets `DS_TEST_DELEGATED_CGROUP=1` then).
fn expect_cgroups() -> bool {
    as_root() || std::env::var("DS_TEST_DELEGATED_CGROUP").is_ok_and(|v| v == "1")
}

/// Reads a number from a cgroup file (`max` reads as `None`).
fn cgroup_number(path: &std::path::Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_session_is_charged_to_a_memory_and_pids_cgroup_of_its_own_where_one_can_be_had() {
    let _processes = sharing_processes().await;
    for tier in ALL {
        let Some(h) = contained(tier).await else { continue };
        let sandbox = h.emulator.emulator.sandbox().clone();
        let memory = sandbox.limits.iter().find(|l| l.resource == "memory").unwrap().enforced_by.clone();
        if sandbox.cgroups == "none" {
            // Without cgroups the emulator says so, says how to get them, and claims no memory cgroup.
            let why = sandbox.cgroups_unavailable.unwrap_or_default();
            assert!(!expect_cgroups(), "{tier:?}: this run must have cgroups: {why}");
            assert!(why.contains("Delegate=yes"), "{tier:?}: the reason names the way out: {why}");
            assert!(memory.contains("RLIMIT_AS") && memory.contains("no memory cgroup"), "{tier:?}: {memory}");
            h.stop().await;
            continue;
        }
        assert_eq!(sandbox.cgroups_delegated, !as_root(), "{tier:?}");
        // The hierarchy the host has (a run that must be on one names it: scripts/containment-cgroup-v2.sh).
        let host = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() { "v2" } else { "v1" };
        let expected = std::env::var("DS_TEST_CGROUP_VERSION").unwrap_or_else(|_| host.to_owned());
        assert_eq!((sandbox.cgroups, host), (expected.as_str(), expected.as_str()), "{tier:?}");
        assert!(memory.contains("memory cgroup"), "{tier:?}: {memory}");
        // A session holds 200 MiB it has written; the host then finds it charged to a cgroup of that session
        // alone, whose limits are the configured ones.
        const HELD: u64 = 200 << 20;
        let session = h.client().session(new_id());
        let run = session
            .execute(format!("_held = b'x' * {HELD}\nlen(_held)"))
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .unwrap();
        assert_eq!(run.result, Some(json!(HELD)), "{tier:?}: {}", run.stderr);
        let footprint = h.emulator.emulator.footprint();
        let session_dirs: Vec<std::path::PathBuf> = footprint
            .cgroup_dirs
            .iter()
            .flat_map(|base| std::fs::read_dir(base).unwrap().flatten().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        let charged: Vec<&std::path::PathBuf> = session_dirs
            .iter()
            .filter(|d| {
                let usage =
                    cgroup_number(&d.join("memory.usage_in_bytes")).or(cgroup_number(&d.join("memory.current")));
                usage.is_some_and(|u| u >= HELD)
            })
            .collect();
        assert_eq!(charged.len(), 1, "{tier:?}: one session cgroup holds the 200 MiB: {session_dirs:?}");
        let limit =
            cgroup_number(&charged[0].join("memory.limit_in_bytes")).or(cgroup_number(&charged[0].join("memory.max")));
        assert_eq!(limit, Some(MEMORY + MEMORY / 4), "{tier:?}: the session's memory cgroup limit");
        let name = charged[0].file_name().unwrap();
        let pids_dir =
            session_dirs.iter().find(|d| d.file_name() == Some(name) && d.join("pids.max").exists()).unwrap();
        assert_eq!(cgroup_number(&pids_dir.join("pids.max")), Some(u64::from(PROCESSES)), "{tier:?}");
        let members = std::fs::read_to_string(pids_dir.join("cgroup.procs")).unwrap();
        assert!(!members.trim().is_empty(), "{tier:?}: the session's processes are in its pids cgroup");
        h.stop().await;
    }
}
