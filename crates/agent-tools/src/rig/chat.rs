//! A conversation with the agent, turn by turn, as a stream of [`TurnEvent`]s.
//!
//! Every turn runs within [`TurnOptions`]: the tool-choice policy, `max_tokens` per model call, a wall-clock
//! budget, a bound on model calls, and tool-call arguments shortened where they are sent back. A tool call
//! the model writes as text is run as a call when it names one of the tools (and the model then continues
//! from its result); a text call to an unknown tool gets one correction. The session is kept alive while a
//! turn runs, and a session that expired between turns is reported instead of silently replaced.
//!
//! Dropping a turn's stream stops it: the model request in flight is cancelled (and, on the emulator, the
//! execution in flight is interrupted, keeping the session's state).

use std::collections::HashMap;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use rig_agent::agent::{Agent, AgentBuilder, MultiTurnStreamItem, PromptResponse};
use rig_agent::completion::PromptError;
use rig_core::DynModel;
use rig_core::message::{
    AssistantContent, AssistantMessage, CallId, Message, ToolCall, ToolFunction, ToolName, ToolResultContent,
};
use rig_core::operation::Completion;
use rig_core::streaming::{Item, PartKind, StreamEvent};
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::hooks::{FirstCall, ToolsShown, TurnHook, shortened};
use super::steps::StepSink;
use super::tools::{ListFiles, ReadFile, ResetSession, RunPython, RunShell, SendFileToUser, image_content};
use super::{DEFAULT_PREAMBLE, ModelConfig, ModelError};
use crate::interpreter::{CodeInterpreter, SessionCheck};
use crate::invoke::{canonical_arguments, tool_names};
use crate::text_calls::find_tool_call;
use crate::tools::names;
use crate::turn::{
    StepOutcome, ToolCallStep, ToolChoicePolicy, ToolResultStep, TurnEvent, TurnFailure, TurnFailureKind, TurnOptions,
};

/// What the history says about a turn that did not finish (stopped, timed out, failed); replaced by the
/// turn's messages when it does.
const UNFINISHED: &str = "(This answer did not finish: it was stopped or failed before the end.)";

/// A conversation's messages as the model sees them. Opaque: it holds rig types.
#[derive(Debug, Clone, Default)]
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

/// Why a run (one prompt to the agent) of a turn was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunKind {
    /// The user's message.
    First,
    /// The result of a call the model wrote as text.
    AfterTextCall,
    /// A correction: the model wrote a call to a tool that does not exist.
    Correction,
    /// A reminder: the model repeated a call it had made.
    Reminder,
}

enum RunEnd {
    Final(Box<PromptResponse>),
    TimedOut,
    Error(Box<PromptError>),
    Ended,
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
        ChatAgent { model, interpreter, options, preamble: DEFAULT_PREAMBLE.to_owned() }
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

    fn agent(&self, sink: &StepSink, calls_left: usize) -> Agent {
        let interpreter = &self.interpreter;
        let mut builder = AgentBuilder::new(self.model.clone())
            .preamble(&self.preamble)
            .default_max_turns(calls_left.max(1))
            .max_tokens(self.options.max_tokens);
        if let Some(t) = self.options.temperature {
            builder = builder.temperature(t);
        }
        if self.options.tool_choice == ToolChoicePolicy::None {
            return builder.build();
        }
        let images = self.options.images_to_model;
        let builder = builder
            .tool(RunPython::recording(interpreter.clone(), sink.clone(), images))
            .tool(ListFiles::recording(interpreter.clone(), sink.clone(), images))
            .tool(ReadFile::recording(interpreter.clone(), sink.clone(), images))
            .tool(SendFileToUser::recording(interpreter.clone(), sink.clone(), images))
            .tool(ResetSession::recording(interpreter.clone(), sink.clone(), images));
        if interpreter.options().shell {
            builder.tool(RunShell::recording(interpreter.clone(), sink.clone(), images)).build()
        } else {
            builder.build()
        }
    }

    /// How a run's model calls are steered, by policy and by why the run was started.
    fn hook(&self, kind: RunKind, steps: &StepSink) -> TurnHook {
        use FirstCall::{AnyTool, Free, Tool};
        use ToolsShown::{Always, WhileFailing};
        let (first, tools) = match (self.options.tool_choice, kind) {
            (ToolChoicePolicy::Auto | ToolChoicePolicy::None, RunKind::Correction) => (AnyTool, Always),
            (ToolChoicePolicy::Auto | ToolChoicePolicy::None, _) => (Free, Always),
            (ToolChoicePolicy::RequiredFirst, RunKind::First | RunKind::Correction) => (AnyTool, Always),
            (ToolChoicePolicy::RequiredFirst, _) => (Free, Always),
            (ToolChoicePolicy::Guided, RunKind::First | RunKind::Correction) => (Tool(names::RUN_PYTHON), WhileFailing),
            (ToolChoicePolicy::Guided, _) => (Free, WhileFailing),
        };
        TurnHook { first, tools, max_argument_chars: self.options.max_echoed_argument_chars, steps: steps.clone() }
    }

    /// One turn: `message` from the user, then the model's steps and answer, as events. `history` is
    /// updated as the turn goes (an unfinished turn leaves a note saying so). Drop the stream to stop.
    pub fn turn<'a>(&'a self, history: &'a mut History, message: String) -> impl Stream<Item = TurnEvent> + Send + 'a {
        async_stream::stream! {
            let started_with = history.0.len();
            match self.interpreter.check_session().await {
                Ok(SessionCheck::Expired) => yield TurnEvent::Notice(
                    "Your session expired after a while without use: its variables and files (your uploads \
                     included) are gone. Upload the files again if the question needs them."
                        .to_owned(),
                ),
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "could not check the session"),
            }
            history.0.push(Message::user(message.clone()));
            history.0.push(Message::assistant(UNFINISHED));
            let _keep_alive = KeepAlive::start(&self.interpreter, self.options.keep_alive_every);
            let deadline = Instant::now().checked_add(self.options.time_limit).unwrap_or_else(far_future);
            let sink = StepSink::default();
            let mut transcript: Vec<Message> = history.0[..started_with].to_vec();
            let described = if self.options.describe_files {
                let limit = deadline.min(Instant::now() + crate::file_context::DESCRIBE_WITHIN);
                match tokio::time::timeout_at(limit, crate::file_context::describe_files(&self.interpreter)).await {
                    Ok(Ok(description)) => description,
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "could not describe the session's files");
                        None
                    }
                    Err(_) => None,
                }
            } else {
                None
            };
            let first_prompt = Message::user(crate::file_context::with_file_context(described.as_deref(), &message));
            let mut prompt = first_prompt.clone();
            let mut kind = RunKind::First;
            let mut calls_used = 0usize;
            let mut corrected = false;
            let mut reminded = false;
            let mut text_calls = 0usize;
            // The last call made (name, canonical arguments) and whether it ran well.
            let mut last_call: Option<(String, Option<Value>)> = None;
            let mut last_ok = true;
            loop {
                let calls_left = self.options.max_model_calls.saturating_sub(calls_used);
                if calls_left == 0 {
                    yield TurnEvent::Failed(too_many_steps(self.options.max_model_calls));
                    break;
                }
                let hook = self.hook(kind, &sink);
                let mut stream = self
                    .agent(&sink, calls_left)
                    .prompt(prompt.clone())
                    .history(transcript.clone())
                    .add_hook(hook)
                    .stream();
                let mut calls: HashMap<String, (String, Map<String, Value>)> = HashMap::new();
                let end = loop {
                    let item = match tokio::time::timeout_at(deadline, stream.next()).await {
                        Err(_) => break RunEnd::TimedOut,
                        Ok(None) => break RunEnd::Ended,
                        Ok(Some(Err(e))) => break RunEnd::Error(Box::new(e)),
                        Ok(Some(Ok(item))) => item,
                    };
                    match item {
                        MultiTurnStreamItem::StreamAssistantItem(Item::Event(StreamEvent::Text { text, .. })) => {
                            yield TurnEvent::Text(text);
                        }
                        MultiTurnStreamItem::StreamAssistantItem(Item::Event(StreamEvent::Start {
                            kind: PartKind::ToolCall,
                            name,
                            ..
                        })) => {
                            yield TurnEvent::ToolCallStarted { name: name.map(|n| n.to_string()).unwrap_or_default() };
                        }
                        MultiTurnStreamItem::ModelTurnRetried { .. } => yield TurnEvent::TextWithdrawn,
                        MultiTurnStreamItem::ToolCall { tool_call } => {
                            let id = tool_call.id.to_string();
                            let name = tool_call.function.name.to_string();
                            let arguments = tool_call.function.arguments.clone();
                            calls.insert(id.clone(), (name.clone(), arguments.clone()));
                            last_call = Some((name.clone(), canonical_arguments(&name, &arguments)));
                            yield TurnEvent::ToolCall(ToolCallStep { id, name, arguments, written_as_text: false });
                        }
                        MultiTurnStreamItem::ToolResult { tool_result } => {
                            let id = tool_result.call.to_string();
                            let (name, arguments) = calls.remove(&id).unwrap_or_else(|| (tool_result.name.to_string(), Map::new()));
                            let text: Vec<&str> = tool_result.content.iter().filter_map(|c| c.as_text()).collect();
                            let step = match sink.take(&name, &arguments) {
                                Some(done) => ToolResultStep {
                                    id,
                                    name,
                                    outcome: done.outcome,
                                    report: done.report,
                                    text: done.model_text,
                                    artifacts: done.artifacts,
                                },
                                // The tool never ran: rig refused the arguments and told the model why.
                                None => {
                                    sink.note_outcome(true);
                                    ToolResultStep {
                                    id,
                                    name,
                                    outcome: StepOutcome::Rejected,
                                    report: None,
                                    text: text.join("\n"),
                                    artifacts: Vec::new(),
                                    }
                                }
                            };
                            last_ok = step.outcome == StepOutcome::Ran;
                            yield TurnEvent::ToolResult(step);
                        }
                        MultiTurnStreamItem::FinalResponse(response) => break RunEnd::Final(Box::new(response)),
                        _ => {}
                    }
                };
                drop(stream);
                let response = match end {
                    RunEnd::Final(response) => response,
                    RunEnd::TimedOut => {
                        yield TurnEvent::Failed(timed_out(self.options.time_limit));
                        break;
                    }
                    RunEnd::Error(e) => {
                        yield TurnEvent::Failed(failure(&e, self.options.max_model_calls));
                        break;
                    }
                    RunEnd::Ended => {
                        yield TurnEvent::Failed(TurnFailure {
                            kind: TurnFailureKind::Model,
                            message: "The model's answer ended without a final message.".to_owned(),
                        });
                        break;
                    }
                };
                calls_used += response.completion_calls.len().max(1);
                transcript.extend(response.messages.iter().cloned());
                let answer = response.output();
                let known = tool_names(&self.interpreter);
                let text_call = match self.options.tool_choice {
                    // No tools: nothing runs, whatever the text says.
                    ToolChoicePolicy::None => None,
                    // A hosted model may quote a call in an explanation: only an answer that is the call counts.
                    ToolChoicePolicy::Auto if !starts_like_a_call(&answer) => None,
                    _ => find_tool_call(&answer),
                };
                let repeated = text_call.as_ref().is_some_and(|call| {
                    last_call.as_ref().is_some_and(|(name, args)| {
                        *name == call.name && args.is_some() && *args == canonical_arguments(&call.name, &call.arguments)
                    })
                });
                match text_call {
                    Some(_) if repeated && !reminded => {
                        // The same call again, written as text: the model did not take in the result. Remind
                        // it once, without running anything.
                        reminded = true;
                        yield TurnEvent::TextWithdrawn;
                        prompt = Message::user(if last_ok {
                            "You already made that call and its result is above. Now answer my question in plain words, \
                             without calling a tool again."
                        } else {
                            "You already made that call and it failed; the error is above. Write different code that \
                             fixes the error, or tell me in plain words what went wrong."
                        });
                        kind = RunKind::Reminder;
                    }
                    Some(_) if repeated => {
                        yield TurnEvent::TextWithdrawn;
                        yield TurnEvent::Failed(TurnFailure {
                            kind: TurnFailureKind::Repeated,
                            message: "The model kept repeating the same step instead of answering. The steps above show \
                                      what ran; try again, or rephrase the request."
                                .to_owned(),
                        });
                        break;
                    }
                    Some(call) if known.contains(&call.name.as_str()) && text_calls < self.options.max_model_calls => {
                        // The model wrote the call instead of making it: run it as a call, and let the model
                        // continue from its result.
                        text_calls += 1;
                        yield TurnEvent::TextWithdrawn;
                        let id = format!("text_call_{text_calls}");
                        let Some(synthesized) = replace_answer_with_call(&mut transcript, &id, &call.name, &call.arguments) else {
                            yield TurnEvent::Failed(TurnFailure {
                                kind: TurnFailureKind::Model,
                                message: format!("The model named the tool {:?}, which cannot be called.", call.name),
                            });
                            break;
                        };
                        yield TurnEvent::ToolCall(ToolCallStep {
                            id: id.clone(),
                            name: call.name.clone(),
                            arguments: call.arguments.clone(),
                            written_as_text: true,
                        });
                        last_call = Some((call.name.clone(), canonical_arguments(&call.name, &call.arguments)));
                        let Ok(done) = tokio::time::timeout_at(deadline, self.interpreter.invoke(&call.name, &call.arguments)).await else {
                            yield TurnEvent::Failed(timed_out(self.options.time_limit));
                            break;
                        };
                        last_ok = done.outcome == StepOutcome::Ran;
                        sink.note_outcome(!last_ok);
                        let mut content = vec![ToolResultContent::text(done.model_text.clone())];
                        if self.options.images_to_model {
                            content.extend(done.images.iter().map(image_content));
                        }
                        prompt = if done.outcome == StepOutcome::Ran {
                            synthesized.result(content).into()
                        } else {
                            synthesized.error_result(content).into()
                        };
                        yield TurnEvent::ToolResult(ToolResultStep {
                            id,
                            name: call.name,
                            outcome: done.outcome,
                            report: done.report,
                            text: done.model_text,
                            artifacts: done.artifacts,
                        });
                        kind = RunKind::AfterTextCall;
                    }
                    Some(call) if !corrected => {
                        corrected = true;
                        yield TurnEvent::TextWithdrawn;
                        yield TurnEvent::Notice(format!(
                            "The model wrote a call to a tool named \"{}\", which does not exist, as text; it was asked to call one of its tools.",
                            call.name
                        ));
                        prompt = Message::user(format!(
                            "There is no tool named {}. Do not write tool calls as text: call one of these tools \
                             through tool calling: {}.",
                            call.name,
                            known.join(", ")
                        ));
                        kind = RunKind::Correction;
                    }
                    Some(_) => {
                        yield TurnEvent::TextWithdrawn;
                        yield TurnEvent::Failed(TurnFailure {
                            kind: TurnFailureKind::NoToolCall,
                            message: "The model did not call a tool: it wrote a tool call as text twice, so nothing \
                                      ran. Try again, or rephrase the request."
                                .to_owned(),
                        });
                        break;
                    }
                    None if answer.trim().is_empty() => {
                        yield TurnEvent::Failed(TurnFailure {
                            kind: TurnFailureKind::Model,
                            message: "The model ended without writing an answer. The steps above show what ran; try \
                                      again, or rephrase the request."
                                .to_owned(),
                        });
                        break;
                    }
                    None => {
                        let mut committed = transcript[started_with..].to_vec();
                        if let Some(cut) = shortened(&committed, self.options.max_echoed_argument_chars) {
                            committed = cut;
                        }
                        // The history keeps the user's own words; the next turn describes the files afresh.
                        if let Some(first) = committed.first_mut()
                            && *first == first_prompt
                        {
                            *first = Message::user(message.clone());
                        }
                        history.0.truncate(started_with);
                        history.0.extend(committed);
                        yield TurnEvent::Done { answer };
                        break;
                    }
                }
            }
            // Images and files reached the events with their steps; nothing waits in the interpreter.
            let _ = self.interpreter.take_artifacts();
            // Remember the session the turn used, so the next turn knows if it expired meanwhile.
            if let Err(e) = self.interpreter.check_session().await {
                tracing::debug!(error = %e, "could not check the session");
            }
        }
    }
}

/// Whether an answer begins as a tool call written as text does (JSON, a fence, a `<tool_call>` element).
fn starts_like_a_call(answer: &str) -> bool {
    let start = answer.trim_start();
    ["{", "```", "<tool_call>", "[called tool "].iter().any(|p| start.starts_with(p))
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

fn too_many_steps(max: usize) -> TurnFailure {
    TurnFailure {
        kind: TurnFailureKind::TooManySteps,
        message: format!(
            "The model used all {max} of its steps for this answer without finishing, so it was stopped. The session \
             keeps what it did; ask for a smaller step."
        ),
    }
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
        return too_many_steps(max_calls);
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
