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
