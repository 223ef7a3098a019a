//! The whole flow as Claude's connector runs it, through rmcp's OAuth
//! client.

use super::{client::refused_within, *};

async fn the_whole_flow_with_rmcps_oauth_client(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_password(&app, "ada@example.com").await;

    // The 401 names the resource metadata.
    let unauthorized = app
        .post_raw(None, r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .await;
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
    let challenge = unauthorized.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"http://{}/.well-known/oauth-protected-resource/mcp\"",
            app.addr
        )),
        "{challenge}"
    );

    let mut manager = AuthorizationManager::new(app.mcp_url()).await.unwrap();
    let resolution = manager
        .resolve_metadata_from_challenge(Some(&challenge))
        .await
        .unwrap();
    manager.set_metadata(resolution.metadata);
    let redirect_uri = "http://127.0.0.1:49152/callback";
    let session = AuthorizationSession::new(
        manager,
        AuthorizationRequest::new(redirect_uri)
            .with_client_name("Test connector")
            .with_scopes(["alerts:read", "alerts:write"]),
    )
    .await
    .map_err(|(_, e)| e)
    .expect("dynamic registration and the authorization URL");

    let mut browser = Browser::new();
    let back = sign_in_and_consent(
        &app,
        &mut browser,
        session.get_authorization_url(),
        "ada@example.com",
    )
    .await;
    assert!(back.starts_with(redirect_uri), "{back}");
    let callback = AuthorizationCallback::from_redirect_url(&back).unwrap();
    assert_eq!(
        callback.issuer.as_deref(),
        Some(format!("http://{}", app.addr).as_str())
    );
    session
        .handle_callback_with_issuer(
            &callback.code,
            &callback.csrf_token,
            callback.issuer.as_deref(),
        )
        .await
        .expect("the code is exchanged");
    let access = session.auth_manager.get_access_token().await.unwrap();

    let client = McpClient::connect(&app.mcp_url(), &access).await;
    let created = client
        .ok("create_alert_rule", minimal_rule("via oauth"))
        .await;
    assert_eq!(created["name"], "via oauth");
    let connections = client.ok("list_connections", json!({})).await;
    assert_eq!(
        connections["connections"][0]["client_name"],
        "Test connector"
    );

    // The client refreshes: a new access token that works, from a rotated
    // refresh token.
    session.auth_manager.refresh_token().await.expect("refresh");
    let renewed = session.auth_manager.get_access_token().await.unwrap();
    assert_ne!(renewed, access, "a new access token");
    let client = McpClient::connect(&app.mcp_url(), &renewed).await;
    client.ok("list_alert_rules", json!({})).await;

    // The user disconnects it: its tokens stop working, refresh included.
    let id = connections["connections"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = client.ok("revoke_connection", json!({"id": id})).await;
    assert_eq!(revoked["revoked"], true);
    refused_within(&app, &renewed, Duration::from_secs(1)).await;
    refused_within(&app, &access, Duration::from_secs(1)).await;
    assert!(
        session.auth_manager.refresh_token().await.is_err(),
        "refresh refused after revocation"
    );

    // The code stays spent.
    let replay = token_request(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &callback.code),
            ("redirect_uri", redirect_uri),
            ("client_id", &session.get_credentials().await.unwrap().0),
            ("code_verifier", &"x".repeat(43)),
        ],
    )
    .await;
    assert_eq!(replay.0, StatusCode::BAD_REQUEST);
    assert_eq!(replay.1["error"], "invalid_grant");
}

on_both_backends!(the_whole_flow_with_rmcps_oauth_client);
