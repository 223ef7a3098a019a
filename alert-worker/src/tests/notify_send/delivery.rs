//! How answers are classified, redirects, timeouts and refused
//! connections, and HTTPS to a trusted certificate only.

use super::*;

#[tokio::test]
async fn answers_are_classified_by_status() {
    let in_two_minutes = httpdate::fmt_http_date(
        std::time::UNIX_EPOCH + Duration::from_millis((NOW_MS + 120_000) as u64),
    );
    let receiver = Receiver::scripted([
        Reply::status(500).body("upstream exploded"),
        Reply::status(429).header("retry-after", "2"),
        Reply::status(503).header("retry-after", &in_two_minutes),
        Reply::status(404).body("no_service"),
        Reply::status(400).body("invalid_payload thisisthesecrettoken"),
    ])
    .await;
    let channel = slack_to(&receiver);
    let sender = local_sender();
    let mut outcomes = Vec::new();
    for _ in 0..5 {
        outcomes.push(send(&sender, &channel, NotifyEvent::Firing).await);
    }
    assert!(
        matches!(&outcomes[0], Attempt::Retry { status: Some(500), retry_after: None, error } if error.contains("upstream exploded")),
        "{:?}",
        outcomes[0]
    );
    assert!(
        matches!(&outcomes[1], Attempt::Retry { status: Some(429), retry_after: Some(d), .. } if *d == Duration::from_secs(2)),
        "{:?}",
        outcomes[1]
    );
    assert!(
        matches!(&outcomes[2], Attempt::Retry { status: Some(503), retry_after: Some(d), .. } if *d == Duration::from_secs(120)),
        "{:?}",
        outcomes[2]
    );
    assert!(
        matches!(
            &outcomes[3],
            Attempt::Permanent {
                status: Some(404),
                ..
            }
        ),
        "{:?}",
        outcomes[3]
    );
    // The receiver echoed the token; what is kept shows neither it nor the
    // URL's path.
    let error = error_of(&outcomes[4]);
    assert!(matches!(
        &outcomes[4],
        Attempt::Permanent {
            status: Some(400),
            ..
        }
    ));
    assert!(error.contains("invalid_payload"), "{error}");
    assert!(
        !error.contains("thisisthesecrettoken") && !error.contains("/services/"),
        "{error}"
    );
    assert_eq!(receiver.requests().len(), 5);
}

#[tokio::test]
async fn redirects_are_refused_and_never_followed() {
    let target = Receiver::start().await;
    let redirecting =
        Receiver::scripted([Reply::status(302).header("location", &target.url("/elsewhere"))])
            .await;
    let attempt = send(
        &local_sender(),
        &slack_to(&redirecting),
        NotifyEvent::Firing,
    )
    .await;
    assert!(
        matches!(
            &attempt,
            Attempt::Permanent {
                status: Some(302),
                ..
            }
        ),
        "{attempt:?}"
    );
    assert!(error_of(&attempt).contains("redirects are not followed"));
    assert_eq!(redirecting.requests().len(), 1);
    assert!(target.requests().is_empty());
}

#[tokio::test]
async fn timeouts_and_refused_connections_are_retried() {
    let hanging = Receiver::scripted([Reply::hang()]).await;
    let quick = sender(&["127.0.0.1/32"], Duration::from_millis(300));
    let attempt = send(&quick, &slack_to(&hanging), NotifyEvent::Firing).await;
    assert!(
        matches!(&attempt, Attempt::Retry { status: None, .. }),
        "{attempt:?}"
    );
    assert!(
        error_of(&attempt).contains("no answer within 300 ms"),
        "{attempt:?}"
    );

    // A port nobody listens on: bound, then released.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let channel = ChannelConfig::Slack {
        webhook_url: format!("http://127.0.0.1:{port}/services/T/B/closedportsecret"),
    };
    let attempt = send(&local_sender(), &channel, NotifyEvent::Firing).await;
    assert!(
        matches!(&attempt, Attempt::Retry { status: None, .. }),
        "{attempt:?}"
    );
    assert!(
        error_of(&attempt).contains("could not connect to 127.0.0.1"),
        "{attempt:?}"
    );
    assert!(!error_of(&attempt).contains("closedportsecret"));
}

#[tokio::test]
async fn https_is_spoken_when_the_url_says_so() {
    // A plain HTTP server behind an https URL: the handshake must fail, which
    // shows the client does TLS (and does not fall back to plain text).
    let receiver = Receiver::start().await;
    let channel = ChannelConfig::Slack {
        webhook_url: format!("https://127.0.0.1:{}/services/T/B/x", receiver.addr.port()),
    };
    let attempt = send(&local_sender(), &channel, NotifyEvent::Firing).await;
    assert!(
        matches!(&attempt, Attempt::Retry { status: None, .. }),
        "{attempt:?}"
    );
    assert!(
        error_of(&attempt).contains("TLS handshake with 127.0.0.1 failed"),
        "{attempt:?}"
    );
}

#[tokio::test]
async fn https_delivers_only_to_a_trusted_certificate_for_the_host() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let receiver = Receiver::start_tls(cert.clone(), key).await;
    let channel = slack_to(&receiver);
    let policy = || EgressPolicy::from_entries(&["localhost".to_owned()]).unwrap();
    let timeout = Duration::from_secs(10);

    let trusting = Sender::with_roots(policy(), timeout, std::slice::from_ref(&cert)).unwrap();
    let attempt = send(&trusting, &channel, NotifyEvent::Firing).await;
    assert_delivered(&attempt, 200);
    let request = receiver.single();
    assert_eq!(request.path, "/services/T1/B1/thisisthesecrettoken");
    assert_eq!(
        request.header("host"),
        Some(format!("localhost:{}", receiver.addr.port()).as_str())
    );

    // The public roots do not vouch for a self-signed certificate.
    let public_roots = Sender::new(policy(), timeout).unwrap();
    let attempt = send(&public_roots, &channel, NotifyEvent::Firing).await;
    assert!(
        matches!(&attempt, Attempt::Retry { status: None, .. }),
        "{attempt:?}"
    );
    assert!(
        error_of(&attempt).contains("TLS handshake with localhost failed"),
        "{attempt:?}"
    );

    // A trusted certificate for another name does not do either.
    let by_address = ChannelConfig::Slack {
        webhook_url: format!("https://127.0.0.1:{}/services/T/B/x", receiver.addr.port()),
    };
    let trusting_by_address = Sender::with_roots(
        EgressPolicy::from_entries(&["127.0.0.1/32".to_owned()]).unwrap(),
        timeout,
        &[cert],
    )
    .unwrap();
    let attempt = send(&trusting_by_address, &by_address, NotifyEvent::Firing).await;
    assert!(
        error_of(&attempt).contains("TLS handshake with 127.0.0.1 failed"),
        "{attempt:?}"
    );
    assert_eq!(receiver.requests().len(), 1);
}
