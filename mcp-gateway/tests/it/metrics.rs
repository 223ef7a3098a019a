//! What an operator can follow: `/metrics` on its own listener, scraped over
//! HTTP after real tool calls, refused requests and writes, and the fields
//! of the spans a tool call leaves.

use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use reqwest::StatusCode;
use serde_json::json;
use tracing::{
    Subscriber,
    field::{Field, Visit},
    span::{Attributes, Id, Record},
};
use tracing_subscriber::{Layer, layer::Context, prelude::*};

use crate::support::{Backend, TestApp, minimal_rule, spawn_app, spawn_app_with};

const SCRAPED: [(&str, &str); 1] = [("MONITORS_METRICS_LISTEN", "127.0.0.1:0")];

async fn scrape(addr: SocketAddr) -> String {
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/metrics"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("scrape answers");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4"
    );
    response.text().await.expect("scrape body")
}

/// The value of the sample line that starts with `series` and a space.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
}

fn calls(tool: &str, outcome: &str) -> String {
    format!("monitors_gateway_tool_calls_total{{outcome=\"{outcome}\",tool=\"{tool}\"}}")
}

fn metrics_addr(app: &TestApp) -> SocketAddr {
    app.metrics_addr.expect("metrics_listen is set")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_off_unless_a_listen_address_is_set() {
    let app = spawn_app(Backend::Sqlite).await;
    assert_eq!(app.metrics_addr, None);
    // Nor are they on the user-facing port.
    let response = reqwest::get(format!("http://{}/metrics", app.addr))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_are_counted_by_tool_and_outcome_and_timed() {
    let app = spawn_app_with(Backend::Sqlite, &SCRAPED).await;
    let addr = metrics_addr(&app);
    let before = scrape(addr).await;
    // Every tool is exported at zero before its first call.
    for outcome in ["ok", "tool_error", "error"] {
        assert_eq!(
            sample(&before, &calls("create_alert_rule", outcome)),
            Some(0.0),
            "{before}"
        );
    }
    assert_eq!(
        sample(
            &before,
            "monitors_gateway_tool_call_seconds_count{tool=\"list_alert_rules\"}"
        ),
        Some(0.0)
    );

    let (_, token) = app.user_with_token("a@example.com").await;
    let client = app.client(&token).await;
    client.ok("create_alert_rule", minimal_rule("r")).await;
    client.ok("list_alert_rules", json!({})).await;
    client.ok("list_alert_rules", json!({"limit": 5})).await;
    client
        .refused("get_alert_rule", json!({"id": "not-a-uuid"}))
        .await;
    client
        .tool_error(
            "delete_silence",
            json!({"id": "0193a4b0-0000-7000-8000-000000000000"}),
        )
        .await;
    // An unknown tool is no label value: it is not counted at all.
    client.rpc_error("no_such_tool", json!({})).await;

    let after = scrape(addr).await;
    for (tool, outcome, count) in [
        ("create_alert_rule", "ok", 1.0),
        ("list_alert_rules", "ok", 2.0),
        ("list_alert_rules", "tool_error", 0.0),
        ("get_alert_rule", "tool_error", 1.0),
        ("delete_silence", "tool_error", 1.0),
        ("delete_silence", "ok", 0.0),
    ] {
        assert_eq!(
            sample(&after, &calls(tool, outcome)),
            Some(count),
            "{tool} {outcome} in:\n{after}"
        );
    }
    assert_eq!(
        sample(
            &after,
            "monitors_gateway_tool_call_seconds_count{tool=\"list_alert_rules\"}"
        ),
        Some(2.0)
    );
    assert!(!after.contains("no_such_tool"), "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_are_counted_by_reason() {
    let app = spawn_app_with(Backend::Sqlite, &SCRAPED).await;
    let addr = metrics_addr(&app);
    let failures = |text: &str, reason: &str| {
        sample(
            text,
            &format!("monitors_gateway_auth_failures_total{{reason=\"{reason}\"}}"),
        )
    };
    let before = scrape(addr).await;
    for reason in [
        "missing",
        "unknown",
        "expired",
        "revoked",
        "insufficient_scope",
    ] {
        assert_eq!(failures(&before, reason), Some(0.0), "{reason}");
    }

    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string();
    let response = app.post_raw(None, list.clone()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    for _ in 0..2 {
        let response = app.post_raw(Some("mcpk_not-a-token"), list.clone()).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // The InfluxDB endpoints count theirs too.
    let response = reqwest::Client::new()
        .post(format!("http://{}/write?db=d", app.addr))
        .body("m v=1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let after = scrape(addr).await;
    assert_eq!(failures(&after, "missing"), Some(2.0), "{after}");
    assert_eq!(failures(&after, "unknown"), Some(2.0), "{after}");
    assert_eq!(failures(&after, "revoked"), Some(0.0), "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn written_points_and_bytes_are_counted() {
    let app = spawn_app_with(Backend::Sqlite, &SCRAPED).await;
    let addr = metrics_addr(&app);
    let (_, token) = app.user_with_token("a@example.com").await;
    let body = "cpu,host=a usage=1,procs=2i\ncpu,host=b usage=3\n";
    let response = reqwest::Client::new()
        .post(format!("http://{}/write?db=telegraf", app.addr))
        .bearer_auth(&token)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // A refused body stores nothing and counts nothing.
    let response = reqwest::Client::new()
        .post(format!("http://{}/write?db=telegraf", app.addr))
        .bearer_auth(&token)
        .body("not line protocol")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let after = scrape(addr).await;
    assert_eq!(
        sample(&after, "monitors_gateway_write_points_total"),
        Some(3.0),
        "{after}"
    );
    assert_eq!(
        sample(&after, "monitors_gateway_write_bytes_total"),
        Some(body.len() as f64),
        "{after}"
    );
}

/// A span's fields by name, as recorded (at creation or later).
type SpanFields = BTreeMap<String, String>;

/// Spans as a subscriber saw them: name and fields.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<(String, SpanFields)>>>);

struct Capture {
    spans: Spans,
    /// Open spans by id, to the index of their entry.
    open: Mutex<HashMap<u64, usize>>,
}

struct Fields<'a>(&'a mut SpanFields);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: Subscriber> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let mut spans = self.spans.0.lock().unwrap();
        spans.push((attrs.metadata().name().to_owned(), fields));
        self.open
            .lock()
            .unwrap()
            .insert(id.into_u64(), spans.len() - 1);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some(&index) = self.open.lock().unwrap().get(&id.into_u64()) {
            values.record(&mut Fields(&mut self.spans.0.lock().unwrap()[index].1));
        }
    }

    fn on_close(&self, id: Id, _: Context<'_, S>) {
        self.open.lock().unwrap().remove(&id.into_u64());
    }
}

impl Spans {
    fn named(&self, name: &str) -> Vec<SpanFields> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, fields)| fields.clone())
            .collect()
    }
}

/// On one thread, so that the subscriber set for this test sees every task
/// of the app it starts.
#[tokio::test(flavor = "current_thread")]
async fn a_tool_call_span_names_the_tool_the_caller_and_the_outcome() {
    let spans = Spans::default();
    let capture = Capture {
        spans: spans.clone(),
        open: Mutex::default(),
    };
    // While one dispatcher exists, tracing decides whether a span is wanted
    // by asking the default of whichever thread reaches it first: tests on
    // other threads would turn this one's spans off for good. A second,
    // idle dispatcher makes it ask every one, this test's included.
    let _idle = tracing::Dispatch::new(tracing_subscriber::registry());
    let _guard = tracing_subscriber::registry().with(capture).set_default();
    tracing::callsite::rebuild_interest_cache();
    let app = spawn_app(Backend::Sqlite).await;
    let (user, token) = app.user_with_token("a@example.com").await;
    let client = app.client(&token).await;
    client.ok("list_alert_rules", json!({})).await;
    client
        .refused("get_alert_rule", json!({"id": "not-a-uuid"}))
        .await;

    let calls = spans.named("tool_call");
    let user = user.to_string();
    let expected = |tool: &str, outcome: &str| {
        BTreeMap::from([
            ("tool".to_owned(), tool.to_owned()),
            ("user_id".to_owned(), user.clone()),
            ("outcome".to_owned(), outcome.to_owned()),
        ])
    };
    assert_eq!(
        calls,
        vec![
            expected("list_alert_rules", "ok"),
            expected("get_alert_rule", "tool_error"),
        ]
    );
    // The HTTP request spans of `/mcp` name the tool called.
    let tools: Vec<String> = spans
        .named("request")
        .into_iter()
        .filter_map(|fields| fields.get("tool").cloned())
        .collect();
    assert_eq!(tools, ["list_alert_rules", "get_alert_rule"]);
}
