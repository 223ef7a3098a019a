//! Listing a user's rules reads only `(id, version)` from `alert_rules`
//! (summaries are cached by version), so an index holding both lets the
//! listing skip one table lookup per rule.
//! It replaces `(owner_id, id)`, which it extends: every query that used
//! that index can use this one, including MySQL's foreign key on owner_id.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const COVERING: &str = "idx_alert_rules_owner_id_version";
const REPLACED: &str = "idx_alert_rules_owner_id";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The new index first: MySQL refuses to drop the only index that
        // serves a foreign key.
        create(manager, COVERING, &[AlertRules::Id, AlertRules::Version]).await?;
        drop(manager, REPLACED).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create(manager, REPLACED, &[AlertRules::Id]).await?;
        drop(manager, COVERING).await
    }
}

/// An index on `owner_id` followed by `columns`.
async fn create(
    manager: &SchemaManager<'_>,
    name: &str,
    columns: &[AlertRules],
) -> Result<(), DbErr> {
    let mut index = Index::create();
    index
        .name(name)
        .table(AlertRules::Table)
        .col(AlertRules::OwnerId)
        .if_not_exists();
    for column in columns {
        index.col(*column);
    }
    manager.create_index(index.to_owned()).await
}

async fn drop(manager: &SchemaManager<'_>, name: &str) -> Result<(), DbErr> {
    manager
        .drop_index(Index::drop().name(name).table(AlertRules::Table).to_owned())
        .await
}

#[derive(DeriveIden, Clone, Copy)]
enum AlertRules {
    Table,
    Id,
    OwnerId,
    Version,
}
