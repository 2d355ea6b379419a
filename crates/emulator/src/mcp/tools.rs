//! The pool MCP server's tools, as the service names them: `launchShell` hands out an environment (a session
//! made on its first use), `runPythonCodeInRemoteEnvironment` and `runShellCommandInRemoteEnvironment` run in
//! one. Python pools offer all three, NodeLTS and Shell pools the shell tools.

use serde_json::{Map, Value, json};

use super::environments::{Environments, Lookup};
use super::jsonrpc::{INTERNAL_ERROR, RpcError};
use crate::config::{ContainerType, DEFAULT_OUTPUT_STREAMS_MAX_LENGTH, MAX_EXECUTION_TIMEOUT};
use crate::kernel::Flavor;
use crate::kernel::protocol::{ResultKind, RunResult, Work};
use crate::pool::{Job, SessionPool};

/// A tool of the pool's MCP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Launch,
    RunPython,
    RunShell,
}

/// Name, description and input schema of each tool, in the order they are listed.
fn definition(tool: Tool) -> (&'static str, &'static str, Value) {
    match tool {
        Tool::Launch => (
            "launchShell",
            "Creates a new environment and returns an `environmentId` (in structuredContent). The session behind \
             it is allocated on its first use and ends after the pool's cooldown without use.",
            json!({"type": "object", "properties": {}}),
        ),
        Tool::RunPython => (
            "runPythonCodeInRemoteEnvironment",
            "Executes Python code in an existing environment (state and /mnt/data persist between calls). The \
             output is in structuredContent.stdout and .stderr, the last expression's value in .result.",
            json!({
                "type": "object",
                "properties": {
                    "environmentId": {"type": "string", "description": "The id launchShell returned."},
                    "pythonCode": {"type": "string", "description": "The Python code to run."}
                },
                "required": ["environmentId", "pythonCode"]
            }),
        ),
        Tool::RunShell => (
            "runShellCommandInRemoteEnvironment",
            "Executes a shell command in an existing environment: `shellCommand` (a Bash command line) or \
             `execCommandAndArgs` (a program and its arguments, without a shell). The output is in \
             structuredContent.stdout and .stderr, the exit code in .exitCode.",
            json!({
                "type": "object",
                "properties": {
                    "environmentId": {"type": "string", "description": "The id launchShell returned."},
                    "shellCommand": {"type": "string", "description": "A Bash command line."},
                    "execCommandAndArgs": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "A program and its arguments, run without a shell."
                    }
                },
                "required": ["environmentId"]
            }),
        ),
    }
}

/// The tools a pool of `container_type` offers.
fn offered(container_type: ContainerType) -> &'static [Tool] {
    match container_type {
        ContainerType::PythonLts => &[Tool::Launch, Tool::RunPython, Tool::RunShell],
        _ => &[Tool::Launch, Tool::RunShell],
    }
}

/// The tool called `name` (the names earlier versions of the service used for `launchShell` too).
fn named(name: &str) -> Option<Tool> {
    match name {
        "launchShell" | "launchPythonEnvironment" | "launchShellEnvironment" => Some(Tool::Launch),
        "runPythonCodeInRemoteEnvironment" => Some(Tool::RunPython),
        "runShellCommandInRemoteEnvironment" => Some(Tool::RunShell),
        _ => None,
    }
}

/// `tools/list`'s result for a pool of `container_type`.
pub(crate) fn list(container_type: ContainerType) -> Value {
    let tools: Vec<Value> = offered(container_type)
        .iter()
        .map(|tool| {
            let (name, description, schema) = definition(*tool);
            json!({"name": name, "description": description, "inputSchema": schema})
        })
        .collect();
    json!({"tools": tools})
}

/// `tools/call` in `pool`.
pub(crate) async fn call(
    pool: &SessionPool,
    environments: &Environments,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let kind = &pool.kind().spec;
    let name = params.get("name").and_then(Value::as_str).unwrap_or_default();
    let names = || offered(kind.container_type).iter().map(|t| definition(*t).0).collect::<Vec<_>>().join(", ");
    let tool = named(name).filter(|t| offered(kind.container_type).contains(t)).ok_or_else(|| {
        RpcError::invalid_params(format!(
            "Unknown tool '{name}': the {} pool '{}' offers {}.",
            kind.container_type,
            kind.name,
            names()
        ))
    })?;
    let arguments = match params.get("arguments") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(arguments)) => arguments.clone(),
        Some(_) => return Err(RpcError::invalid_params("`arguments` must be an object.")),
    };
    if tool == Tool::Launch {
        let id = environments.launch(&kind.name);
        return Ok(json!({
            "content": [{"type": "text", "text": format!("Created environment {id}.")}],
            "structuredContent": {"environmentId": id},
            "isError": false
        }));
    }
    let environment = environment(pool, environments, &arguments)?;
    let work = match tool {
        Tool::RunPython => Work::Code(string(&arguments, "pythonCode")?.to_owned()),
        _ => shell_work(&arguments)?,
    };
    if let Some(why) = pool.kind().refuses(&work) {
        return Err(RpcError::new(INTERNAL_ERROR, why));
    }
    let session = pool.acquire(&environment).await.map_err(|e| RpcError::new(INTERNAL_ERROR, e.to_string()))?;
    environments.mark_used(&environment);
    let job = Job {
        work,
        flavor: Flavor::Preloaded,
        limit: MAX_EXECUTION_TIMEOUT,
        stream_limit: Some(DEFAULT_OUTPUT_STREAMS_MAX_LENGTH),
    };
    let result = pool
        .run(&session, job)
        .await
        .map_err(|e| RpcError::new(INTERNAL_ERROR, format!("The environment's kernel could not start: {e}")))?;
    Ok(run_result(&environment, &result))
}

/// The `environmentId` argument, checked against what `launchShell` handed out in this pool.
fn environment(
    pool: &SessionPool,
    environments: &Environments,
    arguments: &Map<String, Value>,
) -> Result<String, RpcError> {
    let id = string(arguments, "environmentId")?;
    let name = &pool.kind().spec.name;
    match environments.lookup(name, id, pool.contains(id), pool.config().cooldown) {
        Lookup::Known => Ok(id.to_owned()),
        Lookup::Expired => Err(RpcError::invalid_params(format!(
            "Environment '{id}' has expired: its session ended after {} seconds without use (the pool's cooldown). \
             Call launchShell to create a new environment.",
            pool.config().cooldown.as_secs()
        ))),
        Lookup::Unknown => Err(RpcError::invalid_params(format!(
            "Environment '{id}' was not found in the session pool '{name}'. Call launchShell to create an \
             environment and pass its environmentId."
        ))),
    }
}

fn string<'a>(arguments: &'a Map<String, Value>, name: &str) -> Result<&'a str, RpcError> {
    arguments
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| RpcError::invalid_params(format!("`{name}` is required: a non-empty string.")))
}

/// `shellCommand` or `execCommandAndArgs`, exactly one.
fn shell_work(arguments: &Map<String, Value>) -> Result<Work, RpcError> {
    let command = arguments.get("shellCommand").and_then(Value::as_str).filter(|s| !s.trim().is_empty());
    let argv = arguments.get("execCommandAndArgs").filter(|v| !v.is_null());
    match (command, argv) {
        (Some(command), None) => Ok(Work::Shell { command: command.to_owned(), stdin: None }),
        (None, Some(Value::Array(items))) if !items.is_empty() => {
            let argv: Option<Vec<String>> = items.iter().map(|v| v.as_str().map(str::to_owned)).collect();
            argv.map(|argv| Work::Exec { argv, stdin: None }).ok_or_else(|| {
                RpcError::invalid_params("`execCommandAndArgs` must be a list of strings, the program first.")
            })
        }
        (Some(_), Some(_)) => Err(RpcError::invalid_params("Give `shellCommand` or `execCommandAndArgs`, not both.")),
        _ => Err(RpcError::invalid_params(
            "No command: give `shellCommand` (a command line) or `execCommandAndArgs` (a program and its arguments).",
        )),
    }
}

/// A run's answer: the text for clients that read only text, `structuredContent` with every field, and the
/// figures as images.
fn run_result(environment: &str, r: &RunResult) -> Value {
    let status = if r.succeeded { "Succeeded" } else { "Failed" };
    let value = match r.kind {
        ResultKind::None => Value::Null,
        ResultKind::NonFinite | ResultKind::Json | ResultKind::Repr => r.value.clone(),
    };
    let mut structured = json!({
        "environmentId": environment,
        "status": status,
        "stdout": r.stdout,
        "stderr": r.stderr,
        "executionTimeInMilliseconds": r.duration_ms.round() as u64,
    });
    if let Some(obj) = structured.as_object_mut() {
        if r.shell {
            obj.insert("exitCode".into(), json!(r.exit_code));
        } else {
            obj.insert("result".into(), value.clone());
        }
    }
    let mut text = r.stdout.clone();
    if !r.stderr.is_empty() {
        text.push_str(&format!("{}stderr:\n{}", if text.is_empty() { "" } else { "\n" }, r.stderr));
    }
    if let Some(repr) = r.repr.as_ref().filter(|_| r.kind != ResultKind::None) {
        text.push_str(&format!("{}result: {repr}", if text.is_empty() { "" } else { "\n" }));
    }
    if r.shell && !r.succeeded {
        text.push_str(&format!("\nexit code: {}", r.exit_code.map_or("none".into(), |c| c.to_string())));
    }
    let mut content = vec![json!({"type": "text", "text": text})];
    content.extend(r.images.iter().filter_map(|image| {
        let data = image.get("base64_data")?.as_str()?;
        Some(json!({"type": "image", "data": data, "mimeType": "image/png"}))
    }));
    json!({"content": content, "structuredContent": structured, "isError": !r.succeeded})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_pools_offer_three_tools_the_others_the_shell_ones() {
        let names = |t: ContainerType| -> Vec<String> {
            list(t)["tools"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["name"].as_str().map(str::to_owned))
                .collect()
        };
        assert_eq!(
            names(ContainerType::PythonLts),
            ["launchShell", "runPythonCodeInRemoteEnvironment", "runShellCommandInRemoteEnvironment"]
        );
        assert_eq!(names(ContainerType::Shell), ["launchShell", "runShellCommandInRemoteEnvironment"]);
        assert_eq!(names(ContainerType::NodeLts), ["launchShell", "runShellCommandInRemoteEnvironment"]);
        for alias in ["launchPythonEnvironment", "launchShellEnvironment"] {
            assert_eq!(named(alias), Some(Tool::Launch));
        }
    }

    #[test]
    fn shell_arguments_are_one_command_or_one_argument_list() {
        let args = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert!(matches!(shell_work(&args(json!({"shellCommand": "ls"}))), Ok(Work::Shell { .. })));
        assert!(matches!(shell_work(&args(json!({"execCommandAndArgs": ["ls", "-l"]}))), Ok(Work::Exec { .. })));
        for bad in [
            json!({}),
            json!({"shellCommand": "ls", "execCommandAndArgs": ["ls"]}),
            json!({"execCommandAndArgs": []}),
            json!({"execCommandAndArgs": [1]}),
        ] {
            assert!(shell_work(&args(bad.clone())).is_err(), "{bad}");
        }
    }
}
