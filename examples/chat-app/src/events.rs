//! What the page is sent: every event of a turn as it streams (server-sent events), and the log a reload
//! replays (`GET /api/history`), as one typed protocol. `static/app.js` handles each `type`; a test checks
//! that it handles every one.

use dynamic_sessions_agent_tools::Artifact;
use dynamic_sessions_agent_tools::turn::{StepOutcome, TurnEvent, TurnFailureKind};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::render;

/// One event for the page, JSON with its kind in `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PageEvent {
    /// The user's message (in the log).
    User {
        /// What the user wrote.
        text: String,
    },
    /// A piece of the answer, as the model writes it (streamed, not logged).
    Text {
        /// The new text.
        delta: String,
    },
    /// The text streamed since the last step was not an answer (a call written as text): remove it.
    TextWithdrawn,
    /// The model is writing a tool call's arguments: "writing code…".
    WritingCode {
        /// The tool.
        name: String,
    },
    /// A tool call, or a code cell the user ran.
    ToolCall {
        /// The call's id in its turn (none for a code cell).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// The tool.
        name: String,
        /// Its code or command, for display.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
        /// Its arguments.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        args: Option<Map<String, Value>>,
        /// The model wrote the call as text; it was run as a call.
        #[serde(default)]
        as_text: bool,
        /// A code cell the user ran.
        #[serde(default)]
        cell: bool,
    },
    /// A call's result.
    ToolResult {
        /// The call's id (none for a code cell).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// The tool.
        name: String,
        /// Ran, failed, or rejected (nothing ran).
        outcome: StepOutcome,
        /// The execution report (runs of code).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        report: Option<Value>,
        /// What the model was told, for tools without a report.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        /// The charts drawn, as `data:` URLs.
        #[serde(default)]
        images: Vec<String>,
        /// A code cell the user ran.
        #[serde(default)]
        cell: bool,
    },
    /// A file the agent handed over.
    Artifact {
        /// Its path in `/mnt/data`.
        path: String,
        /// Its size, when known.
        #[serde(default)]
        size: Option<u64>,
        /// What it holds, in the agent's words.
        #[serde(default)]
        description: Option<String>,
    },
    /// Something the user should know.
    Notice {
        /// The words.
        message: String,
    },
    /// The session's files may have changed: refresh the list.
    Files,
    /// The turn's answer, rendered and sanitised on the server (streamed; logged as `Assistant`).
    Done {
        /// Sanitised HTML.
        html: String,
    },
    /// The turn ended without an answer.
    Error {
        /// Why, as a kind.
        kind: TurnFailureKind,
        /// Why, in words.
        message: String,
    },
    /// The user stopped the turn.
    Stopped {
        /// What happened, in words.
        message: String,
    },
    /// A finished answer in the log.
    Assistant {
        /// Sanitised HTML.
        html: String,
    },
    /// Text the model wrote that was not its answer (before a step, or cut off), as the page showed it: plain
    /// text (in the log).
    Narration {
        /// The text.
        text: String,
    },
    /// The app stopped while the turn ran (a restart, a deploy, a crash): the steps before it were kept.
    Interrupted {
        /// What happened, in words.
        message: String,
    },
}

impl PageEvent {
    /// The event as the log a reload replays keeps it: text deltas and momentary states are not kept, and
    /// the answer is kept as `Assistant`.
    pub fn logged(&self) -> Option<PageEvent> {
        match self {
            PageEvent::Text { .. } | PageEvent::TextWithdrawn | PageEvent::WritingCode { .. } | PageEvent::Files => {
                None
            }
            PageEvent::Done { html } => Some(PageEvent::Assistant { html: html.clone() }),
            other => Some(other.clone()),
        }
    }

    /// The event's `type`, as stored beside it.
    pub fn kind(&self) -> &'static str {
        match self {
            PageEvent::User { .. } => "user",
            PageEvent::Text { .. } => "text",
            PageEvent::TextWithdrawn => "text_withdrawn",
            PageEvent::WritingCode { .. } => "writing_code",
            PageEvent::ToolCall { .. } => "tool_call",
            PageEvent::ToolResult { .. } => "tool_result",
            PageEvent::Artifact { .. } => "artifact",
            PageEvent::Notice { .. } => "notice",
            PageEvent::Files => "files",
            PageEvent::Done { .. } => "done",
            PageEvent::Error { .. } => "error",
            PageEvent::Stopped { .. } => "stopped",
            PageEvent::Assistant { .. } => "assistant",
            PageEvent::Narration { .. } => "narration",
            PageEvent::Interrupted { .. } => "interrupted",
        }
    }

    /// The page's events for one turn event.
    pub fn of_turn(event: TurnEvent) -> Vec<PageEvent> {
        match event {
            TurnEvent::Text(delta) => vec![PageEvent::Text { delta }],
            TurnEvent::TextWithdrawn => vec![PageEvent::TextWithdrawn],
            TurnEvent::ToolCallStarted { name } => vec![PageEvent::WritingCode { name }],
            TurnEvent::ToolCall(call) => vec![PageEvent::ToolCall {
                id: Some(call.id.clone()),
                name: call.name.clone(),
                code: call.code().map(str::to_owned),
                args: Some(call.arguments),
                as_text: call.written_as_text,
                cell: false,
            }],
            TurnEvent::ToolResult(result) => {
                let (images, files) = artifact_events(result.artifacts);
                let mut events = vec![PageEvent::ToolResult {
                    id: Some(result.id),
                    name: result.name,
                    outcome: result.outcome,
                    report: result.report.and_then(|r| serde_json::to_value(r).ok()),
                    text: Some(result.text),
                    images,
                    cell: false,
                }];
                events.extend(files);
                events.push(PageEvent::Files);
                events
            }
            TurnEvent::Notice(message) => vec![PageEvent::Notice { message }, PageEvent::Files],
            TurnEvent::Done { answer } => vec![PageEvent::Done { html: render::markdown(&answer) }],
            TurnEvent::Failed(failure) => vec![PageEvent::Error { kind: failure.kind, message: failure.message }],
            _ => Vec::new(),
        }
    }
}

/// An image as a `data:` URL the page can show.
pub fn data_url(format: &str, data: &[u8]) -> String {
    use base64::Engine as _;
    let mime = if format.eq_ignore_ascii_case("svg") { "svg+xml".to_owned() } else { format.to_ascii_lowercase() };
    format!("data:image/{mime};base64,{}", base64::engine::general_purpose::STANDARD.encode(data))
}

/// Artifacts as page events: images as `data:` URLs (shown in their step), files handed over as `Artifact`
/// events (stored, so the file list marks them).
fn artifact_events(artifacts: Vec<Artifact>) -> (Vec<String>, Vec<PageEvent>) {
    let mut images = Vec::new();
    let mut files = Vec::new();
    for artifact in artifacts {
        match artifact {
            Artifact::Image { format, data } => images.push(data_url(&format, &data)),
            Artifact::File { path, size, description } => {
                files.push(PageEvent::Artifact { path, size, description });
            }
            _ => {}
        }
    }
    (images, files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_kind_is_the_type_the_page_is_sent() {
        let events = [
            PageEvent::User { text: "hi".into() },
            PageEvent::Text { delta: "a".into() },
            PageEvent::TextWithdrawn,
            PageEvent::WritingCode { name: "run_python".into() },
            PageEvent::ToolCall { id: None, name: "t".into(), code: None, args: None, as_text: false, cell: true },
            PageEvent::ToolResult {
                id: None,
                name: "t".into(),
                outcome: StepOutcome::Ran,
                report: None,
                text: None,
                images: Vec::new(),
                cell: false,
            },
            PageEvent::Artifact { path: "/mnt/data/a".into(), size: None, description: None },
            PageEvent::Notice { message: "n".into() },
            PageEvent::Files,
            PageEvent::Done { html: String::new() },
            PageEvent::Error { kind: TurnFailureKind::Model, message: "m".into() },
            PageEvent::Stopped { message: "s".into() },
            PageEvent::Assistant { html: String::new() },
            PageEvent::Narration { text: "n".into() },
            PageEvent::Interrupted { message: "i".into() },
        ];
        for event in events {
            let json = serde_json::to_value(&event).unwrap_or_default();
            assert_eq!(json["type"], event.kind(), "{event:?}");
        }
    }
}
