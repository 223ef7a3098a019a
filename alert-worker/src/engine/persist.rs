//! Reading series state before an evaluation and writing its outcome after:
//! state rows, alert records and rule health, in one transaction, so that an
//! alert is never recorded without the state that explains it.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    time::Duration,
};

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    QueryFilter, QuerySelect, Set, TransactionTrait,
    sea_query::{Expr, OnConflict},
};
use shared_models::{
    entity::{alert, alert_rule, notification, rule_state, rule_status, silence},
    ids::{AlertId, RuleId, UserId},
    notification::DeliveryStatus,
    rule::{AlertState, Severity},
    shard::Shard,
    silence::ActiveSilence,
    time::Timestamp,
};

use super::{
    outbox::{AlertFacts, PlannedNotification, decide, rows_for},
    plan::Labels,
    rules::LoadedRule,
    state::{Phase, SeriesState, Transition},
};
use crate::{
    error::{Error, Result},
    fleet,
};

pub type StoredStates = HashMap<String, (Labels, SeriesState)>;

/// The persisted states of each rule's series, by rule and series key.
pub async fn load_states(
    db: &DatabaseConnection,
    rules: &[RuleId],
) -> Result<HashMap<RuleId, StoredStates>> {
    let mut out: HashMap<RuleId, StoredStates> = HashMap::new();
    for chunk in rules.chunks(500) {
        let rows = rule_state::Entity::find()
            .filter(rule_state::Column::RuleId.is_in(chunk.iter().copied()))
            .all(db)
            .await?;
        for row in rows {
            let rule = row.rule_id;
            let (labels, state) = series_state(&row)?;
            out.entry(rule)
                .or_default()
                .insert(row.series_key, (labels, state));
        }
    }
    Ok(out)
}

fn series_state(row: &rule_state::Model) -> Result<(Labels, SeriesState)> {
    let rule = &row.rule_id;
    let labels: Labels = serde_json::from_str(&row.labels)
        .map_err(|e| Error::Corrupt(format!("labels of rule {rule}: {e}")))?;
    let state = SeriesState {
        phase: Phase::parse(&row.state)
            .ok_or_else(|| Error::Corrupt(format!("state {:?} of rule {rule}", row.state)))?,
        pending_since: row.pending_since,
        firing_since: row.firing_since,
        clear_since: row.clear_since,
        last_value: row.last_value,
        last_seen_at: row.last_seen_at,
        alert_id: row.alert_id.clone(),
        last_notified_at: row.last_notified_at,
    };
    Ok((labels, state))
}

/// The silences of `owners` in force at `now`.
pub async fn load_silences(
    db: &impl ConnectionTrait,
    owners: impl Iterator<Item = UserId>,
    now: Timestamp,
) -> Result<Vec<ActiveSilence>> {
    let owners: std::collections::BTreeSet<String> = owners.map(|o| o.to_string()).collect();
    let mut out = Vec::new();
    let owners: Vec<String> = owners.into_iter().collect();
    for chunk in owners.chunks(500) {
        let rows = silence::Entity::find()
            .filter(silence::Column::OwnerId.is_in(chunk.iter().cloned()))
            .filter(silence::Column::StartsAt.lte(now))
            .filter(silence::Column::EndsAt.gt(now))
            .all(db)
            .await?;
        for row in rows {
            let matchers = serde_json::from_str(&row.matchers)
                .map_err(|e| Error::Corrupt(format!("matchers of silence {}: {e}", row.id)))?;
            out.push(ActiveSilence {
                id: row.id,
                owner_id: row.owner_id,
                rule_id: row.rule_id,
                matchers,
                starts_at: row.starts_at,
                ends_at: row.ends_at,
            });
        }
    }
    Ok(out)
}

/// One series after one evaluation.
#[derive(Debug, Clone)]
pub struct SeriesOutcome {
    pub rule: RuleId,
    pub owner: UserId,
    pub shard: Shard,
    pub series_key: String,
    pub labels: Labels,
    pub next: SeriesState,
    pub transition: Option<Transition>,
    /// Whether the row must be written: new series or changed state.
    pub changed: bool,
    /// For the alert record when the series fires.
    pub alert: Option<AlertDraft>,
    /// The alert record a resolution closes.
    pub resolved_alert: Option<String>,
    /// Outbox rows this evaluation owes, written with the state.
    pub notifications: Vec<PlannedNotification>,
}

#[derive(Debug, Clone)]
pub struct AlertDraft {
    pub id: AlertId,
    /// The rule's tag filters and the series' group labels together.
    pub labels: Labels,
    pub rule_name: String,
    pub severity: Severity,
    pub threshold: Option<f64>,
    pub message: String,
}

/// The leases a batch was evaluated under, checked when its writes commit.
#[derive(Debug, Clone)]
pub struct Fence {
    pub worker_id: String,
    /// Shard → lease epoch, for every shard of the batch's rules.
    pub epochs: BTreeMap<Shard, i64>,
    /// The wall-clock time of the commit: a lease lapsed by then fails.
    pub now: Timestamp,
    /// The lease TTL, which bounds how long the transaction may stall.
    pub ttl: Duration,
}

/// Rule-level health after one evaluation.
#[derive(Debug, Clone)]
pub struct RuleHealth {
    pub rule: RuleId,
    pub owner: UserId,
    pub state: Phase,
    pub error: Option<String>,
    pub series: usize,
}

pub async fn persist(
    db: &DatabaseConnection,
    mut outcomes: Vec<SeriesOutcome>,
    mut health: Vec<RuleHealth>,
    now: Timestamp,
    fence: Option<&Fence>,
) -> Result<PersistReport> {
    let txn = db.begin().await?;
    // First, so that nothing is written unless every shard of the batch is
    // still this worker's at the epoch it evaluated under.
    if let Some(fence) = fence {
        // A worker stopped inside this transaction (SIGSTOP, a stall) would
        // hold its lease rows locked, and no other worker could claim its
        // shards: on MariaDB the server ends a transaction left idle longer
        // than a third of the lease TTL, which releases the locks in time.
        if txn.get_database_backend() == DbBackend::MySql {
            let limit = (fence.ttl.as_secs() / 3).max(1);
            txn.execute_unprepared(&format!("SET SESSION idle_transaction_timeout = {limit}"))
                .await?;
        }
        if !fleet::fence(&txn, &fence.worker_id, &fence.epochs, fence.now).await? {
            return Err(Error::Fenced);
        }
    }
    // A rule deleted while it was being evaluated must not come back as
    // state rows, alerts or notifications: the rules this batch would write
    // anything consequential for are locked and re-read first.
    let consequential: BTreeSet<RuleId> = outcomes
        .iter()
        .filter(|o| o.changed || o.transition.is_some() || !o.notifications.is_empty())
        .map(|o| o.rule)
        .collect();
    let gone = lock_rules(&txn, &consequential).await?;
    if !gone.is_empty() {
        outcomes.retain(|o| !gone.contains(&o.rule));
        health.retain(|h| !gone.contains(&h.rule));
    }
    let mut report = PersistReport::default();
    let mut new_alerts = Vec::new();
    for outcome in &mut outcomes {
        match outcome.transition {
            Some(Transition::Fired { value }) => {
                let Some(draft) = outcome.alert.take() else {
                    return Err(Error::Corrupt(format!(
                        "rule {} fired without an alert record",
                        outcome.rule
                    )));
                };
                new_alerts.push(alert::ActiveModel {
                    id: Set(draft.id),
                    owner_id: Set(outcome.owner.to_string()),
                    rule_id: Set(outcome.rule),
                    rule_name: Set(draft.rule_name),
                    state: Set(AlertState::Firing),
                    severity: Set(draft.severity),
                    series_key: Set(outcome.series_key.clone()),
                    labels: Set(labels_json(&draft.labels)),
                    value: Set(value),
                    threshold: Set(draft.threshold),
                    message: Set(draft.message),
                    started_at: Set(now),
                    resolved_at: Set(None),
                    acknowledged_at: Set(None),
                    acknowledged_by: Set(None),
                });
                report.fired += 1;
            }
            Some(Transition::Resolved { .. }) => report.resolved += 1,
            None => {}
        }
    }
    if !new_alerts.is_empty() {
        for chunk in new_alerts.chunks(200) {
            alert::Entity::insert_many(chunk.to_vec())
                .exec(&txn)
                .await?;
        }
    }
    resolve_alerts(&txn, &outcomes, now).await?;
    report.notifications_queued = queue_notifications(&txn, &outcomes, now).await?;

    let rows: Vec<rule_state::ActiveModel> = outcomes
        .iter()
        .filter(|o| o.changed || o.transition.is_some())
        .map(|o| state_row(o, now))
        .collect();
    report.states_written = rows.len();
    upsert(
        &txn,
        &rows,
        OnConflict::columns([rule_state::Column::RuleId, rule_state::Column::SeriesKey])
            .update_columns([
                rule_state::Column::State,
                rule_state::Column::Labels,
                rule_state::Column::PendingSince,
                rule_state::Column::FiringSince,
                rule_state::Column::ClearSince,
                rule_state::Column::LastValue,
                rule_state::Column::LastSeenAt,
                rule_state::Column::AlertId,
                rule_state::Column::LastNotifiedAt,
                rule_state::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .await?;

    let statuses: Vec<rule_status::ActiveModel> = health
        .iter()
        .map(|h| rule_status::ActiveModel {
            rule_id: Set(h.rule),
            owner_id: Set(h.owner.to_string()),
            last_evaluated_at: Set(now),
            state: Set(h.state.as_str().to_owned()),
            last_error: Set(h.error.clone()),
            series_count: Set(i32::try_from(h.series).unwrap_or(i32::MAX)),
        })
        .collect();
    upsert(
        &txn,
        &statuses,
        OnConflict::column(rule_status::Column::RuleId)
            .update_columns([
                rule_status::Column::LastEvaluatedAt,
                rule_status::Column::State,
                rule_status::Column::LastError,
                rule_status::Column::SeriesCount,
            ])
            .to_owned(),
    )
    .await?;
    txn.commit().await?;
    Ok(report)
}

/// Writes `rows` 200 at a time, updating the row already there on `conflict`.
async fn upsert<A, C>(txn: &C, rows: &[A], conflict: OnConflict) -> Result<()>
where
    A: ActiveModelTrait + Clone,
    C: ConnectionTrait,
{
    for chunk in rows.chunks(200) {
        A::Entity::insert_many(chunk.to_vec())
            .on_conflict(conflict.clone())
            .exec(txn)
            .await?;
    }
    Ok(())
}

async fn resolve_alerts<C: ConnectionTrait>(
    txn: &C,
    outcomes: &[SeriesOutcome],
    now: Timestamp,
) -> Result<()> {
    for outcome in outcomes {
        let (Some(Transition::Resolved { .. }), Some(alert_id)) =
            (outcome.transition, outcome.resolved_alert.as_deref())
        else {
            continue;
        };
        alert::Entity::update_many()
            .col_expr(
                alert::Column::State,
                Expr::value(AlertState::Resolved.as_str()),
            )
            .col_expr(alert::Column::ResolvedAt, Expr::value(now))
            .filter(alert::Column::Id.eq(alert_id))
            .filter(alert::Column::State.eq(AlertState::Firing))
            .exec(txn)
            .await?;
    }
    Ok(())
}

/// Inserts the outbox rows. A row whose idempotency key exists already is
/// skipped rather than failing the batch: it was queued before.
async fn queue_notifications<C: ConnectionTrait>(
    txn: &C,
    outcomes: &[SeriesOutcome],
    now: Timestamp,
) -> Result<usize> {
    let rows: Vec<notification::ActiveModel> = outcomes
        .iter()
        .flat_map(|o| {
            o.notifications
                .iter()
                .map(move |n| outbox_row(o.owner, o.rule, o.shard, n, now))
        })
        .collect();
    let queued = outcomes
        .iter()
        .flat_map(|o| &o.notifications)
        .filter(|n| n.verdict.status == DeliveryStatus::Pending)
        .count();
    for chunk in rows.chunks(200) {
        notification::Entity::insert_many(chunk.to_vec())
            .on_conflict_do_nothing_on([notification::Column::IdempotencyKey])
            .exec(txn)
            .await?;
    }
    Ok(queued)
}

fn outbox_row(
    owner: UserId,
    rule: RuleId,
    shard: Shard,
    planned: &PlannedNotification,
    now: Timestamp,
) -> notification::ActiveModel {
    notification::ActiveModel {
        id: Set(planned.id.to_string()),
        owner_id: Set(owner.to_string()),
        alert_id: Set(planned.event.alert_id.clone()),
        rule_id: Set(rule.to_string()),
        channel_id: Set(planned.channel.clone()),
        shard: Set(shard),
        event: Set(planned.verdict.event.as_str().to_owned()),
        idempotency_key: Set(planned.idempotency_key.clone()),
        status: Set(planned.verdict.status.as_str().to_owned()),
        reason: Set(planned.verdict.reason.clone()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        claimed_until: Set(None),
        claim_token: Set(None),
        response_status: Set(None),
        last_error: Set(None),
        payload: Set(serde_json::to_string(&planned.event).unwrap_or_default()),
        created_at: Set(now),
        updated_at: Set(now),
        delivered_at: Set(None),
    }
}

/// Locks the rows of `rules` for the rest of the transaction and returns
/// those that no longer exist. The lock comes from a write that changes
/// nothing: on MariaDB it holds the rows against a concurrent delete until
/// commit; on SQLite it takes the write lock before anything is read, so
/// what is read next is current and no read snapshot needs upgrading.
async fn lock_rules<C: ConnectionTrait>(
    txn: &C,
    rules: &BTreeSet<RuleId>,
) -> Result<BTreeSet<RuleId>> {
    let mut gone = BTreeSet::new();
    let ids: Vec<String> = rules.iter().map(ToString::to_string).collect();
    for chunk in ids.chunks(500) {
        alert_rule::Entity::update_many()
            .col_expr(
                alert_rule::Column::Shard,
                Expr::col(alert_rule::Column::Shard),
            )
            .filter(alert_rule::Column::Id.is_in(chunk.iter().cloned()))
            .exec(txn)
            .await?;
        let live: BTreeSet<String> = alert_rule::Entity::find()
            .select_only()
            .column(alert_rule::Column::Id)
            .filter(alert_rule::Column::Id.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(txn)
            .await?
            .into_iter()
            .collect();
        gone.extend(
            chunk
                .iter()
                .filter(|id| !live.contains(*id))
                .filter_map(|id| id.parse::<RuleId>().ok()),
        );
    }
    Ok(gone)
}

/// For a rule being deleted, inside the caller's transaction and before its
/// states go: queues the resolution of each open alert that its channels
/// were told about, as an evaluation that resolved it would, since nothing
/// will evaluate it again (a PagerDuty incident would otherwise stay open).
/// Returns how many notifications were queued to send.
pub(super) async fn queue_resolutions_of_removed_rule<C: ConnectionTrait>(
    txn: &C,
    rule: &LoadedRule,
    now: Timestamp,
) -> Result<usize> {
    if rule.spec.channels.is_empty() {
        return Ok(0);
    }
    let open = rule_state::Entity::find()
        .filter(rule_state::Column::RuleId.eq(rule.id.to_string()))
        .filter(rule_state::Column::AlertId.is_not_null())
        .filter(rule_state::Column::FiringSince.is_not_null())
        .all(txn)
        .await?;
    if open.is_empty() {
        return Ok(0);
    }
    let silences = load_silences(txn, std::iter::once(rule.owner), now).await?;
    let mut rows = Vec::new();
    let mut queued = 0;
    for row in &open {
        let (labels, prev) = series_state(row)?;
        let mut next = SeriesState {
            last_value: prev.last_value,
            ..SeriesState::default()
        };
        let resolved = Some(Transition::Resolved {
            value: prev.last_value,
        });
        let Some(verdict) = decide(rule, &labels, &prev, &mut next, resolved, &silences, now)
        else {
            continue;
        };
        let (Some(alert_id), Some(started_at)) = (prev.alert_id.as_deref(), prev.firing_since)
        else {
            continue;
        };
        let mut alert_labels = rule.spec.metric.tags.clone();
        alert_labels.extend(labels.clone());
        let facts = AlertFacts {
            id: alert_id,
            labels: &alert_labels,
            started_at,
            value: prev.last_value,
        };
        for planned in rows_for(rule, facts, &verdict, now) {
            queued += usize::from(planned.verdict.status == DeliveryStatus::Pending);
            rows.push(outbox_row(rule.owner, rule.id, rule.shard, &planned, now));
        }
    }
    for chunk in rows.chunks(200) {
        notification::Entity::insert_many(chunk.to_vec())
            .on_conflict_do_nothing_on([notification::Column::IdempotencyKey])
            .exec(txn)
            .await?;
    }
    Ok(queued)
}

fn state_row(outcome: &SeriesOutcome, now: Timestamp) -> rule_state::ActiveModel {
    let s = &outcome.next;
    rule_state::ActiveModel {
        rule_id: Set(outcome.rule),
        series_key: Set(outcome.series_key.clone()),
        owner_id: Set(outcome.owner.to_string()),
        state: Set(s.phase.as_str().to_owned()),
        labels: Set(labels_json(&outcome.labels)),
        pending_since: Set(s.pending_since),
        firing_since: Set(s.firing_since),
        clear_since: Set(s.clear_since),
        last_value: Set(s.last_value),
        last_seen_at: Set(s.last_seen_at),
        alert_id: Set(s.alert_id.clone()),
        last_notified_at: Set(s.last_notified_at),
        updated_at: Set(now),
    }
}

fn labels_json(labels: &BTreeMap<String, String>) -> String {
    serde_json::to_string(labels).unwrap_or_else(|_| "{}".to_owned())
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PersistReport {
    pub fired: usize,
    pub resolved: usize,
    pub states_written: usize,
    /// Outbox rows queued for sending (not those recorded as muted).
    pub notifications_queued: usize,
}

impl std::ops::AddAssign for PersistReport {
    fn add_assign(&mut self, other: Self) {
        // Destructured, so that a field added later cannot be left out.
        let Self {
            fired,
            resolved,
            states_written,
            notifications_queued,
        } = other;
        self.fired += fired;
        self.resolved += resolved;
        self.states_written += states_written;
        self.notifications_queued += notifications_queued;
    }
}
