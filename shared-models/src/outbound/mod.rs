//! Outbound HTTP to destinations clients name (notification receivers,
//! OAuth client metadata documents), always through the egress guard:
//! every address a host resolves to is checked, and the connection goes to
//! a checked address. One client per process, shared by whoever sends.

pub mod egress;
mod http;
mod tls;

use std::time::Duration;

use ::http::{
    HeaderMap, HeaderValue,
    header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, InvalidHeaderValue},
};
use rustls::pki_types::CertificateDer;

pub use self::http::{Answer, Failure as HttpFailure};
use self::{
    egress::{EgressError, EgressPolicy, SmtpTarget},
    http::{BodyLimit, HttpClient},
};
use crate::config::{ConfigError, NotifySettings};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the TLS configuration could not be built")]
    Tls(#[source] rustls::Error),
    #[error("the user agent is not a valid header value")]
    UserAgent(#[source] InvalidHeaderValue),
}

/// A document fetched with [`Client::fetch`]: whatever the status, since
/// the caller decides what a redirect or an error means (nothing is
/// followed).
#[derive(Debug, Clone)]
pub struct Fetched {
    pub status: u16,
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    /// The whole body, at most the `max_bytes` asked for.
    pub body: Vec<u8>,
}

/// Why [`Client::fetch`] has no answer. Messages name the host (and the
/// address), never the URL's path or query.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("destination refused")]
    Egress(#[from] EgressError),
    /// Includes [`HttpFailure::TooLarge`]: a body over the limit.
    #[error("the request failed")]
    Http(#[from] HttpFailure),
    #[error("{host} gave no answer within {} ms", timeout.as_millis())]
    Timeout { host: String, timeout: Duration },
}

/// Why [`Client::post`] has no answer.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    #[error("destination refused")]
    Egress(#[from] EgressError),
    #[error("the request failed")]
    Http(#[from] HttpFailure),
}

/// The egress-guarded HTTP client: its policy, the timeout of one
/// exchange, and TLS on ring with the public roots.
#[derive(Clone)]
pub struct Client {
    policy: EgressPolicy,
    timeout: Duration,
    http: HttpClient,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("policy", &self.policy)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// `timeout` bounds one whole exchange: DNS, connection, TLS and answer.
    pub fn new(policy: EgressPolicy, timeout: Duration) -> Result<Self, ClientError> {
        Self::with_roots(policy, timeout, &[])
    }

    /// Like [`Client::new`], trusting `extra_roots` for https besides the
    /// public roots (a private CA).
    pub fn with_roots(
        policy: EgressPolicy,
        timeout: Duration,
        extra_roots: &[CertificateDer<'static>],
    ) -> Result<Self, ClientError> {
        let tls = tls::client_config(extra_roots).map_err(ClientError::Tls)?;
        let user_agent =
            HeaderValue::from_str(&format!("monitors-mcp/{}", env!("CARGO_PKG_VERSION")))
                .map_err(ClientError::UserAgent)?;
        Ok(Self {
            policy,
            timeout,
            http: HttpClient::new(tls, user_agent),
        })
    }

    /// The client the configuration describes: its egress allowlist and
    /// per-attempt timeout.
    pub fn from_settings(settings: &NotifySettings) -> Result<Self, ConfigError> {
        let policy =
            EgressPolicy::from_entries(&settings.egress_allowlist_entries()).map_err(|e| {
                ConfigError::Invalid {
                    key: "egress_allowlist",
                    reason: e.to_string(),
                }
            })?;
        Self::new(policy, settings.notify_timeout).map_err(|e| ConfigError::Invalid {
            key: "notify",
            reason: crate::chain(&e),
        })
    }

    pub fn policy(&self) -> &EgressPolicy {
        &self.policy
    }

    /// The limit of one exchange.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// GETs a small JSON document, such as an OAuth client's metadata,
    /// under the guard: the egress policy checks every address the host
    /// resolves to (https only, unless the host is allowlisted) and the
    /// connection goes to a checked address, within the timeout. A redirect
    /// comes back as the answer it is. At most `max_bytes` of the body are
    /// read: a longer one, whether its `Content-Length` says so or it just
    /// keeps coming, is [`HttpFailure::TooLarge`].
    pub async fn fetch(&self, url: &str, max_bytes: usize) -> Result<Fetched, FetchError> {
        let attempt = async {
            let target = self.policy.resolve_url(url).await?;
            let mut headers = HeaderMap::new();
            headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
            let response = self
                .http
                .get(&target, headers, BodyLimit::Whole(max_bytes))
                .await?;
            let header = |name| {
                response
                    .headers
                    .get(name)
                    .and_then(|v: &HeaderValue| v.to_str().ok())
                    .map(str::to_owned)
            };
            Ok(Fetched {
                status: response.status.as_u16(),
                content_type: header(CONTENT_TYPE),
                cache_control: header(CACHE_CONTROL),
                body: response.body,
            })
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(fetched) => fetched,
            Err(_) => Err(FetchError::Timeout {
                host: url::Url::parse(url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .unwrap_or_default(),
                timeout: self.timeout,
            }),
        }
    }

    /// POSTs `body` as JSON to `url` after the guard checked it, and reads
    /// the start of the answer. Not bounded by itself: a caller bounds the
    /// whole attempt it is part of (rendering, signing, this) with
    /// [`Client::timeout`].
    pub async fn post(
        &self,
        url: &str,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<Answer, PostError> {
        let target = self.policy.resolve_url(url).await?;
        Ok(self.http.post_json(&target, headers, body).await?)
    }

    /// The checked addresses of an SMTP server, for a mail transport that
    /// connects only to them.
    pub async fn resolve_smtp(
        &self,
        host: &str,
        port: u16,
        encrypted: bool,
    ) -> Result<SmtpTarget, EgressError> {
        self.policy.resolve_smtp(host, port, encrypted).await
    }
}
