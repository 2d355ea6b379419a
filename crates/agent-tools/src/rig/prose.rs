//! The history a model reads when a request offers it no tools, in a form this crate owns: each earlier call
//! and its result in words on the user's side ("You ran this Python code in the session: ```...``` It
//! returned: ..."), and a last line asking for the answer. Nothing is left in the model's own voice to
//! imitate. Left to rig, such a history carries calls and results as `[called tool NAME with {...}]` and
//! `[tool NAME result] ...`, which small models copy into their answers (measured: three answers in ten).

use rig_core::completion::message::{ToolResult, ToolResultContent};
use rig_core::message::{AssistantContent, CallId, Message, Text, ToolCall, UserContent};

use crate::report::reads_as_failure;
use crate::tools::Tool;
use crate::turn::echo::{shows_tool_syntax, without_tool_syntax};

/// What an earlier call of `name` with `arguments` did, said to the model (as context from the user's side,
/// so that there is no sentence of the model's own to continue in the same way). Code is quoted: without it
/// the model cannot tell what a printed number was (measured: "There are 10 days between ..." after a run
/// that printed 359).
fn did(name: &str, arguments: Option<&serde_json::Map<String, serde_json::Value>>) -> String {
    let tool = Tool::from_name(name);
    let code = tool.and_then(Tool::code_parts).and_then(|(key, noun, fence)| {
        let code = arguments?.get(key)?.as_str()?;
        Some((noun, fence, code))
    });
    match (tool, code) {
        (_, Some((noun, fence, code))) => {
            format!("You ran this {noun} in the session:\n```{fence}\n{}\n```", code.trim_end())
        }
        (Some(Tool::RunPython), None) => "You ran Python code in the session.".to_owned(),
        (Some(Tool::RunJavascript), None) => "You ran JavaScript code in the session.".to_owned(),
        (Some(Tool::RunShell), None) => "You ran a shell command in the session.".to_owned(),
        (Some(Tool::ListFiles), _) => "You listed the session's files.".to_owned(),
        (Some(Tool::ReadFile), _) => "You read the start of a file.".to_owned(),
        (Some(Tool::SendFileToUser), _) => "You offered a file to the user.".to_owned(),
        (Some(Tool::ResetSession), _) => "You reset the session.".to_owned(),
        _ => "You used a tool.".to_owned(),
    }
}

/// What the last line asks of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The answer, in plain sentences.
    Answer,
    /// The code run by this tool failed and its forced retries are used up: a corrected call (written as
    /// text, which a guided turn runs), or the answer in plain sentences.
    FixOrExplain(Tool),
}

impl Ending {
    fn line(self) -> String {
        match self {
            Ending::Answer => "Now answer my question in plain sentences, quoting the values above.".to_owned(),
            Ending::FixOrExplain(tool) => {
                let key = tool.code_parts().map_or("code", |(key, _, _)| key);
                format!(
                    "If you can fix the error, reply with only the corrected call, as JSON: {{\"name\": \"{}\", \
                     \"arguments\": {{\"{key}\": \"...\"}}}}. Otherwise answer my question in plain sentences.",
                    tool.name()
                )
            }
        }
    }
}

/// `history` and the `prompt` that follows it (the results of the last calls) with their calls and results in
/// words, or `None` when they have none. The prompt's results are then in the history: their calls no longer
/// being calls, rig leaves the prompt's results out of the request (an answer to no call).
pub(crate) fn as_prose(history: &[Message], prompt: &Message, ending: Ending) -> Option<Vec<Message>> {
    let has_results = |message: &Message| matches!(message, Message::User { content } if content.iter().any(|part| matches!(part, UserContent::ToolResult(_))));
    let shows_syntax = |message: &Message| match message {
        Message::Assistant(turn) => turn.content.iter().any(|block| match block {
            AssistantContent::ToolCall(_) => true,
            AssistantContent::Text(text) => shows_tool_syntax(text.text()),
            _ => false,
        }),
        other => has_results(other),
    };
    if !history.iter().chain(std::iter::once(prompt)).any(shows_syntax) {
        return None;
    }
    // A prompt of results joins the history (in words); any other prompt rig sends itself.
    let with_prompt = has_results(prompt).then_some(prompt);
    let history: Vec<Message> = history.iter().chain(with_prompt).cloned().collect();
    let last_is_result = matches!(history.last(), Some(Message::User { content })
        if content.iter().any(|part| matches!(part, UserContent::ToolResult(_))));
    let count = history.len();
    // The arguments of each call, by id, to quote the code with its result.
    let calls: Vec<&ToolCall> = history
        .iter()
        .filter_map(|message| match message {
            Message::Assistant(turn) => Some(turn.content.iter()),
            _ => None,
        })
        .flatten()
        .filter_map(|block| match block {
            AssistantContent::ToolCall(call) => Some(call),
            _ => None,
        })
        .collect();
    let arguments_of = |id: &CallId| calls.iter().find(|call| call.id == *id).map(|call| &call.function.arguments);
    // Asked for the answer, a small model writes about the attempt that failed rather than the one that
    // worked (measured: "The code failed ..." after a fix that printed the value). A failure that a later
    // call ran past is told in one line, without its code.
    // Only within the turn being answered, and only when the same tool later ran well.
    let turn_start = history.iter().rposition(|message| {
        matches!(message, Message::User { content } if content.iter().any(|part| matches!(part, UserContent::Text(_))))
    });
    let failed = |result: &ToolResult| result.is_error || reads_as_failure(&result_text(&result.content));
    let ran_later = |i: usize, name: &str| {
        history.iter().skip(i + 1).any(|message| {
            matches!(message, Message::User { content } if content.iter().any(|part| matches!(part,
                UserContent::ToolResult(result) if result.name.as_str() == name && !failed(result))))
        })
    };
    let superseded = |i: usize, result: &ToolResult| {
        ending == Ending::Answer
            && turn_start.is_some_and(|start| i > start)
            && failed(result)
            && ran_later(i, result.name.as_str())
    };
    let prose = history
        .iter()
        .enumerate()
        .filter_map(|(i, message)| match message {
            Message::Assistant(turn) => {
                // An earlier answer that copied tool syntax keeps only its words.
                let content: Vec<AssistantContent> = turn
                    .content
                    .iter()
                    .filter_map(|block| match block {
                        // The call is told with its result, on the user's side.
                        AssistantContent::ToolCall(_) => None,
                        AssistantContent::Text(text) if shows_tool_syntax(text.text()) => {
                            let words = without_tool_syntax(text.text());
                            (!words.is_empty()).then(|| AssistantContent::Text(Text::new(words)))
                        }
                        other => Some(other.clone()),
                    })
                    .collect();
                if content.is_empty() {
                    return None;
                }
                Some(Message::Assistant(turn.clone().with_content(content)))
            }
            Message::User { content } => {
                let mut parts: Vec<UserContent> = content
                    .iter()
                    .map(|part| match part {
                        UserContent::ToolResult(result) if superseded(i, result) => {
                            let text = result_text(&result.content);
                            let error = error_line(&text);
                            UserContent::text(format!("An earlier attempt failed ({error}); a later one fixed it."))
                        }
                        UserContent::ToolResult(result) => {
                            let said = did(result.name.as_str(), arguments_of(&result.call));
                            // After a fence, the result begins a line of its own.
                            let gap = if said.ends_with("```") { "\n" } else { " " };
                            UserContent::text(format!(
                                "{said}{gap}{}:\n{}",
                                if result.is_error { "It failed" } else { "It returned" },
                                result_text(&result.content)
                            ))
                        }
                        other => other.clone(),
                    })
                    .collect();
                if i + 1 == count && last_is_result {
                    parts.push(UserContent::text(ending.line()));
                }
                Some(Message::User { content: parts })
            }
            other => Some(other.clone()),
        })
        .collect();
    Some(prose)
}

/// The line of a failure's text that names the error (`NameError: ...`), or its first line.
fn error_line(text: &str) -> &str {
    let lines = || text.lines().map(str::trim).filter(|l| !l.is_empty());
    let mut named = lines()
        .filter(|l| l.split_once(':').is_some_and(|(kind, _)| kind.ends_with("Error") || kind.ends_with("Exception")));
    named.next_back().or_else(|| lines().next()).unwrap_or("an error")
}

pub(crate) fn result_text(content: &[ToolResultContent]) -> String {
    let parts: Vec<String> = content
        .iter()
        .map(|part| match part {
            ToolResultContent::Text(text) => text.text().to_owned(),
            ToolResultContent::Json { value } => value.to_string(),
            ToolResultContent::Image(_) => "(an image, which you saw)".to_owned(),
        })
        .collect();
    parts.join("\n")
}

#[cfg(test)]
mod tests {
    use rig_core::message::{AssistantMessage, ToolFunction, ToolName};
    use serde_json::json;

    use super::*;

    type Result = std::result::Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn calls_and_results_become_sentences_and_the_answer_is_asked_for() -> Result {
        let call = ToolCall::new(
            CallId::from_wire("call_1"),
            ToolFunction::new(ToolName::new("run_python")?, json!({"code": "print(6 * 7)"})),
        );
        let result = ToolResult {
            call: CallId::from_wire("call_1"),
            name: ToolName::new("run_python")?,
            content: vec![ToolResultContent::Text(Text::new("The code ran. It printed: 42"))],
            is_error: false,
        };
        let history = vec![
            Message::user("What is 6 * 7?"),
            Message::Assistant(AssistantMessage::new(vec![AssistantContent::ToolCall(call)])),
        ];
        let prompt = Message::User { content: vec![UserContent::ToolResult(result)] };
        let prose = as_prose(&history, &prompt, Ending::Answer).ok_or("nothing changed")?;
        assert_eq!(prose.len(), 2, "the call is told with its result");
        let text = serde_json::to_string(&prose)?;
        assert!(!text.contains("tool_call") && !text.contains("called tool") && !text.contains("[tool "), "{text}");
        assert!(
            text.contains("You ran this Python code in the session:\\n```python\\nprint(6 * 7)\\n```\\nIt returned:")
                && text.contains("It printed: 42"),
            "{text}"
        );
        assert!(!text.contains("\"assistant\""), "nothing in the model's own voice: {text}");
        assert!(text.contains("Now answer my question in plain sentences"), "{text}");
        assert!(as_prose(&[], &Message::user("hi"), Ending::Answer).is_none());
        let fix = as_prose(&history, &prompt, Ending::FixOrExplain(Tool::RunPython)).ok_or("nothing changed")?;
        let text = serde_json::to_string(&fix)?;
        assert!(text.contains(r#"{\"name\": \"run_python\", \"arguments\": {\"code\": \"...\"}}"#), "{text}");
        Ok(())
    }

    fn step(id: &str, code: &str, said: &str) -> std::result::Result<[Message; 2], Box<dyn std::error::Error>> {
        let call = ToolCall::new(
            CallId::from_wire(id),
            ToolFunction::new(ToolName::new("run_python")?, json!({ "code": code })),
        );
        let result = ToolResult {
            call: CallId::from_wire(id),
            name: ToolName::new("run_python")?,
            content: vec![ToolResultContent::Text(Text::new(said))],
            is_error: false,
        };
        Ok([
            Message::Assistant(AssistantMessage::new(vec![AssistantContent::ToolCall(call)])),
            Message::User { content: vec![UserContent::ToolResult(result)] },
        ])
    }

    #[test]
    fn a_failure_a_later_call_fixed_is_told_in_one_line_when_the_answer_is_asked_for() -> Result {
        let failed = "The code failed.\nThe error:\nTraceback ...\nAttributeError: module 'math' has no attribute \
                      'sqroot'. Did you mean: 'sqrt'?\nFix the code and run it again, or tell the user what went wrong.";
        let [call_1, result_1] = step("call_1", "import math; print(math.sqroot(2))", failed)?;
        let not_rerun = "This is exactly the code that just failed, so it was not run again.";
        let [call_2, result_2] = step("call_2", "import math; print(math.sqroot(2))", not_rerun)?;
        let fixed = "The code ran successfully. It printed:\n1.4142135623730951";
        let [call_3, result_3] = step("call_3", "import math; print(math.sqrt(2))", fixed)?;
        let history = vec![Message::user("Fix it and tell me the result"), call_1, result_1, call_2, result_2, call_3];
        let prose = as_prose(&history, &result_3, Ending::Answer).ok_or("nothing changed")?;
        let text = serde_json::to_string(&prose)?;
        assert!(!text.contains("sqroot(2)") && !text.contains("Fix the code"), "the failed code is not quoted: {text}");
        assert_eq!(text.matches("An earlier attempt failed").count(), 2, "{text}");
        assert!(
            text.contains("An earlier attempt failed (AttributeError: module 'math' has no attribute 'sqroot'. Did you mean: 'sqrt'?); a later one fixed it.")
                && text.contains("print(math.sqrt(2))")
                && text.contains("1.4142135623730951"),
            "{text}"
        );
        // A later success of another tool fixes nothing.
        let listed = ToolResult {
            call: CallId::from_wire("call_9"),
            name: ToolName::new("list_files")?,
            content: vec![ToolResultContent::Text(Text::new("sales.csv"))],
            is_error: false,
        };
        let [call_1, result_1] = step("call_1", "import math; print(math.sqroot(2))", failed)?;
        let history_2 = vec![Message::user("Fix it"), call_1, result_1];
        let prompt = Message::User { content: vec![UserContent::ToolResult(listed)] };
        let text = serde_json::to_string(&as_prose(&history_2, &prompt, Ending::Answer).ok_or("nothing changed")?)?;
        assert!(text.contains("sqroot(2)") && !text.contains("An earlier attempt"), "{text}");
        // While the code still fails, or when a fix is asked for, the failure is told whole.
        let history = vec![Message::user("Fix it"), history[1].clone()];
        let [_, failed_again] = step("call_1", "", failed)?;
        for ending in [Ending::Answer, Ending::FixOrExplain(Tool::RunPython)] {
            let text = serde_json::to_string(&as_prose(&history, &failed_again, ending).ok_or("nothing changed")?)?;
            assert!(text.contains("sqroot(2)") && !text.contains("An earlier attempt"), "{text}");
        }
        Ok(())
    }
}
