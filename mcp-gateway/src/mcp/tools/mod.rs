mod alerts;
mod channels;
mod connections;
mod metrics;
mod rules;
mod silences;
