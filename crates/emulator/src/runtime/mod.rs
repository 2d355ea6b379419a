//! What sessions run: the Python runtime ([`python`]), and Node.js for `NodeLTS` pools ([`node`]), each
//! prepared once into a cache and shared read-only by every session.

pub(crate) mod node;
pub(crate) mod python;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

pub use node::NodeRuntime;
pub use python::Runtime;

/// A package name and version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Package {
    /// Distribution name.
    pub name: String,
    /// Installed version.
    pub version: String,
}

/// Runtime problems that stop the emulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// No usable interpreter.
    #[error("no usable Python interpreter: {0}")]
    NoPython(String),
    /// No usable Node.js (only `NodeLTS` pools need one).
    #[error("no usable Node.js: {0}")]
    NoNode(String),
}

/// Whether every directory above `path` lets every user through (sessions run as other uids).
pub(crate) fn world_readable_path(path: &Path) -> bool {
    path.ancestors().skip(1).all(|dir| dir.metadata().map(|m| m.permissions().mode() & 0o001 != 0).unwrap_or(false))
}

/// The cache key of a package set for one interpreter version: `{prefix}{version}-{hash}`, the hash FNV-1a
/// of the sorted, lower-cased package names (stable across builds).
pub(crate) fn cache_key(prefix: &str, version: &str, packages: &[String]) -> String {
    let mut sorted: Vec<String> = packages.iter().map(|p| p.trim().to_ascii_lowercase()).collect();
    sorted.sort();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in version.bytes().chain(sorted.join(",").bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{prefix}{version}-{hash:016x}")
}

/// Creates `runtime_dir` and takes its setup lock: emulators that start together set up each runtime once.
pub(crate) async fn setup_lock(runtime_dir: &Path) -> Result<fs::File, String> {
    fs::create_dir_all(runtime_dir).map_err(|e| format!("cannot create {}: {e}", runtime_dir.display()))?;
    let _ = fs::set_permissions(runtime_dir, fs::Permissions::from_mode(0o755));
    let lock_path = runtime_dir.join(".setup.lock");
    tokio::task::spawn_blocking(move || -> Result<fs::File, String> {
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| e.to_string())?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).map_err(|e| e.to_string())?;
        Ok(file)
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Runs a setup step, forwarding its output to the log line by line (the progress the operator sees).
pub(crate) async fn run_logged(command: &mut Command, what: &str) -> Result<(), String> {
    command.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null());
    let mut child = command.spawn().map_err(|e| format!("{what}: {e}"))?;
    let mut tail = Vec::new();
    if let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) {
        let mut out = BufReader::new(out).lines();
        let mut err = BufReader::new(err).lines();
        let (mut out_done, mut err_done) = (false, false);
        while !(out_done && err_done) {
            tokio::select! {
                line = out.next_line(), if !out_done => match line {
                    Ok(Some(l)) => tracing::info!(target: "dynamic_sessions_emulator::setup", "{what}: {l}"),
                    _ => out_done = true,
                },
                line = err.next_line(), if !err_done => match line {
                    Ok(Some(l)) => {
                        tracing::info!(target: "dynamic_sessions_emulator::setup", "{what}: {l}");
                        tail.push(l);
                        if tail.len() > 5 { tail.remove(0); }
                    }
                    _ => err_done = true,
                },
            }
        }
    }
    let status = child.wait().await.map_err(|e| format!("{what}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{what} failed ({status}): {}", tail.join(" | "))) }
}

pub(crate) fn make_world_readable(dir: &Path) -> std::io::Result<()> {
    let meta = fs::symlink_metadata(dir)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = meta.permissions().mode();
    let wanted = if meta.is_dir() || mode & 0o100 != 0 { mode | 0o555 } else { mode | 0o444 };
    if wanted != mode {
        fs::set_permissions(dir, fs::Permissions::from_mode(wanted))?;
    }
    if meta.is_dir() {
        for entry in fs::read_dir(dir)? {
            make_world_readable(&entry?.path())?;
        }
    }
    Ok(())
}
