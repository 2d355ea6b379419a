//! Property tests of every parser of untrusted input in the client: whatever the input, no panic, and
//! either a value that keeps the parser's promises or a typed [`Error::InvalidInput`].
//!
//! Inputs come from the environment and flags (api-version), from callers (session identifiers, remote
//! paths), and from the service (execution, file, session and error answers).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dynamic_sessions::{ApiVersion, Error, Execution, RemoteFile, RemotePath, SessionId, SessionInfo};
use proptest::prelude::*;
use serde_json::Value;

/// Any string, weighted towards the shapes each parser cares about.
fn text(shapes: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "\\PC{0,40}",
        proptest::sample::select(shapes)
            .prop_flat_map(|s| ("\\PC{0,3}", "\\PC{0,3}").prop_map(move |(a, b)| format!("{a}{s}{b}"))),
        proptest::sample::select(shapes).prop_map(str::to_owned),
    ]
}

/// Arbitrary JSON, a few levels deep.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)),
        "\\PC{0,12}".prop_map(Value::String),
        proptest::sample::select(vec!["Succeeded", "Failed", "Success", "Failure", "Running", "image", "File", ""])
            .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let keys = proptest::sample::select(vec![
            "id",
            "status",
            "result",
            "stdout",
            "stderr",
            "executionResult",
            "properties",
            "value",
            "name",
            "filename",
            "directory",
            "type",
            "sizeInBytes",
            "size",
            "lastModifiedAt",
            "error",
            "code",
            "message",
            "base64_data",
            "format",
            "identifier",
            "createdAt",
            "nextLink",
            "$values",
            "x",
        ]);
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(keys.prop_map(str::to_owned), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn is_invalid_input(e: &Error) -> bool {
    matches!(e, Error::InvalidInput { .. }) && !e.was_sent()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn api_versions(s in text(&["2024-02-02-preview", "2025-10-02-preview", "2024-02-0é-preview", "-", "é"])) {
        match ApiVersion::new(s.clone()) {
            Ok(v) => {
                prop_assert_eq!(v.as_str(), s.as_str());
                prop_assert!(s.is_char_boundary(10) && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-');
            }
            Err(e) => prop_assert!(is_invalid_input(&e), "{e:?}"),
        }
    }

    #[test]
    fn session_identifiers(s in text(&["abcd", "a|b&c^d", "session-1", "é", "\u{0}", " "])) {
        match SessionId::new(s.clone()) {
            Ok(id) => {
                prop_assert_eq!(id.as_str(), s.as_str());
                prop_assert!((4..=128).contains(&s.chars().count()) && s.is_ascii());
            }
            Err(e) => prop_assert!(is_invalid_input(&e), "{e:?}"),
        }
    }

    #[test]
    fn remote_paths(s in text(&["/mnt/data/", "..", ".", "//", "a/b.csv", "\\", "\u{0}", "/etc/passwd"])) {
        match RemotePath::new(&s) {
            Ok(p) => {
                // Whatever was accepted stays inside /mnt/data.
                prop_assert!(!p.as_str().is_empty());
                prop_assert!(p.segments().all(|seg| !seg.is_empty() && seg != "." && seg != ".."));
                prop_assert!(p.absolute().starts_with("/mnt/data/"));
                prop_assert_eq!(p.file_name(), p.as_str().rsplit('/').next().unwrap());
                prop_assert_eq!(RemotePath::new(p.as_str()).ok(), Some(p.clone()), "a path round-trips");
            }
            Err(e) => prop_assert!(is_invalid_input(&e), "{e:?}"),
        }
    }

    #[test]
    fn service_answers_never_panic(v in json()) {
        let execution = Execution::from_json(&v);
        prop_assert!(execution.images.iter().all(|i| !i.base64_data.is_empty() || i.decode().is_ok()));
        for file in RemoteFile::list_from_json(&v) {
            prop_assert!(!file.name.is_empty());
            let _ = file.remote_path();
        }
        let _ = SessionInfo::from_json(&v);
    }
}
