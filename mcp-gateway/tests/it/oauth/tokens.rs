//! Codes, access and refresh tokens: what they need, when they expire,
//! replay, scopes, key rotation and revocation across replicas.

use super::{
    client::{code, refused_within},
    *,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_need_their_verifier_their_resource_and_are_single_use() {
    let app = spawn_app(Backend::Sqlite).await;
    user_with_password(&app, "ada@example.com").await;
    let flow = register(&app).await;
    let mut browser = Browser::new();
    let mcp = app.mcp_url();

    // A wrong verifier: refused, and the code is spent.
    let first = code(&app, &mut browser, &flow).await;
    let (verifier2, _) = pkce();
    let (status, body) = exchange(&app, &flow, &first, &verifier2, &mcp).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{body}"
    );
    let (_, body) = exchange(&app, &flow, &first, &flow.verifier, &mcp).await;
    assert_eq!(body["error"], "invalid_grant", "a spent code stays spent");

    // No verifier at all.
    let second = code(&app, &mut browser, &flow).await;
    let (status, body) = token_request(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &second),
            ("redirect_uri", REDIRECT),
            ("client_id", &flow.client_id),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );

    // Another resource.
    let third = code(&app, &mut browser, &flow).await;
    let (_, body) = exchange(
        &app,
        &flow,
        &third,
        &flow.verifier,
        "https://elsewhere.example.com/mcp",
    )
    .await;
    assert_eq!(body["error"], "invalid_target");

    // The right one works once.
    let fourth = code(&app, &mut browser, &flow).await;
    let (status, tokens) = exchange(&app, &flow, &fourth, &flow.verifier, &mcp).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "alerts:read alerts:write");
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(ping(&app, access).await, StatusCode::OK);
    let (_, again) = exchange(&app, &flow, &fourth, &flow.verifier, &mcp).await;
    assert_eq!(again["error"], "invalid_grant");
    // ...and the replay revoked what the code gave, at once.
    assert_eq!(ping(&app, access).await, StatusCode::UNAUTHORIZED);
    let (_, body) = refresh(&app, &flow, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(body["error"], "invalid_grant");

    // Codes last 60 s.
    let late = code(&app, &mut browser, &flow).await;
    app.clock().advance(chrono::Duration::seconds(61));
    let (_, body) = exchange(&app, &flow, &late, &flow.verifier, &mcp).await;
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorize_endpoint_refuses_what_it_cannot_trust() {
    let app = spawn_app(Backend::Sqlite).await;
    let flow = register(&app).await;
    let mut browser = Browser::new();

    // An unregistered redirect URI: a page, never a redirect to it.
    let evil = authorize_url(&app, &flow.client_id, &flow.challenge, &[]).replace(
        &url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
        &url::form_urlencoded::byte_serialize(b"https://evil.example.com/cb").collect::<String>(),
    );
    let (status, page, location) = browser.get(&evil).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        location.is_none() && page.contains("redirect address"),
        "{page}"
    );

    // An unknown client: a page too.
    let (status, _, location) = browser
        .get(&authorize_url(
            &app,
            "0190f0f0-0000-7000-8000-000000000000",
            &flow.challenge,
            &[],
        ))
        .await;
    assert_eq!((status, location), (StatusCode::BAD_REQUEST, None));

    // An operator's client, with its redirect URI matched: errors go back
    // to it. (A self-registered client's are pages: `oauth_consent`.)
    let operators = app
        .store
        .create_client("Ops console", &[REDIRECT.to_owned()], "operator", None)
        .await
        .unwrap();
    for (extra, error) in [
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("scope", "admin")], "invalid_scope"),
    ] {
        let url = authorize_url(&app, &operators.id, &flow.challenge, &[]);
        let mut parsed = url::Url::parse(&url).unwrap();
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        parsed
            .query_pairs_mut()
            .clear()
            .extend_pairs(pairs)
            .extend_pairs(&extra);
        let (status, _, location) = browser.get(parsed.as_str()).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let query = query_of(&location.unwrap());
        assert_eq!(query["error"], error);
        assert_eq!(query["state"], "s1");
        assert_eq!(query["iss"], format!("http://{}", app.addr));
    }
    let wrong_resource = authorize_url(&app, &operators.id, &flow.challenge, &[]).replace(
        &url::form_urlencoded::byte_serialize(app.mcp_url().as_bytes()).collect::<String>(),
        "https%3A%2F%2Fother.example%2Fmcp",
    );
    let (_, _, location) = browser.get(&wrong_resource).await;
    assert_eq!(query_of(&location.unwrap())["error"], "invalid_target");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_tokens_rotate_and_a_replay_revokes_the_connection() {
    let app = spawn_app(Backend::Sqlite).await;
    user_with_password(&app, "ada@example.com").await;
    let flow = register(&app).await;
    let mut browser = Browser::new();
    let first = code(&app, &mut browser, &flow).await;
    let (_, tokens) = exchange(&app, &flow, &first, &flow.verifier, &app.mcp_url()).await;
    let old_refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    let (status, rotated) = refresh(&app, &flow, &old_refresh).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_ne!(rotated["refresh_token"], tokens["refresh_token"]);
    let access = rotated["access_token"].as_str().unwrap();
    McpClient::connect(&app.mcp_url(), access)
        .await
        .ok("list_alert_rules", json!({}))
        .await;

    // The old one again: someone copied it. The whole family goes.
    let (status, body) = refresh(&app, &flow, &old_refresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (_, body) = refresh(&app, &flow, rotated["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        body["error"], "invalid_grant",
        "the newest refresh token is revoked too"
    );
    assert_eq!(
        ping(&app, access).await,
        StatusCode::UNAUTHORIZED,
        "the access token stops at once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_tokens_expire_and_are_only_for_this_resource() {
    let app = spawn_app(Backend::Sqlite).await;
    user_with_password(&app, "ada@example.com").await;
    let flow = register(&app).await;
    let mut browser = Browser::new();
    let first = code(&app, &mut browser, &flow).await;
    let (_, tokens) = exchange(&app, &flow, &first, &flow.verifier, &app.mcp_url()).await;
    let access = tokens["access_token"].as_str().unwrap();

    // A replica on the same database and keys, serving another resource:
    // the token's audience is not it.
    let other = crate::support::spawn_replica_with(
        &app,
        &[("MONITORS_PUBLIC_URL", "https://other.example.com")],
    )
    .await;
    let response = other
        .post_raw(Some(access), r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );

    // Valid here until its hour is up.
    let ok = app
        .post_raw(Some(access), r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    app.clock().advance(chrono::Duration::seconds(3600));
    let expired = app
        .post_raw(Some(access), r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .await;
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    let challenge = expired.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains("invalid_token") && challenge.contains("expired"),
        "{challenge}"
    );

    // A token of another kind entirely is refused, not passed anywhere.
    let forged = format!("{}.e30.sig", URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#));
    let refused = app
        .post_raw(Some(&forged), r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_token_without_the_write_scope_gets_a_tool_error_naming_the_scope() {
    let app = spawn_app(Backend::Sqlite).await;
    let user = app
        .store
        .create_user(&Email::parse("reader@example.com").unwrap())
        .await
        .unwrap();
    let (_, token) = app
        .store
        .create_token(
            user.id,
            "read only",
            mcp_gateway::auth::scope::Scopes::parse("alerts:read", "scopes").unwrap(),
            None,
            &SystemRandom::new(),
        )
        .await
        .unwrap();
    let reader = McpClient::connect(&app.mcp_url(), token.expose()).await;
    reader.ok("list_alert_rules", json!({})).await;

    // An API token cannot step up: the model is told what is missing and
    // how a token that has it is made, instead of a failed HTTP request.
    let refusal = reader
        .refused("create_alert_rule", minimal_rule("nope"))
        .await;
    assert!(
        refusal.message.contains("needs the alerts:write scope")
            && refusal.message.contains(
                "mcp-gateway token create --user reader@example.com --scopes \"alerts:read alerts:write\""
            ),
        "{}",
        refusal.message
    );
    assert_eq!(
        refusal.data,
        Some(json!({"error": "insufficient_scope", "scope": "alerts:write"}))
    );
    assert_eq!(
        reader.ok("list_alert_rules", json!({})).await["rules"],
        json!([]),
        "nothing was written"
    );
}

fn kid_of(jwt: &str) -> String {
    let header = jwt.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    let jwks: Value = reqwest::get(absolute(app, "/oauth/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_signing_key_signs_new_tokens_while_old_ones_stay_valid() {
    let app = spawn_app(Backend::Sqlite).await;
    user_with_password(&app, "ada@example.com").await;
    let flow = register(&app).await;
    let mut browser = Browser::new();
    let first = code(&app, &mut browser, &flow).await;
    let (_, tokens) = exchange(&app, &flow, &first, &flow.verifier, &app.mcp_url()).await;
    let old_access = tokens["access_token"].as_str().unwrap().to_owned();
    let old_kid = kid_of(&old_access);
    assert_eq!(jwks_kids(&app).await, vec![old_kid.clone()]);

    let new_kid = app
        .store
        .rotate_signing_key(&SystemRandom::new())
        .await
        .unwrap();
    // Replicas re-read keys once a minute.
    app.clock().advance(chrono::Duration::seconds(61));
    within(
        "the new key is published",
        Duration::from_secs(10),
        async || {
            let kids = jwks_kids(&app).await;
            if kids.contains(&new_kid) && kids.contains(&old_kid) {
                Ok(())
            } else {
                Err(format!("{kids:?}"))
            }
        },
    )
    .await;
    let (status, rotated) = refresh(&app, &flow, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let new_access = rotated["access_token"].as_str().unwrap();
    assert_eq!(kid_of(new_access), new_kid);
    for access in [old_access.as_str(), new_access] {
        let response = app
            .post_raw(Some(access), r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
            .await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "old and new keys both verify"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_reaches_another_replica_through_redis_at_once() {
    let redis_url = std::env::var("MONITORS_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    let app =
        crate::support::spawn_app_with(Backend::Sqlite, &[("MONITORS_REDIS_URL", &redis_url)])
            .await;
    // Another replica of the same installation: same public URL, so the
    // same issuer and audience.
    let public = format!("http://{}", app.addr);
    let replica = crate::support::spawn_replica_with(
        &app,
        &[
            ("MONITORS_REDIS_URL", &redis_url),
            ("MONITORS_PUBLIC_URL", &public),
        ],
    )
    .await;
    user_with_password(&app, "ada@example.com").await;
    let flow = register(&app).await;
    let mut browser = Browser::new();
    let first = code(&app, &mut browser, &flow).await;
    let (_, tokens) = exchange(&app, &flow, &first, &flow.verifier, &app.mcp_url()).await;
    let access = tokens["access_token"].as_str().unwrap();
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    assert_eq!(
        replica.post_raw(Some(access), ping).await.status(),
        StatusCode::OK
    );

    let client = McpClient::connect(&app.mcp_url(), access).await;
    let id = client.ok("list_connections", json!({})).await["connections"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    client.ok("revoke_connection", json!({"id": id})).await;
    // Well inside the replica's 2 s database read: only the announcement
    // is this quick (though a read may coincide).
    refused_within(&replica, access, Duration::from_millis(500)).await;
}
