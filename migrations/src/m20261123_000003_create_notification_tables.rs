use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Where alerts go. The configuration is sealed (AES-256-GCM) because
        // webhook URLs and keys are credentials; `redacted` is what listings show.
        manager
            .create_table(
                Table::create()
                    .table(NotificationChannels::Table)
                    .if_not_exists()
                    .col(string_len(NotificationChannels::Id, 36).primary_key())
                    .col(string_len(NotificationChannels::OwnerId, 36))
                    .col(string_len(NotificationChannels::Name, 200))
                    .col(string_len(NotificationChannels::Kind, 16))
                    .col(text(NotificationChannels::Sealed))
                    .col(string_len(NotificationChannels::KeyId, 16))
                    .col(text(NotificationChannels::Redacted))
                    .col(big_integer(NotificationChannels::CreatedAt))
                    .col(big_integer(NotificationChannels::UpdatedAt))
                    .col(integer(NotificationChannels::Version))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_channels_owner_name")
                    .table(NotificationChannels::Table)
                    .col(NotificationChannels::OwnerId)
                    .col(NotificationChannels::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;

        // The outbox: one row per (alert transition, channel), written in the
        // transaction that records the transition and then delivered.
        manager
            .create_table(
                Table::create()
                    .table(Notifications::Table)
                    .if_not_exists()
                    .col(string_len(Notifications::Id, 36).primary_key())
                    .col(string_len(Notifications::OwnerId, 36))
                    .col(string_len(Notifications::AlertId, 36))
                    .col(string_len(Notifications::RuleId, 36))
                    .col(string_len(Notifications::ChannelId, 36))
                    .col(integer(Notifications::Shard))
                    .col(string_len(Notifications::Event, 16))
                    .col(string_len(Notifications::IdempotencyKey, 191))
                    .col(string_len(Notifications::Status, 16))
                    .col(text_null(Notifications::Reason))
                    .col(integer(Notifications::Attempts))
                    .col(big_integer(Notifications::NextAttemptAt))
                    .col(big_integer_null(Notifications::ClaimedUntil))
                    .col(string_len_null(Notifications::ClaimToken, 36))
                    .col(integer_null(Notifications::ResponseStatus))
                    .col(text_null(Notifications::LastError))
                    .col(text(Notifications::Payload))
                    .col(big_integer(Notifications::CreatedAt))
                    .col(big_integer(Notifications::UpdatedAt))
                    .col(big_integer_null(Notifications::DeliveredAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_notifications_idempotency")
                    .table(Notifications::Table)
                    .col(Notifications::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_notifications_due")
                    .table(Notifications::Table)
                    .col(Notifications::Status)
                    .col(Notifications::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_notifications_alert")
                    .table(Notifications::Table)
                    .col(Notifications::AlertId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Silences::Table)
                    .if_not_exists()
                    .col(string_len(Silences::Id, 36).primary_key())
                    .col(string_len(Silences::OwnerId, 36))
                    .col(string_len_null(Silences::RuleId, 36))
                    .col(text(Silences::Matchers))
                    .col(text(Silences::Comment))
                    .col(string_len(Silences::CreatedBy, 36))
                    .col(big_integer(Silences::StartsAt))
                    .col(big_integer(Silences::EndsAt))
                    .col(big_integer(Silences::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_silences_owner_end")
                    .table(Silences::Table)
                    .col(Silences::OwnerId)
                    .col(Silences::EndsAt)
                    .to_owned(),
            )
            .await?;

        // When a series last notified, for cooldown and repeat_interval.
        manager
            .alter_table(
                Table::alter()
                    .table(RuleStates::Table)
                    .add_column(big_integer_null(RuleStates::LastNotifiedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(RuleStates::Table)
                    .drop_column(RuleStates::LastNotifiedAt)
                    .to_owned(),
            )
            .await?;
        for table in [
            Silences::Table.into_iden(),
            Notifications::Table.into_iden(),
            NotificationChannels::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum NotificationChannels {
    Table,
    Id,
    OwnerId,
    Name,
    Kind,
    Sealed,
    KeyId,
    Redacted,
    CreatedAt,
    UpdatedAt,
    Version,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    OwnerId,
    AlertId,
    RuleId,
    ChannelId,
    Shard,
    Event,
    IdempotencyKey,
    Status,
    Reason,
    Attempts,
    NextAttemptAt,
    ClaimedUntil,
    ClaimToken,
    ResponseStatus,
    LastError,
    Payload,
    CreatedAt,
    UpdatedAt,
    DeliveredAt,
}

#[derive(DeriveIden)]
enum Silences {
    Table,
    Id,
    OwnerId,
    RuleId,
    Matchers,
    Comment,
    CreatedBy,
    StartsAt,
    EndsAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum RuleStates {
    Table,
    LastNotifiedAt,
}
