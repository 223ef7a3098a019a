//! Rule health as the evaluation engine last recorded it: when the rule was
//! evaluated, how that went, and the state of each of its series.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use sea_orm::{ColumnTrait, QueryFilter};
use serde::Serialize;
use shared_models::{
    entity::{TenantScoped, rule_state, rule_status},
    ids::UserId,
};

use super::Store;
use crate::error::Result;

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RuleHealth {
    /// The rule's most pressing series state: firing, pending, error, no_data or normal.
    pub state: String,
    pub last_evaluated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Series that are not plainly normal, or all series when few.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<SeriesHealth>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SeriesHealth {
    pub labels: BTreeMap<String, String>,
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// When the current pending or firing period began.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

const MAX_SERIES_SHOWN: usize = 50;

impl Store {
    pub async fn rule_health(&self, owner: UserId, rule_id: &str) -> Result<Option<RuleHealth>> {
        let Some(status) = rule_status::Entity::find_owned(owner)
            .filter(rule_status::Column::RuleId.eq(rule_id))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let rows = rule_state::Entity::find_owned(owner)
            .filter(rule_state::Column::RuleId.eq(rule_id))
            .all(&self.db)
            .await?;
        let few = rows.len() <= MAX_SERIES_SHOWN;
        let series = rows
            .into_iter()
            .filter(|row| few || row.state != "normal")
            .take(MAX_SERIES_SHOWN)
            .map(|row| SeriesHealth {
                labels: serde_json::from_str(&row.labels).unwrap_or_default(),
                since: match row.state.as_str() {
                    "firing" => row.firing_since.map(|at| at.to_string()),
                    "pending" => row.pending_since.map(|at| at.to_string()),
                    _ => None,
                },
                state: row.state,
                value: row.last_value,
            })
            .collect();
        Ok(Some(RuleHealth {
            state: status.state,
            last_evaluated_at: status.last_evaluated_at.to_string(),
            last_error: status.last_error,
            series,
        }))
    }
}
