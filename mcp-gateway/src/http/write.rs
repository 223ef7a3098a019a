//! InfluxDB line-protocol writes into the built-in metrics store: the 1.x
//! `POST /write?db=` and 2.x `POST /api/v2/write?bucket=` endpoints, so that
//! Telegraf and the InfluxDB client libraries write here unchanged.

use std::io::Read;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Query, State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode, header},
    middleware,
    response::{IntoResponse, Response},
    routing::post,
};
use flate2::read::MultiGzDecoder;
use serde::Deserialize;
use serde_json::json;

use crate::{
    app::AppState,
    auth::Principal,
    error::{Error, chain},
    http::{
        body_limit::refuse_declared_oversize,
        influx_auth::InfluxWriter,
        line_protocol::{Dropped, LineError, Precision, parse, text},
    },
};

/// Line-protocol batches are far larger than JSON-RPC calls (Telegraf sends
/// 1,000 metrics at a time), so the write endpoints accept this many times
/// `max_body_bytes` of line protocol, whether sent plain or gzip-compressed.
pub const WRITE_BODY_FACTOR: usize = 16;

const MAX_DB_NAME: usize = 64;
/// Non-numeric fields named one by one in a partial-write error.
const DROPPED_NAMED: usize = 5;

/// The write routes, with their own body limit (see [`WRITE_BODY_FACTOR`]).
pub fn router(state: AppState) -> Router {
    let limit = write_limit(&state);
    Router::new()
        .route("/write", post(write_v1))
        .route("/api/v2/write", post(write_v2))
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(
            limit,
            refuse_declared_oversize,
        ))
        .with_state(state)
}

fn write_limit(state: &AppState) -> usize {
    state
        .config
        .max_body_bytes
        .saturating_mul(WRITE_BODY_FACTOR)
}

#[derive(Debug, Deserialize)]
struct V1Params {
    db: Option<String>,
    precision: Option<String>,
}

#[derive(Debug, Deserialize)]
struct V2Params {
    bucket: Option<String>,
    precision: Option<String>,
    // `org` and `orgID` are accepted and ignored: the token decides whose
    // data this is.
}

async fn write_v1(
    State(state): State<AppState>,
    InfluxWriter(principal): InfluxWriter,
    params: Result<Query<V1Params>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, WriteError> {
    let Query(params) = params.map_err(|e| WriteError::Invalid(e.body_text()))?;
    let db = database_name(params.db, "db").map_err(WriteError::Invalid)?;
    let precision = Precision::v1(params.precision.as_deref()).map_err(WriteError::Invalid)?;
    write(state, principal, db, precision, &headers, body).await
}

async fn write_v2(
    State(state): State<AppState>,
    InfluxWriter(principal): InfluxWriter,
    params: Result<Query<V2Params>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, WriteError> {
    let Query(params) = params.map_err(|e| WriteError::Invalid(e.body_text()))?;
    let db = database_name(params.bucket, "bucket").map_err(WriteError::Invalid)?;
    let precision = Precision::v2(params.precision.as_deref()).map_err(WriteError::Invalid)?;
    write(state, principal, db, precision, &headers, body).await
}

async fn write(
    state: AppState,
    principal: Principal,
    db: String,
    precision: Precision,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, WriteError> {
    tracing::Span::current().record("user_id", tracing::field::display(principal.user_id));
    // With InfluxDB as the source no rule reads the built-in store: points
    // stored here would be lost without a word.
    if let Some(url) = &state.config.sources.influx_url {
        return Err(WriteError::ReadFromInflux {
            url: without_credentials(url),
            database: state.config.sources.influx_database.clone(),
        });
    }
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => WriteError::TooLarge,
        _ => WriteError::Invalid(rejection.body_text()),
    })?;
    let gzip = content_encoding_is_gzip(headers)?;
    let received = body.len();
    let limit = write_limit(&state);
    // Decompressing and parsing a few MiB is CPU work: keep it off the
    // threads that serve other requests.
    let parsed = tokio::task::spawn_blocking(move || {
        let body = decode(body, gzip, limit)?;
        Ok::<_, WriteError>(parse(text(&body)?, &db, precision)?)
    })
    .await
    .map_err(WriteError::Task)??;
    let stored = state
        .store
        .insert_points(principal.user_id, parsed.points)
        .await
        .map_err(WriteError::Store)?;
    state.metrics.write(stored, received);
    tracing::debug!(stored, dropped = parsed.dropped.len(), "points written");
    if parsed.dropped.is_empty() {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(WriteError::NotNumbers(parsed.dropped))
    }
}

/// The URL as configured, without any user name, password, query or
/// fragment: enough to say where InfluxDB is, nothing to sign in with.
fn without_credentials(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) => {
            // Only a URL that cannot have credentials refuses these.
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.set_query(None);
            url.set_fragment(None);
            url.to_string()
        }
        Err(_) => "the URL in MONITORS_INFLUX_URL".to_owned(),
    }
}

/// Why a write was refused; the text of a client error is its answer.
#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error("{0}")]
    Invalid(String),
    #[error("line {}: {}", .0.line, .0.reason)]
    Line(LineError),
    #[error(
        "rules on this installation read InfluxDB at {url} (database \"{database}\"), not points \
         written here: write these points to that InfluxDB instead"
    )]
    ReadFromInflux { url: String, database: String },
    #[error("{}", partial_write(.0))]
    NotNumbers(Vec<Dropped>),
    #[error("the request body is over the size limit")]
    TooLarge,
    #[error("unsupported Content-Encoding {0:?}: send gzip or identity")]
    Encoding(String),
    #[error("storing the points failed")]
    Store(#[source] Error),
    #[error("the write could not be processed")]
    Task(#[source] tokio::task::JoinError),
}

impl From<LineError> for WriteError {
    fn from(error: LineError) -> Self {
        Self::Line(error)
    }
}

/// InfluxDB's answer to a type conflict, which its clients recognise (Telegraf
/// drops such a batch instead of retrying it forever): `partial write:`,
/// the reason, then `dropped=N`.
fn partial_write(dropped: &[Dropped]) -> String {
    let total: usize = dropped.iter().map(|d| d.count).sum();
    let mut named: Vec<String> = dropped
        .iter()
        .take(DROPPED_NAMED)
        .map(|d| {
            let lines = if d.count == 1 {
                format!("line {}", d.first_line)
            } else {
                format!("{} lines, the first line {}", d.count, d.first_line)
            };
            format!(
                "field \"{}\" of measurement \"{}\" is a {} ({lines})",
                d.field, d.measurement, d.kind
            )
        })
        .collect();
    if dropped.len() > DROPPED_NAMED {
        named.push(format!("and {} more fields", dropped.len() - DROPPED_NAMED));
    }
    format!(
        "partial write: field type conflict: fields here must be numbers (such as value=1.5, \
         count=2i or bytes=3u) for rules to compare them, so these values were not stored: {}; \
         every numeric field of the request was stored dropped={total}",
        named.join(", ")
    )
}

impl IntoResponse for WriteError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            Self::Invalid(_)
            | Self::Line(_)
            | Self::ReadFromInflux { .. }
            | Self::NotNumbers(_) => (StatusCode::BAD_REQUEST, "invalid"),
            Self::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "request too large"),
            Self::Encoding(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported media type"),
            Self::Store(_) | Self::Task(_) => {
                tracing::error!(error = %chain(&self), "write failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        };
        let text = match status {
            StatusCode::INTERNAL_SERVER_ERROR => {
                "internal error; the write was not stored".to_owned()
            }
            _ => self.to_string(),
        };
        // 1.x clients and Telegraf read `error`; 2.x clients read `code`
        // and `message`.
        (
            status,
            Json(json!({"code": code, "message": text, "error": text})),
        )
            .into_response()
    }
}

/// The database (1.x) or bucket (2.x) a request names, which is required.
pub(super) fn database_name(name: Option<String>, param: &str) -> Result<String, String> {
    let name = name.unwrap_or_default();
    if name.is_empty() {
        return Err(format!("the {param} query parameter is required"));
    }
    if name.chars().count() > MAX_DB_NAME {
        return Err(format!("{param} is longer than {MAX_DB_NAME} characters"));
    }
    Ok(name)
}

fn content_encoding_is_gzip(headers: &HeaderMap) -> Result<bool, WriteError> {
    let Some(value) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(false);
    };
    let value = value.to_str().unwrap_or_default().trim();
    if value.eq_ignore_ascii_case("gzip") {
        Ok(true)
    } else if value.is_empty() || value.eq_ignore_ascii_case("identity") {
        Ok(false)
    } else {
        Err(WriteError::Encoding(value.chars().take(64).collect()))
    }
}

/// The body, decompressed if need be, refused beyond `limit` bytes of line
/// protocol: a small gzip body can expand a thousandfold.
fn decode(body: Bytes, gzip: bool, limit: usize) -> Result<Bytes, WriteError> {
    if !gzip {
        return Ok(body);
    }
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
    MultiGzDecoder::new(&body[..])
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| WriteError::Invalid(format!("the gzip body is unreadable: {e}")))?;
    if out.len() > limit {
        return Err(WriteError::TooLarge);
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_influxdb_url_is_named_without_credentials() {
        assert_eq!(
            without_credentials("http://reader:s3cret@influx:8086/prefix/?token=t#x"),
            "http://influx:8086/prefix/"
        );
        assert_eq!(
            without_credentials("http://127.0.0.1:8086"),
            "http://127.0.0.1:8086/"
        );
        assert_eq!(
            without_credentials("not a url"),
            "the URL in MONITORS_INFLUX_URL"
        );
    }

    #[test]
    fn gzip_bodies_are_limited_after_decompression() {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&vec![b'#'; 10_000]).unwrap();
        let compressed = Bytes::from(encoder.finish().unwrap());
        assert_eq!(
            decode(compressed.clone(), true, 10_000).unwrap().len(),
            10_000
        );
        assert!(matches!(
            decode(compressed, true, 9_999),
            Err(WriteError::TooLarge)
        ));
        assert!(matches!(
            decode(Bytes::from_static(b"not gzip"), true, 100),
            Err(WriteError::Invalid(_))
        ));
    }
}
