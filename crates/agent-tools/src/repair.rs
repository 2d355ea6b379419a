//! Repairs of two mistakes small models make in a cell, each of which makes Python refuse the whole cell
//! (a `SyntaxError`, so nothing runs) while the meaning is plain:
//!
//! * a top-level `return` at the end, from models trained on function bodies:
//!   `df = pd.read_csv(...); return df['age'].mean()` (`'return' outside function`). A cell's last
//!   expression is already its result, so `return X` becomes `X`;
//! * stray closing brackets at the very end, left over from the JSON the call was written in:
//!   `print(x)}` (`unmatched '}'`). They are removed;
//! * a line break inside a one-line string literal, where the model's JSON escaped `\n` once too few times:
//!   `f.write('Summary:\n')` arrives with a real line break between the quotes (`unterminated string
//!   literal`). Each such line break becomes `\n` again.
//!
//! The interpreter applies [`repair`] only to code Python has just refused with one of those errors
//! ([`refused_for_a_slip`]), so code that compiles is never changed. The scan reads strings, comments,
//! brackets and continuations as Python's tokenizer does, so a `return` or a bracket inside a string or a
//! function is not touched; code it cannot read is left alone.

use dynamic_sessions::{Execution, ExecutionStatus};

/// Whether Python refused a cell whole (nothing ran) with one of the errors [`repair`] addresses.
pub fn refused_for_a_slip(execution: &Execution) -> bool {
    let last = execution.stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
    execution.status == ExecutionStatus::Failed
        && execution.stdout.is_empty()
        && (last.starts_with("SyntaxError: 'return' outside function")
            || last.starts_with("SyntaxError: unmatched '")
            || last.starts_with("SyntaxError: unterminated string literal"))
}

/// Code after [`repair`], and what was changed, in words for the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repaired {
    /// The code to run.
    pub code: String,
    /// One sentence per change.
    pub notes: Vec<&'static str>,
}

/// The note for a removed stray bracket.
pub const STRAY_BRACKETS: &str = "The code ended with closing brackets that close nothing (left over from the \
    call's JSON), so nothing ran; it was run again without them.";
/// The note for a final `return` turned into an expression.
pub const FINAL_RETURN: &str = "The code ended with `return` outside a function, which Python does not allow, so \
    nothing ran; it was run again with the returned expression as its last line (a cell's last expression is its \
    value).";

/// The note for line breaks put back as `\n` inside string literals.
pub const LINE_BREAKS_IN_STRINGS: &str = "A string in the code was split by a real line break where `\\n` was \
    meant (a JSON escaping slip), so nothing ran; it was run again with `\\n` in the string.";

/// `code` with the line breaks inside its one-line string literals written as `\n`, its stray closing brackets
/// at the end removed and its final top-level `return X` turned into `X`; `None` when none applies.
pub fn repair(code: &str) -> Option<Repaired> {
    let mut notes = Vec::new();
    let mut code = code.to_owned();
    if let Some(escaped) = line_breaks_escaped(&code) {
        code = escaped;
        notes.push(LINE_BREAKS_IN_STRINGS);
    }
    if let Some(cut) = without_stray_closers(&code) {
        code = cut;
        notes.push(STRAY_BRACKETS);
    }
    if let Some(fixed) = final_return_as_expression(&code) {
        code = fixed;
        notes.push(FINAL_RETURN);
    }
    (!notes.is_empty()).then_some(Repaired { code, notes })
}

/// `code` without the closing brackets at its very end that close nothing, when there are some and nothing
/// else is unbalanced.
fn without_stray_closers(code: &str) -> Option<String> {
    match scan(code) {
        Scan::StrayCloser(at) if code[at..].trim_end().chars().all(|c| matches!(c, ')' | ']' | '}')) => {
            let cut = code[..at].trim_end().to_owned();
            matches!(scan(&cut), Scan::Statements(_)).then_some(cut)
        }
        _ => None,
    }
}

/// `code` with every line break inside a one-line (`'...'` or `"..."`) string literal written as `\n`, when there
/// is one and every string then ends; `None` otherwise. Comments, triple-quoted strings and escapes are read
/// as Python's tokenizer reads them.
fn line_breaks_escaped(code: &str) -> Option<String> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = String::with_capacity(code.len() + 8);
    let mut changed = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    out.push(chars[i]);
                    i += 1;
                }
                continue;
            }
            '\'' | '"' => {
                let triple = chars.get(i + 1) == Some(&c) && chars.get(i + 2) == Some(&c);
                let opening = if triple { 3 } else { 1 };
                out.extend(&chars[i..i + opening]);
                i += opening;
                let mut closed = false;
                while i < chars.len() {
                    match chars[i] {
                        '\\' => {
                            out.push('\\');
                            if let Some(next) = chars.get(i + 1) {
                                out.push(*next);
                            }
                            i += 2;
                            continue;
                        }
                        '\n' if !triple => {
                            out.push_str("\\n");
                            changed = true;
                        }
                        q if q == c && (!triple || (chars.get(i + 1) == Some(&c) && chars.get(i + 2) == Some(&c))) => {
                            out.extend(&chars[i..i + opening]);
                            i += opening;
                            closed = true;
                            break;
                        }
                        other => out.push(other),
                    }
                    i += 1;
                }
                if !closed {
                    return None;
                }
                continue;
            }
            other => out.push(other),
        }
        i += 1;
    }
    changed.then_some(out)
}

/// Keywords that open a compound statement: what follows their `:` on the same line is their body.
const COMPOUND: [&str; 14] = [
    "def", "class", "if", "elif", "else", "for", "while", "with", "try", "except", "finally", "async", "match", "case",
];

/// One statement's start: its byte offset, and whether it is at the top level.
#[derive(Debug, Clone, Copy)]
struct Start {
    at: usize,
    top_level: bool,
}

/// `code` with its last statement `return X` turned into `X` (or removed, for a bare `return`), when that
/// statement is at the top level; `None` otherwise (including code this scanner cannot read).
fn final_return_as_expression(code: &str) -> Option<String> {
    let Scan::Statements(starts) = scan(code) else { return None };
    let last = starts.into_iter().rev().find(|s| !is_blank(&code[s.at..]))?;
    if !last.top_level {
        return None;
    }
    let statement = &code[last.at..];
    let rest = statement.trim_start().strip_prefix("return")?;
    if rest.chars().next().is_some_and(|c| c.is_alphanumeric() || c == '_') {
        return None; // `returned = 1`
    }
    let skipped = statement.len() - statement.trim_start().len();
    let value = rest.trim_start_matches([' ', '\t']);
    // A bare `return;` leaves nothing of the statement (a lone `;` would not compile).
    let value = value.strip_prefix(';').unwrap_or(value);
    let mut out = String::with_capacity(code.len());
    out.push_str(&code[..last.at + skipped]);
    out.push_str(value);
    Some(out)
}

/// Whether a statement's text is only whitespace, `;` and a comment.
fn is_blank(text: &str) -> bool {
    let text = text.trim_start_matches(|c: char| c.is_whitespace() || c == ';');
    text.is_empty() || text.starts_with('#')
}

/// What a scan of the code found.
#[derive(Debug)]
enum Scan {
    /// The start of every statement: the brackets and strings are balanced.
    Statements(Vec<Start>),
    /// A closing bracket that closes nothing, at this offset.
    StrayCloser(usize),
    /// A string or bracket still open at the end.
    Unfinished,
}

fn scan(code: &str) -> Scan {
    let bytes = code.as_bytes();
    let mut starts = vec![Start { at: 0, top_level: line_is_top_level(code, 0) }];
    // Whether the current logical line's statements after a `;` are top-level.
    let mut line_top = top_level_line(code, 0);
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'\'' | b'"' => {
                match skip_string(bytes, i) {
                    Some(end) => i = end,
                    None => return Scan::Unfinished,
                }
                continue;
            }
            b'\\' if bytes.get(i + 1) == Some(&b'\n') => i += 1,
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return Scan::StrayCloser(i),
            },
            b';' if depth == 0 => starts.push(Start { at: i + 1, top_level: line_top }),
            b'\n' if depth == 0 => {
                starts.push(Start { at: i + 1, top_level: line_is_top_level(code, i + 1) });
                line_top = top_level_line(code, i + 1);
            }
            _ => {}
        }
        i += 1;
    }
    if depth == 0 { Scan::Statements(starts) } else { Scan::Unfinished }
}

/// Whether the line starting at `at` begins at column 0 (Python indents with spaces, tabs and form feeds).
fn line_is_top_level(code: &str, at: usize) -> bool {
    !code[at..].starts_with([' ', '\t', '\x0c'])
}

/// Whether statements after a `;` on the line starting at `at` are top-level: the line starts at column 0
/// and does not open a compound statement (whose body would follow its `:`).
fn top_level_line(code: &str, at: usize) -> bool {
    if !line_is_top_level(code, at) {
        return false;
    }
    let line = &code[at..];
    let word: String = line.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    !(COMPOUND.contains(&word.as_str()) || line.starts_with('@'))
}

/// The offset just after the string literal whose opening quote is at `start`, or `None` when it does not end.
fn skip_string(bytes: &[u8], start: usize) -> Option<usize> {
    let quote = bytes[start];
    let triple = bytes.get(start + 1) == Some(&quote) && bytes.get(start + 2) == Some(&quote);
    let mut i = if triple { start + 3 } else { start + 1 };
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'\n' if !triple => return None,
            c if c == quote => {
                if !triple {
                    return Some(i + 1);
                }
                if bytes.get(i + 1) == Some(&quote) && bytes.get(i + 2) == Some(&quote) {
                    return Some(i + 3);
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fix(code: &str) -> Option<String> {
        final_return_as_expression(code)
    }

    #[test]
    fn stray_closing_brackets_at_the_end_are_removed() {
        let fixed = repair("import math; print(math.sqrt(2))}");
        assert_eq!(
            fixed,
            Some(Repaired { code: "import math; print(math.sqrt(2))".into(), notes: vec![STRAY_BRACKETS] })
        );
        let both = repair("from datetime import date; return date(2024, 12, 25) - date(2024, 1, 1)}\n");
        assert_eq!(
            both,
            Some(Repaired {
                code: "from datetime import date; date(2024, 12, 25) - date(2024, 1, 1)".into(),
                notes: vec![STRAY_BRACKETS, FINAL_RETURN]
            })
        );
        assert_eq!(repair("x = 1)]}").map(|r| r.code).as_deref(), Some("x = 1"));
        for left_alone in ["x = {'a': 1}", "print(')')", "x = 1)\ny = 2", "x = (1))\n# }", "x = )(", "f(x))(", ""] {
            assert_eq!(without_stray_closers(left_alone), None, "{left_alone:?}");
        }
        assert_eq!(repair("print(1)"), None);
    }

    #[test]
    fn line_breaks_inside_one_line_strings_become_escapes() {
        let slipped = "with open('/mnt/data/report.txt', 'w') as f:\n    f.write('Summary of the files:\n')\n    f.write(\"Total: 3\n\")";
        let Some(repaired) = repair(slipped) else { unreachable!("the line breaks were not repaired") };
        assert_eq!(
            repaired.code,
            "with open('/mnt/data/report.txt', 'w') as f:\n    f.write('Summary of the files:\\n')\n    f.write(\"Total: 3\\n\")"
        );
        assert_eq!(repaired.notes, [LINE_BREAKS_IN_STRINGS]);
        for left_alone in [
            "s = '''two\nlines'''",
            "x = 'a\\nb'",
            "# it's a comment\nprint(1)",
            "print('fine')\nprint(\"also\")",
            "x = 'never closed",
            "",
        ] {
            assert_eq!(line_breaks_escaped(left_alone), None, "{left_alone:?}");
        }
    }

    #[test]
    fn a_final_top_level_return_becomes_the_cells_value() {
        assert_eq!(fix("x = 1\nreturn x + 1").as_deref(), Some("x = 1\nx + 1"));
        assert_eq!(
            fix("import pandas as pd; df = pd.read_csv('a;b.csv', sep=';'); return df['Age'].mean()").as_deref(),
            Some("import pandas as pd; df = pd.read_csv('a;b.csv', sep=';'); df['Age'].mean()")
        );
        assert_eq!(fix("return(1)").as_deref(), Some("(1)"));
        assert_eq!(fix("x = 2\nreturn\n").as_deref(), Some("x = 2\n\n"));
        assert_eq!(fix("x = 2\nreturn;").as_deref(), Some("x = 2\n"));
        assert_eq!(fix("y = [1,\n  2]\nreturn y  # the list\n\n").as_deref(), Some("y = [1,\n  2]\ny  # the list\n\n"));
        assert_eq!(fix("s = '''a\nreturn b'''\nreturn s").as_deref(), Some("s = '''a\nreturn b'''\ns"));
    }

    #[test]
    fn code_without_a_final_top_level_return_is_left_alone() {
        for code in [
            "def f():\n    x = 1\n\x0c    return x",
            "def f():\n    return 1\n",
            "def f(): x = 1; return x",
            "if True: print(1); return 2",
            "@decorator\ndef f(): return 1",
            "class A:\n    def f(self):\n        return 1",
            "returned = 1",
            "x = 'return 1'",
            "x = \"; return 1\"",
            "print(1)  # return 1",
            "for i in range(3):\n    pass\nprint(i)",
            "x = (1,\nreturn)",
            "",
        ] {
            assert_eq!(fix(code), None, "{code:?}");
        }
    }

    #[test]
    fn code_it_cannot_read_is_left_alone() {
        for code in ["x = 'open\nreturn 1", "x = (1\nreturn 2", "x = )\nreturn 1", "s = \"\"\"never closed\nreturn 1"] {
            assert_eq!(fix(code), None, "{code:?}");
        }
    }

    proptest! {
        #[test]
        fn any_text_is_handled_without_panicking(code in "\\PC*") {
            let _ = repair(&code);
        }

        #[test]
        fn escaping_line_breaks_changes_only_line_breaks(code in "[a-z '\"#\\n\\\\]{0,60}") {
            if let Some(escaped) = line_breaks_escaped(&code) {
                prop_assert_eq!(escaped.replace("\\n", "\n"), code.replace("\\n", "\n"));
                prop_assert!(escaped.matches('\n').count() < code.matches('\n').count());
            }
        }

        #[test]
        fn removing_stray_brackets_keeps_a_prefix(code in "[a-z0-9 =;'\"()\\[\\]{}#\\n]{0,60}") {
            if let Some(cut) = without_stray_closers(&code) {
                prop_assert!(code.starts_with(&cut) && cut.len() < code.len(), "{:?} became {:?}", code, cut);
            }
        }

        #[test]
        fn a_rewrite_only_removes_the_keyword(code in "[a-z0-9 =;'\"()\\[\\]#\\n\\\\]{0,60}") {
            if let Some(fixed) = fix(&code) {
                // Apart from spaces, the rewrite is the code with one `return` (or a bare `return;`) taken out.
                let squeeze = |s: &str| s.chars().filter(|c| *c != ' ' && *c != '\t').collect::<String>();
                let (before, after) = (squeeze(&code), squeeze(&fixed));
                let removed = ["return", "return;"].iter().any(|keyword| {
                    (0..=before.len().saturating_sub(keyword.len())).any(|p| {
                        before[p..].starts_with(keyword)
                            && format!("{}{}", &before[..p], &before[p + keyword.len()..]) == after
                    })
                });
                prop_assert!(removed, "{:?} became {:?}", code, fixed);
            }
        }
    }
}
