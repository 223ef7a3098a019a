//! The Prometheus text exposition as a scrape reads it: every family a
//! worker exports, and a strict parser of `/metrics`, shared by the
//! in-crate metrics tests and the process tests.

use std::collections::BTreeMap;

/// Every metric a worker exports, with its Prometheus type.
pub const FAMILIES: &[(&str, &str)] = &[
    ("monitors_worker_rules", "gauge"),
    ("monitors_worker_owned_shards", "gauge"),
    ("monitors_worker_evaluations_total", "counter"),
    ("monitors_worker_evaluation_seconds", "histogram"),
    ("monitors_worker_query_batches_total", "counter"),
    ("monitors_worker_queries_total", "counter"),
    ("monitors_worker_alerts_fired_total", "counter"),
    ("monitors_worker_alerts_resolved_total", "counter"),
    ("monitors_worker_notifications_total", "counter"),
    ("monitors_worker_notifications_unopenable_total", "counter"),
    ("monitors_worker_lease_claims_total", "counter"),
    ("monitors_worker_lease_losses_total", "counter"),
    ("monitors_worker_lease_renew_failures_total", "counter"),
];

/// Samples by series as written (`name{label="value"}`), and the declared
/// type of each family.
pub struct Samples {
    pub values: BTreeMap<String, f64>,
    pub types: BTreeMap<String, String>,
}

impl Samples {
    pub fn value(&self, series: &str) -> f64 {
        *self
            .values
            .get(series)
            .unwrap_or_else(|| panic!("{series} not exported; have {:?}", self.values.keys()))
    }
}

/// Reads the text exposition format strictly enough to catch a malformed
/// scrape: every line is a HELP or TYPE comment or a sample; names and
/// label names are valid; values are numbers; each sample belongs to a
/// family whose TYPE came before it; no series appears twice.
pub fn parse_exposition(text: &str) -> Samples {
    let valid_name = |name: &str| {
        !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    let mut values = BTreeMap::new();
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    assert!(text.ends_with('\n'), "the exposition ends with a newline");
    for line in text.lines() {
        if let Some(comment) = line.strip_prefix("# ") {
            let mut words = comment.splitn(3, ' ');
            let (keyword, name) = (words.next().unwrap(), words.next().unwrap_or_default());
            assert!(valid_name(name), "metric name in {line:?}");
            match keyword {
                "HELP" => {}
                "TYPE" => {
                    let kind = words.next().unwrap_or_default();
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                        "type in {line:?}"
                    );
                    assert!(
                        types.insert(name.to_owned(), kind.to_owned()).is_none(),
                        "{name} typed twice"
                    );
                }
                _ => panic!("unexpected comment {line:?}"),
            }
            continue;
        }
        assert!(!line.is_empty(), "blank line in the exposition");
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let name = &line[..name_end];
        assert!(valid_name(name), "sample name in {line:?}");
        let (series, rest) = if line[name_end..].starts_with('{') {
            let close = line
                .find('}')
                .unwrap_or_else(|| panic!("unclosed labels in {line:?}"));
            for pair in line[name_end + 1..close]
                .split(',')
                .filter(|p| !p.is_empty())
            {
                let (label, value) = pair
                    .split_once('=')
                    .unwrap_or_else(|| panic!("label pair in {line:?}"));
                assert!(valid_name(label), "label name in {line:?}");
                assert!(
                    value.len() >= 2 && value.starts_with('"') && value.ends_with('"'),
                    "quoted label value in {line:?}"
                );
            }
            (&line[..=close], &line[close + 1..])
        } else {
            (name, &line[name_end..])
        };
        let value = rest
            .strip_prefix(' ')
            .and_then(|v| v.split(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("numeric value in {line:?}"));
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                let base = name.strip_suffix(suffix)?;
                (types.get(base).map(String::as_str) == Some("histogram")).then_some(base)
            })
            .unwrap_or(name);
        assert!(types.contains_key(family), "{name} sampled before its TYPE");
        assert!(
            values.insert(series.to_owned(), value).is_none(),
            "{series} twice"
        );
    }
    Samples { values, types }
}
