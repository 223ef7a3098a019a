//! Test support shared by this crate's tests, its process tests and the
//! gateway's: a database that exists for one test, on SQLite or on a fresh
//! MariaDB database, a rule-evaluation fixture on it, a local HTTP receiver
//! standing in for a customer's endpoint, an SMTP server, and servers a test
//! starts for itself (InfluxDB, MariaDB, Redis). Compiled for the crate's
//! own tests and with the `test-support` feature.

pub mod daemon;
pub mod exposition;
pub mod fixture;
pub mod influxd;
pub mod mariadbd;
pub mod receiver;
pub mod redis_server;
pub mod smtp;

/// The worker's internals that its process tests, its examples (the
/// benchmarks) and the gateway's tests drive directly, past the front door:
/// the engine and its query planner, the fleet's settings and leases, the
/// notification dispatcher, and the sources with what they answer.
pub use crate::{
    engine::{Engine, EngineSettings, RuleScope, SweepReport, plan::queries_for},
    fleet::{FleetSettings, Leases},
    notify::dispatch::Dispatcher,
    source::{
        SeriesQuery, SeriesValue,
        builtin::BuiltinSource,
        influx::{InfluxConfig, InfluxSource},
    },
};

use std::time::{Duration, Instant};

use sea_orm::{ActiveModelTrait, ConnectionTrait, Database, DbErr, Set};
use shared_models::{entity::user, ids::UserId, time::Timestamp};

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    MariaDb,
}

/// `MONITORS_TEST_MYSQL_URL`, or the local MariaDB's root account.
pub fn mysql_base_url() -> String {
    std::env::var("MONITORS_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned())
}

/// A database that exists for one test and is dropped after it.
pub enum TestDb {
    Sqlite { _dir: tempfile::TempDir },
    MariaDb { name: String },
}

impl TestDb {
    /// The database and its URL.
    pub async fn create(backend: Backend) -> (Self, String) {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/monitors.db?mode=rwc", dir.path().display());
                (Self::Sqlite { _dir: dir }, url)
            }
            Backend::MariaDb => {
                let name = format!("monitors_test_{}", uuid::Uuid::now_v7().simple());
                let admin = Database::connect(mysql_base_url())
                    .await
                    .expect("MariaDB reachable");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE `{name}`"))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                let url = format!("{}/{name}", mysql_base_url());
                (Self::MariaDb { name }, url)
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Self::MariaDb { name } = self {
            let statement = format!("DROP DATABASE IF EXISTS `{name}`");
            // Drop cannot await; a short-lived runtime on its own thread can.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                runtime.block_on(async {
                    let admin = Database::connect(mysql_base_url()).await.ok()?;
                    admin.execute_unprepared(&statement).await.ok()
                })
            })
            .join();
        }
    }
}

/// Stores a user with nothing but an email, to own the rules and channels a
/// test or benchmark makes.
pub async fn insert_user(db: &impl ConnectionTrait, email: &str) -> Result<UserId, DbErr> {
    let id = UserId::generate();
    user::ActiveModel {
        id: Set(id.to_string()),
        email: Set(email.to_owned()),
        created_at: Set(Timestamp::EPOCH),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(id)
}

/// Runs each named scenario, an `async fn(Backend)`, once on SQLite and
/// once on MariaDB, as two tests in a module named after it.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::testing::Backend::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn mariadb() {
                    super::$name($crate::testing::Backend::MariaDb).await
                }
            }
        )*
    };
}

/// Waits up to `within` for `check` to give a value, polling every few
/// milliseconds; panics with `what` and the last thing `check` saw
/// otherwise.
pub async fn within<T, F>(what: &str, within: Duration, mut check: F) -> T
where
    F: AsyncFnMut() -> Result<T, String>,
{
    let deadline = Instant::now() + within;
    loop {
        let last = match check().await {
            Ok(value) => return value,
            Err(last) => last,
        };
        assert!(
            Instant::now() < deadline,
            "{what}: not within {within:?}; last seen: {last}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
