//! A server that misbehaves (never answers, a closed port, a rejected
//! request, a redirect), credentials in headers, and checked settings.

use super::*;

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
