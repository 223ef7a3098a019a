//! The worker as an operator runs it: the built `alert-worker` binary as
//! real processes, started in an empty directory, serving its metrics until
//! SIGTERM, and as a fleet on a real MariaDB through faults. Tests of the
//! crate's internals are in `src/tests/`.

mod fleet_processes;
mod metrics;
mod start;
mod support;
