//! One HTTP/1.1 exchange with a checked destination: a notification's POST,
//! or the GET of a small document. The connection goes to an address the
//! egress guard resolved and judged, never through a proxy, and a redirect
//! is an answer like any other: nothing is followed.

use std::{io, net::SocketAddr, sync::Arc};

use http::{
    HeaderMap, HeaderValue, Method, Request, StatusCode,
    header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, RETRY_AFTER, USER_AGENT},
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

use super::egress::UrlTarget;

/// How much of an answer is read: enough for any error a receiver writes,
/// and a bound on what a hostile one can make the worker hold.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What the receiver of a POST said.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub retry_after: Option<String>,
    /// The start of the body, as text.
    pub body: String,
}

/// What a server answered: its status, headers and as much of the body as
/// the [`BodyLimit`] let through.
#[derive(Debug)]
pub(super) struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// How much of an answer's body is read.
#[derive(Debug, Clone, Copy)]
pub(super) enum BodyLimit {
    /// The start of it, at most this many bytes, however long it is: what a
    /// receiver said about a notification. A body cut short still leaves
    /// the status, which is what decides the outcome, so read errors end
    /// the read.
    Prefix(usize),
    /// All of it, which must be at most this many bytes: a longer body
    /// (declared or sent) is [`Failure::TooLarge`] and no more of it is
    /// read, and a body cut short is a failure.
    Whole(usize),
}

/// Why no usable answer came. Messages name the host and address, never
/// the URL.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
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
    #[error("{host} sent a body larger than {limit} bytes")]
    TooLarge { host: String, limit: usize },
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
        mut headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<Answer, Failure> {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let request = self.request(target, Method::POST, headers, Bytes::from(body))?;
        let response = self
            .exchange(target, request, BodyLimit::Prefix(MAX_ANSWER_BYTES))
            .await?;
        Ok(Answer {
            status: response.status,
            retry_after: response
                .headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body: String::from_utf8_lossy(&response.body).into_owned(),
        })
    }

    /// GETs the checked `target`, reading at most `limit` of its body.
    pub async fn get(
        &self,
        target: &UrlTarget,
        headers: HeaderMap,
        limit: BodyLimit,
    ) -> Result<Response, Failure> {
        let request = self.request(target, Method::GET, headers, Bytes::new())?;
        self.exchange(target, request, limit).await
    }

    /// Connects to the first of the target's addresses that accepts, over
    /// TLS for https, and makes the one exchange.
    async fn exchange(
        &self,
        target: &UrlTarget,
        request: Request<Full<Bytes>>,
        limit: BodyLimit,
    ) -> Result<Response, Failure> {
        let tcp = connect(target).await?;
        if !target.https {
            return exchange_on(&target.host, tcp, request, limit).await;
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
        exchange_on(&target.host, tls, request, limit).await
    }

    fn request(
        &self,
        target: &UrlTarget,
        method: Method,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Request<Full<Bytes>>, Failure> {
        let url = &target.url;
        // Origin form: the path and query only; the host goes in `Host`.
        let path = &url[Position::BeforePath..Position::AfterQuery];
        let authority = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        let mut builder = Request::builder()
            .method(method)
            .uri(if path.is_empty() { "/" } else { path })
            .header(HOST, authority)
            .header(USER_AGENT, self.user_agent.clone())
            // One request per connection: nothing is pooled across
            // destinations, so nothing can be reused for the wrong one.
            .header(CONNECTION, HeaderValue::from_static("close"));
        for (name, value) in &headers {
            builder = builder.header(name, value);
        }
        builder.body(Full::new(body)).map_err(Failure::Request)
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

async fn exchange_on<S>(
    host: &str,
    io: S,
    request: Request<Full<Bytes>>,
    limit: BodyLimit,
) -> Result<Response, Failure>
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
    let (parts, body) = sender
        .send_request(request)
        .await
        .map_err(http)?
        .into_parts();
    let too_large = |limit| Failure::TooLarge {
        host: host.to_owned(),
        limit,
    };
    let body = match limit {
        BodyLimit::Prefix(max) => read_prefix(body, max).await.0,
        BodyLimit::Whole(max) => {
            // Refused on its word, before any of it is read.
            if declared_length(&parts.headers).is_some_and(|declared| declared > max as u64) {
                return Err(too_large(max));
            }
            // One byte more than allowed is enough to know it is too long.
            match read_prefix(body, max.saturating_add(1)).await {
                (_, Some(source)) => return Err(http(source)),
                (bytes, None) if bytes.len() > max => return Err(too_large(max)),
                (bytes, None) => bytes,
            }
        }
    };
    Ok(Response {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Up to `max` bytes of the body, and the error that ended the read early,
/// if one did. Never holds more than `max` bytes: the rest of a frame that
/// would overflow is dropped and the read ends.
async fn read_prefix(mut body: Incoming, max: usize) -> (Vec<u8>, Option<hyper::Error>) {
    let mut collected = Vec::new();
    while collected.len() < max {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    let room = max - collected.len();
                    collected.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
            Some(Err(error)) => return (collected, Some(error)),
            None => break,
        }
    }
    (collected, None)
}
