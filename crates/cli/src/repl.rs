//! `dyns repl`: an interactive, stateful session. A cell ends with a blank line or as soon as it is a complete
//! statement; `:files`, `:upload`, `:download`, `:reset`, `:help` and `:quit` are commands. Ctrl-C interrupts
//! the running cell (the emulator keeps the session's state; Azure has no interrupt, so the cell may go on
//! there), and clears the line at the prompt; Ctrl-D quits. History is kept in the user's data directory.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use dynamic_sessions::{PoolKind, Session, SessionPoolClient};
use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

use crate::cli::ReplArgs;
use crate::connect;
use crate::exec::{save_images, shown};
use crate::failure::Failure;
use crate::output::Output;

const HELP: &str = "Write code; a cell runs when it is a complete statement, or at a blank line after several lines.
  :files [PATH]             list /mnt/data
  :upload LOCAL [REMOTE]    upload a file
  :download REMOTE [LOCAL]  download a file
  :reset                    delete the session (its state and files) and start a new one
  :help                     this text
  :quit                     leave (Ctrl-D too); Ctrl-C interrupts a running cell";

/// Where the REPL's history is kept: `$XDG_DATA_HOME/dyns/history`, else `~/.local/share/dyns/history`.
fn history_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".local/share")))?;
    Some(base.join("dyns").join("history"))
}

pub(crate) async fn run(client: &SessionPoolClient, args: &ReplArgs) -> Result<ExitCode, Failure> {
    let out = Output::new(false);
    let kind = client.metadata().await.map(|m| m.kind()).unwrap_or(PoolKind::Python);
    let mut session = client.session(connect::session(&args.session, false)?);
    let mut editor = DefaultEditor::new().map_err(|e| Failure::local(format!("cannot open the terminal: {e}")))?;
    let history = history_path();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    eprintln!("dyns repl: a {} session; :help for commands, Ctrl-D to leave", language(kind));
    let mut cell = String::new();
    loop {
        let prompt = if cell.is_empty() { ">>> " } else { "... " };
        let line = match tokio::task::block_in_place(|| editor.readline(prompt)) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                cell.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(Failure::local(format!("cannot read the terminal: {e}"))),
        };
        if !line.trim().is_empty() {
            let _ = editor.add_history_entry(line.as_str());
            if let Some(path) = &history {
                if let Some(dir) = path.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                let _ = editor.save_history(path);
            }
        }
        if cell.is_empty() && line.trim_start().starts_with(':') {
            match command(client, &mut session, line.trim(), &out).await {
                Ok(true) => continue,
                Ok(false) => break,
                Err(failure) => {
                    eprintln!("dyns: {}", failure.message);
                    continue;
                }
            }
        }
        if line.trim().is_empty() && cell.is_empty() {
            continue;
        }
        let ends = line.trim().is_empty();
        cell.push_str(&line);
        cell.push('\n');
        if ends || (cell.lines().count() == 1 && complete(&cell, kind)) {
            let code = std::mem::take(&mut cell);
            run_cell(&session, kind, &code, &args.out_dir, &out).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn language(kind: PoolKind) -> &'static str {
    match kind {
        PoolKind::JavaScript => "JavaScript",
        PoolKind::Shell => "shell",
        _ => "Python",
    }
}

/// Whether a one-line cell is complete: no open bracket or string, no `:` or `\` or `{` or `,` at its end.
pub(crate) fn complete(cell: &str, kind: PoolKind) -> bool {
    let text = cell.trim_end();
    if text.ends_with(':')
        || text.ends_with('\\')
        || text.ends_with(',')
        || (kind == PoolKind::JavaScript && text.ends_with('{'))
    {
        return false;
    }
    let mut depth = 0i64;
    let mut quote: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == '\\' => {
                let _ = (q, chars.next());
            }
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '#' if kind != PoolKind::JavaScript => break,
                '\'' | '"' | '`' => quote = Some(c),
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth -= 1,
                _ => {}
            },
        }
    }
    quote.is_none() && depth <= 0 && !text.contains("'''") && !text.contains("\"\"\"")
}

async fn run_cell(session: &Session, kind: PoolKind, code: &str, out_dir: &Path, out: &Output) {
    let running = async {
        if kind == PoolKind::Shell {
            session.shell(code.trim_end()).send().await.map(|run| {
                crate::output::print(&run.stdout);
                out.error_text(&run.stderr);
                if !run.is_success() {
                    eprintln!("exit code {}", run.exit_code.map_or("?".into(), |c| c.to_string()));
                }
            })
        } else {
            session.execute(code).send().await.map(|run| {
                crate::output::print(&run.stdout);
                out.error_text(&run.stderr);
                if let Some(result) = &run.result {
                    crate::output::println(&shown(result));
                }
                match save_images(&run, out_dir, session.id().as_str()) {
                    Ok(images) => images.iter().for_each(|p| out.note(&format!("image saved: {}", p.display()))),
                    Err(failure) => eprintln!("dyns: {}", failure.message),
                }
            })
        }
    };
    tokio::select! {
        done = running => if let Err(e) = done {
            eprintln!("dyns: {}", Failure::from(e).message);
        },
        _ = tokio::signal::ctrl_c() => eprintln!("interrupted (the session keeps its state on the emulator)"),
    }
}

/// A `:command`; `Ok(false)` to leave.
async fn command(client: &SessionPoolClient, session: &mut Session, line: &str, out: &Output) -> Result<bool, Failure> {
    let mut words = line.split_whitespace();
    let name = words.next().unwrap_or_default();
    let args: Vec<&str> = words.collect();
    match (name, args.as_slice()) {
        (":quit" | ":q" | ":exit", _) => return Ok(false),
        (":help", _) => eprintln!("{HELP}"),
        (":files", rest) => {
            let mut listing = session.files().list().recursive(true);
            if let Some(path) = rest.first() {
                listing = listing.path(*path);
            }
            for file in listing.send().await? {
                let size = file.size.map(|s| s.to_string()).unwrap_or_else(|| "-".into());
                crate::output::println(&format!("{size:>12}  {}{}", file.path(), if file.is_dir() { "/" } else { "" }));
            }
        }
        (":upload", [local, rest @ ..]) => {
            let remote = rest
                .first()
                .map(|r| (*r).to_owned())
                .or_else(|| Path::new(local).file_name().and_then(|n| n.to_str()).map(str::to_owned));
            let remote = remote.ok_or_else(|| Failure::usage("give the remote name"))?;
            let file = session.files().upload_file(remote.as_str(), local).await?;
            out.note(&format!("uploaded /mnt/data/{}", file.path()));
        }
        (":download", [remote, rest @ ..]) => {
            let local = rest
                .first()
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(remote.rsplit('/').next().unwrap_or(remote)));
            let bytes = session.files().download(*remote).await?.to_file(&local).await?;
            out.note(&format!("downloaded {remote} to {} ({bytes} bytes)", local.display()));
        }
        (":reset", _) => {
            session.delete().await?;
            *session = client.session(dynamic_sessions::SessionId::random());
            eprintln!("a new session: {}", session.id());
        }
        _ => eprintln!("unknown command {line}; :help lists them"),
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_is_complete_when_nothing_is_left_open() {
        for done in ["1 + 1", "x = [1, 2]", "print('a:b')", "s = \"(\"", "f(x)  # a comment ("] {
            assert!(complete(done, PoolKind::Python), "{done}");
        }
        for open in ["def f():", "for i in range(3):", "x = [1,", "s = '''doc", "total = a + \\", "print((1"] {
            assert!(!complete(open, PoolKind::Python), "{open}");
        }
        assert!(!complete("function f() {", PoolKind::JavaScript));
        assert!(complete("const s = `a`", PoolKind::JavaScript));
    }
}
