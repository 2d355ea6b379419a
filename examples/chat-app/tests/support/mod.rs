//! What the chat app's database tests share: both engines over real connections. PostgreSQL is the cluster
//! `DS_TEST_DATABASE_URL` names (`.ci/run` starts a throwaway one with `scripts/postgres-throwaway.sh`); each
//! test gets a database of its own.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod app;
pub mod proxy;

use chat_app::store::Store;
use sqlx::Connection;

/// The cluster's URL, or `None` (said loudly) on a machine without one; under `CI=true` a missing cluster fails.
pub fn postgres_base() -> Option<String> {
    match std::env::var("DS_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        Some(url) => Some(url),
        None => {
            let message = "DS_TEST_DATABASE_URL is not set: start a throwaway cluster with \
                           `eval \"$(scripts/postgres-throwaway.sh start)\"`";
            assert!(!dynamic_sessions_emulator::testing::in_ci(), "CI=true but {message}");
            eprintln!("\n*** SKIPPING the PostgreSQL half of this test: {message} ***\n");
            None
        }
    }
}

/// A new, empty database on the cluster at `base`; its URL.
pub async fn fresh_database(base: &str) -> String {
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(base).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
    admin.close().await.unwrap();
    let mut url = url::Url::parse(base).unwrap();
    url.set_path(&name);
    url.to_string()
}

/// A prepared PostgreSQL store on a fresh database, and its URL.
pub async fn postgres_store() -> Option<(Store, String)> {
    let base = postgres_base()?;
    let url = fresh_database(&base).await;
    let store = Store::lazy(&url).unwrap();
    store.prepare().await.unwrap();
    Some((store, url))
}

/// A prepared SQLite store in a temporary directory.
pub async fn sqlite_store(dir: &std::path::Path) -> Store {
    let store = Store::sqlite_in(dir).unwrap();
    store.prepare().await.unwrap();
    store
}

/// The Python of the real-client environment (which has nbformat), or `None` (skipped loudly; a failure under
/// `CI=true`).
pub fn python_with_nbformat() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("DS_PYTHON_CLIENTS_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/python-clients-venv"));
    let python = dir.join("bin/python");
    let has = std::process::Command::new(&python)
        .args(["-c", "import nbformat"])
        .status()
        .is_ok_and(|status| status.success());
    if has {
        return Some(python);
    }
    let message = format!(
        "no nbformat at {} (pip install -r crates/emulator/tests/python_clients/requirements.txt)",
        python.display()
    );
    assert!(!dynamic_sessions_emulator::testing::in_ci(), "CI=true but {message}");
    eprintln!("\n*** SKIPPING the notebook's nbformat validation: {message} ***\n");
    None
}
