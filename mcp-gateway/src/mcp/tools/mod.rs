mod alerts;
mod rules;
