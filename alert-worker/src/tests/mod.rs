//! The crate's tests against real databases and servers (SQLite, MariaDB,
//! Redis, InfluxDB, local HTTP and SMTP receivers), driving its internals
//! with time passed in explicitly. Tests of the built binary as a process
//! are in `tests/it/`.

mod builtin;
mod changes;
mod dispatch;
mod engine;
mod fleet;
mod influx;
mod metrics;
mod notify_send;
