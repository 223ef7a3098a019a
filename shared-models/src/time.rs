//! Instants are stored as milliseconds since the Unix epoch: the one
//! representation that sorts, compares and round-trips identically on MySQL
//! and SQLite.

use chrono::{DateTime, TimeZone, Utc};

pub fn to_millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub fn from_millis(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(millis)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// RFC 3339 with millisecond precision and a `Z` suffix, as shown to clients.
pub fn format_millis(millis: i64) -> String {
    from_millis(millis).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
