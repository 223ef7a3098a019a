//! Opening the database and running migrations.

use migrations::{Migrator, MigratorTrait};
use sea_orm::{DatabaseConnection, DbErr};

use crate::{config::Config, error::Result};

pub async fn connect(config: &Config) -> Result<DatabaseConnection> {
    Ok(shared_models::db::connect(config.database_url.expose(), config.db_max_connections).await?)
}

pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.ping().await
}
