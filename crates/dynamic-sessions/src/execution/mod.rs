//! Running code in a session.

mod builder;
mod model;

use std::time::Duration;

pub use builder::ExecuteBuilder;
pub use model::{Execution, ExecutionError, ExecutionStatus, Image};

/// The service's ceiling on one execution: 220 seconds.
pub const MAX_EXECUTION_TIMEOUT: Duration = Duration::from_secs(220);
