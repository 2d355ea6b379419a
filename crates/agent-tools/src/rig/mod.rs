//! The tools for [rig](https://docs.rs/rig-core) 0.44 (`rig_core::tool::Tool`), an agent builder, and
//! [`ChatAgent`]: a conversation turn by turn as typed [`TurnEvent`](crate::turn::TurnEvent)s, so an
//! application needs no rig types.
//!
//! All rig glue lives in this module: rig's tool API changes with its minor releases.

mod chat;
mod hooks;
mod model;
mod prose;
mod steps;
mod tools;

pub use chat::{ChatAgent, History};
pub use model::{AzureAuth, ModelConfig, ModelError, env as model_env};
pub use tools::tools;

use rig_agent::agent::{Agent, AgentBuilder};
use rig_core::DynModel;
use rig_core::operation::Completion;

use crate::interpreter::CodeInterpreter;

/// What the agent is told about its tools and its session, in a Python pool.
pub const DEFAULT_PREAMBLE: &str = "You are a data analyst with a sandboxed, stateful Python session (tool run_python). \
The user's uploaded files are in /mnt/data; save every file you create there. There is no network access and pip \
install does not work; numpy, pandas and matplotlib are available. Inspect files before analysing them. Charts: draw \
them with matplotlib; the image is shown to you and to the user automatically. When the user needs a file you made, \
call send_file_to_user. If a run fails, read the traceback and fix the code. Answer concisely.";

/// What the agent is told in a JavaScript (`NodeLTS`) pool.
pub const JAVASCRIPT_PREAMBLE: &str = "You are a data analyst with a sandboxed, stateful JavaScript (Node.js) session \
(tool run_javascript). The user's uploaded files are in /mnt/data; read and write them with require('fs') and save \
every file you create there. There is no network access and npm install does not work; lodash, papaparse (CSV), \
date-fns, mathjs and simple-statistics can be required. Inspect files before analysing them. The value of the last \
expression is returned; top-level await works. When the user needs a file you made, call send_file_to_user. If a \
run fails, read the error and fix the code. Answer concisely.";

/// What the agent is told in a `Shell` pool.
pub const SHELL_PREAMBLE: &str = "You are a data analyst with a sandboxed Bash shell (tool run_shell). The user's \
uploaded files are in /mnt/data, the working directory; save every file you create there. There is no network \
access. Use the standard command-line tools (ls, head, wc, sort, uniq, cut, grep, awk, sed). Each command runs in \
a fresh shell; files persist. Inspect files before analysing them. When the user needs a file you made, call \
send_file_to_user. If a command fails, read stderr and fix it. Answer concisely.";

/// The preamble for a pool of `kind`.
pub fn preamble_for(kind: crate::PoolKind) -> &'static str {
    match crate::tools::Tool::main_for(kind) {
        crate::Tool::RunJavascript => JAVASCRIPT_PREAMBLE,
        crate::Tool::RunShell => SHELL_PREAMBLE,
        _ => DEFAULT_PREAMBLE,
    }
}

/// Model turns per prompt: enough for a few tool calls and corrections, bounded so a confused model stops.
pub const DEFAULT_MAX_TURNS: usize = 12;

/// An agent builder with the interpreter's tools ([`tools`]: five, six with `run_shell` when its options
/// enable it), the preamble of its pool ([`preamble_for`]) and [`DEFAULT_MAX_TURNS`].
pub fn agent_builder(
    model: impl Into<DynModel<Completion>>,
    interpreter: &CodeInterpreter,
) -> AgentBuilder<rig_agent::agent::WithBuilderTools> {
    AgentBuilder::new(model)
        .preamble(preamble_for(interpreter.options().pool))
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
