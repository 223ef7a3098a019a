//! Refuses a request whose declared `Content-Length` is over the limit
//! before any of its body is read. Bodies without a declared length are
//! limited while they stream, by rmcp on `/mcp` and by tower-http elsewhere.

use axum::{
    extract::{Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::json;

pub async fn refuse_declared_oversize(
    State(limit): State<usize>,
    request: Request,
    next: Next,
) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        let body = json!({"error": "payload_too_large", "error_description": format!("request bodies are limited to {limit} bytes")});
        return (StatusCode::PAYLOAD_TOO_LARGE, axum::Json(body)).into_response();
    }
    next.run(request).await
}
