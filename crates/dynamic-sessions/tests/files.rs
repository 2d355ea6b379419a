//! File operations in both API families, against wiremock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use dynamic_sessions::{Error, FileKind, MAX_UPLOAD_BYTES};
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn with_next_link(name: &str, server: &MockServer, link: &str) -> serde_json::Value {
    let text = fixture(name).to_string().replace("NEXT_LINK", &format!("{}{link}", server.uri()));
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn legacy_upload_is_multipart_file_part() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(route("files/upload")))
        .and(query_param("api-version", LEGACY))
        .and(query_param("identifier", "session-1"))
        .and(header("authorization", "Bearer test-token"))
        .and(|req: &wiremock::Request| {
            req.headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("multipart/form-data; boundary="))
        })
        .and(multipart_contains("Content-Disposition: form-data; name=\"file\"; filename=\"data.csv\""))
        .and(multipart_contains("Content-Type: application/octet-stream"))
        .and(multipart_contains("a,b\n1,2\n"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("legacy_upload.json")))
        .expect(1)
        .mount(&server)
        .await;
    let file =
        client(&server, LEGACY).session(session_id()).files().upload("/mnt/data/data.csv", "a,b\n1,2\n").await.unwrap();
    assert_eq!(file.name, "data.csv");
    assert_eq!(file.size, Some(12));
    assert!(file.last_modified.is_some());
}

#[tokio::test]
async fn current_upload_puts_directory_in_path_and_accepts_array_answer() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(route("files")))
        .and(query_param("api-version", CURRENT))
        .and(query_param("path", "in"))
        .and(multipart_contains("name=\"file\"; filename=\"data.csv\""))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("current_upload_array.json")))
        .expect(1)
        .mount(&server)
        .await;
    let file =
        client(&server, CURRENT).session(session_id()).files().upload("in/data.csv", vec![1u8; 12]).await.unwrap();
    assert_eq!(file.path(), "in/data.csv");
    assert_eq!(file.content_type.as_deref(), Some("text/csv"));
}

#[tokio::test]
async fn upload_from_file_and_reader_stream_the_exact_bytes() {
    let server = MockServer::start().await;
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let expected = payload.clone();
    Mock::given(method("POST"))
        .and(path(route("files")))
        .and(move |req: &wiremock::Request| req.body.windows(expected.len()).any(|w| w == &expected[..]))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"name": "blob.bin", "type": "File", "sizeInBytes": 300000, "lastModifiedAt": "2025-01-01T00:00:00Z"})))
        .expect(2)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("blob.bin");
    std::fs::write(&local, &payload).unwrap();
    let files = client(&server, CURRENT).session(session_id()).files();
    let from_file = files.upload_file("blob.bin", &local).await.unwrap();
    assert_eq!(from_file.size, Some(300_000));
    let reader = tokio::fs::File::open(&local).await.unwrap();
    let from_reader = files.upload_reader("blob.bin", reader).await.unwrap();
    assert_eq!(from_reader.name, "blob.bin");
}

#[tokio::test]
async fn upload_over_the_limit_is_refused_before_sending() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).expect(0).mount(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.bin");
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(MAX_UPLOAD_BYTES + 1).unwrap(); // sparse: no disk used
    let files = client(&server, CURRENT).session(session_id()).files();
    let err = files.upload_file("big.bin", &big).await.unwrap_err();
    assert!(matches!(err, Error::PayloadTooLarge { service: None, .. }), "{err:?}");
    assert!(!err.was_sent());
    let err = files.upload_file("../escape.bin", &big).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }));
    let err = files.upload_file("ok.bin", dir.path().join("missing")).await.unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
}

#[tokio::test]
async fn streamed_upload_over_the_limit_is_cut_off() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    let files = client(&server, CURRENT).session(session_id()).files();
    let endless = tokio::io::repeat(b'x');
    let err = files.upload_reader("endless.bin", endless).await.unwrap_err();
    assert!(matches!(err, Error::PayloadTooLarge { .. }), "{err:?}");
}

#[tokio::test]
async fn legacy_list_parses_both_timestamp_spellings() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(route("files")))
        .and(query_param("api-version", LEGACY))
        .and(query_param("identifier", "session-1"))
        .and(query_param_is_missing("path"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("legacy_files_list.json")))
        .expect(1)
        .mount(&server)
        .await;
    let files = client(&server, LEGACY).session(session_id()).files().list().await.unwrap();
    assert_eq!(files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["test1.txt", "chart.png"]);
    assert!(files.iter().all(|f| f.last_modified.is_some()));
    assert_eq!(files[1].size, Some(20480));
}

#[tokio::test]
async fn current_list_follows_next_link_with_path_and_recursive() {
    let server = MockServer::start().await;
    let next = format!("{}?api-version={CURRENT}&identifier=session-1&path=sub&recursive=true&page=2", route("files"));
    Mock::given(method("GET"))
        .and(path(route("files")))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("current_files_list_page2.json")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(route("files")))
        .and(query_param("path", "sub"))
        .and(query_param("recursive", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(with_next_link(
            "current_files_list_page1.json",
            &server,
            &next,
        )))
        .expect(1)
        .mount(&server)
        .await;
    let files = client(&server, CURRENT)
        .session(session_id())
        .files()
        .list()
        .path("/mnt/data/sub")
        .recursive(true)
        .await
        .unwrap();
    assert_eq!(files.len(), 3);
    assert_eq!(files[0].path(), "sub/test-file.txt");
    assert_eq!(files[0].size, Some(516));
    assert_eq!(files[1].kind, FileKind::Directory);
    assert_eq!(files[2].name, "more.bin");
}

#[tokio::test]
async fn next_link_to_another_host_is_refused() {
    let server = MockServer::start().await;
    let page = json!({"value": [], "nextLink": "https://evil.example.com/steal"});
    Mock::given(method("GET"))
        .and(path(route("files")))
        .respond_with(ResponseTemplate::new(200).set_body_json(page))
        .mount(&server)
        .await;
    let err = client(&server, CURRENT).session(session_id()).files().list().await.unwrap_err();
    assert!(matches!(&err, Error::Decode { message, .. } if message.contains("another host")), "{err:?}");
}

#[tokio::test]
async fn recursive_listing_walks_directories_on_2024_10() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(route("files")))
        .and(query_param("path", "out"))
        .and(query_param_is_missing("recursive"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": [{"name": "c.png", "type": "File", "sizeInBytes": 9, "lastModifiedAt": "2025-01-01T00:00:00Z"}]})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(route("files")))
        .and(query_param_is_missing("path"))
        .and(query_param_is_missing("recursive"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": [
            {"name": "a.txt", "type": "File", "sizeInBytes": 1, "lastModifiedAt": "2025-01-01T00:00:00Z"},
            {"name": "out", "type": "Directory", "lastModifiedAt": "2025-01-01T00:00:00Z"}]})))
        .expect(1)
        .mount(&server)
        .await;
    let files = client(&server, V2024_10).session(session_id()).files().list().recursive(true).await.unwrap();
    let paths: Vec<String> = files.iter().map(|f| f.path()).collect();
    assert_eq!(paths, ["a.txt", "out", "out/c.png"]);
    let err = client(&server, LEGACY).session(session_id()).files().list().recursive(true).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }));
}

#[tokio::test]
async fn current_metadata_download_delete_routes() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(route("files/testfile")))
        .and(query_param("path", "test-directory"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(spec_body("2025-10-02-preview", "SessionResourceFiles_Get.json")),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(route("files/my%20chart%20%231.png/content")))
        .and(query_param("path", "out"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_bytes(b"\x89PNG-bytes".to_vec())
                .insert_header("content-type", "image/png"),
        )
        .expect(3)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(route("files/chart.png")))
        .and(query_param("path", "out"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let files = client(&server, CURRENT).session(session_id()).files();
    // The service's example: asked for `testfile` in `test-directory`, it names `testfile.yaml` without a
    // directory; the file is in the directory that was asked about.
    let meta = files.metadata("test-directory/testfile").await.unwrap();
    assert_eq!((meta.path(), meta.size), ("test-directory/testfile.yaml".to_owned(), Some(4)));

    let download = files.download("out/my chart #1.png").await.unwrap();
    assert_eq!(download.content_type(), Some("image/png"));
    assert_eq!(&download.bytes().await.unwrap()[..], b"\x89PNG-bytes");

    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("chart.png");
    let n = files.download("out/my chart #1.png").await.unwrap().to_file(&target).await.unwrap();
    assert_eq!(n, 10);
    assert_eq!(std::fs::read(&target).unwrap(), b"\x89PNG-bytes");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left behind");

    let mut sink = Vec::new();
    files.download("out/my chart #1.png").await.unwrap().to_writer(&mut sink).await.unwrap();
    assert_eq!(sink, b"\x89PNG-bytes");

    files.delete("out/chart.png").await.unwrap();
}

#[tokio::test]
async fn legacy_download_delete_and_metadata_via_listing() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(route("files/content/sub/r%C3%A9sum%C3%A9%20v2.txt")))
        .and(query_param("api-version", LEGACY))
        .respond_with(ResponseTemplate::new(200).set_body_string("cv"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(route("files/sub/r%C3%A9sum%C3%A9%20v2.txt")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"message": "file deleted successfully"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(route("files")))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("legacy_files_list.json")))
        .mount(&server)
        .await;
    let files = client(&server, LEGACY).session(session_id()).files();
    let body = files.download("sub/résumé v2.txt").await.unwrap().bytes().await.unwrap();
    assert_eq!(&body[..], b"cv");
    files.delete("sub/résumé v2.txt").await.unwrap();
    assert_eq!(files.metadata("chart.png").await.unwrap().size, Some(20480));
    let err = files.metadata("nope.txt").await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
}

#[tokio::test]
async fn missing_file_is_not_found() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(route("files/gone.txt/content")))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"error": {"code": "FileNotFound", "message": "gone.txt does not exist"}})),
        )
        .mount(&server)
        .await;
    let err = client(&server, CURRENT).session(session_id()).files().download("gone.txt").await.unwrap_err();
    assert!(matches!(&err, Error::NotFound(e) if e.code.as_deref() == Some("FileNotFound")), "{err:?}");
    assert!(err.to_string().contains("gone.txt does not exist"));
}
