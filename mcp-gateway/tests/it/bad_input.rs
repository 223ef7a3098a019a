use serde_json::{Value, json};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::support::{Backend, TestApp, minimal_rule, on_both_backends, spawn_app};

/// Sends a request head and then `body` while reading the answer, and
/// returns the answer's status line. Raw TCP, because a client library may
/// report a refused upload as a broken pipe instead of giving the response.
async fn oversized_request(app: &TestApp, token: &str, framing: &str, body: Vec<u8>) -> String {
    let stream = TcpStream::connect(app.addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n{framing}\r\n\r\n"
    );
    let upload = tokio::spawn(async move {
        let _ = writer.write_all(head.as_bytes()).await;
        let _ = writer.write_all(&body).await;
        // Keep the connection open: closing it would end the body early.
        std::future::pending::<()>().await;
    });
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    while !response.windows(2).any(|w| w == b"\r\n") {
        let n = tokio::time::timeout(std::time::Duration::from_secs(30), reader.read(&mut buf))
            .await
            .expect("an answer within 30 s")
            .unwrap();
        if n == 0 {
            break;
        }
        response.extend_from_slice(&buf[..n]);
    }
    upload.abort();
    String::from_utf8_lossy(&response)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

on_both_backends!(
    refused_arguments_name_the_field_and_write_nothing,
    malformed_requests_are_refused_and_serving_continues
);

async fn refused_arguments_name_the_field_and_write_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = app.user_with_token("a@example.com").await;
    let client = app.client(&token).await;

    let cases: Vec<(Value, &str)> = vec![
        (json!({"interval": "-5s"}), "interval: "),
        (json!({"interval": "0s"}), "interval: must be at least 1s"),
        (
            json!({"interval": 10}),
            r#"interval: expected a duration string such as "30s", "5m" or "2h", got the number 10"#,
        ),
        (
            json!({"condition": {"op": ">", "threshold": "high"}}),
            r#"condition.threshold: expected a number, got the string "#,
        ),
        (
            json!({"condition": {"op": "=>", "threshold": 1}}),
            "condition.op: must be one of",
        ),
        (
            json!({"name": "x".repeat(100_000)}),
            "name: must be at most 200 characters",
        ),
        (json!({"name": "   "}), "name: must not be empty"),
        (json!({"colour": "red"}), "colour: not a field here"),
        (
            json!({"metric": {"measurement": "crypto", "field": "price", "window": "0s"}}),
            "metric.window: must be at least 1s",
        ),
        (
            json!({"metric": {"measurement": "crypto", "field": "price", "aggregation": "median"}}),
            r#"metric.aggregation: must be one of "last", "mean", "min", "max", "sum", "count"; got "median""#,
        ),
        (
            json!({"severity": "apocalyptic"}),
            r#"severity: must be one of "info", "warning", "critical"; got "apocalyptic""#,
        ),
        (json!({"for": "30d"}), "for: must be at most 7d"),
        (
            json!({"labels": {"team": 5}}),
            "labels.team: expected a string, got the number 5",
        ),
    ];
    for (change, expected) in cases {
        let mut rule = minimal_rule("r");
        for (key, value) in change.as_object().unwrap() {
            rule[key] = value.clone();
        }
        let error = client.refused("create_alert_rule", rule).await;
        assert!(
            error.message.contains(expected),
            "expected {expected:?} in {:?}",
            error.message
        );
    }
    let mut missing = minimal_rule("r");
    missing.as_object_mut().unwrap().remove("condition");
    let error = client.refused("create_alert_rule", missing).await;
    assert_eq!(error.message, "condition: required (when the rule fires)");
    let data = error.data.expect("error data");
    assert_eq!(data["field"], "condition");
    assert_eq!(data["reason"], "required (when the rule fires)");

    let error = client
        .refused("get_alert_rule", json!({"id": "not-a-uuid"}))
        .await;
    assert_eq!(error.message, "id: must be a rule id (a UUID)");
    let error = client
        .refused("list_alert_rules", json!({"limit": 0}))
        .await;
    assert_eq!(error.message, "limit: must be between 1 and 200");
    let error = client
        .refused("list_alert_rules", json!({"cursor": "garbage"}))
        .await;
    assert_eq!(
        error.message,
        "cursor: is not a cursor returned by this tool"
    );
    let error = client.rpc_error("no_such_tool", json!({})).await;
    assert!(
        error
            .message
            .starts_with("unknown tool `no_such_tool`; the tools are: "),
        "{}",
        error.message
    );

    assert_eq!(
        client.ok("list_alert_rules", json!({})).await["rules"],
        json!([])
    );
}

async fn malformed_requests_are_refused_and_serving_continues(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = app.user_with_token("a@example.com").await;

    let response = app.post_raw(Some(&token), "{not json").await;
    assert!(response.status().is_client_error(), "{}", response.status());

    // A declared 10 MB body is refused from its headers alone.
    let head = oversized_request(&app, &token, "Content-Length: 10485760", Vec::new()).await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    // A chunked body with no declared length is cut off once it passes the limit.
    let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, "x".repeat(64 * 1024));
    let head = oversized_request(
        &app,
        &token,
        "Transfer-Encoding: chunked",
        chunk.repeat(6).into_bytes(),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");

    let wrong_shape = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"nope"}"#;
    let response = app.post_raw(Some(&token), wrong_shape).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(
        status.is_client_error() || text.contains("\"error\""),
        "{status} {text}"
    );

    // 1e400 is valid JSON but no f64: refused, not stored as infinity.
    let overflow = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_alert_rule","arguments":{"name":"x","metric":{"measurement":"m","field":"f"},"condition":{"op":">","threshold":1e400},"interval":"10s"}}}"#;
    let response = app.post_raw(Some(&token), overflow).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(
        status.is_client_error() || text.contains("\"error\""),
        "{status} {text}"
    );
    assert!(!text.contains("structuredContent"), "{text}");

    let client = app.client(&token).await;
    let created = client
        .ok("create_alert_rule", minimal_rule("still serving"))
        .await;
    let listed = client.ok("list_alert_rules", json!({})).await;
    assert_eq!(listed["rules"].as_array().unwrap().len(), 1);
    assert_eq!(listed["rules"][0]["id"], created["id"]);
}
