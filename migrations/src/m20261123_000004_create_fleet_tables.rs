use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Fleet membership: each worker's heartbeat.
        manager
            .create_table(
                Table::create()
                    .table(Workers::Table)
                    .if_not_exists()
                    .col(string_len(Workers::Id, 36).primary_key())
                    .col(string_len(Workers::Host, 255))
                    .col(big_integer(Workers::StartedAt))
                    .col(big_integer(Workers::HeartbeatAt))
                    .to_owned(),
            )
            .await?;
        // One lease per shard. `epoch` grows by one on every claim, so a
        // write fenced on (shard, epoch) fails once anyone else has claimed.
        manager
            .create_table(
                Table::create()
                    .table(ShardLeases::Table)
                    .if_not_exists()
                    .col(integer(ShardLeases::Shard).primary_key())
                    .col(string_len_null(ShardLeases::WorkerId, 36))
                    .col(big_integer(ShardLeases::Epoch))
                    .col(big_integer(ShardLeases::ExpiresAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [ShardLeases::Table.into_iden(), Workers::Table.into_iden()] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Workers {
    Table,
    Id,
    Host,
    StartedAt,
    HeartbeatAt,
}

#[derive(DeriveIden)]
enum ShardLeases {
    Table,
    Shard,
    WorkerId,
    Epoch,
    ExpiresAt,
}
