use reqwest::StatusCode;
use rmcp::{
    model::{ClientConfig, ProtocolVersion},
    service::{ClientLifecycleMode, ClientServiceExt},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};

use crate::support::{
    Backend, minimal_rule, on_both_backends, spawn_app, spawn_app_with, spawn_replica, stored,
};

on_both_backends!(any_replica_serves_any_request);

const TOOLS: [(&str, bool, bool, bool); 20] = [
    // name, read-only, destructive, idempotent
    ("create_alert_rule", false, false, false),
    ("list_alert_rules", true, false, true),
    ("get_alert_rule", true, false, true),
    ("update_alert_rule", false, false, true),
    ("delete_alert_rule", false, true, true),
    ("list_alerts", true, false, true),
    ("acknowledge_alert", false, false, true),
    ("list_metrics", true, false, true),
    ("preview_alert_rule", true, false, true),
    ("get_alert", true, false, true),
    ("create_notification_channel", false, false, false),
    ("list_notification_channels", true, false, true),
    ("update_notification_channel", false, false, true),
    ("delete_notification_channel", false, true, true),
    ("test_notification_channel", false, false, false),
    ("create_silence", false, false, false),
    ("list_silences", true, false, true),
    ("delete_silence", false, true, true),
    ("list_connections", true, false, true),
    ("revoke_connection", false, true, false),
];

#[tokio::test]
async fn every_tool_has_schemas_and_annotations() {
    let app = spawn_app(Backend::Sqlite).await;
    let (_, token) = app.user_with_token("a@example.com").await;
    let client = app.client(&token).await;
    let tools = client.peer().list_all_tools().await.unwrap();
    assert_eq!(tools.len(), TOOLS.len());
    for (name, read_only, destructive, idempotent) in TOOLS {
        let tool = tools
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("{name} listed"));
        assert!(
            tool.description.as_ref().is_some_and(|d| d.len() > 40),
            "{name} is described"
        );
        assert_eq!(
            tool.input_schema.get("type"),
            Some(&json!("object")),
            "{name}"
        );
        let output = tool
            .output_schema
            .as_ref()
            .unwrap_or_else(|| panic!("{name} has an output schema"));
        assert_eq!(output.get("type"), Some(&json!("object")), "{name}");
        let hints = tool
            .annotations
            .as_ref()
            .unwrap_or_else(|| panic!("{name} is annotated"));
        assert_eq!(hints.read_only_hint, Some(read_only), "{name} readOnlyHint");
        if !read_only {
            assert_eq!(
                hints.destructive_hint,
                Some(destructive),
                "{name} destructiveHint"
            );
            assert_eq!(
                hints.idempotent_hint,
                Some(idempotent),
                "{name} idempotentHint"
            );
        }
    }
    // A model fills in a channel's config from the description alone.
    let channel = tools
        .iter()
        .find(|t| t.name == "create_notification_channel")
        .unwrap();
    let described = channel.description.as_deref().unwrap_or_default();
    for field in [
        "webhook_url",
        "\"url\"",
        "routing_key",
        "host",
        "password",
        "api_key",
        "to",
    ] {
        assert!(described.contains(field), "{field} described: {described}");
    }
    let create = tools
        .iter()
        .find(|t| t.name == "create_alert_rule")
        .unwrap();
    let required = create.input_schema["required"].as_array().unwrap();
    for field in ["name", "metric", "condition", "interval"] {
        assert!(required.contains(&json!(field)), "{field} required");
    }
}

async fn raw(url: &str, token: &str, version: &str, body: Value) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", version)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn legacy_protocol_versions_initialize_and_call_statelessly() {
    let app = spawn_app(Backend::Sqlite).await;
    let (_, token) = app.user_with_token("a@example.com").await;
    for version in ["2025-03-26", "2025-06-18", "2025-11-25"] {
        let (status, body) = raw(
            &app.mcp_url(),
            &token,
            version,
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{version}: {body}");
        assert_eq!(body["result"]["protocolVersion"], version);
        assert_eq!(body["result"]["serverInfo"]["name"], "monitors-mcp");

        // No session: the next request stands on its own.
        let (status, body) = raw(
            &app.mcp_url(),
            &token,
            version,
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                   "params": {"name": "create_alert_rule", "arguments": minimal_rule(version)}}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{version}: {body}");
        assert_eq!(body["result"]["structuredContent"]["name"], version);
    }
}

#[tokio::test]
async fn newest_protocol_version_works_through_discovery() {
    let app = spawn_app(Backend::Sqlite).await;
    let (_, token) = app.user_with_token("a@example.com").await;
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(app.mcp_url()).auth_header(token),
    );
    let client = ClientConfig::default()
        .serve_with_lifecycle(
            transport,
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("discover succeeds");
    let args = minimal_rule("via discovery").as_object().cloned().unwrap();
    let result = client
        .call_tool(
            rmcp::model::CallToolRequestParams::new("create_alert_rule").with_arguments(args),
        )
        .await
        .unwrap();
    assert_eq!(result.structured_content.unwrap()["name"], "via discovery");
}

#[tokio::test]
async fn unknown_host_headers_are_refused() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[("MONITORS_ALLOWED_HOSTS", "mcp.example.com")],
    )
    .await;
    let (_, token) = app.user_with_token("a@example.com").await;
    // reqwest sends Host: 127.0.0.1:port, which is not on the list.
    let (status, _) = raw(
        &app.mcp_url(),
        &token,
        "2025-06-18",
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let response = reqwest::Client::new()
        .post(app.mcp_url())
        .bearer_auth(&token)
        .header("host", "mcp.example.com")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .body(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

async fn any_replica_serves_any_request(backend: Backend) {
    let first = spawn_app(backend).await;
    let second = spawn_replica(&first).await;
    let (_, token) = first.user_with_token("a@example.com").await;
    let on_first = first.client(&token).await;
    let on_second = second.client(&token).await;
    let created = on_first
        .ok("create_alert_rule", minimal_rule("replicated"))
        .await;
    let fetched = on_second
        .ok("get_alert_rule", json!({"id": created["id"]}))
        .await;
    assert_eq!(stored(fetched), stored(created.clone()));
    on_second
        .ok(
            "update_alert_rule",
            json!({"id": created["id"], "enabled": false}),
        )
        .await;
    let listed = on_first
        .ok("list_alert_rules", json!({"enabled": false}))
        .await;
    assert_eq!(listed["rules"][0]["id"], created["id"]);
}

/// The tool list is sent to the model on every conversation: it stays at
/// most 40 KB of JSON, every tool still fully typed (BENCHMARKS.md has
/// the history).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tool_list_is_at_most_40_kb() {
    let app = spawn_app(Backend::Sqlite).await;
    let (_, token) = app.user_with_token("a@example.com").await;
    let response = app
        .post_raw(
            Some(&token),
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.text().await.unwrap();
    let json = body
        .strip_prefix("data: ")
        .or_else(|| body.lines().find_map(|l| l.strip_prefix("data: ")))
        .unwrap_or(&body);
    let listed: Value = serde_json::from_str(json.trim()).expect("a JSON-RPC response");
    let tools = listed["result"]["tools"].as_array().expect("tools");
    assert_eq!(tools.len(), TOOLS.len());
    let size = serde_json::to_string(&listed).unwrap().len();
    eprintln!("tools/list: {size} bytes");
    if let Ok(path) = std::env::var("DUMP_TOOLS") {
        std::fs::write(path, serde_json::to_string_pretty(&listed).unwrap()).unwrap();
    }
    for tool in tools {
        let name = tool["name"].as_str().unwrap();
        let tool_size = serde_json::to_string(tool).unwrap().len();
        let output = serde_json::to_string(&tool["outputSchema"]).unwrap().len();
        eprintln!("  {name}: {tool_size} (output {output})");
    }
    assert!(size <= 40_000, "tools/list is {size} bytes");
}

/// No request outlives the gateway's deadline: one waiting on a metric
/// source that never answers is answered 408 at the deadline, and the
/// gateway goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_the_deadline_is_answered_408() {
    // Accepts connections and never answers them.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("MONITORS_INFLUX_URL", &silent_url),
            ("MONITORS_INFLUX_TIMEOUT", "60s"),
            ("MONITORS_REQUEST_TIMEOUT", "1s"),
        ],
    )
    .await;
    let (_, token) = app.user_with_token("a@example.com").await;
    let started = std::time::Instant::now();
    let response = app
        .post_raw(
            Some(&token),
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_metrics","arguments":{}}}"#,
        )
        .await;
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "answered at the gateway's deadline, not the source's"
    );
    let ping = app
        .post_raw(Some(&token), r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#)
        .await;
    assert_eq!(ping.status(), StatusCode::OK);
    held.abort();
}
