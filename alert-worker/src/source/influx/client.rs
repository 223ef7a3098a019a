//! One HTTP exchange with `/query`: the URL, authentication, the timeout, and
//! the bound on requests in flight.

use std::time::Duration;

use reqwest::{
    Client, Url,
    header::{self, HeaderValue},
    redirect::Policy,
};
use shared_models::secret::Secret;
use tokio::sync::Semaphore;

use super::{
    InfluxConfig,
    response::{self, Answer},
};
use crate::{error::chain, source::SourceError};

#[derive(Debug)]
pub(super) struct Http {
    client: Client,
    query_url: Url,
    auth: Auth,
    timeout: Duration,
    max_concurrency: usize,
    in_flight: Semaphore,
}

#[derive(Debug)]
enum Auth {
    None,
    /// `Authorization: Token ..`, built once and marked sensitive so that it
    /// never appears in a `Debug` line.
    Token(HeaderValue),
    /// Basic authentication rather than `u`/`p` parameters, which would put
    /// the password in URLs that proxies and access logs record.
    Basic {
        username: String,
        password: Option<Secret<String>>,
    },
}

impl Http {
    pub(super) fn new(config: &InfluxConfig) -> Result<Self, SourceError> {
        let query_url = query_url(&config.url)?;
        if config.timeout.is_zero() {
            return Err(invalid("timeout must be above zero"));
        }
        if config.max_concurrency == 0 {
            return Err(invalid("max_concurrency must be at least 1"));
        }
        let auth = match (&config.token, &config.username) {
            (Some(_), Some(_)) => {
                return Err(invalid("give a token or a username and password, not both"));
            }
            (Some(token), None) => {
                let mut value = HeaderValue::try_from(format!("Token {}", token.expose()))
                    .map_err(|_| invalid("the token holds characters a header cannot carry"))?;
                value.set_sensitive(true);
                Auth::Token(value)
            }
            (None, Some(username)) => Auth::Basic {
                username: username.clone(),
                password: config.password.clone(),
            },
            (None, None) if config.password.is_some() => {
                return Err(invalid("a password needs a username"));
            }
            (None, None) => Auth::None,
        };
        let client = Client::builder()
            // A redirect would carry the credentials to another place.
            .redirect(Policy::none())
            .pool_max_idle_per_host(config.max_concurrency)
            .build()
            .map_err(|e| invalid(&chain(&e)))?;
        Ok(Self {
            client,
            query_url,
            auth,
            timeout: config.timeout,
            max_concurrency: config.max_concurrency,
            in_flight: Semaphore::new(config.max_concurrency),
        })
    }

    /// How many requests may be in flight at once.
    pub(super) fn max_concurrency(&self) -> usize {
        self.max_concurrency
    }

    /// Sends `text` (`statements` statements joined by `;`) to `database`.
    pub(super) async fn query(
        &self,
        database: &str,
        text: &str,
        statements: usize,
    ) -> Result<Answer, SourceError> {
        let (status, body) = {
            // Held until the body is read, released before it is parsed.
            let _permit =
                self.in_flight.acquire().await.map_err(|_| {
                    SourceError::Unreachable("the source is shutting down".to_owned())
                })?;
            let response = self
                .request(database, text)
                .send()
                .await
                .map_err(|e| self.transport(&e))?;
            let status = response.status().as_u16();
            let body = response.bytes().await.map_err(|e| self.transport(&e))?;
            (status, body)
        };
        response::parse(status, &body, statements)
    }

    fn request(&self, database: &str, text: &str) -> reqwest::RequestBuilder {
        let mut url = self.query_url.clone();
        // `epoch=ns`: integer times are cheaper to read than RFC 3339 text.
        url.query_pairs_mut()
            .append_pair("db", database)
            .append_pair("epoch", "ns");
        // The statements go in a form body: a sweep's batch can be far longer
        // than servers accept in a request line.
        let request = self
            .client
            .post(url)
            .header(header::ACCEPT, "application/json")
            .form(&[("q", text)])
            .timeout(self.timeout);
        match &self.auth {
            Auth::None => request,
            Auth::Token(value) => request.header(header::AUTHORIZATION, value.clone()),
            Auth::Basic { username, password } => {
                request.basic_auth(username, password.as_ref().map(|p| p.expose()))
            }
        }
    }

    fn transport(&self, error: &reqwest::Error) -> SourceError {
        if error.is_timeout() {
            SourceError::Timeout(self.timeout)
        } else {
            SourceError::Unreachable(chain(error))
        }
    }
}

/// Settings that cannot work. `SourceError` has no variant of its own for
/// them; the store cannot be reached with them.
pub(super) fn invalid(reason: &str) -> SourceError {
    SourceError::Unreachable(format!("invalid InfluxDB settings: {reason}"))
}

/// `<url>/query`, keeping any path prefix (InfluxDB behind a proxy at
/// `https://host/influx/`, say).
fn query_url(raw: &str) -> Result<Url, SourceError> {
    let mut url = Url::parse(raw).map_err(|e| invalid(&format!("url {raw:?}: {e}")))?;
    match url.scheme() {
        "http" => {}
        // The workspace builds reqwest without a TLS stack.
        "https" => {
            return Err(invalid(
                "https is not supported by this build (no TLS stack)",
            ));
        }
        other => return Err(invalid(&format!("url scheme {other:?} is not http"))),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "credentials belong in username/password or token, not in the url",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("the url must not carry a query or a fragment"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url.join("query")
        .map_err(|e| invalid(&format!("url {raw:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_url_keeps_the_path_prefix() {
        let url = |raw| query_url(raw).map(|u| u.to_string());
        assert_eq!(
            url("http://127.0.0.1:8086").ok().as_deref(),
            Some("http://127.0.0.1:8086/query")
        );
        assert_eq!(
            url("http://h/influx").ok().as_deref(),
            Some("http://h/influx/query")
        );
        assert_eq!(
            url("http://h/influx/").ok().as_deref(),
            Some("http://h/influx/query")
        );
        for bad in [
            "h:8086",
            "ftp://h",
            "http://u:p@h",
            "http://h/?db=x",
            "https://h",
        ] {
            assert!(
                matches!(query_url(bad), Err(SourceError::Unreachable(m)) if m.starts_with("invalid")),
                "{bad}"
            );
        }
    }
}
