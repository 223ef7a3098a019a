//! Rule summaries for listings, cached by rule id and version. A stored
//! rule's content changes only with its version, so a cached summary for
//! the version the database reports is exact, on every replica; listing then
//! reads two small columns instead of every rule's spec. Each cached summary
//! is also kept as JSON, object and text, made once: a listing copies it
//! instead of serialising 50 summaries twice per call.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, PoisonError, RwLock},
};

use schemars::JsonSchema;
use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use shared_models::{
    ModelError,
    entity::{TenantScoped, alert_rule},
    ids::UserId,
    rule::{HumanDuration, RuleSpec, Severity},
    time::Timestamp,
};

use super::{NotEvaluated, Store};
use crate::error::Result;

/// A rule in a listing: enough to recognise it and see what it watches,
/// in a fraction of the full rule's size (get_alert_rule has the rest).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RuleSummary {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    pub severity: Severity,
    pub interval: HumanDuration,
    /// What the rule checks, e.g. `last(crypto.price{symbol="BTC"}) over 5m > 70000`.
    pub condition: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    pub updated_at: String,
}

/// How a listed rule's last evaluation went; all absent until the first.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct ListedHealth {
    /// The most pressing series state: firing, pending, error, no_data or normal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_evaluated_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_evaluated: Option<NotEvaluated>,
}

/// A listed rule: its summary and how its last evaluation went.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RuleListItem {
    #[serde(flatten)]
    #[schemars(with = "RuleSummary")]
    pub summary: Arc<CachedSummary>,
    #[serde(flatten)]
    pub health: ListedHealth,
}

/// A summary with its JSON made once: the object and the compact text of
/// `serde_json::to_value` and `to_string` of the summary.
#[derive(Debug)]
pub struct CachedSummary {
    pub summary: RuleSummary,
    object: Map<String, Value>,
    text: Box<str>,
}

impl Serialize for CachedSummary {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.summary.serialize(serializer)
    }
}

impl CachedSummary {
    pub(crate) fn new(summary: RuleSummary) -> serde_json::Result<Self> {
        let object = object_of(&summary)?;
        let text = serde_json::to_string(&summary)?.into_boxed_str();
        Ok(Self {
            summary,
            object,
            text,
        })
    }
}

/// The JSON object a struct serialises to.
fn object_of(value: &impl Serialize) -> serde_json::Result<Map<String, Value>> {
    match serde_json::to_value(value)? {
        Value::Object(object) => Ok(object),
        _ => Err(serde::ser::Error::custom("expected a JSON object")),
    }
}

impl RuleListItem {
    /// Appends the item's JSON text to `text` and returns it as an object:
    /// the same JSON as serialising the item, from the summary's cached
    /// JSON and the health fields (in `ListedHealth`'s order) added now.
    pub fn render(&self, text: &mut String) -> serde_json::Result<Value> {
        let mut object = self.summary.object.clone();
        // `{"id":…}` becomes `{"id":…,"state":…}`.
        text.push_str(&self.summary.text[..self.summary.text.len() - 1]);
        let health = &self.health;
        for (key, value) in [
            ("state", &health.state),
            ("last_evaluated_at", &health.last_evaluated_at),
            ("last_error", &health.last_error),
        ] {
            if let Some(value) = value {
                push_field(text, &mut object, key, Value::String(value.clone()))?;
            }
        }
        if let Some(why) = health.not_evaluated {
            push_field(
                text,
                &mut object,
                "not_evaluated",
                serde_json::to_value(why)?,
            )?;
        }
        text.push('}');
        Ok(Value::Object(object))
    }
}

/// Adds `"key":value` to an item's text and object.
fn push_field(
    text: &mut String,
    object: &mut Map<String, Value>,
    key: &str,
    value: Value,
) -> serde_json::Result<()> {
    text.push_str(",\"");
    text.push_str(key);
    text.push_str("\":");
    text.push_str(&serde_json::to_string(&value)?);
    object.insert(key.to_owned(), value);
    Ok(())
}

impl RuleSummary {
    fn from_stored(id: String, spec: RuleSpec, updated_at: Timestamp) -> Self {
        Self {
            condition: spec.describe(),
            id,
            name: spec.name.as_str().to_owned(),
            enabled: spec.enabled,
            severity: spec.severity,
            interval: spec.interval,
            labels: spec.labels,
            updated_at: updated_at.to_string(),
        }
    }
}

const CAPACITY: usize = 50_000;

/// Rule id to the version it was summarised at, and the summary.
type SummaryMap = HashMap<String, (i64, Arc<CachedSummary>)>;

#[derive(Debug, Default, Clone)]
pub struct SummaryCache(Arc<RwLock<SummaryMap>>);

impl SummaryCache {
    fn get(&self, id: &str, version: i64) -> Option<Arc<CachedSummary>> {
        let map = self.0.read().unwrap_or_else(PoisonError::into_inner);
        map.get(id)
            .filter(|(cached, _)| *cached == version)
            .map(|(_, summary)| summary.clone())
    }

    fn put(&self, version: i64, summary: Arc<CachedSummary>) {
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= CAPACITY {
            map.clear();
        }
        map.insert(summary.summary.id.clone(), (version, summary));
    }
}

impl Store {
    /// Summaries for `(id, version)` rows already filtered to `owner`, in
    /// the same order; misses are read in one query and cached. `None` for
    /// a rule deleted between the two reads.
    pub(super) async fn summaries_of(
        &self,
        owner: UserId,
        rows: &[(&str, i64)],
    ) -> Result<Vec<Option<Arc<CachedSummary>>>> {
        let mut summaries: Vec<Option<Arc<CachedSummary>>> = rows
            .iter()
            .map(|(id, version)| self.summaries.get(id, *version))
            .collect();
        let missing: Vec<&str> = rows
            .iter()
            .zip(&summaries)
            .filter(|(_, hit)| hit.is_none())
            .map(|((id, _), _)| *id)
            .collect();
        if missing.is_empty() {
            return Ok(summaries);
        }
        let specs: Vec<(String, RuleSpec, Timestamp, i64)> = alert_rule::Entity::find_owned(owner)
            .select_only()
            .columns([
                alert_rule::Column::Id,
                alert_rule::Column::Spec,
                alert_rule::Column::UpdatedAt,
                alert_rule::Column::Version,
            ])
            .filter(alert_rule::Column::Id.is_in(missing))
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut loaded: HashMap<String, Arc<CachedSummary>> = HashMap::new();
        for (id, spec, updated_at, version) in specs {
            let summary = RuleSummary::from_stored(id.clone(), spec, updated_at);
            let summary = Arc::new(CachedSummary::new(summary).map_err(ModelError::CorruptSpec)?);
            self.summaries.put(version, summary.clone());
            loaded.insert(id, summary);
        }
        for ((id, _), summary) in rows.iter().zip(&mut summaries) {
            if summary.is_none() {
                *summary = loaded.get(*id).cloned();
            }
        }
        Ok(summaries)
    }
}
