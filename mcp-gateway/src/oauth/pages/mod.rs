//! The server-rendered pages: the home page, and those of the OAuth
//! sign-in: sign in, consent, the account's connected apps, and errors. Pure functions from input structs
//! to HTML; the handlers own routing, CSRF tokens and headers.
//!
//! Every value interpolated into the markup goes through [`escape`], in text
//! and in (always double-quoted) attributes alike. The pages use no
//! JavaScript and load nothing but [`STYLESHEET`] from [`STYLESHEET_PATH`], so
//! they work under `Content-Security-Policy: default-src 'none';
//! style-src 'self'; img-src 'self'; frame-ancestors 'none'` (plus a
//! `form-action` that allows where the consent form's response redirects).

use std::fmt::Write;

/// The stylesheet every page links to; serve it as `text/css` at
/// [`STYLESHEET_PATH`].
pub const STYLESHEET: &str = include_str!("style.css");
pub const STYLESHEET_PATH: &str = "/oauth/assets/style.css";

const PRODUCT: &str = "monitors-mcp";

/// The product mark: a pulse line on a rounded square. Decorative.
const LOGO: &str = r#"<svg viewBox="0 0 32 32" aria-hidden="true" focusable="false"><rect x="1" y="1" width="30" height="30" rx="8" fill="currentColor"/><path d="M6 17h5l3-7 4 13 3-6h5" fill="none" stroke-width="2.5" stroke-linecap="round" stroke-linejoin="round"/></svg>"#;

pub struct SignIn<'a> {
    /// Where the form posts: path and query.
    pub action: &'a str,
    pub csrf: &'a str,
    /// Prefilled, after a failed attempt or from a login hint.
    pub email: Option<&'a str>,
    pub error: Option<&'a str>,
    /// The client that sent the user here, for "Sign in to connect <client>".
    pub client_name: Option<&'a str>,
    /// Whether signing in with an email that has no account creates one.
    pub signup_open: bool,
}

pub struct Consent<'a> {
    pub action: &'a str,
    pub csrf: &'a str,
    pub client_name: &'a str,
    /// The host of the redirect URI the decision is sent to.
    pub redirect_host: &'a str,
    pub scopes: &'a [ScopeLine<'a>],
    pub user_email: &'a str,
    /// Pre-registered, or its metadata document was fetched over https. An
    /// unverified client's name is whatever it claims, and the page says so.
    pub client_verified: bool,
}

pub struct ScopeLine<'a> {
    pub name: &'a str,
    pub description: &'a str,
}

pub struct Account<'a> {
    pub csrf: &'a str,
    pub email: &'a str,
    pub connections: &'a [ConnectionLine<'a>],
    /// Where each row's revoke form posts, with `connection_id` and `csrf`.
    pub revoke_action: &'a str,
}

pub struct ConnectionLine<'a> {
    pub id: &'a str,
    pub client_name: &'a str,
    /// Space-separated, as granted.
    pub scopes: &'a str,
    pub connected_at: &'a str,
    pub last_used: Option<&'a str>,
}

pub struct Home<'a> {
    /// The MCP endpoint's URL, the one to paste into a client.
    pub mcp_url: &'a str,
    pub sign_in: &'a str,
    pub account: &'a str,
}

pub struct ErrorPage<'a> {
    pub title: &'a str,
    pub message: &'a str,
}

pub fn sign_in(page: &SignIn<'_>) -> String {
    let mut body = String::new();
    match page.client_name {
        Some(client) => {
            let _ = write!(
                body,
                r#"<h1>Sign in to connect <span class="client">{}</span></h1>
<p class="lead">Use your {PRODUCT} account. You will be asked before anything is shared.</p>
"#,
                escape(client)
            );
        }
        None => {
            let _ = write!(
                body,
                r#"<h1>Sign in</h1>
<p class="lead">Use your {PRODUCT} account.</p>
"#
            );
        }
    }
    push_alert(&mut body, page.error);
    // The cursor starts where there is something left to type.
    let (email_focus, password_focus) = match page.email {
        Some(email) if !email.is_empty() => ("", " autofocus"),
        _ => (" autofocus", ""),
    };
    let _ = write!(
        body,
        r#"<form method="post" action="{action}">
{csrf}
<div class="field">
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="username" autocapitalize="none" spellcheck="false" required maxlength="254" value="{email}"{email_focus}>
</div>
<div class="field">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024"{password_focus}>
</div>
<button type="submit" class="primary block">Sign in</button>
</form>
"#,
        action = escape(page.action),
        csrf = hidden("csrf", page.csrf),
        email = escape(page.email.unwrap_or_default()),
    );
    let note = if page.signup_open {
        "New here? Enter your email and choose a password of at least 10 characters to create an account."
    } else {
        "Accounts are created by your administrator."
    };
    let _ = write!(body, r#"<p class="note muted small">{}</p>"#, escape(note));
    layout("Sign in", false, &body)
}

pub fn consent(page: &Consent<'_>) -> String {
    let client = escape(page.client_name);
    let mut body = format!(
        r#"<h1>Allow <span class="client">{client}</span> to use your {PRODUCT} account?</h1>
"#
    );
    if !page.client_verified {
        let _ = writeln!(
            body,
            r#"<p class="warning"><strong>Unverified app.</strong> The name “{client}” is what the app calls itself; {PRODUCT} could not confirm who publishes it. Allow it only if you started this connection yourself.</p>"#
        );
    }
    if page.scopes.is_empty() {
        body.push_str("<p>It asks for no specific permissions.</p>\n");
    } else {
        body.push_str("<p>It will be able to:</p>\n<ul class=\"scopes\">\n");
        for scope in page.scopes {
            let _ = writeln!(
                body,
                r#"<li><code>{}</code><span class="description">{}</span></li>"#,
                escape(scope.name),
                escape(scope.description)
            );
        }
        body.push_str("</ul>\n");
    }
    // Deny comes first in the markup, so that pressing Enter declines.
    let _ = write!(
        body,
        r#"<p class="redirect">Either choice will redirect to <strong>{host}</strong>.</p>
<form method="post" action="{action}">
{csrf}
<div class="actions">
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
<button type="submit" name="decision" value="allow" class="primary">Allow</button>
</div>
</form>
<p class="identity">Signed in as <strong>{email}</strong></p>
"#,
        host = escape(page.redirect_host),
        action = escape(page.action),
        csrf = hidden("csrf", page.csrf),
        email = escape(page.user_email),
    );
    layout("Allow access", false, &body)
}

pub fn account(page: &Account<'_>) -> String {
    let mut body = format!(
        r#"<h1>Your account</h1>
<p class="lead">Signed in as <strong>{}</strong></p>
<h2 id="connections">Connected apps</h2>
"#,
        escape(page.email)
    );
    if page.connections.is_empty() {
        body.push_str(
            r#"<p class="empty">No apps are connected. When you allow an MCP client to use your account, it appears here.</p>
"#,
        );
    } else {
        body.push_str(
            r#"<p class="muted small">Revoking access signs the app out at once; it has to ask you again to reconnect.</p>
<table aria-labelledby="connections">
<thead><tr><th scope="col">App</th><th scope="col">Access</th><th scope="col">Connected</th><th scope="col">Last used</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
<tbody>
"#,
        );
        for connection in page.connections {
            let client = escape(connection.client_name);
            let scopes = connection
                .scopes
                .split_whitespace()
                .map(|scope| format!("<code>{}</code>", escape(scope)))
                .collect::<Vec<_>>()
                .join(" ");
            let _ = write!(
                body,
                r#"<tr>
<td data-label="App"><span class="client">{client}</span></td>
<td data-label="Access">{scopes}</td>
<td data-label="Connected">{connected}</td>
<td data-label="Last used">{last_used}</td>
<td><form method="post" action="{action}">{csrf}{id}<button type="submit" class="danger">Revoke<span class="visually-hidden"> access for {client}</span></button></form></td>
</tr>
"#,
                connected = escape(connection.connected_at),
                last_used = escape(connection.last_used.unwrap_or("Never")),
                action = escape(page.revoke_action),
                csrf = hidden("csrf", page.csrf),
                id = hidden("connection_id", connection.id),
            );
        }
        body.push_str("</tbody>\n</table>\n");
    }
    layout("Your account", true, &body)
}

pub fn home(page: &Home<'_>) -> String {
    let url = escape(page.mcp_url);
    let body = format!(
        r#"<h1>{PRODUCT}</h1>
<p class="lead">Alert rules on your metrics, for AI assistants that speak MCP.</p>
<h2>Connect an app</h2>
<p>Add this server to your MCP client by its URL:</p>
<p><code class="url" id="mcp-url">{url}</code></p>
<p class="small">In Claude: Settings → Connectors → <em>Add custom connector</em>. In Claude Code: <code>claude mcp add --transport http monitors {url}</code></p>
<p class="muted small">The app sends you here to sign in, and asks you before it connects.</p>
<div class="actions">
<a class="button secondary" href="{account}">Your account</a>
<a class="button primary" href="{sign_in}">Sign in</a>
</div>
"#,
        account = escape(page.account),
        sign_in = escape(page.sign_in),
    );
    layout("MCP server", false, &body)
}

pub fn error(page: &ErrorPage<'_>) -> String {
    let body = format!(
        r#"<h1>{}</h1>
<p role="alert">{}</p>
"#,
        escape(page.title),
        escape(page.message)
    );
    layout(page.title, false, &body)
}

/// Makes a value safe as HTML text and as a double- or single-quoted
/// attribute value: the same escaping notification emails use.
pub(crate) use shared_models::html::escape;

fn hidden(name: &str, value: &str) -> String {
    format!(
        r#"<input type="hidden" name="{}" value="{}">"#,
        escape(name),
        escape(value)
    )
}

fn push_alert(body: &mut String, error: Option<&str>) {
    if let Some(error) = error {
        let _ = writeln!(
            body,
            r#"<div class="alert" role="alert">{}</div>"#,
            escape(error)
        );
    }
}

/// The page around `body` (already HTML): `title` is escaped here.
fn layout(title: &str, wide: bool, body: &str) -> String {
    let class = if wide { r#" class="wide""# } else { "" };
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="referrer" content="no-referrer">
<title>{title} · {PRODUCT}</title>
<link rel="stylesheet" href="{STYLESHEET_PATH}">
</head>
<body>
<header class="brand">{LOGO}<span>{PRODUCT}</span></header>
<main{class}>
{body}</main>
</body>
</html>
"#,
        title = escape(title),
    )
}

#[cfg(test)]
mod tests;
