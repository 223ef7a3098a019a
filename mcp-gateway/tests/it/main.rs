mod support;

mod alerts;
mod auth;
mod bad_input;
mod browser;
mod changes;
mod channels;
mod evaluation;
mod first_start;
mod keys;
mod oauth;
mod protocol;
mod rules;
mod schema_migrations;
mod silences;
mod webdriver;
mod write;
