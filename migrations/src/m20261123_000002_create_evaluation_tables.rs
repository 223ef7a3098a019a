use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One row per rule and series: the evaluation state that must survive
        // restarts and hand-overs (pending timers, firing episodes).
        manager
            .create_table(
                Table::create()
                    .table(RuleStates::Table)
                    .if_not_exists()
                    .col(string_len(RuleStates::RuleId, 36))
                    .col(string_len(RuleStates::SeriesKey, 512))
                    .col(string_len(RuleStates::OwnerId, 36))
                    .col(string_len(RuleStates::State, 16))
                    .col(text(RuleStates::Labels))
                    .col(big_integer_null(RuleStates::PendingSince))
                    .col(big_integer_null(RuleStates::FiringSince))
                    .col(big_integer_null(RuleStates::ClearSince))
                    .col(double_null(RuleStates::LastValue))
                    .col(big_integer_null(RuleStates::LastSeenAt))
                    .col(string_len_null(RuleStates::AlertId, 36))
                    .col(big_integer(RuleStates::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(RuleStates::RuleId)
                            .col(RuleStates::SeriesKey),
                    )
                    .to_owned(),
            )
            .await?;

        // Rule-level health: when it was last evaluated and how that went.
        manager
            .create_table(
                Table::create()
                    .table(RuleStatus::Table)
                    .if_not_exists()
                    .col(string_len(RuleStatus::RuleId, 36).primary_key())
                    .col(string_len(RuleStatus::OwnerId, 36))
                    .col(big_integer(RuleStatus::LastEvaluatedAt))
                    .col(string_len(RuleStatus::State, 16))
                    .col(text_null(RuleStatus::LastError))
                    .col(integer(RuleStatus::SeriesCount))
                    .to_owned(),
            )
            .await?;

        // The built-in metrics store: points written through /write, for
        // installations without InfluxDB.
        manager
            .create_table(
                Table::create()
                    .table(Points::Table)
                    .if_not_exists()
                    .col(big_integer(Points::Id).auto_increment().primary_key())
                    .col(string_len(Points::OwnerId, 36))
                    .col(string_len(Points::Db, 64))
                    .col(string_len(Points::Measurement, 256))
                    .col(string_len(Points::Field, 256))
                    .col(string_len(Points::SeriesKey, 512))
                    .col(text(Points::Tags))
                    .col(big_integer(Points::Time))
                    .col(double(Points::Value))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_points_lookup")
                    .table(Points::Table)
                    .col(Points::OwnerId)
                    .col(Points::Db)
                    .col(Points::Measurement)
                    .col(Points::Field)
                    .col(Points::Time)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_points_time")
                    .table(Points::Table)
                    .col(Points::Time)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Points::Table.into_iden(),
            RuleStatus::Table.into_iden(),
            RuleStates::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum RuleStates {
    Table,
    RuleId,
    SeriesKey,
    OwnerId,
    State,
    Labels,
    PendingSince,
    FiringSince,
    ClearSince,
    LastValue,
    LastSeenAt,
    AlertId,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum RuleStatus {
    Table,
    RuleId,
    OwnerId,
    LastEvaluatedAt,
    State,
    LastError,
    SeriesCount,
}

#[derive(DeriveIden, Clone, Copy)]
enum Points {
    Table,
    Id,
    OwnerId,
    Db,
    Measurement,
    Field,
    SeriesKey,
    Tags,
    Time,
    Value,
}
