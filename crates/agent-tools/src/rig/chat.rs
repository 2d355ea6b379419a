//! A conversation with the agent, turn by turn, as a stream of [`TurnEvent`]s.
//!
//! Every turn runs within [`TurnOptions`]: the tool-choice policy, `max_tokens` per model call, a wall-clock
//! budget, a bound on model calls, and tool-call arguments shortened where they are sent back. What the turn
//! does between and within model calls is decided by the turn's policy ([`crate::turn::policy`]); this
//! module only drives rig and carries events: it runs each prompt, reports what the model and the tools did,
//! and does what the policy says next. The session is kept alive while a turn runs, and a session that
//! expired between turns is reported instead of silently replaced.
//!
//! Dropping a turn's stream stops it: the model request in flight is cancelled (and, on the emulator, the
//! execution in flight is interrupted, keeping the session's state).

mod run;
mod stream;

use std::time::Duration;

use futures_util::Stream;
use rig_agent::completion::PromptError;
use rig_core::DynModel;
use rig_core::message::{
    AssistantContent, AssistantMessage, CallId, Message, ToolCall, ToolFunction, ToolName, UserContent,
};
use rig_core::operation::Completion;
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::hooks::shortened;
use super::steps::StepSink;
use super::tools::image_content;
use super::{ModelConfig, ModelError, preamble_for};
use crate::interpreter::{CodeInterpreter, SessionCheck};
use crate::text_calls::TextToolCall;
use crate::turn::policy::{Next, TurnPolicy};
use crate::turn::{
    StepOutcome, ToolCallStep, ToolChoicePolicy, ToolResultStep, TurnEvent, TurnFailure, TurnFailureKind, TurnOptions,
};
use run::RunEnd;
use stream::Events;

/// What the history says about a turn that did not finish (stopped, timed out, failed); replaced by the
/// turn's messages when it does.
const UNFINISHED: &str = "(This answer did not finish: it was stopped or failed before the end.)";

/// A conversation's messages as the model sees them. Opaque: it holds rig types. It serializes (as rig's
/// messages) so an application can keep it between turns and across restarts.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct History(Vec<Message>);

impl History {
    /// An empty conversation.
    pub fn new() -> Self {
        History(Vec::new())
    }

    /// How many messages it holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

/// Runs turns of one conversation: a model, the session's interpreter, the options.
#[derive(Debug, Clone)]
pub struct ChatAgent {
    model: DynModel<Completion>,
    interpreter: CodeInterpreter,
    options: TurnOptions,
    preamble: String,
}

/// One turn's state as the driver carries it: the messages so far, and where the turn's own begin.
struct Turn {
    policy: TurnPolicy,
    sink: StepSink,
    deadline: Instant,
    /// The conversation before the turn, then the turn's messages as they come.
    transcript: Vec<Message>,
    /// The user's message as the model first read it (with the session's files described).
    first_prompt: Message,
    /// Whether the next run's model calls are sampled ([`crate::turn::policy::RESAMPLE_TEMPERATURE`]): once a
    /// turn, to start again a run stopped in a loop.
    sample_next_run: bool,
    /// Whether a run stopped in a loop was started again (once a turn).
    restarted_loop: bool,
}

impl ChatAgent {
    /// An agent on `config`'s model with the tools on `interpreter`.
    ///
    /// # Errors
    /// [`ModelError`] when the model client cannot be built.
    pub fn new(config: &ModelConfig, interpreter: CodeInterpreter, options: TurnOptions) -> Result<Self, ModelError> {
        Ok(Self::with_model(config.completion_model()?, interpreter, options))
    }

    /// An agent on an already built model.
    pub fn with_model(model: DynModel<Completion>, interpreter: CodeInterpreter, options: TurnOptions) -> Self {
        let preamble = preamble_for(interpreter.options().pool).to_owned();
        ChatAgent { model, interpreter, options, preamble }
    }

    /// Replaces the system preamble.
    pub fn with_preamble(mut self, preamble: impl Into<String>) -> Self {
        self.preamble = preamble.into();
        self
    }

    /// The options.
    pub fn options(&self) -> &TurnOptions {
        &self.options
    }

    /// One turn: `message` from the user, then the model's steps and answer, as events. `history` is
    /// updated as the turn goes (an unfinished turn leaves a note saying so). Drop the stream to stop.
    pub fn turn<'a>(&'a self, history: &'a mut History, message: String) -> impl Stream<Item = TurnEvent> + Send + 'a {
        Events::drive(move |events| self.drive(history, message, events))
    }

    async fn drive(&self, history: &mut History, message: String, events: Events) {
        if let Ok(SessionCheck::Expired) = self.interpreter.check_session().await {
            events.send(TurnEvent::Notice(
                "Your session expired after a while without use: its variables and files (your uploads included) \
                 are gone. Upload the files again if the question needs them."
                    .to_owned(),
            ));
        }
        let started_with = history.0.len();
        history.0.push(Message::user(message.clone()));
        history.0.push(Message::assistant(UNFINISHED));
        let _keep_alive = KeepAlive::start(&self.interpreter, self.options.keep_alive_every);
        let deadline = Instant::now().checked_add(self.options.time_limit).unwrap_or_else(far_future);
        let first_prompt = Message::user(self.with_file_context(&message, deadline).await);
        let mut turn = Turn {
            policy: TurnPolicy::new(self.options.tool_choice, self.options.max_model_calls, &self.interpreter.tools()),
            sink: StepSink::default(),
            deadline,
            transcript: history.0[..started_with].to_vec(),
            first_prompt: first_prompt.clone(),
            sample_next_run: false,
            restarted_loop: false,
        };
        // What an answer may quote: the conversation so far, and the message as the model read it.
        for earlier in history.0[..started_with].iter().chain([&first_prompt]) {
            for text in message_texts(earlier) {
                turn.policy.saw(&text);
            }
        }
        if let Some(answer) = self.runs(&mut turn, first_prompt, &events).await {
            commit(history, started_with, &turn, &message, self.options.max_echoed_argument_chars);
            events.send(TurnEvent::Done { answer });
        }
        // Images and files reached the events with their steps; nothing waits in the interpreter.
        let _ = self.interpreter.take_artifacts();
        // Remember the session the turn used, so the next turn knows if it expired meanwhile.
        if let Err(e) = self.interpreter.check_session().await {
            tracing::debug!(error = %e, "could not check the session");
        }
    }

    /// Runs prompts until the policy has an answer (returned) or the turn fails (said as an event).
    async fn runs(&self, turn: &mut Turn, mut prompt: Message, events: &Events) -> Option<String> {
        loop {
            let calls_left = match turn.policy.calls_left() {
                Ok(left) => left,
                Err(failure) => return events.fail(failure),
            };
            let response = match self.run(turn, prompt.clone(), calls_left, events).await {
                RunEnd::Final(response) => response,
                RunEnd::TimedOut => return events.fail(timed_out(self.options.time_limit)),
                RunEnd::Looping { clean } => {
                    // The repeated text streamed so far is not an answer.
                    events.send(TurnEvent::TextWithdrawn);
                    // Greedy decoding that fell into a loop falls into it again: a run in which nothing ran yet
                    // is started again once, sampled.
                    // Only for a model of one's own: hosted reasoning models refuse any temperature but 1.
                    if clean && !turn.restarted_loop && self.options.tool_choice == ToolChoicePolicy::Guided {
                        turn.restarted_loop = true;
                        turn.sample_next_run = true;
                        events.send(TurnEvent::Notice(crate::turn::looping::RESTARTED.to_owned()));
                        continue;
                    }
                    return events.fail(crate::turn::looping::failure());
                }
                RunEnd::Error(e) => return events.fail(failure(&e, self.options.max_model_calls)),
                RunEnd::Ended => {
                    return events.fail(TurnFailure {
                        kind: TurnFailureKind::Model,
                        message: "The model's answer ended without a final message.".to_owned(),
                    });
                }
            };
            turn.transcript.extend(response.messages.iter().cloned());
            let output = response.output();
            let next = turn.policy.next(&output, response.completion_calls.len());
            // An answer other than the text streamed (tool syntax taken out of it) replaces that text.
            if next.withdraws_text() || matches!(&next, Next::Answer(answer) if *answer != output) {
                events.send(TurnEvent::TextWithdrawn);
            }
            prompt = match next {
                Next::Answer(answer) => return Some(answer),
                Next::Fail(failure) => return events.fail(failure),
                Next::Ask { prompt, notice } => {
                    if let Some(notice) = notice {
                        events.send(TurnEvent::Notice(notice));
                    }
                    Message::user(prompt)
                }
                Next::RunTextCall { id, call } => self.run_text_call(turn, id, call, events).await?,
            };
        }
    }

    /// Runs a call the model wrote as text, as if it had made it: the transcript shows the call, and the
    /// returned prompt is its result, from which the model continues.
    async fn run_text_call(&self, turn: &mut Turn, id: String, call: TextToolCall, events: &Events) -> Option<Message> {
        let Some(synthesized) = replace_answer_with_call(&mut turn.transcript, &id, &call.name, &call.arguments) else {
            return events.fail(TurnFailure {
                kind: TurnFailureKind::Model,
                message: format!("The model named the tool {:?}, which cannot be called.", call.name),
            });
        };
        events.send(TurnEvent::ToolCall(ToolCallStep {
            id: id.clone(),
            name: call.name.clone(),
            arguments: call.arguments.clone(),
            written_as_text: true,
        }));
        let invoked = tokio::time::timeout_at(turn.deadline, self.interpreter.invoke(&call.name, &call.arguments));
        let Ok(done) = invoked.await else {
            return events.fail(timed_out(self.options.time_limit));
        };
        turn.policy.text_call_ran(done.outcome);
        turn.policy.saw_output(&done.model_text, done.outcome == StepOutcome::Ran);
        turn.sink.note_outcome(done.outcome != StepOutcome::Ran);
        let mut content = vec![rig_core::message::ToolResultContent::text(done.model_text.clone())];
        if self.options.images_to_model {
            content.extend(done.images.iter().map(image_content));
        }
        let prompt = if done.outcome == StepOutcome::Ran {
            synthesized.result(content).into()
        } else {
            synthesized.error_result(content).into()
        };
        events.send(TurnEvent::ToolResult(ToolResultStep {
            id,
            name: call.name,
            outcome: done.outcome,
            report: done.report,
            text: done.model_text,
            artifacts: done.artifacts,
        }));
        Some(prompt)
    }

    /// `message` with the session's files described (when the options ask for it), within a few seconds.
    async fn with_file_context(&self, message: &str, deadline: Instant) -> String {
        if !self.options.describe_files {
            return message.to_owned();
        }
        let limit = deadline.min(Instant::now() + crate::file_context::DESCRIBE_WITHIN);
        let described =
            match tokio::time::timeout_at(limit, crate::file_context::describe_files(&self.interpreter)).await {
                Ok(Ok(description)) => description,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "could not describe the session's files");
                    None
                }
                Err(_) => None,
            };
        crate::file_context::with_file_context(described.as_deref(), message)
    }
}

/// The text of a message: the user's words, the model's words and the code of its calls, tool results.
fn message_texts(message: &Message) -> Vec<String> {
    match message {
        Message::User { content } => content
            .iter()
            .filter_map(|part| match part {
                UserContent::Text(text) => Some(text.text().to_owned()),
                UserContent::ToolResult(result) => Some(super::prose::result_text(&result.content)),
                _ => None,
            })
            .collect(),
        Message::Assistant(turn) => turn
            .content
            .iter()
            .flat_map(|block| match block {
                AssistantContent::Text(text) => vec![text.text().to_owned()],
                AssistantContent::ToolCall(call) => {
                    call.function.arguments.values().filter_map(Value::as_str).map(str::to_owned).collect()
                }
                _ => Vec::new(),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Keeps a finished turn in `history`: its messages (long tool arguments shortened), with the user's own words
/// in place of the prompt that described the files (the next turn describes them afresh).
fn commit(history: &mut History, started_with: usize, turn: &Turn, message: &str, max_argument_chars: usize) {
    let mut committed = turn.transcript[started_with.min(turn.transcript.len())..].to_vec();
    if let Some(cut) = shortened(&committed, max_argument_chars) {
        committed = cut;
    }
    if let Some(first) = committed.first_mut()
        && *first == turn.first_prompt
    {
        *first = Message::user(message.to_owned());
    }
    history.0.truncate(started_with);
    history.0.extend(committed);
}

/// A deadline that never comes (a time limit too large to add to now).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

/// Replaces the last assistant message of `transcript` (the answer that was a call written as text) by a
/// call of `name` with `arguments`; returns the call.
fn replace_answer_with_call(
    transcript: &mut Vec<Message>,
    id: &str,
    name: &str,
    arguments: &Map<String, Value>,
) -> Option<ToolCall> {
    let name = ToolName::new(name).ok()?;
    let call = ToolCall::new(CallId::from_wire(id), ToolFunction::new(name, Value::Object(arguments.clone())));
    if matches!(transcript.last(), Some(Message::Assistant(_))) {
        transcript.pop();
    }
    transcript.push(Message::Assistant(AssistantMessage::new(vec![AssistantContent::ToolCall(call.clone())])));
    Some(call)
}

fn timed_out(limit: Duration) -> TurnFailure {
    TurnFailure {
        kind: TurnFailureKind::TimedOut,
        message: format!(
            "The answer took longer than {} seconds, so it was stopped. The session keeps its variables and files; \
             ask again, perhaps for a smaller step.",
            limit.as_secs()
        ),
    }
}

/// Whether a model error says the request did not fit the context window (OpenAI, Azure, llama.cpp).
pub(crate) fn is_context_overflow(error: &PromptError) -> bool {
    let code = match error {
        PromptError::Report(report) => report.code.as_deref(),
        _ => None,
    };
    let body = error.provider_response_body().unwrap_or_default();
    let text = error.to_string();
    matches!(code, Some("context_length_exceeded" | "exceed_context_size_error"))
        || ["exceeds the available context size", "context_length_exceeded", "maximum context length"]
            .iter()
            .any(|needle| body.contains(needle) || text.contains(needle))
}

fn failure(error: &PromptError, max_calls: usize) -> TurnFailure {
    if matches!(error, PromptError::MaxTurns { .. }) {
        return crate::turn::policy::too_many_steps(max_calls);
    }
    if is_context_overflow(error) {
        return TurnFailure {
            kind: TurnFailureKind::ContextOverflow,
            message: "This conversation has grown longer than the model can read at once, so it could not answer. \
                      Start a new session to continue (your files are not kept), or use a model with a larger \
                      context window."
                .to_owned(),
        };
    }
    tracing::warn!(error = %error, "the model call failed");
    let status = error.provider_response_status().map(|s| format!(" (HTTP {})", s.as_u16())).unwrap_or_default();
    TurnFailure { kind: TurnFailureKind::Model, message: format!("The model could not answer{status}: {error}") }
}

/// Tells the session it is in use while a turn runs (the model may think for minutes); stops when dropped.
struct KeepAlive(tokio::task::JoinHandle<()>);

impl KeepAlive {
    fn start(interpreter: &CodeInterpreter, every: Duration) -> KeepAlive {
        let interpreter = interpreter.clone();
        KeepAlive(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every.max(Duration::from_secs(1)));
            ticks.tick().await;
            loop {
                ticks.tick().await;
                if let Err(e) = interpreter.check_session().await {
                    tracing::debug!(error = %e, "keep-alive failed");
                }
            }
        }))
    }
}

impl Drop for KeepAlive {
    fn drop(&mut self) {
        self.0.abort();
    }
}
