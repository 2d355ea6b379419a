//! One run of a turn: one prompt to rig's agent, with the turn's tools and steering, its stream of items
//! turned into the turn's events as they come.

use std::collections::HashMap;

use futures_util::StreamExt;
use rig_agent::agent::{Agent, AgentBuilder, MultiTurnStreamItem, PromptResponse};
use rig_agent::completion::PromptError;
use rig_core::message::Message;
use rig_core::streaming::{Item, PartKind, StreamEvent};
use serde_json::{Map, Value};

use super::stream::Events;
use super::{ChatAgent, Turn};
use crate::rig::hooks::TurnHook;
use crate::rig::steps::StepSink;
use crate::turn::looping::LoopWatch;
use crate::turn::policy::ToolsShown;
use crate::turn::{StepOutcome, ToolCallStep, ToolResultStep, TurnEvent};

/// How a run ended.
pub(super) enum RunEnd {
    Final(Box<PromptResponse>),
    TimedOut,
    /// The model call in progress was writing one stretch again and again; it was stopped. `clean` when no
    /// tool of the run had run yet (the run can be started again as it was).
    Looping {
        clean: bool,
    },
    Error(Box<PromptError>),
    Ended,
}

impl ChatAgent {
    /// The agent of one run: the model, the preamble, the bounds, and (unless the policy shows no tools) the
    /// interpreter's tools, recording into the turn's sink.
    fn agent(&self, sink: &StepSink, calls_left: usize, tools: ToolsShown) -> Agent {
        let mut builder = AgentBuilder::new(self.model.clone())
            .preamble(&self.preamble)
            .default_max_turns(calls_left.max(1))
            .max_tokens(self.options.max_tokens);
        if let Some(t) = self.options.temperature {
            builder = builder.temperature(t);
        }
        if tools == ToolsShown::Never {
            return builder.build();
        }
        let tools = super::super::tools::recording(&self.interpreter, sink, self.options.images_to_model);
        builder.dynamic_tools(tools).build()
    }

    /// Runs `prompt` on the turn's transcript, sending the events of what happens, until the model's final
    /// message (or the turn's deadline, or an error).
    pub(super) async fn run(&self, turn: &mut Turn, prompt: Message, calls_left: usize, events: &Events) -> RunEnd {
        let settings = turn.policy.run_settings();
        let hook = TurnHook {
            settings,
            max_argument_chars: self.options.max_echoed_argument_chars,
            steps: turn.sink.clone(),
            sampled: std::mem::take(&mut turn.sample_next_run),
        };
        let mut stream = self
            .agent(&turn.sink, calls_left, settings.tools)
            .prompt(prompt)
            .history(turn.transcript.clone())
            .add_hook(hook)
            .stream();
        // The calls made in this run, by id, until their results come.
        let mut calls: HashMap<String, (String, Map<String, Value>)> = HashMap::new();
        // What the model call in progress writes, watched for a loop.
        let mut watch = LoopWatch::new();
        let mut ran_a_tool = false;
        loop {
            let item = match tokio::time::timeout_at(turn.deadline, stream.next()).await {
                Err(_) => return RunEnd::TimedOut,
                Ok(None) => return RunEnd::Ended,
                Ok(Some(Err(e))) => return RunEnd::Error(Box::new(e)),
                Ok(Some(Ok(item))) => item,
            };
            if let MultiTurnStreamItem::FinalResponse(response) = item {
                return RunEnd::Final(Box::new(response));
            }
            match &item {
                MultiTurnStreamItem::StreamAssistantItem(Item::Event(
                    StreamEvent::Text { text: written, .. } | StreamEvent::Arguments { json: written, .. },
                )) if watch.push(written) => return RunEnd::Looping { clean: !ran_a_tool },
                // A call's end or a retried model call: the next output is another stretch.
                MultiTurnStreamItem::ToolCall { .. }
                | MultiTurnStreamItem::ToolResult { .. }
                | MultiTurnStreamItem::ModelTurnRetried { .. } => watch = LoopWatch::new(),
                _ => {}
            }
            ran_a_tool |= matches!(item, MultiTurnStreamItem::ToolResult { .. });
            if let Some(event) = on_item(turn, item, &mut calls) {
                events.send(event);
            }
        }
    }
}

/// The turn's event for one of rig's stream items (most have none), noting calls and results in the policy.
fn on_item(
    turn: &mut Turn,
    item: MultiTurnStreamItem,
    calls: &mut HashMap<String, (String, Map<String, Value>)>,
) -> Option<TurnEvent> {
    match item {
        MultiTurnStreamItem::StreamAssistantItem(Item::Event(StreamEvent::Text { text, .. })) => {
            Some(TurnEvent::Text(text))
        }
        MultiTurnStreamItem::StreamAssistantItem(Item::Event(StreamEvent::Start {
            kind: PartKind::ToolCall,
            name,
            ..
        })) => Some(TurnEvent::ToolCallStarted { name: name.map(|n| n.to_string()).unwrap_or_default() }),
        MultiTurnStreamItem::ModelTurnRetried { .. } => Some(TurnEvent::TextWithdrawn),
        MultiTurnStreamItem::ToolCall { tool_call } => {
            let id = tool_call.id.to_string();
            let name = tool_call.function.name.to_string();
            let arguments = tool_call.function.arguments.clone();
            turn.policy.call_made(&name, &arguments);
            calls.insert(id.clone(), (name.clone(), arguments.clone()));
            Some(TurnEvent::ToolCall(ToolCallStep { id, name, arguments, written_as_text: false }))
        }
        MultiTurnStreamItem::ToolResult { tool_result } => {
            let id = tool_result.call.to_string();
            let (name, arguments) = calls.remove(&id).unwrap_or_else(|| (tool_result.name.to_string(), Map::new()));
            let step = match turn.sink.take(&name, &arguments) {
                Some(done) => ToolResultStep {
                    id,
                    name,
                    outcome: done.outcome,
                    report: done.report,
                    text: done.model_text,
                    artifacts: done.artifacts,
                },
                // The tool never ran (rig itself refused the call) and told the model why.
                None => {
                    turn.sink.note_outcome(true);
                    let text: Vec<&str> = tool_result.content.iter().filter_map(|c| c.as_text()).collect();
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
            turn.policy.call_finished(step.outcome);
            turn.policy.saw_output(&step.text, step.outcome == StepOutcome::Ran);
            Some(TurnEvent::ToolResult(step))
        }
        _ => None,
    }
}
