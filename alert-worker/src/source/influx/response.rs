//! The answer of `/query`: HTTP status and JSON body turned into one outcome
//! per statement, matched by `statement_id`, and the values of each series.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::source::SourceError;

/// What a request as a whole came to.
#[derive(Debug)]
pub(super) enum Answer {
    /// One outcome per statement sent, in order.
    Statements(Vec<Outcome>),
    /// The whole request was refused before any statement ran (a parse
    /// error, say); which statement caused it is not known.
    Rejected(String),
}

/// What one statement came to.
#[derive(Debug)]
pub(super) enum Outcome {
    Done(Result<Vec<Series>, SourceError>),
    /// InfluxDB 1.x stops at the first failing statement and answers it and
    /// every later one with "not executed", or with nothing at all; the
    /// statement has to be sent again to learn its own fate.
    NotExecuted,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Series {
    #[serde(default)]
    tags: Option<BTreeMap<String, Option<String>>>,
    #[serde(default)]
    columns: Vec<String>,
    #[serde(default)]
    values: Vec<Vec<Value>>,
    #[serde(default)]
    partial: bool,
}

impl Series {
    /// A tag's value. InfluxDB answers a group-by key that a series lacks
    /// with "", the same value a `"key" = ''` filter matches.
    pub(super) fn tag(&self, key: &str) -> &str {
        self.tags
            .as_ref()
            .and_then(|tags| tags.get(key))
            .and_then(|value| value.as_deref())
            .unwrap_or("")
    }

    /// The aggregate a `SELECT f(..)` produced: column 1 of the first row
    /// holding one. `None` when every row is null.
    pub(super) fn reduced(&self) -> Result<Option<f64>, SourceError> {
        if self.columns.len() < 2 {
            return Err(SourceError::Protocol(format!(
                "a series with columns {:?} has no value column",
                self.columns
            )));
        }
        for row in &self.values {
            match row.get(1) {
                Some(Value::Null) => {}
                Some(Value::Number(n)) => {
                    return n.as_f64().map(Some).ok_or_else(|| {
                        SourceError::Protocol(format!("{n} is not a representable number"))
                    });
                }
                Some(other) => {
                    return Err(SourceError::Refused(format!(
                        "the field holds non-numeric values (got {})",
                        kind(other)
                    )));
                }
                None => {
                    return Err(SourceError::Protocol(format!(
                        "a row of {} values under {} columns",
                        row.len(),
                        self.columns.len()
                    )));
                }
            }
        }
        Ok(None)
    }

    /// Every value of the named column, for `SHOW` statements.
    pub(super) fn column(&self, name: &str) -> Result<Vec<String>, SourceError> {
        let index = self.columns.iter().position(|c| c == name).ok_or_else(|| {
            SourceError::Protocol(format!("no column {name:?} in {:?}", self.columns))
        })?;
        self.values
            .iter()
            .map(|row| match row.get(index) {
                Some(Value::String(s)) => Ok(s.clone()),
                other => Err(SourceError::Protocol(format!(
                    "column {name:?} holds {}",
                    other.map_or("nothing", kind)
                ))),
            })
            .collect()
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    results: Vec<StatementResult>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct StatementResult {
    #[serde(default)]
    statement_id: Option<usize>,
    #[serde(default)]
    series: Vec<Series>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    partial: bool,
}

/// Reads the answer to a request of `statements` statements.
pub(super) fn parse(status: u16, body: &[u8], statements: usize) -> Result<Answer, SourceError> {
    match status {
        200..=299 => parse_ok(body, statements),
        300..=399 => Err(SourceError::Unreachable(format!(
            "answered with a redirect (HTTP {status}), which is not followed"
        ))),
        401 | 403 => Err(SourceError::Refused(format!(
            "not authorised (HTTP {status}): {}",
            message(body)
        ))),
        // A 4xx that explains itself in InfluxDB's own shape is about the
        // query; any other answer means the URL is not an InfluxDB or the
        // server is in trouble.
        400..=499 if status != 429 => match serde_json::from_slice::<Body>(body) {
            Ok(Body {
                error: Some(error), ..
            }) => Ok(Answer::Rejected(error)),
            _ => Err(SourceError::Unreachable(format!(
                "HTTP {status}: {}",
                message(body)
            ))),
        },
        _ => Err(SourceError::Unreachable(format!(
            "HTTP {status}: {}",
            message(body)
        ))),
    }
}

fn parse_ok(body: &[u8], statements: usize) -> Result<Answer, SourceError> {
    let body: Body = serde_json::from_slice(body)
        .map_err(|e| SourceError::Protocol(format!("the /query answer is not valid JSON: {e}")))?;
    if let Some(error) = body.error.filter(|e| !e.is_empty()) {
        return Ok(Answer::Rejected(error));
    }
    let mut merged: Vec<Option<StatementResult>> = (0..statements).map(|_| None).collect();
    for (position, result) in body.results.into_iter().enumerate() {
        let id = result.statement_id.unwrap_or(position);
        let Some(slot) = merged.get_mut(id) else {
            return Err(SourceError::Protocol(format!(
                "an answer for statement {id} of {statements}"
            )));
        };
        match slot {
            // A statement's series may come in several results; the last
            // one says whether the statement failed or was cut short.
            Some(earlier) => {
                earlier.series.extend(result.series);
                earlier.error = result.error.or(earlier.error.take());
                earlier.partial = result.partial;
            }
            None => *slot = Some(result),
        }
    }
    Ok(Answer::Statements(
        merged.into_iter().map(outcome).collect(),
    ))
}

fn outcome(result: Option<StatementResult>) -> Outcome {
    let Some(result) = result else {
        return Outcome::NotExecuted;
    };
    match result.error {
        Some(error) if error == "not executed" => Outcome::NotExecuted,
        Some(error) => Outcome::Done(Err(SourceError::Refused(error))),
        None if result.partial || result.series.last().is_some_and(|s| s.partial) => {
            Outcome::Done(Err(SourceError::Refused(
                "the answer was cut short by the server's row limit (max-row-limit)".to_owned(),
            )))
        }
        None => Outcome::Done(Ok(result.series)),
    }
}

/// The error InfluxDB gave, or the start of whatever else the body holds.
fn message(body: &[u8]) -> String {
    if let Ok(Body {
        error: Some(error), ..
    }) = serde_json::from_slice::<Body>(body)
    {
        return error;
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None if text.is_empty() => "(empty body)".to_owned(),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests;
