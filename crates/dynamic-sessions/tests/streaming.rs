//! Uploads and downloads stream: peak heap stays flat whatever the file size.
//!
//! A counting global allocator measures the whole process (client *and* the tiny HTTP server below), so
//! this file holds a single test: parallel tests would add their allocations to the peak.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};

use dynamic_sessions::{Auth, SessionId, SessionPoolClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn add(n: usize) {
    let now = CURRENT.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: delegates to the system allocator; only adds bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
            add(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const DOWNLOAD_BYTES: u64 = 200 * 1024 * 1024;
const UPLOAD_BYTES: u64 = 120 * 1024 * 1024;
const PEAK_LIMIT: usize = 32 * 1024 * 1024;

/// One pattern period repeated: 256 × 251 bytes, so consecutive chunks continue the pattern.
fn pattern_chunk() -> Vec<u8> {
    (0..251 * 256).map(|i| (i % 251) as u8).collect()
}

/// A minimal HTTP/1.1 server: GET streams `DOWNLOAD_BYTES` of the pattern; POST counts and discards the body.
async fn serve(listener: TcpListener) {
    loop {
        let Ok((socket, _)) = listener.accept().await else { return };
        tokio::spawn(handle(socket));
    }
}

async fn handle(mut socket: TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if socket.read(&mut byte).await.unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    if head.starts_with("GET") {
        let header = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {DOWNLOAD_BYTES}\r\n\r\n"
        );
        socket.write_all(header.as_bytes()).await.unwrap();
        let chunk = pattern_chunk();
        let mut left = DOWNLOAD_BYTES;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            socket.write_all(&chunk[..n]).await.unwrap();
            left -= n as u64;
        }
    } else {
        let length: u64 = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
            .expect("the streamed upload of a file announces its length");
        let mut buf = vec![0u8; 64 * 1024];
        let mut left = length;
        while left > 0 {
            let n = socket.read(&mut buf[..left.min(65536) as usize]).await.unwrap();
            assert!(n > 0, "upload body ended early");
            left -= n as u64;
        }
        let body = format!(
            r#"{{"name":"big.bin","type":"File","sizeInBytes":{length},"lastModifiedAt":"2025-01-01T00:00:00Z"}}"#
        );
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(reply.as_bytes()).await.unwrap();
    }
}

fn measure_from_here() -> usize {
    let now = CURRENT.load(Ordering::Relaxed);
    PEAK.store(now, Ordering::Relaxed);
    now
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_transfers_keep_memory_flat() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener));
    let client = SessionPoolClient::new(format!("http://{addr}/pool"), Auth::none()).unwrap();
    let files = client.session(SessionId::random()).files();
    let dir = tempfile::tempdir().unwrap();

    // Download 200 MB to disk.
    let target = dir.path().join("download.bin");
    let baseline = measure_from_here();
    let written = files.download("big.bin").await.unwrap().to_file(&target).await.unwrap();
    let download_peak = PEAK.load(Ordering::Relaxed) - baseline;
    assert_eq!(written, DOWNLOAD_BYTES);
    assert!(download_peak < PEAK_LIMIT, "download peak heap {download_peak} bytes");

    // The file holds exactly the pattern.
    let mut file = std::fs::File::open(&target).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut offset: u64 = 0;
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        for (i, b) in buf[..n].iter().enumerate() {
            assert_eq!(*b as u64, (offset + i as u64) % 251, "byte {} differs", offset + i as u64);
        }
        offset += n as u64;
    }
    assert_eq!(offset, DOWNLOAD_BYTES);

    // Upload 120 MB from disk.
    let source = dir.path().join("upload.bin");
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&source).unwrap());
        let chunk = pattern_chunk();
        let mut left = UPLOAD_BYTES;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            std::io::Write::write_all(&mut out, &chunk[..n]).unwrap();
            left -= n as u64;
        }
    }
    let baseline = measure_from_here();
    let uploaded = files.upload_file("big.bin", &source).await.unwrap();
    let upload_peak = PEAK.load(Ordering::Relaxed) - baseline;
    assert!(uploaded.size.unwrap() > UPLOAD_BYTES, "the server saw the whole multipart body");
    assert!(upload_peak < PEAK_LIMIT, "upload peak heap {upload_peak} bytes");
    println!("peak heap: download {download_peak} bytes, upload {upload_peak} bytes");
}
