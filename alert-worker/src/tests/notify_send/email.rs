//! Email over SMTP and through SendGrid.

use super::*;

#[tokio::test]
async fn email_goes_over_smtp_as_text_and_html() {
    let server = SmtpServer::start(SmtpScript::default()).await;
    let channel = smtp_channel(&server);
    let attempt = send(&local_sender(), &channel, NotifyEvent::Firing).await;
    assert_delivered(&attempt, 250);
    let mails = server.mails();
    assert_eq!(mails.len(), 1, "{mails:#?}");
    let mail = &mails[0];
    assert_eq!(mail.from, "alerts@example.com");
    assert_eq!(mail.to, ["ops@example.com", "oncall@example.org"]);
    assert_eq!(mail.header("From").as_deref(), Some("alerts@example.com"));
    assert_eq!(
        mail.header("To").as_deref(),
        Some("ops@example.com, oncall@example.org")
    );
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("[FIRING] BTC <above> 70k")
    );
    let text = mail.part("text/plain").expect("a text part");
    assert!(text.contains("BTC is at 70123.5 & rising"), "{text}");
    assert!(text.contains("Threshold: 70000"), "{text}");
    let html = mail.part("text/html").expect("an html part");
    assert!(
        html.contains("<h2 style=\"color:#d32f2f\">[FIRING] BTC &lt;above&gt; 70k</h2>"),
        "{html}"
    );
    assert!(html.contains("BTC is at 70123.5 &amp; rising"), "{html}");
    assert!(!html.contains("<above>"), "{html}");
}

#[tokio::test]
async fn smtp_4xx_retries_and_5xx_is_permanent() {
    let busy = SmtpServer::start(SmtpScript {
        rcpt: Some("451 4.3.0 try again later".to_owned()),
        data_end: None,
    })
    .await;
    let attempt = send(&local_sender(), &smtp_channel(&busy), NotifyEvent::Firing).await;
    assert!(
        matches!(
            &attempt,
            Attempt::Retry {
                status: Some(451),
                ..
            }
        ),
        "{attempt:?}"
    );
    let refusing = SmtpServer::start(SmtpScript {
        rcpt: None,
        data_end: Some("554 5.7.1 message refused".to_owned()),
    })
    .await;
    let attempt = send(
        &local_sender(),
        &smtp_channel(&refusing),
        NotifyEvent::Firing,
    )
    .await;
    assert!(
        matches!(
            &attempt,
            Attempt::Permanent {
                status: Some(554),
                ..
            }
        ),
        "{attempt:?}"
    );
    assert!(
        error_of(&attempt).contains("message refused"),
        "{attempt:?}"
    );
    assert!(busy.mails().is_empty() && refusing.mails().is_empty());
}

#[tokio::test]
async fn sendgrid_receives_v3_mail_send_with_the_bearer_key() {
    let receiver = Receiver::scripted([Reply::status(202)]).await;
    let channel = ChannelConfig::Email(EmailConfig::Sendgrid {
        api_key: "SG.sendgridkey.sendgridsecret".to_owned(),
        from: "alerts@example.com".to_owned(),
        to: vec!["ops@example.com".to_owned()],
        api_url: receiver.url("/v3/mail/send"),
    });
    let attempt = send(&local_sender(), &channel, NotifyEvent::Test).await;
    assert_delivered(&attempt, 202);
    let request = receiver.single();
    assert_eq!(request.path, "/v3/mail/send");
    assert_eq!(
        request.header("authorization"),
        Some("Bearer SG.sendgridkey.sendgridsecret")
    );
    let body = request.json();
    assert_eq!(
        body["personalizations"],
        json!([{"to": [{"email": "ops@example.com"}]}])
    );
    assert_eq!(body["from"], json!({"email": "alerts@example.com"}));
    assert_eq!(body["subject"], "[TEST] BTC <above> 70k");
    assert_eq!(body["content"][0]["type"], "text/plain");
    assert_eq!(body["content"][1]["type"], "text/html");
    assert!(
        body["content"][1]["value"]
            .as_str()
            .unwrap()
            .contains("BTC &lt;above&gt; 70k")
    );
}
