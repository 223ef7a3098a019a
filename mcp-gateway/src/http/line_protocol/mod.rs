//! InfluxDB line protocol, read into points of the built-in metrics store.
//! A malformed line refuses the whole body, named by its number with the
//! reason in plain words; a well-formed field that is not a number is
//! dropped and reported, while every number of the body is kept.

use std::collections::{BTreeMap, HashMap};

use influxdb_line_protocol::{FieldValue, ParsedLine};
use shared_models::series::series_key;

use self::explain::explain;
use crate::store::NewPoint;

mod explain;
#[cfg(test)]
mod tests;

const MAX_NAME: usize = 256;
/// The `tags` column is a MySQL TEXT.
const MAX_TAGS_JSON: usize = 65_535;

/// What a correct line looks like, said with every line error.
const EXAMPLE: &str = "a correct line reads: measurement,tag=value field=1.5 1700000000000000000 \
     (tags and the timestamp may be left out)";

/// A line that cannot be read; `line` counts from 1, as an editor does.
#[derive(Debug, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub reason: String,
}

/// The points of a body, and the fields that were not numbers.
#[derive(Debug, Default)]
pub struct Parsed {
    pub points: Vec<NewPoint>,
    /// In order of first appearance.
    pub dropped: Vec<Dropped>,
}

/// A non-numeric field, over every line of a body that carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub measurement: String,
    pub field: String,
    /// "string" or "boolean".
    pub kind: &'static str,
    /// How many values were dropped.
    pub count: usize,
    pub first_line: usize,
}

/// The unit of the timestamps in a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    Nanos,
    Micros,
    Millis,
    Seconds,
    Minutes,
    Hours,
}

impl Precision {
    /// InfluxDB 1.x spellings; nanoseconds when absent.
    pub fn v1(value: Option<&str>) -> Result<Self, String> {
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
    pub fn v2(value: Option<&str>) -> Result<Self, String> {
        Ok(match value.unwrap_or("ns") {
            "ns" => Self::Nanos,
            "us" => Self::Micros,
            "ms" => Self::Millis,
            "s" => Self::Seconds,
            other => return Err(Self::unknown(other, "ns, us, ms or s")),
        })
    }

    fn unknown(value: &str, expected: &str) -> String {
        let value: String = value.chars().take(16).collect();
        format!("precision {value:?} is not one of {expected}")
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

/// The body as text; invalid UTF-8 is a bad line like any other.
pub fn text(body: &[u8]) -> Result<&str, LineError> {
    std::str::from_utf8(body).map_err(|e| LineError {
        line: 1 + body[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count(),
        reason: "it is not valid UTF-8; line protocol is UTF-8 text".to_owned(),
    })
}

/// Every numeric field of every line as a point; the first bad line refuses
/// the whole body.
pub fn parse(text: &str, db: &str, precision: Precision) -> Result<Parsed, LineError> {
    let mut parsed = Parsed::default();
    let mut dropped_at: HashMap<(String, String, &'static str), usize> = HashMap::new();
    let mut next_line = 1;
    for raw in influxdb_line_protocol::split_lines(text) {
        let line = next_line;
        // A quoted string field may hold newlines; count them so that later
        // line numbers stay right.
        next_line += 1 + raw.matches('\n').count();
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        // Blank lines and `#` comments parse to nothing.
        let Some(read) = influxdb_line_protocol::parse_lines(raw).next() else {
            continue;
        };
        let read = read.map_err(|error| LineError {
            line,
            reason: format!("{}; {EXAMPLE}", explain(raw, &error)),
        })?;
        let measurement = read.series.measurement.as_str().to_owned();
        for (field, kind) in
            points_of_line(read, db, precision, &mut parsed.points).map_err(|reason| LineError {
                line,
                reason: format!("{reason}; {EXAMPLE}"),
            })?
        {
            let key = (measurement.clone(), field, kind);
            match dropped_at.get(&key) {
                Some(&i) => parsed.dropped[i].count += 1,
                None => {
                    dropped_at.insert(key.clone(), parsed.dropped.len());
                    parsed.dropped.push(Dropped {
                        measurement: key.0,
                        field: key.1,
                        kind,
                        count: 1,
                        first_line: line,
                    });
                }
            }
        }
    }
    Ok(parsed)
}

/// Adds the numeric fields of one line to `out`; returns the fields that
/// are not numbers, with their kind.
fn points_of_line(
    parsed: ParsedLine<'_>,
    db: &str,
    precision: Precision,
    out: &mut Vec<NewPoint>,
) -> Result<Vec<(String, &'static str)>, String> {
    let measurement = parsed.series.measurement.as_str();
    check_name("measurement", measurement)?;
    let mut tags = BTreeMap::new();
    for (key, value) in parsed.series.tag_set.iter().flatten() {
        if tags
            .insert(key.as_str().to_owned(), value.as_str().to_owned())
            .is_some()
        {
            return Err(format!(
                "tag {:?} is repeated; give each tag once",
                key.as_str()
            ));
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
    let mut fields: Vec<(&str, Result<f64, &'static str>)> =
        Vec::with_capacity(parsed.field_set.len());
    for (name, value) in &parsed.field_set {
        let value = match value {
            FieldValue::F64(v) if v.is_finite() => Ok(*v),
            FieldValue::F64(v) => {
                return Err(format!(
                    "field {:?} is {v}, which is not a finite number",
                    name.as_str()
                ));
            }
            FieldValue::I64(v) => Ok(*v as f64),
            FieldValue::U64(v) => Ok(*v as f64),
            // Rules compare numbers, and so does InfluxDB once a field has
            // a type: these are refused as type conflicts.
            FieldValue::Boolean(_) => Err("boolean"),
            FieldValue::String(_) => Err("string"),
        };
        check_name("field", name.as_str())?;
        match fields.iter_mut().find(|(n, _)| *n == name.as_str()) {
            Some(existing) => existing.1 = value,
            None => fields.push((name.as_str(), value)),
        }
    }
    let mut refused = Vec::new();
    for (field, value) in fields {
        match value {
            Ok(value) => out.push(NewPoint {
                db: db.to_owned(),
                measurement: measurement.to_owned(),
                field: field.to_owned(),
                series_key: key.clone(),
                tags: tags_json.clone(),
                time,
                value,
            }),
            Err(kind) => refused.push((field.to_owned(), kind)),
        }
    }
    Ok(refused)
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
