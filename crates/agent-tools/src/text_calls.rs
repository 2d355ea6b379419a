//! Tool calls a model wrote as text instead of making them.
//!
//! Small local models often answer with the call itself: a fenced JSON block
//! (```` ```json {"name": "run_python", "arguments": {...}} ``` ````), a `<tool_call>` element (the Hermes and
//! Qwen format their chat templates teach), or a bare `{"name": ..., "arguments": ...}` object. Shown as an
//! answer, that JSON tells the user nothing ran. [`find_tool_call`] recognises those forms, so the caller can
//! run the call (when it names one of its tools) or correct the model (when it does not).

use serde_json::{Map, Value};

use crate::tools::Tool;

/// A tool call found in a model's text.
#[derive(Debug, Clone, PartialEq)]
pub struct TextToolCall {
    /// The tool the model named.
    pub name: String,
    /// Its arguments (a JSON object; an `arguments` string holding JSON is decoded).
    pub arguments: Map<String, Value>,
    /// How it was written.
    pub form: TextCallForm,
}

/// How a tool call was written as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TextCallForm {
    /// `<tool_call>{...}</tool_call>`.
    ToolCallElement,
    /// A fenced code block holding the JSON object.
    FencedJson,
    /// A bare JSON object.
    BareJson,
    /// `[called tool NAME with {...}]`: how rig writes earlier calls into a request without tool
    /// definitions, which models then imitate.
    CalledToolText,
    /// A fenced block of code in the tool's language (```` ```python ````), written as the fix of code that
    /// failed ([`find_fenced_code`]).
    FencedCode,
}

/// The keys a call object may use for its arguments.
const ARGUMENT_KEYS: [&str; 2] = ["arguments", "parameters"];

/// The first tool call written in `text`, if any: in a `<tool_call>` element, a fenced block, or a bare
/// object. An object counts only when it has a string `name` and an object `arguments` (or `parameters`, or a
/// string holding a JSON object) and no other keys, so ordinary JSON in an answer is not mistaken for a call.
pub fn find_tool_call(text: &str) -> Option<TextToolCall> {
    if let Some(call) = inside_elements(text) {
        return Some(call);
    }
    if let Some(call) = inside_fences(text) {
        return Some(call);
    }
    if let Some(call) = called_tool_text(text) {
        return Some(call);
    }
    bare_objects(text).find_map(|value| as_call(&value, TextCallForm::BareJson))
}

/// The last fenced block of code in the language of `tool` (which runs code) in `text`, as a call of
/// `tool` (an answer that quotes the failed code before its fix ends with the fix): ```` ```python ````,
/// ```` ```py ```` or ```` ```python3 ```` for `run_python`, ```` ```javascript ```` or ```` ```js ````
/// for `run_javascript`, ```` ```sh ````, ```` ```bash ```` or ```` ```shell ```` for `run_shell`. Blocks of
/// another language, or none, are not taken. Small models asked to fix code that failed answer "the
/// corrected code is: ```python ...```" instead of calling the tool (measured with the 0.5B model).
pub fn find_fenced_code(text: &str, tool: Tool) -> Option<TextToolCall> {
    let (key, _, _) = tool.code_parts()?;
    let languages: &[&str] = match tool {
        Tool::RunPython => &["python", "py", "python3"],
        Tool::RunJavascript => &["javascript", "js"],
        Tool::RunShell => &["sh", "bash", "shell"],
        _ => &[],
    };
    let mut last = None;
    let mut rest = text;
    while let Some(start) = rest.find("```") {
        let after = &rest[start + 3..];
        // A fence opens a block only with its info string on a line of its own, and a block needs a close.
        let Some(line_end) = after.find('\n') else { break };
        let info = after[..line_end].trim().to_ascii_lowercase();
        let body = &after[line_end + 1..];
        let Some(end) = body.find("```") else { break };
        let code = body[..end].trim();
        if languages.contains(&info.as_str()) && !code.is_empty() {
            last = Some(code);
        }
        rest = &body[end + 3..];
    }
    let code = last?;
    let mut arguments = Map::new();
    arguments.insert(key.to_owned(), Value::String(code.to_owned()));
    Some(TextToolCall { name: tool.name().to_owned(), arguments, form: TextCallForm::FencedCode })
}

/// `[called tool NAME with {json}]`.
fn called_tool_text(text: &str) -> Option<TextToolCall> {
    let mut rest = text;
    while let Some(start) = rest.find("[called tool ") {
        let after = &rest[start + "[called tool ".len()..];
        if let Some((name, arguments)) = after.split_once(" with ") {
            let name = name.trim();
            let valid = !name.is_empty()
                && name.len() <= 64
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if valid
                && let Some(Ok(Value::Object(arguments))) =
                    serde_json::Deserializer::from_str(arguments.trim_start()).into_iter::<Value>().next()
            {
                return Some(TextToolCall { name: name.to_owned(), arguments, form: TextCallForm::CalledToolText });
            }
        }
        rest = after;
    }
    None
}

fn inside_elements(text: &str) -> Option<TextToolCall> {
    let mut rest = text;
    while let Some(start) = rest.find("<tool_call>") {
        let after = &rest[start + "<tool_call>".len()..];
        let body = after.find("</tool_call>").map_or(after, |end| &after[..end]);
        if let Some(call) = bare_objects(body).find_map(|v| as_call(&v, TextCallForm::ToolCallElement)) {
            return Some(call);
        }
        rest = after;
    }
    None
}

fn inside_fences(text: &str) -> Option<TextToolCall> {
    let mut rest = text;
    while let Some(start) = rest.find("```") {
        let after = &rest[start + 3..];
        // Skip the info string (`json`, `tool_call`, ...) up to the end of the line.
        let body_start = after.find('\n').map_or(after.len(), |n| n + 1);
        let body = &after[body_start..];
        let end = body.find("```").unwrap_or(body.len());
        if let Some(call) = bare_objects(&body[..end]).find_map(|v| as_call(&v, TextCallForm::FencedJson)) {
            return Some(call);
        }
        rest = &body[end..];
        rest = rest.strip_prefix("```").unwrap_or(rest);
    }
    None
}

/// The most opening braces tried, and the longest text looked at: a long answer full of braces costs little.
const MAX_ATTEMPTS: usize = 64;
const MAX_TEXT: usize = 64 * 1024;

/// Every JSON object that parses starting at a `{` of `text`, in order.
fn bare_objects(text: &str) -> impl Iterator<Item = Value> + '_ {
    let end = text.char_indices().map(|(i, _)| i).find(|i| *i >= MAX_TEXT).unwrap_or(text.len());
    let text = &text[..end];
    text.char_indices()
        .filter(|(_, c)| *c == '{')
        .take(MAX_ATTEMPTS)
        .filter_map(move |(at, _)| {
            serde_json::Deserializer::from_str(&text[at..]).into_iter::<Value>().next().and_then(Result::ok)
        })
        .filter(Value::is_object)
}

fn as_call(value: &Value, form: TextCallForm) -> Option<TextToolCall> {
    let object = value.as_object()?;
    // OpenAI's own shape, `{"type": "function", "function": {...}}`, once nested.
    if let Some(inner) = object.get("function").filter(|f| f.is_object())
        && object.keys().all(|k| k == "function" || k == "type" || k == "id")
    {
        return as_call(inner, form);
    }
    let name = object.get("name")?.as_str()?.trim();
    if name.is_empty() || name.len() > 64 || object.keys().any(|k| k != "name" && !ARGUMENT_KEYS.contains(&k.as_str()))
    {
        return None;
    }
    let arguments = match ARGUMENT_KEYS.iter().find_map(|k| object.get(*k)) {
        None => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(Value::String(json)) => match serde_json::from_str::<Value>(json) {
            Ok(Value::Object(map)) => map,
            _ => return None,
        },
        Some(_) => return None,
    };
    Some(TextToolCall { name: name.to_owned(), arguments, form })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn call(text: &str) -> Option<(String, Value, TextCallForm)> {
        find_tool_call(text).map(|c| (c.name, Value::Object(c.arguments), c.form))
    }

    #[test]
    fn the_forms_small_models_write() {
        // Qwen2.5-Coder-0.5B without tool_choice, verbatim.
        let fenced =
            "```json\n{\n  \"name\": \"run_python\",\n  \"arguments\": {\n    \"code\": \"2**100\"\n  }\n}\n```";
        assert_eq!(call(fenced), Some(("run_python".into(), json!({"code": "2**100"}), TextCallForm::FencedJson)));
        let element = "<tool_call>\n{\"name\": \"run_python\", \"arguments\": {\"code\": \"print(1)\"}}\n</tool_call>";
        assert_eq!(call(element).map(|c| c.2), Some(TextCallForm::ToolCallElement));
        // A bare object followed by the model's imagined tool response.
        let bare = "{\"name\": \"run_python\", \"arguments\": {\"code\": \"print(2**100)\"}}\n{\"name\": \"tool_response\", \"stdout\": \"1\"}";
        assert_eq!(call(bare), Some(("run_python".into(), json!({"code": "print(2**100)"}), TextCallForm::BareJson)));
        // Arguments as a JSON string, `parameters`, and OpenAI's nested shape.
        let string_args = r#"{"name": "list_files", "arguments": "{\"recursive\": true}"}"#;
        assert_eq!(call(string_args).map(|c| c.1), Some(json!({"recursive": true})));
        assert_eq!(call(r#"{"name": "reset_session", "parameters": {}}"#).map(|c| c.0), Some("reset_session".into()));
        let nested = r#"{"type": "function", "function": {"name": "read_file", "arguments": {"path": "a.csv"}}}"#;
        assert_eq!(call(nested).map(|c| c.1), Some(json!({"path": "a.csv"})));
        // rig's own text form of a call, which models imitate.
        let called = r#"[called tool run_python with {"code":"print(1)"}]"#;
        assert_eq!(
            call(called),
            Some(("run_python".into(), json!({"code": "print(1)"}), TextCallForm::CalledToolText))
        );
    }

    #[test]
    fn ordinary_answers_are_not_calls() {
        for text in [
            "The answer is 1267650600228229401496703205376.",
            r#"Here is the record: {"name": "Alice", "age": 31}"#,
            r#"{"name": "x", "arguments": [1, 2]}"#,
            r#"{"name": "", "arguments": {}}"#,
            "```python\nprint({'name': 'run_python'})\n```",
            "{ not json",
            "",
        ] {
            assert_eq!(call(text), None, "{text}");
        }
    }

    #[test]
    fn fenced_code_in_the_tools_language_is_a_call() {
        let fix = "To fix it, use `sqrt`. The corrected code is:\n\n```python\nimport math\nprint(math.sqrt(2))\n```\n\nThis prints the root.";
        let found = find_fenced_code(fix, Tool::RunPython).map(|c| (c.name, Value::Object(c.arguments), c.form));
        assert_eq!(
            found,
            Some(("run_python".into(), json!({"code": "import math\nprint(math.sqrt(2))"}), TextCallForm::FencedCode))
        );
        let shell = find_fenced_code("```bash\nls -la /mnt/data\n```", Tool::RunShell).map(|c| c.arguments);
        assert_eq!(shell.and_then(|a| a.get("command").cloned()), Some(json!("ls -la /mnt/data")));
        let js = find_fenced_code("```text\nnot this\n```\n```js\n[1, 2].length\n```", Tool::RunJavascript);
        assert_eq!(
            js.map(|c| c.arguments["code"].clone()),
            Some(json!("[1, 2].length")),
            "the first block in the language"
        );
        for not_code in [
            "```\nprint(1)\n```",
            "```javascript\nconsole.log(1)\n```",
            "```python\n\n```",
            "```python\nprint(1)",
            "no fences at all",
        ] {
            assert_eq!(find_fenced_code(not_code, Tool::RunPython), None, "{not_code:?}");
        }
        assert_eq!(find_fenced_code("```python\nprint(1)\n```", Tool::ListFiles), None, "a tool that runs no code");
    }

    proptest! {
        #[test]
        fn never_panics_on_any_text(text in "\\PC{0,400}") {
            let _ = find_tool_call(&text);
        }

        #[test]
        fn never_panics_on_brace_soup(text in "[{}\\[\\]\":,a-z` <>/\\n]{0,300}") {
            let _ = find_tool_call(&text);
            let _ = find_fenced_code(&text, Tool::RunPython);
        }

        #[test]
        fn fenced_code_never_panics(text in "(```|python|js|\\n|\\PC){0,60}") {
            for tool in Tool::ALL {
                let _ = find_fenced_code(&text, *tool);
            }
        }

        #[test]
        fn a_call_is_found_wherever_it_sits(prefix in "[a-zA-Z .,]{0,80}", code in "[a-z0-9+*() ]{0,40}") {
            let text = format!("{prefix}\n```json\n{}\n```", json!({"name": "run_python", "arguments": {"code": code}}));
            let found = find_tool_call(&text);
            prop_assert_eq!(found.map(|c| c.arguments.get("code").cloned()), Some(Some(Value::String(code))));
        }
    }
}
