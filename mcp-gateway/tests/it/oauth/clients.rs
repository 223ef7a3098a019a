//! Clients: a metadata document as a client id, an operator-registered
//! confidential client, and dynamic registration.

use super::{
    client::{code, refused_within},
    *,
};

/// A server publishing, once and cacheable for an hour, the metadata
/// document of a client named `name` that redirects to [`REDIRECT`]; and
/// that client's id, the document's URL.
pub(crate) async fn documented_client(name: &str) -> (Receiver, String) {
    let documents = Receiver::start().await;
    let client_id = documents.url("/client.json");
    documents.then_reply(
        Reply::status(200)
            .header("content-type", "application/json")
            .header("cache-control", "max-age=3600")
            .body(
                &json!({"client_id": client_id, "client_name": name, "redirect_uris": [REDIRECT]})
                    .to_string(),
            ),
    );
    (documents, client_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_metadata_document_is_a_client_id() {
    let app = spawn_app(Backend::Sqlite).await;
    user_with_password(&app, "ada@example.com").await;
    let (documents, client_id) = documented_client("Documented client").await;
    let (verifier, challenge) = pkce();
    let flow = Flow {
        client_id: client_id.clone(),
        verifier,
        challenge,
    };
    let mut browser = Browser::new();
    let url = authorize_url(&app, &client_id, &flow.challenge, &[]);
    let (_, page, _) = browser.get(&url).await;
    assert!(page.contains("Documented client"), "{page}");
    let code = code(&app, &mut browser, &flow).await;
    let (status, tokens) = exchange(&app, &flow, &code, &flow.verifier, &app.mcp_url()).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let client = McpClient::connect(&app.mcp_url(), tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(
        client.ok("list_connections", json!({})).await["connections"][0]["client_id"],
        client_id.as_str()
    );
    assert_eq!(
        documents.requests().len(),
        1,
        "the document was fetched once and cached"
    );

    // Revoked through the revocation endpoint: refresh and access both stop.
    let response = reqwest::Client::new()
        .post(absolute(&app, "/oauth/revoke"))
        .form(&[
            ("token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", &client_id),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (_, body) = refresh(&app, &flow, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(body["error"], "invalid_grant");
    refused_within(
        &app,
        tokens["access_token"].as_str().unwrap(),
        Duration::from_secs(1),
    )
    .await;
}

/// Runs the real `mcp-gateway` binary against the app's database, feeding
/// `stdin`; returns what it printed.
fn operator(app: &TestApp, args: &[&str], stdin: &str) -> String {
    let key = [("MONITORS_ENCRYPTION_KEY", app.encryption_key.as_str())];
    let ran = run_operator(app, args, &key, stdin);
    assert!(ran.success, "{args:?}: {}{}", ran.stdout, ran.stderr);
    ran.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_registered_confidential_client_authenticates_with_its_secret() {
    let app = spawn_app(Backend::Sqlite).await;
    operator(
        &app,
        &[
            "user",
            "create",
            "--email",
            "ada@example.com",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    let printed = operator(
        &app,
        &[
            "oauth-client",
            "create",
            "--name",
            "Ops console",
            "--redirect-uri",
            REDIRECT,
            "--confidential",
        ],
        "",
    );
    let field = |name: &str| {
        printed
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("{name} in {printed}"))
            .to_owned()
    };
    let (client_id, secret) = (field("client_id"), field("client_secret"));
    let (verifier, challenge) = pkce();
    let flow = Flow {
        client_id: client_id.clone(),
        verifier,
        challenge,
    };
    let mut browser = Browser::new();
    let (_, consent_or_sign_in, _) = browser
        .get(&authorize_url(&app, &client_id, &flow.challenge, &[]))
        .await;
    assert!(consent_or_sign_in.contains("Ops console"));
    let code = code(&app, &mut browser, &flow).await;
    let form = |secret: &str| {
        vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".to_owned(), code.clone()),
            ("redirect_uri".to_owned(), REDIRECT.to_owned()),
            ("client_id".to_owned(), client_id.clone()),
            ("client_secret".to_owned(), secret.to_owned()),
            ("code_verifier".to_owned(), flow.verifier.clone()),
        ]
    };
    let wrong = reqwest::Client::new()
        .post(absolute(&app, "/oauth/token"))
        .form(&form("mcps_wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
    let right = reqwest::Client::new()
        .post(absolute(&app, "/oauth/token"))
        .form(&form(&secret))
        .send()
        .await
        .unwrap();
    assert_eq!(
        right.status(),
        StatusCode::OK,
        "the code survived the failed client authentication"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_checks_redirect_uris_and_is_rate_limited_per_address() {
    let app = spawn_app(Backend::Sqlite).await;
    let post = async |body: Value| {
        let response = reqwest::Client::new()
            .post(absolute(&app, "/oauth/register"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (
            status,
            response.json::<Value>().await.unwrap_or(Value::Null),
        )
    };
    let (status, body) = post(json!({"redirect_uris": ["http://evil.example.com/cb"]})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_redirect_uri", "{body}");
    let (status, body) = post(
        json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_basic"}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_client_metadata"))
    );

    // A loopback redirect URI matches on any port (RFC 8252).
    let (status, client) =
        post(json!({"client_name": "Loopback", "redirect_uris": [REDIRECT]})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, challenge) = pkce();
    let other_port = authorize_url(&app, client["client_id"].as_str().unwrap(), &challenge, &[])
        .replace("49153", "51234");
    let (status, page, _) = Browser::new().get(&other_port).await;
    assert_eq!(status, StatusCode::OK, "{page}");

    // Twenty an hour from one address; refused ones do not count.
    for n in 1..20 {
        let (status, _) = post(json!({"redirect_uris": [REDIRECT]})).await;
        assert_eq!(status, StatusCode::CREATED, "registration {}", n + 1);
    }
    let (status, body) = post(json!({"redirect_uris": [REDIRECT]})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    app.clock().advance(chrono::Duration::minutes(61));
    assert_eq!(
        post(json!({"redirect_uris": [REDIRECT]})).await.0,
        StatusCode::CREATED
    );
}
