//! The decisions of a turn, as plain state machines that tests drive without a model.
//!
//! A turn is a series of *runs*: each run is one prompt to the agent framework, which may make several model
//! calls (a tool call, its result, the next call, ...) and ends with the model's text. Two machines decide:
//!
//! * [`TurnPolicy`] decides between runs: given the text a run ended with, [`TurnPolicy::next`] says what the
//!   turn does next: answer, run a tool call the model wrote as text, ask the model again (a reminder, a
//!   correction), or fail in words a person understands. It also says how the next run's model calls are
//!   steered ([`TurnPolicy::run_settings`]) and bounds the turn's model calls.
//! * [`CallSteering`] decides within a run, before each model call: whether the call must call a tool (which
//!   one), or sees no tools at all, from how the turn's tool calls went ([`CallSteering::record`]).
//!
//! The driver (the rig runner in `rig::chat`) only carries events between the framework and these machines.

use serde_json::{Map, Value};

use super::echo;
use super::grounding::Evidence;
use super::quotes::Printed;
use super::{StepOutcome, ToolChoicePolicy, TurnFailure, TurnFailureKind};
use crate::invoke::ToolInvocation;
use crate::text_calls::{TextToolCall, find_fenced_code, find_tool_call};
use crate::tools::{Tool, canonical_arguments};

/// How many times a turn forces the code tool again after a failure ([`ToolsShown::WhileFailing`]).
pub const FORCED_RETRIES: usize = 2;

/// The temperature of a forced retry after the model wrote exactly the code that had just failed. At
/// temperature 0 a small model, asked again, writes the same code again (measured: three times in a row);
/// sampled, it writes something else. The seed keeps the retry reproducible.
pub const RESAMPLE_TEMPERATURE: f64 = 0.7;

/// The seed sent with a resampled retry ([`RESAMPLE_TEMPERATURE`]).
pub const RESAMPLE_SEED: u64 = 7;

/// How many calls with unusable arguments a turn accepts; after that the model is offered no tools and the
/// turn ends with a plain message.
pub const MAX_REJECTED_CALLS: usize = 2;

/// What the first model call of a run must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstCall {
    /// Whatever the model likes.
    Free,
    /// Call some tool.
    AnyTool,
    /// Call this tool.
    Tool(Tool),
}

/// Which model calls of a run see the tool definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolsShown {
    /// Every call.
    Always,
    /// The first call (with [`RunSettings::first`]), and later ones only to retry the code tool after a
    /// failure (a few times a turn), or to call `send_file_to_user` after a run that made files; otherwise
    /// the model answers in words, or writes a call as text.
    WhileFailing,
    /// No call: the model must answer in words.
    Never,
}

/// How one run's model calls are steered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSettings {
    /// What the run's first call must do.
    pub first: FirstCall,
    /// Which calls see the tools.
    pub tools: ToolsShown,
    /// The tool that runs code (the first one offered): the one retried after a failure.
    pub main: Tool,
}

/// What one model call may do, as the request says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Demand {
    /// As the request is (tools offered, the model chooses).
    Free,
    /// A tool call is required: of any tool, or of this one (the request then offers only it).
    Call(Option<Tool>),
    /// The request offers no tools: the model answers in words.
    NoTools,
}

/// Why a run was started.
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
    /// The model's answer showed tool syntax: it is asked for a plain answer, with no tools.
    PlainAnswer,
    /// The answer gave a number nothing showed: the model is made to compute it with code.
    Grounding,
    /// The answer miscopied a printed string: it is asked for again, with no tools.
    Requote,
}

/// What the turn does after a run.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// The turn is done: this is the answer.
    Answer(String),
    /// The model wrote a call to one of its tools as text: run it, as call `id`, and continue the model from
    /// its result (`TurnPolicy::text_call_ran` afterwards).
    RunTextCall {
        /// The call's id in the turn.
        id: String,
        /// The call.
        call: TextToolCall,
    },
    /// Ask the model again with this message; tell the user `notice`, if any.
    Ask {
        /// The message to the model.
        prompt: String,
        /// What the user should know.
        notice: Option<String>,
    },
    /// The turn ends without an answer.
    Fail(TurnFailure),
}

impl Next {
    /// Whether the text the run streamed was not an answer (a call written as text) and is taken back.
    pub fn withdraws_text(&self) -> bool {
        !matches!(self, Next::Answer(_) | Next::Fail(TurnFailure { kind: TurnFailureKind::Model, .. }))
    }
}

/// The between-runs decisions of one turn.
#[derive(Debug, Clone)]
pub struct TurnPolicy {
    tool_choice: ToolChoicePolicy,
    max_model_calls: usize,
    /// The tools the model may call (by name).
    tools: Vec<&'static str>,
    /// The tool that runs code: the first of `tools`.
    main: Tool,
    kind: RunKind,
    calls_used: usize,
    text_calls: usize,
    corrected: bool,
    reminded: bool,
    /// Whether the model was asked for a plain answer (once a turn).
    asked_plain: bool,
    /// Calls whose arguments were unusable.
    rejected: usize,
    /// The last call made (name, canonical arguments) and whether it ran well.
    last_call: Option<(String, Option<Value>)>,
    last_ok: bool,
    /// The numbers of the question, the code and what it printed.
    evidence: Evidence,
    /// Whether the model was asked to compute a number of its answer with code (once a turn).
    asked_grounding: bool,
    /// The lines the turn's code printed or returned.
    printed: Printed,
    /// Whether the model was asked to copy a printed string again (once a turn).
    asked_requote: bool,
}

impl TurnPolicy {
    /// A turn under `tool_choice`, with at most `max_model_calls`, offering `tools`, the one that runs code
    /// first (as [`crate::tools::agent_tools`] lists them).
    pub fn new(tool_choice: ToolChoicePolicy, max_model_calls: usize, tools: &[Tool]) -> TurnPolicy {
        TurnPolicy {
            tool_choice,
            max_model_calls,
            tools: tools.iter().map(|t| t.name()).collect(),
            main: tools.first().copied().filter(|t| t.runs_code()).unwrap_or(Tool::RunPython),
            kind: RunKind::First,
            calls_used: 0,
            text_calls: 0,
            corrected: false,
            reminded: false,
            asked_plain: false,
            rejected: 0,
            last_call: None,
            last_ok: true,
            evidence: Evidence::default(),
            asked_grounding: false,
            printed: Printed::default(),
            asked_requote: false,
        }
    }

    /// Text an answer may quote: the user's message, and the conversation before it (the code of each call is
    /// taken from the call itself).
    pub fn saw(&mut self, text: &str) {
        self.evidence.add(text);
        self.printed.add_context(text);
    }

    /// A tool result as the model read it, and whether its code ran: its numbers, and its lines as the text an
    /// answer must copy exactly (a failure's text may be quoted, but is not held against a quote).
    pub fn saw_output(&mut self, text: &str, ran: bool) {
        self.evidence.add(text);
        if ran {
            self.printed.add(text);
        } else {
            self.printed.add_context(text);
        }
    }

    /// The model calls the next run may still make; `Err` when none are left (the turn then fails).
    ///
    /// # Errors
    /// [`TurnFailureKind::TooManySteps`].
    pub fn calls_left(&self) -> Result<usize, TurnFailure> {
        match self.max_model_calls.saturating_sub(self.calls_used) {
            0 => Err(too_many_steps(self.max_model_calls)),
            left => Ok(left),
        }
    }

    /// How the next run's model calls are steered: by the policy, and by why the run was started.
    pub fn run_settings(&self) -> RunSettings {
        use FirstCall::{AnyTool, Free};
        use ToolsShown::{Always, Never, WhileFailing};
        let (first, tools) = match (self.tool_choice, self.kind) {
            (ToolChoicePolicy::None, _) | (_, RunKind::PlainAnswer | RunKind::Requote) => (Free, Never),
            (ToolChoicePolicy::Auto, RunKind::Correction) => (AnyTool, Always),
            (ToolChoicePolicy::Auto, _) => (Free, Always),
            (ToolChoicePolicy::RequiredFirst, RunKind::First | RunKind::Correction) => (AnyTool, Always),
            (ToolChoicePolicy::RequiredFirst, _) => (Free, Always),
            (ToolChoicePolicy::Guided, RunKind::First | RunKind::Correction | RunKind::Grounding) => {
                (FirstCall::Tool(self.main), WhileFailing)
            }
            (ToolChoicePolicy::Guided, _) => (Free, WhileFailing),
        };
        RunSettings { first, tools, main: self.main }
    }

    /// A tool call the model made through tool calling (not as text).
    pub fn call_made(&mut self, name: &str, arguments: &Map<String, Value>) {
        self.note_arguments(arguments);
        self.last_call = Some((name.to_owned(), canonical_arguments(name, arguments)));
    }

    fn note_arguments(&mut self, arguments: &Map<String, Value>) {
        for value in arguments.values() {
            if let Value::String(text) = value {
                self.evidence.add(text);
                self.printed.add_context(text);
            }
        }
    }

    /// How the last call went.
    pub fn call_finished(&mut self, outcome: StepOutcome) {
        self.last_ok = outcome == StepOutcome::Ran;
        if outcome == StepOutcome::Rejected {
            self.rejected += 1;
        }
    }

    /// A call written as text ran ([`Next::RunTextCall`]); the next run continues from its result.
    pub fn text_call_ran(&mut self, outcome: StepOutcome) {
        self.call_finished(outcome);
        self.kind = RunKind::AfterTextCall;
    }

    /// What the turn does after a run that made `model_calls` calls and ended with `answer`.
    pub fn next(&mut self, answer: &str, model_calls: usize) -> Next {
        self.calls_used += model_calls.max(1);
        if self.rejected >= MAX_REJECTED_CALLS {
            return Next::Fail(TurnFailure {
                kind: TurnFailureKind::NoToolCall,
                message: format!(
                    "The model sent a tool call whose arguments could not be used {} times, so it was stopped. The \
                     steps above show what ran; try again, or rephrase the request.",
                    self.rejected
                ),
            });
        }
        let text_call = match self.tool_choice {
            // No tools: nothing runs, whatever the text says.
            ToolChoicePolicy::None => None,
            // A hosted model may quote a call in an explanation: only an answer that is the call counts.
            ToolChoicePolicy::Auto if !starts_like_a_call(answer) => None,
            _ => find_tool_call(answer),
        };
        // Guided, after code that failed: a fix written as a fenced block of the code's language is run (the
        // last request asked for the corrected call; small models write the code as Markdown instead).
        let text_call = text_call.or_else(|| {
            // Not in a run that asked for a plain answer without code.
            let after_failure = self.tool_choice == ToolChoicePolicy::Guided
                && !self.last_ok
                && self.last_call.is_some()
                && self.kind != RunKind::PlainAnswer;
            after_failure.then(|| find_fenced_code(answer, self.main)).flatten()
        });
        let Some(call) = text_call else {
            if echo::shows_tool_syntax(answer) {
                return self.plain_answer(answer);
            }
            return if answer.trim().is_empty() { Next::Fail(empty_answer()) } else { self.answer(answer) };
        };
        let repeated = self.last_call.as_ref().is_some_and(|(name, args)| {
            *name == call.name && args.is_some() && *args == canonical_arguments(&call.name, &call.arguments)
        });
        // The call that just ran, copied into the answer: an echo of the history, not a new step.
        if repeated && self.last_ok {
            return self.plain_answer(answer);
        }
        if repeated {
            return self.repeated();
        }
        if self.tools.contains(&call.name.as_str()) && self.text_calls < self.max_model_calls {
            // The model wrote the call instead of making it: run it as a call, and let the model continue
            // from its result.
            self.text_calls += 1;
            self.note_arguments(&call.arguments);
            self.last_call = Some((call.name.clone(), canonical_arguments(&call.name, &call.arguments)));
            return Next::RunTextCall { id: format!("text_call_{}", self.text_calls), call };
        }
        if !self.corrected {
            self.corrected = true;
            self.kind = RunKind::Correction;
            return Next::Ask {
                prompt: format!(
                    "There is no tool named {}. Do not write tool calls as text: call one of these tools through \
                     tool calling: {}.",
                    call.name,
                    self.tools.join(", ")
                ),
                notice: Some(format!(
                    "The model wrote a call to a tool named \"{}\", which does not exist, as text; it was asked to \
                     call one of its tools.",
                    call.name
                )),
            };
        }
        Next::Fail(TurnFailure {
            kind: TurnFailureKind::NoToolCall,
            message: "The model did not call a tool: it wrote a tool call as text twice, so nothing ran. Try again, \
                      or rephrase the request."
                .to_owned(),
        })
    }

    /// A plain answer. Under `Guided`, after code that ran, an answer that gives a number neither the question,
    /// the code nor its output shows is not taken at once: the model is made to compute it with code (once a
    /// turn), and the number it then quotes is one that was printed. An answer that quotes a printed string
    /// with a slip is asked for again, with the printed text (once a turn).
    fn answer(&mut self, answer: &str) -> Next {
        let check = self.tool_choice == ToolChoicePolicy::Guided
            && !self.asked_grounding
            && self.last_ok
            && self.last_call.is_some()
            && self.kind != RunKind::PlainAnswer;
        if let Some(number) = check.then(|| self.evidence.ungrounded(answer)).flatten() {
            self.asked_grounding = true;
            self.kind = RunKind::Grounding;
            return Next::Ask {
                // Not naming the number: asked to compute "33125", a small model prints 33125.
                prompt: "Your answer gives a number that nothing the code printed shows, so it may be wrong. Write \
                         code that computes exactly what my question asks and prints the result, then answer with \
                         the value it prints."
                    .to_owned(),
                notice: Some(format!(
                    "The model's answer gave {number}, which nothing that ran had printed; it was asked to compute \
                     it with code."
                )),
            };
        }
        let misquoted = self.tool_choice == ToolChoicePolicy::Guided && !self.asked_requote && self.last_ok;
        if let Some((quoted, printed)) = misquoted.then(|| self.printed.misquoted(answer)).flatten() {
            let prompt = format!(
                "Your answer quotes '{quoted}', but what was printed is '{printed}'. Write your answer again, copying \
                 the printed text exactly."
            );
            self.asked_requote = true;
            self.kind = RunKind::Requote;
            return Next::Ask { prompt, notice: None };
        }
        Next::Answer(answer.to_owned())
    }

    /// An answer that shows tool syntax (an echo of the history): the model is asked once, with no tools, for a
    /// plain answer; after that, what is left without the syntax is the answer, or the turn fails in words.
    fn plain_answer(&mut self, answer: &str) -> Next {
        if !self.asked_plain {
            self.asked_plain = true;
            self.kind = RunKind::PlainAnswer;
            return Next::Ask {
                prompt: "Answer my question now, in plain sentences for a person, using the results above (quote \
                         their numbers and names). Do not write tool calls, tool results or code."
                    .to_owned(),
                notice: None,
            };
        }
        let plain = echo::without_tool_syntax(answer);
        if plain.is_empty() {
            return Next::Fail(TurnFailure {
                kind: TurnFailureKind::Model,
                message: "The model did not write a readable answer. The steps above show what ran and what it \
                          printed; try again, or rephrase the request."
                    .to_owned(),
            });
        }
        Next::Answer(plain)
    }

    /// The same call again, written as text: the model did not take in the result. It is reminded once,
    /// without running anything; the second time the turn ends.
    fn repeated(&mut self) -> Next {
        if self.reminded {
            return Next::Fail(TurnFailure {
                kind: TurnFailureKind::Repeated,
                message: "The model kept repeating the same step instead of answering. The steps above show what \
                          ran; try again, or rephrase the request."
                    .to_owned(),
            });
        }
        self.reminded = true;
        self.kind = RunKind::Reminder;
        let prompt = if self.last_ok {
            "You already made that call and its result is above. Now answer my question in plain words, without \
             calling a tool again."
        } else {
            "You already made that call and it failed; the error is above. Write different code that fixes the \
             error, or tell me in plain words what went wrong."
        };
        Next::Ask { prompt: prompt.to_owned(), notice: None }
    }
}

/// Whether an answer begins as a tool call written as text does (JSON, a fence, a `<tool_call>` element).
pub fn starts_like_a_call(answer: &str) -> bool {
    let start = answer.trim_start();
    ["{", "```", "<tool_call>", "[called tool "].iter().any(|p| start.starts_with(p))
}

fn empty_answer() -> TurnFailure {
    TurnFailure {
        kind: TurnFailureKind::Model,
        message: "The model ended without writing an answer. The steps above show what ran; try again, or rephrase \
                  the request."
            .to_owned(),
    }
}

/// The failure of a turn that used all its model calls.
pub fn too_many_steps(max: usize) -> TurnFailure {
    TurnFailure {
        kind: TurnFailureKind::TooManySteps,
        message: format!(
            "The model used all {max} of its steps for this answer without finishing, so it was stopped. The session \
             keeps what it did; ask for a smaller step."
        ),
    }
}

/// The within-run decisions: what each model call may do, from how the turn's calls went.
#[derive(Debug, Clone, Default)]
pub struct CallSteering {
    /// Whether the last call failed or was rejected.
    last_failed: bool,
    /// Retries forced after failures in this turn.
    forced_retries: usize,
    /// Whether a successful run made or changed files since the last file was sent to the user.
    unsent_files: bool,
    /// Whether a hand-over was already forced in this turn (it is forced at most once).
    hand_over_forced: bool,
    /// The last code run that failed, as `(tool, canonical arguments, the error's last line)`, until a run
    /// succeeds.
    last_failure: Option<(String, Value, String)>,
    /// Calls of this turn whose arguments were unusable.
    rejected: usize,
    /// Whether the last call was exactly the code that had just failed (so it did not run).
    last_repeated: bool,
}

impl CallSteering {
    /// One call of `name` with its canonical `arguments`, and what it did.
    pub fn record(&mut self, name: &str, arguments: &Value, invocation: &ToolInvocation) {
        let ran = invocation.outcome == StepOutcome::Ran;
        if invocation.outcome == StepOutcome::Rejected {
            self.rejected += 1;
        }
        self.last_failed = !ran;
        self.last_repeated = invocation.outcome == StepOutcome::Repeated;
        if name == Tool::SendFileToUser.name() {
            self.unsent_files = false;
        } else if ran && invocation.report.as_ref().is_some_and(|r| !r.files_changed.is_empty()) {
            self.unsent_files = true;
        }
        if name == Tool::ResetSession.name() {
            // A fresh session: code that failed in the old one may work now.
            self.last_failure = None;
        }
        if let Some(report) = &invocation.report {
            self.last_failure = match invocation.outcome {
                StepOutcome::Failed => {
                    let error = report.stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
                    Some((name.to_owned(), arguments.clone(), error.trim().to_owned()))
                }
                _ => None,
            };
        }
    }

    /// How a call that ran outside the framework's own tool calls went (a call written as text).
    pub fn note_outcome(&mut self, failed: bool) {
        self.last_failed = failed;
        self.last_repeated = false;
    }

    /// Whether the last call failed and the forced retries of the turn are used up: the model is then offered
    /// no tools, and may still write a corrected call as text ([`Next::RunTextCall`]).
    pub fn retries_used_up(&self) -> bool {
        self.last_failed && self.forced_retries >= FORCED_RETRIES
    }

    /// Whether the model is stuck: its last call was exactly the code that had just failed. A forced retry is
    /// then sampled ([`RESAMPLE_TEMPERATURE`]) instead of taken at the turn's own temperature.
    pub fn stuck(&self) -> bool {
        self.last_failed && self.last_repeated
    }

    /// When `name` with `arguments` is exactly the last code that failed: that failure's error line.
    pub fn repeats_last_failure(&self, name: &str, arguments: &Value) -> Option<String> {
        let (tool, args, error) = self.last_failure.as_ref()?;
        (tool == name && args == arguments).then(|| error.clone())
    }

    /// What a model call of a run under `settings` may do; `first` when it is the run's first call.
    pub fn demand(&mut self, settings: RunSettings, first: bool) -> Demand {
        if self.rejected >= MAX_REJECTED_CALLS {
            // Enough unusable calls: the run ends in words, and the turn with a plain message.
            return Demand::NoTools;
        }
        let asked = if first { settings.first } else { FirstCall::Free };
        let demand = match asked {
            FirstCall::Free => Demand::Free,
            FirstCall::AnyTool => Demand::Call(None),
            FirstCall::Tool(tool) => Demand::Call(Some(tool)),
        };
        match settings.tools {
            ToolsShown::Always => demand,
            ToolsShown::Never => Demand::NoTools,
            ToolsShown::WhileFailing if first && settings.first != FirstCall::Free => demand,
            ToolsShown::WhileFailing => self.while_failing(settings.main),
        }
    }

    /// [`ToolsShown::WhileFailing`] after the first call: retry the `main` tool after a failure (a few times a
    /// turn); after a success the model answers, but if the run made files it hands one over first (once a
    /// turn). Measured: offered the tool without being made to call it, a small model asked for a file writes
    /// "call send_file_to_user with the path" as its answer instead.
    fn while_failing(&mut self, main: Tool) -> Demand {
        if self.last_failed && self.forced_retries < FORCED_RETRIES {
            self.forced_retries += 1;
            return Demand::Call(Some(main));
        }
        if self.unsent_files && !self.hand_over_forced {
            self.hand_over_forced = true;
            return Demand::Call(Some(Tool::SendFileToUser));
        }
        Demand::NoTools
    }
}

#[cfg(test)]
mod tests;
