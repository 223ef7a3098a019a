//! The InfluxDB source against a real InfluxDB 1.x started by the tests.

#[path = "support/influxd.rs"]
mod influxd;

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use alert_worker::source::{
    CatalogRequest, MeasurementInfo, MetricSource, Reduce, SeriesQuery, SeriesValue, SourceError,
    influx::{InfluxConfig, InfluxSource},
};
use chrono::{DateTime, TimeZone, Utc};
use influxd::{influxd, lp_key, lp_measurement};
use shared_models::{ids::UserId, rule::Aggregation, secret::Secret};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

/// The evaluation time of every test: 2024-01-01T00:00:00Z.
fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
        .single()
        .expect("valid time")
}

/// Milliseconds since the epoch of `at() + offset_s` seconds.
fn ms(offset_s: i64) -> i64 {
    at().timestamp_millis() + offset_s * 1000
}

fn config(url: &str, database: &str) -> InfluxConfig {
    InfluxConfig {
        url: url.to_owned(),
        default_database: database.to_owned(),
        token: None,
        username: None,
        password: None,
        timeout: Duration::from_secs(10),
        max_concurrency: 4,
        max_statements_per_request: 100,
    }
}

fn source(database: &str) -> InfluxSource {
    InfluxSource::new(config(influxd().url(), database)).expect("valid settings")
}

fn query(measurement: &str, field: &str, tags: &[(&str, &str)], reduce: Reduce) -> SeriesQuery {
    SeriesQuery {
        owner: UserId::generate(),
        database: None,
        measurement: measurement.to_owned(),
        field: field.to_owned(),
        tags: tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        reduce,
        window: Duration::from_secs(60),
        group_by: Vec::new(),
    }
}

fn rule(aggregation: Aggregation) -> Reduce {
    Reduce::Rule(aggregation)
}

/// The single value of an ungrouped answer.
fn single(result: &Result<Vec<SeriesValue>, SourceError>) -> f64 {
    match result {
        Ok(values) if values.len() == 1 && values[0].labels.is_empty() => values[0].value,
        other => panic!("expected one unlabelled value, got {other:?}"),
    }
}

fn labelled(result: &Result<Vec<SeriesValue>, SourceError>) -> Vec<(Vec<(String, String)>, f64)> {
    let mut out: Vec<_> = match result {
        Ok(values) => values
            .iter()
            .map(|v| (v.labels.clone().into_iter().collect(), v.value))
            .collect(),
        Err(error) => panic!("expected values, got {error:?}"),
    };
    out.sort_by(|a: &(Vec<_>, f64), b| a.0.cmp(&b.0));
    out
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn every_reduction_over_the_window() {
    let db = influxd().create_database().await;
    // In the window (at - 60 s, at]: 1, 2, 4, 8. Outside: before, on the
    // open lower bound, and after `at`.
    let lines = [
        (-90, 1000.0),
        (-60, 500.0),
        (-50, 1.0),
        (-30, 2.0),
        (-10, 4.0),
        (0, 8.0),
        (5, 2000.0),
    ]
    .iter()
    .map(|(s, v)| format!("price,symbol=BTC value={v} {}", ms(*s)))
    .collect::<Vec<_>>()
    .join("\n");
    influxd().write(&db, &lines).await;
    influxd()
        .write(
            &db,
            &format!(
                "volume,symbol=BTC value=3i {}\nvolume,symbol=BTC value=4i {}",
                ms(-20),
                ms(-5)
            ),
        )
        .await;

    let reductions = [
        (rule(Aggregation::Last), 8.0),
        (Reduce::First, 1.0),
        (rule(Aggregation::Mean), 3.75),
        (rule(Aggregation::Min), 1.0),
        (rule(Aggregation::Max), 8.0),
        (rule(Aggregation::Sum), 15.0),
        (rule(Aggregation::Count), 4.0),
    ];
    let mut queries: Vec<SeriesQuery> = reductions
        .iter()
        .map(|(reduce, _)| query("price", "value", &[("symbol", "BTC")], *reduce))
        .collect();
    queries.push(query("volume", "value", &[], rule(Aggregation::Sum)));
    let mut shorter = query("price", "value", &[], rule(Aggregation::Sum));
    shorter.window = Duration::from_secs(15);
    queries.push(shorter);
    let mut empty = query("price", "value", &[], rule(Aggregation::Max));
    empty.window = Duration::from_millis(500);
    queries.push(query(
        "price",
        "value",
        &[("symbol", "ETH")],
        rule(Aggregation::Last),
    ));

    let results = source(&db).query(&queries, at()).await;
    assert_eq!(results.len(), queries.len());
    for ((reduce, expected), result) in reductions.iter().zip(&results) {
        assert_eq!(single(result), *expected, "{reduce:?}");
    }
    assert_eq!(
        single(&results[7]),
        7.0,
        "integer fields are read as numbers"
    );
    assert_eq!(
        single(&results[8]),
        12.0,
        "a 15 s window holds the last two points"
    );
    assert_eq!(
        results[9].as_ref().ok(),
        Some(&Vec::new()),
        "no series, no value"
    );

    // Half a second before the last point: nothing in the window.
    let results = source(&db)
        .query(&[empty], at() - chrono::Duration::seconds(1))
        .await;
    assert_eq!(results[0].as_ref().ok(), Some(&Vec::new()));
}

#[tokio::test]
async fn tag_filters_and_group_by() {
    let db = influxd().create_database().await;
    let t = ms(-1);
    influxd()
        .write(
            &db,
            &format!(
                "trade,symbol=A,venue=x qty=1 {t}\ntrade,symbol=A,venue=y qty=2 {t}\n\
                 trade,symbol=B,venue=x qty=4 {t}\ntrade,symbol=B qty=8 {t}"
            ),
        )
        .await;
    let sum = rule(Aggregation::Sum);
    let mut by_venue = query("trade", "qty", &[("symbol", "A")], sum);
    by_venue.group_by = vec!["venue".to_owned()];
    let mut by_both = query("trade", "qty", &[], sum);
    by_both.group_by = vec!["venue".to_owned(), "symbol".to_owned()];
    let queries = [
        query("trade", "qty", &[("symbol", "A")], sum),
        query("trade", "qty", &[("symbol", "A"), ("venue", "y")], sum),
        query("trade", "qty", &[("symbol", "C")], sum),
        query("trade", "qty", &[("venue", "x")], sum),
        by_venue,
        by_both,
        // `''` matches the series without the tag, as InfluxQL defines it.
        query("trade", "qty", &[("venue", "")], sum),
    ];
    let results = source(&db).query(&queries, at()).await;
    assert_eq!(single(&results[0]), 3.0);
    assert_eq!(single(&results[1]), 2.0);
    assert_eq!(results[2].as_ref().ok(), Some(&Vec::new()));
    assert_eq!(single(&results[3]), 5.0);
    assert_eq!(
        labelled(&results[4]),
        [
            (pairs(&[("venue", "x")]), 1.0),
            (pairs(&[("venue", "y")]), 2.0)
        ]
    );
    assert_eq!(
        labelled(&results[5]),
        [
            (pairs(&[("symbol", "A"), ("venue", "x")]), 1.0),
            (pairs(&[("symbol", "A"), ("venue", "y")]), 2.0),
            (pairs(&[("symbol", "B"), ("venue", "")]), 8.0),
            (pairs(&[("symbol", "B"), ("venue", "x")]), 4.0),
        ]
    );
    assert_eq!(single(&results[6]), 8.0);
}

/// Many queries, with duplicates, merged families larger than one
/// statement, several databases and small requests, answer exactly what
/// each query answers alone, in input order.
#[tokio::test]
async fn batched_answers_equal_single_answers() {
    let db = influxd().create_database().await;
    let other = influxd().create_database().await;
    let mut lines = Vec::new();
    for s in 0..300 {
        for (offset, venue) in [(-40i64, "x"), (-20, "y"), (-2, "x")] {
            lines.push(format!(
                "quote,symbol=S{s},venue={venue} bid={},ask={} {}",
                s as i64 * 10 + offset.abs(),
                s + 1,
                ms(offset)
            ));
        }
    }
    influxd().write(&db, &lines.join("\n")).await;
    influxd()
        .write(&other, &format!("quote,symbol=S1 bid=99 {}", ms(-1)))
        .await;

    let reductions = [
        rule(Aggregation::Last),
        Reduce::First,
        rule(Aggregation::Mean),
        rule(Aggregation::Count),
    ];
    let mut queries = Vec::new();
    for s in 0..300 {
        let symbol = format!("S{s}");
        let reduce = reductions[s % reductions.len()];
        queries.push(query("quote", "bid", &[("symbol", &symbol)], reduce));
        queries.push(query(
            "quote",
            "bid",
            &[("symbol", &symbol)],
            rule(Aggregation::Max),
        ));
        if s % 3 == 0 {
            let mut grouped = query(
                "quote",
                "ask",
                &[("symbol", &symbol)],
                rule(Aggregation::Sum),
            );
            grouped.group_by = vec!["venue".to_owned()];
            queries.push(grouped);
            queries.push(query(
                "quote",
                "bid",
                &[("symbol", &symbol), ("venue", "x")],
                Reduce::First,
            ));
        }
        if s % 50 == 0 {
            let mut elsewhere = query("quote", "bid", &[("symbol", "S1")], rule(Aggregation::Last));
            elsewhere.database = Some(other.clone());
            queries.push(elsewhere);
            queries.push(query(
                "quote",
                "bid",
                &[("symbol", &symbol)],
                rule(Aggregation::Max),
            ));
        }
    }
    // Every query twice more, the copies shuffled in among the originals.
    let originals = queries.len();
    for i in 0..originals {
        queries.push(queries[(i * 7) % originals].clone());
        queries.insert(i * 2, queries[(i * 13) % originals].clone());
    }

    let mut small = config(influxd().url(), &db);
    small.max_statements_per_request = 7;
    small.max_concurrency = 3;
    let batched = InfluxSource::new(small).expect("valid settings");
    let started = Instant::now();
    let results = batched.query(&queries, at()).await;
    eprintln!("{} queries in {:?}", queries.len(), started.elapsed());
    assert_eq!(results.len(), queries.len());

    let alone = source(&db);
    for (i, (query, result)) in queries.iter().zip(&results).enumerate() {
        let expected = alone.query(std::slice::from_ref(query), at()).await;
        let sorted = |r: &Result<Vec<SeriesValue>, SourceError>| labelled(r);
        assert_eq!(sorted(result), sorted(&expected[0]), "query {i}: {query:?}");
        assert!(!sorted(result).is_empty(), "query {i} found data");
    }
    assert_eq!(
        single(
            &results[queries
                .iter()
                .position(|q| q.database.is_some())
                .expect("one")]
        ),
        99.0
    );
}

#[tokio::test]
async fn a_failing_statement_fails_its_query_only() {
    let db = influxd().create_database().await;
    influxd()
        .write(
            &db,
            &format!("m,k=a v=1,s=\"text\" {}\nm,k=b v=2 {}", ms(-1), ms(-1)),
        )
        .await;
    let mut missing = query("m", "v", &[], rule(Aggregation::Last));
    missing.database = Some("no_such_database".to_owned());
    let mut missing_too = query("m", "v", &[("k", "b")], rule(Aggregation::Max));
    missing_too.database = Some("no_such_database".to_owned());
    let queries = [
        query("m", "v", &[("k", "a")], rule(Aggregation::Last)),
        missing,
        query("m", "s", &[], rule(Aggregation::Sum)),
        query("m", "v", &[("k", "b")], rule(Aggregation::Last)),
        query("m", "s", &[], rule(Aggregation::Last)),
        missing_too,
        query("m", "v", &[("k", "a\rb")], rule(Aggregation::Last)),
        query("m", "v", &[], rule(Aggregation::Sum)),
    ];
    // One request per database: the failing statements sit between good ones.
    let mut settings = config(influxd().url(), &db);
    settings.max_concurrency = 1;
    let source = InfluxSource::new(settings).expect("valid settings");
    let results = source.query(&queries, at()).await;
    assert_eq!(single(&results[0]), 1.0);
    for i in [1, 5] {
        assert!(
            matches!(&results[i], Err(SourceError::Refused(m)) if m.contains("database not found")),
            "{:?}",
            results[i]
        );
    }
    assert!(
        matches!(&results[2], Err(SourceError::Refused(m)) if m.contains("unsupported sum")),
        "{:?}",
        results[2]
    );
    assert_eq!(single(&results[3]), 2.0);
    assert!(
        matches!(&results[4], Err(SourceError::Refused(m)) if m.contains("non-numeric")),
        "{:?}",
        results[4]
    );
    assert!(matches!(&results[6], Err(SourceError::Refused(m)) if m.contains("cannot express")));
    assert_eq!(single(&results[7]), 3.0);
}

#[tokio::test]
async fn hostile_names_round_trip() {
    let db = influxd().create_database().await;
    let measurement = "q\"u'o\\te,m ; DROP MEASUREMENT x;é";
    let tag_key = "t\"a\\g k=ey'";
    let tag_value = "v\"a\\l=u'e,; DROP DATABASE x 😀";
    let field = "fi\"e\\l=d', x";
    let lines = format!(
        "{m} {f}=7 {}\n{m},{k}={v} {f}=42 {}",
        ms(-2),
        ms(-1),
        m = lp_measurement(measurement),
        f = lp_key(field),
        k = lp_key(tag_key),
        v = lp_key(tag_value),
    );
    influxd().write(&db, &lines).await;
    // Line protocol cannot carry a newline; InfluxQL can, through SELECT INTO.
    let newline_measurement = "nl\nmeas;é";
    let newline_field = "fi\neld'";
    influxd()
        .query(
            &db,
            "SELECT \"fi\\\"e\\\\l=d', x\" AS \"fi\\neld'\" INTO \"nl\\nmeas;é\" \
             FROM \"q\\\"u'o\\\\te,m ; DROP MEASUREMENT x;é\" GROUP BY *",
        )
        .await;

    let mut grouped = query(measurement, field, &[], rule(Aggregation::Sum));
    grouped.group_by = vec![tag_key.to_owned()];
    let mut merged_a = query(
        newline_measurement,
        newline_field,
        &[(tag_key, tag_value)],
        rule(Aggregation::Max),
    );
    merged_a.group_by = vec![tag_key.to_owned()];
    let mut merged_b = merged_a.clone();
    merged_b.tags.insert(tag_key.to_owned(), "other".to_owned());
    let queries = [
        query(
            measurement,
            field,
            &[(tag_key, tag_value)],
            rule(Aggregation::Last),
        ),
        grouped,
        merged_a,
        merged_b,
        query(
            newline_measurement,
            newline_field,
            &[],
            rule(Aggregation::Count),
        ),
    ];
    let results = source(&db).query(&queries, at()).await;
    assert_eq!(single(&results[0]), 42.0);
    assert_eq!(
        labelled(&results[1]),
        [
            (pairs(&[(tag_key, "")]), 7.0),
            (pairs(&[(tag_key, tag_value)]), 42.0)
        ]
    );
    assert_eq!(
        labelled(&results[2]),
        [(pairs(&[(tag_key, tag_value)]), 42.0)]
    );
    assert_eq!(results[3].as_ref().ok(), Some(&Vec::new()));
    assert_eq!(single(&results[4]), 2.0);

    let catalog = source(&db)
        .catalog(&CatalogRequest {
            owner: UserId::generate(),
            database: None,
            prefix: Some("q\"u'o\\te,m ;".to_owned()),
            measurements_limit: 10,
            values_limit: 10,
            describe: true,
        })
        .await
        .expect("catalog");
    assert_eq!(
        catalog.measurements,
        [MeasurementInfo {
            name: measurement.to_owned(),
            fields: vec![field.to_owned()],
            tags: BTreeMap::from([(tag_key.to_owned(), vec![tag_value.to_owned()])]),
            more_tag_values: BTreeSet::new(),
        }]
    );
}

#[tokio::test]
async fn catalog_by_prefix_and_limits() {
    let db = influxd().create_database().await;
    let t = ms(-1);
    influxd()
        .write(
            &db,
            &format!(
                "cpu.load,host=a,dc=x user=1,system=2 {t}\ncpu.load,host=b,dc=x user=1 {t}\n\
                 cpu.load,host=c user=1 {t}\ncpuxload,host=a v=1 {t}\ncpu.temp,zone=1 c=50 {t}\n\
                 mem,host=a used=1 {t}"
            ),
        )
        .await;
    let request = |prefix: Option<&str>, measurements_limit, values_limit| CatalogRequest {
        owner: UserId::generate(),
        database: None,
        prefix: prefix.map(str::to_owned),
        measurements_limit,
        values_limit,
        describe: true,
    };
    let source = source(&db);

    let catalog = source
        .catalog(&request(Some("cpu."), 10, 2))
        .await
        .expect("catalog");
    let names: Vec<&str> = catalog
        .measurements
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(names, ["cpu.load", "cpu.temp"], "`.` is taken literally");
    assert_eq!(catalog.measurements[0].fields, ["system", "user"]);
    assert_eq!(
        catalog.measurements[0].tags,
        BTreeMap::from([
            ("dc".to_owned(), vec!["x".to_owned()]),
            ("host".to_owned(), vec!["a".to_owned(), "b".to_owned()]),
        ])
    );
    assert_eq!(
        catalog.measurements[0].more_tag_values,
        BTreeSet::from(["host".to_owned()]),
        "host has a third value, c, not listed"
    );
    assert_eq!(catalog.measurements[1].fields, ["c"]);
    assert!(!catalog.more_measurements);

    let all = source.catalog(&request(None, 2, 0)).await.expect("catalog");
    let names: Vec<&str> = all.measurements.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["cpu.load", "cpu.temp"]);
    assert!(all.more_measurements, "cpuxload and mem are not listed");
    assert!(
        all.measurements[0].tags.values().all(Vec::is_empty),
        "values_limit 0: no values"
    );

    let none = source
        .catalog(&request(Some("disk"), 10, 10))
        .await
        .expect("catalog");
    assert!(none.measurements.is_empty());
    let zero = source
        .catalog(&request(None, 0, 10))
        .await
        .expect("catalog");
    assert!(
        zero.measurements.is_empty(),
        "LIMIT 0 would mean no limit to InfluxDB"
    );

    // InfluxDB 1.6 lists no measurements for a database it does not have.
    let mut elsewhere = request(None, 10, 10);
    elsewhere.database = Some("no_such_database".to_owned());
    let missing = source.catalog(&elsewhere).await.expect("catalog");
    assert!(missing.measurements.is_empty());
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    // Accepts and holds every connection, answering nothing.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let mut settings = config(&url, "db");
    settings.timeout = Duration::from_millis(300);
    settings.max_statements_per_request = 2;
    let source = InfluxSource::new(settings).expect("valid settings");
    let queries: Vec<SeriesQuery> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|m| query(m, "v", &[], rule(Aggregation::Last)))
        .collect();
    let started = Instant::now();
    let results = source.query(&queries, at()).await;
    let elapsed = started.elapsed();
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(SourceError::Timeout(d)) if *d == Duration::from_millis(300))),
        "{results:?}"
    );
    assert!(
        elapsed < Duration::from_secs(3),
        "requests ran concurrently: {elapsed:?}"
    );
    assert!(matches!(
        source
            .catalog(&CatalogRequest {
                owner: UserId::generate(),
                database: None,
                prefix: None,
                measurements_limit: 5,
                values_limit: 5,
                describe: true,
            })
            .await,
        Err(SourceError::Timeout(_))
    ));
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let source = InfluxSource::new(config(&format!("http://127.0.0.1:{port}"), "db"))
        .expect("valid settings");
    let results = source
        .query(&[query("m", "v", &[], rule(Aggregation::Last))], at())
        .await;
    assert!(
        matches!(&results[0], Err(SourceError::Unreachable(_))),
        "{results:?}"
    );
}

/// A scripted HTTP peer, for what a real InfluxDB will not do on demand:
/// serves `responses` to one connection each, in order, and hands back the
/// requests it got.
async fn serve(responses: Vec<String>) -> (String, tokio::task::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let task = tokio::spawn(async move {
        let mut requests = Vec::new();
        for response in responses {
            let (mut socket, _) = listener.accept().await.expect("a request");
            requests.push(read_request(&mut socket).await);
            socket.write_all(response.as_bytes()).await.expect("write");
            socket.shutdown().await.expect("shutdown");
        }
        requests
    });
    (url, task)
}

async fn answer_once(response: String) -> (String, tokio::task::JoinHandle<Vec<String>>) {
    serve(vec![response]).await
}

/// The head, then as many body bytes as it announces.
async fn read_request(socket: &mut tokio::net::TcpStream) -> String {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = socket.read(&mut buf).await.expect("read");
        request.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&request).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if request.len() >= end + 4 + length {
                break;
            }
        }
        if n == 0 {
            break;
        }
    }
    String::from_utf8_lossy(&request).to_string()
}

fn json_response(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A request refused as a whole (a parse error: InfluxDB does not say which
/// statement) is sent again one statement at a time, so that only the
/// culprit fails.
#[tokio::test]
async fn a_rejected_request_is_retried_statement_by_statement() {
    let value = |v| {
        format!(
            r#"{{"results":[{{"statement_id":0,"series":[{{"columns":["time","last"],"values":[[0,{v}]]}}]}}]}}"#
        )
    };
    let (url, seen) = serve(vec![
        json_response(
            "400 Bad Request",
            r#"{"error":"error parsing query: boom"}"#,
        ),
        json_response("200 OK", &value(1)),
        json_response(
            "400 Bad Request",
            r#"{"error":"error parsing query: this one"}"#,
        ),
        json_response("200 OK", &value(3)),
    ])
    .await;
    let mut settings = config(&url, "db");
    settings.max_concurrency = 1;
    let source = InfluxSource::new(settings).expect("valid settings");
    let queries: Vec<SeriesQuery> = ["a", "b", "c"]
        .iter()
        .map(|m| query(m, "v", &[], rule(Aggregation::Last)))
        .collect();
    let results = source.query(&queries, at()).await;
    assert_eq!(single(&results[0]), 1.0);
    assert!(
        matches!(&results[1], Err(SourceError::Refused(m)) if m == "error parsing query: this one"),
        "{results:?}"
    );
    assert_eq!(single(&results[2]), 3.0);
    let requests = seen.await.expect("requests");
    let statements: Vec<usize> = requests
        .iter()
        .map(|r| r.matches("SELECT").count())
        .collect();
    assert_eq!(statements, [3, 1, 1, 1]);
}

#[tokio::test]
async fn credentials_travel_in_headers() {
    let ok = || {
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 34\r\nConnection: close\r\n\r\n{\"results\":[{\"statement_id\":0}]}\r\n".to_owned()
    };

    let (url, seen) = answer_once(ok()).await;
    let mut settings = config(&url, "db");
    settings.token = Some(Secret::new("s3cret-token".to_owned()));
    let source = InfluxSource::new(settings).expect("valid settings");
    assert!(
        !format!("{source:?}").contains("s3cret"),
        "Debug leaks nothing"
    );
    let results = source
        .query(&[query("m", "v", &[], rule(Aggregation::Last))], at())
        .await;
    assert_eq!(results[0].as_ref().ok(), Some(&Vec::new()));
    let request = seen.await.expect("request").concat();
    assert!(
        request.starts_with("POST /query?db=db&epoch=ns HTTP/1.1"),
        "{request}"
    );
    assert!(
        request.contains("authorization: Token s3cret-token"),
        "{request}"
    );
    assert!(
        request.contains("q=SELECT+last%28%22v%22%29+FROM+%22m%22"),
        "{request}"
    );

    let (url, seen) = answer_once(ok()).await;
    let mut settings = config(&url, "db");
    settings.username = Some("reader".to_owned());
    settings.password = Some(Secret::new("pw".to_owned()));
    let source = InfluxSource::new(settings).expect("valid settings");
    source
        .query(&[query("m", "v", &[], rule(Aggregation::Last))], at())
        .await;
    let request = seen.await.expect("request").concat();
    // base64("reader:pw")
    assert!(
        request.contains("authorization: Basic cmVhZGVyOnB3"),
        "{request}"
    );
    assert!(
        !request.contains("pw&") && !request.contains("p=pw"),
        "{request}"
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let (target, never) =
        answer_once("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_owned()).await;
    let redirect = format!(
        "HTTP/1.1 307 Temporary Redirect\r\nLocation: {target}/query\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let (url, seen) = answer_once(redirect).await;
    let mut settings = config(&url, "db");
    settings.token = Some(Secret::new("s3cret-token".to_owned()));
    let source = InfluxSource::new(settings).expect("valid settings");
    let results = source
        .query(&[query("m", "v", &[], rule(Aggregation::Last))], at())
        .await;
    assert!(
        matches!(&results[0], Err(SourceError::Unreachable(m)) if m.contains("redirect")),
        "{results:?}"
    );
    seen.await.expect("request");
    assert!(
        !never.is_finished(),
        "the redirect target was never contacted"
    );
    never.abort();
}

#[test]
fn settings_are_checked() {
    let bad = |edit: fn(&mut InfluxConfig)| {
        let mut settings = config("http://127.0.0.1:8086", "db");
        edit(&mut settings);
        InfluxSource::new(settings).expect_err("refused")
    };
    bad(|c| c.url = "not a url".to_owned());
    bad(|c| c.url = "https://influx.example".to_owned());
    bad(|c| c.max_concurrency = 0);
    bad(|c| c.max_statements_per_request = 0);
    bad(|c| c.timeout = Duration::ZERO);
    bad(|c| {
        c.token = Some(Secret::new("t".to_owned()));
        c.username = Some("u".to_owned());
    });
    bad(|c| c.password = Some(Secret::new("p".to_owned())));
}
