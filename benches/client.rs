//! Client-side cost of the dynamic-sessions client: response parsing, input validation, and a full execute
//! round trip (request building, auth header, HTTP/1.1 keep-alive, parsing) against a loopback stub that
//! answers at once, so the numbers are the client's own overhead.
//!
//! Run with `cargo bench --bench client`.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use dynamic_sessions::{Auth, Execution, RemoteFile, RemotePath, SessionId, SessionPoolClient};
use dynamic_sessions_benches::{CURRENT_EXECUTE, LEGACY_EXECUTE, file_list, image_execute, stub_server};
use serde_json::Value;
use tokio::net::TcpListener;

fn parsing(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    group.bench_function("execute_legacy", |b| {
        b.iter(|| Execution::from_json(&serde_json::from_str::<Value>(LEGACY_EXECUTE).unwrap_or_default()))
    });
    group.bench_function("execute_current", |b| {
        b.iter(|| Execution::from_json(&serde_json::from_str::<Value>(CURRENT_EXECUTE).unwrap_or_default()))
    });
    let image = image_execute();
    group.bench_function("execute_image_44k", |b| {
        b.iter(|| Execution::from_json(&serde_json::from_str::<Value>(&image).unwrap_or_default()))
    });
    let list = file_list(100);
    group.bench_function("file_list_100", |b| {
        b.iter(|| RemoteFile::list_from_json(&serde_json::from_str::<Value>(&list).unwrap_or_default()))
    });
    group.finish();
}

fn validation(c: &mut Criterion) {
    let mut group = c.benchmark_group("validate");
    group.bench_function("session_id_new", |b| b.iter(|| SessionId::new("3f2b8c1e-7a4d-4e2f-9b1c-5d6e7f8a9b0c")));
    group.bench_function("session_id_derive", |b| {
        b.iter(|| SessionId::derive(&[7u8; 32], "alice@example.com", "conv-1"))
    });
    group.bench_function("remote_path_new", |b| {
        b.iter(|| RemotePath::new("/mnt/data/out/reports/2024/q3 summary.xlsx"))
    });
    group.finish();
}

fn round_trip(c: &mut Criterion) {
    let Ok(rt) = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() else { return };
    let Ok(listener) = rt.block_on(TcpListener::bind("127.0.0.1:0")) else { return };
    let Ok(addr) = listener.local_addr() else { return };
    rt.spawn(stub_server(listener, CURRENT_EXECUTE));
    let Ok(client) = SessionPoolClient::new(format!("http://{addr}/subscriptions/s/sessionPools/p"), Auth::bearer("t"))
    else {
        return;
    };
    let session = client.session(SessionId::random());
    let mut group = c.benchmark_group("round_trip");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("execute_stub", |b| {
        b.to_async(&rt).iter(|| async { session.execute("1+1").await.map(|e| e.result) })
    });
    group.finish();
}

criterion_group!(benches, parsing, validation, round_trip);
criterion_main!(benches);
