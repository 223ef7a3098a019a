//! A stand-in for a customer's endpoint: it records every request it gets
//! and answers each with the status and body it was started with.

use std::{
    future::IntoFuture,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, Uri},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Clone)]
struct Answer {
    status: StatusCode,
    body: &'static str,
    received: Arc<Mutex<Vec<Received>>>,
}

pub struct Receiver {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    shutdown: CancellationToken,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn record(
    State(answer): State<Answer>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    answer
        .received
        .lock()
        .expect("receiver lock")
        .push(Received {
            path: uri.path().to_owned(),
            headers,
            body,
        });
    (answer.status, answer.body)
}

impl Receiver {
    pub async fn start(status: u16, body: &'static str) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let answer = Answer {
            status: StatusCode::from_u16(status).expect("a valid status"),
            body,
            received: received.clone(),
        };
        let app = Router::new().fallback(record).with_state(answer);
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("receiver address");
        let shutdown = CancellationToken::new();
        tokio::spawn(
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.clone().cancelled_owned())
                .into_future(),
        );
        Self {
            addr,
            received,
            shutdown,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("receiver lock").clone()
    }
}

/// An address on loopback where nothing listens: the port was bound and
/// released, so a connection is refused.
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a port")
        .port()
}
