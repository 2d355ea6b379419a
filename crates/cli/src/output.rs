//! How results are printed: text for people (colours only on a terminal, never with `NO_COLOR`), or one JSON
//! document for scripts (`--json`).

use std::io::{IsTerminal, Write as _};

use serde_json::Value;

/// Where a command's answer goes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    pub(crate) json: bool,
    colour: bool,
}

impl Output {
    pub(crate) fn new(json: bool) -> Output {
        let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Output { json, colour }
    }

    /// The command's JSON document (with `--json`).
    pub(crate) fn document(&self, value: &Value) {
        if self.json {
            println(&value.to_string());
        }
    }

    /// A note for people on stderr (dim on a terminal); nothing with `--json`.
    pub(crate) fn note(&self, text: &str) {
        if self.json {
            return;
        }
        if self.colour {
            eprintln!("\x1b[2m{text}\x1b[0m");
        } else {
            eprintln!("{text}");
        }
    }

    /// A failure's text on stderr (red on a terminal).
    pub(crate) fn error_text(&self, text: &str) {
        if self.colour {
            eprint!("\x1b[31m{text}\x1b[0m");
        } else {
            eprint!("{text}");
        }
    }
}

/// Writes `text` to stdout. A closed stdout (`dyns ... | head`) ends the program quietly, as it ends `cat`.
pub(crate) fn print(text: &str) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush())
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

/// [`print()`] with a line break.
pub(crate) fn println(text: &str) {
    print(&format!("{text}\n"));
}
