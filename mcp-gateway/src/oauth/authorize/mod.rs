//! The authorization endpoint and the pages behind it: sign-in, then
//! consent, then the redirect back to the client with a single-use code.
//! The authorization request rides along in the forms' action URLs and is
//! checked again in full at every step.

use axum::{
    Form, Router,
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;
use shared_models::ids::GrantId;
use url::Url;

use super::{
    clients::{RedirectUri, metadata_document::is_metadata_client_id},
    pages, web,
};
use crate::{
    app::AppState,
    auth::{
        scope::{Scope, Scopes},
        token::TokenDigest,
    },
    error::{Error, chain},
    store::NewCode,
};

mod sign_in;

pub use sign_in::sign_in_page;

/// How long a code may wait for its exchange (OAuth 2.1 advises short).
const CODE_TTL: std::time::Duration = std::time::Duration::from_secs(60);
/// The sign-in page on its own, and where every sign-in form posts.
pub const SIGN_IN_PATH: &str = "/oauth/sign-in";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/oauth/authorize", get(authorize))
        .route(
            SIGN_IN_PATH,
            get(sign_in::sign_in_form).post(sign_in::sign_in),
        )
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
            return Err(Stop::Page(web::unavailable_page()));
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
    web::unavailable_page()
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
    if let Some(refused) = web::csrf_refusal(
        form.csrf.as_deref(),
        &session.csrf,
        "The consent form expired or did not come from this site. Go back to the app and connect again.",
    ) {
        return refused;
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
