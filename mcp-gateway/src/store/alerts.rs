use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use sea_orm::{ColumnTrait, Condition, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr};
use serde::Serialize;
use shared_models::{
    FieldError,
    entity::{TenantScoped, alert},
    ids::{AlertId, RuleId, UserId},
    rule::{AlertState, Severity},
    time::Timestamp,
};

use super::{DeliveryRecord, Page, Store, cursor};
use crate::error::{Error, Result};

/// One firing episode of one series, as clients see it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AlertRecord {
    pub id: String,
    pub rule_id: String,
    pub rule_name: String,
    pub state: AlertState,
    pub severity: Severity,
    /// The series labels that identify this alert instance.
    pub labels: BTreeMap<String, String>,
    /// The value that made the rule fire.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    pub message: String,
    pub started_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<String>,
    /// The notifications sent (or not) about this alert, one per transition
    /// and channel, oldest first.
    pub deliveries: Vec<DeliveryRecord>,
}

impl TryFrom<alert::Model> for AlertRecord {
    type Error = Error;

    fn try_from(row: alert::Model) -> Result<Self> {
        let corrupt = |what: &str| {
            Error::Corrupt(shared_models::ModelError::Invalid(FieldError::new(
                what,
                format!("unreadable value in alert {}", row.id),
            )))
        };
        let labels = serde_json::from_str(&row.labels).map_err(|_| corrupt("labels"))?;
        Ok(Self {
            id: row.id.to_string(),
            rule_id: row.rule_id.to_string(),
            rule_name: row.rule_name,
            state: row.state,
            severity: row.severity,
            labels,
            value: row.value,
            threshold: row.threshold,
            message: row.message,
            started_at: row.started_at.to_string(),
            resolved_at: row.resolved_at.map(|at| at.to_string()),
            acknowledged_at: row.acknowledged_at.map(|at| at.to_string()),
            acknowledged_by: row.acknowledged_by,
            deliveries: Vec::new(),
        })
    }
}

#[derive(Debug, Default, Clone)]
pub struct AlertFilter {
    pub state: Option<AlertState>,
    pub rule_id: Option<RuleId>,
    /// Alerts that started at or after this instant.
    pub since: Option<DateTime<Utc>>,
    pub acknowledged: Option<bool>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

impl Store {
    /// Newest first, by start time and then id.
    pub async fn list_alerts(
        &self,
        owner: UserId,
        filter: AlertFilter,
    ) -> Result<Page<AlertRecord>> {
        let size = cursor::page_size(filter.limit)?;
        let mut query = alert::Entity::find_owned(owner);
        if let Some(state) = filter.state {
            query = query.filter(alert::Column::State.eq(state));
        }
        if let Some(rule_id) = filter.rule_id {
            query = query.filter(alert::Column::RuleId.eq(rule_id.to_string()));
        }
        if let Some(since) = filter.since {
            query = query.filter(alert::Column::StartedAt.gte(Timestamp::from(since)));
        }
        match filter.acknowledged {
            Some(true) => query = query.filter(alert::Column::AcknowledgedAt.is_not_null()),
            Some(false) => query = query.filter(alert::Column::AcknowledgedAt.is_null()),
            None => {}
        }
        if let Some(after) = filter.cursor {
            let parts = cursor::decode(&after, 2)?;
            let started: i64 = parts[0]
                .parse()
                .map_err(|_| FieldError::new("cursor", "is not a cursor returned by this tool"))?;
            query = query.filter(
                Condition::any()
                    .add(alert::Column::StartedAt.lt(started))
                    .add(
                        Condition::all()
                            .add(alert::Column::StartedAt.eq(started))
                            .add(alert::Column::Id.lt(parts[1].as_str())),
                    ),
            );
        }
        let rows = query
            .order_by_desc(alert::Column::StartedAt)
            .order_by_desc(alert::Column::Id)
            .limit(size + 1)
            .all(&self.db)
            .await?;
        let mut keyed = Vec::with_capacity(rows.len());
        for row in rows {
            let started = row.started_at;
            keyed.push((started, AlertRecord::try_from(row)?));
        }
        let page = cursor::paginate(keyed, size, |(started, record)| {
            cursor::encode(&[&started.as_millis().to_string(), &record.id])
        });
        let mut items: Vec<AlertRecord> =
            page.items.into_iter().map(|(_, record)| record).collect();
        self.attach_deliveries(owner, &mut items).await?;
        Ok(Page {
            items,
            next_cursor: page.next_cursor,
        })
    }

    pub async fn get_alert(&self, owner: UserId, id: AlertId) -> Result<AlertRecord> {
        let record: AlertRecord = alert::Entity::find_owned_by_id(owner, id)
            .one(&self.db)
            .await?
            .ok_or_else(|| Error::not_found("alert", id.to_string()))?
            .try_into()?;
        let mut items = [record];
        self.attach_deliveries(owner, &mut items).await?;
        let [record] = items;
        Ok(record)
    }

    async fn attach_deliveries(&self, owner: UserId, alerts: &mut [AlertRecord]) -> Result<()> {
        let ids: Vec<&str> = alerts.iter().map(|a| a.id.as_str()).collect();
        let mut deliveries = self.deliveries_of(owner, &ids).await?;
        for alert in alerts {
            alert.deliveries = deliveries.remove(&alert.id).unwrap_or_default();
        }
        Ok(())
    }

    /// Marks an alert as seen by its owner, named by email. Acknowledging
    /// twice keeps the first acknowledgement, so retries are harmless.
    pub async fn acknowledge_alert(&self, owner: UserId, id: AlertId) -> Result<AlertRecord> {
        let by = self.user_by_id(owner).await?.email;
        alert::Entity::update_owned(owner)
            .col_expr(alert::Column::AcknowledgedAt, Expr::value(self.clock.now()))
            .col_expr(alert::Column::AcknowledgedBy, Expr::value(by))
            .filter(alert::Column::Id.eq(id.to_string()))
            .filter(alert::Column::AcknowledgedAt.is_null())
            .exec(&self.db)
            .await?;
        self.get_alert(owner, id).await
    }
}
