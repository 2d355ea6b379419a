//! The notebook and the Markdown of a conversation's log.
#![allow(clippy::panic)]

use dynamic_sessions_agent_tools::PoolKind;
use dynamic_sessions_agent_tools::turn::{StepOutcome, TurnFailureKind};
use serde_json::json;

use super::*;

/// A 1x1 PNG, as the page receives charts.
const PNG: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

fn log() -> Vec<PageEvent> {
    vec![
        PageEvent::User { text: "Plot the squares.\n# not a heading".into() },
        PageEvent::ToolCall {
            id: Some("call_1".into()),
            name: "run_python".into(),
            code: Some("import matplotlib.pyplot as plt\nplt.plot([1, 4, 9])\nprint('drawn')\n6 * 7".into()),
            args: None,
            as_text: false,
            cell: false,
        },
        PageEvent::ToolResult {
            id: Some("call_1".into()),
            name: "run_python".into(),
            outcome: StepOutcome::Ran,
            report: Some(json!({"status": "Succeeded", "stdout": "drawn\n", "stderr": "", "result": "42"})),
            text: Some("The code ran.".into()),
            images: vec![PNG.into()],
            cell: false,
        },
        PageEvent::ToolCall {
            id: Some("call_2".into()),
            name: "send_file_to_user".into(),
            code: None,
            args: Some(json!({"path": "squares.png"}).as_object().cloned().unwrap_or_default()),
            as_text: false,
            cell: false,
        },
        PageEvent::Artifact { path: "squares.png".into(), size: Some(2048), description: Some("the chart".into()) },
        PageEvent::Assistant { html: "<p>The chart is drawn.</p>".into() },
        PageEvent::ToolCall {
            id: None,
            name: "run_shell".into(),
            code: Some("ls /mnt/data".into()),
            args: None,
            as_text: false,
            cell: true,
        },
        PageEvent::ToolResult {
            id: None,
            name: "run_shell".into(),
            outcome: StepOutcome::Failed,
            report: Some(json!({"status": "Failed", "stdout": "", "stderr": "ls: oops\n", "result": null})),
            text: None,
            images: Vec::new(),
            cell: true,
        },
        PageEvent::Error { kind: TurnFailureKind::TimedOut, message: "The answer took too long.".into() },
    ]
}

#[test]
fn a_notebook_has_messages_as_markdown_and_runs_as_code_cells_with_their_outputs() {
    let notebook = notebook(&log(), PoolKind::Python);
    assert_eq!((notebook["nbformat"].as_u64(), notebook["nbformat_minor"].as_u64()), (Some(4), Some(5)));
    assert_eq!(notebook["metadata"]["kernelspec"]["name"], "python3");
    let cells = notebook["cells"].as_array().cloned().unwrap_or_default();
    let kinds: Vec<&str> = cells.iter().filter_map(|c| c["cell_type"].as_str()).collect();
    assert_eq!(kinds, ["markdown", "code", "markdown", "markdown", "markdown", "code", "markdown"]);
    assert_eq!(cells[0]["source"], "**You:**\n\n> Plot the squares.\n> # not a heading");
    let run = &cells[1];
    assert_eq!(run["execution_count"], 1);
    assert!(run["source"].as_str().is_some_and(|s| s.starts_with("import matplotlib")));
    let outputs = run["outputs"].as_array().cloned().unwrap_or_default();
    assert_eq!(outputs[0], json!({"output_type": "stream", "name": "stdout", "text": "drawn\n"}));
    assert_eq!(outputs[1]["output_type"], "execute_result");
    assert_eq!(outputs[1]["data"]["text/plain"], "42");
    assert_eq!(outputs[1]["execution_count"], 1);
    assert_eq!(outputs[2]["output_type"], "display_data");
    assert!(outputs[2]["data"]["image/png"].as_str().is_some_and(|d| d.starts_with("iVBOR")));
    assert!(cells[2]["source"].as_str().is_some_and(|s| s.contains("send_file_to_user")));
    assert!(cells[3]["source"].as_str().is_some_and(|s| s.contains("squares.png (2048 bytes): the chart")));
    assert_eq!(cells[4]["source"], "**Assistant:**\n\n<p>The chart is drawn.</p>");
    assert_eq!(cells[5]["source"], "%%bash\nls /mnt/data", "a shell command in a Python notebook");
    assert_eq!(cells[5]["outputs"][0], json!({"output_type": "stream", "name": "stderr", "text": "ls: oops\n"}));
    assert!(cells[6]["source"].as_str().is_some_and(|s| s.contains("The answer took too long.")));
    let ids: std::collections::BTreeSet<&str> = cells.iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(ids.len(), cells.len(), "unique cell ids");
}

#[test]
fn the_notebook_follows_the_pool() {
    assert_eq!(notebook(&[], PoolKind::JavaScript)["metadata"]["kernelspec"]["name"], "javascript");
    let shell = notebook(&log(), PoolKind::Shell);
    assert_eq!(shell["metadata"]["language_info"]["name"], "bash");
    let sources: Vec<&str> =
        shell["cells"].as_array().into_iter().flatten().filter_map(|c| c["source"].as_str()).collect();
    assert!(sources.contains(&"ls /mnt/data"), "no magic in a Bash notebook: {sources:?}");
    let svg = "data:image/svg+xml;base64,PHN2Zy8+";
    assert_eq!(image_bundle(svg), Some(Map::from_iter([("image/svg+xml".to_owned(), json!("<svg/>"))])));
    assert_eq!(image_bundle("not a data url"), None);
}

#[test]
fn markdown_has_the_code_its_output_and_the_chart() {
    let text = markdown(&log());
    assert!(text.starts_with("# Conversation\n"));
    for expected in [
        "> Plot the squares.",
        "```python\nimport matplotlib.pyplot as plt",
        "Output:\n\n```text\ndrawn\n```",
        "Result:\n\n```text\n42\n```",
        "![A chart the code drew](data:image/png;base64,iVBOR",
        "```sh\nls /mnt/data\n```",
        "Errors:\n\n```text\nls: oops\n```",
        "<p>The chart is drawn.</p>",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
}

#[test]
fn a_refused_call_is_told_in_words() {
    let log = vec![
        PageEvent::ToolCall {
            id: Some("call_9".into()),
            name: "run_python".into(),
            code: None,
            args: Some(json!({"cod": "1"}).as_object().cloned().unwrap_or_default()),
            as_text: false,
            cell: false,
        },
        PageEvent::ToolResult {
            id: Some("call_9".into()),
            name: "run_python".into(),
            outcome: StepOutcome::Rejected,
            report: None,
            text: Some("the arguments for run_python are not usable".into()),
            images: Vec::new(),
            cell: false,
        },
    ];
    let notebook = notebook(&log, PoolKind::Python);
    let sources: Vec<&str> =
        notebook["cells"].as_array().into_iter().flatten().filter_map(|c| c["source"].as_str()).collect();
    assert_eq!(
        sources,
        [
            "*Tool `run_python`*\n\n```json\n{\"cod\":\"1\"}\n```",
            "Not run:\n\n```text\nthe arguments for run_python are not usable\n```"
        ]
    );
}

#[test]
fn words_are_escaped_and_output_cannot_close_its_fence() {
    let log = vec![
        PageEvent::User { text: "<img src=x onerror=alert(1)> & more".into() },
        PageEvent::ToolCall {
            id: None,
            name: "run_python".into(),
            code: Some("print('```')".into()),
            args: None,
            as_text: false,
            cell: true,
        },
        PageEvent::ToolResult {
            id: None,
            name: "run_python".into(),
            outcome: StepOutcome::Ran,
            report: Some(json!({"stdout": "```\n<script>x</script>\n", "stderr": "", "result": null})),
            text: None,
            images: Vec::new(),
            cell: true,
        },
        PageEvent::Assistant { html: "<p>Code:</p>\n<pre><code>a = 1\n\nb = 2\n</code></pre>".into() },
        PageEvent::Notice { message: "<b>bold</b>".into() },
    ];
    let text = markdown(&log);
    assert!(text.contains("> &lt;img src=x onerror=alert(1)&gt; &amp; more"), "{text}");
    assert!(text.contains("````python\nprint('```')\n````"), "a longer fence: {text}");
    assert!(text.contains("````text\n```\n<script>x</script>\n````"), "output stays inside its fence: {text}");
    assert!(text.contains("<pre><code>a = 1&#10;\nb = 2"), "no blank line ends the HTML block: {text}");
    assert!(text.contains("*Note:* &lt;b&gt;bold&lt;/b&gt;"), "{text}");
}

#[test]
fn a_result_belongs_to_its_own_turn_and_foreign_languages_are_markdown() {
    let call = |id: &str, name: &str, code: Option<&str>| PageEvent::ToolCall {
        id: Some(id.into()),
        name: name.into(),
        code: code.map(str::to_owned),
        args: None,
        as_text: false,
        cell: false,
    };
    let result = |id: &str, name: &str, stdout: &str| PageEvent::ToolResult {
        id: Some(id.into()),
        name: name.into(),
        outcome: StepOutcome::Ran,
        report: Some(json!({"stdout": stdout, "stderr": "", "result": null})),
        text: None,
        images: Vec::new(),
        cell: false,
    };
    let log = vec![
        PageEvent::User { text: "one".into() },
        call("call_1", "run_javascript", Some("console.log(1)")),
        result("call_1", "run_javascript", "1\n"),
        PageEvent::User { text: "two".into() },
        call("call_1", "run_javascript", None),
        result("call_1", "run_javascript", "refused"),
        call("call_2", "run_shell", Some("ls")),
        result("call_2", "run_shell", "a.txt\n"),
    ];
    let notebook = notebook(&log, PoolKind::JavaScript);
    let cells = notebook["cells"].as_array().cloned().unwrap_or_default();
    assert_eq!(cells[1]["outputs"][0]["text"], "1\n", "the first turn's cell keeps its output");
    let code_cells = cells.iter().filter(|c| c["cell_type"] == "code").count();
    assert_eq!(code_cells, 1, "a shell command is not JavaScript: {cells:?}");
    let sources: Vec<&str> = cells.iter().filter_map(|c| c["source"].as_str()).collect();
    assert!(sources.iter().any(|s| s.contains("refused")), "the second turn's result in words: {sources:?}");
    assert!(sources.contains(&"```sh\nls\n```") && sources.iter().any(|s| s.contains("a.txt")), "{sources:?}");
}
