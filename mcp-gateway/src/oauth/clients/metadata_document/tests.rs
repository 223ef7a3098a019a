//! The document rules on their own, then the fetcher against a real local
//! HTTP server (the alert worker's test receiver) through the real
//! egress-guarded client, with a manual clock for the cache.

use std::sync::Arc;

use alert_worker::testing::receiver::{Receiver, Reply};
use chrono::{DateTime, TimeDelta};
use serde_json::json;
use shared_models::{
    outbound::{
        HttpFailure,
        egress::{EgressError, EgressPolicy},
    },
    time::ManualClock,
};

use super::*;

const CLIENT_ID: &str = "https://client.example.com/oauth/client.json";

fn document(client_id: &str) -> String {
    json!({
        "client_id": client_id,
        "client_name": "Example MCP client",
        "redirect_uris": ["http://127.0.0.1/callback", "https://client.example.com/cb"],
        "grant_types": ["authorization_code", "client_credentials"],
        "scope": "openid profile",
        "token_endpoint_auth_method": "none",
        "jwks_uri": "https://client.example.com/jwks.json",
    })
    .to_string()
}

fn invalid_reason(client_id: &str) -> &'static str {
    match client_id_url(client_id) {
        Err(MetadataError::InvalidClientId { reason, .. }) => reason,
        other => panic!("{client_id}: {other:?}"),
    }
}

#[test]
fn client_id_urls_follow_the_draft() {
    for ok in [
        CLIENT_ID,
        "https://client.example.com/",
        "https://client.example.com:8443/c",
        "https://client.example.com/c?v=2",
        "https://203.0.113.9/client",
        "http://127.0.0.1:8080/client.json",
    ] {
        client_id_url(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        assert!(is_metadata_client_id(ok));
    }
    assert!(!is_metadata_client_id("cli_01JABCDEF"));
    for (bad, reason) in [
        ("client.example.com/c", "not a URL"),
        ("ftp://client.example.com/c", "https"),
        ("https:client.example.com/c", "https://host/path"),
        ("https://client.example.com", "path"),
        ("https://client.example.com?x=1", "path"),
        ("https://client.example.com/c#frag", "fragment"),
        ("https://client.example.com/c#", "fragment"),
        ("https://user:pw@client.example.com/c", "user name"),
        ("https://user@client.example.com/c", "user name"),
        ("https://@client.example.com/c", "user name"),
        ("https://client.example.com/a/../c", ". or .."),
        ("https://client.example.com/./c", ". or .."),
        ("https://client.example.com/a/%2e%2E/c", ". or .."),
        ("https://client.example.com/a/..", ". or .."),
        ("https://Client.Example.com/c", "normal form"),
        ("HTTPS://client.example.com/c", "normal form"),
        ("https://client.example.com:443/c", "normal form"),
        ("https://client.example.com/c d", "space"),
        ("https://client.example.com/c\n", "control"),
    ] {
        assert!(
            invalid_reason(bad).contains(reason),
            "{bad}: {}",
            invalid_reason(bad)
        );
    }
    let long = format!("https://client.example.com/{}", "a".repeat(2000));
    assert!(invalid_reason(&long).contains("longer"));
}

#[test]
fn a_document_gives_the_client_and_ignores_what_is_not_ours() {
    let metadata = parse_document(CLIENT_ID, document(CLIENT_ID).as_bytes()).unwrap();
    assert_eq!(metadata.client_id, CLIENT_ID);
    assert_eq!(metadata.host, "client.example.com");
    assert_eq!(metadata.client_name.as_deref(), Some("Example MCP client"));
    assert_eq!(metadata.redirect_uris.len(), 2);
    assert!(
        metadata
            .redirect_uri("http://127.0.0.1:50123/callback")
            .is_some()
    );
    assert!(
        metadata
            .redirect_uri("https://client.example.com/cb")
            .is_some()
    );
    assert!(
        metadata
            .redirect_uri("https://evil.example.com/cb")
            .is_none()
    );

    let unnamed =
        json!({ "client_id": CLIENT_ID, "redirect_uris": ["https://client.example.com/cb"] });
    let metadata = parse_document(CLIENT_ID, unnamed.to_string().as_bytes()).unwrap();
    assert_eq!(metadata.client_name, None);
}

#[test]
fn a_document_must_be_the_clients_own() {
    let refused = |body: serde_json::Value| {
        parse_document(CLIENT_ID, body.to_string().as_bytes()).unwrap_err()
    };
    let uris = json!(["https://client.example.com/cb"]);
    for other in [
        json!("https://client.example.com/oauth/client.json/"),
        json!("https://client.example.com/oauth/other.json"),
        json!("https://CLIENT.example.com/oauth/client.json"),
        json!(null),
        json!(7),
    ] {
        let error = refused(json!({ "client_id": other, "redirect_uris": uris }));
        assert!(
            matches!(error, MetadataError::ClientIdMismatch),
            "{other}: {error}"
        );
    }
    let error = refused(json!({ "redirect_uris": uris }));
    assert!(matches!(error, MetadataError::ClientIdMismatch), "{error}");

    for field in ["client_secret", "client_secret_expires_at"] {
        let mut body = json!({ "client_id": CLIENT_ID, "redirect_uris": uris });
        body[field] = json!("s3cret");
        let error = refused(body);
        assert!(
            matches!(error, MetadataError::SharedSecret { .. }),
            "{error}"
        );
        assert!(!error.to_string().contains("s3cret"));
    }
    for (body, field) in [
        (
            json!({ "client_id": CLIENT_ID, "redirect_uris": uris, "token_endpoint_auth_method": "private_key_jwt" }),
            "token_endpoint_auth_method",
        ),
        (json!({ "client_id": CLIENT_ID }), "redirect_uris"),
        (
            json!({ "client_id": CLIENT_ID, "redirect_uris": ["http://evil.example.com/cb"] }),
            "redirect_uris[0]",
        ),
        (
            json!({ "client_id": CLIENT_ID, "redirect_uris": uris, "client_name": "a\u{202e}b" }),
            "client_name",
        ),
    ] {
        match refused(body) {
            MetadataError::Invalid(e) => assert_eq!(e.field(), field, "{e}"),
            other => panic!("{field}: {other}"),
        }
    }
    assert!(matches!(
        refused(json!([CLIENT_ID])),
        MetadataError::NotObject
    ));
    assert!(matches!(
        parse_document(CLIENT_ID, b"<html>").unwrap_err(),
        MetadataError::NotJson(_)
    ));
}

#[test]
fn cache_lifetimes_come_from_max_age_within_bounds() {
    let limits = Limits::default();
    let ttl = |value: Option<&str>| time_to_live(value, &limits).as_secs();
    assert_eq!(ttl(None), 3_600);
    assert_eq!(ttl(Some("public, max-age=600")), 600);
    assert_eq!(ttl(Some("max-age=\"600\"")), 600);
    assert_eq!(ttl(Some("MAX-AGE=600")), 600);
    assert_eq!(ttl(Some("max-age=5")), 60);
    assert_eq!(ttl(Some("max-age=0")), 60);
    assert_eq!(ttl(Some("max-age=31536000")), 86_400);
    assert_eq!(ttl(Some("max-age=99999999999999999999999")), 3_600);
    assert_eq!(ttl(Some("max-age=soon")), 3_600);
    assert_eq!(ttl(Some("no-store")), 60);
    assert_eq!(ttl(Some("max-age=600, no-cache")), 60);
    assert_eq!(ttl(Some("private")), 3_600);
}

/// A receiver on 127.0.0.1, which the operator's allowlist names, as it
/// would for a document served on a private network.
struct Setup {
    receiver: Receiver,
    documents: MetadataDocuments,
    clock: Arc<ManualClock>,
}

fn client(allowlist: &[&str]) -> Client {
    let entries: Vec<String> = allowlist.iter().map(|e| (*e).to_owned()).collect();
    Client::new(
        EgressPolicy::from_entries(&entries).unwrap(),
        Duration::from_secs(10),
    )
    .unwrap()
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        DateTime::from_timestamp_millis(1_767_225_600_000).unwrap(),
    ))
}

async fn setup(limits: Limits) -> Setup {
    let receiver = Receiver::scripted([]).await;
    let clock = clock();
    let documents =
        MetadataDocuments::with_limits(client(&["127.0.0.1/32"]), clock.clone(), limits);
    Setup {
        receiver,
        documents,
        clock,
    }
}

fn json_reply(body: &str) -> Reply {
    Reply::status(200)
        .header("content-type", "application/json; charset=utf-8")
        .body(body)
}

impl Setup {
    fn client_id(&self) -> String {
        self.receiver.url("/oauth/client.json")
    }

    fn fetches(&self) -> usize {
        self.receiver.requests().len()
    }

    fn advance(&self, seconds: i64) {
        self.clock.advance(TimeDelta::seconds(seconds));
    }
}

fn too_large(error: &MetadataError) -> bool {
    matches!(error, MetadataError::Fetch(e) if matches!(**e, FetchError::Http(HttpFailure::TooLarge { .. })))
}

#[tokio::test]
async fn a_valid_document_is_fetched_with_a_plain_get() {
    let setup = setup(Limits::default()).await;
    let client_id = setup.client_id();
    setup.receiver.then_reply(json_reply(&document(&client_id)));
    let metadata = setup.documents.get(&client_id).await.unwrap();
    assert_eq!(metadata.client_id, client_id);
    assert_eq!(metadata.host, "127.0.0.1");
    assert_eq!(metadata.client_name.as_deref(), Some("Example MCP client"));
    let request = setup.receiver.single();
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/oauth/client.json");
    assert_eq!(request.header("accept"), Some("application/json"));
    assert!(request.body.is_empty());
}

#[tokio::test]
async fn a_document_for_another_client_is_refused() {
    let setup = setup(Limits::default()).await;
    let client_id = setup.client_id();
    let other = setup.receiver.url("/oauth/other.json");
    setup.receiver.then_reply(json_reply(&document(&other)));
    let error = setup.documents.get(&client_id).await.unwrap_err();
    assert!(matches!(error, MetadataError::ClientIdMismatch), "{error}");
}

#[tokio::test]
async fn a_document_over_the_limit_is_refused_without_being_held() {
    let setup = setup(Limits::default()).await;
    let client_id = setup.client_id();
    let kib = format!("\"{}\",", "x".repeat(1021));
    // Sent in 1 KiB chunks without a length: only reading tells.
    setup.receiver.then_reply(
        Reply::status(200)
            .header("content-type", "application/json")
            .streamed(&kib, 65),
    );
    let error = setup.documents.get(&client_id).await.unwrap_err();
    assert!(too_large(&error), "{error:?}");
    assert!(
        shared_models::chain(&error).contains("larger than 65536 bytes"),
        "{}",
        shared_models::chain(&error)
    );

    // A gigabyte, endlessly for all the reader knows: refused as soon as
    // the limit is passed, not after reading it (the fetch would time out).
    let setup = self::setup(Limits {
        timeout: Duration::from_secs(3),
        ..Limits::default()
    })
    .await;
    let client_id = setup.client_id();
    setup.receiver.then_reply(
        Reply::status(200)
            .header("content-type", "application/json")
            .streamed(&kib, 1 << 20),
    );
    let error = setup.documents.get(&client_id).await.unwrap_err();
    assert!(too_large(&error), "{error:?}");

    // A length that says so is refused on its word.
    let setup = self::setup(Limits::default()).await;
    let client_id = setup.client_id();
    setup
        .receiver
        .then_reply(json_reply(&format!("[{}]", "1,".repeat(40 * 1024))));
    let error = setup.documents.get(&client_id).await.unwrap_err();
    assert!(too_large(&error), "{error:?}");

    // Exactly at the limit is fine as far as size goes.
    let setup = self::setup(Limits {
        max_bytes: 300,
        ..Limits::default()
    })
    .await;
    let client_id = setup.client_id();
    let body =
        json!({ "client_id": client_id, "redirect_uris": ["https://client.example.com/cb"] });
    let padded = format!("{:<300}", body.to_string());
    assert_eq!(padded.len(), 300);
    setup.receiver.then_reply(json_reply(&padded));
    setup.documents.get(&client_id).await.unwrap();
}

#[tokio::test]
async fn only_a_200_json_answer_is_a_document() {
    let setup = setup(Limits {
        failure_ttl: Duration::ZERO,
        ..Limits::default()
    })
    .await;
    let client_id = setup.client_id();
    let body = document(&client_id);
    setup.receiver.then_reply(
        Reply::status(200)
            .header("content-type", "text/html")
            .body(&body),
    );
    let error = setup.documents.get(&client_id).await.unwrap_err();
    assert!(
        matches!(&error, MetadataError::ContentType { content_type: Some(c) } if c == "text/html"),
        "{error}"
    );

    setup
        .receiver
        .then_reply(json_reply("<html>not json</html>"));
    let error = setup.documents.get(&client_id).await.unwrap_err();
    assert!(matches!(error, MetadataError::NotJson(_)), "{error}");

    setup.receiver.then_reply(
        Reply::status(203)
            .header("content-type", "application/json")
            .body(&body),
    );
    let error = setup.documents.get(&client_id).await.unwrap_err();
    assert!(
        matches!(error, MetadataError::Status { status: 203 }),
        "{error}"
    );

    setup.receiver.then_reply(
        Reply::status(200)
            .header("content-type", "application/client-metadata+json")
            .body(&body),
    );
    setup.documents.get(&client_id).await.unwrap();
    assert_eq!(setup.fetches(), 4);
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let setup = setup(Limits::default()).await;
    let target = Receiver::start().await;
    let client_id = setup.client_id();
    setup
        .receiver
        .then_reply(Reply::status(302).header("location", &target.url("/oauth/client.json")));
    let error = setup.documents.get(&client_id).await.unwrap_err();
    assert!(
        matches!(error, MetadataError::Status { status: 302 }),
        "{error}"
    );
    assert!(
        error.to_string().contains("redirects are not followed"),
        "{error}"
    );
    assert_eq!(setup.fetches(), 1);
    assert!(target.requests().is_empty());
}

#[tokio::test]
async fn private_addresses_are_refused_unless_allowlisted() {
    let receiver = Receiver::start().await;
    let port = receiver.addr.port();
    let documents = MetadataDocuments::new(client(&[]), clock());
    for (client_id, class) in [
        (format!("https://127.0.0.1:{port}/client.json"), "loopback"),
        (format!("http://127.0.0.1:{port}/client.json"), "loopback"),
        (format!("https://localhost:{port}/client.json"), "loopback"),
        (
            "https://169.254.169.254/latest/meta-data".to_owned(),
            "cloud metadata",
        ),
        ("https://10.1.2.3/client.json".to_owned(), "private"),
        ("https://[::ffff:c0a8:1]/client.json".to_owned(), "private"),
    ] {
        let error = documents.get(&client_id).await.unwrap_err();
        let MetadataError::Fetch(fetch) = &error else {
            panic!("{client_id}: {error}")
        };
        assert!(
            matches!(**fetch, FetchError::Egress(EgressError::Forbidden { .. })),
            "{client_id}: {fetch:?}"
        );
        let chain = shared_models::chain(&error);
        assert!(chain.contains(class), "{client_id}: {chain}");
    }
    // Plain http to a public address needs the allowlist too.
    let error = documents
        .get("http://93.184.216.34/client.json")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, MetadataError::Fetch(e) if matches!(**e, FetchError::Egress(EgressError::PlainHttp { .. }))),
        "{error:?}"
    );
    assert!(receiver.requests().is_empty());
}

#[tokio::test]
async fn documents_are_cached_for_their_max_age() {
    let setup = setup(Limits::default()).await;
    let client_id = setup.client_id();
    let reply = json_reply(&document(&client_id)).header("cache-control", "max-age=120");
    setup.receiver.then_reply(reply.clone());
    let first = setup.documents.get(&client_id).await.unwrap();
    let second = setup.documents.get(&client_id).await.unwrap();
    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(setup.fetches(), 1);

    setup.advance(119);
    setup.documents.get(&client_id).await.unwrap();
    assert_eq!(setup.fetches(), 1, "still fresh");

    setup.advance(2);
    setup.receiver.then_reply(reply);
    let third = setup.documents.get(&client_id).await.unwrap();
    assert_eq!(setup.fetches(), 2, "expired, so fetched again");
    assert!(!Arc::ptr_eq(&first, &third));

    // A max-age below the floor is kept for the floor.
    setup
        .receiver
        .then_reply(json_reply(&document(&client_id)).header("cache-control", "max-age=1"));
    setup.advance(121);
    setup.documents.get(&client_id).await.unwrap();
    assert_eq!(setup.fetches(), 3);
    setup.advance(59);
    setup.documents.get(&client_id).await.unwrap();
    assert_eq!(setup.fetches(), 3);
    setup.advance(1);
    setup.receiver.then_reply(json_reply(&document(&client_id)));
    setup.documents.get(&client_id).await.unwrap();
    assert_eq!(setup.fetches(), 4);
}

#[tokio::test]
async fn failures_stand_briefly_then_the_url_is_tried_again() {
    let setup = setup(Limits::default()).await;
    let client_id = setup.client_id();
    setup.receiver.then_reply(Reply::status(404));
    for _ in 0..3 {
        let error = setup.documents.get(&client_id).await.unwrap_err();
        assert!(
            matches!(error, MetadataError::Status { status: 404 }),
            "{error}"
        );
    }
    assert_eq!(setup.fetches(), 1);
    setup.advance(29);
    assert!(setup.documents.get(&client_id).await.is_err());
    assert_eq!(setup.fetches(), 1);

    setup.advance(1);
    setup.receiver.then_reply(json_reply(&document(&client_id)));
    setup.documents.get(&client_id).await.unwrap();
    assert_eq!(setup.fetches(), 2);
}

#[tokio::test]
async fn concurrent_requests_share_one_fetch() {
    let setup = setup(Limits::default()).await;
    let client_id = setup.client_id();
    setup.receiver.then_reply(json_reply(&document(&client_id)));
    let (a, b, c) = tokio::join!(
        setup.documents.get(&client_id),
        setup.documents.get(&client_id),
        setup.documents.get(&client_id),
    );
    let a = a.unwrap();
    assert!(Arc::ptr_eq(&a, &b.unwrap()) && Arc::ptr_eq(&a, &c.unwrap()));
    assert_eq!(setup.fetches(), 1);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let setup = setup(Limits {
        timeout: Duration::from_millis(300),
        ..Limits::default()
    })
    .await;
    setup.receiver.then_reply(Reply::hang());
    let error = setup.documents.get(&setup.client_id()).await.unwrap_err();
    assert!(matches!(error, MetadataError::Timeout(_)), "{error}");
    assert!(error.to_string().contains("300 ms"), "{error}");
}

#[tokio::test]
async fn invalid_client_ids_are_never_fetched_or_kept() {
    let setup = setup(Limits::default()).await;
    let client_id = format!("{}#x", setup.client_id());
    let error = setup.documents.get(&client_id).await.unwrap_err();
    assert!(
        matches!(error, MetadataError::InvalidClientId { .. }),
        "{error}"
    );
    assert_eq!(setup.fetches(), 0);
    assert!(setup.documents.slots.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_cache_holds_at_most_its_capacity() {
    let setup = setup(Limits {
        capacity: 2,
        ..Limits::default()
    })
    .await;
    let ids: Vec<String> = (0..3)
        .map(|i| setup.receiver.url(&format!("/client-{i}.json")))
        .collect();
    for (i, id) in ids.iter().enumerate() {
        let max_age = format!("max-age={}", 600 + i * 60);
        setup
            .receiver
            .then_reply(json_reply(&document(id)).header("cache-control", &max_age));
        setup.documents.get(id).await.unwrap();
        assert!(setup.documents.slots.lock().unwrap().len() <= 2);
    }
    // The one that would have expired first made room.
    let kept: Vec<String> = setup
        .documents
        .slots
        .lock()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert!(!kept.contains(&ids[0]), "{kept:?}");
    setup.documents.get(&ids[2]).await.unwrap();
    assert_eq!(setup.fetches(), 3);
}
