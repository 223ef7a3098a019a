//! A metric source that counts and times what the engine asks of it.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use alert_worker::{
    CatalogRequest, MetricCatalog, MetricSource, SourceError,
    testing::{SeriesQuery, SeriesValue},
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub fn distinct<'q>(queries: impl Iterator<Item = &'q SeriesQuery>) -> usize {
    queries.collect::<HashSet<_>>().len()
}

/// A source that counts and times the calls the engine makes.
#[derive(Debug)]
pub struct Timed {
    inner: Arc<dyn MetricSource>,
    stats: Mutex<SourceStats>,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SourceStats {
    pub calls: usize,
    pub queries: usize,
    /// Distinct queries within each call, summed over the calls.
    pub distinct: usize,
    pub wall: Duration,
    /// Spent here counting distinct queries: part of the sweep's wall time,
    /// none of the engine's.
    pub counting: Duration,
}

impl Timed {
    pub fn new(inner: Arc<dyn MetricSource>) -> Self {
        Self {
            inner,
            stats: Mutex::default(),
        }
    }

    /// The figures since the last call, and starts again from zero.
    pub fn take(&self) -> SourceStats {
        std::mem::take(&mut *self.stats.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[async_trait]
impl MetricSource for Timed {
    async fn query(
        &self,
        queries: &[SeriesQuery],
        at: DateTime<Utc>,
    ) -> Vec<Result<Vec<SeriesValue>, SourceError>> {
        let started = Instant::now();
        let answers = self.inner.query(queries, at).await;
        let wall = started.elapsed();
        let counting = Instant::now();
        let distinct = distinct(queries.iter());
        let mut stats = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
        stats.calls += 1;
        stats.queries += queries.len();
        stats.distinct += distinct;
        stats.wall += wall;
        stats.counting += counting.elapsed();
        answers
    }

    async fn catalog(&self, request: &CatalogRequest) -> Result<MetricCatalog, SourceError> {
        self.inner.catalog(request).await
    }
}
