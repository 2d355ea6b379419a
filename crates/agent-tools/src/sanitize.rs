//! Cleaning up the code a model sends, as the reference clients do, without their false positives.

/// Strips what models wrap code in: Markdown fences (```` ```python ... ``` ````), a leading `python` or `py`
/// language tag on its own line, and surrounding blank lines and backticks.
///
/// Unlike the regex the LangChain tool uses, it never strips `python` from code such as
/// `python_version = 3`.
///
/// ```
/// use dynamic_sessions_agent_tools::sanitize_code;
/// assert_eq!(sanitize_code("```python\nprint(1)\n```"), "print(1)");
/// assert_eq!(sanitize_code("python\nx = 1"), "x = 1");
/// assert_eq!(sanitize_code("python_version = 3"), "python_version = 3");
/// ```
pub fn sanitize_code(input: &str) -> String {
    let mut text = input.trim_matches(|c: char| c.is_whitespace() || c == '`');
    // A language tag left over from an opening fence: "python\n...", "py\n...", "Python 3\n..."
    if let Some((first, rest)) = text.split_once('\n') {
        let tag = first.trim().to_ascii_lowercase();
        if matches!(tag.as_str(), "python" | "py" | "python3" | "python 3" | "ipython") {
            text = rest;
        }
    }
    let text = text.trim_matches(|c: char| c == '`' || c == '\n' || c == '\r');
    // Keep the code's own indentation of the first line but drop trailing spaces and fences.
    text.trim_end().trim_end_matches('`').trim_end().to_owned()
}

/// Strips a Markdown fence (```` ```js ... ``` ````) around JavaScript, and nothing else: single backticks
/// are template literals in JavaScript, so code such as `` `total: ${n}` `` is kept whole.
///
/// ```
/// use dynamic_sessions_agent_tools::sanitize::sanitize_javascript;
/// assert_eq!(sanitize_javascript("```javascript\nconsole.log(1)\n```"), "console.log(1)");
/// assert_eq!(sanitize_javascript("`total: ${1 + 1}`"), "`total: ${1 + 1}`");
/// ```
pub fn sanitize_javascript(input: &str) -> String {
    let mut text = input.trim_end();
    if let Some(fenced) = text.trim_start().strip_prefix("```") {
        // The opening fence's line, with its language tag.
        text = fenced.split_once('\n').map_or("", |(_, rest)| rest);
        text = text.trim_end().strip_suffix("```").unwrap_or(text);
    }
    text.trim_matches(|c: char| c == '\n' || c == '\r').trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::{sanitize_code, sanitize_javascript};

    #[test]
    fn javascript_loses_its_fences_only() {
        for (input, expected) in [
            ("```js\nconst a = 1;\na\n```", "const a = 1;\na"),
            ("```\n[1, 2]\n```\n", "[1, 2]"),
            ("`x${1}`", "`x${1}`"),
            ("const s = `a`", "const s = `a`"),
            ("  let i = 0;\n", "  let i = 0;"),
            ("```", ""),
            ("", ""),
        ] {
            assert_eq!(sanitize_javascript(input), expected, "{input:?}");
        }
    }

    #[test]
    fn cases() {
        for (input, expected) in [
            ("```python\nimport os\nprint(1)\n```", "import os\nprint(1)"),
            ("```py\nx=1\n```\n", "x=1"),
            ("```\nx=1\n```", "x=1"),
            ("`x + 1`", "x + 1"),
            ("  python\n  for i in range(2):\n      print(i)\n", "  for i in range(2):\n      print(i)"),
            ("print('```')", "print('```')"),
            ("python_version = 3", "python_version = 3"),
            ("pythonic = True\nprint(pythonic)", "pythonic = True\nprint(pythonic)"),
            ("```PYTHON\r\nprint(2)\r\n```", "print(2)"),
            ("", ""),
        ] {
            assert_eq!(sanitize_code(input), expected, "{input:?}");
        }
    }
}
