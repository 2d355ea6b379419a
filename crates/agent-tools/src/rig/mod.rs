//! The tools for [rig](https://docs.rs/rig-core) 0.44 (`rig_core::tool::Tool`), an agent builder, and
//! [`ChatAgent`]: a conversation turn by turn as typed [`TurnEvent`](crate::turn::TurnEvent)s, so an
//! application needs no rig types.
//!
//! All rig glue lives in this module: rig's tool API changes with its minor releases.

mod chat;
mod hooks;
mod model;
mod steps;
mod tools;

pub use chat::{ChatAgent, History};
pub use model::{AzureAuth, ModelConfig, ModelError, env as model_env};
pub use tools::tools;

use rig_agent::agent::{Agent, AgentBuilder};
use rig_core::DynModel;
use rig_core::operation::Completion;

use crate::interpreter::CodeInterpreter;

/// What the agent is told about its tools and its session.
pub const DEFAULT_PREAMBLE: &str = "You are a data analyst with a sandboxed, stateful Python session (tool run_python). \
The user's uploaded files are in /mnt/data; save every file you create there. There is no network access and pip \
install does not work; numpy, pandas and matplotlib are available. Inspect files before analysing them. Charts: draw \
them with matplotlib; the image is shown to you and to the user automatically. When the user needs a file you made, \
call send_file_to_user. If a run fails, read the traceback and fix the code. Answer concisely.";

/// Model turns per prompt: enough for a few tool calls and corrections, bounded so a confused model stops.
pub const DEFAULT_MAX_TURNS: usize = 12;

/// An agent builder with the interpreter's tools ([`tools`]: five, six with `run_shell` when its options
/// enable it), the default preamble and [`DEFAULT_MAX_TURNS`].
pub fn agent_builder(
    model: impl Into<DynModel<Completion>>,
    interpreter: &CodeInterpreter,
) -> AgentBuilder<rig_agent::agent::WithBuilderTools> {
    AgentBuilder::new(model)
        .preamble(DEFAULT_PREAMBLE)
        .default_max_turns(DEFAULT_MAX_TURNS)
        .dynamic_tools(tools(interpreter))
}

/// An agent on `config`'s model with the tools on `interpreter`.
///
/// # Errors
/// [`ModelError`] when the model client cannot be built.
pub fn build_agent(config: &ModelConfig, interpreter: &CodeInterpreter) -> Result<Agent, ModelError> {
    Ok(agent_builder(config.completion_model()?, interpreter).build())
}
