//! What the model is told about the session's files with each message of the user: their paths and sizes,
//! and the first lines of small text files (a table's columns and separator).
//!
//! Measured with small local models (the README's agent eval): told only "the file is in /mnt/data", they
//! guess column names (`'Sales'` for `sales`) and separators, and repeat the guess after the error; shown the
//! first lines, they use the real ones. The description is bounded (a few files, a few lines each), so it
//! costs a few hundred tokens at most.

use crate::error::ToolError;
use crate::interpreter::{CodeInterpreter, FileEntry};

/// How long a turn waits for the description before it goes on without one.
pub const DESCRIBE_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);
/// The most files described; the rest are counted.
pub const MAX_FILES: usize = 10;
/// The most files whose first lines are shown.
const MAX_PREVIEWS: usize = 3;
/// Lines shown of each previewed file.
const PREVIEW_LINES: usize = 3;
/// Bytes read of each previewed file, and characters kept of each of its lines.
const PREVIEW_BYTES: usize = 600;
const LINE_CHARS: usize = 160;
/// The extensions whose first lines are shown (text tables and notes).
const TEXT_EXTENSIONS: [&str; 7] = ["csv", "tsv", "txt", "json", "jsonl", "md", "log"];

/// A description of the files in `/mnt/data` for the model, or `None` when there are none.
///
/// # Errors
/// Session errors from listing or reading the files.
pub async fn describe_files(interpreter: &CodeInterpreter) -> Result<Option<String>, ToolError> {
    let mut files: Vec<FileEntry> =
        interpreter.list_files(None, false).await?.into_iter().filter(|f| f.kind == "file").collect();
    if files.is_empty() {
        return Ok(None);
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut out = String::from("Files in /mnt/data now:");
    let mut previews = 0;
    for file in files.iter().take(MAX_FILES) {
        let size = file.size.map(|s| format!(" ({s} bytes)")).unwrap_or_default();
        out.push_str(&format!("\n- /mnt/data/{}{size}", one_line(&file.path)));
        if previews < MAX_PREVIEWS && is_text(&file.path) && file.size.is_none_or(|s| s > 0) {
            previews += 1;
            // A file that vanished or cannot be read is still listed; its lines are simply not shown.
            if let Ok(head) = interpreter.read_file(&file.path, Some(PREVIEW_BYTES)).await {
                out.push_str(&separator_note(&file.path, &head));
                out.push_str(&preview(&head));
            }
        }
    }
    if files.len() > MAX_FILES {
        out.push_str(&format!("\n- and {} more (list them in code)", files.len() - MAX_FILES));
    }
    Ok(Some(out))
}

/// `message` with the description of the files before it, when there is one.
pub fn with_file_context(description: Option<&str>, message: &str) -> String {
    match description {
        Some(description) => format!("{description}\n\n{message}"),
        None => message.to_owned(),
    }
}

fn is_text(path: &str) -> bool {
    path.rsplit_once('.').is_some_and(|(_, ext)| TEXT_EXTENSIONS.iter().any(|t| ext.eq_ignore_ascii_case(t)))
}

/// For a `.csv` or `.tsv` whose columns are separated by something other than the default of `pandas.read_csv`
/// (`,`; a tab for `.tsv`), how to read it. Measured: a small model reads `Name;Age;City` with the default
/// separator, then cannot find the column `Age`.
fn separator_note(path: &str, head: &str) -> String {
    let Some((_, ext)) = path.rsplit_once('.') else { return String::new() };
    let expected = match ext.to_ascii_lowercase().as_str() {
        "csv" => ',',
        "tsv" => '\t',
        _ => return String::new(),
    };
    let lines: Vec<&str> =
        complete_lines(head).into_iter().filter(|l| !l.trim().is_empty()).take(PREVIEW_LINES).collect();
    let Some(first) = lines.first() else { return String::new() };
    // The separator: the candidate found in the header the most times, and as many times on every line shown.
    let found = [',', ';', '\t', '|']
        .into_iter()
        .map(|c| (c, first.matches(c).count()))
        .filter(|(c, n)| *n > 0 && lines.iter().all(|l| l.matches(*c).count() == *n))
        .max_by_key(|(_, n)| *n)
        .map(|(c, _)| c);
    match found {
        Some(c) if c != expected => {
            let shown = if c == '\t' { "\\t".to_owned() } else { c.to_string() };
            format!(", columns separated by '{shown}' (read it with pd.read_csv(path, sep='{shown}'))")
        }
        _ => String::new(),
    }
}

/// The lines of a file's head that are whole: without the reader's "[showing the first …]" marker and, when
/// the head was cut, without its last (partial) line.
fn complete_lines(head: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = head.lines().collect();
    if lines.last().is_some_and(|l| l.starts_with("[showing the first ")) {
        lines.pop();
        lines.pop();
    }
    lines
}

/// Text from a file or its name, as one line for the model: control characters (a newline in a name made
/// by code, a terminal escape) become `?`, so nothing in a file reads as a line of the message.
fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() && c != '\t' { '?' } else { c }).collect()
}

/// The first lines of a file's head, indented, each cut to [`LINE_CHARS`].
fn preview(head: &str) -> String {
    if head.contains(" is a binary file (") {
        return String::new();
    }
    let lines: Vec<String> = complete_lines(head)
        .into_iter()
        .take(PREVIEW_LINES)
        .map(|l| {
            let cut: String = l.chars().take(LINE_CHARS).collect();
            if cut.len() < l.len() { format!("{}…", one_line(&cut)) } else { one_line(&cut) }
        })
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    let mut out = String::from(", first lines:");
    for line in lines {
        out.push_str("\n    ");
        out.push_str(&line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_show_a_few_short_lines() {
        let shown = preview("Name;Age;City\nAna;34;Lisbon\nBen;28;Oslo\nCleo;45;Lima\n");
        assert_eq!(shown, ", first lines:\n    Name;Age;City\n    Ana;34;Lisbon\n    Ben;28;Oslo");
        let long = preview(&"x".repeat(1000));
        assert_eq!(long.chars().count(), ", first lines:\n    ".chars().count() + LINE_CHARS + 1);
        assert_eq!(preview(""), "");
        assert_eq!(preview("a.bin is a binary file (12 bytes); inspect it in code instead."), "");
        let cut = "a,b\n1,2\n3,\n[showing the first 600 bytes of 9000; read more in code]";
        assert_eq!(preview(cut), ", first lines:\n    a,b\n    1,2", "the partial last line is not shown");
        assert_eq!(preview("a\u{1b}[2Jb\r\n"), ", first lines:\n    a?[2Jb");
    }

    #[test]
    fn an_unusual_separator_is_named() {
        let people = "Name;Age;City\nAna;34;Lisbon\nBen;28;Oslo\n";
        assert_eq!(
            separator_note("people.csv", people),
            ", columns separated by ';' (read it with pd.read_csv(path, sep=';'))"
        );
        assert_eq!(separator_note("sales.csv", "month,sales\nJan,120\n"), "", "the default needs no note");
        assert_eq!(separator_note("t.tsv", "a\tb\n1\t2\n"), "");
        assert_eq!(
            separator_note("t.csv", "a\tb\n1\t2\n"),
            ", columns separated by '\\t' (read it with pd.read_csv(path, sep='\\t'))"
        );
        assert_eq!(separator_note("notes.txt", people), "", "only tables");
        assert_eq!(separator_note("odd.csv", "a;b\n1;2;3\n"), "", "no separator is consistent");
        assert_eq!(separator_note("one.csv", "value\n3\n"), "");
        assert_eq!(separator_note("e.csv", ""), "");
        let wide = "a;b;c\n1;2;3\n4;5\n[showing the first 600 bytes of 9000; read more in code]";
        assert_eq!(
            separator_note("w.csv", wide),
            ", columns separated by ';' (read it with pd.read_csv(path, sep=';'))"
        );
    }

    #[test]
    fn only_text_files_are_previewed() {
        assert!(is_text("sales.CSV") && is_text("dir/notes.txt"));
        assert!(!is_text("chart.png") && !is_text("README") && !is_text("csv"));
    }

    #[test]
    fn the_message_comes_last() {
        assert_eq!(
            with_file_context(Some("Files in /mnt/data now:\n- /mnt/data/a.csv"), "hi"),
            "Files in /mnt/data now:\n- /mnt/data/a.csv\n\nhi"
        );
        assert_eq!(with_file_context(None, "hi"), "hi");
    }
}
