//! Bearer-token authentication as an extractor: a handler or middleware that
//! takes a [`Principal`] runs only for authenticated requests.

pub mod scope;
pub mod token;

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{HeaderValue, StatusCode, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::json;

pub use crate::store::Principal;
use crate::{app::AppState, error::chain, store::TokenRejection};

/// Why a request was refused before reaching a tool.
#[derive(Debug)]
pub enum AuthError {
    /// No `Authorization: Bearer` header at all.
    Missing,
    Rejected(TokenRejection),
    /// The token could not be checked (database down): 503, not 401, so
    /// clients retry instead of discarding a good token.
    Unavailable,
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let (status, challenge, body) = match self {
            Self::Missing => (
                StatusCode::UNAUTHORIZED,
                r#"Bearer realm="monitors-mcp""#.to_owned(),
                json!({"error": "unauthorized", "error_description": "an Authorization: Bearer token is required"}),
            ),
            Self::Rejected(reason) => (
                StatusCode::UNAUTHORIZED,
                format!(
                    r#"Bearer realm="monitors-mcp", error="invalid_token", error_description="{reason}""#
                ),
                json!({"error": "invalid_token", "error_description": reason.to_string()}),
            ),
            Self::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                String::new(),
                json!({"error": "temporarily_unavailable", "error_description": "try again shortly"}),
            ),
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Ok(value) = HeaderValue::from_str(&challenge)
            && !challenge.is_empty()
        {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// The token of an `Authorization: Bearer` header, or of `Token`, the
/// scheme InfluxDB 2 clients (Telegraf, the client libraries) send.
fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
        .then(|| token.trim())
}

/// Checks a token presented some other way than the header (the password of
/// an InfluxDB 1.x client), with the extractor's answers.
pub async fn authenticate(state: &AppState, presented: &str) -> Result<Principal, AuthError> {
    match state.store.authenticate(presented).await {
        Ok(Ok(principal)) => Ok(principal),
        Ok(Err(rejection)) => Err(AuthError::Rejected(rejection)),
        Err(error) => {
            tracing::error!(error = %chain(&error), "token check failed");
            Err(AuthError::Unavailable)
        }
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = AuthError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let presented = bearer(parts).ok_or(AuthError::Missing)?;
        authenticate(state, presented).await
    }
}

/// Middleware for services that are not axum handlers (the MCP service):
/// authenticates, then hands the principal on in the request extensions.
pub async fn require_principal(
    State(_): State<AppState>,
    principal: Principal,
    mut request: Request,
    next: Next,
) -> Response {
    tracing::Span::current().record("user_id", tracing::field::display(principal.user_id));
    request.extensions_mut().insert(principal);
    next.run(request).await
}
