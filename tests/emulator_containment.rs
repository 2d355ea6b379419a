//! What sandboxed session code cannot do: reach the network or the host, see other sessions, escape
//! through planted symlinks, or take the machine down with fork, memory or disk bombs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Harness, new_id, start};
use dynamic_sessions::{Error, ExecutionStatus, Session};
use serde_json::{Value, json};

async fn contained() -> Option<Harness> {
    start(|c| {
        c.limits.memory_bytes = 512 << 20;
        c.limits.max_processes = 64;
        c.limits.disk_bytes = 64 << 20;
    })
    .await
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

const TRY: &str = r#"
import json, os, socket
out = {}
def t(name, f):
    try:
        out[name] = "ok: " + repr(f())[:100]
    except BaseException as e:
        out[name] = "blocked: " + type(e).__name__
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_network_egress_and_no_host_loopback() {
    let Some(h) = contained().await else { return };
    let host_service = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = host_service.local_addr().unwrap().port();
    let session = h.client().session(new_id());
    let code = format!(
        "{TRY}\nt('tcp', lambda: socket.create_connection(('1.1.1.1', 53), timeout=3))\n\
         t('udp', lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('8.8.8.8', 53)))\n\
         t('dns', lambda: socket.getaddrinfo('example.com', 443))\n\
         t('host_loopback', lambda: socket.create_connection(('127.0.0.1', {port}), timeout=3))\n\
         t('netlink', lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0))\n\
         t('own_loopback_server', lambda: socket.create_server(('127.0.0.1', 0)).getsockname()[1] > 0)\n\
         print(json.dumps(out))"
    );
    let out = probe(&session, &code).await;
    for key in ["tcp", "udp", "dns", "host_loopback", "netlink"] {
        assert!(out[key].as_str().unwrap().starts_with("blocked"), "{key}: {}", out[key]);
    }
    assert!(out["own_loopback_server"].as_str().unwrap().starts_with("ok"), "the sandbox's own loopback works");
    let accepted = tokio::time::timeout(Duration::from_millis(100), host_service.accept()).await;
    assert!(accepted.is_err(), "the host service never saw a connection");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_and_other_sessions_are_invisible_and_the_root_is_read_only() {
    let Some(h) = contained().await else { return };
    let (_outside, host_secret) = host_secret();
    let client = h.client();
    let a = client.session(new_id());
    let b = client.session(new_id());
    a.files().upload("a-secret.txt", "session A's secret").await.unwrap();
    a.execute("open('/tmp/a-tmp.txt', 'w').write('tmp of A')").await.unwrap();
    let code = format!(
        "{TRY}\nt('host_file', lambda: open({:?}).read())\n\
         t('etc_shadow', lambda: open('/etc/shadow').read())\n\
         t('root_home', lambda: os.listdir('/root'))\n\
         t('emulator_data', lambda: os.listdir({:?}))\n\
         t('a_tmp', lambda: open('/tmp/a-tmp.txt').read())\n\
         t('my_files', lambda: os.listdir('/mnt/data'))\n\
         t('write_usr', lambda: open('/usr/evil', 'w'))\n\
         t('write_etc', lambda: open('/etc/evil', 'w'))\n\
         t('write_root', lambda: open('/evil', 'w'))\n\
         t('write_runtime', lambda: open('/opt/runtime/evil', 'w'))\n\
         t('write_tmp', lambda: open('/tmp/ok', 'w').write('x'))\n\
         t('write_data', lambda: open('/mnt/data/ok', 'w').write('x'))\n\
         t('uid', lambda: os.getuid())\n\
         t('environ_1', lambda: set(filter(None, open('/proc/1/environ', 'rb').read().decode().split(chr(0)))) <= {{k + '=' + v for k, v in os.environ.items()}})\n\
         t('host_vars', lambda: [k for k in os.environ if k.startswith(('CARGO', 'RUST', 'AZURE', 'HOME='))])\n\
         t('mount', lambda: __import__('ctypes').CDLL(None).mount(b'none', b'/tmp', b'tmpfs', 0, None) == 0 or 1/0)\n\
         print(json.dumps(out))",
        host_secret.display().to_string(),
        h.data_dir().display().to_string(),
    );
    let out = probe(&b, &code).await;
    for key in [
        "host_file",
        "etc_shadow",
        "root_home",
        "emulator_data",
        "a_tmp",
        "write_usr",
        "write_etc",
        "write_root",
        "write_runtime",
        "mount",
    ] {
        assert!(out[key].as_str().unwrap().starts_with("blocked"), "{key}: {}", out[key]);
    }
    assert_eq!(out["my_files"], json!("ok: []"), "B sees none of A's files");
    assert_eq!(out["write_tmp"], json!("ok: 1"));
    assert_eq!(out["write_data"], json!("ok: 1"));
    assert_eq!(out["uid"], json!("ok: 65534"));
    assert_eq!(out["environ_1"], json!("ok: True"), "the sandbox's pid 1 knows no variable the kernel does not");
    assert_eq!(out["host_vars"], json!("ok: []"));
    assert!(b.files().list().await.unwrap().iter().all(|f| f.name != "a-secret.txt"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_symlinks_cannot_reach_host_files() {
    let Some(h) = contained().await else { return };
    let (outside, host_secret) = host_secret();
    let session = h.client().session(new_id());
    let plant = format!(
        "import os\nos.symlink({:?}, '/mnt/data/evil.txt')\nos.symlink('/etc/passwd', '/mnt/data/passwd')\n\
         os.symlink({:?}, '/mnt/data/outside')\nos.mkfifo('/mnt/data/fifo')\nsorted(os.listdir('/mnt/data'))",
        host_secret.display().to_string(),
        outside.path().display().to_string()
    );
    let run = session.execute(plant).await.unwrap();
    assert!(run.is_success(), "{}", run.stderr);
    for name in ["evil.txt", "passwd", "outside/host-secret.txt", "fifo"] {
        let err = session.files().download(name).await.unwrap_err();
        assert!(matches!(err, Error::Service(_) | Error::NotFound(_)), "{name}: {err:?}");
        assert!(!err.to_string().contains("host secret"));
    }
    let err = session.files().upload("outside/pwned.txt", "x").await.unwrap_err();
    assert!(matches!(err, Error::Service(_)), "{err:?}");
    assert!(!outside.path().join("pwned.txt").exists(), "nothing was written through the link");
    let listed = session.files().list().recursive(true).await.unwrap();
    assert!(listed.is_empty(), "links and FIFOs are not session files: {listed:?}");
    assert_eq!(std::fs::read_to_string(&host_secret).unwrap(), "host secret");
    h.stop().await;
}

/// Asserts that another session answers promptly while a bomb runs.
async fn neighbour_answers(neighbour: &Session) {
    let started = std::time::Instant::now();
    let run = neighbour.execute("sum(range(1000))").timeout(Duration::from_secs(30)).send().await.unwrap();
    assert_eq!(run.result, Some(json!(499500)));
    assert!(started.elapsed() < Duration::from_secs(20), "the neighbour took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fork_memory_and_disk_bombs_are_contained() {
    let Some(h) = contained().await else { return };
    let client = h.client();
    let neighbour = client.session(new_id());
    neighbour.execute("1").await.unwrap();

    // Fork bomb: the pids cgroup (and the per-uid process limit) stop it.
    let bomb = client.session(new_id());
    let fork_bomb = "import os\nspawned = 0\nwhile True:\n    try:\n        os.fork()\n        spawned += 1\n    except OSError:\n        pass";
    let (run, ()) = tokio::join!(bomb.execute(fork_bomb).timeout(Duration::from_secs(4)).send(), async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        neighbour_answers(&neighbour).await;
    });
    assert_eq!(run.unwrap().status, ExecutionStatus::Failed);
    bomb.delete().await.unwrap();

    // Memory bomb: the address-space limit turns it into a MemoryError and the session survives.
    let hog = client.session(new_id());
    hog.execute("kept = 'still here'").await.unwrap();
    let run = hog.execute("hoard = []\nwhile True:\n    hoard.append(bytearray(32 * 1024 * 1024))").await.unwrap();
    assert_eq!(run.status, ExecutionStatus::Failed);
    assert!(run.stderr.contains("MemoryError"), "{}", run.stderr);
    neighbour_answers(&neighbour).await;
    let after = hog.execute("del hoard\nkept").await.unwrap();
    assert_eq!(after.result, Some(json!("still here")), "{after:?}");

    // Disk filler: the session's /mnt/data quota fills up, nothing else does.
    let filler = client.session(new_id());
    let run = filler
        .execute("f = open('/mnt/data/fill.bin', 'wb')\nwhile True:\n    f.write(b'x' * (1 << 20))")
        .await
        .unwrap();
    assert_eq!(run.status, ExecutionStatus::Failed);
    assert!(run.stderr.contains("No space left") || run.stderr.contains("File too large"), "{}", run.stderr);
    neighbour_answers(&neighbour).await;
    let size = filler.files().metadata("fill.bin").await.unwrap().size.unwrap();
    assert!(size <= 64 << 20, "the file stopped at the quota: {size}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_landlock_tier_contains_sessions_without_namespaces() {
    let Some(h) = start(|c| c.sandbox = dynamic_sessions_emulator::config::SandboxMode::Landlock).await else { return };
    assert_eq!(h.emulator.emulator.sandbox().tier, dynamic_sessions_emulator::Tier::Landlock);
    assert!(h.emulator.emulator.sandbox().landlock_abi > 0);
    let (_outside, host_secret) = host_secret();
    let client = h.client();
    let a = client.session(new_id());
    let b = client.session(new_id());
    a.files().upload("input.csv", "n\n1\n2\n").await.unwrap();
    let code = format!(
        "{TRY}\nt('tcp', lambda: socket.create_connection(('1.1.1.1', 53), timeout=3))\n\
         t('host_file', lambda: open({:?}).read())\n\
         t('etc_shadow', lambda: open('/etc/shadow').read())\n\
         t('write_usr', lambda: open('/usr/evil', 'w'))\n\
         t('upload_via_mnt_data', lambda: open('/mnt/data/input.csv').read())\n\
         t('write_mnt_data', lambda: open('/mnt/data/out.txt', 'w').write('x'))\n\
         t('tempfile', lambda: __import__('tempfile').mkstemp()[1] != '')\n\
         print(json.dumps(out))",
        host_secret.display().to_string()
    );
    let out = probe(&a, &code).await;
    for key in ["tcp", "host_file", "etc_shadow", "write_usr"] {
        assert!(out[key].as_str().unwrap().starts_with("blocked"), "{key}: {}", out[key]);
    }
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
