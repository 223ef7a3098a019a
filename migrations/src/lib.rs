//! Schema migrations. Each one runs unchanged on MySQL/MariaDB and SQLite,
//! which is why instants are integer milliseconds and ids fixed-width strings.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_create_core_tables;
mod m20261123_000002_create_evaluation_tables;
mod m20261123_000003_create_notification_tables;
mod m20261123_000004_create_fleet_tables;
mod m20261123_000005_create_oauth_tables;
mod m20261203_000006_cover_rule_listing;
mod m20261210_000007_exact_metric_names;
mod m20261214_000008_create_key_check;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_core_tables::Migration),
            Box::new(m20261123_000002_create_evaluation_tables::Migration),
            Box::new(m20261123_000003_create_notification_tables::Migration),
            Box::new(m20261123_000004_create_fleet_tables::Migration),
            Box::new(m20261123_000005_create_oauth_tables::Migration),
            Box::new(m20261203_000006_cover_rule_listing::Migration),
            Box::new(m20261210_000007_exact_metric_names::Migration),
            Box::new(m20261214_000008_create_key_check::Migration),
        ]
    }
}
