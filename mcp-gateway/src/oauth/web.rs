//! What the browser pages share: the session cookie, CSRF tokens, the
//! pages' security headers, and the client's address for throttling.

use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{Html, IntoResponse, Response},
};
use shared_models::time::duration_millis;
use subtle::ConstantTimeEq;

use super::pages;
use crate::{app::AppState, auth::token::TokenDigest, error::Result, store::WebSession};

pub const SESSION_COOKIE: &str = "mcp_session";
/// Before sign-in there is no session to hold a CSRF token: the sign-in
/// form's is double-submitted, in this cookie and in the form.
pub const CSRF_COOKIE: &str = "mcp_csrf";
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// The value of cookie `name`, if the request carries it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax (the consent page is
/// reached by a top-level navigation from the client), Secure unless the
/// public URL is plain http, scoped to the OAuth pages.
pub fn set_cookie(state: &AppState, name: &str, value: &str, max_age_secs: i64) -> HeaderValue {
    let secure = if state.config.is_https() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/oauth; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The signed-in user's session, if the cookie names a live one.
pub async fn session(state: &AppState, headers: &HeaderMap) -> Result<Option<WebSession>> {
    match cookie(headers, SESSION_COOKIE) {
        Some(token) if !token.is_empty() => state.store.web_session(&TokenDigest::of(token)).await,
        _ => Ok(None),
    }
}

/// Starts a session for `user`; returns the cookie to set.
pub async fn start_session(
    state: &AppState,
    user: shared_models::ids::UserId,
) -> Result<HeaderValue> {
    let token = state.authority.random_token("")?;
    let csrf = state.authority.random_token("")?;
    let expires_at = state.store.now() + SESSION_TTL;
    state
        .store
        .create_web_session(&TokenDigest::of(&token), user, &csrf, expires_at)
        .await?;
    Ok(set_cookie(
        state,
        SESSION_COOKIE,
        &token,
        duration_millis(SESSION_TTL) / 1000,
    ))
}

fn same_secret(a: &str, b: &str) -> bool {
    !a.is_empty() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The refusal of a form whose CSRF token is not `expected`: a 403 page that
/// asks to try again, saying `message`; `None` when the token matches.
pub fn csrf_refusal(presented: Option<&str>, expected: &str, message: &str) -> Option<Response> {
    (!same_secret(presented.unwrap_or_default(), expected))
        .then(|| error_page(StatusCode::FORBIDDEN, "Please try again", message))
}

/// The peer's address. Behind an ingress that is the ingress's: the
/// per-address throttle then counts the ingress as one address, and the
/// per-account one still holds.
pub struct ClientAddress(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(IpAddr::from([0, 0, 0, 0]), |ConnectInfo(addr)| addr.ip()),
        ))
    }
}

/// A page, with headers that keep it out of frames and caches and let it
/// load nothing but our stylesheet. No `form-action`: browsers apply it to
/// the redirect after the consent form, which goes to the client.
pub fn page(
    status: StatusCode,
    html: String,
    extra: &[(header::HeaderName, HeaderValue)],
) -> Response {
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for (name, value) in extra {
        headers.append(name.clone(), value.clone());
    }
    response
}

pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    page(
        status,
        pages::error(&pages::ErrorPage { title, message }),
        &[],
    )
}

/// The page for a request the server could not complete (503); the caller
/// logs why.
pub fn unavailable_page() -> Response {
    error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again shortly",
        "The server could not complete the request.",
    )
}

/// The stylesheet the pages link to.
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        pages::STYLESHEET,
    )
        .into_response()
}
