-- Conversations and what the page was shown, per person. One schema for SQLite and PostgreSQL: only TEXT and
-- BIGINT columns, times as Unix milliseconds, ids made by the app.

CREATE TABLE conversations (
    -- 32 hex digits, made by the app; also the conversation half of the session identifier's HMAC input.
    id TEXT PRIMARY KEY,
    -- HMAC of the browser's identity (the identity itself stays in the signed cookie only).
    owner TEXT NOT NULL,
    title TEXT NOT NULL,
    -- 1 until the first message (or a rename) gives the conversation its title.
    auto_title BIGINT NOT NULL DEFAULT 1,
    -- The model that last answered, as the page names it.
    model TEXT,
    -- The model's side of the conversation (tool calls and results), as JSON.
    history TEXT NOT NULL DEFAULT '[]',
    -- When the pool session was created, as last seen (RFC 3339): tells an expired session from a live one.
    session_created TEXT,
    -- The running turn: its token, when its process last said it is alive, and whether Stop was pressed.
    turn_lease TEXT,
    turn_heartbeat BIGINT,
    stop_requested BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE INDEX conversations_by_owner ON conversations (owner, updated_at);

-- Every step as the page saw it, in order.
CREATE TABLE events (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    -- The event's `type` (user, tool_call, tool_result, artifact, assistant, ...).
    kind TEXT NOT NULL,
    -- The event as JSON, exactly as the page is sent it.
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);
