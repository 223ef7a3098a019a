//! Opaque pagination cursors. A cursor encodes the sort key of the last row
//! returned; the next page starts strictly after it, so inserts and deletes
//! between calls neither repeat nor skip rows.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use schemars::JsonSchema;
use serde::Serialize;
use shared_models::FieldError;

use super::{DEFAULT_PAGE, MAX_PAGE};

#[derive(Debug, Serialize, JsonSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

const VERSION: &str = "v1";

pub fn encode(parts: &[&str]) -> String {
    URL_SAFE_NO_PAD.encode(format!("{VERSION}|{}", parts.join("|")))
}

/// Decodes a cursor made by [`encode`] with `arity` parts.
pub fn decode(cursor: &str, arity: usize) -> Result<Vec<String>, FieldError> {
    let invalid = || FieldError::new("cursor", "is not a cursor returned by this tool");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let mut parts = text.split('|');
    if parts.next() != Some(VERSION) {
        return Err(invalid());
    }
    let parts: Vec<String> = parts.map(str::to_owned).collect();
    if parts.len() != arity {
        return Err(invalid());
    }
    Ok(parts)
}

pub fn page_size(limit: Option<u64>) -> Result<u64, FieldError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(FieldError::new(
            "limit",
            format!("must be between 1 and {MAX_PAGE}"),
        )),
    }
}

/// Splits one extra fetched row off into a next-page cursor.
pub fn paginate<T>(mut rows: Vec<T>, size: u64, key: impl Fn(&T) -> String) -> Page<T> {
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    let next_cursor = if rows.len() > size {
        rows.truncate(size);
        rows.last().map(key)
    } else {
        None
    };
    Page {
        items: rows,
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_foreign_input() {
        let cursor = encode(&["1700000000000", "0191f2a4-7c3e-7000-8000-000000000001"]);
        assert_eq!(
            decode(&cursor, 2).unwrap(),
            vec!["1700000000000", "0191f2a4-7c3e-7000-8000-000000000001"]
        );
        assert!(decode(&cursor, 1).is_err());
        assert_eq!(decode("not a cursor!", 1).unwrap_err().field, "cursor");
        assert!(decode(&URL_SAFE_NO_PAD.encode("v2|x"), 1).is_err());
    }

    #[test]
    fn extra_row_becomes_the_cursor() {
        let page = paginate(vec![1, 2, 3], 2, |n| n.to_string());
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next_cursor.as_deref(), Some("2"));
        let page = paginate(vec![1, 2], 2, |n| n.to_string());
        assert!(page.next_cursor.is_none());
    }
}
