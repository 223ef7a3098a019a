//! InfluxQL text: quoting, and the statements this source sends.
//!
//! Quoting keeps to what both parsers accept, the Go scanner of InfluxDB 1.x
//! and the Rust parser of 3.x: inside a double-quoted identifier only `\\`,
//! `\"` and `\n` are escapes, inside a single-quoted string only `\\`, `\'`
//! and `\n`. Every other character goes in as itself, so no input can end a
//! token early or start a new statement.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};

/// The first character no quoted InfluxQL token can carry, if any. The 1.x
/// reader turns `\r` into a newline, which ends a quoted token with a parse
/// error, and reads NUL as the end of input; neither has an escape.
pub(super) fn inexpressible(raw: &str) -> Option<char> {
    raw.chars().find(|c| matches!(c, '\r' | '\0'))
}

/// `"raw"`, for measurement, field and tag names.
pub(super) fn push_ident(out: &mut String, raw: &str) {
    push_quoted(out, '"', raw);
}

/// `'raw'`, for tag values and time literals.
pub(super) fn push_string(out: &mut String, raw: &str) {
    push_quoted(out, '\'', raw);
}

fn push_quoted(out: &mut String, quote: char, raw: &str) {
    out.reserve(raw.len() + 2);
    out.push(quote);
    for c in raw.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// `/^prefix/`, matching names that start with `prefix` taken literally.
pub(super) fn push_prefix_regex(out: &mut String, prefix: &str) {
    out.push_str("/^");
    push_regex_literal(out, prefix);
    out.push('/');
}

/// `/^(?:a|b|..)$/`, matching exactly one of `values`. An empty value
/// matches a series without the tag, as `= ''` does.
fn push_any_of_regex(out: &mut String, values: &[&str]) {
    out.push_str("/^(?:");
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push('|');
        }
        push_regex_literal(out, value);
    }
    out.push_str(")$/");
}

/// `raw` as a regex matching itself. Every character but ASCII letters,
/// digits and `_` is written as `\x{..}`, which Go's RE2 and Rust's `regex`
/// both read as that one character. So no regex metacharacter takes effect,
/// no `/` ends the literal, no newline reaches the scanner, and no backslash
/// sits before the closing `/` (both scanners read `\/` as an escaped
/// delimiter whatever precedes it).
fn push_regex_literal(out: &mut String, raw: &str) {
    for c in raw.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else {
            // Writing into a String cannot fail.
            let _ = write!(out, "\\x{{{:x}}}", u32::from(c));
        }
    }
}

/// Which series a `Select` reads, by tag.
#[derive(Debug, Clone, Copy)]
pub(super) enum Filter<'a> {
    /// `"k1" = 'v1' AND "k2" = 'v2' ..`, one value per key.
    Equal {
        keys: &'a [&'a str],
        values: &'a [&'a str],
    },
    /// `"k1" =~ /^(?:a|b)$/ AND ..`: each key takes any of its values.
    /// Merged statements use it rather than an `OR` per query, which
    /// InfluxDB 1.x plans in time quadratic in the number of terms.
    AnyOf {
        keys: &'a [&'a str],
        values: &'a [Vec<&'a str>],
    },
}

/// One `SELECT <function>("field")` over the half-open window `(after, until]`,
/// so that a point on a boundary counts in one of two adjacent windows only.
#[derive(Debug, Clone, Copy)]
pub(super) struct Select<'a> {
    pub measurement: &'a str,
    pub field: &'a str,
    pub function: &'static str,
    pub after: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub filter: Filter<'a>,
    pub group_by: &'a [&'a str],
}

impl Select<'_> {
    pub(super) fn write(&self, out: &mut String) {
        out.push_str("SELECT ");
        out.push_str(self.function);
        out.push('(');
        push_ident(out, self.field);
        out.push_str(") FROM ");
        push_ident(out, self.measurement);
        out.push_str(" WHERE time > ");
        push_time(out, self.after);
        out.push_str(" AND time <= ");
        push_time(out, self.until);
        match self.filter {
            Filter::Equal { keys, values } => {
                for (key, value) in keys.iter().zip(values) {
                    out.push_str(" AND ");
                    push_ident(out, key);
                    out.push_str(" = ");
                    push_string(out, value);
                }
            }
            Filter::AnyOf { keys, values } => {
                for (key, values) in keys.iter().zip(values) {
                    out.push_str(" AND ");
                    push_ident(out, key);
                    out.push_str(" =~ ");
                    push_any_of_regex(out, values);
                }
            }
        }
        if !self.group_by.is_empty() {
            out.push_str(" GROUP BY ");
            push_ident_list(out, self.group_by);
        }
    }
}

fn push_time(out: &mut String, at: DateTime<Utc>) {
    push_string(out, &at.to_rfc3339_opts(SecondsFormat::Nanos, true));
}

fn push_ident_list(out: &mut String, idents: &[&str]) {
    for (i, ident) in idents.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_ident(out, ident);
    }
}

/// `SHOW MEASUREMENTS [WITH MEASUREMENT =~ /^prefix/] LIMIT n`.
pub(super) fn show_measurements(prefix: Option<&str>, limit: usize) -> String {
    let mut out = String::from("SHOW MEASUREMENTS");
    if let Some(prefix) = prefix.filter(|p| !p.is_empty()) {
        out.push_str(" WITH MEASUREMENT =~ ");
        push_prefix_regex(&mut out, prefix);
    }
    push_limit(&mut out, limit);
    out
}

/// ` LIMIT n`, at most `i64::MAX`: InfluxQL reads a 64-bit signed integer,
/// and anything larger fails the whole request as a parse error.
fn push_limit(out: &mut String, limit: usize) {
    let limit = u64::try_from(limit)
        .unwrap_or(u64::MAX)
        .min(i64::MAX.unsigned_abs());
    let _ = write!(out, " LIMIT {limit}");
}

/// `SHOW FIELD KEYS FROM "measurement"`.
pub(super) fn show_field_keys(measurement: &str) -> String {
    let mut out = String::from("SHOW FIELD KEYS FROM ");
    push_ident(&mut out, measurement);
    out
}

/// `SHOW TAG KEYS FROM "measurement"`.
pub(super) fn show_tag_keys(measurement: &str) -> String {
    let mut out = String::from("SHOW TAG KEYS FROM ");
    push_ident(&mut out, measurement);
    out
}

/// `SHOW TAG VALUES FROM "measurement" WITH KEY = "key" LIMIT n`.
pub(super) fn show_tag_values(measurement: &str, key: &str, limit: usize) -> String {
    let mut out = String::from("SHOW TAG VALUES FROM ");
    push_ident(&mut out, measurement);
    out.push_str(" WITH KEY = ");
    push_ident(&mut out, key);
    push_limit(&mut out, limit);
    out
}

#[cfg(test)]
mod tests;
