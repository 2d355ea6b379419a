//! The command line: every command and option.

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};
use clap_complete::Shell;

/// A command line for session pools (Azure Container Apps dynamic sessions) and the local emulator: run code
/// and shell commands, open a REPL, move files, manage sessions.
#[derive(Debug, Parser)]
#[command(name = "dyns", version, about)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) pool: PoolArgs,
    /// Print one JSON document (stable field names) instead of text, for scripts.
    #[arg(global = true, long)]
    pub(crate) json: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Which pool, and how to reach it.
#[derive(Debug, Args)]
pub(crate) struct PoolArgs {
    /// The pool management endpoint (for the emulator: http://127.0.0.1:8484). Entra ID comes from the
    /// environment as for the client (az login works); an emulator's token from DYNAMIC_SESSIONS_TOKEN.
    #[arg(global = true, long, env = "POOL_MANAGEMENT_ENDPOINT")]
    pub(crate) endpoint: Option<String>,
    /// The data-plane api-version (default: the client's, 2025-10-02-preview).
    #[arg(global = true, long, env = "DYNAMIC_SESSIONS_API_VERSION")]
    pub(crate) api_version: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run code in a session (from an argument, --file, or stdin with `-`).
    Exec(ExecArgs),
    /// Run a shell command line (or, after `--`, a program and its arguments) in a session.
    Shell(ShellArgs),
    /// An interactive, stateful session: cells run as you write them.
    Repl(ReplArgs),
    /// A session's files in /mnt/data.
    #[command(subcommand)]
    Files(FilesCommand),
    /// The pool's sessions.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// The pool itself.
    #[command(subcommand)]
    Pool(PoolCommand),
    /// Print a completion script for a shell (for example: dyns completions bash > ~/.local/share/bash-completion/completions/dyns).
    Completions {
        /// The shell.
        shell: Shell,
    },
}

/// The session a command runs in.
#[derive(Debug, Args)]
pub(crate) struct SessionArg {
    /// The session identifier (default: a new random one, printed on stderr).
    #[arg(long, short)]
    pub(crate) session: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ExecArgs {
    /// The code; `-` (or nothing with --file absent) reads it from stdin.
    pub(crate) code: Option<String>,
    /// Read the code from this file.
    #[arg(long, short, conflicts_with = "code")]
    pub(crate) file: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) session: SessionArg,
    /// The execution's time limit in seconds (at most 220).
    #[arg(long, short)]
    pub(crate) timeout: Option<u64>,
    /// Where images the code draws are saved (default: the current directory).
    #[arg(long, default_value = ".")]
    pub(crate) out_dir: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct ShellArgs {
    /// The command line (run with Bash; several words are joined with spaces), or with --exec a program and its
    /// arguments (put `--` before them when they start with `-`).
    #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub(crate) command: Vec<String>,
    /// Run the words as a program and its arguments, without a shell (execCommandAndArgs). Without it, the
    /// words are one command line for Bash.
    #[arg(long)]
    pub(crate) exec: bool,
    /// Feed this program's standard input to the command.
    #[arg(long)]
    pub(crate) stdin: bool,
    #[command(flatten)]
    pub(crate) session: SessionArg,
    /// The command's time limit in seconds.
    #[arg(long, short)]
    pub(crate) timeout: Option<u64>,
}

#[derive(Debug, Args)]
pub(crate) struct ReplArgs {
    #[command(flatten)]
    pub(crate) session: SessionArg,
    /// Where charts are saved (default: the current directory).
    #[arg(long, default_value = ".")]
    pub(crate) out_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub(crate) enum FilesCommand {
    /// List files (and directories) under PATH.
    Ls {
        /// A directory under /mnt/data (default: /mnt/data).
        path: Option<String>,
        /// Everything below it too.
        #[arg(long, short)]
        recursive: bool,
        #[command(flatten)]
        session: SessionArg,
    },
    /// Upload LOCAL to REMOTE (default: its name in /mnt/data), streamed.
    Put {
        /// The local file.
        local: PathBuf,
        /// Where in /mnt/data.
        remote: Option<String>,
        #[command(flatten)]
        session: SessionArg,
    },
    /// Download REMOTE to LOCAL (default: its name in the current directory; `-` for stdout), streamed.
    Get {
        /// The file in /mnt/data.
        remote: String,
        /// Where to write it.
        local: Option<PathBuf>,
        #[command(flatten)]
        session: SessionArg,
    },
    /// Delete a file.
    Rm {
        /// The file in /mnt/data.
        remote: String,
        #[command(flatten)]
        session: SessionArg,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum SessionsCommand {
    /// List the pool's sessions.
    Ls,
    /// One session: when it was made, last used, and expires.
    Show {
        /// The session identifier.
        id: String,
    },
    /// Delete a session and its files.
    Rm {
        /// The session identifier.
        id: String,
    },
    /// Stop a session (custom-container pools; the emulator too).
    Stop {
        /// The session identifier.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum PoolCommand {
    /// What the pool runs: its runtimes, packages and kernel (the pool's metadata).
    Info,
}

/// Prints the completion script for `shell` on stdout.
pub(crate) fn completions(shell: Shell) {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "dyns", &mut std::io::stdout());
}
