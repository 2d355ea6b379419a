//! What each tool does, written for a model.

/// `run_python`.
pub(crate) const RUN_PYTHON: &str = "Run Python code in a persistent, sandboxed Jupyter-like session with no network access. \
Variables, imports and files persist between calls. Files live in /mnt/data (uploaded files are there; save outputs \
there). The value of the last line, if it is an expression, is returned as the result (do not use `return` \
outside a function); print() output is returned as stdout. \
numpy, pandas, matplotlib and other common packages are usually installed; pip install does not work. \
Charts: draw with matplotlib; figures are returned as images automatically. If status is Failed, read stderr \
and fix the code. Executions stop after a time limit.";
/// `list_files`.
pub(crate) const LIST_FILES: &str =
    "List the files in the session's /mnt/data directory (or a subdirectory), with sizes and modification times.";
/// `read_file`.
pub(crate) const READ_FILE: &str = "Show the beginning of a text file in /mnt/data (for a quick look at its format). For analysis, load the file with Python instead.";
/// `send_file_to_user`.
pub(crate) const SEND_FILE: &str = "Offer a file from /mnt/data to the user as a download. Use it when the user asks for a file or when you created a file they need; the user cannot see /mnt/data otherwise.";
/// `run_shell`.
pub(crate) const RUN_SHELL: &str = "Run a Bash command in the same sandboxed session as run_python (same /mnt/data, \
no network). Use it for quick file operations and command-line tools (ls, head, wc, grep, unzip). The exit code, \
stdout and stderr are returned. For data analysis use run_python.";
/// `reset_session`.
pub(crate) const RESET_SESSION: &str = "Reset the Python session: all variables, imports and files in /mnt/data are deleted. Only use it when the user asks for a fresh start or the session is broken.";
/// `upload_file` (MCP only).
pub(crate) const UPLOAD_FILE: &str =
    "Put a file into the session's /mnt/data (text, or base64 for binary content), for the code to use.";
/// `download_file` (MCP only).
pub(crate) const DOWNLOAD_FILE: &str =
    "Return a file from /mnt/data as an embedded resource (text, or base64 for binary files).";
