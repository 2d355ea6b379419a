//! `dyns files`: list, upload, download and delete a session's files, streamed (flat memory whatever the
//! size), with a progress bar on a terminal.

use std::path::Path;
use std::process::ExitCode;

use dynamic_sessions::{MAX_UPLOAD_BYTES, RemoteFile, Session, SessionPoolClient};
use futures_util::StreamExt;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::cli::FilesCommand;
use crate::connect;
use crate::failure::Failure;
use crate::output::Output;
use crate::progress;

pub(crate) async fn run(client: &SessionPoolClient, command: &FilesCommand, out: &Output) -> Result<ExitCode, Failure> {
    match command {
        FilesCommand::Ls { path, recursive, session } => {
            let session = client.session(connect::session(session, out.json)?);
            list(&session, path.as_deref(), *recursive, out).await?;
        }
        FilesCommand::Put { local, remote, session } => {
            let session = client.session(connect::session(session, out.json)?);
            put(&session, local, remote.as_deref(), out).await?;
        }
        FilesCommand::Get { remote, local, session } => {
            let session = client.session(connect::session(session, out.json)?);
            get(&session, remote, local.as_deref(), out).await?;
        }
        FilesCommand::Rm { remote, session } => {
            let session = client.session(connect::session(session, out.json)?);
            session.files().delete(remote.as_str()).await?;
            if out.json {
                out.document(&json!({"session": session.id().as_str(), "deleted": remote}));
            } else {
                out.note(&format!("deleted {remote}"));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `files ls`.
async fn list(session: &Session, path: Option<&str>, recursive: bool, out: &Output) -> Result<(), Failure> {
    let mut listing = session.files().list().recursive(recursive);
    if let Some(path) = path {
        listing = listing.path(path.to_owned());
    }
    let files = listing.send().await?;
    if out.json {
        out.document(
            &json!({"session": session.id().as_str(), "files": files.iter().map(file_json).collect::<Vec<_>>()}),
        );
        return Ok(());
    }
    for file in &files {
        let size = file.size.map(|s| s.to_string()).unwrap_or_else(|| "-".into());
        let kind = if file.is_dir() { "dir " } else { "file" };
        crate::output::println(&format!("{kind} {size:>12}  {}{}", file.path(), if file.is_dir() { "/" } else { "" }));
    }
    Ok(())
}

/// `files put`: streamed from the file, refused before sending when it is over the service's limit.
async fn put(session: &Session, local: &Path, remote: Option<&str>, out: &Output) -> Result<(), Failure> {
    let remote = match remote {
        Some(remote) => remote.to_owned(),
        None => file_name(local)?,
    };
    let size =
        std::fs::metadata(local).map_err(|e| Failure::local(format!("cannot read {}: {e}", local.display())))?.len();
    if size > MAX_UPLOAD_BYTES {
        return Err(Failure::local(format!(
            "{} is {size} bytes; a session pool takes files of at most {MAX_UPLOAD_BYTES} bytes (128 MiB). Split or \
             compress it first.",
            local.display()
        )));
    }
    let file = tokio::fs::File::open(local)
        .await
        .map_err(|e| Failure::local(format!("cannot open {}: {e}", local.display())))?;
    let bar = progress::bar(Some(size), &format!("upload {}", local.display()), out.json);
    let uploaded = session.files().upload_reader(remote.as_str(), progress::Counted::new(file, bar.clone())).await;
    bar.finish_and_clear();
    let uploaded = uploaded?;
    if out.json {
        out.document(&json!({"session": session.id().as_str(), "file": file_json(&uploaded)}));
    } else {
        out.note(&format!("uploaded /mnt/data/{} ({size} bytes)", uploaded.path()));
    }
    Ok(())
}

/// `files get`: streamed to a file (written beside it, then renamed) or to stdout (`-`).
async fn get(session: &Session, remote: &str, local: Option<&Path>, out: &Output) -> Result<(), Failure> {
    let download = session.files().download(remote).await?;
    let total = download.content_length();
    let to_stdout = local.is_some_and(|l| l == Path::new("-"));
    let target = match local {
        Some(local) if !to_stdout => local.to_path_buf(),
        _ => Path::new(remote.rsplit('/').next().unwrap_or(remote)).to_path_buf(),
    };
    let bar = progress::bar(total, &format!("download {remote}"), out.json || to_stdout);
    let mut chunks = Box::pin(download.into_stream());
    let mut written = 0u64;
    if to_stdout {
        let mut stdout = tokio::io::stdout();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk?;
            stdout.write_all(&chunk).await.map_err(|e| Failure::local(format!("cannot write stdout: {e}")))?;
            written += chunk.len() as u64;
        }
        stdout.flush().await.map_err(|e| Failure::local(format!("cannot write stdout: {e}")))?;
    } else {
        // Written beside the target, then renamed: an interrupted download leaves no half file.
        let partial = target.with_extension("dyns-partial");
        let io = |e: std::io::Error| Failure::local(format!("cannot write {}: {e}", target.display()));
        let mut file = tokio::fs::File::create(&partial).await.map_err(io)?;
        while let Some(chunk) = chunks.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    let _ = tokio::fs::remove_file(&partial).await;
                    return Err(e.into());
                }
            };
            file.write_all(&chunk).await.map_err(io)?;
            written += chunk.len() as u64;
            bar.inc(chunk.len() as u64);
        }
        file.flush().await.map_err(io)?;
        drop(file);
        tokio::fs::rename(&partial, &target).await.map_err(io)?;
    }
    bar.finish_and_clear();
    if out.json {
        let path = if to_stdout { "-".to_owned() } else { target.display().to_string() };
        out.document(&json!({"session": session.id().as_str(), "remote": remote, "local": path, "bytes": written}));
    } else if !to_stdout {
        out.note(&format!("downloaded {remote} to {} ({written} bytes)", target.display()));
    }
    Ok(())
}

fn file_name(local: &Path) -> Result<String, Failure> {
    local
        .file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .ok_or_else(|| Failure::usage(format!("{} has no file name: give the remote name", local.display())))
}

pub(crate) fn file_json(file: &RemoteFile) -> serde_json::Value {
    json!({
        "path": file.path(),
        "kind": if file.is_dir() { "directory" } else { "file" },
        "size": file.size,
        "lastModified": file.last_modified.and_then(|t| t.format(&time_format()).ok()),
    })
}

fn time_format() -> time::format_description::well_known::Rfc3339 {
    time::format_description::well_known::Rfc3339
}
