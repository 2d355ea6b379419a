//! Shared by the tests that run the emulator binary itself: its token, its log until it listens, and raw
//! HTTP/1.1 requests to it (no client library in between).

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Child;

/// The token the tests give the binary (in `DYNAMIC_SESSIONS_TOKEN`) and send.
pub const TOKEN: &str = "emulator-binary-test-token";

/// The binary's log until it listens (then its port; the rest of the log is drained) or exits, within
/// `patience`.
pub async fn read_until_listening(child: &mut Child, patience: Duration) -> (String, Option<u16>) {
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = Vec::new();
    let port = tokio::time::timeout(patience, async {
        while let Ok(Some(line)) = lines.next_line().await {
            log.push(line.clone());
            if let Some(url) = line.split("url=http://127.0.0.1:").nth(1) {
                return url.trim().parse::<u16>().ok();
            }
        }
        None
    })
    .await
    .unwrap_or_else(|_| panic!("the emulator neither listened nor exited within {patience:?}:\n{}", log.join("\n")));
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (log.join("\n"), port)
}

/// Spawns the binary confined as `command`'s `pre_exec` says; `None` (after a loud notice) where this host
/// cannot confine it that way (`as_what` names the confinement), which fails under CI.
///
/// A copy of the binary that was just written can fail to start with `ETXTBSY` while another test's child,
/// forked in that moment, still holds the copy's write descriptor (until its own exec closes it): that is
/// retried, briefly.
pub fn spawn_confined(command: &mut tokio::process::Command, as_what: &str) -> Option<Child> {
    let mut spawned = command.spawn();
    for _ in 0..50 {
        match &spawned {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                std::thread::sleep(std::time::Duration::from_millis(20));
                spawned = command.spawn();
            }
            _ => break,
        }
    }
    match spawned {
        Ok(child) => Some(child),
        Err(e) => {
            let why = format!("cannot start the emulator {as_what} here: {e}");
            assert!(!dynamic_sessions_emulator::testing::in_ci(), "CI=true but {why}");
            eprintln!("\n*** SKIPPING: {why} ***\n");
            None
        }
    }
}

/// One HTTP/1.1 request on a fresh connection; returns the JSON body of a 200.
pub async fn call(port: u16, method: &str, path: &str, body: Option<&Value>) -> Value {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}\n{body}");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}
