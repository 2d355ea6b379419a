//! The page's protocol is typed on the server (`events::PageEvent`); the page's script must handle every
//! kind of event the server can send.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chat_app::events::PageEvent;

/// Every `type` a `PageEvent` can have, as serde itself knows them: deserializing an unknown type fails with
/// a message that lists the expected ones.
fn every_type() -> Vec<String> {
    let error = serde_json::from_str::<PageEvent>(r#"{"type": "__not_an_event__"}"#).unwrap_err().to_string();
    let expected = error.split("expected one of").nth(1).unwrap_or_else(|| panic!("no list in {error:?}"));
    expected.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

#[test]
fn the_page_handles_every_event_the_server_sends() {
    let script = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/static/app.js")).unwrap();
    let types = every_type();
    assert!(types.len() >= 13 && types.contains(&"tool_result".to_owned()), "{types:?}");
    let unhandled: Vec<&String> = types
        .iter()
        .filter(|t| !script.contains(&format!("case \"{t}\"")) && !script.contains(&format!("event.type === \"{t}\"")))
        .collect();
    assert!(unhandled.is_empty(), "static/app.js does not handle these event types: {unhandled:?}");
}

#[test]
fn events_read_back_as_they_were_sent() {
    let sent = PageEvent::ToolCall {
        id: Some("call_1".into()),
        name: "run_python".into(),
        code: Some("1+1".into()),
        args: None,
        as_text: true,
        cell: false,
    };
    let json = serde_json::to_value(&sent).unwrap();
    assert_eq!(json["type"], "tool_call");
    assert_eq!(serde_json::from_value::<PageEvent>(json).unwrap(), sent);
    let logged = PageEvent::Done { html: "<p>4</p>".into() }.logged();
    assert_eq!(logged, Some(PageEvent::Assistant { html: "<p>4</p>".into() }));
    assert_eq!(PageEvent::Text { delta: "4".into() }.logged(), None);
}
