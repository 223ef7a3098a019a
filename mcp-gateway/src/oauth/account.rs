//! The account page: the clients connected to a user's account, each
//! revocable.

use axum::{
    Form, Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;
use shared_models::ids::GrantId;

use super::{authorize::sign_in_page, pages, web};
use crate::{app::AppState, error::chain};

pub const ACCOUNT_PATH: &str = "/oauth/account";
const REVOKE_PATH: &str = "/oauth/account/revoke";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(ACCOUNT_PATH, get(account))
        .route(REVOKE_PATH, post(revoke))
}

fn failed(error: crate::error::Error) -> Response {
    tracing::error!(error = %chain(&error), "account page failed");
    web::unavailable_page()
}

async fn account(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = match web::session(&state, &headers).await {
        Ok(Some(session)) => session,
        Ok(None) => {
            return sign_in_page(
                &state,
                &headers,
                ACCOUNT_PATH,
                None,
                None,
                None,
                StatusCode::OK,
            );
        }
        Err(error) => return failed(error),
    };
    let (user, grants) = match tokio::try_join!(
        state.store.user_by_id(session.user_id),
        state.store.list_grants(session.user_id)
    ) {
        Ok(found) => found,
        Err(error) => return failed(error),
    };
    let shown: Vec<(String, String, String)> = grants
        .iter()
        .map(|g| {
            (
                g.id.to_string(),
                readable(&g.created_at),
                readable(&g.last_used_at),
            )
        })
        .collect();
    let lines: Vec<pages::ConnectionLine<'_>> = grants
        .iter()
        .zip(&shown)
        .map(|(grant, (id, connected, used))| pages::ConnectionLine {
            id,
            client_name: &grant.client_name,
            scopes: &grant.scope,
            connected_at: connected,
            last_used: Some(used),
        })
        .collect();
    web::page(
        StatusCode::OK,
        pages::account(&pages::Account {
            csrf: &session.csrf,
            email: &user.email,
            connections: &lines,
            revoke_action: REVOKE_PATH,
        }),
        &[],
    )
}

/// An RFC 3339 instant as a person reads it: to the minute, in UTC.
fn readable(instant: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(instant)
        .map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| instant.to_owned())
}

#[derive(Debug, Deserialize)]
struct RevokeForm {
    csrf: Option<String>,
    connection_id: Option<String>,
}

async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<RevokeForm>,
) -> Response {
    let session = match web::session(&state, &headers).await {
        Ok(Some(session)) => session,
        Ok(None) => return Redirect::to(ACCOUNT_PATH).into_response(),
        Err(error) => return failed(error),
    };
    if let Some(refused) = web::csrf_refusal(
        form.csrf.as_deref(),
        &session.csrf,
        "The form expired. Reload the account page.",
    ) {
        return refused;
    }
    let id = form.connection_id.unwrap_or_default();
    let revoked = match GrantId::parse_field(&id, "id") {
        Ok(id) => state.store.revoke_grant(session.user_id, id).await,
        Err(error) => Err(error.into()),
    };
    match revoked {
        Ok(grant) => state.authority.revoked(&grant.id.to_string()).await,
        Err(error) if error.is_client_error() => {}
        Err(error) => return failed(error),
    }
    Redirect::to(ACCOUNT_PATH).into_response()
}
