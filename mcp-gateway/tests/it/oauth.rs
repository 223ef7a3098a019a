//! OAuth 2.1 end to end, as Claude's connector runs it: rmcp's OAuth client
//! discovers the server through the 401, registers, a user signs in and
//! consents on the real pages over HTTP, the code is exchanged, tools are
//! called with the access token, it is refreshed, and revocation stops it.
//! And the refusals: PKCE, codes, resources, redirect URIs, audiences,
//! expiry, refresh-token replay, CSRF, password guessing.

use std::{collections::BTreeMap, time::Duration};

use alert_worker::testing::{
    receiver::{Receiver, Reply},
    within,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use mcp_gateway::{
    oauth::password::{self, Password},
    store::Email,
};
use reqwest::{StatusCode, header};
use ring::{
    digest::{SHA256, digest},
    rand::SystemRandom,
};
use rmcp::transport::auth::{
    AuthorizationCallback, AuthorizationManager, AuthorizationRequest, AuthorizationSession,
};
use serde_json::{Value, json};

use crate::support::{
    Backend, McpClient, TestApp, minimal_rule, on_both_backends, run_operator, spawn_app,
};

pub(crate) const PASSWORD: &str = "correct horse battery";

/// A browser without JavaScript: follows nothing by itself, keeps cookies.
pub(crate) struct Browser {
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    pub(crate) fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all(header::SET_COOKIE) {
            let pair = value.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.insert(name.to_owned(), value.to_owned());
        }
    }

    pub(crate) async fn get(&mut self, url: &str) -> (StatusCode, String, Option<String>) {
        let response = self
            .http
            .get(url)
            .header(header::COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.answer(response).await
    }

    pub(crate) async fn post(
        &mut self,
        url: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, String, Option<String>) {
        let response = self
            .http
            .post(url)
            .header(header::COOKIE, self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.answer(response).await
    }

    async fn answer(
        &mut self,
        response: reqwest::Response,
    ) -> (StatusCode, String, Option<String>) {
        self.keep_cookies(&response);
        let status = response.status();
        let location = response
            .headers()
            .get(header::LOCATION)
            .map(|l| l.to_str().unwrap().to_owned());
        (status, response.text().await.unwrap(), location)
    }
}

fn unescape(html: &str) -> String {
    html.replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

/// The value of attribute `attr` on the first tag containing `marker`.
pub(crate) fn attribute(html: &str, marker: &str, attr: &str) -> String {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in page:\n{html}"));
    let tag_start = html[..at].rfind('<').unwrap();
    let tag_end = at + html[at..].find('>').unwrap();
    let tag = &html[tag_start..tag_end];
    let key = format!("{attr}=\"");
    let start = tag
        .find(&key)
        .unwrap_or_else(|| panic!("{attr} not in {tag}"))
        + key.len();
    let end = start + tag[start..].find('"').unwrap();
    unescape(&tag[start..end])
}

pub(crate) fn absolute(app: &TestApp, path: &str) -> String {
    format!("http://{}{path}", app.addr)
}

pub(crate) async fn user_with_password(app: &TestApp, email: &str) {
    let user = app
        .store
        .create_user(&Email::parse(email).unwrap())
        .await
        .unwrap();
    let hash = password::hash(
        &Password::parse(PASSWORD.to_owned()).unwrap(),
        &SystemRandom::new(),
    )
    .unwrap();
    app.store.set_password_hash(user.id, hash).await.unwrap();
}

/// Submits the sign-in form on `page` with `email` and [`PASSWORD`];
/// returns where the browser is sent next.
pub(crate) async fn sign_in(
    app: &TestApp,
    browser: &mut Browser,
    page: &str,
    email: &str,
) -> String {
    let csrf = attribute(page, "name=\"csrf\"", "value");
    let form_action = attribute(page, "<form", "action");
    let (status, body, location) = browser
        .post(
            &absolute(app, &form_action),
            &[("email", email), ("password", PASSWORD), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    location.expect("signed in, the browser is sent on")
}

/// Signs in and consents on the pages; returns the redirect to the client.
pub(crate) async fn sign_in_and_consent(
    app: &TestApp,
    browser: &mut Browser,
    authorize_url: &str,
    email: &str,
) -> String {
    let (status, page, _) = browser.get(authorize_url).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    // Signed in already, the browser goes straight to consent.
    let consent = if page.contains("name=\"decision\"") {
        page
    } else {
        let location = sign_in(app, browser, &page, email).await;
        let (status, consent, _) = browser.get(&absolute(app, &location)).await;
        assert_eq!(status, StatusCode::OK);
        consent
    };
    assert!(
        consent.contains("<li><code>alerts:"),
        "the consent page lists the scopes: {consent}"
    );
    let csrf = attribute(&consent, "name=\"csrf\"", "value");
    let form_action = attribute(&consent, "<form", "action");
    let (status, _, location) = browser
        .post(
            &absolute(app, &form_action),
            &[("csrf", &csrf), ("decision", "allow")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    location.expect("redirected to the client")
}

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

/// A POST to the token endpoint; its status and JSON.
pub(crate) async fn token_request(app: &TestApp, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(absolute(app, "/oauth/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The status of an MCP ping with `access`.
pub(crate) async fn ping(app: &TestApp, access: &str) -> StatusCode {
    app.post_raw(Some(access), r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .await
        .status()
}

/// Waits until `/mcp` refuses the access token with 401.
async fn refused_within(app: &TestApp, access: &str, limit: Duration) {
    within("the access token is refused", limit, async || {
        let status = app
            .post_raw(Some(access), r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
            .await
            .status();
        match status {
            StatusCode::UNAUTHORIZED => Ok(()),
            other => Err(other.to_string()),
        }
    })
    .await;
}

on_both_backends!(the_whole_flow_with_rmcps_oauth_client);

pub(crate) fn pkce() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD
        .encode(uuid::Uuid::now_v7().as_bytes())
        .repeat(2);
    let challenge = URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()));
    (verifier, challenge)
}

pub(crate) const REDIRECT: &str = "http://127.0.0.1:49153/cb";

/// A client registered dynamically, and a PKCE pair for one authorization.
pub(crate) struct Flow {
    pub client_id: String,
    pub verifier: String,
    pub challenge: String,
}

impl Flow {
    /// Another authorization by the same client, with a new PKCE pair.
    pub(crate) fn again(&self) -> Self {
        let (verifier, challenge) = pkce();
        Self {
            client_id: self.client_id.clone(),
            verifier,
            challenge,
        }
    }
}

pub(crate) async fn register(app: &TestApp) -> Flow {
    let response = reqwest::Client::new()
        .post(absolute(app, "/oauth/register"))
        .json(&json!({"client_name": "Refusals", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    let (verifier, challenge) = pkce();
    Flow {
        client_id: body["client_id"].as_str().unwrap().to_owned(),
        verifier,
        challenge,
    }
}

pub(crate) fn authorize_url(
    app: &TestApp,
    client_id: &str,
    challenge: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut url = url::Url::parse(&absolute(app, "/oauth/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("state", "s1")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("resource", &app.mcp_url())
        .extend_pairs(extra);
    url.to_string()
}

pub(crate) fn query_of(location: &str) -> BTreeMap<String, String> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn code(app: &TestApp, browser: &mut Browser, flow: &Flow) -> String {
    let back = sign_in_and_consent(
        app,
        browser,
        &authorize_url(app, &flow.client_id, &flow.challenge, &[]),
        "ada@example.com",
    )
    .await;
    let query = query_of(&back);
    assert_eq!(query["state"], "s1");
    query["code"].clone()
}

pub(crate) async fn exchange(
    app: &TestApp,
    flow: &Flow,
    code: &str,
    verifier: &str,
    resource: &str,
) -> (StatusCode, Value) {
    token_request(
        app,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("client_id", &flow.client_id),
            ("code_verifier", verifier),
            ("resource", resource),
        ],
    )
    .await
}

pub(crate) async fn refresh(
    app: &TestApp,
    flow: &Flow,
    refresh_token: &str,
) -> (StatusCode, Value) {
    token_request(
        app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", &flow.client_id),
        ],
    )
    .await
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_without_their_csrf_token_and_password_guessing_are_refused() {
    let app = spawn_app(Backend::Sqlite).await;
    user_with_password(&app, "ada@example.com").await;
    let flow = register(&app).await;
    let mut browser = Browser::new();
    let url = authorize_url(&app, &flow.client_id, &flow.challenge, &[]);
    let (_, page, _) = browser.get(&url).await;
    let action = absolute(&app, &attribute(&page, "<form", "action"));

    let (status, _, _) = browser
        .post(
            &action,
            &[("email", "ada@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no CSRF token");
    let (status, _, _) = browser
        .post(
            &action,
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("csrf", "forged-forged-forged-forged-forged-1"),
            ],
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a CSRF token that is not the cookie's"
    );

    let csrf = attribute(&page, "name=\"csrf\"", "value");
    for _ in 0..5 {
        let (status, page, _) = browser
            .post(
                &action,
                &[
                    ("email", "ada@example.com"),
                    ("password", "wrong password!"),
                    ("csrf", &csrf),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{page}");
    }
    let (status, page, _) = browser
        .post(
            &action,
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the sixth attempt waits, even with the right password"
    );
    assert!(page.contains("Too many attempts"));
    app.clock().advance(chrono::Duration::minutes(16));
    let (status, _, _) = browser
        .post(
            &action,
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "signed in once the window has passed"
    );

    // The consent form checks the session's token.
    let (_, consent, _) = browser.get(&url).await;
    let consent_action = absolute(&app, &attribute(&consent, "<form", "action"));
    let (status, _, _) = browser
        .post(&consent_action, &[("decision", "allow")])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

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
async fn open_sign_up_creates_an_account_with_an_acceptable_password() {
    let app = crate::support::spawn_app_with(Backend::Sqlite, &[("MONITORS_SIGNUP", "open")]).await;
    let flow = register(&app).await;
    let mut browser = Browser::new();
    let (_, page, _) = browser
        .get(&authorize_url(&app, &flow.client_id, &flow.challenge, &[]))
        .await;
    let action = absolute(&app, &attribute(&page, "<form", "action"));
    let csrf = attribute(&page, "name=\"csrf\"", "value");

    let (status, page, _) = browser
        .post(
            &action,
            &[
                ("email", "new@example.com"),
                ("password", "short"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("at least 10 characters"), "{page}");
    assert!(
        app.store
            .find_user(&Email::parse("new@example.com").unwrap())
            .await
            .unwrap()
            .is_none(),
        "nothing written"
    );

    let (status, _, location) = browser
        .post(
            &action,
            &[
                ("email", "new@example.com"),
                ("password", PASSWORD),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.unwrap().starts_with("/oauth/authorize?"));
    assert!(
        app.store
            .find_user(&Email::parse("new@example.com").unwrap())
            .await
            .unwrap()
            .is_some()
    );
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
