//! InfluxDB line protocol, read into points of the built-in metrics store.
//! A malformed line refuses the whole body, named by its number with the
//! reason in plain words; a well-formed field that is not a number is
//! dropped and reported, while every number of the body is kept.

use std::collections::{BTreeMap, HashMap};

use influxdb_line_protocol::{FieldValue, ParsedLine};
use shared_models::series::series_key;

use crate::store::NewPoint;

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

/// What is wrong with a line the parser refused, in plain words: found by
/// reading the line again part by part, since the parser's own errors are
/// mostly about its internals.
fn explain(raw: &str, error: &influxdb_line_protocol::Error) -> String {
    use influxdb_line_protocol::Error as E;
    if let Some(reason) = diagnose(raw.trim_start_matches([' ', '\t'])) {
        return reason;
    }
    match error {
        E::DuplicateTag { tag_key } => format!("tag {tag_key:?} is repeated; give each tag once"),
        E::MeasurementValueInvalid => "the line does not start with a measurement name".to_owned(),
        E::FieldSetMissing => "the line has no fields".to_owned(),
        E::IntegerValueInvalid { value, .. } => {
            format!("the integer {} is out of range", shown(value))
        }
        E::UIntegerValueInvalid { value, .. } => {
            format!("the unsigned integer {} is out of range", shown(value))
        }
        E::FloatValueInvalid { value, .. } => format!("{} is not a number", shown(value)),
        E::TimestampValueInvalid { value, .. } => format!(
            "the timestamp {} is not a whole number in range",
            shown(value)
        ),
        E::EndsWithBackslash => "a name or tag value ends with a backslash".to_owned(),
        E::CannotParseEntireLine { trailing_content } => {
            format!("unexpected text {}", shown(trailing_content))
        }
        E::TagSetMalformed => "the tags are malformed; each reads ,name=value".to_owned(),
        _ => "the line could not be read".to_owned(),
    }
}

/// A part of a line quoted for an error message, cut short if long.
fn shown(part: &str) -> String {
    const MAX: usize = 40;
    if part.chars().count() > MAX {
        let head: String = part.chars().take(MAX).collect();
        format!("\"{}…\"", head.escape_debug())
    } else {
        format!("{part:?}")
    }
}

/// The separator of the parts of a line: a space, never a tab.
fn is_space(c: char) -> bool {
    c == ' '
}

/// `text` up to the first unescaped character for which `stop` holds, and
/// the rest from that character on.
fn split_unescaped(text: &str, stop: impl Fn(char) -> bool) -> (&str, &str) {
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if stop(c) {
            return (&text[..i], &text[i..]);
        }
    }
    (text, "")
}

/// The first thing wrong with `line`, part by part; `None` if this reading
/// finds nothing (the parser's own reason is used then).
fn diagnose(line: &str) -> Option<String> {
    let (series, rest) = split_unescaped(line, is_space);
    let (measurement, mut tags) = split_unescaped(series, |c| c == ',');
    if measurement.is_empty() {
        return Some("the line does not start with a measurement name".to_owned());
    }
    if measurement.ends_with('\\') {
        return Some(format!(
            "the measurement name {} ends with a backslash",
            shown(measurement)
        ));
    }
    // As the parser reads them: a tag name runs to its `=` (commas
    // included), a value to the next comma.
    while let Some(after_comma) = tags.strip_prefix(',') {
        let (key, after_key) = split_unescaped(after_comma, |c| c == '=');
        let Some(after_equals) = after_key.strip_prefix('=') else {
            return Some(if key.is_empty() {
                "there is an empty tag (a comma before the space)".to_owned()
            } else {
                format!("tag {} has no value; write it as name=value", shown(key))
            });
        };
        let (value, next) = split_unescaped(after_equals, |c| c == ',');
        tags = next;
        if key.is_empty() {
            return Some(format!("a tag has no name before ={}", shown(value)));
        }
        if value.is_empty() {
            return Some(format!(
                "tag {} has an empty value; leave the tag out instead",
                shown(key)
            ));
        }
        if key.ends_with('\\') || value.ends_with('\\') {
            return Some(format!("tag {} ends with a backslash", shown(key)));
        }
    }
    let fields = rest.trim_start_matches(is_space);
    if fields.is_empty() {
        return Some(if series.contains('=') {
            "the line has no fields; put a space between the tags and the fields".to_owned()
        } else {
            "the line has no fields; after the measurement and tags put a space, then at \
             least one field such as value=1.5"
                .to_owned()
        });
    }
    diagnose_fields(fields)
}

fn diagnose_fields(mut rest: &str) -> Option<String> {
    loop {
        // A field name runs to its `=`, commas included, as the parser
        // reads it.
        let (key, after_key) = split_unescaped(rest, |c| c == '=' || is_space(c));
        let Some(value_and_rest) = after_key.strip_prefix('=') else {
            return Some(if key.is_empty() {
                "there is an empty field (a comma before a space)".to_owned()
            } else if after_key.starts_with(is_space) {
                format!(
                    "field {} has no value; write it as {key}=1.5, or, if it belongs to the \
                     measurement or a tag value, escape the space before it as \\ and a space",
                    shown(key)
                )
            } else {
                format!("field {} has no value; write it as {key}=1.5", shown(key))
            });
        };
        if key.is_empty() {
            return Some(format!(
                "a field has no name before ={}",
                shown(split_unescaped(value_and_rest, |c| c == ',' || is_space(c)).0)
            ));
        }
        let after_value = if let Some(quoted) = value_and_rest.strip_prefix('"') {
            match closing_quote(quoted) {
                Some(end) => &quoted[end + 1..],
                None => {
                    return Some(format!(
                        "the text value of field {} has no closing double quote",
                        shown(key)
                    ));
                }
            }
        } else {
            let (value, after) = split_unescaped(value_and_rest, |c| c == ',' || is_space(c));
            if value.is_empty() {
                return Some(format!(
                    "field {} has no value; write it as {key}=1.5",
                    shown(key)
                ));
            }
            if let Some(reason) = bad_value(key, value) {
                return Some(reason);
            }
            after
        };
        if let Some(next) = after_value.strip_prefix(',') {
            rest = next;
            continue;
        }
        if after_value.is_empty() {
            return None;
        }
        if !after_value.starts_with(is_space) {
            return Some(format!(
                "field {} is followed by {}; separate fields with commas",
                shown(key),
                shown(after_value)
            ));
        }
        return diagnose_timestamp(after_value.trim_matches(is_space));
    }
}

/// The byte offset of the quote that closes a string value, in the text
/// after its opening quote.
fn closing_quote(quoted: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in quoted.char_indices() {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '"') => return Some(i),
            _ => {}
        }
    }
    None
}

/// Why an unquoted field value is not one line protocol accepts.
fn bad_value(key: &str, value: &str) -> Option<String> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let signed = |s: &str| digits(s.strip_prefix('-').unwrap_or(s));
    let float = |s: &str| {
        let s = s.strip_prefix('-').unwrap_or(s);
        let (mantissa, exponent) = match s.find(['e', 'E']) {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        };
        let mantissa_ok = match mantissa.split_once('.') {
            Some((whole, fraction)) => digits(whole) && digits(fraction),
            None => digits(mantissa),
        };
        let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)));
        mantissa_ok && exponent_ok
    };
    let boolean = matches!(
        value,
        "t" | "T" | "true" | "True" | "TRUE" | "f" | "F" | "false" | "False" | "FALSE"
    );
    if let Some(int) = value.strip_suffix('i')
        && signed(int)
    {
        return int.parse::<i64>().is_err().then(|| {
            format!(
                "the integer {} of field {} is out of range",
                shown(value),
                shown(key)
            )
        });
    }
    if let Some(uint) = value.strip_suffix('u')
        && digits(uint)
    {
        return uint.parse::<u64>().is_err().then(|| {
            format!(
                "the unsigned integer {} of field {} is out of range",
                shown(value),
                shown(key)
            )
        });
    }
    if float(value) || boolean {
        return None;
    }
    Some(format!(
        "field {} has the value {}, which is not a number (such as 1.5, -2i for an integer or 3u \
         for an unsigned one)",
        shown(key),
        shown(value)
    ))
}

fn diagnose_timestamp(rest: &str) -> Option<String> {
    let (timestamp, after) = split_unescaped(rest, is_space);
    if !after.trim_matches(is_space).is_empty() {
        return Some(format!(
            "unexpected {} after the timestamp; a space inside a name or tag value must be \
             escaped as \\ followed by the space",
            shown(after.trim_matches(is_space))
        ));
    }
    let whole = timestamp
        .strip_prefix('-')
        .unwrap_or(timestamp)
        .bytes()
        .all(|b| b.is_ascii_digit());
    if !whole || timestamp.parse::<i64>().is_err() {
        return Some(format!(
            "the timestamp {} is not a whole number (nanoseconds since 1970, or the unit the \
             precision parameter names)",
            shown(timestamp)
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str, precision: Precision) -> Parsed {
        parse(text, "monitors", precision).unwrap()
    }

    fn line_error(text: &str) -> (usize, String) {
        match parse(text, "monitors", Precision::Nanos) {
            Err(LineError { line, reason }) => (line, reason),
            Ok(parsed) => panic!("expected a line error, got {parsed:?}"),
        }
    }

    #[test]
    fn numeric_fields_become_points_and_others_are_dropped() {
        let parsed = parse_ok(
            "cpu,host=a,region=eu f=1.5,i=-2i,u=3u,b=true,off=f,s=\"x\" 1700000000123456789\n\
             cpu,host=b f=2,s=\"y\"\nmem s=\"z\"",
            Precision::Nanos,
        );
        let got: Vec<(&str, f64)> = parsed
            .points
            .iter()
            .map(|p| (p.field.as_str(), p.value))
            .collect();
        assert_eq!(got, [("f", 1.5), ("i", -2.0), ("u", 3.0), ("f", 2.0)]);
        let first = &parsed.points[0];
        assert_eq!(first.measurement, "cpu");
        assert_eq!(first.series_key, "host=a,region=eu");
        assert_eq!(first.tags, r#"{"host":"a","region":"eu"}"#);
        assert_eq!(first.time, Some(1_700_000_000_123));
        let dropped = |measurement: &str, field: &str, kind, count, first_line| Dropped {
            measurement: measurement.to_owned(),
            field: field.to_owned(),
            kind,
            count,
            first_line,
        };
        assert_eq!(
            parsed.dropped,
            [
                dropped("cpu", "b", "boolean", 1, 1),
                dropped("cpu", "off", "boolean", 1, 1),
                dropped("cpu", "s", "string", 2, 1),
                dropped("mem", "s", "string", 1, 3),
            ]
        );
    }

    #[test]
    fn precisions_scale_to_milliseconds() {
        let at = |text: &str, p| parse_ok(text, p).points[0].time;
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
            Err(LineError { line: 1, .. })
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
    fn malformed_lines_are_explained_in_plain_words() {
        for (line, expected) in [
            ("cpu", "the line has no fields; after the measurement"),
            ("cpu,host=a", "the line has no fields"),
            ("cpu,host=a,v=1", "the line has no fields"),
            (
                ",host=a v=1",
                "the line does not start with a measurement name",
            ),
            ("cpu,host v=1", "tag \"host\" has no value"),
            ("cpu,host= v=1", "tag \"host\" has an empty value"),
            ("cpu,=a v=1", "a tag has no name"),
            ("cpu, v=1", "there is an empty tag"),
            ("cpu\tv=1", "the line has no fields; put a space between"),
            ("cpu v", "field \"v\" has no value; write it as v=1.5"),
            ("cpu v=", "field \"v\" has no value"),
            ("cpu =1", "a field has no name before =\"1\""),
            (
                "cpu v=oops",
                "field \"v\" has the value \"oops\", which is not a number",
            ),
            ("cpu v=1.5x", "field \"v\" has the value \"1.5x\""),
            (
                "cpu v=\"open",
                "the text value of field \"v\" has no closing double quote",
            ),
            ("cpu v=\"a\"b", "field \"v\" is followed by \"b\""),
            (
                "cpu v=99999999999999999999i",
                "the integer \"99999999999999999999i\" of field \"v\" is out of range",
            ),
            (
                "cpu v=1 notatime",
                "the timestamp \"notatime\" is not a whole number",
            ),
            ("cpu v=1 1.5", "the timestamp \"1.5\" is not a whole number"),
            (
                "my cpu v=1",
                "field \"cpu\" has no value; write it as cpu=1.5, or",
            ),
            ("cpu v=1 1 2", "unexpected \"2\" after the timestamp"),
        ] {
            let (number, reason) = line_error(&format!("ok v=1\n{line}"));
            assert_eq!(number, 2, "{line}: {reason}");
            assert!(reason.starts_with(expected), "{line}: {reason}");
            assert!(reason.ends_with(EXAMPLE), "{line}: {reason}");
            for internal in ["TakeWhile", "Malformed", "generic", "nom"] {
                assert!(!reason.contains(internal), "{line}: {reason}");
            }
        }
    }

    #[test]
    fn invalid_utf8_names_its_line() {
        let error = text(b"m v=1\nm,t=\xff v=1\n").unwrap_err();
        assert_eq!(error.line, 2);
        assert!(error.reason.contains("not valid UTF-8"), "{}", error.reason);
    }

    #[test]
    fn repeated_fields_keep_the_last_value() {
        let parsed = parse_ok("m v=1,v=2\nm w=\"x\",w=3", Precision::Nanos);
        let got: Vec<(&str, f64)> = parsed
            .points
            .iter()
            .map(|p| (p.field.as_str(), p.value))
            .collect();
        assert_eq!(got, [("v", 2.0), ("w", 3.0)]);
        assert!(parsed.dropped.is_empty());
    }

    #[test]
    fn the_parser_and_the_explanation_agree_on_good_lines() {
        // Every line the parser takes, the explanation finds nothing wrong
        // with: it never blames a correct part of a bad line.
        for line in [
            "cpu v=1",
            "cpu,host=a v=1i,w=2u,x=-3.5e-2,y=t,z=\"a \\\"b\\\" c\" 1",
            "my\\ cpu,host\\ name=a\\,b v=1",
            "cpu v=1E5 -5",
        ] {
            assert!(
                influxdb_line_protocol::parse_lines(line).all(|l| l.is_ok()),
                "{line}"
            );
            assert_eq!(diagnose(line), None, "{line}");
        }
    }
}
