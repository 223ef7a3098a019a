//! The evaluation engine: which rules are due, what their sources say, how
//! each series moves, and what is written down.

pub mod data_check;
mod decide;
pub mod outbox;
mod persist;
pub mod plan;
pub mod preview;
mod removal;
mod rules;
pub mod state;
pub mod template;

use std::{
    collections::{BTreeMap, BTreeSet},
    ops::Range,
    sync::Arc,
    time::{Duration, Instant},
};

use sea_orm::DatabaseConnection;
use shared_models::{
    ids::{AlertId, RuleId},
    series::series_key,
    shard::Shard,
    silence::ActiveSilence,
    time::{Clock, Timestamp},
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use decide::{SeriesDecision, decide_series};
use outbox::{AlertFacts, rows_for};
pub use persist::Fence;
pub use persist::PersistReport;
use persist::{
    AlertDraft, RuleHealth, SeriesOutcome, StoredStates, load_silences, load_states, persist,
};
use plan::{Labels, first_error, observations, queries_for};
pub use removal::{Removal, delete_rule};
use rules::RuleSet;
pub use rules::{LoadedRule, RefreshReport, RuleScope, aligned_tick};
use state::{Phase, SeriesState, Transition};

use crate::{
    error::{Error, Result},
    metrics::WorkerMetrics,
    source::{MetricSource, SeriesQuery, SeriesValue, SourceError},
};

#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// How often the rule set is re-read from the database.
    pub refresh_every: Duration,
    /// Most rules evaluated in one batch (one source call, one transaction).
    pub batch_rules: usize,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            refresh_every: Duration::from_secs(1),
            batch_rules: 20_000,
        }
    }
}

/// What one call of [`Engine::evaluate_due`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    pub rules: usize,
    pub queries: usize,
    pub series: usize,
    pub errors: usize,
    /// Rules whose writes a fence refused: another worker took their shard.
    pub fenced: usize,
    pub persisted: PersistReport,
}

pub struct Engine {
    db: DatabaseConnection,
    source: Arc<dyn MetricSource>,
    clock: Arc<dyn Clock>,
    scope: RuleScope,
    settings: EngineSettings,
    rules: RuleSet,
    /// Woken after a commit that queued notifications, so the dispatcher
    /// sends at once instead of at its next poll.
    outbox_signal: Option<Arc<Notify>>,
    /// Woken when a rule changed (announced through Redis), for a refresh
    /// before the next periodic one.
    refresh_signal: Arc<Notify>,
    metrics: Option<Arc<WorkerMetrics>>,
}

impl Engine {
    pub fn new(
        db: DatabaseConnection,
        source: Arc<dyn MetricSource>,
        clock: Arc<dyn Clock>,
        scope: RuleScope,
        settings: EngineSettings,
    ) -> Self {
        Self {
            db,
            source,
            clock,
            scope,
            settings,
            rules: RuleSet::default(),
            outbox_signal: None,
            refresh_signal: Arc::new(Notify::new()),
            metrics: None,
        }
    }

    /// Wakes `signal` whenever an evaluation queues notifications.
    pub fn with_outbox_signal(mut self, signal: Arc<Notify>) -> Self {
        self.outbox_signal = Some(signal);
        self
    }

    /// Notify this to have the engine re-read its rules now.
    pub fn refresh_signal(&self) -> Arc<Notify> {
        self.refresh_signal.clone()
    }

    /// Records refreshes and evaluations in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<WorkerMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    pub async fn refresh(&mut self) -> Result<RefreshReport> {
        let now = self.clock.now();
        let report = self.rules.refresh(&self.db, &self.scope, now).await?;
        if let Some(metrics) = &self.metrics {
            metrics.set_rules(report.total);
        }
        Ok(report)
    }

    /// Evaluates every rule due at `now`, each on its own latest aligned
    /// tick. Tests drive the engine through this with an injected clock.
    pub async fn evaluate_due(&mut self, now: Timestamp) -> Result<SweepReport> {
        let mut by_tick: BTreeMap<Timestamp, Vec<RuleId>> = BTreeMap::new();
        for id in self.rules.due(now) {
            if let Some(rule) = self.rules.get(&id) {
                by_tick
                    .entry(aligned_tick(now, rule.interval()))
                    .or_default()
                    .push(id);
            }
        }
        let mut report = SweepReport::default();
        for (tick, mut ids) in by_tick {
            // Rules on the same metric land in the same batch, so the source
            // merges their queries instead of asking again in each batch.
            ids.sort_by_cached_key(|id| {
                self.rules.get(id).map(|r| {
                    let m = &r.spec.metric;
                    (
                        m.database.clone(),
                        m.measurement.clone(),
                        m.field.clone(),
                        m.window,
                        series_key(&m.tags),
                    )
                })
            });
            for chunk in ids.chunks(self.settings.batch_rules.max(1)) {
                self.evaluate_batch(chunk, tick, &mut report).await?;
                for id in chunk {
                    self.rules.mark_evaluated(id, now);
                }
            }
        }
        Ok(report)
    }

    #[tracing::instrument(
        name = "evaluate_batch",
        skip_all,
        fields(
            tick = ?tick,
            rules = ids.len(),
            evaluated = tracing::field::Empty,
            shards = tracing::field::Empty,
            queries = tracing::field::Empty,
        )
    )]
    async fn evaluate_batch(
        &self,
        ids: &[RuleId],
        tick: Timestamp,
        report: &mut SweepReport,
    ) -> Result<()> {
        let started = Instant::now();
        // In a fleet, only rules whose shard lease is current now; their
        // writes are fenced on those leases' epochs.
        let leased = self.scope.shards(self.clock.now());
        let rules: Vec<&LoadedRule> = ids
            .iter()
            .filter_map(|id| self.rules.get(id))
            .filter(|r| leased.as_ref().is_none_or(|l| l.contains_key(&r.shard)))
            .collect();
        let (queries, spans) = plan_batch(&rules);
        let span = tracing::Span::current();
        span.record("evaluated", rules.len());
        span.record(
            "shards",
            rules.iter().map(|r| r.shard).collect::<BTreeSet<_>>().len(),
        );
        span.record("queries", queries.len());
        let answers = self.source.query(&queries, tick.to_datetime()).await;
        if let Some(metrics) = &self.metrics {
            metrics.query_batch(queries.len());
        }
        let mut stored = load_states(&self.db, ids).await?;
        let silences = if rules.iter().any(|r| !r.spec.channels.is_empty()) {
            load_silences(&self.db, rules.iter().map(|r| r.owner), tick).await?
        } else {
            Vec::new()
        };

        let mut outcomes = Vec::new();
        let mut health = Vec::with_capacity(rules.len());
        for (rule, span) in rules.iter().zip(spans) {
            let answers: Vec<_> = answers[span].iter().collect();
            let states = stored.remove(&rule.id).unwrap_or_default();
            let rule_health =
                evaluate_rule(rule, &answers, &states, &silences, tick, &mut outcomes);
            report.series += rule_health.series;
            report.errors += usize::from(rule_health.error.is_some());
            health.push(rule_health);
        }
        report.rules += rules.len();
        report.queries += queries.len();
        // Built after evaluating, since its `now` stands for the commit: a
        // lease that lapsed while the batch was evaluated must refuse it.
        let fence = self.fence(&rules, leased);
        let persisted = match persist(&self.db, outcomes, health, tick, fence.as_ref()).await {
            Err(Error::Fenced) => {
                tracing::info!(
                    rules = rules.len(),
                    "batch fenced out: its shards changed hands"
                );
                report.fenced += rules.len();
                return Ok(());
            }
            other => other?,
        };
        if let Some(metrics) = &self.metrics {
            metrics.batch_evaluated(rules.len(), &persisted, started.elapsed());
        }
        report.persisted += persisted;
        if persisted.notifications_queued > 0
            && let Some(signal) = &self.outbox_signal
        {
            signal.notify_one();
        }
        Ok(())
    }

    /// The leases a batch of `rules` was evaluated under, in a fleet.
    fn fence(&self, rules: &[&LoadedRule], leased: Option<BTreeMap<Shard, i64>>) -> Option<Fence> {
        match (&self.scope, leased) {
            (RuleScope::Fleet(ownership), Some(leased)) => Some(Fence {
                worker_id: ownership.worker_id().to_owned(),
                epochs: rules
                    .iter()
                    .filter_map(|r| leased.get(&r.shard).map(|epoch| (r.shard, *epoch)))
                    .collect(),
                now: self.clock.now(),
                ttl: ownership.ttl(),
            }),
            _ => None,
        }
    }

    /// Refreshes and evaluates until `shutdown` fires. An evaluation in
    /// flight is finished before returning.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut last_refresh: Option<Instant> = None;
        let mut backoff = Duration::from_millis(100);
        loop {
            if last_refresh.is_none_or(|at| at.elapsed() >= self.settings.refresh_every) {
                match self.refresh().await {
                    Ok(report) if report.loaded > 0 || report.removed > 0 => {
                        tracing::info!(
                            rules = report.total,
                            loaded = report.loaded,
                            removed = report.removed,
                            "rules refreshed"
                        );
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(error = %crate::error::chain(&error), "rule refresh failed")
                    }
                }
                last_refresh = Some(Instant::now());
            }
            let now = self.clock.now();
            let started = Instant::now();
            let wait = match self.evaluate_due(now).await {
                Ok(report) => {
                    backoff = Duration::from_millis(100);
                    if report.rules > 0 {
                        tracing::debug!(
                            rules = report.rules,
                            queries = report.queries,
                            fired = report.persisted.fired,
                            resolved = report.persisted.resolved,
                            took_ms = started.elapsed().as_millis() as u64,
                            "evaluated"
                        );
                    }
                    let next = self
                        .rules
                        .next_due()
                        .map_or(Duration::MAX, |due| due.since(self.clock.now()));
                    let until_refresh = self
                        .settings
                        .refresh_every
                        .saturating_sub(last_refresh.map_or(Duration::ZERO, |at| at.elapsed()));
                    next.min(until_refresh).max(Duration::from_millis(5))
                }
                Err(error) => {
                    tracing::warn!(error = %crate::error::chain(&error), "evaluation failed; retrying");
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    backoff
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.refresh_signal.notified() => last_refresh = None,
                () = shutdown.cancelled() => return,
            }
        }
    }
}

/// The queries of a batch, in one list so that the source can merge them,
/// and the range of each rule's queries (and so of its answers) in it.
fn plan_batch(rules: &[&LoadedRule]) -> (Vec<SeriesQuery>, Vec<Range<usize>>) {
    let mut queries = Vec::new();
    let mut spans = Vec::with_capacity(rules.len());
    for rule in rules {
        let planned = queries_for(rule);
        spans.push(queries.len()..queries.len() + planned.len());
        queries.extend(planned);
    }
    (queries, spans)
}

/// Every series of one rule at `tick`, from its answers and stored states:
/// pushes what to write for each series onto `outcomes` and returns the
/// rule's health.
fn evaluate_rule(
    rule: &LoadedRule,
    answers: &[&Result<Vec<SeriesValue>, SourceError>],
    states: &StoredStates,
    silences: &[ActiveSilence],
    tick: Timestamp,
    outcomes: &mut Vec<SeriesOutcome>,
) -> RuleHealth {
    let known: BTreeSet<Labels> = states.values().map(|(labels, _)| labels.clone()).collect();
    let error = first_error(answers).map(ToString::to_string);
    let observed = observations(rule, answers, &known);
    let series = observed.len();
    let mut worst = Phase::Normal;
    for (labels, observation) in observed {
        let key = series_key(&labels);
        let previous = states.get(&key).map(|(_, s)| s);
        let decision = decide_series(rule, &labels, previous, observation, silences, tick);
        if decision.next.phase.urgency() > worst.urgency() {
            worst = decision.next.phase;
        }
        outcomes.push(outcome(rule, labels, key, previous, decision, tick));
    }
    RuleHealth {
        rule: rule.id,
        owner: rule.owner,
        state: worst,
        error,
        series,
    }
}

/// What persist writes for one decided series. The ids minted here (a
/// fired alert's, each notification row's) read the clock, which is why
/// they are not part of the decision.
fn outcome(
    rule: &LoadedRule,
    labels: Labels,
    series_key: String,
    previous: Option<&SeriesState>,
    decision: SeriesDecision,
    tick: Timestamp,
) -> SeriesOutcome {
    let SeriesDecision {
        mut next,
        transition,
        verdict,
        changed,
    } = decision;
    let fresh = SeriesState::default();
    let prev = previous.unwrap_or(&fresh);
    let mut alert_labels = rule.spec.metric.tags.clone();
    alert_labels.extend(labels.clone());
    let alert = matches!(transition, Some(Transition::Fired { .. })).then(|| {
        let id = AlertId::generate();
        next.alert_id = Some(id.to_string());
        AlertDraft {
            id,
            message: template::render(&rule.spec, &alert_labels, next.last_value),
            labels: alert_labels.clone(),
            rule_name: rule.spec.name.as_str().to_owned(),
            severity: rule.spec.severity,
            threshold: rule.spec.condition.threshold,
        }
    });
    let notifications = verdict.map_or_else(Vec::new, |verdict| {
        // A resolution is about the alert that just closed.
        let about = if verdict.event.is_resolution() {
            prev
        } else {
            &next
        };
        match (about.alert_id.as_deref(), about.firing_since) {
            (Some(id), Some(started_at)) => {
                let facts = AlertFacts {
                    id,
                    labels: &alert_labels,
                    started_at,
                    value: next.last_value,
                };
                rows_for(rule, facts, &verdict, tick)
            }
            _ => Vec::new(),
        }
    });
    SeriesOutcome {
        rule: rule.id,
        owner: rule.owner,
        shard: rule.shard,
        series_key,
        resolved_alert: prev.alert_id.clone(),
        labels,
        next,
        transition,
        changed,
        alert,
        notifications,
    }
}
