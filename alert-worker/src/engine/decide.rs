//! What one evaluation does to one series, apart from the I/O around it.
//! Everything here is a function of its arguments: no database, no source,
//! no clock, and no ids (uuid v7 ids read the clock), so that the engine's
//! behaviour per series can be tested without any of those.

use shared_models::{silence::ActiveSilence, time::Timestamp};

use super::{
    outbox::{Verdict, decide},
    plan::Labels,
    rules::LoadedRule,
    state::{Observation, Phase, SeriesState, Transition, step},
};

/// The next state of one series and what it owes, before ids are minted.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesDecision {
    /// Without the id of an alert fired now: the caller mints it.
    pub next: SeriesState,
    pub transition: Option<Transition>,
    /// The notification owed to the rule's channels, if any.
    pub verdict: Option<Verdict>,
    /// Whether the state row must be written.
    pub changed: bool,
}

/// Decides one series at `tick`. `previous` is its stored state, `None` for
/// a series never written down.
pub fn decide_series(
    rule: &LoadedRule,
    labels: &Labels,
    previous: Option<&SeriesState>,
    observation: Observation,
    silences: &[ActiveSilence],
    tick: Timestamp,
) -> SeriesDecision {
    let fresh = SeriesState::default();
    let prev = previous.unwrap_or(&fresh);
    let (mut next, transition) = step(prev, observation, &rule.spec, tick);
    // A fired verdict does not depend on the new alert's id, so it can be
    // decided before the id exists.
    let verdict = decide(rule, labels, prev, &mut next, transition, silences, tick);
    let changed = match previous {
        Some(p) => timers(p) != timers(&next),
        // A new series needs a row only if it is not plainly normal, or if
        // it must be remembered to notice it vanish: an ungrouped rule's one
        // series is always asked about, so its normal state is the default,
        // not news.
        None => !rule.spec.metric.group_by.is_empty() || timers(&next) != timers(&fresh),
    };
    SeriesDecision {
        next,
        transition,
        verdict,
        changed,
    }
}

/// The part of a state whose change warrants a write. The last value and
/// when it was seen move at almost every evaluation; writing them would
/// cost a row per series per tick, which the steady sweep avoids.
type Timers = (
    Phase,
    Option<Timestamp>,
    Option<Timestamp>,
    Option<Timestamp>,
    Option<Timestamp>,
);

fn timers(s: &SeriesState) -> Timers {
    (
        s.phase,
        s.pending_since,
        s.firing_since,
        s.clear_since,
        s.last_notified_at,
    )
}

#[cfg(test)]
mod tests;
