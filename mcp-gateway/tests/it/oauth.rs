//! OAuth 2.1 end to end, as Claude's connector runs it: rmcp's OAuth client
//! discovers the server through the 401, registers, a user signs in and
//! consents on the real pages over HTTP, the code is exchanged, tools are
//! called with the access token, it is refreshed, and revocation stops it.
//! And the refusals: PKCE, codes, resources, redirect URIs, audiences,
//! expiry, refresh-token replay, CSRF, password guessing.

use std::{collections::BTreeMap, time::Duration};

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
use rmcp::transport::auth::{AuthorizationCallback, AuthorizationManager, AuthorizationRequest, AuthorizationSession};
use serde_json::{Value, json};

use crate::support::{Backend, McpClient, TestApp, minimal_rule, on_both_backends, spawn_app};
use alert_worker::testing::within;

const PASSWORD: &str = "correct horse battery";

/// A browser without JavaScript: follows nothing by itself, keeps cookies.
struct Browser {
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    fn new() -> Self {
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

    async fn get(&mut self, url: &str) -> (StatusCode, String, Option<String>) {
        let response = self
            .http
            .get(url)
            .header(header::COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.answer(response).await
    }

    async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> (StatusCode, String, Option<String>) {
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

    async fn answer(&mut self, response: reqwest::Response) -> (StatusCode, String, Option<String>) {
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
fn attribute(html: &str, marker: &str, attr: &str) -> String {
    let at = html.find(marker).unwrap_or_else(|| panic!("{marker} not in page:\n{html}"));
    let tag_start = html[..at].rfind('<').unwrap();
    let tag_end = at + html[at..].find('>').unwrap();
    let tag = &html[tag_start..tag_end];
    let key = format!("{attr}=\"");
    let start = tag.find(&key).unwrap_or_else(|| panic!("{attr} not in {tag}")) + key.len();
    let end = start + tag[start..].find('"').unwrap();
    unescape(&tag[start..end])
}

fn absolute(app: &TestApp, path: &str) -> String {
    format!("http://{}{path}", app.addr)
}

async fn user_with_password(app: &TestApp, email: &str) {
    let user = app.store.create_user(&Email::parse(email).unwrap()).await.unwrap();
    let hash = password::hash(&Password::parse(PASSWORD.to_owned()).unwrap(), &SystemRandom::new()).unwrap();
    app.store.set_password_hash(user.id, hash).await.unwrap();
}

/// Signs in and consents on the pages; returns the redirect to the client.
async fn sign_in_and_consent(app: &TestApp, browser: &mut Browser, authorize_url: &str, email: &str) -> String {
    let (status, page, _) = browser.get(authorize_url).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let action = attribute(&page, "name=\"csrf\"", "value");
    let csrf = action;
    let form_action = attribute(&page, "<form", "action");
    let (status, body, location) = browser
        .post(&absolute(app, &form_action), &[("email", email), ("password", PASSWORD), ("csrf", &csrf)])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let (status, consent, _) = browser.get(&absolute(app, &location.unwrap())).await;
    assert_eq!(status, StatusCode::OK);
    assert!(consent.contains("alerts:read"), "the consent page lists the scopes");
    let csrf = attribute(&consent, "name=\"csrf\"", "value");
    let form_action = attribute(&consent, "<form", "action");
    let (status, _, location) = browser
        .post(&absolute(app, &form_action), &[("csrf", &csrf), ("decision", "allow")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    location.expect("redirected to the client")
}

async fn the_whole_flow_with_rmcps_oauth_client(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_password(&app, "ada@example.com").await;

    // The 401 names the resource metadata.
    let unauthorized = app.post_raw(None, r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).await;
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
    let challenge = unauthorized.headers()[header::WWW_AUTHENTICATE].to_str().unwrap().to_owned();
    assert!(
        challenge.contains(&format!("resource_metadata=\"http://{}/.well-known/oauth-protected-resource/mcp\"", app.addr)),
        "{challenge}"
    );

    let mut manager = AuthorizationManager::new(app.mcp_url()).await.unwrap();
    let resolution = manager.resolve_metadata_from_challenge(Some(&challenge)).await.unwrap();
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
    let back = sign_in_and_consent(&app, &mut browser, session.get_authorization_url(), "ada@example.com").await;
    assert!(back.starts_with(redirect_uri), "{back}");
    let callback = AuthorizationCallback::from_redirect_url(&back).unwrap();
    assert_eq!(callback.issuer.as_deref(), Some(format!("http://{}", app.addr).as_str()));
    session
        .handle_callback_with_issuer(&callback.code, &callback.csrf_token, callback.issuer.as_deref())
        .await
        .expect("the code is exchanged");
    let access = session.auth_manager.get_access_token().await.unwrap();

    let client = McpClient::connect(&app.mcp_url(), &access).await;
    let created = client.ok("create_alert_rule", minimal_rule("via oauth")).await;
    assert_eq!(created["name"], "via oauth");
    let connections = client.ok("list_connections", json!({})).await;
    assert_eq!(connections["connections"][0]["client_name"], "Test connector");

    // The code is single-use: a replay fails and revokes the connection.
    let replay = token_request(&app, &[
        ("grant_type", "authorization_code"),
        ("code", &callback.code),
        ("redirect_uri", redirect_uri),
        ("client_id", &session.get_credentials().await.unwrap().0),
        ("code_verifier", &"x".repeat(43)),
    ])
    .await;
    assert_eq!(replay.0, StatusCode::BAD_REQUEST);
    assert_eq!(replay.1["error"], "invalid_grant");
    refused_within(&app, &access, Duration::from_secs(5)).await;
}

/// A POST to the token endpoint; its status and JSON.
async fn token_request(app: &TestApp, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(absolute(app, "/oauth/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
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

fn pkce() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(uuid::Uuid::now_v7().as_bytes()).repeat(2);
    let challenge = URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()));
    (verifier, challenge)
}
