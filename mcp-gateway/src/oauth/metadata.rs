//! Discovery: the protected resource's metadata (RFC 9728), the
//! authorization server's (RFC 8414, also at the OpenID path clients try),
//! and the public signing keys (JWKS).

use axum::{
    Json, Router,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::{Value, json};

use crate::{app::AppState, auth::scope::Scope};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/.well-known/oauth-protected-resource",
            get(protected_resource),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(protected_resource),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(authorization_server),
        )
        .route(
            "/.well-known/openid-configuration",
            get(authorization_server),
        )
        .route("/oauth/jwks", get(jwks))
}

fn scopes() -> Vec<&'static str> {
    Scope::ALL.iter().map(|s| s.as_str()).collect()
}

/// Cacheable for a while: it changes only with the configuration.
fn cached(body: Value) -> Response {
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(body)).into_response()
}

async fn protected_resource(State(state): State<AppState>) -> Response {
    let authority = &state.authority;
    cached(json!({
        "resource": authority.resource,
        "authorization_servers": [authority.issuer],
        "scopes_supported": scopes(),
        "bearer_methods_supported": ["header"],
        "resource_name": "monitors-mcp",
    }))
}

async fn authorization_server(State(state): State<AppState>) -> Response {
    let issuer = &state.authority.issuer;
    cached(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth/authorize"),
        "token_endpoint": format!("{issuer}/oauth/token"),
        "registration_endpoint": format!("{issuer}/oauth/register"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "jwks_uri": format!("{issuer}/oauth/jwks"),
        "scopes_supported": scopes(),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
        "client_id_metadata_document_supported": true,
        "authorization_response_iss_parameter_supported": true,
    }))
}

async fn jwks(State(state): State<AppState>) -> Response {
    (
        // Short: a rotation should be seen soon by whoever checks our tokens.
        [(header::CACHE_CONTROL, "public, max-age=60")],
        Json(state.authority.keys().jwks().clone()),
    )
        .into_response()
}
