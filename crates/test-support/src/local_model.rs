//! A real language model for tests: Qwen2.5-Coder-0.5B-Instruct (GGUF from PyPI) served by llama.cpp
//! (the `xllamacpp` wheel) on loopback, one thread, as `.ci/run` installs it.
//!
//! The test needs `DS_LLM_PYTHON` (a Python with `xllamacpp`) and `DS_LLM_MODEL` (the `.gguf` file):
//! `.ci/run` sets both. Without them a developer machine skips loudly; under `CI=true` it is a failure.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use dynamic_sessions_emulator::testing::in_ci;
use tokio::io::{AsyncBufReadExt, BufReader};

/// A model server on loopback; stopped when dropped.
#[derive(Debug)]
pub struct LocalModel {
    _server: tokio::process::Child,
    /// The OpenAI-compatible base URL (`http://127.0.0.1:PORT/v1`).
    pub base_url: String,
}

fn setting(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).map(PathBuf::from).filter(|p| p.exists())
}

impl LocalModel {
    /// Starts the server and waits until the model is loaded. `Ok(None)` (said loudly) when the model is
    /// not installed on a developer machine.
    ///
    /// # Errors
    /// When the server does not start, and under `CI=true` when the model is not installed (a missing tool
    /// is a failure there, never a skip).
    pub async fn start() -> Result<Option<LocalModel>, String> {
        let (Some(python), Some(model)) = (setting("DS_LLM_PYTHON"), setting("DS_LLM_MODEL")) else {
            let why = "DS_LLM_PYTHON and DS_LLM_MODEL are not set (.ci/run installs xllamacpp and the model)";
            if in_ci() {
                return Err(format!("CI=true but {why}"));
            }
            eprintln!("\n*** SKIPPING the real-model test: {why} ***\n");
            return Ok(None);
        };
        let serve = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/llm/serve.py");
        let mut server = tokio::process::Command::new(python)
            .arg(serve)
            .arg("--model")
            .arg(model)
            .args(["--port", "0", "--threads", "1", "--ctx", "8192"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start the model server: {e}"))?;
        let stdout = server.stdout.take().ok_or("the model server has no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(180), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.strip_prefix("READY ") {
                    return rest.split_whitespace().next().map(str::to_owned);
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .ok_or("the model server did not get ready within 3 minutes")?;
        Ok(Some(LocalModel { _server: server, base_url: format!("{ready}/v1") }))
    }
}
