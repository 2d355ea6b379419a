//! One agent turn as an application sees it: typed events (text, tool steps with their reports and
//! artifacts, notices, the answer or a plain-language failure), and the bounds every turn runs within.
//!
//! The events carry no agent-framework types, so an application renders a turn without depending on the
//! framework; the rig runner (`rig::ChatSession`, feature `rig`) produces them.

pub mod echo;
pub mod grounding;
pub mod looping;
pub mod policy;
pub mod quotes;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::interpreter::Artifact;
use crate::report::RunReport;

/// When the model is made to call a tool.
///
/// * `Auto` (hosted models: GPT-4o and the like): the model decides on every call.
/// * `RequiredFirst`: the first model call of a turn must call a tool; later calls decide freely, so the
///   model can answer. Without it, small models write the call as text or answer without running
///   anything. A turn that needs no tool (a greeting) then runs one anyway.
/// * `Guided` (small local models, 0.5B-3B): the first model call must call `run_python`; later calls are
///   sent without tool definitions, and a call the model writes as text is run as a call. Measured with
///   Qwen2.5-Coder (README, agent eval): with the tool definitions in every request, small models answer a
///   tool result by writing the same call again as text; without them, they answer.
/// * `None`: no tool calls at all (a model that cannot call tools).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ToolChoicePolicy {
    /// The model decides.
    Auto,
    /// A tool call on the first model call of each turn.
    RequiredFirst,
    /// `run_python` on the first model call, no tool definitions after it, calls written as text run.
    Guided,
    /// No tools.
    None,
}

impl fmt::Display for ToolChoicePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ToolChoicePolicy::Auto => "auto",
            ToolChoicePolicy::RequiredFirst => "required-first",
            ToolChoicePolicy::Guided => "guided",
            ToolChoicePolicy::None => "none",
        })
    }
}

/// A tool-choice policy that is not one of `auto`, `required-first`, `none`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown tool-choice policy {0:?}: use auto, required-first, guided or none")]
pub struct UnknownPolicy(pub String);

impl FromStr for ToolChoicePolicy {
    type Err = UnknownPolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "auto" => Ok(ToolChoicePolicy::Auto),
            "required-first" | "required" => Ok(ToolChoicePolicy::RequiredFirst),
            "guided" => Ok(ToolChoicePolicy::Guided),
            "none" => Ok(ToolChoicePolicy::None),
            _ => Err(UnknownPolicy(s.to_owned())),
        }
    }
}

/// Environment variables read by [`TurnOptions::from_lookup`].
pub mod env {
    /// `auto`, `required-first`, `guided` or `none` (default: `guided` for an OpenAI-compatible server set
    /// by `OPENAI_BASE_URL`, `auto` otherwise).
    pub const TOOL_CHOICE: &str = "MODEL_TOOL_CHOICE";
    /// `true` or `false`: whether the model reads images (charts are sent to it as images). Default: true
    /// for OpenAI and Azure OpenAI, false for a server of your own (llama.cpp refuses images without a
    /// vision projector).
    pub const IMAGE_INPUT: &str = "MODEL_IMAGE_INPUT";
    /// The most tokens one model call may generate.
    pub const MAX_TOKENS: &str = "MODEL_MAX_TOKENS";
    /// The sampling temperature (unset: the server's default).
    pub const TEMPERATURE: &str = "MODEL_TEMPERATURE";
    /// The wall-clock budget of one turn, in seconds.
    pub const TURN_SECONDS: &str = "TURN_TIME_LIMIT_SECONDS";
    /// `true`/`false`: describe the session's files to the model with each message.
    pub const FILE_CONTEXT: &str = "MODEL_FILE_CONTEXT";
}

/// The bounds and policies of every turn.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnOptions {
    /// When the model must call a tool.
    pub tool_choice: ToolChoicePolicy,
    /// The most tokens one model call may generate (a model that loops stops here).
    pub max_tokens: u64,
    /// The sampling temperature; `None` leaves the server's default.
    pub temperature: Option<f64>,
    /// The wall-clock budget of a turn, model calls and tool runs together.
    pub time_limit: Duration,
    /// The most model calls in a turn.
    pub max_model_calls: usize,
    /// Tool-call arguments longer than this are shortened when they are sent back to the model in later
    /// requests (a runaway call must not fill the context of every request after it).
    pub max_echoed_argument_chars: usize,
    /// How often a turn in progress tells the session it is in use, so it does not expire while the model
    /// thinks.
    pub keep_alive_every: Duration,
    /// Send the images the code draws to the model (it must read images).
    pub images_to_model: bool,
    /// Tell the model, with each message of the user, which files `/mnt/data` holds and the first lines of
    /// small text files ([`crate::file_context`]): models then use the real column names and separators.
    pub describe_files: bool,
}

/// Default [`TurnOptions::max_tokens`].
pub const DEFAULT_MAX_TOKENS: u64 = 2048;
/// Default [`TurnOptions::time_limit`].
pub const DEFAULT_TURN_TIME_LIMIT: Duration = Duration::from_secs(300);
/// The longest turn the environment may ask for: a day.
const MAX_TURN_SECONDS: u64 = 86_400;
/// Default [`TurnOptions::max_model_calls`].
pub const DEFAULT_MAX_MODEL_CALLS: usize = 12;
/// Default [`TurnOptions::max_echoed_argument_chars`].
pub const DEFAULT_MAX_ECHOED_ARGUMENT_CHARS: usize = 4000;

impl Default for TurnOptions {
    fn default() -> Self {
        TurnOptions {
            tool_choice: ToolChoicePolicy::Auto,
            max_tokens: DEFAULT_MAX_TOKENS,
            temperature: None,
            time_limit: DEFAULT_TURN_TIME_LIMIT,
            max_model_calls: DEFAULT_MAX_MODEL_CALLS,
            max_echoed_argument_chars: DEFAULT_MAX_ECHOED_ARGUMENT_CHARS,
            keep_alive_every: Duration::from_secs(60),
            images_to_model: true,
            describe_files: true,
        }
    }
}

/// A setting in the environment that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}={value:?} is not valid: {expected}")]
pub struct InvalidSetting {
    /// The variable.
    pub name: &'static str,
    /// Its value.
    pub value: String,
    /// What it should be.
    pub expected: &'static str,
}

impl TurnOptions {
    /// The options from the environment ([`mod@env`]), starting from `defaults` (the model's).
    ///
    /// # Errors
    /// [`InvalidSetting`] for a value that does not parse.
    pub fn from_env(defaults: TurnOptions) -> Result<TurnOptions, InvalidSetting> {
        Self::from_lookup(defaults, &|name| {
            std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
        })
    }

    /// [`TurnOptions::from_env`] over any variable source.
    ///
    /// # Errors
    /// As [`TurnOptions::from_env`].
    pub fn from_lookup(
        defaults: TurnOptions,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<TurnOptions, InvalidSetting> {
        let invalid = |name, value: String, expected| InvalidSetting { name, value, expected };
        let mut options = defaults;
        if let Some(v) = lookup(env::TOOL_CHOICE) {
            options.tool_choice =
                v.parse().map_err(|_| invalid(env::TOOL_CHOICE, v, "auto, required-first, guided or none"))?;
        }
        let flag = |name: &'static str, v: String| match v.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err(invalid(name, v, "true or false")),
        };
        if let Some(v) = lookup(env::IMAGE_INPUT) {
            options.images_to_model = flag(env::IMAGE_INPUT, v)?;
        }
        if let Some(v) = lookup(env::FILE_CONTEXT) {
            options.describe_files = flag(env::FILE_CONTEXT, v)?;
        }
        if let Some(v) = lookup(env::MAX_TOKENS) {
            options.max_tokens = v
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| invalid(env::MAX_TOKENS, v, "a positive number of tokens"))?;
        }
        if let Some(v) = lookup(env::TEMPERATURE) {
            options.temperature = Some(
                v.parse()
                    .ok()
                    .filter(|t: &f64| (0.0..=2.0).contains(t))
                    .ok_or_else(|| invalid(env::TEMPERATURE, v, "a number from 0 to 2"))?,
            );
        }
        if let Some(v) = lookup(env::TURN_SECONDS) {
            options.time_limit = Duration::from_secs(
                v.parse()
                    .ok()
                    .filter(|n| (1..=MAX_TURN_SECONDS).contains(n))
                    .ok_or_else(|| invalid(env::TURN_SECONDS, v, "a number of seconds from 1 to 86400"))?,
            );
        }
        Ok(options)
    }
}

/// What happened to one tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    /// The tool ran and succeeded.
    Ran,
    /// The tool ran and failed (an exception, a non-zero exit, a missing file, a service error).
    Failed,
    /// Nothing ran: the arguments were unusable (not JSON, a missing field), and the model was told.
    Rejected,
    /// Nothing ran: it was exactly the code of the step that just failed, which would fail the same way, and
    /// the model was told.
    Repeated,
}

/// A tool call, as the model made it (or wrote it as text).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolCallStep {
    /// Identifies the call within the turn; its result carries the same id.
    pub id: String,
    /// The tool.
    pub name: String,
    /// Its arguments.
    pub arguments: Map<String, Value>,
    /// The model wrote the call as text instead of calling the tool; it was run as a call.
    pub written_as_text: bool,
}

impl ToolCallStep {
    /// The code of a `run_python` call (or the command of `run_shell`), for display.
    pub fn code(&self) -> Option<&str> {
        self.arguments.get("code").or_else(|| self.arguments.get("command")).and_then(Value::as_str)
    }
}

/// The result of a tool call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolResultStep {
    /// The call's id.
    pub id: String,
    /// The tool.
    pub name: String,
    /// What happened.
    pub outcome: StepOutcome,
    /// The execution report (`run_python`, `run_shell`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<RunReport>,
    /// What the model was told, for tools without a report (and for rejected calls).
    pub text: String,
    /// Images the code drew and files handed to the user.
    #[serde(skip)]
    pub artifacts: Vec<Artifact>,
}

/// Why a turn ended without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TurnFailureKind {
    /// The conversation no longer fits the model's context window.
    ContextOverflow,
    /// The turn ran past its time limit.
    TimedOut,
    /// The turn used all its model calls.
    TooManySteps,
    /// The model wrote a tool call as text, twice, and it named no tool of ours.
    NoToolCall,
    /// The model repeated a call it had already made instead of answering.
    Repeated,
    /// The model wrote the same stretch of text again and again ([`looping::LoopWatch`]).
    Looping,
    /// The model or its server failed.
    Model,
}

/// A turn that ended without an answer, in words a person understands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TurnFailure {
    /// What kind of failure.
    pub kind: TurnFailureKind,
    /// What happened and what to do.
    pub message: String,
}

/// One event of a turn, in order.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TurnEvent {
    /// A piece of the answer's text (Markdown), as the model writes it.
    Text(String),
    /// The text streamed since the last step was not an answer but a tool call written as text: it is shown
    /// as a step instead.
    TextWithdrawn,
    /// The model started writing a tool call (its arguments are still streaming): "writing code…".
    ToolCallStarted {
        /// The tool.
        name: String,
    },
    /// A tool call.
    ToolCall(ToolCallStep),
    /// Its result.
    ToolResult(ToolResultStep),
    /// Something the user should know: the session expired and its files are gone, a text call was run,
    /// a correction was sent.
    Notice(String),
    /// The turn ended with this answer (Markdown).
    Done {
        /// The answer.
        answer: String,
    },
    /// The turn ended without an answer.
    Failed(TurnFailure),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn options(vars: &[(&str, &str)]) -> Result<TurnOptions, InvalidSetting> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        TurnOptions::from_lookup(TurnOptions::default(), &move |n| map.get(n).cloned())
    }

    #[test]
    fn the_environment_overrides_the_defaults_and_bad_values_say_what_to_write() -> Result<(), InvalidSetting> {
        assert_eq!(options(&[])?, TurnOptions::default());
        let set = options(&[
            ("MODEL_TOOL_CHOICE", "Required_First"),
            ("MODEL_MAX_TOKENS", "512"),
            ("MODEL_TEMPERATURE", "0"),
            ("TURN_TIME_LIMIT_SECONDS", "90"),
            ("MODEL_IMAGE_INPUT", "false"),
            ("MODEL_FILE_CONTEXT", "no"),
        ])?;
        assert_eq!(set.tool_choice, ToolChoicePolicy::RequiredFirst);
        assert_eq!((set.max_tokens, set.temperature, set.time_limit), (512, Some(0.0), Duration::from_secs(90)));
        assert!(!set.images_to_model && !set.describe_files);
        assert_eq!(options(&[("MODEL_TOOL_CHOICE", "guided")])?.tool_choice, ToolChoicePolicy::Guided);
        for (name, value) in [
            ("MODEL_TOOL_CHOICE", "sometimes"),
            ("MODEL_MAX_TOKENS", "0"),
            ("MODEL_TEMPERATURE", "hot"),
            ("TURN_TIME_LIMIT_SECONDS", "-1"),
            ("MODEL_IMAGE_INPUT", "maybe"),
            ("MODEL_FILE_CONTEXT", "sometimes"),
        ] {
            let error = options(&[(name, value)]).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(error.starts_with(&format!("{name}=")), "{error}");
        }
        for policy in ["auto", "required-first", "guided", "none"] {
            assert_eq!(policy.parse::<ToolChoicePolicy>().map(|p| p.to_string()).ok(), Some(policy.to_owned()));
        }
        Ok(())
    }
}
