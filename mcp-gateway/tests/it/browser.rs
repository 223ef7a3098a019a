//! The sign-in, consent and account pages in headless Chromium, served by
//! the real gateway: a person fills the forms, the redirect carries a code
//! the client exchanges, and the account page disconnects the client. A
//! screenshot of each page is kept under target/screenshots/.

use std::time::Duration;

use alert_worker::testing::within;

use crate::{
    oauth::{PASSWORD, REDIRECT, authorize_url, exchange, query_of, register, user_with_password},
    support::{Backend, spawn_app},
    webdriver::{Browser, save_screenshot},
};

/// Waits until the page's source contains `marker`.
async fn page_with(browser: &Browser, marker: &str) -> String {
    within(
        &format!("a page with {marker}"),
        Duration::from_secs(10),
        async || {
            let source = browser.page_source().await.map_err(|e| format!("{e:#}"))?;
            if source.contains(marker) {
                Ok(source)
            } else {
                Err(source)
            }
        },
    )
    .await
}

/// Types `email` and [`PASSWORD`] into the sign-in form shown, and sends it.
async fn sign_in(browser: &Browser, email: &str) {
    let field = browser.find_css("input#email").await.unwrap();
    browser.send_keys(&field, email).await.unwrap();
    let password = browser.find_css("input#password").await.unwrap();
    browser.send_keys(&password, PASSWORD).await.unwrap();
    let submit = browser.find_css("button[type=submit]").await.unwrap();
    browser.click(&submit).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_and_consents_in_chromium() {
    let app = spawn_app(Backend::Sqlite).await;
    user_with_password(&app, "ada@example.com").await;
    let flow = register(&app).await;
    let browser = Browser::start().await.unwrap();

    browser
        .goto(&authorize_url(&app, &flow.client_id, &flow.challenge, &[]))
        .await
        .unwrap();
    page_with(&browser, "Refusals").await;
    save_screenshot("oauth-sign-in", &browser.screenshot_png().await.unwrap());
    sign_in(&browser, "ada@example.com").await;

    let consent = page_with(&browser, "name=\"decision\"").await;
    assert!(
        consent.contains("alerts:write") && consent.contains("127.0.0.1"),
        "{consent}"
    );
    save_screenshot("oauth-consent", &browser.screenshot_png().await.unwrap());
    let allow = browser.find_css("button[value=allow]").await.unwrap();
    browser.click(&allow).await.unwrap();

    // Nothing listens at the client's redirect URI; the address bar has
    // what the client would receive.
    let landed = within(
        "the redirect to the client",
        Duration::from_secs(10),
        async || {
            let url = browser.current_url().await.map_err(|e| format!("{e:#}"))?;
            if url.starts_with(REDIRECT) {
                Ok(url)
            } else {
                Err(url)
            }
        },
    )
    .await;
    let query = query_of(&landed);
    assert_eq!(query["state"], "s1");
    assert_eq!(query["iss"], format!("http://{}", app.addr));
    let (status, tokens) =
        exchange(&app, &flow, &query["code"], &flow.verifier, &app.mcp_url()).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{tokens}");

    // The account page lists the connection; revoking it empties the list.
    browser
        .goto(&format!("http://{}/oauth/account", app.addr))
        .await
        .unwrap();
    page_with(&browser, "Refusals").await;
    save_screenshot("oauth-account", &browser.screenshot_png().await.unwrap());
    let revoke = browser
        .find_css("form[action='/oauth/account/revoke'] button")
        .await
        .unwrap();
    browser.click(&revoke).await.unwrap();
    within(
        "the connection is gone",
        Duration::from_secs(10),
        async || {
            let grants = app
                .store
                .list_grants(
                    app.store
                        .find_user(&mcp_gateway::store::Email::parse("ada@example.com").unwrap())
                        .await
                        .unwrap()
                        .unwrap()
                        .id,
                )
                .await
                .unwrap();
            if grants.is_empty() {
                Ok(())
            } else {
                Err(format!("{} connections", grants.len()))
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_home_page_gives_the_mcp_url_and_signs_a_person_in() {
    let app = spawn_app(Backend::Sqlite).await;
    user_with_password(&app, "ada@example.com").await;
    let browser = Browser::start().await.unwrap();

    browser
        .goto(&format!("http://{}/", app.addr))
        .await
        .unwrap();
    let home = page_with(&browser, &app.mcp_url()).await;
    assert!(home.contains("monitors-mcp"), "{home}");
    save_screenshot("home", &browser.screenshot_png().await.unwrap());
    // The stylesheet loaded under the page's policy: the links are buttons.
    let sign_in_link = browser.find_css("a.button.primary").await.unwrap();
    assert_eq!(
        browser
            .css_value(&sign_in_link, "text-decoration-line")
            .await
            .unwrap(),
        "none"
    );
    let url = browser.find_css("code#mcp-url").await.unwrap();
    assert_eq!(browser.css_value(&url, "display").await.unwrap(), "block");

    browser.click(&sign_in_link).await.unwrap();
    page_with(&browser, "<h1>Sign in</h1>").await;
    sign_in(&browser, "ada@example.com").await;
    page_with(&browser, "Signed in as <strong>ada@example.com</strong>").await;
    assert!(
        browser
            .current_url()
            .await
            .unwrap()
            .ends_with("/oauth/account")
    );
}
