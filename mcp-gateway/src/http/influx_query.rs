//! InfluxDB 1.x `/query`, as far as write clients use it: Telegraf and the
//! client libraries send `CREATE DATABASE` before their first write, and some
//! list the databases with `SHOW DATABASES`. Nothing else is answered: the
//! points here are for alert rules, which read them themselves.

use axum::{
    Json,
    body::Bytes,
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    app::AppState,
    auth::scope::Scope,
    error::chain,
    http::{health::influx_version_header, influx_auth::InfluxPrincipal, write::database_name},
};

/// A statement this endpoint answers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Statement {
    /// A no-op: a database exists here once points are written to it.
    CreateDatabase(String),
    ShowDatabases,
}

impl Statement {
    fn scope(&self) -> Scope {
        match self {
            Self::CreateDatabase(_) => Scope::AlertsWrite,
            Self::ShowDatabases => Scope::AlertsRead,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct QueryParams {
    q: Option<String>,
}

/// `GET` or `POST /query?q=…`, or `POST` with `q` in a form body.
pub async fn query(
    State(state): State<AppState>,
    caller: InfluxPrincipal,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let statements = match statements_of(raw.as_deref(), &headers, &body) {
        Ok(statements) => statements,
        Err(reason) => return refused(&reason),
    };
    for scope in statements.iter().map(Statement::scope) {
        if let Err(challenge) = caller.require(&state, scope) {
            return challenge.into_response();
        }
    }
    let principal = caller.0;
    tracing::Span::current().record("user_id", tracing::field::display(principal.user_id));
    let mut results = Vec::with_capacity(statements.len());
    for (id, statement) in statements.iter().enumerate() {
        results.push(match statement {
            Statement::CreateDatabase(_) => json!({"statement_id": id}),
            Statement::ShowDatabases => {
                let mut names = match state.store.point_databases(principal.user_id).await {
                    Ok(names) => names,
                    Err(error) => {
                        tracing::error!(error = %chain(&error), "listing databases failed");
                        return (
                            StatusCode::INTERNAL_SERVER_ERROR,
                            [influx_version_header()],
                            Json(json!({"error": "internal error; the databases could not be listed"})),
                        )
                            .into_response();
                    }
                };
                names.push(state.config.sources.influx_database.clone());
                names.sort();
                names.dedup();
                let values: Vec<Value> = names.into_iter().map(|n| json!([n])).collect();
                json!({
                    "statement_id": id,
                    "series": [{"name": "databases", "columns": ["name"], "values": values}],
                })
            }
        });
    }
    (
        StatusCode::OK,
        [influx_version_header()],
        Json(json!({ "results": results })),
    )
        .into_response()
}

/// InfluxDB's answer to a query it cannot run: 400 and `{"error": …}`.
fn refused(reason: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [influx_version_header()],
        Json(json!({ "error": reason })),
    )
        .into_response()
}

/// The statements of the `q` parameter, from the URL or a form body.
fn statements_of(
    raw_query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<Statement>, String> {
    let from_url: QueryParams = serde_urlencoded::from_str(raw_query.unwrap_or_default())
        .map_err(|e| format!("the query string is malformed: {e}"))?;
    let q = match from_url.q {
        Some(q) => q,
        None if is_form(headers) && !body.is_empty() => {
            let form: QueryParams = serde_urlencoded::from_bytes(body)
                .map_err(|e| format!("the form body is malformed: {e}"))?;
            form.q.unwrap_or_default()
        }
        None => String::new(),
    };
    parse_statements(&q)
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// What this endpoint answers, said with every statement it refuses.
const ANSWERED: &str = "this server answers only CREATE DATABASE (a database exists here as soon as \
     points are written to it) and SHOW DATABASES; the points written here are read by alert rules, \
     and the list_metrics tool lists them";

fn parse_statements(q: &str) -> Result<Vec<Statement>, String> {
    let texts = split_statements(q)?;
    if texts.is_empty() {
        return Err(format!("missing required parameter \"q\"; {ANSWERED}"));
    }
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            parse_statement(text).map_err(|reason| {
                let shown: String = text.chars().take(60).collect();
                if texts.len() == 1 {
                    format!("{shown:?}: {reason}")
                } else {
                    format!("statement {} ({shown:?}): {reason}", i + 1)
                }
            })
        })
        .collect()
}

/// Words and quoted identifiers of one statement.
#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
}

/// The non-empty statements of `q`, split on semicolons outside quotes.
fn split_statements(q: &str) -> Result<Vec<&str>, String> {
    let mut statements = Vec::new();
    let mut start = 0;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in q.char_indices() {
        match (quote, c) {
            (Some(_), _) if escaped => escaped = false,
            (Some(_), '\\') => escaped = true,
            (Some(open), c) if c == open => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, ';') => {
                statements.push(&q[start..i]);
                start = i + 1;
            }
            (None, _) => {}
        }
    }
    if quote.is_some() {
        return Err("a quote is not closed".to_owned());
    }
    statements.push(&q[start..]);
    Ok(statements
        .into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect())
}

fn tokens(statement: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = statement.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut name = String::new();
            loop {
                match chars.next() {
                    Some('\\') => name.extend(chars.next()),
                    Some('"') => break,
                    Some(c) => name.push(c),
                    None => return Err("a quote is not closed".to_owned()),
                }
            }
            tokens.push(Token::Quoted(name));
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '"' {
                    break;
                }
                word.push(c);
                chars.next();
            }
            tokens.push(Token::Word(word));
        }
    }
    Ok(tokens)
}

fn parse_statement(text: &str) -> Result<Statement, String> {
    let tokens = tokens(text)?;
    let keyword = |i: usize, word: &str| matches!(tokens.get(i), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word));
    if keyword(0, "SHOW") && keyword(1, "DATABASES") {
        return match tokens.len() {
            2 => Ok(Statement::ShowDatabases),
            _ => Err("SHOW DATABASES takes nothing after it".to_owned()),
        };
    }
    if keyword(0, "CREATE") && keyword(1, "DATABASE") {
        let name = match tokens.get(2) {
            Some(Token::Quoted(name)) => name.clone(),
            Some(Token::Word(word)) if !word.eq_ignore_ascii_case("WITH") => word.clone(),
            _ => return Err("CREATE DATABASE needs a database name".to_owned()),
        };
        if name.is_empty() {
            return Err("CREATE DATABASE needs a database name".to_owned());
        }
        // `WITH DURATION … REPLICATION …` sets a retention policy, which
        // the built-in store does not have: points expire after the
        // installation's retention.
        if tokens.len() > 3 && !keyword(3, "WITH") {
            return Err("unexpected text after the database name".to_owned());
        }
        return database_name(Some(name), "the database name").map(Statement::CreateDatabase);
    }
    Err(format!("not answered here; {ANSWERED}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_and_show_databases_are_read_in_any_case_and_quoting() {
        let create = |name: &str| Statement::CreateDatabase(name.to_owned());
        for (q, expected) in [
            ("CREATE DATABASE \"telegraf\"", vec![create("telegraf")]),
            ("create database metrics", vec![create("metrics")]),
            (
                "CREATE DATABASE \"a;b \\\"c\\\"\" WITH DURATION 7d",
                vec![create("a;b \"c\"")],
            ),
            (
                " SHOW DATABASES ; CREATE DATABASE x;",
                vec![Statement::ShowDatabases, create("x")],
            ),
        ] {
            assert_eq!(parse_statements(q), Ok(expected), "{q}");
        }
    }

    #[test]
    fn other_statements_are_refused_naming_what_is_answered() {
        for (q, expected) in [
            (
                "SELECT * FROM cpu",
                "\"SELECT * FROM cpu\": not answered here",
            ),
            ("DROP DATABASE x", "not answered here"),
            (
                "SHOW DATABASES; DELETE FROM cpu",
                "statement 2 (\"DELETE FROM cpu\"): not answered here",
            ),
            ("", "missing required parameter \"q\""),
            ("CREATE DATABASE", "CREATE DATABASE needs a database name"),
            (
                "CREATE DATABASE \"\"",
                "CREATE DATABASE needs a database name",
            ),
            (
                "CREATE DATABASE a b",
                "unexpected text after the database name",
            ),
            ("CREATE DATABASE \"open", "a quote is not closed"),
            ("SHOW DATABASES x", "SHOW DATABASES takes nothing after it"),
        ] {
            let error = parse_statements(q).unwrap_err();
            assert!(error.contains(expected), "{q}: {error}");
        }
        let long = format!("CREATE DATABASE {}", "d".repeat(65));
        assert!(
            parse_statements(&long)
                .unwrap_err()
                .contains("longer than 64")
        );
    }
}
