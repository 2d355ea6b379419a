//! What went wrong, in words a person understands, and the exit code scripts read:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done |
//! | 1 | the code failed (an exception) or the command exited non-zero (`shell` passes its exit code through) |
//! | 2 | the command line or the local setup is wrong |
//! | 3 | the pool refused or could not be reached |
//! | 4 | what was asked for does not exist (a file, a session) |
//! | 124 | the time limit passed |

use std::process::ExitCode;

use dynamic_sessions::Error;

/// A failure of a command.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) message: String,
    pub(crate) code: u8,
}

/// The exit code of a failed execution.
pub(crate) const CODE_FAILED: u8 = 1;
const USAGE: u8 = 2;
const SERVICE: u8 = 3;
const NOT_FOUND: u8 = 4;
/// The exit code of a time limit passed (as `timeout(1)` says it).
pub(crate) const TIMED_OUT: u8 = 124;

impl Failure {
    pub(crate) fn usage(message: impl Into<String>) -> Failure {
        Failure { message: message.into(), code: USAGE }
    }

    pub(crate) fn local(message: impl Into<String>) -> Failure {
        Failure { message: message.into(), code: USAGE }
    }

    /// Says the failure on stderr (one JSON document on stdout with `--json`) and gives its exit code.
    pub(crate) fn report(self, json: bool) -> ExitCode {
        if json {
            crate::output::println(
                &serde_json::json!({"error": {"message": self.message, "exitCode": self.code}}).to_string(),
            );
        } else {
            eprintln!("dyns: {}", self.message);
        }
        ExitCode::from(self.code)
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        let (message, code) = match &e {
            Error::Transport { sent: false, .. } => (
                format!(
                    "{e}: the pool could not be reached. Is the endpoint right, and (for a local emulator) is it \
                     running? Start one with: cargo run --release -p dynamic-sessions-emulator"
                ),
                SERVICE,
            ),
            Error::Unauthorized(_) => (
                format!(
                    "{e}. Sign in with `az login` (or set the AZURE_* variables), or for an emulator set \
                     DYNAMIC_SESSIONS_TOKEN to its token."
                ),
                SERVICE,
            ),
            Error::Forbidden(_) => (
                format!(
                    "{e}. Assign it with: az role assignment create --role \"Azure ContainerApps Session Executor\" \
                     --assignee <your object id> --scope <the session pool's resource id>"
                ),
                SERVICE,
            ),
            Error::PoolFull(_) => (format!("{e} (dyns sessions ls, then dyns sessions rm ID)"), SERVICE),
            Error::NotFound(_) => (format!("{e}"), NOT_FOUND),
            Error::Timeout { .. } => (format!("{e}"), TIMED_OUT),
            Error::InvalidInput { .. } | Error::Config { .. } | Error::MissingEnv { .. } | Error::Io { .. } => {
                (format!("{e}"), USAGE)
            }
            _ => (format!("{e}"), SERVICE),
        };
        Failure { message, code }
    }
}
