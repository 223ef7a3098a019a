use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const ID_LEN: u32 = 36;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .if_not_exists()
                    .col(string_len(Users::Id, ID_LEN).primary_key())
                    .col(string_len_uniq(Users::Email, 254))
                    .col(big_integer(Users::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiTokens::Table)
                    .if_not_exists()
                    .col(string_len(ApiTokens::Id, ID_LEN).primary_key())
                    .col(string_len(ApiTokens::UserId, ID_LEN))
                    .col(string_len(ApiTokens::Name, 200))
                    .col(string_len_uniq(ApiTokens::TokenHash, 64))
                    .col(string_len(ApiTokens::Prefix, 16))
                    .col(big_integer(ApiTokens::CreatedAt))
                    .col(big_integer_null(ApiTokens::ExpiresAt))
                    .col(big_integer_null(ApiTokens::RevokedAt))
                    .col(big_integer_null(ApiTokens::LastUsedAt))
                    .foreign_key(&mut owner_fk(ApiTokens::Table, ApiTokens::UserId))
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            ApiTokens::Table,
            "idx_api_tokens_user",
            &[ApiTokens::UserId],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(AlertRules::Table)
                    .if_not_exists()
                    .col(string_len(AlertRules::Id, ID_LEN).primary_key())
                    .col(string_len(AlertRules::OwnerId, ID_LEN))
                    .col(string_len(AlertRules::Name, 200))
                    .col(boolean(AlertRules::Enabled))
                    .col(string_len(AlertRules::Severity, 16))
                    .col(big_integer(AlertRules::IntervalMs))
                    .col(integer(AlertRules::Shard))
                    .col(text(AlertRules::Spec))
                    .col(big_integer(AlertRules::Version))
                    .col(big_integer(AlertRules::CreatedAt))
                    .col(big_integer(AlertRules::UpdatedAt))
                    .foreign_key(&mut owner_fk(AlertRules::Table, AlertRules::OwnerId))
                    .to_owned(),
            )
            .await?;
        // Listing pages by (owner, id); the worker fleet scans by shard.
        create_index(
            manager,
            AlertRules::Table,
            "idx_alert_rules_owner_id",
            &[AlertRules::OwnerId, AlertRules::Id],
        )
        .await?;
        create_index(
            manager,
            AlertRules::Table,
            "idx_alert_rules_shard",
            &[AlertRules::Shard, AlertRules::Enabled],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Alerts::Table)
                    .if_not_exists()
                    .col(string_len(Alerts::Id, ID_LEN).primary_key())
                    .col(string_len(Alerts::OwnerId, ID_LEN))
                    .col(string_len(Alerts::RuleId, ID_LEN))
                    .col(string_len(Alerts::RuleName, 200))
                    .col(string_len(Alerts::State, 16))
                    .col(string_len(Alerts::Severity, 16))
                    .col(string_len(Alerts::SeriesKey, 512))
                    .col(text(Alerts::Labels))
                    .col(double_null(Alerts::Value))
                    .col(double_null(Alerts::Threshold))
                    .col(text(Alerts::Message))
                    .col(big_integer(Alerts::StartedAt))
                    .col(big_integer_null(Alerts::ResolvedAt))
                    .col(big_integer_null(Alerts::AcknowledgedAt))
                    .col(string_len_null(Alerts::AcknowledgedBy, 254))
                    .foreign_key(&mut owner_fk(Alerts::Table, Alerts::OwnerId))
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            Alerts::Table,
            "idx_alerts_owner_started",
            &[Alerts::OwnerId, Alerts::StartedAt, Alerts::Id],
        )
        .await?;
        create_index(
            manager,
            Alerts::Table,
            "idx_alerts_rule_started",
            &[Alerts::RuleId, Alerts::StartedAt],
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Alerts::Table.into_iden(),
            AlertRules::Table.into_iden(),
            ApiTokens::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}

fn owner_fk<T: IntoIden + Copy + 'static, C: IntoIden + 'static>(
    table: T,
    column: C,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, column)
        .to(Users::Table, Users::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

async fn create_index<T: IntoIden + Copy + 'static, C: IntoIden + Copy + 'static>(
    manager: &SchemaManager<'_>,
    table: T,
    name: &str,
    columns: &[C],
) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.name(name).table(table).if_not_exists();
    for column in columns {
        index.col(*column);
    }
    manager.create_index(index.to_owned()).await
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
    Email,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ApiTokens {
    Table,
    Id,
    UserId,
    Name,
    TokenHash,
    Prefix,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
    LastUsedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum AlertRules {
    Table,
    Id,
    OwnerId,
    Name,
    Enabled,
    Severity,
    IntervalMs,
    Shard,
    Spec,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Alerts {
    Table,
    Id,
    OwnerId,
    RuleId,
    RuleName,
    State,
    Severity,
    SeriesKey,
    Labels,
    Value,
    Threshold,
    Message,
    StartedAt,
    ResolvedAt,
    AcknowledgedAt,
    AcknowledgedBy,
}
