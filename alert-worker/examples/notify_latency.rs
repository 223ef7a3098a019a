//! Notification latency, end to end through the real engine and dispatcher:
//! from the start of the evaluation that fires an alert to a local webhook
//! receiver reading the signed request, over `--alerts` alerts fired in
//! waves of `--wave`, on a fresh SQLite product database with the built-in
//! metrics store.
//!
//! ```text
//! cargo run --release -p alert-worker --example notify_latency -- [--alerts 1000] [--wave 10]
//! ```
//!
//! Each wave enables `--wave` rules whose series are above their threshold
//! (the rules of earlier waves are paused again, so every evaluation is of
//! one wave), waits for the next whole second (the rules' 1 s grid),
//! evaluates, and waits until the receiver has all of that wave's alerts.
//! It prints figures and records nothing.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use alert_worker::{
    DispatchSettings, Sender,
    testing::{BuiltinSource, Dispatcher, Engine, EngineSettings, RuleScope, insert_user},
};
use anyhow::{Context, Result, bail};
use axum::{Router, http::HeaderMap, routing::post};
use clap::Parser;
use migrations::{Migrator, MigratorTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set,
    sea_query::{Expr, ExprTrait},
};
use serde_json::json;
use shared_models::{
    channel::{ChannelConfig, ChannelKind},
    config::NotifySettings,
    crypto::Keyring,
    entity::{alert_rule, notification, notification_channel, point},
    ids::{ChannelId, RuleId, UserId},
    outbound::egress::EgressPolicy,
    rule::{HumanDuration, RuleInput, RuleLimits, RuleSpec},
    series::series_key,
    shard::Shard,
    time::{Clock, SystemClock, Timestamp},
};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
struct Args {
    /// Alerts in all.
    #[arg(long, default_value_t = 1_000)]
    alerts: usize,
    /// Alerts fired by one evaluation.
    #[arg(long, default_value_t = 10)]
    wave: usize,
}

/// Arrival instants by notification id (the `webhook-id` header).
type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.wave == 0 || args.alerts % args.wave != 0 {
        bail!("--alerts must be a multiple of --wave");
    }
    let dir = tempfile::tempdir()?;
    let db = shared_models::db::connect(
        &format!("sqlite://{}/bench.db?mode=rwc", dir.path().display()),
        8,
    )
    .await?;
    Migrator::up(&db, None).await?;

    let arrivals: Arrivals = Arc::default();
    let receiver = spawn_receiver(arrivals.clone()).await?;
    let owner = insert_user(&db, "bench@example.com").await?;
    let keyring = Arc::new(Keyring::from_base64(&Keyring::generate_key()?, &[])?);
    let channel = insert_channel(&db, &keyring, owner, &format!("http://{receiver}/hook")).await?;
    let rules = insert_rules(&db, owner, channel, args.alerts).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);

    let settings = NotifySettings {
        egress_allowlist: "127.0.0.1/32".into(),
        ..NotifySettings::default()
    };
    let sender = Sender::new(
        EgressPolicy::from_entries(&settings.egress_allowlist_entries())?,
        settings.notify_timeout,
    )?;
    let dispatcher = Arc::new(Dispatcher::new(
        db.clone(),
        Arc::new(sender),
        keyring,
        clock.clone(),
        DispatchSettings::from_config(&settings),
    ));
    let mut engine = Engine::new(
        db.clone(),
        Arc::new(BuiltinSource::new(db.clone(), "monitors".to_owned())),
        clock.clone(),
        RuleScope::All,
        EngineSettings::default(),
    )
    .with_outbox_signal(dispatcher.wake_signal());
    engine.refresh().await?;
    let shutdown = CancellationToken::new();
    let delivering = tokio::spawn(dispatcher.clone().run(shutdown.clone()));

    let mut fired_at: HashMap<RuleId, (Instant, Instant)> = HashMap::new();
    let mut sweep_ms = Vec::new();
    for (wave, ids) in rules.chunks(args.wave).enumerate() {
        let first = wave * args.wave;
        for i in first..first + ids.len() {
            insert_point(&db, owner, i, clock.now().as_millis(), 200.0).await?;
        }
        if wave > 0 {
            set_enabled(&db, &rules[first - args.wave..first], false).await?;
        }
        set_enabled(&db, ids, true).await?;
        engine.refresh().await?;
        // Wait for the next tick of the rules' 1 s grid (not a measurement).
        let now = clock.now().as_millis();
        tokio::time::sleep(Duration::from_millis(u64::try_from(1_000 - now % 1_000)?)).await;
        let began = Instant::now();
        let report = engine.evaluate_due(clock.now()).await?;
        let evaluated = Instant::now();
        sweep_ms.push(evaluated.duration_since(began).as_secs_f64() * 1e3);
        if report.persisted.fired != ids.len() {
            bail!(
                "wave {wave}: {} fired, expected {}",
                report.persisted.fired,
                ids.len()
            );
        }
        for id in ids {
            fired_at.insert(*id, (began, evaluated));
        }
        wait_for(&arrivals, first + ids.len()).await?;
    }
    shutdown.cancel();
    delivering.await?;

    let rows = notification::Entity::find().all(&db).await?;
    let arrived = arrivals.lock().unwrap_or_else(PoisonError::into_inner);
    let mut latencies: Vec<f64> = Vec::with_capacity(rows.len());
    let mut after_commit: Vec<f64> = Vec::with_capacity(rows.len());
    for row in rows {
        let rule: RuleId = row.rule_id.parse()?;
        let (began, evaluated) = fired_at
            .get(&rule)
            .context("a notification for an unknown rule")?;
        let at = arrived
            .get(&row.id)
            .with_context(|| format!("notification {} never arrived", row.id))?;
        latencies.push(at.duration_since(*began).as_secs_f64() * 1e3);
        after_commit.push(at.saturating_duration_since(*evaluated).as_secs_f64() * 1e3);
    }
    if latencies.len() != args.alerts {
        bail!(
            "{} notifications for {} alerts",
            latencies.len(),
            args.alerts
        );
    }
    latencies.sort_by(f64::total_cmp);
    after_commit.sort_by(f64::total_cmp);
    sweep_ms.sort_by(f64::total_cmp);
    let pct = |v: &[f64], p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "alerts {} in waves of {}: evaluation start -> receiver p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        args.wave,
        pct(&latencies, 0.5),
        pct(&latencies, 0.9),
        pct(&latencies, 0.99),
        latencies[latencies.len() - 1],
    );
    println!(
        "evaluation committed -> receiver p50 {:.1} ms, p99 {:.1} ms",
        pct(&after_commit, 0.5),
        pct(&after_commit, 0.99),
    );
    println!(
        "evaluation of {} rules per wave: p50 {:.1} ms, max {:.1} ms",
        args.wave,
        pct(&sweep_ms, 0.5),
        sweep_ms[sweep_ms.len() - 1],
    );
    Ok(())
}

async fn spawn_receiver(arrivals: Arrivals) -> Result<std::net::SocketAddr> {
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, _body: axum::body::Bytes| {
            let arrivals = arrivals.clone();
            async move {
                let now = Instant::now();
                if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) {
                    arrivals
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .entry(id.to_owned())
                        .or_insert(now);
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// Waits until `count` notifications have arrived, for at most 30 s.
async fn wait_for(arrivals: &Arrivals, count: usize) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let have = arrivals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        if have >= count {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("only {have} of {count} notifications arrived within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn insert_channel(
    db: &DatabaseConnection,
    keyring: &Keyring,
    owner: UserId,
    url: &str,
) -> Result<ChannelId> {
    let id = ChannelId::generate();
    let config = ChannelConfig::parse(
        ChannelKind::Webhook,
        json!({ "url": url }),
        &shared_models::channel::signing::generate_signing_secret()?,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let sealed = config.seal(keyring, &id.to_string())?;
    notification_channel::ActiveModel {
        id: Set(id.to_string()),
        owner_id: Set(owner.to_string()),
        name: Set("bench".into()),
        kind: Set(ChannelKind::Webhook.as_str().into()),
        sealed: Set(sealed),
        key_id: Set(keyring.current_key_id().to_owned()),
        redacted: Set(config.redacted().to_string()),
        created_at: Set(Timestamp::EPOCH),
        updated_at: Set(Timestamp::EPOCH),
        version: Set(1),
    }
    .insert(db)
    .await?;
    Ok(id)
}

async fn insert_rules(
    db: &DatabaseConnection,
    owner: UserId,
    channel: ChannelId,
    count: usize,
) -> Result<Vec<RuleId>> {
    let limits = RuleLimits {
        min_interval: HumanDuration::from_secs(1),
        ..RuleLimits::default()
    };
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let input: RuleInput = serde_json::from_value(json!({
            "name": format!("rule {i}"),
            "metric": {"measurement": "crypto", "field": "price", "tags": {"symbol": format!("S{i}")}, "window": "10s"},
            "condition": {"op": ">", "threshold": 100},
            "interval": "1s",
            "channels": [channel.to_string()],
            "notify_on_resolve": false,
        }))?;
        let spec = RuleSpec::parse(input, &limits).map_err(|e| anyhow::anyhow!("{e}"))?;
        let id = RuleId::generate();
        alert_rule::ActiveModel {
            id: Set(id),
            owner_id: Set(owner),
            name: Set(spec.name.as_str().to_owned()),
            enabled: Set(false),
            severity: Set(spec.severity),
            interval_ms: Set(1_000),
            shard: Set(Shard::of(&id, 256)),
            spec: Set(spec.clone()),
            version: Set(1),
            created_at: Set(Timestamp::EPOCH),
            updated_at: Set(Timestamp::EPOCH),
        }
        .insert(db)
        .await?;
        ids.push(id);
    }
    Ok(ids)
}

async fn set_enabled(db: &DatabaseConnection, ids: &[RuleId], enabled: bool) -> Result<()> {
    alert_rule::Entity::update_many()
        .col_expr(alert_rule::Column::Enabled, Expr::value(enabled))
        .col_expr(
            alert_rule::Column::Version,
            Expr::col(alert_rule::Column::Version).add(1),
        )
        .filter(alert_rule::Column::Id.is_in(ids.iter().map(ToString::to_string)))
        .exec(db)
        .await?;
    Ok(())
}

async fn insert_point(
    db: &DatabaseConnection,
    owner: UserId,
    series: usize,
    at: i64,
    value: f64,
) -> Result<()> {
    let tags = std::collections::BTreeMap::from([("symbol".to_owned(), format!("S{series}"))]);
    point::ActiveModel {
        owner_id: Set(owner.to_string()),
        db: Set("monitors".into()),
        measurement: Set("crypto".into()),
        field: Set("price".into()),
        series_key: Set(series_key(&tags)),
        tags: Set(serde_json::to_string(&tags)?),
        time: Set(at),
        value: Set(value),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}
