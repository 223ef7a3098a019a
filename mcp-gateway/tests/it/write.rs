use std::{io::Write, time::Duration};

use flate2::{Compression, write::GzEncoder};
use reqwest::{RequestBuilder, StatusCode};
use sea_orm::{EntityTrait, PaginatorTrait, QueryOrder};
use serde_json::Value;
use shared_models::{
    entity::{TenantScoped, point},
    ids::UserId,
    time::Clock,
};

use crate::support::{
    Backend, TestApp, on_both_backends, spawn_app, spawn_app_with, spawn_replica,
};

on_both_backends!(
    numeric_fields_are_stored_through_both_api_versions,
    timestamps_follow_the_precision_or_default_to_now,
    gzip_bodies_are_decompressed_within_the_limit,
    a_bad_line_refuses_the_whole_body,
    fields_that_are_not_numbers_are_refused_and_the_numbers_kept,
    writes_are_refused_while_rules_read_influxdb,
    names_differing_in_case_or_trailing_space_stay_apart,
    writes_need_a_token_in_any_influx_form,
    points_belong_to_the_writer,
    expired_points_are_deleted_by_the_retention_sweep,
);

/// 1 December 2026, 00:00:00 UTC.
const T0_MS: i64 = 1_796_083_200_000;

fn post(app: &TestApp, path_and_query: &str, body: impl Into<reqwest::Body>) -> RequestBuilder {
    reqwest::Client::new()
        .post(format!("http://{}{path_and_query}", app.addr))
        .timeout(Duration::from_secs(30))
        .body(body)
}

async fn points_of(app: &TestApp, owner: UserId) -> Vec<point::Model> {
    point::Entity::find_owned(owner)
        .order_by_asc(point::Column::Id)
        .all(app.store.db())
        .await
        .unwrap()
}

async fn error_of(response: reqwest::Response) -> String {
    let body: Value = response.json().await.unwrap();
    body["error"].as_str().unwrap_or_default().to_owned()
}

async fn numeric_fields_are_stored_through_both_api_versions(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, token) = app.user_with_token("a@example.com").await;

    let v1 = post(
        &app,
        "/write?db=telegraf&precision=ms",
        format!("cpu,host=web1,region=eu usage=12.5,procs=42i,big=7u {T0_MS}\n"),
    )
    .bearer_auth(&token)
    .send()
    .await
    .unwrap();
    assert_eq!(v1.status(), StatusCode::NO_CONTENT);
    assert!(v1.bytes().await.unwrap().is_empty());

    // InfluxDB 2 clients send `Authorization: Token …`.
    let v2 = post(
        &app,
        "/api/v2/write?org=ignored&bucket=metrics&precision=s",
        format!("mem,host=web1 used=0.25 {}", T0_MS / 1000),
    )
    .header("authorization", format!("Token {token}"))
    .send()
    .await
    .unwrap();
    assert_eq!(v2.status(), StatusCode::NO_CONTENT);

    let stored: Vec<_> = points_of(&app, user)
        .await
        .into_iter()
        .map(|p| {
            (
                p.db,
                p.measurement,
                p.field,
                p.series_key,
                p.tags,
                p.time,
                p.value,
            )
        })
        .collect();
    let cpu = |field: &str, value: f64| {
        (
            "telegraf".to_owned(),
            "cpu".to_owned(),
            field.to_owned(),
            "host=web1,region=eu".to_owned(),
            r#"{"host":"web1","region":"eu"}"#.to_owned(),
            T0_MS,
            value,
        )
    };
    assert_eq!(
        stored,
        vec![
            cpu("usage", 12.5),
            cpu("procs", 42.0),
            cpu("big", 7.0),
            (
                "metrics".to_owned(),
                "mem".to_owned(),
                "used".to_owned(),
                "host=web1".to_owned(),
                r#"{"host":"web1"}"#.to_owned(),
                T0_MS,
                0.25
            ),
        ]
    );

    // The database name is required and bounded.
    for query in [
        "/write",
        "/write?db=",
        &format!("/write?db={}", "d".repeat(65)),
    ] {
        let response = post(&app, query, "m v=1")
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        assert!(error_of(response).await.contains("db"));
    }
    let response = post(&app, "/api/v2/write", "m v=1")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(error_of(response).await.contains("bucket"));
}

async fn timestamps_follow_the_precision_or_default_to_now(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, token) = app.user_with_token("a@example.com").await;
    let ms = T0_MS;
    let cases = [
        (
            "/write?db=d",
            format!("v1ns v=1 {}", ms * 1_000_000 + 999_999),
        ),
        (
            "/write?db=d&precision=ns",
            format!("v1ns v=1 {}", ms * 1_000_000),
        ),
        ("/write?db=d&precision=u", format!("v1u v=1 {}", ms * 1_000)),
        ("/write?db=d&precision=ms", format!("v1ms v=1 {ms}")),
        ("/write?db=d&precision=s", format!("v1s v=1 {}", ms / 1_000)),
        (
            "/write?db=d&precision=m",
            format!("v1m v=1 {}", ms / 60_000),
        ),
        (
            "/write?db=d&precision=h",
            format!("v1h v=1 {}", ms / 3_600_000),
        ),
        (
            "/api/v2/write?bucket=d",
            format!("v2ns v=1 {}", ms * 1_000_000),
        ),
        (
            "/api/v2/write?bucket=d&precision=us",
            format!("v2us v=1 {}", ms * 1_000),
        ),
        (
            "/api/v2/write?bucket=d&precision=ms",
            format!("v2ms v=1 {ms}"),
        ),
        (
            "/api/v2/write?bucket=d&precision=s",
            format!("v2s v=1 {}", ms / 1_000),
        ),
    ];
    for (query, line) in &cases {
        let response = post(&app, query, line.clone())
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{query}");
    }
    let times: Vec<i64> = points_of(&app, user).await.iter().map(|p| p.time).collect();
    // T0 is a whole hour, so every precision lands on it exactly.
    assert_eq!(times, vec![T0_MS; cases.len()]);

    // Precisions of the other API version are refused.
    for query in [
        "/write?db=d&precision=us2",
        "/api/v2/write?bucket=d&precision=h",
    ] {
        let response = post(&app, query, "m v=1")
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        assert!(error_of(response).await.contains("precision"));
    }

    // No timestamp: the gateway's clock at the time of the write, for every
    // line of the body.
    app.clock().advance(chrono::Duration::minutes(5));
    let now = app.clock().now().as_millis();
    let response = post(&app, "/write?db=now", "a v=1\nb v=2")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let stamped: Vec<i64> = points_of(&app, user)
        .await
        .iter()
        .filter(|p| p.db == "now")
        .map(|p| p.time)
        .collect();
    assert_eq!(stamped, vec![now, now]);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

async fn gzip_bodies_are_decompressed_within_the_limit(backend: Backend) {
    // 1 KiB bodies, so the write endpoints take 16 KiB of line protocol.
    let app = spawn_app_with(backend, &[("MONITORS_MAX_BODY_BYTES", "1024")]).await;
    let (user, token) = app.user_with_token("a@example.com").await;

    let lines: String = (0..100)
        .map(|i| format!("gz,n={i} v={i} {}\n", T0_MS + i))
        .collect();
    assert!(lines.len() > 1024, "over the /mcp limit");
    let response = post(&app, "/write?db=plain&precision=ms", lines.clone())
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = post(&app, "/write?db=d&precision=ms", gzip(lines.as_bytes()))
        .bearer_auth(&token)
        .header("content-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(points_of(&app, user).await.len(), 200);

    // A small compressed body that expands beyond 16 KiB is refused whole.
    let mut bomb = lines.clone().into_bytes();
    bomb.extend(std::iter::repeat_n(b'#', 16 * 1024));
    let compressed = gzip(&bomb);
    assert!(compressed.len() < 1024);
    let response = post(&app, "/write?db=d&precision=ms", compressed)
        .bearer_auth(&token)
        .header("content-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        points_of(&app, user).await.len(),
        200,
        "nothing more stored"
    );

    // So is a plain body beyond the limit.
    let response = post(&app, "/write?db=d", vec![b'#'; 16 * 1024 + 1])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let response = post(&app, "/write?db=d", "not gzip at all")
        .bearer_auth(&token)
        .header("content-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(error_of(response).await.contains("gzip"));

    let response = post(&app, "/write?db=d", "m v=1")
        .bearer_auth(&token)
        .header("content-encoding", "br")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

async fn a_bad_line_refuses_the_whole_body(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, token) = app.user_with_token("a@example.com").await;

    // Enough good lines before the bad one to span several INSERT chunks.
    let mut body: String = (0..2_500).map(|i| format!("ok v={i} {i}\n")).collect();
    body.push_str("# a comment\n\nbad,host=a v=oops 1\nok v=1 1\n");
    let response = post(&app, "/write?db=d", body)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error = error_of(response).await;
    assert!(error.starts_with("line 2503: "), "{error}");

    // In plain words: what is wrong, and how a correct line reads.
    for (path, body, expected) in [
        (
            "/api/v2/write?bucket=d",
            "m,t=1,t=2 v=1",
            "line 1: tag \"t\" is repeated",
        ),
        (
            "/api/v2/write?bucket=d",
            "m v=1\nm v=1 notatime",
            "line 2: the timestamp \"notatime\" is not a whole number",
        ),
        (
            "/api/v2/write?bucket=d",
            "m v=1i,w=1 1\nm",
            "line 2: the line has no fields",
        ),
        (
            "/write?db=d",
            "ok v=1\nbad,host=a v=oops 1",
            "line 2: field \"v\" has the value \"oops\", which is not a number",
        ),
        (
            "/write?db=d",
            "cpu,host=a",
            "line 1: the line has no fields",
        ),
        (
            "/write?db=d",
            "cpu,host v=1",
            "line 1: tag \"host\" has no value",
        ),
        ("/write?db=d", "cpu, v=1", "line 1: there is an empty tag"),
    ] {
        let response = post(&app, path, body)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let error = error_of(response).await;
        assert!(error.starts_with(expected), "{body}: {error}");
        assert!(
            error.ends_with(
                "a correct line reads: measurement,tag=value field=1.5 1700000000000000000 \
                 (tags and the timestamp may be left out)"
            ),
            "{error}"
        );
        assert!(
            !error.contains("TakeWhile") && !error.contains("Malformed"),
            "{error}"
        );
    }
    assert!(points_of(&app, user).await.is_empty(), "nothing was stored");
}

async fn fields_that_are_not_numbers_are_refused_and_the_numbers_kept(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, token) = app.user_with_token("a@example.com").await;

    let body = format!(
        "crypto,symbol=BTC price=71000,level=\"high\" {T0_MS}\n\
         crypto,symbol=ETH price=3500,level=\"low\" {T0_MS}\n\
         status up=true {T0_MS}\n"
    );
    for (path, db) in [
        ("/write?db=v1&precision=ms", "v1"),
        ("/api/v2/write?bucket=v2&precision=ms", "v2"),
    ] {
        let response = post(&app, path, body.clone())
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        let answer: Value = response.json().await.unwrap();
        // 1.x clients and Telegraf read `error`, 2.x clients `message`.
        assert_eq!(answer["code"], "invalid");
        assert_eq!(answer["message"], answer["error"]);
        assert_eq!(
            answer["error"],
            "partial write: field type conflict: fields here must be numbers (such as value=1.5, \
             count=2i or bytes=3u) for rules to compare them, so these values were not stored: \
             field \"level\" of measurement \"crypto\" is a string (2 lines, the first line 1), \
             field \"up\" of measurement \"status\" is a boolean (line 3); every numeric field of \
             the request was stored dropped=3",
            "{path}"
        );
        let kept: Vec<(String, String, f64)> = points_of(&app, user)
            .await
            .into_iter()
            .filter(|p| p.db == db)
            .map(|p| (p.field, p.series_key, p.value))
            .collect();
        assert_eq!(
            kept,
            [
                ("price".to_owned(), "symbol=BTC".to_owned(), 71_000.0),
                ("price".to_owned(), "symbol=ETH".to_owned(), 3_500.0),
            ],
            "{path}"
        );
    }

    // A body with no number at all stores nothing and still says why.
    let response = post(&app, "/write?db=none", "m s=\"x\"")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(error_of(response).await.ends_with("dropped=1"));
    assert!(points_of(&app, user).await.iter().all(|p| p.db != "none"));

    // Many fields: five are named, the rest counted.
    let many: String = (0..7).map(|i| format!("m f{i}=\"x\"\n")).collect();
    let response = post(&app, "/write?db=none", many)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let error = error_of(response).await;
    assert!(error.contains("field \"f4\""), "{error}");
    assert!(!error.contains("field \"f5\""), "{error}");
    assert!(error.contains("and 2 more fields"), "{error}");
    assert!(error.ends_with("dropped=7"), "{error}");
}

async fn writes_are_refused_while_rules_read_influxdb(backend: Backend) {
    // Nothing listens there: the refusal needs no InfluxDB to answer.
    let app = spawn_app_with(
        backend,
        &[
            ("MONITORS_INFLUX_URL", "http://127.0.0.1:9/influx"),
            ("MONITORS_INFLUX_DATABASE", "markets"),
        ],
    )
    .await;
    let (user, token) = app.user_with_token("a@example.com").await;

    for path in ["/write?db=d", "/api/v2/write?bucket=d"] {
        let response = post(&app, path, "cpu v=1")
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(
            error_of(response).await,
            "rules on this installation read InfluxDB at http://127.0.0.1:9/influx (database \
             \"markets\"), not points written here: write these points to that InfluxDB instead",
            "{path}"
        );
    }
    // Still only for callers with a token.
    let response = post(&app, "/write?db=d", "cpu v=1").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(points_of(&app, user).await.is_empty());
}

async fn writes_need_a_token_in_any_influx_form(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, token) = app.user_with_token("a@example.com").await;

    let response = post(&app, "/write?db=d", "m v=1").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key("www-authenticate"));
    for bad in [
        post(&app, "/write?db=d", "m v=1").bearer_auth("mcpk_nope"),
        post(&app, "/api/v2/write?bucket=d", "m v=1").header("authorization", "Token nope"),
        post(&app, "/write?db=d&u=me&p=nope", "m v=1"),
        post(&app, "/write?db=d", "m v=1").basic_auth("me", Some("nope")),
    ] {
        let response = bad.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    assert!(points_of(&app, user).await.is_empty());

    // InfluxDB 1.x clients give the token as a password, in the query or as
    // HTTP Basic auth; the user name is ignored.
    for good in [
        post(&app, &format!("/write?db=d&u=anyone&p={token}"), "m v=1"),
        post(&app, "/write?db=d", "m v=2").basic_auth("telegraf", Some(&token)),
    ] {
        let response = good.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    assert_eq!(points_of(&app, user).await.len(), 2);
}

async fn points_belong_to_the_writer(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, alice_token) = app.user_with_token("alice@example.com").await;
    let (bob, bob_token) = app.user_with_token("bob@example.com").await;

    for (token, value) in [(&alice_token, 1), (&bob_token, 2), (&bob_token, 3)] {
        let response = post(&app, "/write?db=shared", format!("cpu,host=a v={value}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    let values =
        |points: Vec<point::Model>| -> Vec<f64> { points.iter().map(|p| p.value).collect() };
    assert_eq!(values(points_of(&app, alice).await), vec![1.0]);
    assert_eq!(values(points_of(&app, bob).await), vec![2.0, 3.0]);
    let all = point::Entity::find().count(app.store.db()).await.unwrap();
    assert_eq!(all, 3);
}

async fn expired_points_are_deleted_by_the_retention_sweep(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, alice_token) = app.user_with_token("alice@example.com").await;
    let (bob, bob_token) = app.user_with_token("bob@example.com").await;
    let now = app.clock().now().as_millis();
    let day = 86_400_000;

    // 12,000 expired points (several DELETE chunks), 3 recent ones.
    let old: String = (0..12_000)
        .map(|i| format!("old,n={} v={i} {}\n", i % 50, now - 10 * day + i))
        .collect();
    let started = std::time::Instant::now();
    let response = post(&app, "/write?db=d&precision=ms", old)
        .bearer_auth(&alice_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    eprintln!("12,000 lines written in {:?}", started.elapsed());
    for (token, age) in [(&alice_token, day), (&bob_token, 2 * day), (&bob_token, 0)] {
        let response = post(
            &app,
            "/write?db=d&precision=ms",
            format!("new v=1 {}", now - age),
        )
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    let response = post(
        &app,
        "/write?db=d&precision=ms",
        format!("old v=1 {}", now - 9 * day),
    )
    .bearer_auth(&bob_token)
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    // Retention is across tenants: everything before the cutoff goes.
    let deleted = app.store.delete_points_before(now - 9 * day).await.unwrap();
    assert_eq!(deleted, 12_000);
    assert_eq!(points_of(&app, alice).await.len(), 1);
    assert_eq!(points_of(&app, bob).await.len(), 3);
    assert_eq!(
        app.store.delete_points_before(now - 9 * day).await.unwrap(),
        0
    );

    // The gateway sweeps on its own at start and every minute after: a
    // replica started now deletes what is older than the 7-day default.
    let _replica = spawn_replica(&app).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left = point::Entity::find().count(app.store.db()).await.unwrap();
        if left == 3 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{left} points left");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        points_of(&app, bob).await.len(),
        2,
        "the 9-day-old point is gone"
    );
}

async fn names_differing_in_case_or_trailing_space_stay_apart(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = app.user_with_token("a@example.com").await;

    // An escaped space ends the second measurement, field and tag value.
    let body = "cpu,host=a v=1\nCPU,host=A V=2\ncpu\\ ,host=a\\  v\\ =3\n";
    let response = post(&app, "/write?db=monitors", body)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let client = app.client(&token).await;
    let listed = client.ok("list_metrics", serde_json::json!({})).await;
    assert_eq!(
        listed["measurements"],
        serde_json::json!([
            {"name": "CPU", "fields": ["V"], "tags": {"host": ["A"]}},
            {"name": "cpu", "fields": ["v"], "tags": {"host": ["a"]}},
            {"name": "cpu ", "fields": ["v "], "tags": {"host": ["a "]}},
        ])
    );
}
