//! InfluxDB through the v1 `/query` endpoint with InfluxQL, which InfluxDB
//! 1.x, the 2.x compatibility API and 3.x all serve.
//!
//! A sweep's queries are planned into few statements (`plan`), sent as
//! multi-statement requests with a bounded number in flight (`batch`,
//! `client`), and the series of each answer are routed back to the queries
//! they answer. InfluxDB 3 answers one statement per request: set
//! `max_statements_per_request` to 1 for it.

mod batch;
mod catalog;
mod client;
mod influxql;
mod plan;
mod response;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use shared_models::secret::Secret;

use self::{
    batch::Job,
    client::{Http, invalid},
};
use super::{CatalogRequest, MetricCatalog, MetricSource, SeriesQuery, SeriesValue, SourceError};

#[derive(Debug, Clone)]
pub struct InfluxConfig {
    /// Base URL, `http://host:8086` or with a path prefix; `/query` is added.
    pub url: String,
    /// For queries and catalog requests that name no database.
    pub default_database: String,
    /// Sent as `Authorization: Token ..` (InfluxDB 2.x and 3.x).
    pub token: Option<Secret<String>>,
    /// With `password`, sent as basic authentication (InfluxDB 1.x).
    pub username: Option<String>,
    pub password: Option<Secret<String>>,
    /// For each HTTP request, from connecting to the last byte of the body.
    pub timeout: Duration,
    /// HTTP requests in flight at once, across every caller of the source.
    pub max_concurrency: usize,
    /// Statements joined into one request; 1 for servers that answer only
    /// one (InfluxDB 3).
    pub max_statements_per_request: usize,
}

#[derive(Debug)]
pub struct InfluxSource {
    http: Arc<Http>,
    default_database: String,
    per_request: usize,
}

impl InfluxSource {
    /// Checks the settings and builds the HTTP client; connects to nothing.
    pub fn new(config: InfluxConfig) -> Result<Self, SourceError> {
        if config.max_statements_per_request == 0 {
            return Err(invalid("max_statements_per_request must be at least 1"));
        }
        if config.default_database.is_empty() {
            return Err(invalid("default_database must not be empty"));
        }
        Ok(Self {
            http: Arc::new(Http::new(&config)?),
            default_database: config.default_database,
            per_request: config.max_statements_per_request,
        })
    }
}

#[async_trait]
impl MetricSource for InfluxSource {
    #[tracing::instrument(skip_all, fields(queries = queries.len(), statements))]
    async fn query(
        &self,
        queries: &[SeriesQuery],
        at: DateTime<Utc>,
    ) -> Vec<Result<Vec<SeriesValue>, SourceError>> {
        let plan = plan::plan(queries, at, &self.default_database);
        let mut routes = Vec::with_capacity(plan.jobs.len());
        let mut jobs = Vec::with_capacity(plan.jobs.len());
        let mut statements = 0;
        for (database, planned) in plan.jobs {
            statements += planned.len();
            let (texts, job_routes): (Vec<String>, Vec<plan::Route>) =
                planned.into_iter().map(|p| (p.text, p.route)).unzip();
            jobs.push(Job {
                database,
                statements: texts,
            });
            routes.push(job_routes);
        }
        tracing::Span::current().record("statements", statements);

        let answers = batch::run(&self.http, jobs, self.per_request).await;
        let mut distinct: Vec<Option<plan::Answer>> = (0..plan.distinct).map(|_| None).collect();
        for (job_routes, job_answers) in routes.iter().zip(answers) {
            for (route, answer) in job_routes.iter().zip(job_answers) {
                route.deliver(answer, &mut distinct);
            }
        }
        plan.slots
            .into_iter()
            .map(|slot| {
                let index = slot?;
                distinct.get(index).cloned().flatten().unwrap_or_else(|| {
                    Err(SourceError::Protocol("a query went unanswered".to_owned()))
                })
            })
            .collect()
    }

    #[tracing::instrument(skip_all, fields(prefix = request.prefix.as_deref()))]
    async fn catalog(&self, request: &CatalogRequest) -> Result<MetricCatalog, SourceError> {
        let database = request
            .database
            .as_deref()
            .unwrap_or(&self.default_database);
        catalog::catalog(&self.http, self.per_request, database, request).await
    }
}
