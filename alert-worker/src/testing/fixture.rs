//! A rule-evaluation fixture on a real database, fed by the built-in store,
//! with time passed in explicitly: no sleeping. Shared by the engine and
//! notification tests.

use std::{collections::BTreeMap, sync::Arc};

use crate::{
    engine::{Engine, EngineSettings, RuleScope},
    source::builtin::BuiltinSource,
    testing::{Backend, TestDb, insert_user},
};
use chrono::{TimeZone, Utc};
use migrations::{Migrator, MigratorTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Database, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set,
};
use serde_json::json;
use shared_models::{
    entity::{alert, alert_rule, point, rule_state},
    ids::{RuleId, UserId},
    rule::{RuleInput, RuleLimits, RuleSpec},
    series::series_key,
    shard::Shard,
    time::{Clock, ManualClock, Timestamp},
};

pub struct Fixture {
    pub db: DatabaseConnection,
    pub owner: UserId,
    /// Starts at t(0); the engine loads rules on it, and the dispatcher
    /// times claims and retries on it.
    pub clock: Arc<ManualClock>,
    _db: TestDb,
}

/// Instants in these tests: whole seconds from a fixed, round origin.
/// [`t`] as a [`Timestamp`], for the engine's entry points.
pub fn ts(seconds: i64) -> Timestamp {
    Timestamp::from_millis(t(seconds))
}

pub fn t(seconds: i64) -> i64 {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0)
        .unwrap()
        .timestamp_millis()
        + seconds * 1000
}

pub async fn fixture() -> Fixture {
    fixture_on(Backend::Sqlite).await
}

pub async fn fixture_on(backend: Backend) -> Fixture {
    let (test_db, url) = TestDb::create(backend).await;
    let db = Database::connect(url).await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    let owner = insert_user(&db, "a@example.com").await.unwrap();
    Fixture {
        db,
        owner,
        clock: Arc::new(ManualClock::new(Utc.timestamp_millis_opt(t(0)).unwrap())),
        _db: test_db,
    }
}

impl Fixture {
    pub async fn rule(&self, extra: serde_json::Value) -> RuleId {
        let mut v = json!({
            "name": "BTC above 70k",
            "metric": {"measurement": "crypto", "field": "price", "tags": {"symbol": "BTC"}, "window": "1m"},
            "condition": {"op": ">", "threshold": 70000},
            "interval": "10s",
            "annotations": {"summary": "{{rule.name}}: {{labels.symbol}} {{value}}"}
        });
        for (k, val) in extra.as_object().unwrap() {
            v[k] = val.clone();
        }
        let spec = RuleSpec::parse(
            serde_json::from_value::<RuleInput>(v).unwrap(),
            &RuleLimits::default(),
        )
        .unwrap();
        let id = RuleId::generate();
        alert_rule::ActiveModel {
            id: Set(id),
            owner_id: Set(self.owner),
            name: Set(spec.name.as_str().to_owned()),
            enabled: Set(true),
            severity: Set(spec.severity),
            interval_ms: Set(spec.interval.as_millis() as i64),
            shard: Set(Shard::of(&id, 256)),
            spec: Set(spec.clone()),
            version: Set(1),
            created_at: Set(Timestamp::EPOCH),
            updated_at: Set(Timestamp::EPOCH),
        }
        .insert(&self.db)
        .await
        .unwrap();
        id
    }

    pub async fn point(&self, symbol: &str, at: i64, value: f64) {
        let tags = BTreeMap::from([("symbol".to_owned(), symbol.to_owned())]);
        point::ActiveModel {
            owner_id: Set(self.owner.to_string()),
            db: Set("monitors".into()),
            measurement: Set("crypto".into()),
            field: Set("price".into()),
            series_key: Set(series_key(&tags)),
            tags: Set(serde_json::to_string(&tags).unwrap()),
            time: Set(at),
            value: Set(value),
            ..Default::default()
        }
        .insert(&self.db)
        .await
        .unwrap();
    }

    pub fn engine(&self) -> Engine {
        // Rules loaded now are first due on the tick at t(0).
        self.engine_with(RuleScope::All, self.clock.clone())
    }

    /// An engine on its own scope and clock, as one worker of a fleet.
    pub fn engine_with(&self, scope: RuleScope, clock: Arc<dyn Clock>) -> Engine {
        Engine::new(
            self.db.clone(),
            Arc::new(BuiltinSource::new(self.db.clone(), "monitors".to_owned())),
            clock,
            scope,
            EngineSettings::default(),
        )
    }

    pub async fn alerts(&self) -> Vec<alert::Model> {
        alert::Entity::find()
            .order_by_asc(alert::Column::StartedAt)
            .all(&self.db)
            .await
            .unwrap()
    }

    pub async fn state_of(&self, rule: RuleId) -> Vec<rule_state::Model> {
        rule_state::Entity::find()
            .filter(rule_state::Column::RuleId.eq(rule.to_string()))
            .all(&self.db)
            .await
            .unwrap()
    }
}
