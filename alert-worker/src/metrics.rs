//! The worker's Prometheus metrics. Every name, label and bucket is declared
//! here, in one registry per process (`shared_models::metrics` says why).
//! The engine, the dispatcher and the fleet code record through the methods
//! below; the HTTP server renders the registry.

use std::time::Duration;

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use shared_models::{metrics::register, notification::DeliveryStatus};

use crate::engine::PersistReport;

/// Upper bounds, in seconds, of one batch's evaluation: a few rules on the
/// built-in store take milliseconds, a full batch of 20,000 against a slow
/// InfluxDB tens of seconds.
const EVALUATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The outcomes a delivery attempt can end in, as `outcome` label values.
const NOTIFICATION_OUTCOMES: [&str; 3] = ["delivered", "retry", "failed"];

pub struct WorkerMetrics {
    registry: Registry,
    rules: IntGauge,
    owned_shards: IntGauge,
    evaluations: IntCounter,
    evaluation_seconds: Histogram,
    query_batches: IntCounter,
    queries: IntCounter,
    alerts_fired: IntCounter,
    alerts_resolved: IntCounter,
    notifications: IntCounterVec,
    notifications_unopenable: IntCounter,
    lease_claims: IntCounter,
    lease_losses: IntCounter,
    lease_renew_failures: IntCounter,
}

impl WorkerMetrics {
    /// A fresh registry holding every worker metric at zero.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| register(&registry, IntCounter::new(name, help));
        let gauge = |name: &str, help: &str| register(&registry, IntGauge::new(name, help));
        let notifications = register(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "monitors_worker_notifications_total",
                    "Notification delivery attempts, by outcome.",
                ),
                &["outcome"],
            ),
        )?;
        // Every outcome is exported from the start, so a rate over a
        // counter that has not moved yet reads 0 instead of nothing.
        for outcome in NOTIFICATION_OUTCOMES {
            notifications.with_label_values(&[outcome]);
        }
        Ok(Self {
            rules: gauge(
                "monitors_worker_rules",
                "Enabled rules this worker evaluates, as of the last refresh.",
            )?,
            owned_shards: gauge(
                "monitors_worker_owned_shards",
                "Shards this worker holds a lease on.",
            )?,
            evaluations: counter(
                "monitors_worker_evaluations_total",
                "Rule evaluations completed.",
            )?,
            evaluation_seconds: register(
                &registry,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "monitors_worker_evaluation_seconds",
                        "Time to evaluate one batch of rules: query, state and commit.",
                    )
                    .buckets(EVALUATION_BUCKETS.to_vec()),
                ),
            )?,
            query_batches: counter(
                "monitors_worker_query_batches_total",
                "Calls to the metric source, one per evaluated batch.",
            )?,
            queries: counter(
                "monitors_worker_queries_total",
                "Queries asked of the metric source, across all batches.",
            )?,
            alerts_fired: counter("monitors_worker_alerts_fired_total", "Alerts opened.")?,
            alerts_resolved: counter("monitors_worker_alerts_resolved_total", "Alerts closed.")?,
            notifications,
            notifications_unopenable: counter(
                "monitors_worker_notifications_unopenable_total",
                "Notifications failed at once because their channel is sealed under a key this process does not have.",
            )?,
            lease_claims: counter(
                "monitors_worker_lease_claims_total",
                "Shard leases this worker claimed.",
            )?,
            lease_losses: counter(
                "monitors_worker_lease_losses_total",
                "Shard leases this worker lost to another or let expire.",
            )?,
            lease_renew_failures: counter(
                "monitors_worker_lease_renew_failures_total",
                "Lease renewals that failed.",
            )?,
            registry,
        })
    }

    /// What `/metrics` answers.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The rule set after a refresh.
    pub fn set_rules(&self, rules: usize) {
        self.rules.set(saturating_i64(rules));
    }

    /// One source call for a batch asking `queries` queries.
    pub fn query_batch(&self, queries: usize) {
        self.query_batches.inc();
        self.queries.inc_by(queries as u64);
    }

    /// One batch of `rules` evaluated and committed in `took`.
    pub fn batch_evaluated(&self, rules: usize, persisted: &PersistReport, took: Duration) {
        self.evaluations.inc_by(rules as u64);
        self.alerts_fired.inc_by(persisted.fired as u64);
        self.alerts_resolved.inc_by(persisted.resolved as u64);
        self.evaluation_seconds.observe(took.as_secs_f64());
    }

    /// The outcome recorded for one delivery attempt.
    pub fn notification_attempt(&self, status: DeliveryStatus) {
        let outcome = match status {
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Pending => "retry",
            DeliveryStatus::Failed => "failed",
            // Decided when the row is queued; no attempt ends in these.
            DeliveryStatus::Silenced | DeliveryStatus::Suppressed => return,
        };
        self.notifications.with_label_values(&[outcome]).inc();
    }

    /// One notification failed because its channel would not open here.
    pub fn notification_unopenable(&self) {
        self.notifications_unopenable.inc();
    }

    /// The number of shards this worker holds now.
    pub fn set_owned_shards(&self, shards: usize) {
        self.owned_shards.set(saturating_i64(shards));
    }

    /// One shard's lease taken (a new epoch).
    pub fn lease_claimed(&self) {
        self.lease_claims.inc();
    }

    /// One shard's lease found taken by another worker, or expired.
    pub fn lease_lost(&self) {
        self.lease_losses.inc();
    }

    /// One renewal that did not reach the database or was refused.
    pub fn lease_renew_failed(&self) {
        self.lease_renew_failures.inc();
    }
}

fn saturating_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use shared_models::metrics::render;

    use super::*;

    /// The value of the sample line that starts with `series` and a space.
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|value| value.parse().ok())
    }

    #[test]
    fn every_metric_is_exported_at_zero_with_its_type() {
        let text = render(WorkerMetrics::new().unwrap().registry()).unwrap();
        for (name, kind) in crate::testing::exposition::FAMILIES {
            assert!(
                text.contains(&format!("# TYPE {name} {kind}\n")),
                "{name} {kind} missing from:\n{text}"
            );
        }
        for outcome in NOTIFICATION_OUTCOMES {
            let series = format!("monitors_worker_notifications_total{{outcome=\"{outcome}\"}}");
            assert_eq!(sample(&text, &series), Some(0.0), "{series}");
        }
        assert_eq!(
            sample(&text, "monitors_worker_evaluation_seconds_count"),
            Some(0.0)
        );
    }

    #[test]
    fn recordings_move_their_own_metric() {
        let metrics = WorkerMetrics::new().unwrap();
        metrics.set_rules(7);
        metrics.query_batch(3);
        metrics.batch_evaluated(
            7,
            &PersistReport {
                fired: 2,
                resolved: 1,
                ..PersistReport::default()
            },
            Duration::from_millis(30),
        );
        metrics.notification_attempt(DeliveryStatus::Delivered);
        metrics.notification_attempt(DeliveryStatus::Pending);
        metrics.notification_attempt(DeliveryStatus::Pending);
        metrics.notification_attempt(DeliveryStatus::Failed);
        metrics.notification_attempt(DeliveryStatus::Silenced);
        metrics.notification_unopenable();
        metrics.set_owned_shards(85);
        metrics.lease_claimed();
        metrics.lease_claimed();
        metrics.lease_lost();
        metrics.lease_renew_failed();
        let text = render(metrics.registry()).unwrap();
        for (series, value) in [
            ("monitors_worker_rules", 7.0),
            ("monitors_worker_query_batches_total", 1.0),
            ("monitors_worker_queries_total", 3.0),
            ("monitors_worker_evaluations_total", 7.0),
            ("monitors_worker_alerts_fired_total", 2.0),
            ("monitors_worker_alerts_resolved_total", 1.0),
            ("monitors_worker_evaluation_seconds_count", 1.0),
            ("monitors_worker_evaluation_seconds_sum", 0.03),
            (
                "monitors_worker_evaluation_seconds_bucket{le=\"0.025\"}",
                0.0,
            ),
            (
                "monitors_worker_evaluation_seconds_bucket{le=\"0.05\"}",
                1.0,
            ),
            (
                "monitors_worker_notifications_total{outcome=\"delivered\"}",
                1.0,
            ),
            (
                "monitors_worker_notifications_total{outcome=\"retry\"}",
                2.0,
            ),
            (
                "monitors_worker_notifications_total{outcome=\"failed\"}",
                1.0,
            ),
            ("monitors_worker_notifications_unopenable_total", 1.0),
            ("monitors_worker_owned_shards", 85.0),
            ("monitors_worker_lease_claims_total", 2.0),
            ("monitors_worker_lease_losses_total", 1.0),
            ("monitors_worker_lease_renew_failures_total", 1.0),
        ] {
            assert_eq!(sample(&text, series), Some(value), "{series} in:\n{text}");
        }
        // Silenced and suppressed rows are never attempted: no new series.
        assert!(!text.contains("outcome=\"silenced\""), "{text}");
    }
}
