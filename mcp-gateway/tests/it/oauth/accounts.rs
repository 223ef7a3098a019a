//! Forms and accounts: CSRF tokens, password guessing, and open sign-up.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_without_their_csrf_token_and_password_guessing_are_refused() {
    let app = spawn_app(Backend::Sqlite).await;
    user_with_password(&app, "ada@example.com").await;
    let flow = register(&app).await;
    let mut browser = Browser::new();
    let url = authorize_url(&app, &flow.client_id, &flow.challenge, &[]);
    let (_, page, _) = browser.get(&url).await;
    let action = absolute(&app, &attribute(&page, "<form", "action"));

    let (status, _, _) = browser
        .post(
            &action,
            &[("email", "ada@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no CSRF token");
    let (status, _, _) = browser
        .post(
            &action,
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("csrf", "forged-forged-forged-forged-forged-1"),
            ],
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a CSRF token that is not the cookie's"
    );

    let csrf = attribute(&page, "name=\"csrf\"", "value");
    for _ in 0..5 {
        let (status, page, _) = browser
            .post(
                &action,
                &[
                    ("email", "ada@example.com"),
                    ("password", "wrong password!"),
                    ("csrf", &csrf),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{page}");
    }
    let (status, page, _) = browser
        .post(
            &action,
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the sixth attempt waits, even with the right password"
    );
    assert!(page.contains("Too many attempts"));
    app.clock().advance(chrono::Duration::minutes(16));
    let (status, _, _) = browser
        .post(
            &action,
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "signed in once the window has passed"
    );

    // The consent form checks the session's token.
    let (_, consent, _) = browser.get(&url).await;
    let consent_action = absolute(&app, &attribute(&consent, "<form", "action"));
    let (status, _, _) = browser
        .post(&consent_action, &[("decision", "allow")])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_sign_up_creates_an_account_with_an_acceptable_password() {
    let app = crate::support::spawn_app_with(Backend::Sqlite, &[("MONITORS_SIGNUP", "open")]).await;
    let flow = register(&app).await;
    let mut browser = Browser::new();
    let (_, page, _) = browser
        .get(&authorize_url(&app, &flow.client_id, &flow.challenge, &[]))
        .await;
    let action = absolute(&app, &attribute(&page, "<form", "action"));
    let csrf = attribute(&page, "name=\"csrf\"", "value");

    let (status, page, _) = browser
        .post(
            &action,
            &[
                ("email", "new@example.com"),
                ("password", "short"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("at least 10 characters"), "{page}");
    assert!(
        app.store
            .find_user(&Email::parse("new@example.com").unwrap())
            .await
            .unwrap()
            .is_none(),
        "nothing written"
    );

    let (status, _, location) = browser
        .post(
            &action,
            &[
                ("email", "new@example.com"),
                ("password", PASSWORD),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.unwrap().starts_with("/oauth/authorize?"));
    assert!(
        app.store
            .find_user(&Email::parse("new@example.com").unwrap())
            .await
            .unwrap()
            .is_some()
    );
}
