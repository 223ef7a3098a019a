use alert_worker::{
    Backtest, CatalogRequest, LoadedRule, MAX_BACKTEST_TICKS, MetricCatalog, PreviewResult,
    backtest, data_check, preview_now,
};
use chrono::{DateTime, Utc};
use rmcp::{
    model::CallToolResult,
    schemars::{self, JsonSchema},
    tool, tool_router,
};
use serde::{Deserialize, Serialize};
use shared_models::{
    FieldError,
    rule::{RuleInput, RuleSpec},
    time::Timestamp,
};

use crate::{
    error::Error,
    mcp::{
        args::{Args, Caller},
        result::{ToolFailure, tool_result},
        schema,
        server::MonitorsMcp,
    },
};

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListMetricsArgs {
    /// Database or bucket; default: the server's default database.
    #[serde(default)]
    pub database: Option<String>,
    /// Only measurements whose name starts with this, e.g. "cry".
    #[serde(default)]
    pub prefix: Option<String>,
    /// Most measurements to return (default 20).
    #[serde(default)]
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<usize>,
    /// Most values listed per tag key (default 20).
    #[serde(default)]
    #[schemars(range(min = 1, max = 100))]
    pub values_limit: Option<usize>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct MetricList {
    pub measurements: Vec<MeasurementView>,
    /// More measurements exist: narrow by prefix or raise limit.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub more_measurements: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct MeasurementView {
    pub name: String,
    pub fields: Vec<String>,
    /// Tag keys, each with some of its values.
    pub tags: std::collections::BTreeMap<String, Vec<String>>,
    /// Tag keys with more values than listed (raise values_limit).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub more_values: Vec<String>,
}

impl From<MetricCatalog> for MetricList {
    fn from(catalog: MetricCatalog) -> Self {
        Self {
            measurements: catalog
                .measurements
                .into_iter()
                .map(|m| MeasurementView {
                    name: m.name,
                    fields: m.fields,
                    tags: m.tags,
                    more_values: m.more_tag_values.into_iter().collect(),
                })
                .collect(),
            more_measurements: catalog.more_measurements,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewArgs {
    /// The draft rule, exactly as create_alert_rule takes it.
    pub rule: RuleInput,
    /// Also replay the rule over this past range and report when it would have fired and resolved.
    #[serde(default)]
    pub backtest: Option<BacktestRange>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestRange {
    /// Start, RFC 3339, e.g. "2026-11-21T00:00:00Z".
    pub from: DateTime<Utc>,
    /// End, RFC 3339; default now.
    #[serde(default)]
    pub to: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PreviewView {
    /// What the rule sees now, per series, and the state a new rule would enter.
    pub now: PreviewResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backtest: Option<Backtest>,
    /// Why the rule would see no points now, naming what exists instead.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[tool_router(router = metric_tools, vis = "pub(in crate::mcp)")]
impl MonitorsMcp {
    #[tool(
        description = "Discover what can be alerted on: measurements (optionally by name prefix), their numeric \
fields, and tag keys with some of their values. Use it to turn a request like \"alert me if Bitcoin goes above \
70k\" into the measurement, field and tags of a rule.",
        input_schema = schema::input::<ListMetricsArgs>(),
        output_schema = schema::output::<MetricList>(),
        annotations(title = "List metrics", read_only_hint = true, open_world_hint = false)
    )]
    async fn list_metrics(
        &self,
        Caller(owner): Caller,
        Args(args): Args<ListMetricsArgs>,
    ) -> Result<CallToolResult, ToolFailure> {
        let limit = bounded(args.limit, "limit")?;
        let values_limit = bounded(args.values_limit, "values_limit")?;
        let request = CatalogRequest {
            owner,
            database: args.database,
            prefix: args.prefix.filter(|p| !p.is_empty()),
            measurements_limit: limit,
            values_limit,
            describe: true,
        };
        let catalog = self.source.catalog(&request).await.map_err(Error::Source);
        tool_result(catalog.map(MetricList::from))
    }

    #[tool(
        description = "Try a draft alert rule without saving it: evaluates it now and shows each series' current \
value and the state it would enter (normal, pending, firing, no_data). With backtest {from, to}, replays it over \
that past range (at most 1000 evaluations) and lists when it would have fired and resolved.",
        input_schema = schema::input_described_elsewhere::<PreviewArgs>(),
        output_schema = schema::output::<PreviewView>(),
        annotations(title = "Preview alert rule", read_only_hint = true, open_world_hint = false)
    )]
    async fn preview_alert_rule(
        &self,
        Caller(owner): Caller,
        Args(args): Args<PreviewArgs>,
    ) -> Result<CallToolResult, ToolFailure> {
        let spec = RuleSpec::parse(args.rule, self.store.limits()).map_err(|e| e.within("rule"))?;
        let rule = LoadedRule::draft(owner, spec);
        let now = self.store.now();
        let range = match &args.backtest {
            Some(range) => {
                let to = range.to.map_or(now, Timestamp::from).as_millis();
                let from = range.from.timestamp_millis();
                if from >= to {
                    return Err(
                        FieldError::new("backtest.from", "must be before backtest.to").into(),
                    );
                }
                if (to - from) / rule.interval_ms() > MAX_BACKTEST_TICKS {
                    return Err(FieldError::new(
                        "backtest",
                        format!(
                            "covers more than {MAX_BACKTEST_TICKS} evaluations; shorten it or lengthen the interval"
                        ),
                    )
                    .into());
                }
                Some((from, to))
            }
            None => None,
        };
        let current = preview_now(self.source.as_ref(), &rule, now).await;
        // An error is already in the preview; when it saw no points, the
        // source is not asked again whether it has any, only why not.
        let saw_no_points = current.series.iter().all(|s| s.value.is_none());
        let warnings = if current.error.is_none() && saw_no_points {
            data_check::why_no_points(self.source.as_ref(), &rule)
                .await
                .into_iter()
                .collect()
        } else {
            Vec::new()
        };
        let replay = match range {
            Some((from, to)) => Some(backtest(self.source.as_ref(), &rule, from, to).await),
            None => None,
        };
        tool_result(Ok(PreviewView {
            now: current,
            backtest: replay,
            warnings,
        }))
    }
}

fn bounded(value: Option<usize>, field: &str) -> Result<usize, FieldError> {
    match value {
        None => Ok(20),
        Some(n) if (1..=100).contains(&n) => Ok(n),
        Some(_) => Err(FieldError::new(field, "must be between 1 and 100")),
    }
}
