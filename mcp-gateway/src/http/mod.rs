pub mod body_limit;
pub mod health;
pub mod influx_auth;
pub mod influx_query;
pub mod line_protocol;
pub mod write;
