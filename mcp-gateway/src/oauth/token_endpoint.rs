//! The token endpoint (authorization code with PKCE, refresh with
//! rotation) and the revocation endpoint (RFC 7009).

use axum::{
    Form, Json, Router,
    extract::State,
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
    routing::post,
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use ring::digest::{SHA256, digest};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::{access_token, refusal::Refusal};
use crate::{
    app::AppState,
    auth::{scope::Scopes, token::TokenDigest},
    store::{GrantRecord, GrantRejection},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/oauth/token", post(token))
        .route("/oauth/revoke", post(revoke))
}

#[derive(Debug, Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
    resource: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    let answer = match form.grant_type.as_deref() {
        Some("authorization_code") => exchange_code(&state, &headers, &form).await,
        Some("refresh_token") => refresh(&state, &headers, &form).await,
        Some(other) => Err(Refusal::bad_request(
            "unsupported_grant_type",
            format!(
                "grant_type {other:?} is not supported; use authorization_code or refresh_token"
            ),
        )),
        None => Err(Refusal::invalid_request("grant_type is required")),
    };
    match answer {
        Ok(tokens) => (
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::PRAGMA, "no-cache"),
            ],
            Json(tokens),
        )
            .into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, Refusal> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Refusal::invalid_request(format!("{name} is required")))
}

/// The `resource` a client names must be this server's MCP endpoint (RFC
/// 8707); a token for anything else is not ours to issue.
fn check_resource(state: &AppState, resource: &Option<String>) -> Result<(), Refusal> {
    match resource.as_deref() {
        None => Ok(()),
        Some(r) if r.trim_end_matches('/') == state.authority.resource => Ok(()),
        Some(r) => Err(Refusal::bad_request(
            "invalid_target",
            format!(
                "resource {r:?} is not served here; the resource is {}",
                state.authority.resource
            ),
        )),
    }
}

/// Who is asking: a public client by its id, or a confidential one by id
/// and secret (in the form or HTTP Basic).
/// `client_id` and `client_secret` are the form's; HTTP Basic takes
/// precedence when present.
async fn client(
    state: &AppState,
    headers: &HeaderMap,
    client_id: &Option<String>,
    client_secret: &Option<String>,
) -> Result<String, Refusal> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .and_then(|b64| STANDARD.decode(b64.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            Some((decode_form_component(id), decode_form_component(secret)))
        });
    let (client_id, secret) = match basic {
        Some((id, secret)) => (id, Some(secret)),
        None => (
            required(client_id, "client_id")?.to_owned(),
            client_secret.clone(),
        ),
    };
    if let Some(record) = state
        .store
        .find_client(&client_id)
        .await
        .map_err(Refusal::from)?
    {
        match (&record.secret_hash, secret) {
            (None, None) => {}
            (Some(stored), Some(presented)) if TokenDigest::of(&presented).matches(stored) => {}
            (None, Some(_)) => {
                return Err(Refusal::invalid_client(
                    "this client has no secret; send only client_id",
                ));
            }
            _ => return Err(Refusal::invalid_client("client authentication failed")),
        }
    } else if secret.is_some() {
        return Err(Refusal::invalid_client("client authentication failed"));
    }
    Ok(client_id)
}

/// RFC 6749 §2.3.1: Basic credentials are form-encoded before base64.
fn decode_form_component(raw: &str) -> String {
    url::form_urlencoded::parse(format!("x={raw}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

async fn exchange_code(
    state: &AppState,
    headers: &HeaderMap,
    form: &TokenForm,
) -> Result<super::authority::Tokens, Refusal> {
    let client_id = client(state, headers, &form.client_id, &form.client_secret).await?;
    let code = required(&form.code, "code")?;
    let redirect_uri = required(&form.redirect_uri, "redirect_uri")?;
    let verifier = required(&form.code_verifier, "code_verifier")?;
    check_resource(state, &form.resource)?;
    let redeemed = match state
        .store
        .redeem_code(&TokenDigest::of(code))
        .await
        .map_err(Refusal::from)?
    {
        Ok(redeemed) => redeemed,
        Err(why) => return Err(refused(state, "the authorization code", why).await),
    };
    if redeemed.grant.client_id != client_id {
        return Err(Refusal::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if redeemed.redirect_uri != redirect_uri {
        return Err(Refusal::invalid_grant(
            "redirect_uri differs from the one in the authorization request",
        ));
    }
    if !pkce_matches(verifier, &redeemed.code_challenge) {
        return Err(Refusal::invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    let scope = Scopes::parse(&redeemed.scope, "scope")
        .map_err(|e| Refusal::from(crate::error::Error::from(e)))?;
    Ok(state.authority.issue(&redeemed.grant, scope).await?)
}

/// The answer to a code or refresh token that gives nothing. A replay has
/// revoked its connection in the database; the access tokens already
/// issued under it stop here at once, not at the next re-read of
/// revocations, and on the other replicas as soon as they hear of it.
async fn refused(state: &AppState, what: &str, why: GrantRejection) -> Refusal {
    if let GrantRejection::Replayed(grant) = why {
        tracing::warn!(%grant, "{what} was presented twice: the connection is revoked");
        state.authority.revoked(&grant.to_string()).await;
    }
    Refusal::invalid_grant(format!("{what} is {why}"))
}

/// PKCE S256 (RFC 7636 §4.6), compared in constant time.
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let computed = URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()));
    well_formed && bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

async fn refresh(
    state: &AppState,
    headers: &HeaderMap,
    form: &TokenForm,
) -> Result<super::authority::Tokens, Refusal> {
    let client_id = client(state, headers, &form.client_id, &form.client_secret).await?;
    let presented = required(&form.refresh_token, "refresh_token")?;
    check_resource(state, &form.resource)?;
    let grant: GrantRecord = match state
        .store
        .use_refresh_token(&TokenDigest::of(presented))
        .await
        .map_err(Refusal::from)?
    {
        Ok(grant) => grant,
        Err(why) => return Err(refused(state, "the refresh token", why).await),
    };
    if grant.client_id != client_id {
        return Err(Refusal::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    let granted = Scopes::parse(&grant.scope, "scope")
        .map_err(|e| Refusal::from(crate::error::Error::from(e)))?;
    let scope = match form.scope.as_deref() {
        None | Some("") => granted,
        Some(asked) => {
            let asked = Scopes::parse(asked, "scope")
                .map_err(|e| Refusal::bad_request("invalid_scope", e.to_string()))?;
            if !granted.covers(asked) {
                return Err(Refusal::bad_request(
                    "invalid_scope",
                    "a refresh cannot widen the scopes the user consented to",
                ));
            }
            asked
        }
    };
    Ok(state.authority.issue(&grant, scope).await?)
}

#[derive(Debug, Deserialize)]
struct RevokeForm {
    token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// RFC 7009: revoking a refresh or access token revokes the connection it
/// belongs to, and with it every token issued under it. An unknown or
/// foreign token is answered 200 all the same (§2.2).
async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<RevokeForm>,
) -> Response {
    let answer = async {
        let client_id = client(&state, &headers, &form.client_id, &form.client_secret).await?;
        let token = required(&form.token, "token")?;
        let grant = if access_token::looks_like_jwt(token) {
            let now_secs = state.store.now().as_millis() / 1000;
            // An expired token may still be revoked: check it as of its issue.
            access_token::verify(
                &state.authority.keys(),
                token,
                &state.authority.issuer,
                &state.authority.resource,
                0,
            )
            .ok()
            .filter(|claims| claims.client_id == client_id && claims.iat <= now_secs)
            .map(|claims| claims.sid)
        } else {
            match state
                .store
                .grant_of_refresh_token(&TokenDigest::of(token))
                .await?
            {
                Some((grant, owner)) if owner == client_id => Some(grant),
                _ => None,
            }
        };
        if let Some(grant) = grant {
            state.authority.revoke(&grant).await?;
        }
        Ok::<_, Refusal>(())
    }
    .await;
    match answer {
        Ok(()) => ([(header::CACHE_CONTROL, "no-store")], "").into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXX",
            challenge
        ));
        assert!(!pkce_matches("short", challenge));
    }
}
