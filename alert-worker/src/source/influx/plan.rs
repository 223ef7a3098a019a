//! Turns a sweep's queries into as few statements as possible, and routes
//! the series of each statement back to the queries it answers.
//!
//! Identical queries are asked once. Queries that differ only in the values
//! of their tag filters (same database, measurement, field, reduction,
//! window, tag keys and group-by) are asked as one statement that lets each
//! filtered key take any of the queries' values and groups by the filtered
//! keys, so a hundred thousand rules over ten thousand series become about a
//! hundred statements. Grouping by every filtered key keeps each query's
//! aggregate to exactly the series it filters, so the merged answer holds
//! the one each query would get alone; series no query asked for (the
//! filter is a product of per-key sets) are dropped on the way back.

use std::{
    collections::{BTreeMap, HashMap, hash_map::Entry},
    time::Duration,
};

use chrono::{DateTime, Utc};

use super::{
    influxql::{Filter, Select, inexpressible},
    response::Series,
};
use crate::source::{Reduce, SeriesQuery, SeriesValue, SourceError};

/// Queries merged into one statement. InfluxDB 1.6 answers a regex filter
/// in about 30 µs a series whatever its size, plus about 10 ms a statement;
/// a thousand keeps that overhead small while leaving a ten-thousand-series
/// family enough statements to spread over the requests in flight.
pub(super) const MAX_MERGED: usize = 1_000;

pub(super) type Answer = Result<Vec<SeriesValue>, SourceError>;

#[derive(Debug)]
pub(super) struct Plan {
    /// Per input query: the distinct query that answers it, or why none will.
    pub slots: Vec<Result<usize, SourceError>>,
    pub distinct: usize,
    /// Statements by database, in the order databases first appear.
    pub jobs: Vec<(String, Vec<Planned>)>,
}

#[derive(Debug)]
pub(super) struct Planned {
    pub text: String,
    pub route: Route,
}

/// Where the series of one statement go.
#[derive(Debug)]
pub(super) struct Route {
    /// Tag keys whose values pick the query a series belongs to; empty when
    /// the statement answers a single query.
    keys: Vec<String>,
    targets: HashMap<Vec<String>, usize>,
    group_by: Vec<String>,
}

impl Route {
    /// Stores what `answer` says about each target query in `out`, indexed
    /// by distinct query.
    pub(super) fn deliver(
        &self,
        answer: Result<Vec<Series>, SourceError>,
        out: &mut [Option<Answer>],
    ) {
        let series = match answer {
            Ok(series) => series,
            Err(error) => {
                for &target in self.targets.values() {
                    if let Some(slot) = out.get_mut(target) {
                        *slot = Some(Err(error.clone()));
                    }
                }
                return;
            }
        };
        for &target in self.targets.values() {
            if let Some(slot) = out.get_mut(target) {
                *slot = Some(Ok(Vec::new()));
            }
        }
        for series in &series {
            let key: Vec<String> = self.keys.iter().map(|k| series.tag(k).to_owned()).collect();
            let Some(&target) = self.targets.get(&key) else {
                continue;
            };
            let Some(Some(Ok(values))) = out.get_mut(target) else {
                continue;
            };
            match series.reduced() {
                Ok(Some(value)) => values.push(SeriesValue {
                    labels: self
                        .group_by
                        .iter()
                        .map(|g| (g.clone(), series.tag(g).to_owned()))
                        .collect(),
                    value,
                }),
                Ok(None) => {}
                Err(error) => out[target] = Some(Err(error)),
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct DistinctKey<'q> {
    database: &'q str,
    measurement: &'q str,
    field: &'q str,
    tags: &'q BTreeMap<String, String>,
    reduce: Reduce,
    window: Duration,
    group_by: Vec<&'q str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FamilyKey<'q> {
    database: &'q str,
    measurement: &'q str,
    field: &'q str,
    reduce: Reduce,
    window: Duration,
    tag_keys: Vec<&'q str>,
    group_by: Vec<&'q str>,
}

struct Family<'q> {
    key: FamilyKey<'q>,
    /// Distinct query and its filter values, one per tag key.
    members: Vec<(usize, Vec<&'q str>)>,
}

/// Plans `queries` as of `at`. The owner plays no part: InfluxDB serves
/// every tenant the same databases, so equal queries of two owners have the
/// same answer.
pub(super) fn plan(queries: &[SeriesQuery], at: DateTime<Utc>, default_database: &str) -> Plan {
    let Some(until_ns) = at.timestamp_nanos_opt() else {
        let error = SourceError::Refused(format!("{at} is outside the times InfluxDB can hold"));
        return Plan {
            slots: queries.iter().map(|_| Err(error.clone())).collect(),
            distinct: 0,
            jobs: Vec::new(),
        };
    };
    let mut slots = Vec::with_capacity(queries.len());
    let mut distinct: HashMap<DistinctKey<'_>, usize> = HashMap::new();
    let mut families: Vec<Family<'_>> = Vec::new();
    let mut family_index: HashMap<FamilyKey<'_>, usize> = HashMap::new();
    for query in queries {
        let database = query.database.as_deref().unwrap_or(default_database);
        if let Err(error) = check(query, database) {
            slots.push(Err(error));
            continue;
        }
        let mut group_by: Vec<&str> = query.group_by.iter().map(String::as_str).collect();
        group_by.sort_unstable();
        group_by.dedup();
        let key = DistinctKey {
            database,
            measurement: &query.measurement,
            field: &query.field,
            tags: &query.tags,
            reduce: query.reduce,
            window: query.window,
            group_by: group_by.clone(),
        };
        let next = distinct.len();
        let index = match distinct.entry(key) {
            Entry::Occupied(seen) => *seen.get(),
            Entry::Vacant(slot) => *slot.insert(next),
        };
        slots.push(Ok(index));
        if index != next {
            continue;
        }
        let family = FamilyKey {
            database,
            measurement: &query.measurement,
            field: &query.field,
            reduce: query.reduce,
            window: query.window,
            tag_keys: query.tags.keys().map(String::as_str).collect(),
            group_by,
        };
        let values = query.tags.values().map(String::as_str).collect();
        let at = *family_index.entry(family.clone()).or_insert_with(|| {
            families.push(Family {
                key: family,
                members: Vec::new(),
            });
            families.len() - 1
        });
        families[at].members.push((index, values));
    }
    Plan {
        slots,
        distinct: distinct.len(),
        jobs: statements(&mut families, until_ns),
    }
}

/// Refuses what no InfluxQL statement can ask, before it joins a batch.
fn check(query: &SeriesQuery, database: &str) -> Result<(), SourceError> {
    let refuse = |what: &str, name: &str| -> Result<(), SourceError> {
        if name.is_empty() {
            return Err(SourceError::Refused(format!("the {what} name is empty")));
        }
        match inexpressible(name) {
            Some(c) => Err(SourceError::Refused(format!(
                "the {what} {name:?} holds {c:?}, which InfluxQL cannot express"
            ))),
            None => Ok(()),
        }
    };
    if database.is_empty() {
        return Err(SourceError::Refused(
            "the database name is empty".to_owned(),
        ));
    }
    refuse("measurement", &query.measurement)?;
    refuse("field", &query.field)?;
    for (key, value) in &query.tags {
        refuse("tag key", key)?;
        if let Some(c) = inexpressible(value) {
            return Err(SourceError::Refused(format!(
                "the value {value:?} of tag {key:?} holds {c:?}, which InfluxQL cannot express"
            )));
        }
    }
    for key in &query.group_by {
        refuse("group-by key", key)?;
    }
    Ok(())
}

fn statements(families: &mut [Family<'_>], until_ns: i64) -> Vec<(String, Vec<Planned>)> {
    let mut jobs: Vec<(String, Vec<Planned>)> = Vec::new();
    let mut job_index: HashMap<&str, usize> = HashMap::new();
    let until = DateTime::from_timestamp_nanos(until_ns);
    for family in families {
        let key = &family.key;
        // A window longer than InfluxDB's time range reaches back to its start.
        let window_ns = i64::try_from(key.window.as_nanos()).unwrap_or(i64::MAX);
        let after = DateTime::from_timestamp_nanos(until_ns.saturating_sub(window_ns));
        let job = *job_index.entry(key.database).or_insert_with(|| {
            jobs.push((key.database.to_owned(), Vec::new()));
            jobs.len() - 1
        });
        // Neighbours share leading values, which keeps the per-key sets of
        // a chunk, and so the series it reads beyond those asked, small.
        family.members.sort_unstable_by(|a, b| a.1.cmp(&b.1));
        let merged_group_by: Vec<&str> = {
            let mut keys: Vec<&str> = key.tag_keys.iter().chain(&key.group_by).copied().collect();
            keys.sort_unstable();
            keys.dedup();
            keys
        };
        for chunk in family.members.chunks(MAX_MERGED) {
            let select = |filter, group_by| Select {
                measurement: key.measurement,
                field: key.field,
                function: function(key.reduce),
                after,
                until,
                filter,
                group_by,
            };
            let mut text = String::new();
            let route = if let [(index, values)] = chunk {
                select(
                    Filter::Equal {
                        keys: &key.tag_keys,
                        values,
                    },
                    &key.group_by,
                )
                .write(&mut text);
                Route {
                    keys: Vec::new(),
                    targets: HashMap::from([(Vec::new(), *index)]),
                    group_by: owned(&key.group_by),
                }
            } else {
                let sets: Vec<Vec<&str>> = (0..key.tag_keys.len())
                    .map(|k| {
                        let mut set: Vec<&str> =
                            chunk.iter().map(|(_, values)| values[k]).collect();
                        set.sort_unstable();
                        set.dedup();
                        set
                    })
                    .collect();
                select(
                    Filter::AnyOf {
                        keys: &key.tag_keys,
                        values: &sets,
                    },
                    &merged_group_by,
                )
                .write(&mut text);
                Route {
                    keys: owned(&key.tag_keys),
                    targets: chunk
                        .iter()
                        .map(|(index, values)| (owned(values), *index))
                        .collect(),
                    group_by: owned(&key.group_by),
                }
            };
            jobs[job].1.push(Planned { text, route });
        }
    }
    jobs
}

fn owned(strs: &[&str]) -> Vec<String> {
    strs.iter().map(|s| (*s).to_owned()).collect()
}

fn function(reduce: Reduce) -> &'static str {
    match reduce {
        Reduce::Rule(aggregation) => aggregation.as_str(),
        Reduce::First => "first",
    }
}

#[cfg(test)]
mod tests;
