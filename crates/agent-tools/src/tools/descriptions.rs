//! What each tool does, written for a model.

/// `run_python`.
pub(crate) const RUN_PYTHON: &str = "Run Python code in a persistent, sandboxed Jupyter-like session with no network access. \
Variables, imports and files persist between calls. Files live in /mnt/data (uploaded files are there; save outputs \
there). The value of the last line, if it is an expression, is returned as the result (do not use `return` \
outside a function); print() output is returned as stdout. \
numpy, pandas, matplotlib and other common packages are usually installed; pip install does not work. \
Charts: draw with matplotlib; figures are returned as images automatically. If status is Failed, read stderr \
and fix the code. Executions stop after a time limit.";
/// `run_javascript`.
pub(crate) const RUN_JAVASCRIPT: &str = "Run JavaScript (Node.js) code in a persistent, sandboxed notebook-like \
session with no network access. Top-level variables, functions and files persist between calls. Files live in \
/mnt/data (uploaded files are there; save outputs there with require('fs')). The value of the last expression is \
returned as the result; console.log() output is returned as stdout. Top-level await works. require() works for \
Node's standard library and a few installed packages (lodash, papaparse, date-fns, mathjs, simple-statistics); npm \
install does not work. If status is Failed, read stderr and fix the code. Executions stop after a time limit.";
/// `list_files`.
pub(crate) const LIST_FILES: &str =
    "List the files in the session's /mnt/data directory (or a subdirectory), with sizes and modification times.";
/// `read_file`.
pub(crate) const READ_FILE: &str = "Show the beginning of a text file in /mnt/data (for a quick look at its format). For analysis, load the file in code instead.";
/// `send_file_to_user`.
pub(crate) const SEND_FILE: &str = "Offer a file from /mnt/data to the user as a download. Use it when the user asks for a file or when you created a file they need; the user cannot see /mnt/data otherwise.";
/// `run_shell`.
pub(crate) const RUN_SHELL: &str = "Run a Bash command line in the sandboxed session (files in /mnt/data, the \
working directory; no network). Use it for file operations and command-line tools (ls, head, wc, grep, sort, awk, \
unzip). Each call is a fresh shell: variables and cd do not carry over, files do. The exit code, stdout and \
stderr are returned; a non-zero exit code means the command failed.";
/// `reset_session`.
pub(crate) const RESET_SESSION: &str = "Reset the session: all variables, imports and files in /mnt/data are deleted. Only use it when the user asks for a fresh start or the session is broken.";
/// `upload_file` (MCP only).
pub(crate) const UPLOAD_FILE: &str =
    "Put a file into the session's /mnt/data (text, or base64 for binary content), for the code to use.";
/// `download_file` (MCP only).
pub(crate) const DOWNLOAD_FILE: &str =
    "Return a file from /mnt/data as an embedded resource (text, or base64 for binary files).";
