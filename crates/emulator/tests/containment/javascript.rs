//! The same guarantees for JavaScript sessions (`NodeLTS` pools), in every tier: Node.js reaches neither the
//! network nor the host, and its fork bombs (through `child_process`), memory hogs (buffers and the V8 heap)
//! and disk fillers are contained. Network probes target loopback listeners this test starts, nothing else.

use std::time::Duration;

use dynamic_sessions::{ExecutionStatus, Session};
use dynamic_sessions_emulator::config::{ContainerType, PoolSpec, SandboxMode};
use serde_json::{Value, json};

use super::common::{Harness, new_id, start_tier};
use super::{ALL, DISK, as_root, containment_limits, disk_is_bounded, hold_processes_for_a_bomb, host_secret};
use super::{neighbour_and_host_are_fine, sharing_processes, stop_leaving_nothing};

/// An emulator in `tier` with the containment limits and a `NodeLTS` pool `js`.
async fn contained_js(tier: SandboxMode) -> Option<Harness> {
    start_tier(tier, |c| {
        containment_limits(c);
        c.pools = vec![PoolSpec { name: "js".into(), container_type: ContainerType::NodeLts }];
    })
    .await
}

fn js_session(h: &Harness) -> Session {
    h.pool_client("js", dynamic_sessions::ApiVersion::V2025_10_02_PREVIEW).session(new_id())
}

/// Runs JavaScript whose value is a JSON object and returns it.
async fn probe(session: &Session, code: &str) -> Value {
    let run = session.execute(code).timeout(Duration::from_secs(60)).send().await.unwrap();
    assert!(run.is_success(), "probe failed: {}", run.stderr);
    run.result.clone().unwrap_or_else(|| panic!("the probe returned nothing: {run:?}"))
}

/// `t(name, f)` records `ok: <value>` or `blocked: <error code or name>`; `await t(...)` for promises.
const TRY: &str = r#"
const out = {};
const t = async (name, f) => {
  try { out[name] = 'ok: ' + String(JSON.stringify(await f())).slice(0, 100); }
  catch (e) { out[name] = 'blocked: ' + (e.code || e.name); }
};
const connect = (options) => new Promise((resolve, reject) => {
  const socket = require('net').connect(options);
  socket.setTimeout(3000, () => { socket.destroy(); reject(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })); });
  socket.on('connect', () => { socket.destroy(); resolve('connected'); });
  socket.on('error', reject);
});
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_reaches_neither_the_network_nor_the_host() {
    let _processes = sharing_processes().await;
    for tier in ALL {
        let Some(h) = contained_js(tier).await else { continue };
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (_outside, secret) = host_secret();
        let session = js_session(&h);
        let code = format!(
            "{TRY}\nconst fs = require('fs');\n\
             await t('host_tcp', () => connect({{ host: '127.0.0.1', port: {port} }}));\n\
             await t('host_file', () => fs.readFileSync({secret:?}, 'utf8'));\n\
             await t('etc_shadow', () => fs.readFileSync('/etc/shadow', 'utf8'));\n\
             await t('emulator_data', () => fs.readdirSync({data:?}));\n\
             await t('write_usr', () => fs.writeFileSync('/usr/evil', 'x'));\n\
             await t('signal_host', () => process.kill({test_pid}, 0));\n\
             await t('own_server', () => new Promise((resolve, reject) => {{\n\
               const server = require('net').createServer().listen(0, '127.0.0.1', () => {{ server.close(); resolve(true); }});\n\
               server.on('error', reject);\n\
             }}));\n\
             await t('write_data', () => fs.writeFileSync('/mnt/data/ok.txt', 'x'));\n\
             out",
            port = tcp.local_addr().unwrap().port(),
            secret = secret.display().to_string(),
            data = h.data_dir().display().to_string(),
            test_pid = std::process::id(),
        );
        let out = probe(&session, &code).await;
        for key in ["host_tcp", "host_file", "etc_shadow", "emulator_data", "write_usr"] {
            assert!(out[key].as_str().unwrap_or_default().starts_with("blocked"), "{tier:?} {key}: {}", out[key]);
        }
        // In the Landlock tier a session shares the emulator's uid unless it runs as root; signals outside the
        // session are then refused only by Landlock's signal scope (ABI 6, Linux 6.12 and later). SECURITY.md.
        let signals_scoped =
            tier != SandboxMode::Landlock || as_root() || h.emulator.emulator.sandbox().landlock_abi >= 6;
        let signal = out["signal_host"].as_str().unwrap_or_default();
        if signals_scoped {
            assert!(signal.starts_with("blocked"), "{tier:?} signal_host: {signal}");
        } else {
            eprintln!(
                "{tier:?}: signals outside the session are not scoped here (Landlock ABI < 6, not root): {signal}"
            );
        }
        assert_eq!(out["write_data"], json!("ok: undefined"), "{tier:?}: its own files are writable");
        if tier == SandboxMode::Landlock {
            assert!(out["own_server"].as_str().unwrap().starts_with("blocked"), "{tier:?}: no socket at all");
        } else {
            assert_eq!(out["own_server"], json!("ok: true"), "{tier:?}: its own loopback works");
        }
        let accepted = tokio::time::timeout(Duration::from_millis(100), tcp.accept()).await;
        assert!(accepted.is_err(), "{tier:?}: the host's TCP listener saw a connection");
        assert_eq!(std::fs::read_to_string(&secret).unwrap(), "host secret");
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_bombs_are_contained() {
    for tier in ALL {
        let Some(h) = contained_js(tier).await else { continue };
        let _processes = hold_processes_for_a_bomb(&h, tier).await;
        let neighbour = h.client().session(new_id());
        neighbour.execute("1").await.unwrap();

        // A fork bomb started through child_process: the process limit stops it, the neighbour answers while
        // it runs, and deleting the session ends every process.
        let bomb = js_session(&h);
        let code = "require('child_process').spawn('/bin/bash', ['-c', 'b() { b | b & }; b'], { stdio: 'ignore' });\n\
                    await new Promise((resolve) => setTimeout(resolve, 3000));\n'the kernel lives'";
        let run = bomb.execute(code).timeout(Duration::from_secs(30)).send().await.unwrap();
        assert_eq!(run.result, Some(json!("the kernel lives")), "{tier:?}: {run:?}");
        neighbour_and_host_are_fine(&neighbour, "a JavaScript fork bomb").await;
        bomb.delete().await.unwrap();
        neighbour_and_host_are_fine(&neighbour, "deleting a JavaScript fork bomb").await;

        // Buffers beyond the memory limit fail to allocate, and the state stays.
        let hog = js_session(&h);
        hog.execute("const kept = 'still here'").await.unwrap();
        let run = hog.execute("const hoard = []; for (;;) hoard.push(Buffer.alloc(32 << 20, 1))").await.unwrap();
        assert_eq!(run.status, ExecutionStatus::Failed, "{tier:?}");
        assert!(run.stderr.contains("RangeError"), "{tier:?}: {}", run.stderr);
        neighbour_and_host_are_fine(&neighbour, "a buffer hog").await;
        assert_eq!(hog.execute("kept").await.unwrap().result, Some(json!("still here")), "{tier:?}");
        // Filling the V8 heap ends the kernel (V8 cannot recover from it); the session says the state was
        // lost and goes on with a new kernel.
        let run = hog
            .execute("const heap = []; for (;;) heap.push(new Array(1 << 20).fill(1.5))")
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .unwrap();
        assert_eq!(run.status, ExecutionStatus::Failed, "{tier:?}");
        assert!(run.stderr.contains("was lost"), "{tier:?}: {}", run.stderr);
        neighbour_and_host_are_fine(&neighbour, "a V8 heap hog").await;
        assert_eq!(hog.execute("1 + 1").await.unwrap().result, Some(json!(2)), "{tier:?}");

        // Filling the session's files stops at its disk size, with ENOSPC.
        if disk_is_bounded(tier) {
            let filler = js_session(&h);
            let code = "const fs = require('fs'); const chunk = Buffer.alloc(1 << 20, 120); let n = 0; let code = null;\n\
                        try { for (let i = 0; n < 2 * 2 ** 30; i++) { const fd = fs.openSync(`/mnt/data/fill-${i}`, 'w');\n\
                          try { for (let k = 0; k < 16; k++) { fs.writeSync(fd, chunk); n += chunk.length; } } finally { fs.closeSync(fd); } } }\n\
                        catch (e) { code = e.code; }\n\
                        for (const f of fs.readdirSync('/mnt/data')) fs.rmSync(`/mnt/data/${f}`);\n[n, code]";
            let run = filler.execute(code).timeout(Duration::from_secs(120)).send().await.unwrap();
            let out = run.result.clone().unwrap_or_else(|| panic!("{tier:?}: {run:?}"));
            assert_eq!(out[1], json!("ENOSPC"), "{tier:?}: {out}");
            assert!(out[0].as_u64().unwrap() <= DISK, "{tier:?}: {out}");
            neighbour_and_host_are_fine(&neighbour, "a JavaScript disk filler").await;
        }
        stop_leaving_nothing(h, tier).await;
    }
}
