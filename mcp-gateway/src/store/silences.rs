//! Silences: a time window in which one rule's notifications, or those of
//! alerts whose labels match, are recorded but not sent.

use std::{collections::BTreeMap, time::Duration};

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use sea_orm::{ActiveModelTrait, ColumnTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde::{Deserialize, Serialize};
use shared_models::{
    FieldError, ModelError,
    entity::{TenantScoped, alert_rule, silence},
    ids::{RuleId, SilenceId, UserId},
    rule::{HumanDuration, parse_labels},
    time::Timestamp,
};

use super::{Page, Store, cursor};
use crate::error::{Error, Result};

const MAX_MATCHERS: usize = 32;
const MAX_MATCHER_VALUE_CHARS: usize = 1_024;
const MAX_COMMENT_CHARS: usize = 1_000;

/// What a client sends to create a silence.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceInput {
    /// Mute only this rule's alerts (an id from list_alert_rules).
    #[serde(default)]
    pub rule_id: Option<RuleId>,
    /// Mute alerts whose labels include every one of these label=value pairs,
    /// e.g. {"symbol": "BTC"}. Give rule_id, matchers, or both.
    #[serde(default)]
    pub matchers: BTreeMap<String, String>,
    /// When muting starts (RFC 3339); default now.
    #[serde(default)]
    pub starts_at: Option<DateTime<Utc>>,
    /// When muting ends (RFC 3339, e.g. "2026-11-24T08:00:00Z"). Give this or duration.
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    /// How long muting lasts from starts_at, e.g. "2h" or "1d", at most 366d. Give this or ends_at.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub duration: Option<HumanDuration>,
    /// Why notifications are muted, for whoever finds the silence later.
    pub comment: String,
}

/// Whether a silence mutes now, will later, or no longer does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    Active,
    Pending,
    Expired,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SilenceRecord {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
    pub matchers: BTreeMap<String, String>,
    pub comment: String,
    pub starts_at: String,
    pub ends_at: String,
    pub state: SilenceState,
    /// The email of the user who created it.
    pub created_by: String,
    pub created_at: String,
}

#[derive(Debug, Default, Clone)]
pub struct SilenceFilter {
    /// Expired silences too; by default only active and future ones.
    pub include_expired: bool,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

fn record(row: silence::Model, now: Timestamp) -> Result<SilenceRecord> {
    let matchers = serde_json::from_str(&row.matchers).map_err(|_| {
        Error::Corrupt(ModelError::Invalid(FieldError::new(
            "matchers",
            format!("unreadable value in silence {}", row.id),
        )))
    })?;
    let state = if now < row.starts_at {
        SilenceState::Pending
    } else if now < row.ends_at {
        SilenceState::Active
    } else {
        SilenceState::Expired
    };
    Ok(SilenceRecord {
        id: row.id,
        rule_id: row.rule_id,
        matchers,
        comment: row.comment,
        starts_at: row.starts_at.to_string(),
        ends_at: row.ends_at.to_string(),
        state,
        created_by: row.created_by,
        created_at: row.created_at.to_string(),
    })
}

/// Label equality matchers: the same keys and bounds as a rule's labels,
/// and a value to match (an empty one would match nothing a user means).
fn parse_matchers(matchers: &BTreeMap<String, String>) -> Result<(), FieldError> {
    parse_labels(
        "matchers",
        matchers.clone(),
        MAX_MATCHERS,
        MAX_MATCHER_VALUE_CHARS,
    )?;
    match matchers.iter().find(|(_, value)| value.is_empty()) {
        Some((key, _)) => Err(FieldError::new(
            format!("matchers.{key}"),
            "must not be empty",
        )),
        None => Ok(()),
    }
}

fn parse_comment(comment: &str) -> Result<String, FieldError> {
    let comment = comment.trim();
    if comment.is_empty() {
        return Err(FieldError::new(
            "comment",
            "is required: say why notifications are muted",
        ));
    }
    if comment.chars().count() > MAX_COMMENT_CHARS
        || comment
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(FieldError::new(
            "comment",
            format!("must be at most {MAX_COMMENT_CHARS} characters with no control characters"),
        ));
    }
    Ok(comment.to_owned())
}

/// The longest a silence may last, and how far ahead it may start: long
/// enough for any maintenance, short enough that every end is a date.
const MAX_SILENCE_DAYS: u64 = 366;
const MAX_SILENCE: Duration = Duration::from_secs(MAX_SILENCE_DAYS * 86_400);

/// The window as (starts_at, ends_at).
fn parse_window(
    input: &SilenceInput,
    now: Timestamp,
) -> Result<(Timestamp, Timestamp), FieldError> {
    let starts_at = input.starts_at.map_or(now, Timestamp::from);
    let ends_at = match (input.ends_at, input.duration) {
        (Some(_), Some(_)) => {
            return Err(FieldError::new(
                "duration",
                "give either ends_at or duration, not both",
            ));
        }
        (None, None) => {
            return Err(FieldError::new(
                "ends_at",
                "is required: give ends_at (RFC 3339) or a duration such as \"2h\"",
            ));
        }
        (Some(ends_at), None) => Timestamp::from(ends_at),
        (None, Some(duration)) => {
            if duration == HumanDuration::ZERO {
                return Err(FieldError::new("duration", "must be longer than 0s"));
            }
            starts_at + duration.as_duration()
        }
    };
    if ends_at <= starts_at {
        return Err(FieldError::new("ends_at", "must be after starts_at"));
    }
    if ends_at <= now {
        return Err(FieldError::new("ends_at", "must be in the future"));
    }
    if starts_at > now + MAX_SILENCE {
        return Err(FieldError::new(
            "starts_at",
            format!("must be at most {MAX_SILENCE_DAYS} days from now"),
        ));
    }
    if ends_at.since(starts_at) > MAX_SILENCE {
        let field = if input.duration.is_some() {
            "duration"
        } else {
            "ends_at"
        };
        return Err(FieldError::new(
            field,
            format!(
                "a silence lasts at most {MAX_SILENCE_DAYS} days; to stop a rule for good, \
                 pause it (update_alert_rule with enabled: false) or delete it"
            ),
        ));
    }
    Ok((starts_at, ends_at))
}

impl Store {
    pub async fn create_silence(
        &self,
        owner: UserId,
        input: SilenceInput,
    ) -> Result<SilenceRecord> {
        let now = self.clock.now();
        parse_matchers(&input.matchers)?;
        let comment = parse_comment(&input.comment)?;
        let (starts_at, ends_at) = parse_window(&input, now)?;
        let rule_id = match input.rule_id {
            Some(id) => Some(self.owned_rule_id(owner, id).await?),
            None if input.matchers.is_empty() => {
                return Err(FieldError::new(
                    "matchers",
                    "give rule_id, matchers, or both: a silence must say what it mutes",
                )
                .into());
            }
            None => None,
        };
        let matchers = serde_json::to_string(&input.matchers).map_err(|e| {
            Error::Corrupt(ModelError::Invalid(FieldError::new(
                "matchers",
                format!("could not be serialized: {e}"),
            )))
        })?;
        let row = silence::ActiveModel {
            id: Set(SilenceId::generate().to_string()),
            owner_id: Set(owner.to_string()),
            rule_id: Set(rule_id),
            matchers: Set(matchers),
            comment: Set(comment),
            created_by: Set(self.user_by_id(owner).await?.email),
            starts_at: Set(starts_at),
            ends_at: Set(ends_at),
            created_at: Set(now),
        }
        .insert(&self.db)
        .await?;
        record(row, now)
    }

    /// Newest first.
    pub async fn list_silences(
        &self,
        owner: UserId,
        filter: SilenceFilter,
    ) -> Result<Page<SilenceRecord>> {
        let size = cursor::page_size(filter.limit)?;
        let now = self.clock.now();
        let mut query = silence::Entity::find_owned(owner);
        if !filter.include_expired {
            query = query.filter(silence::Column::EndsAt.gt(now));
        }
        if let Some(after) = filter.cursor {
            let last = cursor::decode(&after, 1)?.remove(0);
            query = query.filter(silence::Column::Id.lt(last));
        }
        let rows = query
            .order_by_desc(silence::Column::Id)
            .limit(size + 1)
            .all(&self.db)
            .await?;
        let items = rows
            .into_iter()
            .map(|row| record(row, now))
            .collect::<Result<Vec<_>>>()?;
        Ok(cursor::paginate(items, size, |s| cursor::encode(&[&s.id])))
    }

    pub async fn delete_silence(&self, owner: UserId, id: SilenceId) -> Result<()> {
        let id = id.to_string();
        let deleted = silence::Entity::delete_owned(owner)
            .filter(silence::Column::Id.eq(id.as_str()))
            .exec(&self.db)
            .await?;
        if deleted.rows_affected == 0 {
            return Err(Error::not_found("silence", id));
        }
        Ok(())
    }

    /// `id` as that of one of `owner`'s rules; another user's rule is not
    /// found, exactly like a missing one.
    async fn owned_rule_id(&self, owner: UserId, id: RuleId) -> Result<String> {
        let found: Option<String> = alert_rule::Entity::find_owned_by_id(owner, id)
            .select_only()
            .column(alert_rule::Column::Id)
            .into_tuple()
            .one(&self.db)
            .await?;
        found.ok_or_else(|| Error::not_found("alert rule", id.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(value: serde_json::Value) -> SilenceInput {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn window_takes_ends_at_or_a_duration_from_the_start() {
        let now = Timestamp::from_millis(1_000_000);
        let (start, end) = parse_window(
            &input(serde_json::json!({"comment": "c", "duration": "2h"})),
            now,
        )
        .unwrap();
        assert_eq!((start, end), (now, now + Duration::from_secs(7_200)));
        let err = parse_window(&input(serde_json::json!({"comment": "c"})), now).unwrap_err();
        assert_eq!(err.field, "ends_at");
        let err = parse_window(
            &input(serde_json::json!({"comment": "c", "duration": "1h", "ends_at": "2030-01-01T00:00:00Z"})),
            now,
        )
        .unwrap_err();
        assert_eq!(err.field, "duration");
        let err = parse_window(
            &input(serde_json::json!({"comment": "c", "ends_at": "1970-01-01T00:00:00Z"})),
            now,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "ends_at: must be after starts_at");
    }

    #[test]
    fn a_silence_lasts_at_most_a_year_and_every_end_is_a_date() {
        let now = Timestamp::from_millis(1_000_000);
        let (_, end) = parse_window(
            &input(serde_json::json!({"comment": "c", "duration": "366d"})),
            now,
        )
        .unwrap();
        assert_eq!(end, now + MAX_SILENCE);
        for duration in ["367d", "1000000000d"] {
            let err = parse_window(
                &input(serde_json::json!({"comment": "c", "duration": duration})),
                now,
            )
            .unwrap_err();
            assert_eq!(err.field, "duration", "{duration}");
            assert!(err.reason.contains("at most 366 days"), "{err}");
        }
        let err = parse_window(
            &input(serde_json::json!({"comment": "c", "ends_at": "9999-01-01T00:00:00Z"})),
            now,
        )
        .unwrap_err();
        assert_eq!(err.field, "ends_at");
        let err = parse_window(
            &input(serde_json::json!({"comment": "c", "starts_at": "2400-01-01T00:00:00Z", "duration": "1h"})),
            now,
        )
        .unwrap_err();
        assert_eq!(err.field, "starts_at");
    }

    #[test]
    fn matchers_name_the_bad_key() {
        let bad: BTreeMap<String, String> = [("no-dash".to_owned(), "x".to_owned())].into();
        assert_eq!(parse_matchers(&bad).unwrap_err().field, "matchers.no-dash");
        let empty: BTreeMap<String, String> = [("symbol".to_owned(), String::new())].into();
        assert_eq!(
            parse_matchers(&empty).unwrap_err().to_string(),
            "matchers.symbol: must not be empty"
        );
    }
}
