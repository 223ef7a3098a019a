//! The home page at `/`: what this server is, the MCP URL to paste into a
//! client, and the way to sign in and to the account page.

use axum::{Router, extract::State, http::StatusCode, response::Response, routing::get};

use super::{account::ACCOUNT_PATH, authorize::SIGN_IN_PATH, pages, web};
use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(home))
}

async fn home(State(state): State<AppState>) -> Response {
    web::page(
        StatusCode::OK,
        pages::home(&pages::Home {
            mcp_url: &state.authority.resource,
            sign_in: SIGN_IN_PATH,
            account: ACCOUNT_PATH,
        }),
        &[],
    )
}
