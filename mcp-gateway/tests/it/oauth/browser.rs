//! A browser without JavaScript that signs a user in and consents on the
//! real pages.

use super::*;

pub(crate) const PASSWORD: &str = "correct horse battery";

/// A browser without JavaScript: follows nothing by itself, keeps cookies.
pub(crate) struct Browser {
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    pub(crate) fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all(header::SET_COOKIE) {
            let pair = value.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.insert(name.to_owned(), value.to_owned());
        }
    }

    pub(crate) async fn get(&mut self, url: &str) -> (StatusCode, String, Option<String>) {
        let response = self
            .http
            .get(url)
            .header(header::COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.answer(response).await
    }

    pub(crate) async fn post(
        &mut self,
        url: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, String, Option<String>) {
        let response = self
            .http
            .post(url)
            .header(header::COOKIE, self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.answer(response).await
    }

    async fn answer(
        &mut self,
        response: reqwest::Response,
    ) -> (StatusCode, String, Option<String>) {
        self.keep_cookies(&response);
        let status = response.status();
        let location = response
            .headers()
            .get(header::LOCATION)
            .map(|l| l.to_str().unwrap().to_owned());
        (status, response.text().await.unwrap(), location)
    }
}

fn unescape(html: &str) -> String {
    html.replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

/// The value of attribute `attr` on the first tag containing `marker`.
pub(crate) fn attribute(html: &str, marker: &str, attr: &str) -> String {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in page:\n{html}"));
    let tag_start = html[..at].rfind('<').unwrap();
    let tag_end = at + html[at..].find('>').unwrap();
    let tag = &html[tag_start..tag_end];
    let key = format!("{attr}=\"");
    let start = tag
        .find(&key)
        .unwrap_or_else(|| panic!("{attr} not in {tag}"))
        + key.len();
    let end = start + tag[start..].find('"').unwrap();
    unescape(&tag[start..end])
}

pub(crate) fn absolute(app: &TestApp, path: &str) -> String {
    format!("http://{}{path}", app.addr)
}

pub(crate) async fn user_with_password(app: &TestApp, email: &str) {
    let user = app
        .store
        .create_user(&Email::parse(email).unwrap())
        .await
        .unwrap();
    let hash = password::hash(
        &Password::parse(PASSWORD.to_owned()).unwrap(),
        &SystemRandom::new(),
    )
    .unwrap();
    app.store.set_password_hash(user.id, hash).await.unwrap();
}

/// Submits the sign-in form on `page` with `email` and [`PASSWORD`];
/// returns where the browser is sent next.
pub(crate) async fn sign_in(
    app: &TestApp,
    browser: &mut Browser,
    page: &str,
    email: &str,
) -> String {
    let csrf = attribute(page, "name=\"csrf\"", "value");
    let form_action = attribute(page, "<form", "action");
    let (status, body, location) = browser
        .post(
            &absolute(app, &form_action),
            &[("email", email), ("password", PASSWORD), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    location.expect("signed in, the browser is sent on")
}

/// Signs in and consents on the pages; returns the redirect to the client.
pub(crate) async fn sign_in_and_consent(
    app: &TestApp,
    browser: &mut Browser,
    authorize_url: &str,
    email: &str,
) -> String {
    let (status, page, _) = browser.get(authorize_url).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    // Signed in already, the browser goes straight to consent.
    let consent = if page.contains("name=\"decision\"") {
        page
    } else {
        let location = sign_in(app, browser, &page, email).await;
        let (status, consent, _) = browser.get(&absolute(app, &location)).await;
        assert_eq!(status, StatusCode::OK);
        consent
    };
    assert!(
        consent.contains("<li><code>alerts:"),
        "the consent page lists the scopes: {consent}"
    );
    let csrf = attribute(&consent, "name=\"csrf\"", "value");
    let form_action = attribute(&consent, "<form", "action");
    let (status, _, location) = browser
        .post(
            &absolute(app, &form_action),
            &[("csrf", &csrf), ("decision", "allow")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    location.expect("redirected to the client")
}
