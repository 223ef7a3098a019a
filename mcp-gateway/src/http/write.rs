//! InfluxDB line-protocol writes into the built-in metrics store: the 1.x
//! `POST /write?db=` and 2.x `POST /api/v2/write?bucket=` endpoints, so that
//! Telegraf and the InfluxDB client libraries write here unchanged.

use std::{collections::BTreeMap, io::Read};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, FromRequestParts, Query, State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode, header, request::Parts},
    middleware,
    response::{IntoResponse, Response},
    routing::post,
};
use base64::Engine;
use flate2::read::MultiGzDecoder;
use influxdb_line_protocol::{FieldValue, ParsedLine};
use serde::Deserialize;
use serde_json::json;
use shared_models::series::series_key;

use crate::{
    app::AppState,
    auth::{AuthError, Challenge, Principal, authenticate, scope::Scope},
    error::{Error, chain},
    http::body_limit::refuse_declared_oversize,
    store::NewPoint,
};

/// Line-protocol batches are far larger than JSON-RPC calls (Telegraf sends
/// 1,000 metrics at a time), so the write endpoints accept this many times
/// `max_body_bytes` of line protocol, whether sent plain or gzip-compressed.
pub const WRITE_BODY_FACTOR: usize = 16;

const MAX_DB_NAME: usize = 64;
const MAX_NAME: usize = 256;
/// The `tags` column is a MySQL TEXT.
const MAX_TAGS_JSON: usize = 65_535;

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
    WriteAuth(principal): WriteAuth,
    params: Result<Query<V1Params>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, WriteError> {
    let Query(params) = params.map_err(|e| WriteError::Invalid(e.body_text()))?;
    let db = database_name(params.db, "db")?;
    let precision = Precision::v1(params.precision.as_deref())?;
    write(state, principal, db, precision, &headers, body).await
}

async fn write_v2(
    State(state): State<AppState>,
    WriteAuth(principal): WriteAuth,
    params: Result<Query<V2Params>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, WriteError> {
    let Query(params) = params.map_err(|e| WriteError::Invalid(e.body_text()))?;
    let db = database_name(params.bucket, "bucket")?;
    let precision = Precision::v2(params.precision.as_deref())?;
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
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => WriteError::TooLarge,
        _ => WriteError::Invalid(rejection.body_text()),
    })?;
    let gzip = content_encoding_is_gzip(headers)?;
    let limit = write_limit(&state);
    // Decompressing and parsing a few MiB is CPU work: keep it off the
    // threads that serve other requests.
    let points = tokio::task::spawn_blocking(move || {
        let body = decode(body, gzip, limit)?;
        parse(text(&body)?, &db, precision)
    })
    .await
    .map_err(WriteError::Task)??;
    let stored = state
        .store
        .insert_points(principal.user_id, points)
        .await
        .map_err(WriteError::Store)?;
    tracing::debug!(stored, "points written");
    Ok(StatusCode::NO_CONTENT)
}

/// The principal of a write: the `Authorization` header as on `/mcp`, or,
/// for InfluxDB 1.x clients, the token as the password of HTTP Basic auth
/// or of the `p=` query parameter (the user name is ignored).
struct WriteAuth(Principal);

impl FromRequestParts<AppState> for WriteAuth {
    type Rejection = Challenge;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let principal = if let Some(password) = basic_password(parts) {
            authenticate(state, &password).await
        } else if parts.headers.contains_key(header::AUTHORIZATION) {
            return Principal::from_request_parts(parts, state)
                .await
                .and_then(|principal| writer(state, principal));
        } else {
            #[derive(Deserialize)]
            struct Password {
                p: Option<String>,
            }
            match Query::<Password>::try_from_uri(&parts.uri)
                .ok()
                .and_then(|Query(q)| q.p)
                .filter(|p| !p.is_empty())
            {
                Some(password) => authenticate(state, &password).await,
                None => Err(AuthError::Missing),
            }
        };
        principal
            .map_err(|error| state.challenge(error))
            .and_then(|principal| writer(state, principal))
    }
}

/// Writing points is writing: it needs `alerts:write`.
fn writer(state: &AppState, principal: Principal) -> Result<WriteAuth, Challenge> {
    if principal.scopes.contains(Scope::AlertsWrite) {
        Ok(WriteAuth(principal))
    } else {
        Err(state.challenge(AuthError::InsufficientScope(Scope::AlertsWrite)))
    }
}

fn basic_password(parts: &Parts) -> Option<String> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (_, password) = decoded.split_once(':')?;
    Some(password.to_owned())
}

/// Why a write was refused; the text of a client error is its answer.
#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error("{0}")]
    Invalid(String),
    #[error("line {line}: {reason}")]
    Line { line: usize, reason: String },
    #[error("the request body is over the size limit")]
    TooLarge,
    #[error("unsupported Content-Encoding {0:?}: send gzip or identity")]
    Encoding(String),
    #[error("storing the points failed")]
    Store(#[source] Error),
    #[error("the write could not be processed")]
    Task(#[source] tokio::task::JoinError),
}

impl IntoResponse for WriteError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::Invalid(_) | Self::Line { .. } => StatusCode::BAD_REQUEST,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Encoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Store(_) | Self::Task(_) => {
                tracing::error!(error = %chain(&self), "write failed");
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({"error": "internal error; the write was not stored"})),
                )
                    .into_response();
            }
        };
        (status, Json(json!({"error": self.to_string()}))).into_response()
    }
}

fn database_name(name: Option<String>, param: &str) -> Result<String, WriteError> {
    let name = name.unwrap_or_default();
    if name.is_empty() {
        return Err(WriteError::Invalid(format!(
            "the {param} query parameter is required"
        )));
    }
    if name.chars().count() > MAX_DB_NAME {
        return Err(WriteError::Invalid(format!(
            "{param} is longer than {MAX_DB_NAME} characters"
        )));
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

/// The body as text; invalid UTF-8 is a bad line like any other.
fn text(body: &[u8]) -> Result<&str, WriteError> {
    std::str::from_utf8(body).map_err(|e| WriteError::Line {
        line: 1 + body[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count(),
        reason: "not valid UTF-8".to_owned(),
    })
}

/// The unit of the timestamps in a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Precision {
    Nanos,
    Micros,
    Millis,
    Seconds,
    Minutes,
    Hours,
}

impl Precision {
    /// InfluxDB 1.x spellings; nanoseconds when absent.
    fn v1(value: Option<&str>) -> Result<Self, WriteError> {
        Ok(match value.unwrap_or("ns") {
            "n" | "ns" => Self::Nanos,
            "u" | "us" | "µ" => Self::Micros,
            "ms" => Self::Millis,
            "s" => Self::Seconds,
            "m" => Self::Minutes,
            "h" => Self::Hours,
            other => return Err(Self::unknown(other, "ns, u, ms, s, m or h")),
        })
    }

    /// InfluxDB 2.x spellings; nanoseconds when absent.
    fn v2(value: Option<&str>) -> Result<Self, WriteError> {
        Ok(match value.unwrap_or("ns") {
            "ns" => Self::Nanos,
            "us" => Self::Micros,
            "ms" => Self::Millis,
            "s" => Self::Seconds,
            other => return Err(Self::unknown(other, "ns, us, ms or s")),
        })
    }

    fn unknown(value: &str, expected: &str) -> WriteError {
        let value: String = value.chars().take(16).collect();
        WriteError::Invalid(format!("precision {value:?} is not one of {expected}"))
    }

    /// Milliseconds since the epoch, rounded down; `None` on overflow.
    fn to_millis(self, timestamp: i64) -> Option<i64> {
        match self {
            Self::Nanos => Some(timestamp.div_euclid(1_000_000)),
            Self::Micros => Some(timestamp.div_euclid(1_000)),
            Self::Millis => Some(timestamp),
            Self::Seconds => timestamp.checked_mul(1_000),
            Self::Minutes => timestamp.checked_mul(60_000),
            Self::Hours => timestamp.checked_mul(3_600_000),
        }
    }
}

/// Every numeric field of every line as a point; the first bad line refuses
/// the whole body, naming its number (1-based, as an editor counts).
fn parse(text: &str, db: &str, precision: Precision) -> Result<Vec<NewPoint>, WriteError> {
    let mut points = Vec::new();
    let mut next_line = 1;
    for raw in influxdb_line_protocol::split_lines(text) {
        let line = next_line;
        // A quoted string field may hold newlines; count them so that later
        // line numbers stay right.
        next_line += 1 + raw.matches('\n').count();
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        // Blank lines and `#` comments parse to nothing.
        let Some(parsed) = influxdb_line_protocol::parse_lines(raw).next() else {
            continue;
        };
        let parsed = parsed.map_err(|e| WriteError::Line {
            line,
            reason: e.to_string(),
        })?;
        points_of_line(parsed, db, precision, &mut points)
            .map_err(|reason| WriteError::Line { line, reason })?;
    }
    Ok(points)
}

fn points_of_line(
    parsed: ParsedLine<'_>,
    db: &str,
    precision: Precision,
    out: &mut Vec<NewPoint>,
) -> Result<(), String> {
    let measurement = parsed.series.measurement.as_str();
    check_name("measurement", measurement)?;
    let mut tags = BTreeMap::new();
    for (key, value) in parsed.series.tag_set.iter().flatten() {
        if tags
            .insert(key.as_str().to_owned(), value.as_str().to_owned())
            .is_some()
        {
            return Err(format!("tag {:?} is repeated", key.as_str()));
        }
    }
    let tags_json = serde_json::to_string(&tags).map_err(|e| e.to_string())?;
    if tags_json.len() > MAX_TAGS_JSON {
        return Err(format!("the tags are longer than {MAX_TAGS_JSON} bytes"));
    }
    let key = series_key(&tags);
    let time = parsed
        .timestamp
        .map(|ts| {
            precision
                .to_millis(ts)
                .ok_or_else(|| format!("timestamp {ts} is out of range for its precision"))
        })
        .transpose()?;
    // A field repeated on one line: the last value wins, as in InfluxDB.
    let mut fields: Vec<(&str, f64)> = Vec::with_capacity(parsed.field_set.len());
    for (name, value) in &parsed.field_set {
        let value = match value {
            FieldValue::F64(v) if v.is_finite() => *v,
            FieldValue::F64(v) => return Err(format!("field {:?} is {v}", name.as_str())),
            FieldValue::I64(v) => *v as f64,
            FieldValue::U64(v) => *v as f64,
            FieldValue::Boolean(v) => f64::from(u8::from(*v)),
            // Rules compare numbers; text fields have nothing to compare.
            FieldValue::String(_) => continue,
        };
        check_name("field", name.as_str())?;
        match fields.iter_mut().find(|(n, _)| *n == name.as_str()) {
            Some(existing) => existing.1 = value,
            None => fields.push((name.as_str(), value)),
        }
    }
    out.extend(fields.into_iter().map(|(field, value)| NewPoint {
        db: db.to_owned(),
        measurement: measurement.to_owned(),
        field: field.to_owned(),
        series_key: key.clone(),
        tags: tags_json.clone(),
        time,
        value,
    }));
    Ok(())
}

fn check_name(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("the {what} name is empty"));
    }
    if name.chars().count() > MAX_NAME {
        return Err(format!(
            "the {what} name is longer than {MAX_NAME} characters"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str, precision: Precision) -> Vec<NewPoint> {
        parse(text, "monitors", precision).unwrap()
    }

    fn line_error(text: &str) -> (usize, String) {
        match parse(text, "monitors", Precision::Nanos) {
            Err(WriteError::Line { line, reason }) => (line, reason),
            other => panic!("expected a line error, got {other:?}"),
        }
    }

    #[test]
    fn numeric_fields_become_points_and_strings_are_skipped() {
        let points = parse_ok(
            "cpu,host=a,region=eu f=1.5,i=-2i,u=3u,b=true,off=f,s=\"x\" 1700000000123456789",
            Precision::Nanos,
        );
        let got: Vec<(&str, f64)> = points.iter().map(|p| (p.field.as_str(), p.value)).collect();
        assert_eq!(
            got,
            [
                ("f", 1.5),
                ("i", -2.0),
                ("u", 3.0),
                ("b", 1.0),
                ("off", 0.0)
            ]
        );
        let first = &points[0];
        assert_eq!(first.measurement, "cpu");
        assert_eq!(first.series_key, "host=a,region=eu");
        assert_eq!(first.tags, r#"{"host":"a","region":"eu"}"#);
        assert_eq!(first.time, Some(1_700_000_000_123));
    }

    #[test]
    fn precisions_scale_to_milliseconds() {
        let at = |text: &str, p| parse_ok(text, p)[0].time;
        assert_eq!(at("m v=1 1500", Precision::Nanos), Some(0));
        assert_eq!(at("m v=1 -1", Precision::Nanos), Some(-1));
        assert_eq!(at("m v=1 1500", Precision::Micros), Some(1));
        assert_eq!(at("m v=1 1500", Precision::Millis), Some(1500));
        assert_eq!(at("m v=1 2", Precision::Seconds), Some(2_000));
        assert_eq!(at("m v=1 2", Precision::Minutes), Some(120_000));
        assert_eq!(at("m v=1 2", Precision::Hours), Some(7_200_000));
        assert_eq!(at("m v=1", Precision::Seconds), None);
        assert!(matches!(
            parse(&format!("m v=1 {}", i64::MAX), "d", Precision::Hours),
            Err(WriteError::Line { line: 1, .. })
        ));
    }

    #[test]
    fn precision_spellings_per_api_version() {
        assert_eq!(Precision::v1(None).unwrap(), Precision::Nanos);
        assert_eq!(Precision::v1(Some("u")).unwrap(), Precision::Micros);
        assert_eq!(Precision::v1(Some("h")).unwrap(), Precision::Hours);
        assert_eq!(Precision::v2(Some("us")).unwrap(), Precision::Micros);
        assert!(Precision::v2(Some("h")).is_err());
        assert!(Precision::v1(Some("days")).is_err());
    }

    #[test]
    fn errors_name_the_line_counting_blank_comment_and_crlf_lines() {
        let (line, reason) = line_error("# header\r\n\r\nm v=1\r\nm v=\r\n");
        assert_eq!(line, 4, "{reason}");
        let (line, _) = line_error("m s=\"two\nlines\"\nm v=1\nm,t=1,t=2 v=1");
        assert_eq!(line, 4);
        let (_, reason) = line_error("m,t=1,t=2 v=1");
        assert!(reason.contains("repeated"), "{reason}");
        let (_, reason) = line_error(&format!("{} v=1", "m".repeat(257)));
        assert!(reason.contains("measurement"), "{reason}");
    }

    #[test]
    fn invalid_utf8_names_its_line() {
        match text(b"m v=1\nm,t=\xff v=1\n") {
            Err(WriteError::Line { line, reason }) => {
                assert_eq!((line, reason.as_str()), (2, "not valid UTF-8"))
            }
            other => panic!("expected a line error, got {other:?}"),
        }
    }

    #[test]
    fn repeated_fields_keep_the_last_value() {
        let points = parse_ok("m v=1,v=2", Precision::Nanos);
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].value, 2.0);
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
