//! Support for the process tests: what needs the built binary, and the lock
//! that runs them one at a time. Everything else is in
//! `alert_worker::testing`, shared with the crate's own tests.

pub mod processes;

use tokio::sync::{Mutex, MutexGuard};

/// Held by each test of this binary while its processes run. On a two-core
/// machine, a fleet running beside another test's processes would measure
/// them rather than the fleet; as separate binaries, they ran one after the
/// other.
pub async fn one_at_a_time() -> MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());
    ONE_AT_A_TIME.lock().await
}
