//! Choosing the source from the settings: InfluxDB when a URL is given,
//! otherwise the built-in store in the product database.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use super::{
    MetricSource, SourceError,
    builtin::BuiltinSource,
    influx::{InfluxConfig, InfluxSource},
};
use crate::config::SourceSettings;

pub fn build_source(
    settings: &SourceSettings,
    db: &DatabaseConnection,
) -> Result<Arc<dyn MetricSource>, SourceError> {
    match &settings.influx_url {
        Some(url) => Ok(Arc::new(InfluxSource::new(InfluxConfig {
            url: url.clone(),
            default_database: settings.influx_database.clone(),
            token: settings.influx_token.clone(),
            username: settings.influx_username.clone(),
            password: settings.influx_password.clone(),
            timeout: settings.influx_timeout,
            max_concurrency: settings.influx_max_concurrency,
            max_statements_per_request: settings.influx_statements_per_request,
        })?)),
        None => Ok(Arc::new(BuiltinSource::new(
            db.clone(),
            settings.influx_database.clone(),
        ))),
    }
}
