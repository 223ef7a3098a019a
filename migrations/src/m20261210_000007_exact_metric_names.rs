//! Metric names compare byte for byte on MySQL and MariaDB, as they do in
//! InfluxDB and SQLite. The default collations there ignore case and
//! trailing spaces, so `cpu`, `CPU` and `cpu ` were one name to `DISTINCT`
//! and `=`, and listing metrics merged them.
//!
//! The name columns of `points` (and `tags`, whose distinct values the
//! listing reads) get a binary collation without space padding: MariaDB's
//! `utf8mb4_nopad_bin`, MySQL 8's `utf8mb4_0900_bin`. `utf8mb4_bin` would
//! not do: it pads, so `'cpu' = 'cpu '` still holds. SQLite compares bytes
//! already; there this migration does nothing.
//!
//! Down restores the table's default collation, which the columns had.

use sea_orm_migration::{
    prelude::*,
    sea_orm::{ConnectionTrait, DatabaseBackend, Statement},
};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The columns changed, with their type as created.
const COLUMNS: [(&str, &str); 5] = [
    ("db", "VARCHAR(64)"),
    ("measurement", "VARCHAR(256)"),
    ("field", "VARCHAR(256)"),
    ("series_key", "VARCHAR(512)"),
    ("tags", "TEXT"),
];

/// Binary collations that do not pad, the first one the server has wins.
const EXACT_COLLATIONS: [&str; 2] = ["utf8mb4_nopad_bin", "utf8mb4_0900_bin"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::MySql {
            return Ok(());
        }
        let collation = exact_collation(manager).await?;
        set_collation(manager, "utf8mb4", &collation).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::MySql {
            return Ok(());
        }
        let (charset, collation) = table_default(manager).await?;
        set_collation(manager, &charset, &collation).await
    }
}

async fn exact_collation(manager: &SchemaManager<'_>) -> Result<String, DbErr> {
    let db = manager.get_connection();
    for name in EXACT_COLLATIONS {
        let found = db
            .query_one_raw(Statement::from_sql_and_values(
                DatabaseBackend::MySql,
                "SELECT COLLATION_NAME FROM information_schema.COLLATIONS WHERE COLLATION_NAME = ?",
                [name.into()],
            ))
            .await?;
        if found.is_some() {
            return Ok(name.to_owned());
        }
    }
    Err(DbErr::Migration(format!(
        "this server has none of the collations {} that compare metric names exactly; \
         MySQL 8.0 or MariaDB 10.2 and later have one",
        EXACT_COLLATIONS.join(", ")
    )))
}

/// The character set and collation `points` was created with.
async fn table_default(manager: &SchemaManager<'_>) -> Result<(String, String), DbErr> {
    let row = manager
        .get_connection()
        .query_one_raw(Statement::from_string(
            DatabaseBackend::MySql,
            "SELECT c.CHARACTER_SET_NAME, t.TABLE_COLLATION FROM information_schema.TABLES t \
             JOIN information_schema.COLLATIONS c ON c.COLLATION_NAME = t.TABLE_COLLATION \
             WHERE t.TABLE_SCHEMA = DATABASE() AND t.TABLE_NAME = 'points'",
        ))
        .await?
        .ok_or_else(|| DbErr::Migration("the points table is missing".to_owned()))?;
    Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?))
}

async fn set_collation(
    manager: &SchemaManager<'_>,
    charset: &str,
    collation: &str,
) -> Result<(), DbErr> {
    // Names come from information_schema or the constants above, never
    // from input; still, nothing but a name goes into the statement.
    for name in [charset, collation] {
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(DbErr::Migration(format!(
                "unexpected character set or collation name {name:?}"
            )));
        }
    }
    let columns: Vec<String> = COLUMNS
        .iter()
        .map(|(column, kind)| {
            format!("MODIFY `{column}` {kind} CHARACTER SET {charset} COLLATE {collation} NOT NULL")
        })
        .collect();
    manager
        .get_connection()
        .execute_unprepared(&format!("ALTER TABLE points {}", columns.join(", ")))
        .await?;
    Ok(())
}
