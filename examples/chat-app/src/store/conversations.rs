//! The conversations of one owner: create, list, find, rename, delete, and what a turn leaves behind (the
//! model's history, the model, the session as last seen).

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, now_ms};

/// The longest title kept.
pub const MAX_TITLE_CHARS: usize = 200;

/// The title of a conversation before its first message.
pub const UNTITLED: &str = "New conversation";

/// How much of the first message becomes the title.
const AUTO_TITLE_CHARS: usize = 60;

/// A conversation as stored (without its events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationRow {
    /// Its id (32 hex digits).
    pub id: String,
    /// Its title.
    pub title: String,
    /// The model that last answered.
    pub model: Option<String>,
    /// When the pool session was created, as last seen (RFC 3339).
    pub session_created: Option<String>,
    /// Whether a turn runs (on any replica).
    pub running: bool,
    /// Created, in Unix milliseconds.
    pub created_at: i64,
    /// Last changed, in Unix milliseconds.
    pub updated_at: i64,
}

const COLUMNS: &str = "id, title, model, session_created, turn_lease, turn_heartbeat, created_at, updated_at";

/// The order of a person's list: the most recently used first, then the most recently made.
const NEWEST_FIRST: &str = "ORDER BY updated_at DESC, created_at DESC, id";

fn row(r: &AnyRow) -> Result<ConversationRow, sqlx::Error> {
    Ok(ConversationRow {
        id: r.try_get("id")?,
        title: r.try_get("title")?,
        model: r.try_get("model")?,
        session_created: r.try_get("session_created")?,
        // A lease whose process stopped renewing it is no running turn.
        running: r.try_get::<Option<String>, _>("turn_lease")?.is_some()
            && r.try_get::<Option<i64>, _>("turn_heartbeat")?.is_some_and(|beat| beat >= super::turns::stale_before()),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// A title as kept: one line, trimmed, at most `max` characters.
pub(crate) fn clean_title(text: &str, max: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= max {
        return line;
    }
    let mut cut: String = line.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A new conversation id: 128 random bits as 32 hex digits.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Whether `id` looks like a conversation id (checked before any query).
pub fn valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

impl Store {
    /// Starts a conversation for `owner`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn create(&self, owner: &str) -> Result<ConversationRow, StoreError> {
        let (id, now) = (new_id(), now_ms());
        sqlx::query("INSERT INTO conversations (id, owner, title, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)")
            .bind(&id)
            .bind(owner)
            .bind(UNTITLED)
            .bind(now)
            .execute(self.ready()?)
            .await?;
        Ok(ConversationRow {
            id,
            title: UNTITLED.into(),
            model: None,
            session_created: None,
            running: false,
            created_at: now,
            updated_at: now,
        })
    }

    /// `owner`'s conversations, the most recently used first.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list(&self, owner: &str) -> Result<Vec<ConversationRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM conversations WHERE owner = $1 {NEWEST_FIRST}");
        let rows = sqlx::query(&sql).bind(owner).fetch_all(self.ready()?).await?;
        Ok(rows.iter().map(row).collect::<Result<_, _>>()?)
    }

    /// One of `owner`'s conversations; `None` when it does not exist or is someone else's.
    ///
    /// # Errors
    /// Database errors.
    pub async fn find(&self, owner: &str, id: &str) -> Result<Option<ConversationRow>, StoreError> {
        if !valid_id(id) {
            return Ok(None);
        }
        let sql = format!("SELECT {COLUMNS} FROM conversations WHERE id = $1 AND owner = $2");
        let found = sqlx::query(&sql).bind(id).bind(owner).fetch_optional(self.ready()?).await?;
        Ok(found.as_ref().map(row).transpose()?)
    }

    /// `owner`'s most recently used conversation, if any.
    ///
    /// # Errors
    /// Database errors.
    pub async fn latest(&self, owner: &str) -> Result<Option<ConversationRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM conversations WHERE owner = $1 {NEWEST_FIRST} LIMIT 1");
        let found = sqlx::query(&sql).bind(owner).fetch_optional(self.ready()?).await?;
        Ok(found.as_ref().map(row).transpose()?)
    }

    /// Renames one of `owner`'s conversations (its place in the list stays); `false` when it is not theirs
    /// (or gone).
    ///
    /// # Errors
    /// Database errors.
    pub async fn rename(&self, owner: &str, id: &str, title: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE conversations SET title = $3, auto_title = 0 WHERE id = $1 AND owner = $2")
            .bind(id)
            .bind(owner)
            .bind(clean_title(title, MAX_TITLE_CHARS))
            .execute(self.ready()?)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives a conversation its title from its first message, once; also marks it as just used.
    ///
    /// # Errors
    /// Database errors.
    pub async fn touch_with_message(&self, owner: &str, id: &str, message: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE conversations SET title = CASE WHEN auto_title = 1 THEN $3 ELSE title END, auto_title = 0, \
             updated_at = $4 WHERE id = $1 AND owner = $2",
        )
        .bind(id)
        .bind(owner)
        .bind(clean_title(message, AUTO_TITLE_CHARS))
        .bind(now_ms())
        .execute(self.ready()?)
        .await?;
        Ok(())
    }

    /// Deletes one of `owner`'s conversations and its events; `false` when it is not theirs (or gone).
    ///
    /// # Errors
    /// Database errors.
    pub async fn delete(&self, owner: &str, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.ready()?.begin().await?;
        sqlx::query(
            "DELETE FROM events WHERE conversation_id IN (SELECT id FROM conversations WHERE id = $1 AND owner = $2)",
        )
        .bind(id)
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query("DELETE FROM conversations WHERE id = $1 AND owner = $2")
            .bind(id)
            .bind(owner)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// The model's side of the conversation (JSON), as the last turn left it.
    ///
    /// # Errors
    /// Database errors.
    pub async fn history(&self, owner: &str, id: &str) -> Result<String, StoreError> {
        let found = sqlx::query("SELECT history FROM conversations WHERE id = $1 AND owner = $2")
            .bind(id)
            .bind(owner)
            .fetch_optional(self.ready()?)
            .await?;
        Ok(match found {
            Some(r) => r.try_get("history")?,
            None => "[]".into(),
        })
    }

    /// What the turn holding `lease` leaves behind: the model's history, the model, and the session as last
    /// seen; `false` when the turn no longer holds the conversation (then nothing is written: a newer turn's
    /// history is never overwritten by an older one).
    ///
    /// # Errors
    /// Database errors.
    pub async fn save_turn(
        &self,
        owner: &str,
        lease: &super::TurnLease,
        history: &str,
        model: Option<&str>,
        session_created: Option<&str>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE conversations SET history = $4, model = COALESCE($5, model), session_created = $6, \
             updated_at = $7 WHERE id = $1 AND owner = $2 AND turn_lease = $3",
        )
        .bind(&lease.conversation)
        .bind(owner)
        .bind(&lease.token)
        .bind(history)
        .bind(model)
        .bind(session_created)
        .bind(now_ms())
        .execute(self.ready()?)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records the session as last seen (after a code cell).
    ///
    /// # Errors
    /// Database errors.
    pub async fn save_session_seen(&self, owner: &str, id: &str, created: Option<&str>) -> Result<(), StoreError> {
        sqlx::query("UPDATE conversations SET session_created = $3, updated_at = $4 WHERE id = $1 AND owner = $2")
            .bind(id)
            .bind(owner)
            .bind(created)
            .bind(now_ms())
            .execute(self.ready()?)
            .await?;
        Ok(())
    }
}
