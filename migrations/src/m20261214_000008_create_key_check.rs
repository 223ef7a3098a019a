//! One row that says which key this installation's secrets are sealed
//! under: a known value sealed at the first start. Every process opens it
//! at start, so that a gateway or worker given another key refuses to run
//! instead of failing each notification it later cannot open.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(KeyChecks::Table)
                    .if_not_exists()
                    .col(string_len(KeyChecks::Id, 16).primary_key())
                    .col(string_len(KeyChecks::KeyId, 16))
                    .col(string_len(KeyChecks::Sealed, 255))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(KeyChecks::Table).if_exists().to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum KeyChecks {
    Table,
    Id,
    KeyId,
    Sealed,
}
