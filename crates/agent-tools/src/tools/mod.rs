//! The one list of tools: [`Tool`]. Its names, descriptions and argument schemas, the parsing of a model's
//! arguments into a typed [`ToolCall`], and so the rig tools, the MCP server's tools, the OpenAI function
//! schemas and the names the turn policy steers by all come from the table below.
//!
//! Adding a tool is a line of that table (its variant, name, argument type and description) and its handler
//! in [`CodeInterpreter::invoke_call`](crate::CodeInterpreter::invoke_call).

mod args;
mod descriptions;

pub use args::{
    DownloadArgs, ListFilesArgs, ReadFileArgs, ResetArgs, RunJavascriptArgs, RunPythonArgs, RunShellArgs, SendFileArgs,
    UploadArgs,
};
pub use dynamic_sessions::PoolKind;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

/// Declares [`Tool`], [`ToolCall`] and what each tool is, from one table.
macro_rules! tools {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $args:ty, $description:expr; )*) => {
        /// A tool a model can call.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Tool {
            $( $(#[$doc])* $variant, )*
        }

        /// A call of a tool, its arguments parsed.
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum ToolCall {
            $( $(#[$doc])* $variant($args), )*
        }

        impl Tool {
            /// Every tool, in the order they are offered.
            pub const ALL: &'static [Tool] = &[ $( Tool::$variant, )* ];

            /// The name the model calls it by.
            pub fn name(self) -> &'static str {
                match self { $( Tool::$variant => $name, )* }
            }

            /// What it does, for the model.
            pub fn description(self) -> &'static str {
                match self { $( Tool::$variant => $description, )* }
            }

            /// The JSON Schema of its arguments, in the form function-calling APIs take.
            pub fn parameters(self) -> Value {
                match self { $( Tool::$variant => parameters_schema::<$args>(), )* }
            }

            /// `arguments` as this tool reads them; the error says what is wrong, for the model.
            ///
            /// # Errors
            /// The arguments do not fit the tool's argument type.
            pub fn parse(self, arguments: &Map<String, Value>) -> Result<ToolCall, String> {
                match self { $( Tool::$variant => parse::<$args>(self.name(), arguments).map(ToolCall::$variant), )* }
            }
        }

        impl ToolCall {
            /// The tool called.
            pub fn tool(&self) -> Tool {
                match self { $( ToolCall::$variant(_) => Tool::$variant, )* }
            }

            /// The arguments as the tool reads them (unknown fields dropped, defaults filled), so that two
            /// spellings of one call compare equal.
            pub fn canonical_arguments(&self) -> Value {
                match self { $( ToolCall::$variant(args) => serde_json::to_value(args).unwrap_or(Value::Null), )* }
            }
        }
    };
}

tools! {
    /// `run_python`: runs Python in the session's kernel (`PythonLTS` pools).
    RunPython = "run_python", RunPythonArgs, descriptions::RUN_PYTHON;
    /// `run_javascript`: runs JavaScript in the session's Node.js kernel (`NodeLTS` pools).
    RunJavascript = "run_javascript", RunJavascriptArgs, descriptions::RUN_JAVASCRIPT;
    /// `run_shell`: a Bash command in the session (the main tool of `Shell` pools; elsewhere offered only
    /// when the interpreter's options enable it).
    RunShell = "run_shell", RunShellArgs, descriptions::RUN_SHELL;
    /// `list_files`: the session's files.
    ListFiles = "list_files", ListFilesArgs, descriptions::LIST_FILES;
    /// `read_file`: the head of a text file.
    ReadFile = "read_file", ReadFileArgs, descriptions::READ_FILE;
    /// `send_file_to_user`: hands a file to the application as an artifact.
    SendFileToUser = "send_file_to_user", SendFileArgs, descriptions::SEND_FILE;
    /// `reset_session`: a fresh session.
    ResetSession = "reset_session", ResetArgs, descriptions::RESET_SESSION;
    /// `upload_file`: a file into the session (MCP only: in an agent, uploading is the application's).
    UploadFile = "upload_file", UploadArgs, descriptions::UPLOAD_FILE;
    /// `download_file`: a file out of the session (MCP only).
    DownloadFile = "download_file", DownloadArgs, descriptions::DOWNLOAD_FILE;
}

impl Tool {
    /// The tool named `name`.
    pub fn from_name(name: &str) -> Option<Tool> {
        Tool::ALL.iter().copied().find(|tool| tool.name() == name)
    }

    /// Whether the tool is offered to a model in an agent (upload and download are MCP clients' actions).
    pub fn for_agents(self) -> bool {
        !matches!(self, Tool::UploadFile | Tool::DownloadFile)
    }

    /// This tool's definition.
    pub fn spec(self) -> ToolSpec {
        ToolSpec { name: self.name(), description: self.description(), parameters: self.parameters() }
    }
}

/// Parses `arguments` as `T`; the error tells the model what to do.
fn parse<T: DeserializeOwned>(name: &str, arguments: &Map<String, Value>) -> Result<T, String> {
    serde_json::from_value(Value::Object(arguments.clone()))
        .map_err(|e| format!("the arguments for {name} are not usable ({e}); call {name} again with valid arguments"))
}

/// `arguments` of the tool `name` as the tool reads them (see [`ToolCall::canonical_arguments`]); `None`
/// for an unknown tool or arguments that do not parse.
pub fn canonical_arguments(name: &str, arguments: &Map<String, Value>) -> Option<Value> {
    Tool::from_name(name)?.parse(arguments).ok().map(|call| call.canonical_arguments())
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

impl Tool {
    /// The tool that runs code in a pool of `kind`: `run_python`, `run_javascript`, or `run_shell` in a
    /// `Shell` pool (a pool of unknown kind is taken for Python, the service's default).
    pub fn main_for(kind: PoolKind) -> Tool {
        match kind {
            PoolKind::JavaScript => Tool::RunJavascript,
            PoolKind::Shell => Tool::RunShell,
            _ => Tool::RunPython,
        }
    }

    /// Whether the tool runs code or commands in the session (and so has an execution report).
    pub fn runs_code(self) -> bool {
        matches!(self, Tool::RunPython | Tool::RunJavascript | Tool::RunShell)
    }

    /// For a tool that runs code: the argument holding the code, what the code is called in a sentence, and
    /// the language of a Markdown fence around it.
    pub fn code_parts(self) -> Option<(&'static str, &'static str, &'static str)> {
        match self {
            Tool::RunPython => Some(("code", "Python code", "python")),
            Tool::RunJavascript => Some(("code", "JavaScript code", "javascript")),
            Tool::RunShell => Some(("command", "shell command", "sh")),
            _ => None,
        }
    }
}

/// The tools a model in an agent is offered for a pool of `kind`: its main tool first ([`Tool::main_for`]),
/// then list files, read a file's head, send a file to the user, reset; `run_shell` beside the code tool
/// when `shell` is true.
pub fn agent_tools(kind: PoolKind, shell: bool) -> Vec<Tool> {
    let main = Tool::main_for(kind);
    let extra_shell = (shell && main != Tool::RunShell).then_some(Tool::RunShell);
    let others = Tool::ALL.iter().copied().filter(|t| t.for_agents() && !t.runs_code());
    std::iter::once(main).chain(extra_shell).chain(others).collect()
}

/// The model-facing tools of a Python pool: run Python, list files, read a file's head, send a file to the
/// user, reset.
pub fn tool_specs() -> Vec<ToolSpec> {
    tool_specs_for(PoolKind::Python, false)
}

/// The model-facing tools of a pool of `kind` ([`agent_tools`]).
pub fn tool_specs_for(kind: PoolKind, shell: bool) -> Vec<ToolSpec> {
    agent_tools(kind, shell).into_iter().map(Tool::spec).collect()
}

/// The tools of a Python pool as OpenAI function-calling definitions
/// (`[{"type":"function","function":{...}}]`), for agent frameworks this crate does not integrate with
/// directly.
pub fn openai_tools() -> Value {
    openai_tools_for(PoolKind::Python, false)
}

/// [`openai_tools`] for a pool of `kind` ([`agent_tools`]).
pub fn openai_tools_for(kind: PoolKind, shell: bool) -> Value {
    Value::Array(
        tool_specs_for(kind, shell)
            .into_iter()
            .map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn every_tool_is_found_by_its_name_and_parses_its_own_arguments() {
        for tool in Tool::ALL {
            assert_eq!(Tool::from_name(tool.name()), Some(*tool));
            assert_eq!(tool.parameters()["type"], "object", "{tool:?}");
            assert!(tool.description().len() > 40, "{tool:?}");
        }
        let call = Tool::RunPython.parse(&map(json!({"code": "1+1"})));
        assert_eq!(call, Ok(ToolCall::RunPython(RunPythonArgs { code: "1+1".into() })));
        assert_eq!(call.map(|c| c.tool()), Ok(Tool::RunPython));
        assert!(Tool::ReadFile.parse(&map(json!({}))).is_err_and(|e| e.contains("call read_file again")));
        assert_eq!(Tool::from_name("no_such_tool"), None);
    }

    #[test]
    fn canonical_arguments_ignore_spelling_and_reject_unusable_ones() {
        let a = canonical_arguments("run_python", &map(json!({"code": "1+1", "extra": true})));
        let b = canonical_arguments("run_python", &map(json!({"code": "1+1"})));
        assert_eq!(a, b);
        assert!(a.is_some());
        assert_eq!(canonical_arguments("run_python", &map(json!({"cod": "1+1"}))), None);
        assert_eq!(canonical_arguments("no_such_tool", &map(json!({}))), None);
        assert_eq!(
            canonical_arguments("list_files", &map(json!({}))),
            canonical_arguments("list_files", &map(json!({"path": null})))
        );
    }

    #[test]
    fn agents_are_offered_the_pools_code_tool_first_then_the_file_tools_and_the_shell_on_request() {
        let names = |tools: Vec<Tool>| tools.into_iter().map(Tool::name).collect::<Vec<_>>();
        let files = ["list_files", "read_file", "send_file_to_user", "reset_session"];
        let with = |first: &[&'static str]| first.iter().copied().chain(files).collect::<Vec<_>>();
        assert_eq!(names(agent_tools(PoolKind::Python, false)), with(&["run_python"]));
        assert_eq!(names(agent_tools(PoolKind::Python, true)), with(&["run_python", "run_shell"]));
        assert_eq!(names(agent_tools(PoolKind::JavaScript, false)), with(&["run_javascript"]));
        assert_eq!(names(agent_tools(PoolKind::JavaScript, true)), with(&["run_javascript", "run_shell"]));
        assert_eq!(names(agent_tools(PoolKind::Shell, false)), with(&["run_shell"]));
        assert_eq!(names(agent_tools(PoolKind::Shell, true)), with(&["run_shell"]), "no second shell");
        assert_eq!(names(agent_tools(PoolKind::Other, false)), with(&["run_python"]));
    }
}
