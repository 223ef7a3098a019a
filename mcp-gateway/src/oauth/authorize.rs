//! The authorization endpoint and the pages behind it: sign-in, then
//! consent, then the redirect back to the client with a single-use code.
//! The authorization request rides along in the forms' action URLs and is
//! checked again in full at every step.

use axum::{
    Form, Router,
    extract::{RawQuery, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;
use shared_models::ids::GrantId;
use url::Url;

use super::{
    clients::{RedirectUri, metadata_document::is_metadata_client_id},
    pages, password,
    web::{self, CSRF_COOKIE},
};
use crate::{
    app::AppState,
    auth::{
        scope::{Scope, Scopes},
        token::TokenDigest,
    },
    config::Signup,
    error::{Error, chain},
    store::{Email, NewCode},
};

/// How long a code may wait for its exchange (OAuth 2.1 advises short).
const CODE_TTL: std::time::Duration = std::time::Duration::from_secs(60);
/// The sign-in page on its own, and where every sign-in form posts.
pub const SIGN_IN_PATH: &str = "/oauth/sign-in";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/oauth/authorize", get(authorize))
        .route(SIGN_IN_PATH, get(sign_in_form).post(sign_in))
        .route("/oauth/consent", post(consent))
        .route(pages::STYLESHEET_PATH, get(web::stylesheet))
}

#[derive(Debug, Default, Deserialize)]
struct AuthorizeQuery {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    scope: Option<String>,
    resource: Option<String>,
}

/// A client as the consent page presents it.
pub struct ResolvedClient {
    pub id: String,
    pub name: String,
    pub redirect_uris: Vec<RedirectUri>,
    /// Registered by the operator, or described by a document fetched
    /// over https from its own URL.
    pub verified: bool,
    /// Registered dynamically or described by its own metadata document:
    /// anyone can make such a client, with any redirect URI.
    pub self_registered: bool,
}

/// An authorization request that passed every check.
struct Checked {
    client: ResolvedClient,
    redirect_uri: String,
    state: Option<String>,
    code_challenge: String,
    scope: Scopes,
    /// The query it came in, to carry through the forms.
    raw: String,
}

/// A request that cannot go on: shown as a page, unless the client was
/// registered by the operator and its redirect URI matched, when it goes
/// back to the client.
enum Stop {
    Page(Response),
    Redirect(Response),
}

impl IntoResponse for Stop {
    fn into_response(self) -> Response {
        match self {
            Self::Page(r) | Self::Redirect(r) => r,
        }
    }
}

pub async fn resolve_client(
    state: &AppState,
    client_id: &str,
) -> Result<Option<ResolvedClient>, Error> {
    if is_metadata_client_id(client_id) {
        return match state.client_documents.get(client_id).await {
            Ok(document) => Ok(Some(ResolvedClient {
                id: client_id.to_owned(),
                name: document
                    .client_name
                    .clone()
                    .unwrap_or_else(|| document.host.clone()),
                redirect_uris: document.redirect_uris.clone(),
                verified: client_id.starts_with("https://"),
                self_registered: true,
            })),
            Err(error) => {
                tracing::info!(client_id, error = %chain(&error), "client metadata document refused");
                Ok(None)
            }
        };
    }
    let Some(record) = state.store.find_client(client_id).await? else {
        return Ok(None);
    };
    let redirect_uris = record
        .redirect_uris
        .iter()
        .filter_map(|uri| RedirectUri::parse(uri).ok())
        .collect();
    Ok(Some(ResolvedClient {
        id: record.id,
        name: record.name,
        redirect_uris,
        verified: record.origin == "operator",
        self_registered: record.origin != "operator",
    }))
}

/// Appends the OAuth response parameters to the client's redirect URI,
/// with `iss` (RFC 9207) so the client knows who answered.
fn redirect_back(
    state: &AppState,
    redirect_uri: &str,
    params: &[(&str, &str)],
    client_state: Option<&str>,
) -> Response {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return web::error_page(
            StatusCode::BAD_REQUEST,
            "Cannot return to the app",
            "The app's redirect address is not valid.",
        );
    };
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in params {
            query.append_pair(k, v);
        }
        if let Some(s) = client_state {
            query.append_pair("state", s);
        }
        query.append_pair("iss", &state.authority.issuer);
    }
    Redirect::to(url.as_str()).into_response()
}

async fn check(state: &AppState, raw: Option<String>) -> Result<Checked, Stop> {
    let raw = raw.unwrap_or_default();
    let query: AuthorizeQuery = serde_urlencoded::from_str(&raw).unwrap_or_default();
    let bad_page = |message: &str| {
        Stop::Page(web::error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in link is not valid",
            message,
        ))
    };
    let Some(client_id) = query.client_id.as_deref().filter(|c| !c.is_empty()) else {
        return Err(bad_page(
            "The request names no client (client_id is missing).",
        ));
    };
    let client = match resolve_client(state, client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => {
            return Err(bad_page(
                "The app asking to connect is not registered with this server.",
            ));
        }
        Err(error) => {
            tracing::error!(error = %chain(&error), "resolving an OAuth client failed");
            return Err(Stop::Page(web::error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again shortly",
                "The server could not complete the request.",
            )));
        }
    };
    let redirect_uri = match query.redirect_uri.as_deref() {
        Some(presented) if client.redirect_uris.iter().any(|r| r.matches(presented)) => {
            presented.to_owned()
        }
        Some(_) => {
            return Err(bad_page(
                "The app's redirect address is not one it registered.",
            ));
        }
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].as_str().to_owned(),
        None => {
            return Err(bad_page(
                "The request names no redirect address (redirect_uri).",
            ));
        }
    };
    let client_state = query.state.clone();
    let back = |error: &str, description: &str| {
        // Whoever registers a client chooses its redirect URIs, so
        // redirecting there before the user has agreed to anything would
        // make this server an open redirector (RFC 9700 §4.11.2).
        if client.self_registered {
            return bad_page(&format!(
                "The app's request cannot be accepted: {description} ({error}). \
                 Go back to the app and connect again."
            ));
        }
        Stop::Redirect(redirect_back(
            state,
            &redirect_uri,
            &[("error", error), ("error_description", description)],
            client_state.as_deref(),
        ))
    };
    if query.response_type.as_deref() != Some("code") {
        return Err(back(
            "unsupported_response_type",
            "response_type must be code",
        ));
    }
    let Some(code_challenge) = query
        .code_challenge
        .clone()
        .filter(|c| (43..=128).contains(&c.len()))
    else {
        return Err(back(
            "invalid_request",
            "PKCE is required: send code_challenge with code_challenge_method=S256",
        ));
    };
    if query.code_challenge_method.as_deref() != Some("S256") {
        return Err(back(
            "invalid_request",
            "code_challenge_method must be S256",
        ));
    }
    if let Some(resource) = query.resource.as_deref()
        && resource.trim_end_matches('/') != state.authority.resource
    {
        return Err(back(
            "invalid_target",
            "resource must be this server's MCP endpoint",
        ));
    }
    let scope = match query.scope.as_deref() {
        None | Some("") => Scopes::all(),
        Some(asked) => match Scopes::parse(asked, "scope") {
            Ok(scopes) if !scopes.is_empty() => scopes,
            _ => {
                return Err(back(
                    "invalid_scope",
                    "the scopes are alerts:read and alerts:write",
                ));
            }
        },
    };
    Ok(Checked {
        client,
        redirect_uri,
        state: query.state,
        code_challenge,
        scope,
        raw,
    })
}

async fn authorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let checked = match check(&state, raw).await {
        Ok(checked) => checked,
        Err(stop) => return stop.into_response(),
    };
    match web::session(&state, &headers).await {
        Ok(Some(session)) => consent_page(&state, &checked, &session).await,
        Ok(None) => sign_in_page(
            &state,
            &headers,
            &format!("/oauth/authorize?{}", checked.raw),
            Some(&checked.client.name),
            None,
            None,
            StatusCode::OK,
        ),
        Err(error) => unavailable(error),
    }
}

fn unavailable(error: Error) -> Response {
    tracing::error!(error = %chain(&error), "OAuth page failed");
    web::error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again shortly",
        "The server could not complete the request.",
    )
}

/// The sign-in page, returning to `return_to` (a path on this server).
pub fn sign_in_page(
    state: &AppState,
    headers: &HeaderMap,
    return_to: &str,
    client_name: Option<&str>,
    email: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let existing = web::cookie(headers, CSRF_COOKIE)
        .filter(|c| c.len() >= 32)
        .map(str::to_owned);
    let csrf = match existing {
        Some(csrf) => csrf,
        None => match state.authority.random_token("") {
            Ok(csrf) => csrf,
            Err(error) => return unavailable(error),
        },
    };
    let action = format!(
        "{SIGN_IN_PATH}?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", return_to)
            .finish()
    );
    let html = pages::sign_in(&pages::SignIn {
        action: &action,
        csrf: &csrf,
        email,
        error,
        client_name,
        signup_open: state.config.signup == Signup::Open,
    });
    web::page(
        status,
        html,
        &[(
            header::SET_COOKIE,
            web::set_cookie(state, CSRF_COOKIE, &csrf, 3600),
        )],
    )
}

async fn consent_page(
    state: &AppState,
    checked: &Checked,
    session: &crate::store::WebSession,
) -> Response {
    let user = match state.store.user_by_id(session.user_id).await {
        Ok(user) => user,
        Err(error) => return unavailable(error),
    };
    let lines: Vec<pages::ScopeLine<'_>> = checked
        .scope
        .iter()
        .map(|s: Scope| pages::ScopeLine {
            name: s.as_str(),
            description: s.description(),
        })
        .collect();
    let host = Url::parse(&checked.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| checked.redirect_uri.clone());
    let action = format!("/oauth/consent?{}", checked.raw);
    web::page(
        StatusCode::OK,
        pages::consent(&pages::Consent {
            action: &action,
            csrf: &session.csrf,
            client_name: &checked.client.name,
            redirect_host: &host,
            scopes: &lines,
            user_email: &user.email,
            client_verified: checked.client.verified,
        }),
        &[],
    )
}

#[derive(Debug, Deserialize)]
struct ReturnTo {
    return_to: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SignInForm {
    email: Option<String>,
    password: Option<String>,
    csrf: Option<String>,
}

/// Only paths on this server's OAuth pages: never an open redirect.
fn safe_return(raw: Option<String>) -> String {
    raw.filter(|p| p.starts_with("/oauth/") && !p.contains("//") && !p.contains('\\'))
        .unwrap_or_else(|| super::account::ACCOUNT_PATH.to_owned())
}

/// The sign-in page reached from a link rather than an app: it returns to
/// `return_to` (the account page unless told otherwise), at once when
/// already signed in.
async fn sign_in_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Query(ReturnTo { return_to }): axum::extract::Query<ReturnTo>,
) -> Response {
    let return_to = safe_return(return_to);
    match web::session(&state, &headers).await {
        Ok(Some(_)) => Redirect::to(&return_to).into_response(),
        Ok(None) => sign_in_page(
            &state,
            &headers,
            &return_to,
            None,
            None,
            None,
            StatusCode::OK,
        ),
        Err(error) => unavailable(error),
    }
}

async fn sign_in(
    State(state): State<AppState>,
    web::ClientAddress(address): web::ClientAddress,
    headers: HeaderMap,
    axum::extract::Query(ReturnTo { return_to }): axum::extract::Query<ReturnTo>,
    Form(form): Form<SignInForm>,
) -> Response {
    let return_to = safe_return(return_to);
    let cookie_csrf = web::cookie(&headers, CSRF_COOKIE).unwrap_or_default();
    if !web::same_secret(form.csrf.as_deref().unwrap_or_default(), cookie_csrf) {
        return web::error_page(
            StatusCode::FORBIDDEN,
            "Please try again",
            "The sign-in form expired or did not come from this site. Go back and sign in again.",
        );
    }
    let email_raw = form.email.unwrap_or_default();
    let again = |error: &str, status| {
        sign_in_page(
            &state,
            &headers,
            &return_to,
            None,
            Some(email_raw.trim()),
            Some(error),
            status,
        )
    };
    let Ok(email) = Email::parse(&email_raw) else {
        return again(
            "Enter your email address, like name@example.com.",
            StatusCode::BAD_REQUEST,
        );
    };
    let presented = form.password.unwrap_or_default();
    if let Err(wait) = state.authority.throttle.check(email.as_str(), address) {
        let minutes = wait.0.as_secs().div_ceil(60).max(1);
        let mut response = again(
            &format!(
                "Too many attempts. Try again in {minutes} minute{}.",
                if minutes == 1 { "" } else { "s" }
            ),
            StatusCode::TOO_MANY_REQUESTS,
        );
        if let Ok(value) = HeaderValue::from_str(&wait.0.as_secs().max(1).to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    let found = match state.store.find_sign_in(&email).await {
        Ok(found) => found,
        Err(error) => return unavailable(error),
    };
    let user = match found {
        Some((user, Some(stored))) => {
            let checking = presented.clone();
            let ok = tokio::task::spawn_blocking(move || password::verify(&checking, &stored))
                .await
                .unwrap_or(false);
            ok.then_some(user)
        }
        Some((_, None)) => {
            let checking = presented.clone();
            let _ = tokio::task::spawn_blocking(move || password::verify_against_dummy(&checking))
                .await;
            None
        }
        None if state.config.signup == Signup::Open => {
            match sign_up(&state, &email, presented.clone()).await {
                Ok(user) => Some(user),
                Err(message) => return again(&message, StatusCode::BAD_REQUEST),
            }
        }
        None => {
            let checking = presented.clone();
            let _ = tokio::task::spawn_blocking(move || password::verify_against_dummy(&checking))
                .await;
            None
        }
    };
    let Some(user) = user else {
        state
            .authority
            .throttle
            .record_failure(email.as_str(), address);
        return again(
            "That email and password do not match an account.",
            StatusCode::UNAUTHORIZED,
        );
    };
    state.authority.throttle.record_success(email.as_str());
    match web::start_session(&state, user.id).await {
        Ok(cookie) => {
            let mut response = Redirect::to(&return_to).into_response();
            response.headers_mut().append(header::SET_COOKIE, cookie);
            response
        }
        Err(error) => unavailable(error),
    }
}

/// Open sign-up: an unknown email with an acceptable password becomes an
/// account. The message is for the form.
async fn sign_up(
    state: &AppState,
    email: &Email,
    presented: String,
) -> Result<crate::store::UserRecord, String> {
    let chosen = password::Password::parse(presented).map_err(|e| e.to_string())?;
    let hash = tokio::task::spawn_blocking(move || {
        password::hash(&chosen, &ring::rand::SystemRandom::new())
    })
    .await
    .map_err(|_| "Try again shortly.".to_owned())?
    .map_err(|e| e.to_string())?;
    let user = state.store.create_user(email).await.map_err(|e| {
        tracing::warn!(error = %chain(&e), "sign-up failed");
        "That account could not be created.".to_owned()
    })?;
    state
        .store
        .set_password_hash(user.id, hash)
        .await
        .map_err(|_| "That account could not be created.".to_owned())?;
    tracing::info!(user = %user.id, "account created by sign-up");
    Ok(user)
}

#[derive(Debug, Deserialize)]
struct ConsentForm {
    csrf: Option<String>,
    decision: Option<String>,
}

async fn consent(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    Form(form): Form<ConsentForm>,
) -> Response {
    let checked = match check(&state, raw).await {
        Ok(checked) => checked,
        Err(stop) => return stop.into_response(),
    };
    let session = match web::session(&state, &headers).await {
        Ok(Some(session)) => session,
        Ok(None) => {
            return Redirect::to(&format!("/oauth/authorize?{}", checked.raw)).into_response();
        }
        Err(error) => return unavailable(error),
    };
    if !web::same_secret(form.csrf.as_deref().unwrap_or_default(), &session.csrf) {
        return web::error_page(
            StatusCode::FORBIDDEN,
            "Please try again",
            "The consent form expired or did not come from this site. Go back to the app and connect again.",
        );
    }
    if form.decision.as_deref() != Some("allow") {
        return redirect_back(
            &state,
            &checked.redirect_uri,
            &[
                ("error", "access_denied"),
                ("error_description", "the user declined"),
            ],
            checked.state.as_deref(),
        );
    }
    let code = match state.authority.random_token("mcpc_") {
        Ok(code) => code,
        Err(error) => return unavailable(error),
    };
    let scope = checked.scope.to_string();
    let consented = state
        .store
        .consent_with_code(
            session.user_id,
            &checked.client.id,
            &checked.client.name,
            NewCode {
                digest: &TokenDigest::of(&code),
                grant: GrantId::generate(),
                redirect_uri: &checked.redirect_uri,
                code_challenge: &checked.code_challenge,
                scope: &scope,
                expires_at: state.store.now() + CODE_TTL,
            },
        )
        .await;
    let grant = match consented {
        Ok(grant) => grant,
        Err(error) => return unavailable(error),
    };
    tracing::info!(user = %session.user_id, client = %checked.client.id, %grant, scope, "connection consented");
    redirect_back(
        &state,
        &checked.redirect_uri,
        &[("code", &code)],
        checked.state.as_deref(),
    )
}
