//! What Telegraf and the InfluxDB client libraries expect besides `/write`:
//! `/ping`, `/health` and `/query` (`CREATE DATABASE`, `SHOW DATABASES`),
//! and the real client libraries from PyPI writing through the gateway, the
//! points read back through `list_metrics`.

use std::{path::PathBuf, time::Duration};

use mcp_gateway::auth::scope::Scopes;
use reqwest::{Method, StatusCode};
use ring::rand::SystemRandom;
use sea_orm::QueryOrder;
use serde_json::{Value, json};
use shared_models::entity::{TenantScoped, point};

use crate::{
    support::{Backend, TestApp, on_both_backends, spawn_app},
    third_party_clients::run_within,
};

on_both_backends!(
    ping_and_health_answer_as_influxdb_does,
    query_creates_and_shows_databases_and_refuses_the_rest,
    the_influxdb_1x_client_library_writes_and_reads_back,
    the_influxdb_2x_client_library_writes_gzip_and_reads_back,
);

/// 1 December 2026, 00:00:00 UTC.
const T0_MS: i64 = 1_796_083_200_000;

fn request(app: &TestApp, method: Method, path_and_query: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(method, format!("http://{}{path_and_query}", app.addr))
        .timeout(Duration::from_secs(30))
}

async fn ping_and_health_answer_as_influxdb_does(backend: Backend) {
    let app = spawn_app(backend).await;

    // No token needed, as in InfluxDB.
    for method in [Method::GET, Method::HEAD] {
        let ping = request(&app, method.clone(), "/ping").send().await.unwrap();
        assert_eq!(ping.status(), StatusCode::NO_CONTENT, "{method}");
        assert_eq!(ping.headers()["x-influxdb-version"], "1.8.10", "{method}");
        assert!(ping.bytes().await.unwrap().is_empty());
    }
    let verbose = request(&app, Method::GET, "/ping?verbose=true")
        .send()
        .await
        .unwrap();
    assert_eq!(verbose.status(), StatusCode::OK);
    assert_eq!(
        verbose.json::<Value>().await.unwrap(),
        json!({"version": "1.8.10"})
    );

    let health = request(&app, Method::GET, "/health").send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.headers()["x-influxdb-version"], "1.8.10");
    let body: Value = health.json().await.unwrap();
    assert_eq!(
        body,
        json!({
            "name": "influxdb",
            "message": "ready for queries and writes",
            "status": "pass",
            "checks": [],
            "version": "1.8.10",
            "commit": format!("monitors-mcp {}", env!("CARGO_PKG_VERSION")),
        })
    );
}

/// `prefix` followed by `q=` and the statement, URL-encoded.
fn query_path(prefix: &str, q: &str) -> String {
    format!(
        "{prefix}{}",
        serde_urlencoded::to_string([("q", q)]).unwrap()
    )
}

/// `/query` with `q` in the URL (GET or POST) or in a form body (POST, as
/// Telegraf sends it), with the token in any form `/write` takes.
async fn query(
    app: &TestApp,
    method: Method,
    token: &str,
    q: &str,
    in_form: bool,
) -> (StatusCode, Value) {
    let mut builder = if in_form {
        request(app, method, "/query").form(&[("q", q)])
    } else {
        request(app, method, &query_path("/query?", q))
    };
    builder = builder.bearer_auth(token);
    let response = builder.send().await.unwrap();
    assert_eq!(response.headers()["x-influxdb-version"], "1.8.10");
    (response.status(), response.json().await.unwrap())
}

async fn query_creates_and_shows_databases_and_refuses_the_rest(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = app.user_with_token("a@example.com").await;
    let (_, other) = app.user_with_token("b@example.com").await;

    // CREATE DATABASE succeeds and does nothing: a database exists once
    // points are written to it.
    for (method, in_form) in [
        (Method::POST, true),
        (Method::POST, false),
        (Method::GET, false),
    ] {
        let answer = query(
            &app,
            method.clone(),
            &token,
            "CREATE DATABASE \"telegraf\"",
            in_form,
        )
        .await;
        assert_eq!(
            answer,
            (StatusCode::OK, json!({"results": [{"statement_id": 0}]})),
            "{method} form={in_form}"
        );
    }
    let databases = |names: &[&str]| {
        json!({"results": [{"statement_id": 0, "series": [{
            "name": "databases", "columns": ["name"],
            "values": names.iter().map(|n| json!([n])).collect::<Vec<_>>(),
        }]}]})
    };
    // The default database is always there.
    assert_eq!(
        query(&app, Method::GET, &token, "SHOW DATABASES", false).await,
        (StatusCode::OK, databases(&["monitors"]))
    );
    for db in ["telegraf", "metrics"] {
        let response = request(&app, Method::POST, &format!("/write?db={db}"))
            .bearer_auth(&token)
            .body("cpu v=1")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    assert_eq!(
        query(&app, Method::GET, &token, "show databases", false).await,
        (
            StatusCode::OK,
            databases(&["metrics", "monitors", "telegraf"])
        )
    );
    // Only the caller's own.
    assert_eq!(
        query(&app, Method::GET, &other, "SHOW DATABASES", false).await,
        (StatusCode::OK, databases(&["monitors"]))
    );
    // Several statements, one result each.
    let (status, body) = query(
        &app,
        Method::POST,
        &token,
        "CREATE DATABASE x; SHOW DATABASES",
        true,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["results"][0], json!({"statement_id": 0}));
    assert_eq!(body["results"][1]["statement_id"], 1);

    // Anything else is refused in InfluxDB's error shape, saying what is
    // answered.
    for q in [
        "SELECT * FROM cpu",
        "DROP DATABASE telegraf",
        "SHOW DATABASES; DELETE FROM cpu",
        "",
    ] {
        let (status, body) = query(&app, Method::POST, &token, q, true).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{q}");
        let error = body["error"].as_str().unwrap();
        assert!(
            error.contains("CREATE DATABASE") && error.contains("SHOW DATABASES"),
            "{q}: {error}"
        );
        assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    }

    // The token as /write takes it: Basic auth or u/p for 1.x clients,
    // `Token` for 2.x ones.
    let show = query_path("/query?", "SHOW DATABASES");
    let show_as = |user: &str, password: &str| {
        query_path(&format!("/query?u={user}&p={password}&"), "SHOW DATABASES")
    };
    for good in [
        request(&app, Method::GET, &show).basic_auth("telegraf", Some(&token)),
        request(&app, Method::GET, &show_as("me", &token)),
        request(&app, Method::GET, &show).header("authorization", format!("Token {token}")),
    ] {
        assert_eq!(good.send().await.unwrap().status(), StatusCode::OK);
    }
    for bad in [
        request(&app, Method::GET, &show),
        request(&app, Method::GET, &show).bearer_auth("mcpk_nope"),
        request(&app, Method::GET, &show_as("me", "nope")),
    ] {
        assert_eq!(bad.send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }

    // CREATE DATABASE is the start of writing: it needs alerts:write;
    // SHOW DATABASES only alerts:read.
    let (user, _) = app.user_with_token("c@example.com").await;
    let (_, reader) = app
        .store
        .create_token(
            user,
            "reader",
            Scopes::parse("alerts:read", "scopes").unwrap(),
            None,
            &SystemRandom::new(),
        )
        .await
        .unwrap();
    let reader = reader.expose().clone();
    let show = request(&app, Method::GET, &show)
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(show.status(), StatusCode::OK);
    let create = request(&app, Method::POST, "/query")
        .form(&[("q", "CREATE DATABASE d")])
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(create.status(), StatusCode::FORBIDDEN);
}

/// The Python of the virtual environment `.ci/services` builds from
/// tests/clients/requirements.txt.
fn client_python() -> PathBuf {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/.venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: the InfluxDB client libraries are installed by `bash .ci/test` \
         (through .ci/services); run that once",
        python.display()
    );
    python
}

/// Runs tests/clients/influx_write.py against `app`; returns what it printed.
async fn run_client(app: &TestApp, api: &str, token: &str, database: &str) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/influx_write.py");
    let mut command = tokio::process::Command::new(client_python());
    command.arg(script).args([
        api,
        &format!("http://{}", app.addr),
        token,
        database,
        &T0_MS.to_string(),
    ]);
    let output = run_within(
        &format!("the {api} client"),
        command,
        Duration::from_secs(60),
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the {api} client failed: {stderr}");
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("the {api} client printed no JSON ({e}): {stderr}"))
}

/// The measurements `list_metrics` shows in `database`, by name.
async fn metrics_in(app: &TestApp, token: &str, database: &str, prefix: &str) -> Value {
    let client = app.client(token).await;
    client
        .ok(
            "list_metrics",
            json!({"database": database, "prefix": prefix}),
        )
        .await
}

/// What a client library reported of the gateway's answer to a body with
/// the text field `state`: 400, InfluxDB's type-conflict wording in `key`.
fn assert_type_conflict(reported: &Value, key: &str, measurement: &str) {
    assert_eq!(reported["status"], 400, "{reported}");
    let text = reported["body"][key].as_str().unwrap_or_default();
    assert!(
        text.starts_with("partial write: field type conflict:")
            && text.contains(&format!(
                "field \"state\" of measurement \"{measurement}\" is a string"
            ))
            && text.ends_with("dropped=1"),
        "{reported}"
    );
}

async fn the_influxdb_1x_client_library_writes_and_reads_back(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = app.user_with_token("a@example.com").await;

    let seen = run_client(&app, "v1", &token, "pydb").await;
    assert_eq!(seen["version"], "1.8.10");
    assert_eq!(seen["written"], true);
    // Listed before the first write (the default database) and after.
    assert_eq!(seen["databases"], json!(["monitors"]));
    // The text field is refused as InfluxDB refuses a type conflict; the
    // library reports the 400 and its message (1.x clients read `error`).
    assert_type_conflict(&seen["partial"], "error", "py_v1_cpu");
    assert_eq!(seen["select"]["status"], 400);

    let metrics = metrics_in(&app, &token, "pydb", "py_v1").await;
    assert_eq!(
        metrics["measurements"],
        json!([{
            "name": "py_v1_cpu",
            "fields": ["procs", "usage"],
            // web3's usage was kept though its text field was not.
            "tags": {"host": ["web1", "web2", "web3"]},
        }])
    );
}

async fn the_influxdb_2x_client_library_writes_gzip_and_reads_back(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, token) = app.user_with_token("a@example.com").await;

    let seen = run_client(&app, "v2", &token, "pybucket").await;
    assert_eq!(seen["gzip"], true);
    assert_eq!(seen["ping"], true);
    assert_eq!(seen["version"], "1.8.10");
    assert_eq!(seen["health"]["status"], "pass");
    assert_eq!(seen["health"]["name"], "influxdb");
    assert_eq!(seen["written"], true);
    // 2.x clients read `message`.
    assert_type_conflict(&seen["partial"], "message", "py_v2_mem");
    let partial = &seen["partial"];
    assert_eq!(partial["body"]["code"], "invalid");

    let metrics = metrics_in(&app, &token, "pybucket", "py_v2").await;
    assert_eq!(
        metrics["measurements"],
        json!([{
            "name": "py_v2_mem",
            "fields": ["used"],
            "tags": {"host": ["web1", "web2", "web3"]},
        }])
    );
    let stored: Vec<(String, i64, f64)> = point::Entity::find_owned(user)
        .order_by_asc(point::Column::Id)
        .all(app.store.db())
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.series_key, p.time, p.value))
        .collect();
    assert_eq!(
        stored,
        [
            ("host=web1".to_owned(), T0_MS, 0.25),
            ("host=web2".to_owned(), T0_MS, 0.5),
            ("host=web3".to_owned(), T0_MS, 0.75),
        ]
    );
}
