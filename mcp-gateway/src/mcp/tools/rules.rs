use alert_worker::{LoadedRule, data_check};
use rmcp::{
    model::{CallToolResult, JsonObject},
    schemars::{self, JsonSchema},
    tool, tool_router,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use shared_models::{
    ids::{RuleId, UserId},
    rule::{RuleInput, RulePatch, RuleSpec, Severity},
};

use super::Deleted;
use crate::{
    mcp::{
        args::{Args, Caller},
        result::{ToolFailure, structured_with_text, tool_result, unserialisable},
        schema,
        server::MonitorsMcp,
    },
    store::{RuleFilter, RuleListItem, RuleRecord, RuleWithHealth},
};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleIdArgs {
    /// The rule's id, as returned by create_alert_rule or list_alert_rules.
    pub id: RuleId,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListRulesArgs {
    /// Only enabled (true) or only paused (false) rules.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Only rules of this severity.
    #[serde(default)]
    pub severity: Option<Severity>,
    /// Only rules whose name contains this text.
    #[serde(default)]
    pub name_contains: Option<String>,
    /// Page size, 1-200 (default 50).
    #[serde(default)]
    pub limit: Option<u64>,
    /// The next_cursor of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// The id, and the rest as the JSON Merge Patch the store applies to the
/// rule (a [`RulePatch`], as the schema says, checked field by field there:
/// serde's `flatten` could not combine it with `deny_unknown_fields`).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct UpdateRuleArgs {
    /// The id of the rule to change.
    pub id: RuleId,
    #[serde(flatten)]
    #[schemars(with = "RulePatch")]
    pub changes: JsonObject,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RuleList {
    /// Newest first, in summary form; get_alert_rule returns a rule in full.
    pub rules: Vec<RuleListItem>,
    /// Pass as cursor to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl RuleList {
    /// The tool result: the same structured content and text as
    /// `tool_result` makes from this list, assembled from each summary's
    /// cached JSON rather than serialised afresh (twice) on every call.
    fn into_result(self) -> serde_json::Result<CallToolResult> {
        let mut text = String::with_capacity(32 + 384 * self.rules.len());
        text.push_str(r#"{"rules":["#);
        let mut rules = Vec::with_capacity(self.rules.len());
        for (i, item) in self.rules.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            rules.push(item.render(&mut text)?);
        }
        text.push(']');
        let mut object = Map::new();
        object.insert("rules".to_owned(), Value::Array(rules));
        if let Some(cursor) = self.next_cursor {
            text.push_str(r#","next_cursor":"#);
            text.push_str(&serde_json::to_string(&cursor)?);
            object.insert("next_cursor".to_owned(), Value::String(cursor));
        }
        text.push('}');
        Ok(structured_with_text(Value::Object(object), text))
    }
}

#[tool_router(router = rule_tools, vis = "pub(in crate::mcp)")]
impl MonitorsMcp {
    #[tool(
        description = "Create an alert rule that watches one metric and fires when a condition holds. \
Example: {\"name\": \"BTC above 70k\", \"metric\": {\"measurement\": \"crypto\", \"field\": \"price\", \
\"tags\": {\"symbol\": \"BTC\"}}, \"condition\": {\"op\": \">\", \"threshold\": 70000}, \"interval\": \"10s\"}. \
Durations are strings like \"30s\", \"5m\", \"2h\". To be notified when it fires and resolves, list \
notification channel ids (create_notification_channel) in \"channels\". Returns the stored rule.",
        input_schema = schema::input::<RuleInput>(),
        output_schema = schema::output::<RuleRecord>(),
        annotations(title = "Create alert rule", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = false)
    )]
    async fn create_alert_rule(
        &self,
        Caller(owner): Caller,
        Args(input): Args<RuleInput>,
    ) -> Result<CallToolResult, ToolFailure> {
        let spec = RuleSpec::parse(input, self.store.limits())?;
        let rule = self.store.create_rule(owner, spec).await?;
        tool_result(Ok(self.with_data_check(owner, rule).await))
    }

    #[tool(
        description = "List your alert rules, newest first, filtered by enabled, severity or a name fragment. Each is a summary \
(id, name, enabled, severity, interval, the condition in one line); get_alert_rule has every field. \
Paginated with cursor/next_cursor.",
        input_schema = schema::input::<ListRulesArgs>(),
        output_schema = schema::output::<RuleList>(),
        annotations(title = "List alert rules", read_only_hint = true, open_world_hint = false)
    )]
    async fn list_alert_rules(
        &self,
        Caller(owner): Caller,
        Args(args): Args<ListRulesArgs>,
    ) -> Result<CallToolResult, ToolFailure> {
        let filter = RuleFilter {
            enabled: args.enabled,
            severity: args.severity,
            name_contains: args.name_contains,
            limit: args.limit,
            cursor: args.cursor,
        };
        let list = match self.store.list_rules(owner, filter).await {
            Ok(page) => RuleList {
                rules: page.items,
                next_cursor: page.next_cursor,
            },
            Err(error) => return Err(error.into()),
        };
        list.into_result().map_err(|e| unserialisable(&e))
    }

    #[tool(
        description = "Get one alert rule by id with every field including defaults, and its health: last evaluation and error, and \
each series' state (normal, pending, firing, no_data, error).",
        input_schema = schema::input::<RuleIdArgs>(),
        output_schema = schema::output::<RuleWithHealth>(),
        annotations(title = "Get alert rule", read_only_hint = true, open_world_hint = false)
    )]
    async fn get_alert_rule(
        &self,
        Caller(owner): Caller,
        Args(RuleIdArgs { id }): Args<RuleIdArgs>,
    ) -> Result<CallToolResult, ToolFailure> {
        tool_result(self.store.get_rule_with_health(owner, id).await)
    }

    #[tool(
        description = "Change some fields of an alert rule; fields you leave out keep their values and nested \
objects (metric, condition, labels) are merged. Set \"enabled\": false to pause a rule and true to resume it. \
Setting a field to null resets it to its default. Returns the updated rule.",
        input_schema = schema::patch::<UpdateRuleArgs>(),
        output_schema = schema::output::<RuleRecord>(),
        annotations(title = "Update alert rule", read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn update_alert_rule(
        &self,
        Caller(owner): Caller,
        Args(UpdateRuleArgs { id, changes }): Args<UpdateRuleArgs>,
    ) -> Result<CallToolResult, ToolFailure> {
        let rule = self.store.update_rule(owner, id, changes).await?;
        tool_result(Ok(self.with_data_check(owner, rule).await))
    }

    #[tool(
        description = "Delete an alert rule permanently. Alerts it already raised stay in the alert history. \
To stop a rule temporarily, use update_alert_rule with enabled=false instead.",
        input_schema = schema::input::<RuleIdArgs>(),
        output_schema = schema::output::<Deleted>(),
        annotations(title = "Delete alert rule", read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn delete_alert_rule(
        &self,
        Caller(owner): Caller,
        Args(RuleIdArgs { id }): Args<RuleIdArgs>,
    ) -> Result<CallToolResult, ToolFailure> {
        tool_result(
            self.store
                .delete_rule(owner, id)
                .await
                .map(|()| Deleted::of(id)),
        )
    }
}

impl MonitorsMcp {
    /// The saved rule, with a warning when it would read no points now.
    async fn with_data_check(&self, owner: UserId, mut rule: RuleRecord) -> RuleRecord {
        let draft = LoadedRule::draft(owner, rule.spec.clone());
        if let Some(warning) =
            data_check::missing_data(self.source.as_ref(), &draft, self.store.now()).await
        {
            rule.warnings.push(warning);
        }
        rule
    }
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeMap, sync::Arc};

    use serde_json::Value;
    use shared_models::rule::Severity;

    use super::RuleList;
    use crate::store::{CachedSummary, ListedHealth, NotEvaluated, RuleListItem, RuleSummary};

    fn item(id: &str, labels: &[(&str, &str)], health: ListedHealth) -> RuleListItem {
        let summary = RuleSummary {
            id: id.to_owned(),
            name: format!("rule \"{id}\" \u{e9}"),
            enabled: true,
            severity: Severity::Critical,
            interval: "90s".parse().unwrap(),
            condition: r#"last(crypto.price{symbol="BTC"}) over 5m > 70000"#.to_owned(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            updated_at: "2026-11-23T05:06:51.451Z".to_owned(),
        };
        RuleListItem {
            summary: Arc::new(CachedSummary::new(summary).unwrap()),
            health,
        }
    }

    /// The assembled result says exactly what serialising the list says:
    /// the text byte for byte, the structured content value for value.
    #[test]
    fn assembled_result_is_the_serialised_list() {
        let lists = [
            RuleList {
                rules: vec![],
                next_cursor: None,
            },
            RuleList {
                rules: vec![
                    item("a", &[], ListedHealth::default()),
                    item(
                        "n",
                        &[],
                        ListedHealth {
                            not_evaluated: Some(NotEvaluated::NotYet),
                            ..ListedHealth::default()
                        },
                    ),
                    item(
                        "b",
                        &[("team", "db"), ("tier", "1")],
                        ListedHealth {
                            state: Some("error".to_owned()),
                            last_evaluated_at: Some("2026-11-23T05:07:00.000Z".to_owned()),
                            last_error: Some("source said \"no\"\n".to_owned()),
                            not_evaluated: Some(NotEvaluated::NoWorker),
                        },
                    ),
                    item(
                        "c",
                        &[],
                        ListedHealth {
                            state: Some("normal".to_owned()),
                            last_evaluated_at: Some("2026-11-23T05:07:01.000Z".to_owned()),
                            last_error: None,
                            not_evaluated: None,
                        },
                    ),
                ],
                next_cursor: Some("djF8Yw".to_owned()),
            },
        ];
        for list in lists {
            let text = serde_json::to_string(&list).unwrap();
            let value = serde_json::to_value(&list).unwrap();
            let result = list.into_result().unwrap();
            assert_eq!(result.is_error, Some(false));
            assert_eq!(result.structured_content.as_ref(), Some(&value));
            assert_eq!(result.content.len(), 1);
            let assembled = &result.content[0].as_text().unwrap().text;
            assert_eq!(assembled, &text);
            assert_eq!(serde_json::from_str::<Value>(assembled).unwrap(), value);
        }
    }
}
