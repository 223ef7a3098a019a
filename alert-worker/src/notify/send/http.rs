//! One HTTP/1.1 POST to a checked destination. The connection goes to an
//! address the egress guard resolved and judged, never through a proxy, and
//! a redirect is an answer like any other: nothing is followed.

use std::{io, net::SocketAddr, sync::Arc};

use http::{
    HeaderMap, HeaderValue, Method, Request, StatusCode,
    header::{CONNECTION, CONTENT_TYPE, HOST, RETRY_AFTER, USER_AGENT},
};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use rustls::{ClientConfig, pki_types::ServerName};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
    task::JoinHandle,
};
use tokio_rustls::TlsConnector;
use url::Position;

use crate::notify::egress::UrlTarget;

/// How much of an answer is read: enough for any error a receiver writes,
/// and a bound on what a hostile one can make the worker hold.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What the receiver said.
#[derive(Debug)]
pub(super) struct Answer {
    pub status: StatusCode,
    pub retry_after: Option<String>,
    /// The start of the body, as text.
    pub body: String,
}

/// Why no answer came. Messages name the host and address, never the URL.
#[derive(Debug, thiserror::Error)]
pub(super) enum Failure {
    #[error("could not connect to {host} ({addr})")]
    Connect {
        host: String,
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("{host} is not a name a TLS certificate can carry")]
    ServerName { host: String },
    #[error("TLS handshake with {host} failed")]
    Tls {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error("the HTTP exchange with {host} failed")]
    Http {
        host: String,
        #[source]
        source: hyper::Error,
    },
    #[error("the request could not be built")]
    Request(#[source] http::Error),
}

#[derive(Clone)]
pub(super) struct HttpClient {
    tls: TlsConnector,
    user_agent: HeaderValue,
}

impl HttpClient {
    pub fn new(tls: Arc<ClientConfig>, user_agent: HeaderValue) -> Self {
        Self {
            tls: TlsConnector::from(tls),
            user_agent,
        }
    }

    /// POSTs `body` as JSON to the checked `target`, trying its addresses
    /// in the order DNS gave them until one accepts the connection.
    pub async fn post_json(
        &self,
        target: &UrlTarget,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<Answer, Failure> {
        let request = self.request(target, headers, body)?;
        let tcp = connect(target).await?;
        if !target.https {
            return exchange(&target.host, tcp, request).await;
        }
        let name = ServerName::try_from(target.host.clone()).map_err(|_| Failure::ServerName {
            host: target.host.clone(),
        })?;
        let tls = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|source| Failure::Tls {
                host: target.host.clone(),
                source,
            })?;
        exchange(&target.host, tls, request).await
    }

    fn request(
        &self,
        target: &UrlTarget,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<Request<Full<Bytes>>, Failure> {
        let url = &target.url;
        // Origin form: the path and query only; the host goes in `Host`.
        let path = &url[Position::BeforePath..Position::AfterQuery];
        let authority = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(if path.is_empty() { "/" } else { path })
            .header(HOST, authority)
            .header(USER_AGENT, self.user_agent.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            // One request per connection: nothing is pooled across
            // destinations, so nothing can be reused for the wrong one.
            .header(CONNECTION, HeaderValue::from_static("close"));
        for (name, value) in &headers {
            builder = builder.header(name, value);
        }
        builder
            .body(Full::new(Bytes::from(body)))
            .map_err(Failure::Request)
    }
}

async fn connect(target: &UrlTarget) -> Result<TcpStream, Failure> {
    let mut last = None;
    for addr in &target.addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                // Small requests: send them now rather than wait for more.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(source) => last = Some((*addr, source)),
        }
    }
    let (addr, source) = last.unwrap_or_else(|| {
        let unspecified = SocketAddr::from(([0, 0, 0, 0], target.port));
        let source = io::Error::new(io::ErrorKind::NotFound, "no address to connect to");
        (unspecified, source)
    });
    Err(Failure::Connect {
        host: target.host.clone(),
        addr,
        source,
    })
}

/// Ends the connection task however the exchange ends, timeouts included.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn exchange<S>(host: &str, io: S, request: Request<Full<Bytes>>) -> Result<Answer, Failure>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let http = |source| Failure::Http {
        host: host.to_owned(),
        source,
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(http)?;
    let _driver = AbortOnDrop(tokio::spawn(async move {
        // Its errors surface through `send_request` below.
        let _ = connection.await;
    }));
    let response = sender.send_request(request).await.map_err(http)?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = read_prefix(response.into_body()).await;
    Ok(Answer {
        status,
        retry_after,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// Up to [`MAX_ANSWER_BYTES`] of the body. A body cut short still leaves the
/// status, which is what decides the outcome, so read errors end the read.
async fn read_prefix(mut body: Incoming) -> Vec<u8> {
    let mut collected = Vec::new();
    while collected.len() < MAX_ANSWER_BYTES {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    let room = MAX_ANSWER_BYTES - collected.len();
                    collected.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
            Some(Err(_)) | None => break,
        }
    }
    collected
}
