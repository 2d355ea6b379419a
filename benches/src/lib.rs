//! What the benchmarks share: the service's answers as a canned loopback server sends them, and that server.
//!
//! The client's benchmarks (wall-clock in `client.rs`, instruction counts in `instructions.rs`) talk to
//! [`stub_server`], which answers every request at once with the same body, so what they measure is the
//! client's own work: building the request, HTTP/1.1 on a kept-alive connection, parsing the answer.

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A family-A (`2024-02-02-preview`) execution, as the service answers it.
pub const LEGACY_EXECUTE: &str = r#"{"$id":"1","properties":{"$id":"2","status":"Success","stdout":"hello\n","stderr":"","result":2,"executionTimeInMilliseconds":11}}"#;

/// A family-B (`2025-02-02-preview` and later) execution, as the service answers it.
pub const CURRENT_EXECUTE: &str = r#"{"$id":"1","id":"exec-1","identifier":"s","executionType":"Synchronous","status":"Succeeded","result":{"$id":"2","stdout":"63\n","stderr":"","executionResult":42,"executionTimeInMilliseconds":4}}"#;

/// A family-B file list of `n` entries in a subdirectory.
pub fn file_list(n: usize) -> String {
    let items: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"$id":"{i}","name":"file-{i}.csv","type":"File","contentType":"text/csv","sizeInBytes":{i},"lastModifiedAt":"2024-08-06T16:21:22.2423944Z","directory":"out"}}"#))
        .collect();
    format!(r#"{{"value":[{}],"nextLink":null}}"#, items.join(","))
}

/// A family-A execution whose result is a chart: about 44 KB of base64 PNG.
pub fn image_execute() -> String {
    let png = "iVBORw0KGgo".repeat(4000);
    format!(
        r#"{{"properties":{{"status":"Success","stdout":"","stderr":"","result":{{"type":"image","format":"png","base64_data":"{png}"}}}}}}"#
    )
}

/// Answers every request on every kept-alive connection with `body` (200, JSON), as fast as it can, until the
/// listener fails. Each connection is a task of the runtime it runs on.
pub async fn stub_server(listener: TcpListener, body: &'static str) {
    loop {
        let Ok((socket, _)) = listener.accept().await else { return };
        tokio::spawn(answer_connection(socket, body));
    }
}

async fn answer_connection(socket: tokio::net::TcpStream, body: &'static str) {
    let mut reader = BufReader::new(socket);
    let reply =
        format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    loop {
        let mut content_length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                content_length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut sink = vec![0u8; content_length];
        if reader.read_exact(&mut sink).await.is_err() {
            return;
        }
        if reader.get_mut().write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// The median and p90 of `samples`, in milliseconds, and how many there were; `None` without samples.
pub fn spread(mut samples: Vec<std::time::Duration>) -> Option<(usize, f64, f64)> {
    if samples.is_empty() {
        return None;
    }
    samples.sort();
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1000.0;
    Some((samples.len(), pick(0.5), pick(0.9)))
}
