use chrono::Duration;
use reqwest::StatusCode;
use ring::rand::SystemRandom;
use serde_json::{Value, json};
use shared_models::time::Clock;

use mcp_gateway::{auth::scope::Scopes, store::TOKEN_CACHE_TTL};

use crate::support::{Backend, minimal_rule, on_both_backends, spawn_app, spawn_replica};

on_both_backends!(
    requests_without_a_valid_token_get_401,
    expired_and_revoked_tokens_stop_working,
    revocation_elsewhere_takes_effect_within_the_cache_ttl,
);

const LIST: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_alert_rules","arguments":{}}}"#;

async fn requests_without_a_valid_token_get_401(backend: Backend) {
    let app = spawn_app(backend).await;

    let response = app.post_raw(None, LIST).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        !challenge.contains("error="),
        "no token given, so no error code: {challenge}"
    );

    for bad in [
        "mcpk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        "not-even-close".to_owned(),
        "x".repeat(5000),
    ] {
        let response = app.post_raw(Some(&bad), LIST).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{challenge}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token");
    }

    // Health endpoints need no token.
    let health = reqwest::get(format!("http://{}/healthz", app.addr))
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ready = reqwest::get(format!("http://{}/readyz", app.addr))
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
}

async fn expired_and_revoked_tokens_stop_working(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, long_lived) = app.user_with_token("a@example.com").await;
    let (short_record, short) = app
        .store
        .create_token(
            user,
            "short",
            Scopes::all(),
            Some(app.clock().now().to_datetime() + Duration::hours(1)),
            &SystemRandom::new(),
        )
        .await
        .unwrap();
    let short = short.expose().clone();

    let client = app.client(&short).await;
    client.ok("create_alert_rule", minimal_rule("r")).await;
    let tokens = app.store.list_tokens(user).await.unwrap();
    let used = tokens.iter().find(|t| t.id == short_record.id).unwrap();
    assert!(used.last_used_at.is_some(), "last-used time is recorded");
    assert!(
        !format!("{tokens:?}").contains(&short),
        "listing never shows the secret"
    );

    app.clock()
        .advance(Duration::hours(1) + Duration::seconds(1));
    let response = app.post_raw(Some(&short), LIST).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_description"], "the token has expired");
    assert_eq!(
        app.post_raw(Some(&long_lived), LIST).await.status(),
        StatusCode::OK
    );

    let long_record = tokens.iter().find(|t| t.name == "test").unwrap();
    let revoked = app.store.revoke_token(&long_record.id).await.unwrap();
    assert!(revoked.revoked_at.is_some());
    let response = app.post_raw(Some(&long_lived), LIST).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": "invalid_token", "error_description": "the token has been revoked"})
    );
}

async fn revocation_elsewhere_takes_effect_within_the_cache_ttl(backend: Backend) {
    let app = spawn_app(backend).await;
    let other = spawn_replica(&app).await;
    let (user, token) = app.user_with_token("a@example.com").await;
    assert_eq!(
        app.post_raw(Some(&token), LIST).await.status(),
        StatusCode::OK
    );

    // Revoked through another process: this replica trusts its cached check a little longer...
    let id = app.store.list_tokens(user).await.unwrap()[0].id.clone();
    other.store.revoke_token(&id).await.unwrap();
    assert_eq!(
        other.post_raw(Some(&token), LIST).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post_raw(Some(&token), LIST).await.status(),
        StatusCode::OK
    );
    // ...and no longer than the TTL.
    app.clock()
        .advance(Duration::from_std(TOKEN_CACHE_TTL).unwrap());
    assert_eq!(
        app.post_raw(Some(&token), LIST).await.status(),
        StatusCode::UNAUTHORIZED
    );
}
