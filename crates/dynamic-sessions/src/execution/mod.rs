//! Running code and shell commands in a session.

mod builder;
mod model;
mod shell;
mod submit;

use std::time::Duration;

pub use builder::{ExecuteBuilder, JupyterFlag};
pub use model::{Execution, ExecutionError, ExecutionStatus, Image};
pub use shell::{MAX_SHELL_TIMEOUT, ShellBuilder, ShellExecution};

pub(crate) use builder::checked;
pub(crate) use submit::get as get_execution;

/// The service's ceiling on one execution: 220 seconds.
pub const MAX_EXECUTION_TIMEOUT: Duration = Duration::from_secs(220);

/// The service's default `outputStreamsMaxLength` (2025-10-02-preview and later): stdout and stderr are each
/// cut at 4,096 characters unless the request asks for more.
pub const DEFAULT_OUTPUT_STREAMS_MAX_LENGTH: usize = 4096;
