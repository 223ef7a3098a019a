//! Dynamic Client Registration (RFC 7591): any MCP client may register
//! itself, within a per-address rate, with redirect URIs that are https or
//! loopback. It gets a public client id and no secret.

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::Value;

use super::{
    clients::{parse_registration, registration_response},
    refusal::Refusal,
    web::ClientAddress,
};
use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/oauth/register", post(register))
}

async fn register(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let limits = &state.authority.registrations;
    // Keyed by the address on both sides, so every count stays bounded by
    // the per-address limit.
    let key = address.to_string();
    if let Err(wait) = limits.check(&key, address) {
        let mut response =
            Refusal::too_many("too many registrations from this address; try again later")
                .into_response();
        if let Ok(value) = HeaderValue::from_str(&wait.0.as_secs().max(1).to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    let Ok(Json(body)) = body else {
        return Refusal::bad_request("invalid_client_metadata", "the body must be a JSON object")
            .into_response();
    };
    let registration = match parse_registration(body) {
        Ok(registration) => registration,
        Err(error) => return (StatusCode::BAD_REQUEST, Json(error.to_json())).into_response(),
    };
    limits.record_failure(&key, address);
    let uris: Vec<String> = registration
        .redirect_uris
        .iter()
        .map(|u| u.as_str().to_owned())
        .collect();
    match state
        .store
        .create_client(&registration.client_name, &uris, "dynamic", None)
        .await
    {
        Ok(client) => {
            tracing::info!(client = %client.id, name = %client.name, "client registered");
            (
                StatusCode::CREATED,
                [(header::CACHE_CONTROL, "no-store")],
                Json(registration_response(
                    &client.id,
                    client.created_at.as_millis() / 1000,
                    &registration,
                )),
            )
                .into_response()
        }
        Err(error) => Refusal::from(error).into_response(),
    }
}
