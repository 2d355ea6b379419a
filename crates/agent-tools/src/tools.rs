//! The tools' names, descriptions and typed arguments, and their JSON Schemas.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// `run_python` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct RunPythonArgs {
    /// The Python code to run. Plain code, no Markdown fences needed.
    pub code: String,
}

/// `list_files` arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct ListFilesArgs {
    /// Directory to list, relative to /mnt/data or absolute under it. Default: /mnt/data.
    #[serde(default)]
    pub path: Option<String>,
    /// Also list everything in subdirectories.
    #[serde(default)]
    pub recursive: Option<bool>,
}

/// `read_file` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct ReadFileArgs {
    /// The file, relative to /mnt/data or absolute under it.
    pub path: String,
    /// How many bytes to show from the start of the file (default 8192, at most 1048576).
    #[serde(default)]
    pub max_bytes: Option<u32>,
}

/// `send_file_to_user` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct SendFileArgs {
    /// The file to offer for download, relative to /mnt/data or absolute under it.
    pub path: String,
    /// One sentence for the user about what the file contains.
    #[serde(default)]
    pub description: Option<String>,
}

/// `run_shell` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct RunShellArgs {
    /// The Bash command line to run, e.g. `ls -la /mnt/data` or `wc -l /mnt/data/data.csv`.
    pub command: String,
    /// Text to feed to the command's standard input.
    #[serde(default)]
    pub stdin: Option<String>,
}

/// `reset_session` takes no arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct ResetArgs {}

/// Tool names.
pub mod names {
    /// Runs Python.
    pub const RUN_PYTHON: &str = "run_python";
    /// Lists files.
    pub const LIST_FILES: &str = "list_files";
    /// Reads a text file's head.
    pub const READ_FILE: &str = "read_file";
    /// Hands a file to the user.
    pub const SEND_FILE: &str = "send_file_to_user";
    /// Resets the session.
    pub const RESET_SESSION: &str = "reset_session";
    /// Runs a shell command (offered only when enabled).
    pub const RUN_SHELL: &str = "run_shell";
}

/// Tool descriptions, written for a model.
pub mod descriptions {
    /// `run_python`.
    pub const RUN_PYTHON: &str = "Run Python code in a persistent, sandboxed Jupyter-like session with no network access. \
Variables, imports and files persist between calls. Files live in /mnt/data (uploaded files are there; save outputs \
there). The value of the last line, if it is an expression, is returned as the result (do not use `return` \
outside a function); print() output is returned as stdout. \
numpy, pandas, matplotlib and other common packages are usually installed; pip install does not work. \
Charts: draw with matplotlib; figures are returned as images automatically. If status is Failed, read stderr \
and fix the code. Executions stop after a time limit.";
    /// `list_files`.
    pub const LIST_FILES: &str =
        "List the files in the session's /mnt/data directory (or a subdirectory), with sizes and modification times.";
    /// `read_file`.
    pub const READ_FILE: &str = "Show the beginning of a text file in /mnt/data (for a quick look at its format). For analysis, load the file with Python instead.";
    /// `send_file_to_user`.
    pub const SEND_FILE: &str = "Offer a file from /mnt/data to the user as a download. Use it when the user asks for a file or when you created a file they need; the user cannot see /mnt/data otherwise.";
    /// `run_shell`.
    pub const RUN_SHELL: &str = "Run a Bash command in the same sandboxed session as run_python (same /mnt/data, \
no network). Use it for quick file operations and command-line tools (ls, head, wc, grep, unzip). The exit code, \
stdout and stderr are returned. For data analysis use run_python.";
    /// `reset_session`.
    pub const RESET_SESSION: &str = "Reset the Python session: all variables, imports and files in /mnt/data are deleted. Only use it when the user asks for a fresh start or the session is broken.";
}

/// The JSON Schema of a tool's arguments, in the form function-calling APIs take (an object schema, without
/// the `$schema` and `title` keys).
pub fn parameters_schema<T: JsonSchema>() -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(T)).unwrap_or_else(|_| json!({"type": "object"}));
    if let Some(obj) = schema.as_object_mut() {
        obj.remove("$schema");
        obj.remove("title");
        obj.entry("properties").or_insert_with(|| json!({}));
    }
    schema
}

/// One tool's definition.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// The name the model calls it by.
    pub name: &'static str,
    /// What it does, for the model.
    pub description: &'static str,
    /// The JSON Schema of its arguments.
    pub parameters: Value,
}

/// The model-facing tools: run Python, list files, read a file's head, send a file to the user, reset.
pub fn tool_specs() -> Vec<ToolSpec> {
    tool_specs_for(false)
}

/// [`tool_specs`], plus `run_shell` when `shell` is true.
pub fn tool_specs_for(shell: bool) -> Vec<ToolSpec> {
    let mut specs = python_tool_specs();
    if shell {
        specs.insert(
            1,
            ToolSpec {
                name: names::RUN_SHELL,
                description: descriptions::RUN_SHELL,
                parameters: parameters_schema::<RunShellArgs>(),
            },
        );
    }
    specs
}

fn python_tool_specs() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: names::RUN_PYTHON,
            description: descriptions::RUN_PYTHON,
            parameters: parameters_schema::<RunPythonArgs>(),
        },
        ToolSpec {
            name: names::LIST_FILES,
            description: descriptions::LIST_FILES,
            parameters: parameters_schema::<ListFilesArgs>(),
        },
        ToolSpec {
            name: names::READ_FILE,
            description: descriptions::READ_FILE,
            parameters: parameters_schema::<ReadFileArgs>(),
        },
        ToolSpec {
            name: names::SEND_FILE,
            description: descriptions::SEND_FILE,
            parameters: parameters_schema::<SendFileArgs>(),
        },
        ToolSpec {
            name: names::RESET_SESSION,
            description: descriptions::RESET_SESSION,
            parameters: parameters_schema::<ResetArgs>(),
        },
    ]
}

/// The tools as OpenAI function-calling definitions (`[{"type":"function","function":{...}}]`), for agent
/// frameworks this crate does not integrate with directly.
pub fn openai_tools() -> Value {
    openai_tools_for(false)
}

/// [`openai_tools`], plus `run_shell` when `shell` is true.
pub fn openai_tools_for(shell: bool) -> Value {
    Value::Array(
        tool_specs_for(shell)
            .into_iter()
            .map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}))
            .collect(),
    )
}
