mod support;

mod alerts;
mod auth;
mod bad_input;
mod evaluation;
mod first_start;
mod protocol;
mod rules;
mod write;
