//! The `alert_rules.spec` column: a [`RuleSpec`] as the JSON text it has
//! always been stored as, so rows written before it was typed read back.

use super::RuleSpec;

pub(super) fn parse(text: &str) -> serde_json::Result<RuleSpec> {
    serde_json::from_str(text)
}

/// `None` (SQL NULL, refused by the NOT NULL column) if the spec cannot be
/// written as JSON, which its plain fields and string-keyed maps rule out.
pub(super) fn text(spec: &RuleSpec) -> Option<String> {
    serde_json::to_string(spec).ok()
}
