//! The tools' typed arguments: what a model's call must carry, with the JSON Schema each derives.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `run_python` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct RunPythonArgs {
    /// The Python code to run. Plain code, no Markdown fences needed.
    pub code: String,
}

/// `run_javascript` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct RunJavascriptArgs {
    /// The JavaScript code to run (Node.js). Plain code, no Markdown fences needed.
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

/// `upload_file` arguments (MCP only: uploading is an application action in an agent).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct UploadArgs {
    /// Where to put the file, relative to /mnt/data or absolute under it.
    pub path: String,
    /// The content as text (UTF-8). Give this or `content_base64`.
    #[serde(default)]
    pub content: Option<String>,
    /// The content, base64-encoded (for binary files).
    #[serde(default)]
    pub content_base64: Option<String>,
}

/// `download_file` arguments (MCP only).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct DownloadArgs {
    /// The file, relative to /mnt/data or absolute under it.
    pub path: String,
}
