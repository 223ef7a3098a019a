//! The measurements, fields and tags of a database, in three rounds of
//! requests whatever its size: names, then field and tag keys, then tag
//! values, each round batched like a sweep's queries.

use std::{collections::BTreeMap, sync::Arc};

use super::{
    batch::{self, Job, StatementResult},
    client::Http,
    influxql::{inexpressible, show_field_keys, show_measurements, show_tag_keys, show_tag_values},
};
use crate::source::{CatalogRequest, MeasurementInfo, MetricCatalog, SourceError};

pub(super) async fn catalog(
    http: &Arc<Http>,
    per_request: usize,
    database: &str,
    request: &CatalogRequest,
) -> Result<MetricCatalog, SourceError> {
    // To InfluxDB `LIMIT 0` means no limit at all.
    if request.measurements_limit == 0 {
        return Ok(MetricCatalog::default());
    }
    // One more than asked, to know whether there are more.
    let listing = show_measurements(
        request.prefix.as_deref(),
        request.measurements_limit.saturating_add(1),
    );
    let mut names = match ask(http, per_request, database, vec![listing]).await.pop() {
        Some(result) => column(result, "name")?,
        None => Vec::new(),
    };
    let more_measurements = names.len() > request.measurements_limit;
    names.truncate(request.measurements_limit);
    let mut measurements: Vec<MeasurementInfo> = names
        .into_iter()
        .map(|name| MeasurementInfo {
            name,
            ..MeasurementInfo::default()
        })
        .collect();

    // A name InfluxQL cannot quote is listed without its fields and tags.
    let describable: Vec<usize> = (0..measurements.len())
        .filter(|&i| request.describe && inexpressible(&measurements[i].name).is_none())
        .collect();
    let keys = describable
        .iter()
        .flat_map(|&i| {
            let name = &measurements[i].name;
            [show_field_keys(name), show_tag_keys(name)]
        })
        .collect();
    let mut answers = ask(http, per_request, database, keys).await.into_iter();
    for &i in &describable {
        let (Some(fields), Some(tags)) = (answers.next(), answers.next()) else {
            return Err(SourceError::Protocol(
                "a catalog statement went unanswered".to_owned(),
            ));
        };
        measurements[i].fields = column(fields, "fieldKey")?;
        measurements[i].tags = column(tags, "tagKey")?
            .into_iter()
            .map(|key| (key, Vec::new()))
            .collect::<BTreeMap<_, _>>();
    }

    if request.values_limit > 0 {
        let pairs: Vec<(usize, String)> = describable
            .iter()
            .flat_map(|&i| {
                measurements[i]
                    .tags
                    .keys()
                    .filter(|key| inexpressible(key).is_none())
                    .map(move |key| (i, key.clone()))
            })
            .collect();
        let statements = pairs
            .iter()
            .map(|(i, key)| {
                show_tag_values(
                    &measurements[*i].name,
                    key,
                    request.values_limit.saturating_add(1),
                )
            })
            .collect();
        let answers = ask(http, per_request, database, statements).await;
        for ((i, key), answer) in pairs.into_iter().zip(answers) {
            let values = column(answer, "value")?;
            measurements[i].set_tag_values(key, values, request.values_limit);
        }
    }
    Ok(MetricCatalog {
        measurements,
        more_measurements,
    })
}

async fn ask(
    http: &Arc<Http>,
    per_request: usize,
    database: &str,
    statements: Vec<String>,
) -> Vec<StatementResult> {
    if statements.is_empty() {
        return Vec::new();
    }
    let job = Job {
        database: database.to_owned(),
        statements,
    };
    batch::run(http, vec![job], per_request)
        .await
        .pop()
        .unwrap_or_default()
}

/// The named column of every series a statement returned.
fn column(result: StatementResult, name: &str) -> Result<Vec<String>, SourceError> {
    let mut values = Vec::new();
    for series in result? {
        values.extend(series.column(name)?);
    }
    Ok(values)
}
