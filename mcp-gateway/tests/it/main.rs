mod support;

mod alerts;
mod auth;
mod bad_input;
mod first_start;
mod protocol;
mod rules;
