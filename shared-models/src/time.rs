//! Instants are stored as milliseconds since the Unix epoch: the one
//! representation that sorts, compares and round-trips identically on MySQL
//! and SQLite. [`Timestamp`] is that number as a type, so a point in time
//! cannot be mistaken for a span, and a span is always a [`Duration`].

use std::{
    fmt,
    ops::{Add, AddAssign, Sub},
    time::Duration,
};

use chrono::{DateTime, TimeZone, Utc};
use sea_orm::DeriveValueType;
use serde::{Deserialize, Serialize};

/// A point in time: milliseconds since the Unix epoch, stored as the same
/// BIGINT column a bare `i64` was, and serialised as that number.
#[derive(
    Debug,
    Default,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    DeriveValueType,
)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch, 1970-01-01T00:00:00Z.
    pub const EPOCH: Self = Self(0);
    /// The earliest instant: sorts before every real one.
    pub const MIN: Self = Self(i64::MIN);
    /// The latest instant: "never" for deadlines that do not expire.
    pub const MAX: Self = Self(i64::MAX);

    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// The time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}

/// A span as whole milliseconds, saturating at `i64::MAX`: the form spans take
/// in the database and in millisecond arithmetic.
pub fn duration_millis(span: Duration) -> i64 {
    i64::try_from(span.as_millis()).unwrap_or(i64::MAX)
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;

    /// Saturates at [`Timestamp::MAX`].
    fn add(self, span: Duration) -> Timestamp {
        Self(self.0.saturating_add(duration_millis(span)))
    }
}

impl AddAssign<Duration> for Timestamp {
    fn add_assign(&mut self, span: Duration) {
        *self = *self + span;
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Timestamp;

    /// Saturates at the earliest representable instant.
    fn sub(self, span: Duration) -> Timestamp {
        Self(self.0.saturating_sub(duration_millis(span)))
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(at: DateTime<Utc>) -> Self {
        Self(at.timestamp_millis())
    }
}

/// Saturating for times past the representable range.
impl From<std::time::SystemTime> for Timestamp {
    fn from(at: std::time::SystemTime) -> Self {
        Self::from(DateTime::<Utc>::from(at))
    }
}

impl From<Timestamp> for DateTime<Utc> {
    fn from(at: Timestamp) -> Self {
        at.to_datetime()
    }
}

/// RFC 3339 with millisecond precision and a `Z` suffix, as shown to clients.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            &self
                .to_datetime()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        )
    }
}

pub fn to_millis(at: DateTime<Utc>) -> i64 {
    Timestamp::from(at).as_millis()
}

pub fn from_millis(millis: i64) -> DateTime<Utc> {
    Timestamp::from_millis(millis).to_datetime()
}

/// RFC 3339 with millisecond precision and a `Z` suffix, as shown to clients.
pub fn format_millis(millis: i64) -> String {
    Timestamp::from_millis(millis).to_string()
}

/// The source of "now". Services take one so that tests can move time
/// forward without sleeping.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    fn now(&self) -> Timestamp;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Utc::now().into()
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock(std::sync::Mutex<Timestamp>);

impl ManualClock {
    pub fn new(start: impl Into<Timestamp>) -> Self {
        Self(std::sync::Mutex::new(start.into()))
    }

    fn at(&self) -> std::sync::MutexGuard<'_, Timestamp> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.at();
        *now = Timestamp(now.0.saturating_add(by.num_milliseconds()));
    }

    /// Moves the clock to `millis` since the epoch.
    pub fn set_millis(&self, millis: i64) {
        *self.at() = Timestamp(millis);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.at()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_and_since_is_never_negative() {
        let at = Timestamp::from_millis(1_000);
        assert_eq!((at + Duration::from_millis(500)).as_millis(), 1_500);
        assert_eq!((at - Duration::from_millis(1_500)).as_millis(), -500);
        assert_eq!(Timestamp::MAX + Duration::from_secs(1), Timestamp::MAX);
        assert_eq!(
            Timestamp::from_millis(i64::MIN) - Duration::from_secs(1),
            Timestamp::from_millis(i64::MIN)
        );
        assert_eq!(at.since(Timestamp::EPOCH), Duration::from_secs(1));
        assert_eq!(Timestamp::EPOCH.since(at), Duration::ZERO);
        assert_eq!(duration_millis(Duration::MAX), i64::MAX);
    }

    #[test]
    fn displays_rfc3339_with_milliseconds_and_round_trips_chrono() {
        let at = Timestamp::from_millis(1_764_979_200_123);
        assert_eq!(at.to_string(), "2025-12-06T00:00:00.123Z");
        assert_eq!(Timestamp::from(at.to_datetime()), at);
        assert_eq!(serde_json::to_string(&at).unwrap(), "1764979200123");
        assert_eq!(
            serde_json::from_str::<Timestamp>("1764979200123").unwrap(),
            at
        );
    }
}
