//! Where conversations are kept: SQLite by default (a file in the data directory), PostgreSQL when
//! `DATABASE_URL` is set. Both engines run the same queries and the same versioned migrations
//! (`examples/chat-app/migrations`) through `sqlx`'s `Any` driver.
//!
//! Every query that reads or changes a conversation names its owner: one person can never reach another's.

mod conversations;
mod entra;
mod events;
mod turns;

use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use conversations::{ConversationRow, MAX_TITLE_CHARS};
pub use entra::{ENTRA_SCOPE, EntraPassword};
pub use turns::{HEARTBEAT, STALE_AFTER, TurnLease};

/// The migrations, embedded at build time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Which database a [`Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// A file on this machine: one app process.
    Sqlite,
    /// A server: several app processes (replicas) may share it.
    Postgres,
}

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL or data directory cannot be used.
    #[error("{0}")]
    Config(String),
    /// The database has not answered since the app started (the migrations have not run).
    #[error("the conversation database is not ready: {0}")]
    NotReady(String),
    /// The database did not answer, or failed.
    #[error("the conversation database failed: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored row cannot be read back.
    #[error("a stored conversation cannot be read: {0}")]
    Corrupt(String),
}

#[derive(Debug, Default)]
struct Readiness {
    ready: AtomicBool,
    /// Whether the start-up sweep of cut-off turns ran (SQLite).
    swept: AtomicBool,
    /// Why it is not ready, as last seen.
    last_error: Mutex<Option<String>>,
}

/// The conversation store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    engine: Engine,
    readiness: Arc<Readiness>,
}

/// The current time in Unix milliseconds, strictly increasing within this process (so two changes in one
/// millisecond still sort in the order they were made).
pub(crate) fn now_ms() -> i64 {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
    let previous = LAST.fetch_update(Ordering::AcqRel, Ordering::Acquire, |last| Some(now.max(last.saturating_add(1))));
    let last = previous.unwrap_or_else(|last| last);
    now.max(last.saturating_add(1))
}

impl Store {
    /// A store on `url` (`sqlite://PATH?mode=rwc` or `postgres://...`), not yet connected: nothing is tried
    /// until [`Store::prepare`] runs.
    ///
    /// # Errors
    /// [`StoreError::Config`] for a URL of another kind, or one `sqlx` cannot read.
    pub fn lazy(url: &str) -> Result<Store, StoreError> {
        Self::lazy_with(url, None)
    }

    /// [`Store::lazy`] with at most `max_connections` connections (default: 4 for SQLite, 5 for PostgreSQL;
    /// mind the server's limit times the replicas).
    ///
    /// # Errors
    /// As [`Store::lazy`].
    pub fn lazy_with(url: &str, max_connections: Option<u32>) -> Result<Store, StoreError> {
        let engine = engine_of(url)?;
        let options = AnyConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("the database URL cannot be read: {e}")))?;
        sqlx::any::install_default_drivers();
        let connections = max_connections.unwrap_or(match engine {
            Engine::Sqlite => 4,
            Engine::Postgres => 5,
        });
        let pool = AnyPoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(options);
        Ok(Store { pool, engine, readiness: Arc::new(Readiness::default()) })
    }

    /// A prepared SQLite store in memory, gone when the last clone is dropped: for tests and demos.
    ///
    /// # Errors
    /// When SQLite cannot open it.
    pub async fn in_memory() -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let options = AnyConnectOptions::from_str("sqlite::memory:")?;
        // One connection that never closes: each SQLite connection to `:memory:` is a database of its own.
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        let store = Store { pool, engine: Engine::Sqlite, readiness: Arc::new(Readiness::default()) };
        store.prepare().await?;
        Ok(store)
    }

    /// The SQLite store in `dir` (`conversations.sqlite3`), creating the directory (readable by its owner only:
    /// conversations are private) and the file as needed.
    ///
    /// # Errors
    /// [`StoreError::Config`] when the directory cannot be created or its path cannot be used in a URL.
    pub fn sqlite_in(dir: &Path) -> Result<Store, StoreError> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| {
            StoreError::Config(format!("cannot create the data directory {} (CHAT_APP_DATA_DIR): {e}", dir.display()))
        })?;
        let file = dir.join("conversations.sqlite3");
        let text = file.to_str().filter(|t| !t.contains(['?', '#'])).ok_or_else(|| {
            StoreError::Config(format!("the data directory {} cannot be used: pick a plain path", dir.display()))
        })?;
        Self::lazy(&format!("sqlite://{text}?mode=rwc"))
    }

    /// Connects, runs the migrations that have not run yet, and marks the store ready. Safe to call again and
    /// from several processes at once (the migrations are versioned and locked).
    ///
    /// # Errors
    /// [`StoreError::Database`] when the database does not answer or a migration fails.
    pub async fn prepare(&self) -> Result<(), StoreError> {
        let result = async {
            if self.engine == Engine::Sqlite {
                // Readers do not wait for the writer; kept in the file once set.
                self.pool.execute("PRAGMA journal_mode = WAL").await.map_err(StoreError::from)?;
            }
            MIGRATOR.run(&self.pool).await.map_err(sqlx::Error::from)?;
            // A SQLite file serves one process: what ran when it last stopped was cut off.
            if self.engine == Engine::Sqlite && !self.readiness.swept.swap(true, Ordering::AcqRel) {
                let cut = self.interrupt_all_running().await.inspect_err(|_| {
                    self.readiness.swept.store(false, Ordering::Release);
                })?;
                if cut > 0 {
                    tracing::warn!(turns = cut, "answers cut off by the last stop are marked interrupted");
                }
            }
            Ok::<(), StoreError>(())
        }
        .await;
        match result {
            Ok(()) => {
                self.readiness.ready.store(true, Ordering::Release);
                if let Ok(mut last) = self.readiness.last_error.lock() {
                    *last = None;
                }
                Ok(())
            }
            Err(e) => {
                if let Ok(mut last) = self.readiness.last_error.lock() {
                    *last = Some(e.to_string());
                }
                Err(e)
            }
        }
    }

    /// [`Store::prepare`] until it succeeds, every `pause`, logging each failure in words.
    pub async fn prepare_until_ready(&self, pause: Duration) {
        loop {
            match self.prepare().await {
                Ok(()) => {
                    tracing::info!(engine = ?self.engine, "the conversation database is ready");
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, "the conversation database is not available; retrying");
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }

    /// The engine.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Errors unless [`Store::prepare`] has succeeded.
    fn ready(&self) -> Result<&AnyPool, StoreError> {
        if self.readiness.ready.load(Ordering::Acquire) {
            return Ok(&self.pool);
        }
        let why = self.readiness.last_error.lock().ok().and_then(|e| e.clone());
        Err(StoreError::NotReady(why.unwrap_or_else(|| "it is still starting".into())))
    }

    /// Whether the database answers now.
    ///
    /// # Errors
    /// Why not.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.ready()?.execute("SELECT 1").await?;
        Ok(())
    }

    /// Replaces how new connections are made (a fresh Entra token as the password); open ones stay.
    pub fn set_connect_options(&self, options: AnyConnectOptions) {
        self.pool.set_connect_options(options);
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn engine_of(url: &str) -> Result<Engine, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Engine::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Engine::Postgres)
    } else {
        Err(StoreError::Config(
            "DATABASE_URL must start with postgres:// (or leave it unset to keep conversations in SQLite)".into(),
        ))
    }
}
