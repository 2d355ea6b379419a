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
///
/// In one transaction: a no-op update of the conversation's row (the owner check, and a lock that lines up
/// writers to one conversation, on either engine), then the event with the next sequence number.
pub(super) async fn append_on(pool: &AnyPool, owner: &str, id: &str, event: &PageEvent) -> Result<bool, StoreError> {
    let payload = serde_json::to_string(event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut tx = pool.begin().await?;
        let mine = sqlx::query("UPDATE conversations SET updated_at = updated_at WHERE id = $1 AND owner = $2")
            .bind(id)
            .bind(owner)
            .execute(&mut *tx)
            .await?;
        if mine.rows_affected() != 1 {
            return Ok(false);
        }
        let inserted = sqlx::query(
            "INSERT INTO events (conversation_id, seq, kind, payload, created_at) \
             SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4 FROM events WHERE conversation_id = $1",
        )
        .bind(id)
        .bind(event.kind())
        .bind(&payload)
        .bind(now_ms())
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {
                tx.commit().await?;
                return Ok(true);
            }
            // Not expected under the row lock; kept as a safety net: take the next number.
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
