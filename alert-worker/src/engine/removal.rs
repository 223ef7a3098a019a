//! Removing a rule, as one domain operation: its open alerts are resolved,
//! their resolution notifications queued (nothing will evaluate the rule
//! again, so a PagerDuty incident would otherwise stay open), and its
//! evaluation state dropped. The alert history stays.

use sea_orm::{ColumnTrait, ConnectionTrait, QueryFilter, sea_query::Expr};
use shared_models::{
    entity::{TenantScoped, alert, alert_rule, rule_state, rule_status},
    ids::UserId,
    rule::AlertState,
    time::Timestamp,
};

use super::{LoadedRule, persist::queue_resolutions_of_removed_rule};
use crate::error::Result;

/// What removing a rule came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// Gone, with this many resolution notifications queued to send.
    Removed { notifications_queued: usize },
    /// No such rule of `owner`'s (deleted meanwhile).
    Missing,
}

/// Deletes `rule` (a row of `owner`'s, read inside `txn`) and its side
/// effects, inside the caller's transaction; the caller commits and
/// announces the change.
pub async fn delete_rule<C: ConnectionTrait>(
    txn: &C,
    owner: UserId,
    rule: alert_rule::Model,
    now: Timestamp,
) -> Result<Removal> {
    let id = rule.id;
    // Before the states go: they say which open alerts were notified.
    let notifications_queued =
        queue_resolutions_of_removed_rule(txn, &LoadedRule::from_row(rule), now).await?;
    let result = alert_rule::Entity::delete_owned(owner)
        .filter(alert_rule::Column::Id.eq(id))
        .exec(txn)
        .await?;
    if result.rows_affected == 0 {
        return Ok(Removal::Missing);
    }
    rule_state::Entity::delete_owned(owner)
        .filter(rule_state::Column::RuleId.eq(id))
        .exec(txn)
        .await?;
    rule_status::Entity::delete_owned(owner)
        .filter(rule_status::Column::RuleId.eq(id))
        .exec(txn)
        .await?;
    alert::Entity::update_owned(owner)
        .col_expr(
            alert::Column::State,
            Expr::value(AlertState::Resolved.as_str()),
        )
        .col_expr(alert::Column::ResolvedAt, Expr::value(now))
        .filter(alert::Column::RuleId.eq(id))
        .filter(alert::Column::State.eq(AlertState::Firing))
        .exec(txn)
        .await?;
    Ok(Removal::Removed {
        notifications_queued,
    })
}
