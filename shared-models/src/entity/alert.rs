use sea_orm::entity::prelude::*;

use crate::{
    ids::{AlertId, RuleId},
    rule::{AlertState, Severity},
    time::Timestamp,
};

/// One firing episode of one series of a rule, from start to resolution.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "alerts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: AlertId,
    pub owner_id: String,
    pub rule_id: RuleId,
    pub rule_name: String,
    pub state: AlertState,
    pub severity: Severity,
    /// Canonical `key=value,...` form of `labels`, identifying the series.
    pub series_key: String,
    #[sea_orm(column_type = "Text")]
    pub labels: String,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    #[sea_orm(column_type = "Text")]
    pub message: String,
    pub started_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
    pub acknowledged_at: Option<Timestamp>,
    pub acknowledged_by: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
