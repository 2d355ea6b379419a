//! Tool syntax in an answer: text a person must never be shown. Small models copy the way earlier calls and
//! results appear in the history (`[called tool NAME with {...}]`, `[tool NAME result] ...`, JSON calls,
//! `<tool_call>` elements) into what should be their answer; the turn recognises it anywhere in an answer.

/// The markers of tool syntax.
const MARKERS: [&str; 5] = ["[called tool ", "<tool_call>", "</tool_call>", "[tool_call]", "\"arguments\""];

/// Whether `text` shows tool-call or tool-result syntax anywhere.
pub fn shows_tool_syntax(text: &str) -> bool {
    MARKERS.iter().any(|m| text.contains(m)) || text.lines().any(is_result_line)
}

/// `[tool NAME result] ...` or `[tool NAME error] ...` (how a result is written as text).
fn is_result_line(line: &str) -> bool {
    let Some(rest) = line.trim_start().strip_prefix("[tool ") else { return false };
    rest.split_once(']').is_some_and(|(inside, _)| {
        let mut words = inside.split_whitespace();
        let (Some(name), Some(kind), None) = (words.next(), words.next(), words.next()) else { return false };
        name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') && matches!(kind, "result" | "error")
    })
}

/// `text` without the lines that show tool syntax (and without a dangling code fence), trimmed: what is left of
/// an answer when the model would not write it plainly.
pub fn without_tool_syntax(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|line| !shows_tool_syntax(line)).collect();
    // A fence whose content was all tool syntax is left empty: it goes too.
    let fence = |line: &str| line.trim_start().starts_with("```");
    let mut kept: Vec<&str> = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        if fence(lines[i]) && lines.get(i + 1).is_some_and(|next| fence(next)) {
            i += 2;
            continue;
        }
        kept.push(lines[i]);
        i += 1;
    }
    let mut kept = kept.join("\n");
    if kept.matches("```").count() % 2 == 1 {
        kept = kept.replace("```", "");
    }
    kept.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_are_found_wherever_they_are_and_plain_answers_are_not() {
        for echo in [
            r#"[called tool run_python with {"code":"print(1)"}]"#,
            "Engineering pays most.\n[called tool run_python with {\"code\":\"x\"}]",
            "[tool send_file_to_user result] sorted.csv (198 bytes) will be offered to the user for download.",
            "Here: <tool_call>{\"name\": \"run_python\"}</tool_call>",
            "{\"name\": \"run_python\", \"arguments\": {\"code\": \"1\"}}",
            "  [tool run_python error] NameError",
        ] {
            assert!(shows_tool_syntax(echo), "{echo}");
        }
        for plain in [
            "Engineering has the highest average salary (98,000).",
            "The list [tool, hammer] has two items.",
            "Use the [tool] menu.",
            "The result is [1, 2, 3].",
        ] {
            assert!(!shows_tool_syntax(plain), "{plain}");
        }
    }

    #[test]
    fn stripping_keeps_the_plain_sentences() {
        let mixed = "[called tool run_python with {\"code\":\"x\"}]\nThe mean is 4.2.\n[tool run_python result] 4.2";
        assert_eq!(without_tool_syntax(mixed), "The mean is 4.2.");
        assert_eq!(without_tool_syntax("[called tool run_python with {}]"), "");
        assert_eq!(without_tool_syntax("Done.\n```json\n{\"name\": \"x\", \"arguments\": {}}\n```"), "Done.");
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_read_without_panic(text in "\\PC{0,200}") {
            let twice = without_tool_syntax(&without_tool_syntax(&text));
            proptest::prop_assert!(!shows_tool_syntax(&twice), "{twice:?}");
        }
    }
}
