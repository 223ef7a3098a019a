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
        html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39;"),
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
        html.contains(r#"<form method="post" action="/oauth/authorize?client_id=a&amp;state=b">"#)
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
    assert!(html.contains(r#"<code class="url" id="mcp-url">https://mcp.example.com/mcp</code>"#));
    assert!(html.contains("claude mcp add --transport http monitors https://mcp.example.com/mcp"));
    assert!(html.contains(r#"<a class="button primary" href="/oauth/sign-in">Sign in</a>"#));
    assert!(html.contains(r#"<a class="button secondary" href="/oauth/account">Your account</a>"#));
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
