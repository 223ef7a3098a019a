mod alerts;
mod metrics;
mod rules;
