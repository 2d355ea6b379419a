//! A conversation's events: every step as the page saw it, appended as it is streamed.

use sqlx::{AnyConnection, Row};

use super::{Store, StoreError, TurnLease, now_ms};
use crate::events::PageEvent;

impl Store {
    /// Appends `event` to one of `owner`'s conversations; `false` when it is not theirs (or gone).
    ///
    /// # Errors
    /// Database errors.
    pub async fn append(&self, owner: &str, id: &str, event: &PageEvent) -> Result<bool, StoreError> {
        let mut tx = self.ready()?.begin().await?;
        let appended = append_in(&mut tx, owner, id, event, None).await?;
        tx.commit().await?;
        Ok(appended)
    }

    /// Appends a step of the turn holding `lease`, and drops the saved draft (the heartbeat saves the text
    /// still being written again); `false` when the turn no longer holds the conversation (it was taken for
    /// dead, or deleted): then nothing is written.
    ///
    /// # Errors
    /// Database errors.
    pub async fn append_in_turn(&self, owner: &str, lease: &TurnLease, event: &PageEvent) -> Result<bool, StoreError> {
        let mut tx = self.ready()?.begin().await?;
        let appended = append_in(&mut tx, owner, &lease.conversation, event, Some(&lease.token)).await?;
        tx.commit().await?;
        Ok(appended)
    }
}

/// Appends `event` in the caller's transaction: first a no-op update of the conversation's row (the owner
/// check, the lease check of a turn's step, and a lock that lines up writers to one conversation on either
/// engine), then the event with the next sequence number.
pub(super) async fn append_in(
    conn: &mut AnyConnection,
    owner: &str,
    id: &str,
    event: &PageEvent,
    lease: Option<&str>,
) -> Result<bool, StoreError> {
    let payload = serde_json::to_string(event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mine = match lease {
        None => {
            sqlx::query("UPDATE conversations SET updated_at = updated_at WHERE id = $1 AND owner = $2")
                .bind(id)
                .bind(owner)
                .execute(&mut *conn)
                .await?
        }
        Some(token) => {
            sqlx::query("UPDATE conversations SET draft = NULL WHERE id = $1 AND owner = $2 AND turn_lease = $3")
                .bind(id)
                .bind(owner)
                .bind(token)
                .execute(&mut *conn)
                .await?
        }
    };
    if mine.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO events (conversation_id, seq, kind, payload, created_at) \
         SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4 FROM events WHERE conversation_id = $1",
    )
    .bind(id)
    .bind(event.kind())
    .bind(&payload)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(true)
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
