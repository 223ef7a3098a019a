use std::{fmt, str::FromStr, time::Duration};

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// A duration written the way operators write them: `30s`, `5m`, `2h`, `1d`,
/// or a sum such as `1h30m`. Units: `ms`, `s`, `m`, `h`, `d`, `w`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(Duration);

const UNITS: [(&str, u64); 6] = [
    ("w", 7 * 86_400_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "\"{input}\" is not a duration: write a whole number followed by a unit (ms, s, m, h, d, w), e.g. 30s, 5m, 1h30m"
)]
pub struct DurationParseError {
    input: String,
}

impl HumanDuration {
    pub const ZERO: Self = Self(Duration::ZERO);

    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    pub const fn from_millis(millis: u64) -> Self {
        Self(Duration::from_millis(millis))
    }

    pub fn as_duration(&self) -> Duration {
        self.0
    }

    pub fn as_millis(&self) -> u64 {
        u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX)
    }
}

impl From<Duration> for HumanDuration {
    fn from(span: Duration) -> Self {
        Self(span)
    }
}

impl FromStr for HumanDuration {
    type Err = DurationParseError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let error = || DurationParseError {
            input: input.chars().take(64).collect(),
        };
        let mut rest = input.trim();
        if rest.is_empty() {
            return Err(error());
        }
        let mut total: u64 = 0;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || digits > 12 {
                return Err(error());
            }
            let number: u64 = rest[..digits].parse().map_err(|_| error())?;
            rest = &rest[digits..];
            let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let unit = &rest[..unit_len];
            let scale = UNITS
                .iter()
                .find(|(name, _)| *name == unit)
                .map(|(_, scale)| *scale)
                .ok_or_else(error)?;
            total = number
                .checked_mul(scale)
                .and_then(|ms| total.checked_add(ms))
                .ok_or_else(error)?;
            rest = &rest[unit_len..];
        }
        Ok(Self::from_millis(total))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut remaining = self.as_millis();
        if remaining == 0 {
            return f.write_str("0s");
        }
        // Weeks parse but never print: "7d" reads more plainly than "1w".
        for (unit, scale) in UNITS.into_iter().skip(1) {
            if remaining >= scale {
                write!(f, "{}{unit}", remaining / scale)?;
                remaining %= scale;
            }
        }
        Ok(())
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = HumanDuration;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration string such as \"30s\", \"5m\" or \"2h\"")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

impl JsonSchema for HumanDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^([0-9]+(ms|s|m|h|d|w))+$",
            "description": "A duration: a whole number and a unit (ms, s, m, h, d, w), e.g. \"30s\", \"5m\", \"1h30m\".",
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn parses_common_forms() {
        assert_eq!(
            "30s".parse::<HumanDuration>().unwrap(),
            HumanDuration::from_secs(30)
        );
        assert_eq!(
            "5m".parse::<HumanDuration>().unwrap(),
            HumanDuration::from_secs(300)
        );
        assert_eq!(
            "1h30m".parse::<HumanDuration>().unwrap(),
            HumanDuration::from_secs(5400)
        );
        assert_eq!(
            "1d".parse::<HumanDuration>().unwrap(),
            HumanDuration::from_secs(86_400)
        );
        assert_eq!(
            "250ms".parse::<HumanDuration>().unwrap(),
            HumanDuration::from_millis(250)
        );
        assert_eq!("0s".parse::<HumanDuration>().unwrap(), HumanDuration::ZERO);
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "5",
            "m",
            "-5s",
            "5 m",
            "1.5h",
            "5y",
            "99999999999999999d",
            "5s5",
        ] {
            assert!(
                bad.parse::<HumanDuration>().is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn displays_canonically() {
        assert_eq!(HumanDuration::from_secs(5400).to_string(), "1h30m");
        assert_eq!(HumanDuration::from_secs(90).to_string(), "1m30s");
        assert_eq!(HumanDuration::ZERO.to_string(), "0s");
        assert_eq!("1w".parse::<HumanDuration>().unwrap().to_string(), "7d");
    }

    proptest! {
        #[test]
        fn display_round_trips(millis in 0u64..10_000_000_000_000) {
            let d = HumanDuration::from_millis(millis);
            prop_assert_eq!(d.to_string().parse::<HumanDuration>().unwrap(), d);
        }

        #[test]
        fn never_panics(input in ".{0,40}") {
            let _ = input.parse::<HumanDuration>();
        }
    }
}
