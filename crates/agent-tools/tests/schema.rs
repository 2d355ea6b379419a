//! Each tool's JSON Schema matches its argument type, and every integration advertises the same schemas.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dynamic_sessions_agent_tools::tools::{
    ListFilesArgs, ReadFileArgs, ResetArgs, RunJavascriptArgs, RunPythonArgs, RunShellArgs, SendFileArgs,
};
use dynamic_sessions_agent_tools::{PoolKind, tool_specs, tool_specs_for};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

/// A value of the schema's type.
fn sample(schema: &Value) -> Value {
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    match types.iter().find(|t| **t != "null") {
        Some(&"string") => json!("x"),
        Some(&"boolean") => json!(true),
        Some(&"integer") => json!(7),
        Some(&"number") => json!(1.5),
        Some(&"object") => json!({}),
        other => panic!("unexpected schema type {other:?} in {schema}"),
    }
}

/// Checks a schema against `T`: an instance with every property parses, an instance missing any required
/// property does not, and the expected fields are there.
fn check<T: DeserializeOwned + std::fmt::Debug>(name: &str, properties: &[&str], required: &[&str]) {
    let all = [PoolKind::Python, PoolKind::JavaScript].into_iter().flat_map(|kind| tool_specs_for(kind, true));
    let spec = all.into_iter().find(|s| s.name == name).unwrap();
    let schema = &spec.parameters;
    assert_eq!(schema["type"], "object", "{name}");
    let props = schema["properties"].as_object().unwrap();
    let mut keys: Vec<&str> = props.keys().map(String::as_str).collect();
    keys.sort();
    let mut expected = properties.to_vec();
    expected.sort();
    assert_eq!(keys, expected, "{name}: properties");
    let mut req: Vec<&str> =
        schema["required"].as_array().map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    req.sort();
    assert_eq!(req, required, "{name}: required");
    for (key, prop) in props {
        assert!(prop["description"].as_str().is_some_and(|d| d.len() > 10), "{name}.{key} has no description");
    }
    let full: Map<String, Value> = props.iter().map(|(k, v)| (k.clone(), sample(v))).collect();
    serde_json::from_value::<T>(Value::Object(full.clone()))
        .unwrap_or_else(|e| panic!("{name}: full instance rejected: {e}"));
    for field in required {
        let mut partial = full.clone();
        partial.remove(*field);
        assert!(serde_json::from_value::<T>(Value::Object(partial)).is_err(), "{name}: missing {field} accepted");
    }
    assert!(!schema.as_object().unwrap().contains_key("$schema"));
}

#[test]
fn schemas_match_argument_types() {
    check::<RunPythonArgs>("run_python", &["code"], &["code"]);
    check::<ListFilesArgs>("list_files", &["path", "recursive"], &[]);
    check::<ReadFileArgs>("read_file", &["path", "max_bytes"], &["path"]);
    check::<SendFileArgs>("send_file_to_user", &["path", "description"], &["path"]);
    check::<ResetArgs>("reset_session", &[], &[]);
    check::<RunShellArgs>("run_shell", &["command", "stdin"], &["command"]);
    check::<RunJavascriptArgs>("run_javascript", &["code"], &["code"]);
    assert!(tool_specs().iter().all(|s| s.name != "run_shell"), "run_shell is offered only when enabled");
    let args: RunPythonArgs = serde_json::from_value(json!({"code": "1", "extra": "ignored"})).unwrap();
    assert_eq!(args.code, "1", "unknown fields a model adds are tolerated");
}

#[cfg(feature = "rig")]
#[test]
fn every_integration_advertises_the_same_tools() {
    use dynamic_sessions::{Auth, SessionId, SessionPoolClient};
    use dynamic_sessions_agent_tools::{CodeInterpreter, InterpreterOptions, openai_tools};

    let openai = openai_tools();
    let specs = tool_specs();
    assert_eq!(openai.as_array().unwrap().len(), specs.len());
    for (function, spec) in openai.as_array().unwrap().iter().zip(&specs) {
        assert_eq!(function["type"], "function");
        assert_eq!(function["function"]["name"], spec.name);
        assert_eq!(function["function"]["description"], spec.description);
        assert_eq!(function["function"]["parameters"], spec.parameters);
    }
    let client = SessionPoolClient::new("http://127.0.0.1:9", Auth::none()).unwrap();
    for (pool, shell) in [PoolKind::Python, PoolKind::JavaScript, PoolKind::Shell]
        .into_iter()
        .flat_map(|pool| [(pool, false), (pool, true)])
    {
        let options = InterpreterOptions { shell, pool, ..InterpreterOptions::default() };
        let interpreter = CodeInterpreter::with_options(client.session(SessionId::random()), options);
        let rig: Vec<(String, String, Value)> = dynamic_sessions_agent_tools::rig::tools(&interpreter)
            .iter()
            .map(|tool| {
                let definition = tool.definition();
                (definition.name.to_string(), definition.description, definition.parameters)
            })
            .collect();
        let specs: Vec<(String, String, Value)> = tool_specs_for(pool, shell)
            .into_iter()
            .map(|spec| (spec.name.to_owned(), spec.description.to_owned(), spec.parameters))
            .collect();
        assert_eq!(rig, specs, "{pool:?}, shell: {shell}");
    }
    let with_shell = dynamic_sessions_agent_tools::openai_tools_for(PoolKind::Python, true);
    assert_eq!(with_shell.as_array().unwrap().len(), specs.len() + 1);
}
