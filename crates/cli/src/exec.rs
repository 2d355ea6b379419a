//! `dyns exec` and `dyns shell`.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use dynamic_sessions::{Execution, ExecutionStatus, SessionPoolClient};
use serde_json::{Value, json};

use crate::cli::{ExecArgs, ShellArgs};
use crate::connect;
use crate::failure::{CODE_FAILED, Failure, TIMED_OUT};
use crate::output::Output;

/// `dyns exec`: runs code, prints its output and result, saves its images.
pub(crate) async fn code(client: &SessionPoolClient, args: &ExecArgs, out: &Output) -> Result<ExitCode, Failure> {
    let code = match (&args.code, &args.file) {
        (_, Some(file)) => {
            std::fs::read_to_string(file).map_err(|e| Failure::local(format!("cannot read {}: {e}", file.display())))?
        }
        (Some(code), None) if code != "-" => code.clone(),
        _ => {
            let mut code = String::new();
            std::io::stdin()
                .read_to_string(&mut code)
                .map_err(|e| Failure::local(format!("cannot read stdin: {e}")))?;
            code
        }
    };
    let id = connect::session(&args.session, out.json)?;
    let session = client.session(id.clone());
    let mut request = session.execute(code);
    if let Some(seconds) = args.timeout {
        request = request.timeout(Duration::from_secs(seconds));
    }
    let run = request.send().await?;
    let images = save_images(&run, &args.out_dir, id.as_str())?;
    let exit = exit_code(&run);
    if out.json {
        out.document(&json!({
            "session": id.as_str(),
            "status": run.status.to_string(),
            "stdout": run.stdout,
            "stderr": run.stderr,
            "result": run.result,
            "images": images.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "durationMs": run.duration.map(|d| d.as_millis() as u64),
            "exitCode": exit,
        }));
    } else {
        crate::output::print(&run.stdout);
        if !run.stderr.is_empty() {
            out.error_text(&run.stderr);
        }
        if let Some(result) = &run.result {
            crate::output::println(&shown(result));
        }
        for image in &images {
            out.note(&format!("image saved: {}", image.display()));
        }
    }
    Ok(ExitCode::from(exit))
}

/// A result as a person reads it: text as it is, anything else as JSON.
pub(crate) fn shown(result: &Value) -> String {
    match result {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// 0 for success, 124 for a time limit that passed, 1 for any other failure.
pub(crate) fn exit_code(run: &Execution) -> u8 {
    let timed_out = run.error.as_ref().and_then(|e| e.code.as_deref()) == Some("ExecutionTimeout")
        || run.stderr.contains("timed out after");
    match run.status {
        ExecutionStatus::Succeeded => 0,
        _ if timed_out => TIMED_OUT,
        _ => CODE_FAILED,
    }
}

/// Writes each image of `run` into `dir` as `<session>-<n>.<format>`; their paths.
pub(crate) fn save_images(run: &Execution, dir: &Path, session: &str) -> Result<Vec<PathBuf>, Failure> {
    let mut saved = Vec::new();
    for (n, image) in run.images.iter().enumerate() {
        let bytes = image.decode().map_err(Failure::from)?;
        std::fs::create_dir_all(dir).map_err(|e| Failure::local(format!("cannot create {}: {e}", dir.display())))?;
        let stamp =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
        let path = dir.join(format!("{session}-{stamp}-{}.{}", n + 1, image.format));
        std::fs::write(&path, bytes).map_err(|e| Failure::local(format!("cannot write {}: {e}", path.display())))?;
        saved.push(path);
    }
    Ok(saved)
}

/// `dyns shell`: runs a command line (or a program with arguments); its exit code is dyns' exit code.
pub(crate) async fn shell(client: &SessionPoolClient, args: &ShellArgs, out: &Output) -> Result<ExitCode, Failure> {
    let id = connect::session(&args.session, out.json)?;
    let session = client.session(id.clone());
    let mut request =
        if args.exec { session.exec(args.command.clone()) } else { session.shell(args.command.join(" ")) };
    if args.stdin {
        let mut input = String::new();
        std::io::stdin().read_to_string(&mut input).map_err(|e| Failure::local(format!("cannot read stdin: {e}")))?;
        request = request.stdin(input);
    }
    if let Some(seconds) = args.timeout {
        request = request.timeout(Duration::from_secs(seconds));
    }
    let run = request.send().await?;
    let timed_out = run.error.as_ref().and_then(|e| e.code.as_deref()) == Some("ExecutionTimeout");
    let exit = match run.exit_code {
        _ if timed_out => TIMED_OUT,
        Some(code) => u8::try_from(code).unwrap_or(CODE_FAILED),
        None if run.is_success() => 0,
        None => CODE_FAILED,
    };
    if out.json {
        out.document(&json!({
            "session": id.as_str(),
            "exitCode": run.exit_code,
            "stdout": run.stdout,
            "stderr": run.stderr,
            "durationMs": run.duration.map(|d| d.as_millis() as u64),
        }));
    } else {
        crate::output::print(&run.stdout);
        if !run.stderr.is_empty() {
            out.error_text(&run.stderr);
        }
    }
    Ok(ExitCode::from(exit))
}
