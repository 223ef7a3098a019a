//! Around consent: nothing is redirected to a self-registered client before
//! the user has consented, consenting again for the same app reuses its
//! connection, a replayed code or refresh token stops the connection's
//! access tokens at once, and the home page leads a person to sign in.

use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::{
    oauth::{
        Browser, Flow, REDIRECT, absolute, attribute, authorize_url, documented_client, exchange,
        ping, query_of, refresh, register, sign_in, sign_in_and_consent, user_with_password,
    },
    support::{Backend, McpClient, TestApp, minimal_rule, on_both_backends, spawn_app},
};

/// `url` with `set` replacing or adding query parameters and `remove`
/// taking them out.
fn with_params(url: &str, set: &[(&str, &str)], remove: &[&str]) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    let kept: Vec<(String, String)> = parsed
        .query_pairs()
        .filter(|(k, _)| !remove.contains(&k.as_ref()) && !set.iter().any(|(s, _)| s == k))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    parsed
        .query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .extend_pairs(set);
    parsed.to_string()
}

/// A change to a good authorization request that makes it refused before
/// consent, with a matching redirect URI all the same.
struct Spoiled {
    set: &'static [(&'static str, &'static str)],
    remove: &'static [&'static str],
    /// The OAuth error it is.
    error: &'static str,
}

impl Spoiled {
    fn apply(&self, url: &str) -> String {
        with_params(url, self.set, self.remove)
    }
}

/// Every way the authorization endpoint refuses such a request.
const SPOILED: &[Spoiled] = &[
    Spoiled {
        set: &[("response_type", "token")],
        remove: &[],
        error: "unsupported_response_type",
    },
    Spoiled {
        set: &[],
        remove: &["response_type"],
        error: "unsupported_response_type",
    },
    Spoiled {
        set: &[],
        remove: &["code_challenge"],
        error: "invalid_request",
    },
    Spoiled {
        set: &[("code_challenge", "short")],
        remove: &[],
        error: "invalid_request",
    },
    Spoiled {
        set: &[("code_challenge_method", "plain")],
        remove: &[],
        error: "invalid_request",
    },
    Spoiled {
        set: &[],
        remove: &["code_challenge_method"],
        error: "invalid_request",
    },
    Spoiled {
        set: &[("resource", "https://other.example/mcp")],
        remove: &[],
        error: "invalid_target",
    },
    Spoiled {
        set: &[("scope", "admin")],
        remove: &[],
        error: "invalid_scope",
    },
    Spoiled {
        set: &[("scope", " ")],
        remove: &[],
        error: "invalid_scope",
    },
];

/// The request is answered with a page, and nothing points the browser
/// at the client.
fn assert_page(status: StatusCode, page: &str, location: Option<String>, error: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}: {page}");
    assert_eq!(location, None, "{error}: never a redirect");
    assert!(
        page.contains("cannot be accepted") && page.contains(error),
        "{error}: {page}"
    );
    assert!(!page.contains(REDIRECT), "{error}: {page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_error_is_redirected_to_a_self_registered_client_before_consent() {
    let app = spawn_app(Backend::Sqlite).await;
    user_with_password(&app, "ada@example.com").await;
    let registered = register(&app).await;
    let (_documents, documented) = documented_client("Documented").await;
    let operators = app
        .store
        .create_client("Ops console", &[REDIRECT.to_owned()], "operator", None)
        .await
        .unwrap();

    // Signed out, and then signed in (with a consent page in reach): the
    // same pages, whether the client registered itself or is described by
    // its own document.
    let mut browser = Browser::new();
    for signed_in in [false, true] {
        if signed_in {
            sign_in_and_consent(
                &app,
                &mut browser,
                &authorize_url(&app, &registered.client_id, &registered.challenge, &[]),
                "ada@example.com",
            )
            .await;
        }
        for client_id in [registered.client_id.as_str(), documented.as_str()] {
            for spoiled in SPOILED {
                let base = authorize_url(&app, client_id, &registered.challenge, &[]);
                let (status, page, location) = browser.get(&spoiled.apply(&base)).await;
                assert_page(status, &page, location, spoiled.error);
            }
        }
    }

    // The consent form checks the request again before anything else: a
    // tampered one posted there is a page too, not a redirect.
    let (_, consent, _) = browser
        .get(&authorize_url(
            &app,
            &registered.client_id,
            &registered.challenge,
            &[],
        ))
        .await;
    let csrf = attribute(&consent, "name=\"csrf\"", "value");
    let action = absolute(&app, &attribute(&consent, "<form", "action"));
    for spoiled in SPOILED {
        let tampered = spoiled.apply(&action);
        let (status, page, location) = browser
            .post(&tampered, &[("csrf", &csrf), ("decision", "allow")])
            .await;
        assert_page(status, &page, location, spoiled.error);
        let (status, page, location) = Browser::new()
            .post(&tampered, &[("decision", "deny")])
            .await;
        assert_page(status, &page, location, spoiled.error);
    }

    // Once the user has decided, the decision goes back: a denial too.
    let (status, _, location) = browser
        .post(&action, &[("csrf", &csrf), ("decision", "deny")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let query = query_of(&location.unwrap());
    assert_eq!(query["error"], "access_denied");

    // The operator's own client is trusted with its errors.
    for spoiled in SPOILED {
        let base = authorize_url(&app, &operators.id, &registered.challenge, &[]);
        let (status, page, location) = Browser::new().get(&spoiled.apply(&base)).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{}: {page}", spoiled.error);
        let query = query_of(&location.unwrap());
        assert_eq!(
            (query["error"].as_str(), query["state"].as_str()),
            (spoiled.error, "s1")
        );
    }
}

/// A code and its tokens for `flow`, with the scopes asked in `scope`.
async fn connect(app: &TestApp, browser: &mut Browser, flow: &Flow, scope: &str) -> Value {
    let back = sign_in_and_consent(
        app,
        browser,
        &authorize_url(app, &flow.client_id, &flow.challenge, &[("scope", scope)]),
        "ada@example.com",
    )
    .await;
    let code = &query_of(&back)["code"];
    let (status, tokens) = exchange(app, flow, code, &flow.verifier, &app.mcp_url()).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["scope"], scope, "the code gives what was asked");
    tokens
}

fn access(tokens: &Value) -> &str {
    tokens["access_token"].as_str().unwrap()
}

async fn connections(tokens: &Value, app: &TestApp) -> Vec<Value> {
    McpClient::connect(&app.mcp_url(), access(tokens))
        .await
        .ok("list_connections", json!({}))
        .await["connections"]
        .as_array()
        .unwrap()
        .clone()
}

async fn consenting_again_reuses_the_connection(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_password(&app, "ada@example.com").await;
    let flow = register(&app).await;
    let mut browser = Browser::new();
    let first = connect(&app, &mut browser, &flow, "alerts:write").await;
    // The same app again, another PKCE pair, a narrower request.
    let again = flow.again();
    let second = connect(&app, &mut browser, &again, "alerts:read").await;

    let listed = connections(&second, &app).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        listed[0]["scope"], "alerts:read alerts:write",
        "the connection keeps what was allowed before and adds what is allowed now"
    );
    let (_, account, _) = browser.get(&absolute(&app, "/oauth/account")).await;
    assert_eq!(account.matches("name=\"connection_id\"").count(), 1);

    // Nothing issued under the first consent stopped working, and its
    // refresh token now refreshes to the connection's scopes.
    // (It holds alerts:write alone, which a ping does not need: not 401 is
    // what tells that its connection stands.)
    assert_ne!(ping(&app, access(&first)).await, StatusCode::UNAUTHORIZED);
    let (status, renewed) = refresh(&app, &flow, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    assert_eq!(renewed["scope"], "alerts:read alerts:write");
    let (status, body) = refresh(&app, &again, second["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Revoked, the connection is gone with every token under it, and the
    // next consent starts a new one.
    let id = listed[0]["id"].as_str().unwrap();
    McpClient::connect(&app.mcp_url(), access(&renewed))
        .await
        .ok("revoke_connection", json!({"id": id}))
        .await;
    for tokens in [&first, &second, &renewed] {
        assert_eq!(ping(&app, access(tokens)).await, StatusCode::UNAUTHORIZED);
    }
    let fresh = connect(&app, &mut browser, &flow.again(), "alerts:read").await;
    let listed = connections(&fresh, &app).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_ne!(listed[0]["id"], id);
    assert_eq!(listed[0]["scope"], "alerts:read");
}

on_both_backends!(consenting_again_reuses_the_connection);

async fn a_replay_stops_the_access_token_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    user_with_password(&app, "ada@example.com").await;
    let flow = register(&app).await;
    let mut browser = Browser::new();

    // A code exchanged twice: the access token the first exchange gave is
    // refused by the very next request, with no revocation re-read between.
    let back = sign_in_and_consent(
        &app,
        &mut browser,
        &authorize_url(&app, &flow.client_id, &flow.challenge, &[]),
        "ada@example.com",
    )
    .await;
    let code = query_of(&back)["code"].clone();
    let (_, tokens) = exchange(&app, &flow, &code, &flow.verifier, &app.mcp_url()).await;
    assert_eq!(ping(&app, access(&tokens)).await, StatusCode::OK);
    let (status, body) = exchange(&app, &flow, &code, &flow.verifier, &app.mcp_url()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(ping(&app, access(&tokens)).await, StatusCode::UNAUTHORIZED);

    // A refresh token used twice: likewise.
    let flow = flow.again();
    let tokens = connect(&app, &mut browser, &flow, "alerts:read alerts:write").await;
    let old = tokens["refresh_token"].as_str().unwrap();
    let (status, rotated) = refresh(&app, &flow, old).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_eq!(ping(&app, access(&rotated)).await, StatusCode::OK);
    let (status, body) = refresh(&app, &flow, old).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    for issued in [&tokens, &rotated] {
        assert_eq!(ping(&app, access(issued)).await, StatusCode::UNAUTHORIZED);
    }
}

on_both_backends!(a_replay_stops_the_access_token_at_once);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_home_page_gives_the_mcp_url_and_leads_to_sign_in_and_the_account() {
    let app = spawn_app(Backend::Sqlite).await;
    user_with_password(&app, "ada@example.com").await;
    let mut browser = Browser::new();
    let response = reqwest::get(absolute(&app, "/")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(headers.contains_key(header::CONTENT_SECURITY_POLICY));
    let home = response.text().await.unwrap();
    assert!(home.contains("<h1>monitors-mcp</h1>"), "{home}");
    assert_eq!(
        attribute(&home, "id=\"mcp-url\"", "class"),
        "url",
        "the URL stands on its own"
    );
    assert!(
        home.contains(&format!(">{}</code>", app.mcp_url())),
        "the MCP URL to paste: {home}"
    );
    let sign_in_link = attribute(&home, ">Sign in<", "href");
    let account = attribute(&home, ">Your account<", "href");
    assert_eq!(account, "/oauth/account");

    // The sign-in link: a form that lands on the account page.
    let (status, page, _) = browser.get(&absolute(&app, &sign_in_link)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let next = sign_in(&app, &mut browser, &page, "ada@example.com").await;
    assert_eq!(next, account);
    let (status, page, _) = browser.get(&absolute(&app, &account)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Signed in as <strong>ada@example.com</strong>"),
        "{page}"
    );
    // Signed in already, the sign-in link goes straight on.
    let (status, _, location) = browser.get(&absolute(&app, &sign_in_link)).await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some(account.as_str()))
    );
}

/// An OAuth connection can step up, so a call outside its scopes gets the
/// specification's challenge, which its client answers by asking the user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_token_without_the_write_scope_gets_the_step_up_challenge() {
    let app = spawn_app(Backend::Sqlite).await;
    user_with_password(&app, "ada@example.com").await;
    let flow = register(&app).await;
    let mut browser = Browser::new();
    let tokens = connect(&app, &mut browser, &flow, "alerts:read").await;

    let call = serde_json::to_string(&json!({
        "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "create_alert_rule", "arguments": minimal_rule("nope")}
    }))
    .unwrap();
    let response = app.post_raw(Some(access(&tokens)), call).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let challenge = response.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains("error=\"insufficient_scope\"")
            && challenge.contains("scope=\"alerts:write\""),
        "{challenge}"
    );
    let reader = McpClient::connect(&app.mcp_url(), access(&tokens)).await;
    assert_eq!(
        reader.ok("list_alert_rules", json!({})).await["rules"],
        json!([]),
        "nothing was written"
    );
}
