use alert_worker::{Attempt, Delivery};
use rmcp::{
    model::CallToolResult,
    schemars::{self, JsonSchema},
    tool, tool_router,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use shared_models::{
    channel::ChannelKind,
    ids::{ChannelId, NotificationId},
    notification::{NotificationEvent, NotifyEvent},
    rule::Severity,
    time::Timestamp,
};

use super::Deleted;
use crate::{
    mcp::{
        args::{Args, Caller},
        result::{ToolFailure, tool_result},
        schema,
        server::MonitorsMcp,
    },
    store::{ChannelRecord, CreatedChannel, OpenedChannel},
};

/// Which fields `config` takes for each kind, for the model filling it in;
/// a macro so that `concat!` can put it into tool descriptions.
macro_rules! config_fields {
    () => {
        "Fields of config by kind: \
slack, discord and teams: {\"webhook_url\"} (Teams: a Workflows webhook); \
webhook: {\"url\"}, each request signed per Standard Webhooks; \
pagerduty: {\"routing_key\" (Events API v2), \"events_url\"?}; \
email over SMTP: {\"host\", \"port\"? (default 587 for starttls, 465 for tls), \"security\"?: \"starttls\" (default), \"tls\" or \"none\", \
\"username\"? and \"password\"? (both or neither), \"from\", \"to\": [1-20 addresses]}; \
email over SendGrid: {\"transport\": \"sendgrid\", \"api_key\", \"from\", \"to\": [addresses], \"api_url\"?}. \
Destinations must be public https addresses (or SMTP hosts with public addresses)."
    };
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateChannelArgs {
    /// A name unique among your channels, e.g. "ops-slack".
    pub name: String,
    /// slack, discord, teams, webhook, email or pagerduty.
    pub kind: ChannelKind,
    /// Where and how to send; its fields depend on kind, as the tool's description lists.
    pub config: Map<String, Value>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListChannelsArgs {
    /// Page size, 1-200 (default 50).
    #[serde(default)]
    pub limit: Option<u64>,
    /// The next_cursor of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateChannelArgs {
    /// The channel's id, as returned by create_notification_channel or list_notification_channels.
    pub id: ChannelId,
    /// A new name.
    #[serde(default)]
    pub name: Option<String>,
    /// Only the config fields to change, e.g. {"webhook_url": "https://hooks.slack.com/services/..."};
    /// the others keep their values, and a field set to null is removed. The kind cannot change.
    #[serde(default)]
    pub config: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelIdArgs {
    /// The channel's id, as returned by create_notification_channel or list_notification_channels.
    pub id: ChannelId,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct CreatedChannelView {
    #[serde(flatten)]
    pub channel: ChannelRecord,
    /// webhook channels only: the secret receivers use to verify signatures
    /// (Standard Webhooks). It is shown only in this answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl From<CreatedChannel> for CreatedChannelView {
    fn from(created: CreatedChannel) -> Self {
        let note = created.signing_secret.as_ref().map(|_| {
            "Give signing_secret to the receiver now, to verify the webhook-signature header of each request: \
it is stored encrypted and will not be shown again."
                .to_owned()
        });
        Self {
            channel: created.record,
            signing_secret: created.signing_secret.map(|s| s.expose().clone()),
            note,
        }
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ChannelList {
    /// Newest first, with credentials masked.
    pub channels: Vec<ChannelRecord>,
    /// Pass as cursor to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TestOutcome {
    pub channel_id: String,
    /// Whether the receiver accepted the test message.
    pub delivered: bool,
    /// The receiver's HTTP status (or SMTP reply code), when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The start of the receiver's answer, when delivered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// Why it was not delivered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When not delivered: whether the failure looks temporary (a real
    /// notification would be retried) or permanent (fix the configuration).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
}

impl TestOutcome {
    fn new(channel_id: String, attempt: Attempt) -> Self {
        let (delivered, status, answer, error, retryable) = match attempt {
            Attempt::Delivered { status, detail } => (true, status, Some(detail), None, None),
            Attempt::Retry { status, error, .. } => (false, status, None, Some(error), Some(true)),
            Attempt::Permanent { status, error } => (false, status, None, Some(error), Some(false)),
        };
        Self {
            channel_id,
            delivered,
            status,
            answer,
            error,
            retryable,
        }
    }
}

/// What a test message says: it is marked as a test on every platform.
fn test_event(channel: &OpenedChannel, now: Timestamp) -> NotificationEvent {
    NotificationEvent {
        event: NotifyEvent::Test,
        alert_id: NotificationId::generate().to_string(),
        rule_id: String::new(),
        rule_name: format!("test of channel {}", channel.record.name),
        severity: Severity::Info,
        value: None,
        threshold: None,
        condition: "none: this is a test message".to_owned(),
        labels: Default::default(),
        started_at: now.as_millis(),
        resolved_at: None,
        message: format!(
            "This is a test message from monitors-mcp to the notification channel \"{}\". \
Alerts of rules that list this channel will arrive here.",
            channel.record.name
        ),
        description: None,
    }
}

#[tool_router(router = channel_tools, vis = "pub(in crate::mcp)")]
impl MonitorsMcp {
    #[tool(
        description = concat!("Create a notification channel (Slack, Discord, Microsoft Teams, a signed webhook, email \
or PagerDuty), then list its id in a rule's \"channels\" to be notified when the rule fires and resolves; try it \
with test_notification_channel. Secrets are stored encrypted and shown masked; a webhook's signing_secret is shown \
once, here. ", config_fields!()),
        input_schema = schema::input::<CreateChannelArgs>(),
        output_schema = schema::output::<CreatedChannelView>(),
        annotations(title = "Create notification channel", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = false)
    )]
    async fn create_notification_channel(
        &self,
        Caller(owner): Caller,
        Args(args): Args<CreateChannelArgs>,
    ) -> Result<CallToolResult, ToolFailure> {
        tool_result(
            self.store
                .create_channel(
                    owner,
                    &args.name,
                    args.kind,
                    Value::Object(args.config),
                    &self.sender,
                )
                .await
                .map(CreatedChannelView::from),
        )
    }

    #[tool(
        description = "List your notification channels, newest first: id, name, kind and the configuration with \
credentials masked. Paginated with cursor/next_cursor.",
        input_schema = schema::input::<ListChannelsArgs>(),
        output_schema = schema::output::<ChannelList>(),
        annotations(title = "List notification channels", read_only_hint = true, open_world_hint = false)
    )]
    async fn list_notification_channels(
        &self,
        Caller(owner): Caller,
        Args(args): Args<ListChannelsArgs>,
    ) -> Result<CallToolResult, ToolFailure> {
        tool_result(
            self.store
                .list_channels(owner, args.limit, args.cursor)
                .await
                .map(|page| ChannelList {
                    channels: page.items,
                    next_cursor: page.next_cursor,
                }),
        )
    }

    #[tool(
        description = "Rename a notification channel or change some of its config: give only the fields to change; the rest, \
secrets included, keep their values (a webhook keeps its signing secret). E.g. {\"id\": \"...\", \"config\": \
{\"webhook_url\": \"https://hooks.slack.com/services/...\"}}. Returns the channel, credentials masked. \
Config fields per kind: as create_notification_channel lists.",
        input_schema = schema::patch::<UpdateChannelArgs>(),
        output_schema = schema::output::<ChannelRecord>(),
        annotations(title = "Update notification channel", read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn update_notification_channel(
        &self,
        Caller(owner): Caller,
        Args(args): Args<UpdateChannelArgs>,
    ) -> Result<CallToolResult, ToolFailure> {
        tool_result(
            self.store
                .update_channel(
                    owner,
                    args.id,
                    args.name.as_deref(),
                    args.config.map(Value::Object),
                    &self.sender,
                )
                .await,
        )
    }

    #[tool(
        description = "Delete a notification channel. Refused while any of your alert rules lists it in \
\"channels\": remove it from those rules with update_alert_rule first. Notifications already recorded stay \
visible on their alerts.",
        input_schema = schema::input::<ChannelIdArgs>(),
        output_schema = schema::output::<Deleted>(),
        annotations(title = "Delete notification channel", read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn delete_notification_channel(
        &self,
        Caller(owner): Caller,
        Args(ChannelIdArgs { id }): Args<ChannelIdArgs>,
    ) -> Result<CallToolResult, ToolFailure> {
        tool_result(
            self.store
                .delete_channel(owner, id)
                .await
                .map(|()| Deleted::of(id)),
        )
    }

    #[tool(
        description = "Send one real test message to a notification channel now and report whether the receiver accepted it: \
delivered, its status, and the start of its answer or the error. Records nothing.",
        input_schema = schema::input::<ChannelIdArgs>(),
        output_schema = schema::output::<TestOutcome>(),
        annotations(title = "Test notification channel", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true)
    )]
    async fn test_notification_channel(
        &self,
        Caller(owner): Caller,
        Args(ChannelIdArgs { id }): Args<ChannelIdArgs>,
    ) -> Result<CallToolResult, ToolFailure> {
        let channel = match self.store.open_channel(owner, id).await {
            Ok(channel) => channel,
            Err(error) => return tool_result::<TestOutcome>(Err(error)),
        };
        let now = self.store.now();
        let event = test_event(&channel, now);
        let id = NotificationId::generate().to_string();
        let attempt = self
            .sender
            .send(&Delivery {
                id: &id,
                event: &event,
                channel: &channel.config,
                channel_name: &channel.record.name,
                now,
            })
            .await;
        tool_result(Ok(TestOutcome::new(channel.record.id, attempt)))
    }
}
