mod alerts;
mod channels;
mod metrics;
mod rules;
mod silences;
