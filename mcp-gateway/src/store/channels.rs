//! Notification channels. A configuration is parsed, its destination checked
//! against the egress policy, and the whole of it sealed under the current
//! key, bound to its row; clients only ever read back the redacted form.

use alert_worker::Sender;
use schemars::JsonSchema;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    SqlErr, TransactionTrait, sea_query::Expr,
};
use serde::Serialize;
use serde_json::Value;
use shared_models::channel::signing::generate_signing_secret;
use shared_models::{
    FieldError, ModelError,
    channel::{ChannelConfig, ChannelKind, EmailConfig},
    entity::{TenantScoped, notification_channel},
    ids::{ChannelId, UserId},
    json::merge_patch,
    rule::RuleName,
    secret::Secret,
    time::Timestamp,
};

use super::{Page, Store, cursor};
use crate::error::{Error, Result};

/// A channel as clients see it: never a credential in full.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ChannelRecord {
    pub id: String,
    pub name: String,
    pub kind: ChannelKind,
    /// The configuration with URLs cut to scheme, host and a short tail, and
    /// keys and passwords masked.
    #[schemars(with = "serde_json::Map<String, Value>")]
    pub config: Value,
    /// Increases by one on every change.
    pub version: i32,
    pub created_at: String,
    pub updated_at: String,
}

/// A new channel, with the webhook signing secret that is shown only now.
#[derive(Debug)]
pub struct CreatedChannel {
    pub record: ChannelRecord,
    pub signing_secret: Option<Secret<String>>,
}

/// A channel with its configuration opened, for sending to it now.
#[derive(Debug)]
pub struct OpenedChannel {
    pub record: ChannelRecord,
    pub config: ChannelConfig,
}

/// (id, name, kind, redacted, version, created_at, updated_at): every column
/// but the sealed one, which listings have no use for.
type ChannelRow = (String, String, String, String, i32, Timestamp, Timestamp);

const LISTED: [notification_channel::Column; 7] = [
    notification_channel::Column::Id,
    notification_channel::Column::Name,
    notification_channel::Column::Kind,
    notification_channel::Column::Redacted,
    notification_channel::Column::Version,
    notification_channel::Column::CreatedAt,
    notification_channel::Column::UpdatedAt,
];

fn record(row: ChannelRow) -> Result<ChannelRecord> {
    let (id, name, kind, redacted, version, created_at, updated_at) = row;
    let corrupt = |what: &str| {
        Error::Corrupt(ModelError::Invalid(FieldError::new(
            what,
            format!("unreadable value in notification channel {id}"),
        )))
    };
    Ok(ChannelRecord {
        kind: ChannelKind::parse(&kind).ok_or_else(|| corrupt("kind"))?,
        config: serde_json::from_str(&redacted).map_err(|_| corrupt("redacted"))?,
        name,
        version,
        created_at: created_at.to_string(),
        updated_at: updated_at.to_string(),
        id,
    })
}

/// A whole row as clients see it: the sealed column left behind.
fn record_of(row: notification_channel::Model) -> Result<ChannelRecord> {
    record((
        row.id,
        row.name,
        row.kind,
        row.redacted,
        row.version,
        row.created_at,
        row.updated_at,
    ))
}

/// The input field that holds the destination, to name in a refusal.
fn endpoint_field(config: &ChannelConfig) -> &'static str {
    match config {
        ChannelConfig::Slack { .. }
        | ChannelConfig::Discord { .. }
        | ChannelConfig::Teams { .. } => "webhook_url",
        ChannelConfig::Webhook { .. } => "url",
        ChannelConfig::Pagerduty { .. } => "events_url",
        ChannelConfig::Email(EmailConfig::Sendgrid { .. }) => "api_url",
        ChannelConfig::Email(EmailConfig::Smtp { .. }) => "host",
    }
}

/// Refuses a destination the egress policy forbids (loopback, private,
/// link-local, metadata, or plain http outside the allowlist). The reason
/// names the field and never repeats the address: it may be a credential.
async fn check_destination(sender: &Sender, config: &ChannelConfig) -> Result<()> {
    sender.check_channel(config).await.map_err(|error| {
        let reason = if error.is_refusal() {
            format!("is not an allowed destination: {error}")
        } else {
            format!("could not be checked: {error}; check the host name")
        };
        Error::Invalid(FieldError::new(
            format!("config.{}", endpoint_field(config)),
            reason,
        ))
    })
}

fn parse_name(raw: &str) -> Result<String, FieldError> {
    // A channel's name follows the same rules as a rule's.
    Ok(RuleName::parse(raw)?.as_str().to_owned())
}

fn duplicate_name(name: &str) -> Error {
    Error::Conflict(format!(
        "a notification channel named \"{name}\" already exists; choose another name or update that channel"
    ))
}

/// A unique-key violation on write means the (owner, name) index refused it.
fn name_taken(error: DbErr, name: &str) -> Error {
    match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => duplicate_name(name),
        _ => Error::Database(error),
    }
}

impl Store {
    pub async fn create_channel(
        &self,
        owner: UserId,
        name: &str,
        kind: ChannelKind,
        config: Value,
        sender: &Sender,
    ) -> Result<CreatedChannel> {
        let name = parse_name(name)?;
        let secret = match kind {
            ChannelKind::Webhook => Some(generate_signing_secret().map_err(|_| Error::Random)?),
            _ => None,
        };
        let config = ChannelConfig::parse(kind, config, secret.as_deref().unwrap_or_default())
            .map_err(|e| e.within("config"))?;
        check_destination(sender, &config).await?;
        let id = ChannelId::generate().to_string();
        let sealed = config.seal(&self.keyring, &id)?;
        let now = self.clock.now();
        let row = notification_channel::ActiveModel {
            id: Set(id),
            owner_id: Set(owner.to_string()),
            name: Set(name.clone()),
            kind: Set(kind.as_str().to_owned()),
            sealed: Set(sealed),
            key_id: Set(self.keyring.current_key_id().to_owned()),
            redacted: Set(config.redacted().to_string()),
            created_at: Set(now),
            updated_at: Set(now),
            version: Set(1),
        }
        .insert(&self.db)
        .await
        .map_err(|e| name_taken(e, &name))?;
        Ok(CreatedChannel {
            record: record_of(row)?,
            signing_secret: secret.map(Secret::new),
        })
    }

    /// Newest first.
    pub async fn list_channels(
        &self,
        owner: UserId,
        limit: Option<u64>,
        after: Option<String>,
    ) -> Result<Page<ChannelRecord>> {
        let size = cursor::page_size(limit)?;
        let mut query = notification_channel::Entity::find_owned(owner);
        if let Some(after) = after {
            let last = cursor::decode(&after, 1)?.remove(0);
            query = query.filter(notification_channel::Column::Id.lt(last));
        }
        // Ids are UUIDv7: id order is creation order.
        let rows: Vec<ChannelRow> = query
            .select_only()
            .columns(LISTED)
            .order_by_desc(notification_channel::Column::Id)
            .limit(size + 1)
            .into_tuple()
            .all(&self.db)
            .await?;
        let items = rows.into_iter().map(record).collect::<Result<Vec<_>>>()?;
        Ok(cursor::paginate(items, size, |c| cursor::encode(&[&c.id])))
    }

    /// The channel with its configuration opened, for a test send.
    pub async fn open_channel(&self, owner: UserId, id: ChannelId) -> Result<OpenedChannel> {
        let row = self.channel_row(owner, id).await?;
        let config = ChannelConfig::open(&self.keyring, &row.id, &row.sealed)?;
        Ok(OpenedChannel {
            record: record_of(row)?,
            config,
        })
    }

    /// Renames the channel and/or merges `patch` (RFC 7396: null removes a
    /// key) into its configuration as a client would send it. The merged
    /// configuration is parsed and checked as a new one would be; a webhook
    /// keeps its signing secret. The write is conditional on the version
    /// read, so two concurrent updates cannot silently drop one another.
    pub async fn update_channel(
        &self,
        owner: UserId,
        id: ChannelId,
        name: Option<&str>,
        patch: Option<Value>,
        sender: &Sender,
    ) -> Result<ChannelRecord> {
        if name.is_none() && patch.is_none() {
            return Err(
                FieldError::new("config", "give a new name, config changes, or both").into(),
            );
        }
        let name = name.map(parse_name).transpose()?;
        let row = self.channel_row(owner, id).await?;
        let mut update = notification_channel::Entity::update_owned(owner);
        let mut redacted = row.redacted.clone();
        if let Some(patch) = patch {
            if !patch.is_object() {
                return Err(
                    FieldError::new("config", "must be an object of the fields to change").into(),
                );
            }
            let current = ChannelConfig::open(&self.keyring, &row.id, &row.sealed)?;
            let kind = current.kind();
            let secret = match &current {
                ChannelConfig::Webhook { signing_secret, .. } => signing_secret.as_str(),
                _ => "",
            };
            let mut input = current.to_input();
            merge_patch(&mut input, patch);
            let config =
                ChannelConfig::parse(kind, input, secret).map_err(|e| e.within("config"))?;
            check_destination(sender, &config).await?;
            redacted = config.redacted().to_string();
            update = update
                .col_expr(
                    notification_channel::Column::Sealed,
                    Expr::value(config.seal(&self.keyring, &row.id)?),
                )
                .col_expr(
                    notification_channel::Column::KeyId,
                    Expr::value(self.keyring.current_key_id()),
                )
                .col_expr(
                    notification_channel::Column::Redacted,
                    Expr::value(redacted.as_str()),
                );
        }
        if let Some(name) = &name {
            update = update.col_expr(
                notification_channel::Column::Name,
                Expr::value(name.as_str()),
            );
        }
        let now = self.clock.now();
        let result = update
            .col_expr(
                notification_channel::Column::Version,
                Expr::value(row.version + 1),
            )
            .col_expr(notification_channel::Column::UpdatedAt, Expr::value(now))
            .filter(notification_channel::Column::Id.eq(row.id.as_str()))
            .filter(notification_channel::Column::Version.eq(row.version))
            .exec(&self.db)
            .await
            .map_err(|e| name_taken(e, name.as_deref().unwrap_or_default()))?;
        if result.rows_affected == 0 {
            return Err(Error::Conflict(format!(
                "notification channel {} was changed or deleted by another request; read it again and retry",
                row.id
            )));
        }
        record((
            row.id,
            name.unwrap_or(row.name),
            row.kind,
            redacted,
            row.version + 1,
            row.created_at,
            now,
        ))
    }

    /// Deletes a channel that no rule of its owner names. The delete comes
    /// first, so that on MariaDB it locks the row a concurrent rule write
    /// checks (`channels_exist` reads it `FOR UPDATE`): either that rule
    /// commits first and is counted here, or it waits and then finds the
    /// channel gone.
    /// Deletes a channel no rule uses; one in use is refused, naming the
    /// rules, since deleting it would silently stop their notifications.
    pub async fn delete_channel(&self, owner: UserId, id: ChannelId) -> Result<()> {
        let txn = self.db.begin().await?;
        let deleted = notification_channel::Entity::delete_owned(owner)
            .filter(notification_channel::Column::Id.eq(id.to_string()))
            .exec(&txn)
            .await?;
        if deleted.rows_affected == 0 {
            return Err(Error::not_found("notification channel", id.to_string()));
        }
        let users = self.rules_naming_channel(&txn, owner, id).await?;
        if !users.is_empty() {
            // Dropping the transaction rolls the delete back.
            return Err(Error::Conflict(channel_in_use(id, &users)));
        }
        txn.commit().await?;
        Ok(())
    }

    /// Re-seals, under the current key, every channel sealed under another
    /// one, and returns how many. This is the operator's `keys rotate`,
    /// which works across all tenants by design; rows changed meanwhile by
    /// an update are skipped, as that update sealed them under the current key.
    pub async fn reseal_stale_channels(&self) -> Result<u64> {
        const BATCH: u64 = 100;
        let current = self.keyring.current_key_id().to_owned();
        let mut resealed = 0;
        let mut after = String::new();
        loop {
            let rows = notification_channel::Entity::find()
                .filter(notification_channel::Column::KeyId.ne(current.as_str()))
                .filter(notification_channel::Column::Id.gt(after.as_str()))
                .order_by_asc(notification_channel::Column::Id)
                .limit(BATCH)
                .all(&self.db)
                .await?;
            let Some(last) = rows.last() else {
                return Ok(resealed);
            };
            after = last.id.clone();
            for row in rows {
                let config = ChannelConfig::open(&self.keyring, &row.id, &row.sealed)?;
                let result = notification_channel::Entity::update_many()
                    .col_expr(
                        notification_channel::Column::Sealed,
                        Expr::value(config.seal(&self.keyring, &row.id)?),
                    )
                    .col_expr(
                        notification_channel::Column::KeyId,
                        Expr::value(current.as_str()),
                    )
                    .filter(notification_channel::Column::Id.eq(row.id.as_str()))
                    .filter(notification_channel::Column::Version.eq(row.version))
                    .filter(notification_channel::Column::KeyId.eq(row.key_id.as_str()))
                    .exec(&self.db)
                    .await?;
                resealed += result.rows_affected;
            }
        }
    }

    async fn channel_row(
        &self,
        owner: UserId,
        id: ChannelId,
    ) -> Result<notification_channel::Model> {
        let id = id.to_string();
        notification_channel::Entity::find_owned_by_id(owner, &id)
            .one(&self.db)
            .await?
            .ok_or_else(|| Error::not_found("notification channel", id))
    }
}

/// Why a channel cannot be deleted: the rules that use it, by name and id
/// (the first few, and how many more), and what to do.
fn channel_in_use(id: ChannelId, rules: &[(String, String)]) -> String {
    const NAMED: usize = 5;
    let mut named: Vec<String> = rules
        .iter()
        .take(NAMED)
        .map(|(rule, name)| format!("{name:?} ({rule})"))
        .collect();
    if rules.len() > NAMED {
        named.push(format!("and {} more", rules.len() - NAMED));
    }
    format!(
        "notification channel {id} is used by {} alert rule{}: {}; remove it from their channels \
         with update_alert_rule first",
        rules.len(),
        if rules.len() == 1 { "" } else { "s" },
        named.join(", ")
    )
}
