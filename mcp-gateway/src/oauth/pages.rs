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
pub const STYLESHEET: &str = include_str!("pages/style.css");
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
mod tests {
    use proptest::prelude::*;

    use super::*;

    const HOSTILE: &str =
        r#"<script>alert("x")</script> & 'quoted' "double" <img src=x onerror=alert(1)>"#;

    /// The hostile string must appear only escaped: no tag it contains may
    /// open, and no quote may end an attribute early.
    fn assert_contained(html: &str) {
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains(r#""x""#), "{html}");
        assert!(!html.contains("'quoted'"), "{html}");
        assert!(
            html.contains(
                "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39;"
            ),
            "{html}"
        );
    }

    fn unescape(s: &str) -> String {
        s.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&")
    }

    #[test]
    fn escape_neutralises_markup() {
        assert_eq!(
            escape(r#"<a href="x" title='y'>Tom & Jerry</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;Tom &amp; Jerry&lt;/a&gt;"
        );
        assert_eq!(escape("&amp;"), "&amp;amp;");
        assert_eq!(escape("plain ünïcode ✓"), "plain ünïcode ✓");
    }

    proptest! {
        #[test]
        fn escaped_text_has_no_markup_and_round_trips(s in any::<String>()) {
            let escaped = escape(&s);
            prop_assert!(!escaped.contains(['<', '>', '"', '\'']));
            prop_assert_eq!(unescape(&escaped), s);
        }
    }

    fn sign_in_page(hostile: &str) -> String {
        sign_in(&SignIn {
            action: hostile,
            csrf: hostile,
            email: Some(hostile),
            error: Some(hostile),
            client_name: Some(hostile),
            signup_open: true,
        })
    }

    fn consent_page(hostile: &str, verified: bool) -> String {
        consent(&Consent {
            action: hostile,
            csrf: hostile,
            client_name: hostile,
            redirect_host: hostile,
            scopes: &[
                ScopeLine {
                    name: hostile,
                    description: hostile,
                },
                ScopeLine {
                    name: "rules:read",
                    description: "Read your alert rules",
                },
            ],
            user_email: hostile,
            client_verified: verified,
        })
    }

    fn account_page(hostile: &str) -> String {
        account(&Account {
            csrf: hostile,
            email: hostile,
            connections: &[ConnectionLine {
                id: hostile,
                client_name: hostile,
                scopes: hostile,
                connected_at: hostile,
                last_used: Some(hostile),
            }],
            revoke_action: hostile,
        })
    }

    #[test]
    fn every_page_escapes_every_value() {
        assert_contained(&sign_in_page(HOSTILE));
        assert_contained(&consent_page(HOSTILE, false));
        assert_contained(&consent_page(HOSTILE, true));
        // The account page splits scopes on whitespace, so its hostile
        // string has none.
        let account = account_page(r#"<script>"x"&'y'</script>"#);
        assert!(!account.contains("<script"), "{account}");
        assert!(account.contains("&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;"));
        let error = error(&ErrorPage {
            title: HOSTILE,
            message: HOSTILE,
        });
        assert_contained(&error);
        assert_contained(&home(&Home {
            mcp_url: HOSTILE,
            sign_in: HOSTILE,
            account: HOSTILE,
        }));
    }

    #[test]
    fn every_page_is_a_complete_accessible_document() {
        for (title, html) in [
            ("Sign in", sign_in_page("x")),
            ("Allow access", consent_page("x", true)),
            ("Your account", account_page("x")),
            (
                "Not found",
                error(&ErrorPage {
                    title: "Not found",
                    message: "x",
                }),
            ),
            (
                "MCP server",
                home(&Home {
                    mcp_url: "x",
                    sign_in: "/oauth/sign-in",
                    account: "/oauth/account",
                }),
            ),
        ] {
            assert!(
                html.starts_with("<!doctype html>\n<html lang=\"en\">"),
                "{html}"
            );
            assert!(
                html.contains(&format!("<title>{title} · monitors-mcp</title>")),
                "{html}"
            );
            assert!(html.contains(r#"<link rel="stylesheet" href="/oauth/assets/style.css">"#));
            assert!(html.contains("<main") && html.contains("</main>"));
            assert!(html.contains("<h1>"));
            assert!(!html.contains("<script"));
            assert!(
                !html.contains("http://") && !html.contains("https://"),
                "{html}"
            );
        }
    }

    #[test]
    fn sign_in_has_labelled_fields_a_csrf_field_and_one_button() {
        let html = sign_in(&SignIn {
            action: "/oauth/authorize?client_id=a&state=b",
            csrf: "tok123",
            email: Some("ada@example.com"),
            error: Some("Wrong email or password."),
            client_name: Some("Claude"),
            signup_open: false,
        });
        assert!(
            html.contains(
                r#"<form method="post" action="/oauth/authorize?client_id=a&amp;state=b">"#
            )
        );
        assert!(html.contains(r#"<input type="hidden" name="csrf" value="tok123">"#));
        assert!(html.contains(r#"<label for="email">Email</label>"#));
        assert!(html.contains(r#"id="email" name="email" type="email" autocomplete="username""#));
        assert!(html.contains(r#"value="ada@example.com""#));
        assert!(html.contains(r#"<label for="password">Password</label>"#));
        assert!(html.contains(
            r#"id="password" name="password" type="password" autocomplete="current-password""#
        ));
        assert_eq!(html.matches("<button").count(), 1);
        assert!(html.contains(r#"<div class="alert" role="alert">Wrong email or password.</div>"#));
        assert!(html.contains(r#"Sign in to connect <span class="client">Claude</span>"#));
        assert!(html.contains("created by your administrator"));
        // With the email known, the password field takes the focus.
        assert!(html.contains(r#"maxlength="1024" autofocus>"#));

        let bare = sign_in(&SignIn {
            action: "/oauth/sign-in",
            csrf: "tok",
            email: None,
            error: None,
            client_name: None,
            signup_open: true,
        });
        assert!(bare.contains("<h1>Sign in</h1>"));
        assert!(!bare.contains("role=\"alert\""));
        assert!(bare.contains(r#"value="" autofocus>"#));
        assert!(bare.contains("create an account"));
    }

    #[test]
    fn consent_names_the_client_the_redirect_and_the_scopes() {
        let html = consent(&Consent {
            action: "/oauth/consent?request=r1",
            csrf: "tok123",
            client_name: "Claude",
            redirect_host: "claude.ai",
            scopes: &[ScopeLine {
                name: "rules:write",
                description: "Create and change alert rules",
            }],
            user_email: "ada@example.com",
            client_verified: true,
        });
        assert!(html.contains(r#"Allow <span class="client">Claude</span>"#));
        assert!(html.contains("will redirect to <strong>claude.ai</strong>"));
        assert!(html.contains("<li><code>rules:write</code><span class=\"description\">Create and change alert rules</span></li>"));
        assert!(html.contains(r#"<input type="hidden" name="csrf" value="tok123">"#));
        assert!(html.contains(r#"<button type="submit" name="decision" value="allow""#));
        assert!(html.contains(r#"<button type="submit" name="decision" value="deny""#));
        assert_eq!(html.matches("<form").count(), 1);
        assert!(html.find(r#"value="deny""#) < html.find(r#"value="allow""#));
        assert!(html.contains("ada@example.com"));
        assert!(!html.contains("Unverified"));
        assert!(consent_page("x", false).contains("Unverified app"));
    }

    #[test]
    fn account_lists_connections_each_with_its_own_revoke_form() {
        let html = account(&Account {
            csrf: "tok123",
            email: "ada@example.com",
            connections: &[
                ConnectionLine {
                    id: "c1",
                    client_name: "Claude",
                    scopes: "rules:read rules:write",
                    connected_at: "2026-03-01 12:00",
                    last_used: Some("2026-03-02 08:15"),
                },
                ConnectionLine {
                    id: "c2",
                    client_name: "Cursor",
                    scopes: "rules:read",
                    connected_at: "2026-03-03 09:00",
                    last_used: None,
                },
            ],
            revoke_action: "/oauth/account/revoke",
        });
        assert_eq!(
            html.matches(r#"<form method="post" action="/oauth/account/revoke">"#)
                .count(),
            2
        );
        assert_eq!(
            html.matches(r#"<input type="hidden" name="csrf" value="tok123">"#)
                .count(),
            2
        );
        assert!(html.contains(r#"<input type="hidden" name="connection_id" value="c1">"#));
        assert!(html.contains(r#"<input type="hidden" name="connection_id" value="c2">"#));
        assert!(html.contains("<code>rules:read</code> <code>rules:write</code>"));
        assert!(html.contains("Never"));
        assert!(html.contains("access for Cursor"));
        assert!(!html.contains("No apps are connected"));

        let empty = account(&Account {
            csrf: "tok",
            email: "ada@example.com",
            connections: &[],
            revoke_action: "/oauth/account/revoke",
        });
        assert!(empty.contains("No apps are connected"));
        assert!(!empty.contains("<table"));
        assert!(!empty.contains("<form"));
    }

    #[test]
    fn the_home_page_gives_the_url_to_paste_and_links_to_sign_in_and_account() {
        let html = home(&Home {
            mcp_url: "https://mcp.example.com/mcp",
            sign_in: "/oauth/sign-in",
            account: "/oauth/account",
        });
        assert!(html.contains("<h1>monitors-mcp</h1>"), "{html}");
        assert!(
            html.contains(r#"<code class="url" id="mcp-url">https://mcp.example.com/mcp</code>"#)
        );
        assert!(
            html.contains("claude mcp add --transport http monitors https://mcp.example.com/mcp")
        );
        assert!(html.contains(r#"<a class="button primary" href="/oauth/sign-in">Sign in</a>"#));
        assert!(
            html.contains(r#"<a class="button secondary" href="/oauth/account">Your account</a>"#)
        );
        assert!(!html.contains("<form"));
    }

    #[test]
    fn the_error_page_announces_its_message() {
        let html = error(&ErrorPage {
            title: "Link expired",
            message: "Start the connection again from your app.",
        });
        assert!(html.contains("<h1>Link expired</h1>"));
        assert!(html.contains(r#"<p role="alert">Start the connection again from your app.</p>"#));
    }

    #[test]
    fn the_stylesheet_is_embedded_with_dark_mode_and_focus_styles() {
        assert!(STYLESHEET.contains("prefers-color-scheme: dark"));
        assert!(STYLESHEET.contains(":focus-visible"));
        assert!(!STYLESHEET.contains("url("), "no external resources");
    }
}
