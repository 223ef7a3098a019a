//! The egress guard refusing every non-public destination before a
//! connection is made.

use super::*;

#[tokio::test]
async fn non_public_destinations_are_refused_with_an_empty_allowlist() {
    let guarded = sender(&[], Duration::from_secs(5));
    let cases = [
        ("127.0.0.1", "loopback"),
        ("[::1]", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "cloud metadata"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("[fe80::1]", "link-local"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("[::ffff:127.0.0.1]", "loopback"),
        ("localhost", "loopback"),
    ];
    for (host, class) in cases {
        let channel = ChannelConfig::Slack {
            webhook_url: format!("https://{host}/services/T/B/ssrfsecret"),
        };
        // The check comes first: were it to pass, the test stops before
        // anything is sent to that address.
        let refusal = guarded.check_channel(&channel).await.unwrap_err();
        assert!(
            matches!(refusal, EgressError::Forbidden { .. }),
            "{host}: {refusal}"
        );
        assert!(refusal.to_string().contains(class), "{host}: {refusal}");
        let attempt = send(&guarded, &channel, NotifyEvent::Firing).await;
        assert!(
            matches!(&attempt, Attempt::Permanent { status: None, .. }),
            "{host}: {attempt:?}"
        );
        let error = error_of(&attempt);
        assert!(error.contains(class), "{host}: {error}");
        assert!(
            !error.contains("ssrfsecret") && !error.contains("/services"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn plain_http_and_plain_smtp_need_the_allowlist() {
    let receiver = Receiver::start().await;
    let guarded = sender(&[], Duration::from_secs(5));
    // A public address over plain http: refused for the scheme alone.
    let public = ChannelConfig::Webhook {
        url: "http://93.184.216.34/hook".to_owned(),
        signing_secret: SECRET.to_owned(),
    };
    let refusal = guarded.check_channel(&public).await.unwrap_err();
    assert!(
        matches!(refusal, EgressError::PlainHttp { .. }),
        "{refusal}"
    );
    let attempt = send(&guarded, &public, NotifyEvent::Firing).await;
    assert!(error_of(&attempt).contains("plain http"), "{attempt:?}");

    let local = slack_to(&receiver);
    assert!(guarded.check_channel(&local).await.is_err());
    let listed = sender(&["127.0.0.1"], Duration::from_secs(5));
    listed.check_channel(&local).await.unwrap();
    assert_delivered(&send(&listed, &local, NotifyEvent::Firing).await, 200);
    // A host name on the allowlist admits whatever it resolves to.
    let by_name = sender(&["LOCALHOST"], Duration::from_secs(5));
    let named = ChannelConfig::Slack {
        webhook_url: format!("http://localhost:{}/services/T/B/x", receiver.addr.port()),
    };
    by_name.check_channel(&named).await.unwrap();

    let smtp = SmtpServer::start(SmtpScript::default()).await;
    let channel = smtp_channel(&smtp);
    let refusal = guarded.check_channel(&channel).await.unwrap_err();
    assert!(
        matches!(refusal, EgressError::Forbidden { .. }),
        "{refusal}"
    );
    let attempt = send(&guarded, &channel, NotifyEvent::Firing).await;
    assert!(matches!(&attempt, Attempt::Permanent { .. }), "{attempt:?}");
    let public_smtp = ChannelConfig::Email(EmailConfig::Smtp {
        host: "93.184.216.34".to_owned(),
        port: 25,
        security: SmtpSecurity::None,
        username: None,
        password: None,
        from: "alerts@example.com".to_owned(),
        to: vec!["ops@example.com".to_owned()],
    });
    let refusal = guarded.check_channel(&public_smtp).await.unwrap_err();
    assert!(
        matches!(refusal, EgressError::PlainSmtp { .. }),
        "{refusal}"
    );
    assert!(smtp.mails().is_empty());
}
