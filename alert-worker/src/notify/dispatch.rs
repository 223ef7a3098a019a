//! The dispatcher: claims due outbox rows, delivers them with bounded
//! concurrency, and records each attempt's outcome.
//!
//! Claims are optimistic and work the same on SQLite, MariaDB and MySQL: a
//! process marks candidate rows with its own claim token and an expiry in
//! one conditional UPDATE, then reads back what it won. Two dispatchers can
//! therefore never both hold a row, and a dispatcher that dies mid-delivery
//! leaves its rows to be claimed again once the claim expires: delivery is at
//! least once, and the receiver sees the same `webhook-id` each time. A
//! delivered row is never claimed again.

use std::{sync::Arc, time::Duration};

use ring::rand::{SecureRandom, SystemRandom};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::Expr,
};
use shared_models::{
    channel::ChannelConfig,
    config::NotifySettings,
    crypto::{CryptoError, Keyring},
    entity::{TenantScoped, notification, notification_channel},
    ids::UserId,
    notification::{DeliveryStatus, NotificationEvent},
    time::{Clock, Timestamp, duration_millis},
};
use tokio::{sync::Notify, task::JoinSet};
use tokio_util::sync::CancellationToken;

use super::{Attempt, Delivery, send::Sender};
use crate::{
    error::{Result, chain},
    metrics::WorkerMetrics,
};

#[derive(Debug, Clone)]
pub struct DispatchSettings {
    pub concurrency: usize,
    pub max_attempts: u32,
    pub max_age: Duration,
    pub backoff: Duration,
    pub backoff_max: Duration,
    /// How long a claim holds a row. Longer than one attempt can take, so a
    /// live dispatcher never loses a row it is still sending.
    pub claim_ttl: Duration,
    /// How often the outbox is polled when nothing wakes the dispatcher:
    /// retries fall due, and other processes queue rows.
    pub poll_every: Duration,
}

impl DispatchSettings {
    pub fn from_config(settings: &NotifySettings) -> Self {
        Self {
            concurrency: settings.notify_concurrency,
            max_attempts: settings.notify_max_attempts,
            max_age: settings.notify_max_age,
            backoff: settings.notify_backoff,
            backoff_max: settings.notify_backoff_max,
            claim_ttl: settings
                .notify_timeout
                .saturating_mul(3)
                .max(Duration::from_secs(30)),
            poll_every: Duration::from_millis(500),
        }
    }
}

/// What one pass of [`Dispatcher::dispatch_all_due`] did.
#[cfg(test)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DispatchReport {
    pub delivered: usize,
    pub retrying: usize,
    pub failed: usize,
}

pub struct Dispatcher {
    db: DatabaseConnection,
    sender: Arc<Sender>,
    keyring: Arc<Keyring>,
    clock: Arc<dyn Clock>,
    settings: DispatchSettings,
    wake: Arc<Notify>,
    rng: SystemRandom,
    metrics: Option<Arc<WorkerMetrics>>,
}

impl Dispatcher {
    pub fn new(
        db: DatabaseConnection,
        sender: Arc<Sender>,
        keyring: Arc<Keyring>,
        clock: Arc<dyn Clock>,
        settings: DispatchSettings,
    ) -> Self {
        Self {
            db,
            sender,
            keyring,
            clock,
            settings,
            wake: Arc::new(Notify::new()),
            rng: SystemRandom::new(),
            metrics: None,
        }
    }

    /// Counts each attempt's recorded outcome in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<WorkerMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The dispatcher a process runs: egress policy and sender from the
    /// configuration, with the keyring the process checked at start.
    pub fn from_config(
        db: DatabaseConnection,
        settings: &NotifySettings,
        keyring: Arc<Keyring>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let sender = Arc::new(Sender::from_config(settings)?);
        Ok(Self::new(
            db,
            sender,
            keyring,
            clock,
            DispatchSettings::from_config(settings),
        ))
    }

    /// Notify this to have the dispatcher look at the outbox now; the engine
    /// does after committing rows.
    pub fn wake_signal(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Claims every row due now (up to the concurrency limit at a time),
    /// delivers them and records the outcomes. For tests, which drive the
    /// outbox through it; the service runs [`Dispatcher::run`].
    #[cfg(test)]
    pub async fn dispatch_all_due(self: &Arc<Self>) -> Result<DispatchReport> {
        let mut report = DispatchReport::default();
        loop {
            let claimed = self.claim(self.settings.concurrency).await?;
            if claimed.is_empty() {
                return Ok(report);
            }
            let mut tasks = JoinSet::new();
            for row in claimed {
                let this = self.clone();
                tasks.spawn(async move { this.deliver(row).await });
            }
            while let Some(outcome) = tasks.join_next().await {
                match outcome {
                    Ok(Ok(DeliveryStatus::Delivered)) => report.delivered += 1,
                    Ok(Ok(DeliveryStatus::Failed)) => report.failed += 1,
                    Ok(Ok(_)) => report.retrying += 1,
                    Ok(Err(error)) => return Err(error),
                    Err(panic) => {
                        return Err(crate::Error::Corrupt(format!(
                            "delivery task failed: {panic}"
                        )));
                    }
                }
            }
        }
    }

    /// Delivers until `shutdown` fires, then finishes the deliveries in
    /// flight (each bounded by the send timeout) before returning.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tasks: JoinSet<Result<DeliveryStatus>> = JoinSet::new();
        let mut backoff = Duration::from_millis(100);
        loop {
            while let Some(done) = tasks.try_join_next() {
                log_task_end(done);
            }
            let room = self.settings.concurrency.saturating_sub(tasks.len());
            let mut claimed_any = false;
            if room > 0 {
                match self.claim(room).await {
                    Ok(rows) => {
                        backoff = Duration::from_millis(100);
                        claimed_any = !rows.is_empty();
                        for row in rows {
                            let this = self.clone();
                            tasks.spawn(async move { this.deliver(row).await });
                        }
                    }
                    Err(error) => {
                        tracing::warn!(error = %chain(&error), "claiming notifications failed");
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            }
            // A full claim may have left more rows due: look again at once
            // when there is room, otherwise wait for a wake, a finished
            // delivery, or the poll.
            let wait = if claimed_any && tasks.len() < self.settings.concurrency {
                Duration::ZERO
            } else {
                self.settings.poll_every.max(backoff)
            };
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.wake.notified() => {}
                Some(done) = tasks.join_next(), if !tasks.is_empty() => log_task_end(done),
                () = tokio::time::sleep(wait) => {}
            }
        }
        while let Some(done) = tasks.join_next().await {
            log_task_end(done);
        }
    }

    async fn claim(&self, limit: usize) -> Result<Vec<notification::Model>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let now = self.clock.now();
        let claimable = || {
            Condition::all()
                .add(notification::Column::Status.eq(DeliveryStatus::Pending.as_str()))
                .add(notification::Column::NextAttemptAt.lte(now))
                .add(
                    Condition::any()
                        .add(notification::Column::ClaimedUntil.is_null())
                        .add(notification::Column::ClaimedUntil.lt(now)),
                )
        };
        let candidates: Vec<String> = notification::Entity::find()
            .select_only()
            .column(notification::Column::Id)
            .filter(claimable())
            .order_by_asc(notification::Column::NextAttemptAt)
            .limit(limit as u64)
            .into_tuple()
            .all(&self.db)
            .await?;
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let token = uuid::Uuid::now_v7().to_string();
        notification::Entity::update_many()
            .col_expr(notification::Column::ClaimToken, Expr::value(token.clone()))
            .col_expr(
                notification::Column::ClaimedUntil,
                Expr::value(now + self.settings.claim_ttl),
            )
            .filter(notification::Column::Id.is_in(candidates))
            .filter(claimable())
            .exec(&self.db)
            .await?;
        Ok(notification::Entity::find()
            .filter(notification::Column::ClaimToken.eq(token))
            .filter(notification::Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .all(&self.db)
            .await?)
    }

    /// One attempt for one claimed row, recorded under the claim.
    #[tracing::instrument(
        name = "delivery_attempt",
        skip_all,
        fields(
            notification = %row.id,
            channel = %row.channel_id,
            attempt = row.attempts + 1,
            channel_kind = tracing::field::Empty,
        )
    )]
    async fn deliver(&self, row: notification::Model) -> Result<DeliveryStatus> {
        let attempt = match self.open(&row).await {
            Ok((channel, name, event)) => {
                tracing::Span::current().record("channel_kind", channel.kind().as_str());
                let delivery = Delivery {
                    id: &row.id,
                    event: &event,
                    channel: &channel,
                    channel_name: &name,
                    now: self.clock.now(),
                };
                self.sender.send(&delivery).await
            }
            Err(attempt) => attempt,
        };
        let status = self.record(&row, &attempt).await?;
        if let Some(metrics) = &self.metrics {
            metrics.notification_attempt(status);
        }
        let (code, error) = match &attempt {
            Attempt::Delivered { status, .. } => (*status, None),
            Attempt::Retry { status, error, .. } | Attempt::Permanent { status, error } => {
                (*status, Some(error.as_str()))
            }
        };
        tracing::info!(
            notification = %row.id,
            alert = %row.alert_id,
            channel = %row.channel_id,
            event = %row.event,
            attempt = row.attempts + 1,
            status = status.as_str(),
            receiver_status = code,
            error,
            "notification attempt"
        );
        Ok(status)
    }

    /// The channel and the event of a row, or the attempt outcome that
    /// explains why they cannot be had.
    async fn open(
        &self,
        row: &notification::Model,
    ) -> Result<(ChannelConfig, String, NotificationEvent), Attempt> {
        let permanent = |error: String| Attempt::Permanent {
            status: None,
            error,
        };
        let owner: UserId = row
            .owner_id
            .parse()
            .map_err(|_| permanent("the notification's owner id is unreadable".to_owned()))?;
        let channel = notification_channel::Entity::find_owned_by_id(owner, &row.channel_id)
            .one(&self.db)
            .await
            .map_err(|e| Attempt::Retry {
                status: None,
                retry_after: None,
                error: format!("reading the channel: {}", chain(&e)),
            })?
            .ok_or_else(|| permanent("the channel no longer exists".to_owned()))?;
        // Retrying cannot help: every process checked its keyring against
        // the database at start, so a channel this one cannot open was sealed
        // under a key the installation does not share. Fail it now, saying
        // so, rather than hold it pending for the retry budget's day.
        let config =
            ChannelConfig::open(&self.keyring, &channel.id, &channel.sealed).map_err(|e| {
                let error = unopenable(&e);
                if let Some(metrics) = &self.metrics {
                    metrics.notification_unopenable();
                }
                tracing::warn!(
                    notification = %row.id,
                    channel = %channel.id,
                    error = %error,
                    "notification failed: its channel cannot be opened here"
                );
                permanent(error)
            })?;
        let event: NotificationEvent = serde_json::from_str(&row.payload)
            .map_err(|_| permanent("the notification's payload is unreadable".to_owned()))?;
        Ok((config, channel.name, event))
    }

    /// Writes the outcome, only while the claim is still this one's.
    async fn record(&self, row: &notification::Model, attempt: &Attempt) -> Result<DeliveryStatus> {
        let now = self.clock.now();
        let attempts = row.attempts.saturating_add(1);
        let (status, next_attempt_at, code, error) = match attempt {
            Attempt::Delivered { status, .. } => (DeliveryStatus::Delivered, now, *status, None),
            Attempt::Permanent { status, error } => {
                (DeliveryStatus::Failed, now, *status, Some(error.clone()))
            }
            Attempt::Retry {
                status,
                retry_after,
                error,
            } => {
                let exhausted =
                    u32::try_from(attempts).unwrap_or(u32::MAX) >= self.settings.max_attempts;
                let at = now + self.retry_delay(attempts, *retry_after);
                let too_old = at.since(row.created_at) > self.settings.max_age;
                if exhausted || too_old {
                    let why = if exhausted {
                        format!("gave up after {attempts} attempts: {error}")
                    } else {
                        format!("gave up: older than the retry age limit: {error}")
                    };
                    (DeliveryStatus::Failed, now, *status, Some(why))
                } else {
                    (DeliveryStatus::Pending, at, *status, Some(error.clone()))
                }
            }
        };
        let mut update = notification::Entity::update_many()
            .col_expr(notification::Column::Status, Expr::value(status.as_str()))
            .col_expr(notification::Column::Attempts, Expr::value(attempts))
            .col_expr(
                notification::Column::NextAttemptAt,
                Expr::value(next_attempt_at),
            )
            .col_expr(
                notification::Column::ResponseStatus,
                Expr::value(code.map(i32::from)),
            )
            .col_expr(notification::Column::LastError, Expr::value(error))
            .col_expr(
                notification::Column::ClaimToken,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                notification::Column::ClaimedUntil,
                Expr::value(Option::<Timestamp>::None),
            )
            .col_expr(notification::Column::UpdatedAt, Expr::value(now));
        if status == DeliveryStatus::Delivered {
            update = update.col_expr(notification::Column::DeliveredAt, Expr::value(now));
        }
        let result = update
            .filter(notification::Column::Id.eq(&row.id))
            .filter(notification::Column::ClaimToken.eq(row.claim_token.clone()))
            .exec(&self.db)
            .await?;
        if result.rows_affected == 0 {
            tracing::warn!(notification = %row.id, "claim expired before the outcome was recorded");
        }
        Ok(status)
    }

    /// Exponential backoff with jitter (each delay drawn from the upper half
    /// of its step, so retries of many rows spread out), and never sooner
    /// than the receiver's `Retry-After`.
    fn retry_delay(&self, attempts: i32, retry_after: Option<Duration>) -> Duration {
        let exponent = u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(0)
            .min(30);
        let step = duration_millis(self.settings.backoff)
            .saturating_mul(1_i64 << exponent)
            .min(duration_millis(self.settings.backoff_max))
            .max(1);
        let mut bytes = [0u8; 8];
        let unit = if self.rng.fill(&mut bytes).is_ok() {
            (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
        } else {
            1.0
        };
        let jittered = step / 2 + (step as f64 / 2.0 * unit) as i64;
        let asked = retry_after.map_or(0, duration_millis);
        Duration::from_millis(u64::try_from(jittered.max(asked)).unwrap_or(0))
    }
}

/// Why a channel's configuration does not open, for the notification's
/// delivery status and the log: what is wrong and what to set.
fn unopenable(error: &CryptoError) -> String {
    match error {
        CryptoError::UnknownKey(id) => format!(
            "the channel is sealed under key {id}, which this process does not have; give every \
gateway and worker the installation's MONITORS_ENCRYPTION_KEY (and the earlier key in \
MONITORS_ENCRYPTION_OLD_KEYS until `mcp-gateway keys rotate` has run)"
        ),
        other => format!("the channel's configuration cannot be opened: {other}"),
    }
}

fn log_task_end(done: std::result::Result<Result<DeliveryStatus>, tokio::task::JoinError>) {
    match done {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => {
            tracing::warn!(error = %chain(&error), "recording a notification attempt failed")
        }
        Err(error) => tracing::error!(error = %error, "delivery task failed"),
    }
}
