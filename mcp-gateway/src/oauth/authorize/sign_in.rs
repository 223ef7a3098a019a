//! Signing in, from an app's authorization request or from a link, and
//! open sign-up of an unknown email.

use axum::{
    Form,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use super::{SIGN_IN_PATH, unavailable};
use crate::{
    app::AppState,
    config::Signup,
    error::chain,
    oauth::{
        pages, password,
        web::{self, CSRF_COOKIE},
    },
    store::Email,
};

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

#[derive(Debug, Deserialize)]
pub(super) struct ReturnTo {
    return_to: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct SignInForm {
    email: Option<String>,
    password: Option<String>,
    csrf: Option<String>,
}

/// Only paths on this server's OAuth pages: never an open redirect.
fn safe_return(raw: Option<String>) -> String {
    raw.filter(|p| p.starts_with("/oauth/") && !p.contains("//") && !p.contains('\\'))
        .unwrap_or_else(|| crate::oauth::account::ACCOUNT_PATH.to_owned())
}

/// The sign-in page reached from a link rather than an app: it returns to
/// `return_to` (the account page unless told otherwise), at once when
/// already signed in.
pub(super) async fn sign_in_form(
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

pub(super) async fn sign_in(
    State(state): State<AppState>,
    web::ClientAddress(address): web::ClientAddress,
    headers: HeaderMap,
    axum::extract::Query(ReturnTo { return_to }): axum::extract::Query<ReturnTo>,
    Form(form): Form<SignInForm>,
) -> Response {
    let return_to = safe_return(return_to);
    let cookie_csrf = web::cookie(&headers, CSRF_COOKIE).unwrap_or_default();
    if let Some(refused) = web::csrf_refusal(
        form.csrf.as_deref(),
        cookie_csrf,
        "The sign-in form expired or did not come from this site. Go back and sign in again.",
    ) {
        return refused;
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
