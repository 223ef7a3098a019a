//! The one-command first start: on an empty database, create the admin user
//! and one token, and hand the token back for the operator to copy.

use ring::rand::SystemRandom;
use shared_models::secret::Secret;

use crate::{
    auth::scope::Scopes,
    error::{Error, Result},
    store::{Email, Store},
};

pub const ADMIN_EMAIL: &str = "admin@localhost";

pub struct FirstStart {
    pub email: String,
    pub token: Secret<String>,
}

pub async fn first_start(store: &Store) -> Result<Option<FirstStart>> {
    if store.count_users().await? > 0 {
        return Ok(None);
    }
    let email = Email::parse(ADMIN_EMAIL)?;
    let user = match store.create_user(&email).await {
        Ok(user) => user,
        // Another replica won the race to create it.
        Err(Error::Conflict(_) | Error::Database(_))
            if store.find_user(&email).await?.is_some() =>
        {
            return Ok(None);
        }
        Err(error) => return Err(error),
    };
    let (_, token) = store
        .create_token(
            user.id,
            "first start",
            Scopes::all(),
            None,
            &SystemRandom::new(),
        )
        .await?;
    Ok(Some(FirstStart {
        email: user.email,
        token,
    }))
}

/// What the operator needs to connect Claude Code, printed once.
pub fn banner(first: &FirstStart, mcp_url: &str) -> String {
    let token = first.token.expose();
    format!(
        "\nmonitors-mcp: created user {email} with an API token (shown only this once):\n\n    {token}\n\n\
Connect Claude Code with:\n\n    claude mcp add --transport http monitors {mcp_url} --header \"Authorization: Bearer {token}\"\n",
        email = first.email,
    )
}
