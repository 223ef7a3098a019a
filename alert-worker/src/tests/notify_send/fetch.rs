//! `fetch`: a document with its caching headers, read within its limit,
//! and through the egress guard.

use super::*;

#[tokio::test]
async fn fetch_gets_a_document_with_its_caching_headers() {
    let receiver = Receiver::scripted([Reply::status(200)
        .header("content-type", "application/json")
        .header("cache-control", "max-age=600")
        .body(r#"{"client_id":"x"}"#)])
    .await;
    let fetched = local_sender()
        .client()
        .fetch(&receiver.url("/client.json?v=1"), 1024)
        .await
        .unwrap();
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.content_type.as_deref(), Some("application/json"));
    assert_eq!(fetched.cache_control.as_deref(), Some("max-age=600"));
    assert_eq!(fetched.body, br#"{"client_id":"x"}"#);
    let request = receiver.single();
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/client.json?v=1");
    assert_eq!(request.header("accept"), Some("application/json"));
    assert!(request.header("content-type").is_none());
}

#[tokio::test]
async fn fetch_reads_no_more_than_it_may() {
    let chunk = "x".repeat(1024);
    let receiver = Receiver::scripted([
        // Exactly the limit, streamed.
        Reply::status(200).streamed(&chunk, 4),
        // One chunk over it, streamed: only reading tells.
        Reply::status(200).streamed(&chunk, 5),
        // Endless as far as the reader knows (a gigabyte).
        Reply::status(200).streamed(&chunk, 1 << 20),
        // Declared too long: refused on the header.
        Reply::status(200).body(&"y".repeat(5000)),
    ])
    .await;
    let sender = local_sender();
    let url = receiver.url("/doc");
    assert_eq!(
        sender.client().fetch(&url, 4096).await.unwrap().body.len(),
        4096
    );
    for _ in 0..3 {
        let error = sender.client().fetch(&url, 4096).await.unwrap_err();
        assert!(
            matches!(
                error,
                FetchError::Http(HttpFailure::TooLarge { limit: 4096, .. })
            ),
            "{error:?}"
        );
        assert!(
            chain(&error).contains("127.0.0.1 sent a body larger than 4096 bytes"),
            "{}",
            chain(&error)
        );
    }
    assert_eq!(receiver.requests().len(), 4);
}

#[tokio::test]
async fn fetch_returns_redirects_and_errors_as_answers() {
    let target = Receiver::start().await;
    let receiver = Receiver::scripted([
        Reply::status(301).header("location", &target.url("/moved")),
        Reply::status(404).body("no such client"),
    ])
    .await;
    let sender = local_sender();
    let moved = sender
        .client()
        .fetch(&receiver.url("/c"), 1024)
        .await
        .unwrap();
    assert_eq!(moved.status, 301);
    let missing = sender
        .client()
        .fetch(&receiver.url("/c"), 1024)
        .await
        .unwrap();
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body, b"no such client");
    assert!(target.requests().is_empty());
}

#[tokio::test]
async fn fetch_goes_through_the_egress_guard_and_the_timeout() {
    let receiver = Receiver::start().await;
    let guarded = sender(&[], Duration::from_secs(5));
    let error = guarded
        .client()
        .fetch(&receiver.url("/client.json"), 1024)
        .await
        .unwrap_err();
    assert!(
        matches!(error, FetchError::Egress(EgressError::Forbidden { .. })),
        "{error:?}"
    );
    let error = guarded
        .client()
        .fetch("https://169.254.169.254/latest/meta-data/", 1024)
        .await
        .unwrap_err();
    assert!(
        chain(&error).contains("cloud metadata"),
        "{}",
        chain(&error)
    );
    assert!(receiver.requests().is_empty());

    let hanging = Receiver::scripted([Reply::hang()]).await;
    let quick = sender(&["127.0.0.1/32"], Duration::from_millis(300));
    let error = quick
        .client()
        .fetch(&hanging.url("/client.json"), 1024)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, FetchError::Timeout { host, .. } if host == "127.0.0.1"),
        "{error:?}"
    );
    assert!(error.to_string().contains("300 ms"), "{error}");
}
