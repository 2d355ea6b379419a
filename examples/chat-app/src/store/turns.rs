//! Who runs a conversation's turn: a lease in the conversation's row, kept alive by the process that runs it.
//! One turn at a time per conversation across every replica; Stop pressed on any replica reaches the one that
//! runs it; a turn whose process died is found and marked interrupted.

use std::time::Duration;

use sqlx::{AnyConnection, Row};

use super::events::append_in;

use super::{Store, StoreError, now_ms};
use crate::events::PageEvent;

/// How often a running turn renews its lease and looks for a Stop.
pub const HEARTBEAT: Duration = Duration::from_millis(500);

/// A lease not renewed for this long belongs to a process that died.
pub const STALE_AFTER: Duration = Duration::from_secs(10);

/// What the page shows for a turn whose process died while it ran.
pub const INTERRUPTED: &str =
    "This answer was cut off: the app stopped while it ran. The steps above were kept; ask again to continue.";

/// A running turn's hold on its conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnLease {
    /// The conversation.
    pub conversation: String,
    /// The turn's token.
    pub token: String,
}

impl Store {
    /// Takes the conversation for a turn; `None` when a live turn already runs (here or on another replica),
    /// or the conversation is not `owner`'s. A dead turn's lease is first marked interrupted.
    ///
    /// # Errors
    /// Database errors.
    pub async fn begin_turn(&self, owner: &str, id: &str) -> Result<Option<TurnLease>, StoreError> {
        self.interrupt_if_dead(owner, id).await?;
        let token = super::conversations::new_id();
        let done = sqlx::query(
            "UPDATE conversations SET turn_lease = $3, turn_heartbeat = $4, stop_requested = 0, draft = NULL \
             WHERE id = $1 AND owner = $2 AND turn_lease IS NULL",
        )
        .bind(id)
        .bind(owner)
        .bind(&token)
        .bind(now_ms())
        .execute(self.ready()?)
        .await?;
        Ok((done.rows_affected() == 1).then(|| TurnLease { conversation: id.to_owned(), token }))
    }

    /// Renews the lease and saves the text of the answer being written (`draft`, empty when none); `Some(true)`
    /// when Stop was pressed, `None` when the lease is lost.
    ///
    /// # Errors
    /// Database errors.
    pub async fn heartbeat(&self, lease: &TurnLease, draft: &str) -> Result<Option<bool>, StoreError> {
        let found = sqlx::query(
            "UPDATE conversations SET turn_heartbeat = $3, draft = $4 WHERE id = $1 AND turn_lease = $2 \
             RETURNING stop_requested",
        )
        .bind(&lease.conversation)
        .bind(&lease.token)
        .bind(now_ms())
        .bind((!draft.is_empty()).then_some(draft))
        .fetch_optional(self.ready()?)
        .await?;
        Ok(match found {
            Some(r) => Some(r.try_get::<i64, _>("stop_requested")? != 0),
            None => None,
        })
    }

    /// Gives the lease back.
    ///
    /// # Errors
    /// Database errors.
    pub async fn end_turn(&self, lease: &TurnLease) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE conversations SET turn_lease = NULL, turn_heartbeat = NULL, stop_requested = 0, draft = NULL \
             WHERE id = $1 AND turn_lease = $2",
        )
        .bind(&lease.conversation)
        .bind(&lease.token)
        .execute(self.ready()?)
        .await?;
        Ok(())
    }

    /// Asks the running turn to stop, wherever it runs; `false` when none runs.
    ///
    /// # Errors
    /// Database errors.
    pub async fn request_stop(&self, owner: &str, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE conversations SET stop_requested = 1 WHERE id = $1 AND owner = $2 AND turn_lease IS NOT NULL",
        )
        .bind(id)
        .bind(owner)
        .execute(self.ready()?)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks the conversation's turn interrupted when its process stopped renewing the lease; `true` when it
    /// did.
    ///
    /// # Errors
    /// Database errors.
    pub async fn interrupt_if_dead(&self, owner: &str, id: &str) -> Result<bool, StoreError> {
        // One transaction: the row stays locked until the marks are in, so a new turn's first step comes after.
        let mut tx = self.ready()?.begin().await?;
        let found = sqlx::query(
            // `RETURNING` gives the row as updated: the draft stays (the next turn clears it) to be read here.
            "UPDATE conversations SET turn_lease = NULL, turn_heartbeat = NULL, stop_requested = 0 \
             WHERE id = $1 AND owner = $2 AND turn_lease IS NOT NULL AND turn_heartbeat < $3 RETURNING draft",
        )
        .bind(id)
        .bind(owner)
        .bind(stale_before())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = found else { return Ok(false) };
        mark_interrupted(&mut tx, owner, id, row.try_get("draft")?).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// At start-up of the only process a SQLite store serves (before it is marked ready): every turn still
    /// holding a lease was cut off when that process stopped. Returns how many were marked interrupted.
    pub(super) async fn interrupt_all_running(&self) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "UPDATE conversations SET turn_lease = NULL, turn_heartbeat = NULL, stop_requested = 0 \
             WHERE turn_lease IS NOT NULL RETURNING id, owner, draft",
        )
        .fetch_all(&mut *tx)
        .await?;
        for r in &rows {
            let (id, owner): (String, String) = (r.try_get("id")?, r.try_get("owner")?);
            mark_interrupted(&mut tx, &owner, &id, r.try_get("draft")?).await?;
        }
        tx.commit().await?;
        Ok(rows.len())
    }
}

/// Appends what the page had shown of the answer being written (its last saved draft), then the mark, in the
/// caller's transaction.
async fn mark_interrupted(
    conn: &mut AnyConnection,
    owner: &str,
    id: &str,
    draft: Option<String>,
) -> Result<(), StoreError> {
    if let Some(text) = draft.filter(|t| !t.is_empty()) {
        append_in(conn, owner, id, &PageEvent::Narration { text }, None).await?;
    }
    append_in(conn, owner, id, &PageEvent::Interrupted { message: INTERRUPTED.into() }, None).await?;
    Ok(())
}

/// A lease renewed before this (Unix milliseconds) belongs to a process that died.
pub(super) fn stale_before() -> i64 {
    now_ms().saturating_sub(i64::try_from(STALE_AFTER.as_millis()).unwrap_or(i64::MAX))
}
