//! Alert messages from the rule's `summary` annotation (or a default), with
//! `{{value}}`, `{{threshold}}`, `{{labels.NAME}}` and `{{rule.name}}`.

use std::collections::BTreeMap;

use shared_models::rule::RuleSpec;

const DEFAULT_TEMPLATE: &str = "{{rule.name}}: {{condition}} (value {{value}})";

pub fn render(rule: &RuleSpec, labels: &BTreeMap<String, String>, value: Option<f64>) -> String {
    let template = rule
        .annotations
        .get("summary")
        .or_else(|| rule.annotations.get("message"))
        .map_or(DEFAULT_TEMPLATE, String::as_str);
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = after[..end].trim();
        match placeholder(rule, labels, value, name) {
            Some(text) => out.push_str(&text),
            // Unknown placeholders stay visible, so a typo shows in the message.
            None => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

fn placeholder(
    rule: &RuleSpec,
    labels: &BTreeMap<String, String>,
    value: Option<f64>,
    name: &str,
) -> Option<String> {
    match name {
        "value" => Some(value.map_or_else(|| "no data".to_owned(), |v| v.to_string())),
        "threshold" => Some(
            rule.condition
                .threshold
                .map_or_else(String::new, |t| t.to_string()),
        ),
        "rule.name" => Some(rule.name.as_str().to_owned()),
        "condition" => Some(rule.describe()),
        _ => name
            .strip_prefix("labels.")
            .map(|label| labels.get(label).cloned().unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use shared_models::rule::{RuleInput, RuleLimits};

    use super::*;

    fn rule(annotations: serde_json::Value) -> RuleSpec {
        let input: RuleInput = serde_json::from_value(json!({
            "name": "BTC above 70k",
            "metric": {"measurement": "crypto", "field": "price"},
            "condition": {"op": ">", "threshold": 70000},
            "interval": "10s",
            "annotations": annotations
        }))
        .unwrap();
        RuleSpec::parse(input, &RuleLimits::default()).unwrap()
    }

    #[test]
    fn fills_placeholders() {
        let labels = BTreeMap::from([("symbol".to_owned(), "BTC".to_owned())]);
        let r = rule(
            json!({"summary": "{{rule.name}}: {{labels.symbol}} at {{value}} (> {{threshold}}) {{nope}}"}),
        );
        assert_eq!(
            render(&r, &labels, Some(70123.5)),
            "BTC above 70k: BTC at 70123.5 (> 70000) {{nope}}"
        );
        let r = rule(json!({}));
        assert_eq!(
            render(&r, &labels, None),
            "BTC above 70k: last(crypto.price) over 5m > 70000 (value no data)"
        );
        let r = rule(json!({"summary": "unclosed {{value"}));
        assert_eq!(render(&r, &labels, Some(1.0)), "unclosed {{value");
    }
}
