//! The per-call steering of a turn, carried out on rig's requests: the tool choice the turn's policy demands
//! (`turn::policy::CallSteering`), and tool-call arguments shortened where they are sent back to the model.

use rig_agent::agent::{AgentHook, CompletionCallAction, CompletionCallEvent, HookContext, RequestPatch};
use rig_core::message::{AssistantContent, Message, ToolChoice};
use serde_json::Value;

use super::prose::{Ending, as_prose};
use super::steps::StepSink;
use crate::turn::policy::{Demand, RESAMPLE_SEED, RESAMPLE_TEMPERATURE, RunSettings, ToolsShown};

/// Steers every model call of one run (one prompt of a turn), as the turn's policy says.
#[derive(Debug, Clone)]
pub(crate) struct TurnHook {
    pub(crate) settings: RunSettings,
    /// Arguments longer than this are shortened in the history sent with each call.
    pub(crate) max_argument_chars: usize,
    /// How the turn's calls went.
    pub(crate) steps: StepSink,
    /// Whether every model call of the run is sampled (a run started again after a loop).
    pub(crate) sampled: bool,
}

impl AgentHook for TurnHook {
    async fn on_completion_call(&self, _ctx: &HookContext, event: CompletionCallEvent<'_>) -> CompletionCallAction {
        let mut patch = RequestPatch::new();
        let mut changed = true;
        let demand = self.steps.demand(self.settings, event.turn == 1);
        match demand {
            Demand::Free => changed = false,
            Demand::Call(None) => patch = patch.tool_choice(ToolChoice::Required),
            Demand::Call(Some(tool)) => {
                patch = patch.tool_choice(ToolChoice::Required).active_tools([tool.name().to_owned()])
            }
            Demand::NoTools => patch = patch.active_tools(Vec::<String>::new()),
        }
        // A retry after the model wrote the failing code again is sampled, so that it can write something else; so is
        // a run started again after a loop.
        let stuck =
            matches!(demand, Demand::Call(_)) && self.settings.tools == ToolsShown::WhileFailing && self.steps.stuck();
        if self.sampled || stuck {
            patch =
                patch.temperature(RESAMPLE_TEMPERATURE).additional_params(serde_json::json!({ "seed": RESAMPLE_SEED }));
            changed = true;
        }
        let history = shortened(event.history, self.max_argument_chars);
        // Without tools, the model reads earlier calls and results in our words, not rig's bracketed text
        // (which small models copy into their answers).
        let history = match demand {
            Demand::NoTools => {
                // Under guided steering, code that still fails after the forced retries may be fixed in a call
                // written as text, which the turn runs; otherwise the model answers.
                let ending = if self.settings.tools == ToolsShown::WhileFailing && self.steps.retries_used_up() {
                    Ending::FixOrExplain(self.settings.main)
                } else {
                    Ending::Answer
                };
                as_prose(history.as_deref().unwrap_or(event.history), event.prompt, ending).or(history)
            }
            _ => history,
        };
        if let Some(history) = history {
            patch = patch.history(history);
            changed = true;
        }
        if changed { CompletionCallAction::patch(patch) } else { CompletionCallAction::continue_run() }
    }
}

/// `history` with every tool-call argument longer than `max` characters cut (ids and results untouched),
/// or `None` when nothing is that long.
pub(crate) fn shortened(history: &[Message], max: usize) -> Option<Vec<Message>> {
    let too_long = |message: &Message| match message {
        Message::Assistant(turn) => {
            turn.tool_calls().any(|call| call.function.arguments.values().any(|v| long(v, max)))
        }
        _ => false,
    };
    if !history.iter().any(too_long) {
        return None;
    }
    Some(
        history
            .iter()
            .map(|message| match message {
                Message::Assistant(turn) if too_long(message) => {
                    let content = turn
                        .content
                        .iter()
                        .map(|block| match block {
                            AssistantContent::ToolCall(call) => {
                                let mut call = call.clone();
                                // Replayed from its canonical fields, not the provider's original item.
                                call.native = None;
                                for value in call.function.arguments.values_mut() {
                                    cut(value, max);
                                }
                                AssistantContent::ToolCall(call)
                            }
                            other => other.clone(),
                        })
                        .collect();
                    Message::Assistant(turn.clone().with_content(content))
                }
                other => other.clone(),
            })
            .collect(),
    )
}

fn long(value: &Value, max: usize) -> bool {
    match value {
        Value::String(s) => s.chars().count() > max,
        other => other.to_string().chars().count() > max,
    }
}

fn cut(value: &mut Value, max: usize) {
    if !long(value, max) {
        return;
    }
    let text = match &*value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let total = text.chars().count();
    let kept: String = text.chars().take(max).collect();
    *value = Value::String(format!("{kept}\n[... {} more characters not repeated here]", total - max));
}

#[cfg(test)]
mod tests {
    use super::*;
    use rig_core::message::{AssistantMessage, CallId, ToolCall, ToolFunction, ToolName};
    use serde_json::json;

    type Result = std::result::Result<(), Box<dyn std::error::Error>>;

    fn call(code: &str) -> std::result::Result<Message, Box<dyn std::error::Error>> {
        let function = ToolFunction::new(ToolName::new("run_python")?, json!({"code": code}));
        let call = ToolCall::new(CallId::from_wire("call_1"), function);
        Ok(Message::Assistant(AssistantMessage::new(vec![AssistantContent::ToolCall(call)])))
    }

    #[test]
    fn long_arguments_are_cut_and_short_ones_kept() -> Result {
        let history = vec![Message::user("hi"), call(&"print(1)\n".repeat(5000))?];
        let cut = shortened(&history, 100).ok_or("nothing was cut")?;
        assert_eq!(cut.len(), 2);
        let Message::Assistant(turn) = &cut[1] else { return Err("not an assistant turn".into()) };
        let first = turn.tool_calls().next().ok_or("no call")?;
        let code = first.function.arguments["code"].as_str().ok_or("no code")?;
        assert!(code.starts_with("print(1)") && code.ends_with("[... 44900 more characters not repeated here]"));
        assert_eq!(first.id.to_string(), "call_1");
        assert!(shortened(&[Message::user("hi"), call("print(1)")?], 100).is_none());
        Ok(())
    }
}
