//! A conversation's events: every step as the page saw it, appended as it is streamed.

use sqlx::{AnyPool, Row};

use super::{Store, StoreError, now_ms};
use crate::events::PageEvent;

/// How many times an append retries when another process took the same sequence number.
const APPEND_ATTEMPTS: usize = 5;

impl Store {
    /// Appends `event` to one of `owner`'s conversations; `false` when it is not theirs (or gone).
    ///
    /// # Errors
    /// Database errors.
    pub async fn append(&self, owner: &str, id: &str, event: &PageEvent) -> Result<bool, StoreError> {
        append_on(self.ready()?, owner, id, event).await
    }
}

/// [`Store::append`] on `pool` (also before the store is marked ready).
pub(super) async fn append_on(pool: &AnyPool, owner: &str, id: &str, event: &PageEvent) -> Result<bool, StoreError> {
    let payload = serde_json::to_string(event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        // The owner check and the next sequence number in one statement.
        let result = sqlx::query(
            "INSERT INTO events (conversation_id, seq, kind, payload, created_at) \
                 SELECT c.id, COALESCE((SELECT MAX(e.seq) FROM events e WHERE e.conversation_id = c.id), 0) + 1, \
                 $3, $4, $5 FROM conversations c WHERE c.id = $1 AND c.owner = $2",
        )
        .bind(id)
        .bind(owner)
        .bind(event.kind())
        .bind(&payload)
        .bind(now_ms())
        .execute(pool)
        .await;
        match result {
            Ok(done) => return Ok(done.rows_affected() == 1),
            // Two writers took the same number (another replica's code cell): take the next one.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() && attempt < APPEND_ATTEMPTS => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

impl Store {
    /// The events of one of `owner`'s conversations, in order (none when it is not theirs).
    ///
    /// # Errors
    /// Database errors; [`StoreError::Corrupt`] for a row that is not an event.
    pub async fn events(&self, owner: &str, id: &str) -> Result<Vec<PageEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT e.payload FROM events e JOIN conversations c ON c.id = e.conversation_id \
             WHERE c.id = $1 AND c.owner = $2 ORDER BY e.seq",
        )
        .bind(id)
        .bind(owner)
        .fetch_all(self.ready()?)
        .await?;
        rows.iter()
            .map(|r| {
                let payload: String = r.try_get("payload")?;
                serde_json::from_str(&payload).map_err(|e| StoreError::Corrupt(format!("{e} in {payload:.80}")))
            })
            .collect()
    }

    /// The files the agent handed over in one of `owner`'s conversations.
    ///
    /// # Errors
    /// As [`Store::events`].
    pub async fn artifacts(&self, owner: &str, id: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT e.payload FROM events e JOIN conversations c ON c.id = e.conversation_id \
             WHERE c.id = $1 AND c.owner = $2 AND e.kind = 'artifact' ORDER BY e.seq",
        )
        .bind(id)
        .bind(owner)
        .fetch_all(self.ready()?)
        .await?;
        let mut paths = Vec::new();
        for r in &rows {
            let payload: String = r.try_get("payload")?;
            if let Ok(PageEvent::Artifact { path, .. }) = serde_json::from_str(&payload) {
                paths.push(path);
            }
        }
        Ok(paths)
    }
}
