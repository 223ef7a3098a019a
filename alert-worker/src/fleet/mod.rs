//! The worker fleet: membership, a fair split of shards, and fenced leases.
//! Each worker heartbeats, computes the split of all shards over the live
//! workers, releases what is no longer its share, claims its share as it
//! frees up, and renews what it holds. The engine evaluates only rules in
//! shards whose lease is current, and writes under a fence on their epochs.

mod assign;
mod leases;

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, AtomicI64, Ordering},
    },
    time::Duration,
};

use sea_orm::DatabaseConnection;
use shared_models::{
    shard::Shard,
    time::{Clock, Timestamp},
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use assign::assign;
pub use leases::{Leases, fence, members, unowned_shards};

use crate::{
    error::{Result, chain},
    metrics::WorkerMetrics,
};

/// A lease this worker holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub epoch: i64,
    /// When the lease lapses unless renewed: past it, this worker stops
    /// evaluating the shard even if it cannot reach the database to learn
    /// whether someone else has claimed it.
    pub expires_at: Timestamp,
}

/// The shards this worker holds, shared between the fleet loop (writer) and
/// the engine and readiness probe (readers).
#[derive(Debug, Clone)]
pub struct Ownership {
    held: Arc<RwLock<BTreeMap<Shard, Held>>>,
    worker_id: Arc<str>,
    ttl: Duration,
    /// When the last round succeeded (epoch ms); `NEVER` before the first.
    last_round_at: Arc<AtomicI64>,
}

/// Where this worker stands in the fleet, as its readiness reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// No round has succeeded yet.
    Joining,
    /// Its last round succeeded within the TTL: its heartbeat counts and
    /// its leases are current.
    Member { shards: usize },
    /// No round has succeeded for a TTL: its leases have lapsed, and it
    /// evaluates nothing until a round succeeds again.
    Lapsed { since_ms: i64 },
}

impl Ownership {
    const NEVER: i64 = i64::MIN;

    pub fn new(worker_id: &str, ttl: Duration) -> Self {
        Self {
            held: Arc::default(),
            worker_id: Arc::from(worker_id),
            ttl,
            last_round_at: Arc::new(AtomicI64::new(Self::NEVER)),
        }
    }

    pub fn standing(&self, now: Timestamp) -> Standing {
        match self.last_round_at.load(Ordering::Acquire) {
            Self::NEVER => Standing::Joining,
            at if now < Timestamp::from_millis(at) + self.ttl => Standing::Member {
                shards: self.current(now).len(),
            },
            at => Standing::Lapsed {
                since_ms: now.as_millis() - at,
            },
        }
    }

    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// The lease TTL the leases are held under.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Shards whose lease is current at `now`, with their epochs.
    pub fn current(&self, now: Timestamp) -> BTreeMap<Shard, i64> {
        self.held
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|(_, held)| held.expires_at > now)
            .map(|(shard, held)| (*shard, held.epoch))
            .collect()
    }

    fn replace(&self, held: BTreeMap<Shard, Held>) {
        *self
            .held
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = held;
    }

    fn snapshot(&self) -> BTreeMap<Shard, Held> {
        self.held
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

#[derive(Debug, Clone)]
pub struct FleetSettings {
    pub shard_count: u32,
    pub lease_ttl: Duration,
    pub host: String,
}

impl FleetSettings {
    /// Leases are renewed three times per TTL, so one failed renewal never
    /// costs a lease.
    pub fn renew_every(&self) -> Duration {
        self.lease_ttl / 3
    }
}

/// What one round changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RoundReport {
    pub live_workers: usize,
    pub claimed: Vec<Shard>,
    pub released: Vec<Shard>,
    pub lost: Vec<Shard>,
    pub held: usize,
    /// When a lease of this worker's share that another still holds lapses:
    /// the next round goes then, not a whole renewal period later, so a dead
    /// worker's shards move within the TTL.
    pub next_lapse: Option<Timestamp>,
}

pub struct Fleet {
    leases: Leases,
    ownership: Ownership,
    clock: Arc<dyn Clock>,
    settings: FleetSettings,
    started_at: Timestamp,
    metrics: Option<Arc<WorkerMetrics>>,
    /// The engine's refresh, woken when a round claims shards, so their
    /// rules are loaded now rather than at the next periodic refresh.
    claimed_signal: Option<Arc<Notify>>,
    rows_ensured: AtomicBool,
}

impl Fleet {
    pub fn new(
        db: DatabaseConnection,
        worker_id: String,
        clock: Arc<dyn Clock>,
        settings: FleetSettings,
    ) -> Self {
        Self {
            ownership: Ownership::new(&worker_id, settings.lease_ttl),
            leases: Leases::new(db, worker_id, settings.lease_ttl),
            started_at: clock.now(),
            clock,
            settings,
            metrics: None,
            claimed_signal: None,
            rows_ensured: AtomicBool::new(false),
        }
    }

    pub fn with_claimed_signal(mut self, signal: Arc<Notify>) -> Self {
        self.claimed_signal = Some(signal);
        self
    }

    pub fn with_metrics(mut self, metrics: Arc<WorkerMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The handle the engine reads the held shards through.
    pub fn ownership(&self) -> Ownership {
        self.ownership.clone()
    }

    /// One round: heartbeat, renew, give up what is no longer this
    /// worker's share, claim what is and is free.
    #[tracing::instrument(
        name = "lease_round",
        skip_all,
        fields(
            worker = self.leases.worker_id(),
            workers = tracing::field::Empty,
            held = tracing::field::Empty,
            claimed = tracing::field::Empty,
            released = tracing::field::Empty,
            lost = tracing::field::Empty,
        )
    )]
    pub async fn round(&self) -> Result<RoundReport> {
        let now = self.clock.now();
        let ttl = self.settings.lease_ttl;
        // The lease rows exist for good once created: once per process.
        if !self.rows_ensured.load(Ordering::Relaxed) {
            self.leases.ensure_rows(self.settings.shard_count).await?;
            self.rows_ensured.store(true, Ordering::Relaxed);
        }
        self.leases
            .heartbeat(&self.settings.host, self.started_at, now)
            .await?;
        let mut live = self.leases.live_workers(now).await?;
        live.insert(self.leases.worker_id().to_owned());
        let share = assign(self.settings.shard_count, &live)
            .remove(self.leases.worker_id())
            .unwrap_or_default();

        let before = self.ownership.snapshot();
        let epochs: BTreeMap<Shard, i64> = before.iter().map(|(s, h)| (*s, h.epoch)).collect();
        let kept = self.leases.renew(&epochs, now).await?;
        let mut report = RoundReport {
            live_workers: live.len(),
            lost: epochs
                .keys()
                .filter(|s| !kept.contains_key(s))
                .copied()
                .collect(),
            ..RoundReport::default()
        };
        let surplus: Vec<Shard> = kept
            .keys()
            .filter(|s| !share.contains(s))
            .copied()
            .collect();
        self.leases.release(surplus.iter().copied()).await?;
        report.released = surplus;
        let mut held: BTreeMap<Shard, Held> = kept
            .into_iter()
            .filter(|(s, _)| share.contains(s))
            .map(|(s, epoch)| {
                (
                    s,
                    Held {
                        epoch,
                        expires_at: now + ttl,
                    },
                )
            })
            .collect();
        let wanted: BTreeSet<Shard> = share
            .into_iter()
            .filter(|s| !held.contains_key(s))
            .collect();
        for &shard in &wanted {
            if let Some(epoch) = self.leases.claim(shard, now).await? {
                held.insert(
                    shard,
                    Held {
                        epoch,
                        expires_at: now + ttl,
                    },
                );
                report.claimed.push(shard);
            }
        }
        let missing: BTreeSet<Shard> = wanted
            .into_iter()
            .filter(|s| !held.contains_key(s))
            .collect();
        report.next_lapse = self.leases.earliest_expiry(&missing, now).await?;
        report.held = held.len();
        let span = tracing::Span::current();
        span.record("workers", report.live_workers);
        span.record("held", report.held);
        span.record("claimed", report.claimed.len());
        span.record("released", report.released.len());
        span.record("lost", report.lost.len());
        self.ownership.replace(held);
        self.ownership
            .last_round_at
            .store(now.as_millis(), Ordering::Release);
        Ok(report)
    }

    /// Rounds every renewal period until `shutdown`; then releases every
    /// shard and leaves, so that others take over at once.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let round = self.round().await;
            let next_lapse = round.as_ref().ok().and_then(|r| r.next_lapse);
            if let (Ok(report), Some(signal)) = (&round, &self.claimed_signal)
                && !report.claimed.is_empty()
            {
                signal.notify_one();
            }
            if let Some(metrics) = &self.metrics {
                match &round {
                    Ok(report) => {
                        report.claimed.iter().for_each(|_| metrics.lease_claimed());
                        report.lost.iter().for_each(|_| metrics.lease_lost());
                        metrics.set_owned_shards(report.held);
                    }
                    Err(_) => metrics.lease_renew_failed(),
                }
            }
            match round {
                Ok(report)
                    if !report.claimed.is_empty()
                        || !report.released.is_empty()
                        || !report.lost.is_empty() =>
                {
                    tracing::info!(
                        workers = report.live_workers,
                        held = report.held,
                        claimed = report.claimed.len(),
                        released = report.released.len(),
                        lost = report.lost.len(),
                        "shard leases changed"
                    );
                }
                Ok(_) => {}
                // The held leases keep their expiry: the engine stops using
                // them when they lapse, whether or not the database is back.
                Err(error) => tracing::warn!(error = %chain(&error), "lease round failed"),
            }
            let until_lapse =
                next_lapse.map(|at| (at + Duration::from_millis(1)).since(self.clock.now()));
            let wait = until_lapse.map_or(self.settings.renew_every(), |d| {
                d.min(self.settings.renew_every())
            });
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
        if let Some(metrics) = &self.metrics {
            metrics.set_owned_shards(0);
        }
        if let Err(error) = self.leave().await {
            tracing::warn!(error = %chain(&error), "releasing shards on shutdown failed; they lapse with their leases");
        }
    }

    /// Gives up every shard: at once in this process, and in the database
    /// for the next round of the others. Tests leave without a shutdown.
    pub async fn leave(&self) -> Result<()> {
        self.ownership.replace(BTreeMap::new());
        self.leases.leave().await
    }
}
