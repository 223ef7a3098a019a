//! The OAuth client's side of the flow by hand: registration, PKCE, the
//! authorization URL, and the token endpoint.

use super::*;

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
pub(super) async fn refused_within(app: &TestApp, access: &str, limit: Duration) {
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

pub(super) async fn code(app: &TestApp, browser: &mut Browser, flow: &Flow) -> String {
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
