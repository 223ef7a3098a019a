//! The one shutdown signal of both binaries: Ctrl-C or SIGTERM (what
//! Kubernetes sends) cancels the process's cancellation token, and every
//! task watching it winds down, on a tracker that waits for them all.

use std::time::Duration;

use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// Runs `round` every `period`, the first at once, until `shutdown` fires,
/// which also drops a round in progress. A round that overruns delays the
/// next rather than bunching them.
pub async fn every<F, Fut>(period: Duration, shutdown: CancellationToken, mut round: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = round() => {}
        }
    }
}

/// Waits for Ctrl-C or SIGTERM, then cancels `shutdown`.
pub async fn stop_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            // Without a SIGTERM handler, Ctrl-C still stops the process.
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
    shutdown.cancel();
}

/// A process's background tasks, each with a name: they run on a
/// [`TaskTracker`], and one that fails (panics) is logged by its name, so
/// nothing is joined by hand and no failure goes unnamed.
#[derive(Debug, Clone, Default)]
pub struct Tasks {
    tracker: TaskTracker,
}

impl Tasks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `task` until it ends; waited for by [`Tasks::wait`].
    pub fn spawn<F>(&self, name: &'static str, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = self.tracker.spawn(task);
        self.tracker.spawn(async move {
            if let Err(error) = handle.await {
                tracing::error!(task = name, error = %crate::chain(&error), "background task failed");
            }
        });
    }

    /// Waits until every task spawned (before or while waiting) has ended.
    pub async fn wait(&self) {
        self.tracker.close();
        self.tracker.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    };

    use super::*;

    #[tokio::test]
    async fn waiting_outlasts_every_task_even_one_that_panics() {
        let tasks = Tasks::new();
        let finished = Arc::new(AtomicBool::new(false));
        let stop = CancellationToken::new();
        tasks.spawn("failing", async { panic!("a task that fails") });
        tasks.spawn("stopping", {
            let (finished, stop) = (finished.clone(), stop.clone());
            async move {
                stop.cancelled().await;
                finished.store(true, Ordering::SeqCst);
            }
        });
        stop.cancel();
        tasks.wait().await;
        assert!(finished.load(Ordering::SeqCst));
    }
}
