//! The real Python clients (LangChain, LlamaIndex, Semantic Kernel, AutoGen), unchanged, against the
//! emulator: every check of `python_clients/*_check.py` (beside this file) must pass, the image checks included;
//! and the official MCP Python SDK against the pools' own MCP endpoints.
//!
//! They run over https with the emulator's own CA (Semantic Kernel accepts nothing else), LangChain over plain
//! http as well. The packages come from a virtual environment that `.ci/run` prepares
//! (`DS_PYTHON_CLIENTS_VENV`, default `target/python-clients-venv`); without it the test is skipped with a
//! loud notice on a developer machine and fails under `CI=true`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::start;
use dynamic_sessions_emulator::testing;
use serde_json::Value;

fn venv() -> Option<PathBuf> {
    let dir = std::env::var_os("DS_PYTHON_CLIENTS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/python-clients-venv"));
    let python = dir.join("bin/python");
    if python.exists() {
        return Some(python);
    }
    let message = format!(
        "the real-client virtual environment is missing at {} (python3 -m venv {0} && {0}/bin/pip install -r \
         crates/emulator/tests/python_clients/requirements.txt)",
        dir.display()
    );
    assert!(!testing::in_ci(), "CI=true but {message}");
    eprintln!("\n*** SKIPPING real Python client tests: {message} ***\n");
    None
}

/// Runs one check script; returns its checks (name, ok, detail).
async fn run(
    python: &Path,
    script: &str,
    endpoint: &str,
    token: &str,
    ca: Option<&Path>,
    extra: &[(&str, &str)],
) -> Vec<(String, Option<bool>, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python_clients").join(script);
    let mut command = tokio::process::Command::new(python);
    command
        .arg(&path)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", std::env::temp_dir())
        .env("POOL_ENDPOINT", endpoint)
        .env("POOL_TOKEN", token)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Some(ca) = ca {
        command.env("CA_BUNDLE", ca);
    }
    command.envs(extra.iter().copied());
    let output = tokio::time::timeout(Duration::from_secs(240), command.output()).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let checks: Vec<(String, Option<bool>, String)> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| (v["check"].as_str().unwrap_or("?").to_owned(), v["ok"].as_bool(), v["detail"].to_string()))
        .collect();
    assert!(
        !checks.is_empty(),
        "{script} reported nothing; exit {:?}, stderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    checks
}

fn assert_all_pass(script: &str, checks: &[(String, Option<bool>, String)]) {
    let failed: Vec<String> = checks
        .iter()
        .filter(|(_, ok, _)| *ok != Some(true))
        .map(|(name, ok, detail)| format!("{name} ({}): {detail}", if ok.is_none() { "skipped" } else { "failed" }))
        .collect();
    assert!(
        failed.is_empty(),
        "{script}: {} of {} checks did not pass:\n{}",
        failed.len(),
        checks.len(),
        failed.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_python_clients_pass_every_check() {
    let Some(python) = venv() else { return };
    let Some(https) = start(|c| c.tls = true).await else { return };
    let ca = https.emulator.emulator.ca_certificate().unwrap().to_path_buf();
    for script in ["langchain_check.py", "llamaindex_check.py", "semantic_kernel_check.py", "autogen_check.py"] {
        let checks = run(&python, script, &https.emulator.url(), https.emulator.token(), Some(&ca), &[]).await;
        assert!(checks.len() >= 8, "{script}: {checks:?}");
        assert_all_pass(script, &checks);
    }
    https.stop().await;

    let Some(http) = start(|_| {}).await else { return };
    let checks = run(&python, "langchain_check.py", &http.emulator.url(), http.emulator.token(), None, &[]).await;
    assert_all_pass("langchain_check.py over http", &checks);
    // Semantic Kernel refuses plain http itself (its settings type is an https URL).
    let checks = run(&python, "semantic_kernel_check.py", &http.emulator.url(), http.emulator.token(), None, &[]).await;
    assert!(checks.iter().any(|(name, ok, _)| name == "http_endpoint_rejected" && *ok == Some(true)), "{checks:?}");
    http.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_mcp_sdk_drives_the_pools_mcp_endpoints() {
    use dynamic_sessions_emulator::config::{ContainerType, PoolSpec};
    let Some(python) = venv() else { return };
    let Some(h) = start(|c| {
        c.mcp = true;
        c.pools = vec![PoolSpec { name: "sh".into(), container_type: ContainerType::Shell }];
    })
    .await
    else {
        return;
    };
    let key = h.emulator.emulator.mcp_api_key().unwrap();
    let endpoint = format!("{}/mcp", h.emulator.url());
    let shell = format!("{}/subscriptions/s/resourceGroups/g/sessionPools/sh/mcp", h.emulator.url());
    let checks = run(&python, "mcp_sdk_check.py", &endpoint, &key, None, &[("SHELL_ENDPOINT", shell.as_str())]).await;
    assert!(checks.len() >= 10, "{checks:?}");
    assert_all_pass("mcp_sdk_check.py", &checks);
    h.stop().await;
}
