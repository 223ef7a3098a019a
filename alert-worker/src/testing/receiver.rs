//! A stand-in for a customer's endpoint: a real HTTP server on 127.0.0.1
//! that records every request and answers from a script.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::serve::Listener;
use axum::{
    Router,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use rustls::{
    ServerConfig,
    crypto::ring,
    pki_types::{CertificateDer, PrivateKeyDer},
};
use serde_json::Value;
use tokio::{
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};
use tokio_rustls::{TlsAcceptor, server::TlsStream};

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    /// Path and query.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    /// Send the body this many times over, chunked, with no
    /// `Content-Length`: a body that only its length gives away.
    repeat: Option<usize>,
    /// Never answer: for timeouts.
    hang: bool,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: String::new(),
            repeat: None,
            hang: false,
        }
    }

    pub fn hang() -> Self {
        Self {
            hang: true,
            ..Self::status(200)
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn body(mut self, body: &str) -> Self {
        self.body = body.to_owned();
        self
    }

    /// Streams `chunk` `times` times as the body, chunked, without a
    /// `Content-Length`.
    pub fn streamed(mut self, chunk: &str, times: usize) -> Self {
        self.body = chunk.to_owned();
        self.repeat = Some(times);
        self
    }
}

struct Shared {
    recorded: Mutex<Vec<Recorded>>,
    script: Mutex<VecDeque<Reply>>,
    /// The answer once the script is used up.
    otherwise: Reply,
}

pub struct Receiver {
    pub addr: SocketAddr,
    scheme: &'static str,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

fn ok() -> Reply {
    Reply::status(200).body("ok")
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Receiver {
    /// Answers `200 ok` to everything.
    pub async fn start() -> Self {
        Self::scripted([]).await
    }

    /// Answers with `replies` in order, then `200 ok`.
    pub async fn scripted(replies: impl IntoIterator<Item = Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, replies, ok(), "http")
    }

    /// Answers everything with `status` and `body`.
    pub async fn answering(status: u16, body: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, [], Reply::status(status).body(body), "http")
    }

    /// Answers `200 ok` over TLS with the given certificate; its URLs name
    /// `localhost`, the name the certificate is for.
    pub async fn start_tls(cert: CertificateDer<'static>, key: PrivateKeyDer<'static>) -> Self {
        let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap();
        let listener = TlsListener {
            tcp: TcpListener::bind("127.0.0.1:0").await.unwrap(),
            acceptor: TlsAcceptor::from(Arc::new(config)),
        };
        Self::serve(listener, [], ok(), "https")
    }

    fn serve<L>(
        listener: L,
        replies: impl IntoIterator<Item = Reply>,
        otherwise: Reply,
        scheme: &'static str,
    ) -> Self
    where
        L: Listener<Addr = SocketAddr>,
    {
        let shared = Arc::new(Shared {
            recorded: Mutex::default(),
            script: Mutex::new(replies.into_iter().collect()),
            otherwise,
        });
        let addr = listener.local_addr().unwrap();
        let app = Router::new().fallback(record).with_state(shared.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            addr,
            scheme,
            shared,
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        match self.scheme {
            "https" => format!("https://localhost:{}{path}", self.addr.port()),
            _ => format!("http://{}{path}", self.addr),
        }
    }

    /// Adds `reply` to the end of the script: for answers that name the
    /// receiver's own URL, known only once it listens.
    pub fn then_reply(&self, reply: Reply) {
        self.shared.script.lock().unwrap().push_back(reply);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.recorded.lock().unwrap().clone()
    }

    /// The only request received.
    pub fn single(&self) -> Recorded {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "{requests:#?}");
        requests.into_iter().next().unwrap()
    }
}

/// Hands axum connections whose TLS handshake succeeded; a client that
/// refuses the certificate just ends its connection.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, peer)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(stream).await {
                return (tls, peer);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

async fn record(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    shared.recorded.lock().unwrap().push(Recorded {
        method,
        path,
        headers,
        body,
    });
    let reply = shared
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| shared.otherwise.clone());
    if reply.hang {
        std::future::pending::<()>().await;
    }
    let status = StatusCode::from_u16(reply.status).unwrap();
    let mut response = match reply.repeat {
        None => (status, reply.body).into_response(),
        Some(times) => {
            let chunk = Bytes::from(reply.body);
            let chunks = (0..times).map(move |_| Ok::<_, std::convert::Infallible>(chunk.clone()));
            (
                status,
                Body::from_stream(futures_util::stream::iter(chunks)),
            )
                .into_response()
        }
    };
    for (name, value) in reply.headers {
        response.headers_mut().insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    response
}

/// A port on loopback where nothing listens: it was bound and released, so
/// a connection to it is refused.
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a port")
        .port()
}
