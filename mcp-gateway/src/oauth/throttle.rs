//! Sign-in throttling: after too many failed sign-ins within a sliding
//! window, further attempts for that account, or from that client address,
//! are refused until the oldest counted failure leaves the window.
//!
//! The counts live in this process's memory, so each gateway replica keeps
//! its own: behind a load balancer with N replicas an attacker gets up to N
//! times the limits, and a restart forgets them. That is accepted here —
//! the limits exist to make online guessing slow against 600,000-iteration
//! PBKDF2 hashes, not to be exact — and it needs no shared store.
//!
//! Memory is bounded: a key's failures are kept only while they count (at
//! most `max` timestamps per key), expired keys are swept once per window,
//! and when the table still reaches [`MAX_KEYS`] the keys whose latest
//! failure is oldest are evicted first.

use std::{
    collections::{HashMap, VecDeque},
    net::{IpAddr, Ipv6Addr},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use shared_models::time::{Clock, Timestamp};

/// How many accounts and addresses are tracked at most, together.
pub const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleSettings {
    /// Failures for one account (email, case-insensitive) within `window`
    /// before its sign-ins are refused.
    pub max_failures_per_account: u32,
    /// Failures from one client address within `window` before its sign-ins
    /// are refused, whichever account they were for.
    pub max_failures_per_address: u32,
    pub window: Duration,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            max_failures_per_account: 5,
            max_failures_per_address: 20,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// Refused: the caller may try again after this long (for a `Retry-After`
/// header, round it up to whole seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

/// What failures are counted against. IPv6 addresses count per /64, the
/// block one host or household is normally given, so that walking through
/// a single allocation does not reset the count.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Account(String),
    Address(IpAddr),
}

impl Key {
    fn account(account: &str) -> Self {
        Self::Account(account.to_lowercase())
    }

    fn address(address: IpAddr) -> Self {
        let address = match address.to_canonical() {
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
            v4 => v4,
        };
        Self::Address(address)
    }
}

#[derive(Debug)]
pub struct Throttle {
    settings: ThrottleSettings,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Each key's counted failures, oldest first; never longer than that
    /// key's maximum.
    failures: HashMap<Key, VecDeque<Timestamp>>,
    last_sweep: Timestamp,
}

impl Throttle {
    /// A maximum of zero is taken as one: "never allow a failure" would
    /// lock everyone out after their first typo, for good.
    pub fn new(settings: ThrottleSettings, clock: Arc<dyn Clock>) -> Self {
        let last_sweep = clock.now();
        Self {
            settings: ThrottleSettings {
                max_failures_per_account: settings.max_failures_per_account.max(1),
                max_failures_per_address: settings.max_failures_per_address.max(1),
                window: settings.window,
            },
            clock,
            state: Mutex::new(State {
                failures: HashMap::new(),
                last_sweep,
            }),
        }
    }

    /// Whether a sign-in for `account` from `address` may be attempted now.
    /// Call it before checking the password, so that a refused attempt
    /// costs no hashing.
    pub fn check(&self, account: &str, address: IpAddr) -> Result<(), RetryAfter> {
        let now = self.clock.now();
        let window = self.settings.window;
        let mut state = self.lock();
        let wait = [
            (
                Key::account(account),
                self.settings.max_failures_per_account,
            ),
            (
                Key::address(address),
                self.settings.max_failures_per_address,
            ),
        ]
        .into_iter()
        .filter_map(|(key, max)| {
            let times = state.failures.get_mut(&key)?;
            expire(times, now, window);
            let oldest = *times.front()?;
            (times.len() >= max as usize).then_some((oldest + window).since(now))
        })
        .max();
        match wait {
            Some(wait) => Err(RetryAfter(wait.max(Duration::from_millis(1)))),
            None => Ok(()),
        }
    }

    /// Counts a failed sign-in (wrong password, or no such account) against
    /// both the account and the address.
    pub fn record_failure(&self, account: &str, address: IpAddr) {
        let now = self.clock.now();
        let window = self.settings.window;
        let mut state = self.lock();
        if now.since(state.last_sweep) >= window {
            state.sweep(now, window);
        }
        for (key, max) in [
            (
                Key::account(account),
                self.settings.max_failures_per_account,
            ),
            (
                Key::address(address),
                self.settings.max_failures_per_address,
            ),
        ] {
            if !state.failures.contains_key(&key) && state.failures.len() >= MAX_KEYS {
                state.make_room(now, window);
            }
            let times = state.failures.entry(key).or_default();
            expire(times, now, window);
            // Only the latest `max` failures decide when the key is free
            // again, so older ones need not be kept.
            if times.len() >= max as usize {
                times.pop_front();
            }
            times.push_back(now);
        }
    }

    /// A successful sign-in clears the account's failures. The address's
    /// stay: one account the attacker owns must not reset the count of
    /// their guesses at everyone else's.
    pub fn record_success(&self, account: &str) {
        self.lock().failures.remove(&Key::account(account));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Drops the failures that have left the window ending at `now`.
fn expire(times: &mut VecDeque<Timestamp>, now: Timestamp, window: Duration) {
    while times.front().is_some_and(|&at| at + window <= now) {
        times.pop_front();
    }
}

impl State {
    fn sweep(&mut self, now: Timestamp, window: Duration) {
        self.failures.retain(|_, times| {
            expire(times, now, window);
            !times.is_empty()
        });
        self.last_sweep = now;
    }

    /// Called when the table is full: sweeps, and if that frees too little,
    /// evicts the keys whose latest failure is oldest, down to 90% of the
    /// cap so that the next evictions are a while off (each costs a sort).
    fn make_room(&mut self, now: Timestamp, window: Duration) {
        self.sweep(now, window);
        let target = MAX_KEYS / 10 * 9;
        if self.failures.len() <= target {
            return;
        }
        let mut latest: Vec<(Timestamp, Key)> = self
            .failures
            .iter()
            .map(|(key, times)| (times.back().copied().unwrap_or(Timestamp::MIN), key.clone()))
            .collect();
        let excess = latest.len() - target;
        latest.select_nth_unstable_by_key(excess - 1, |(at, _)| *at);
        for (_, key) in latest.into_iter().take(excess) {
            self.failures.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use shared_models::time::ManualClock;

    use super::*;

    const MINUTE: chrono::Duration = chrono::Duration::minutes(1);

    fn throttle() -> (Throttle, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
        ));
        (
            Throttle::new(ThrottleSettings::default(), clock.clone()),
            clock,
        )
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_defaults_are_five_twenty_and_a_quarter_hour() {
        let settings = ThrottleSettings::default();
        assert_eq!(settings.max_failures_per_account, 5);
        assert_eq!(settings.max_failures_per_address, 20);
        assert_eq!(settings.window, Duration::from_secs(900));
    }

    #[test]
    fn an_account_is_refused_after_five_failures_until_the_oldest_expires() {
        let (throttle, clock) = throttle();
        let from = ip("192.0.2.1");
        for _ in 0..5 {
            assert_eq!(throttle.check("ada@example.com", from), Ok(()));
            throttle.record_failure("ada@example.com", from);
            clock.advance(MINUTE);
        }
        // Failures at minutes 0..=4; it is now minute 5. The first leaves
        // the window at minute 15.
        assert_eq!(
            throttle.check("ada@example.com", from),
            Err(RetryAfter(Duration::from_secs(10 * 60)))
        );
        // From any address, and whatever the case of the email.
        assert_eq!(
            throttle.check("ADA@Example.com", ip("198.51.100.7")),
            Err(RetryAfter(Duration::from_secs(10 * 60)))
        );
        // Other accounts from the same address are still let through.
        assert_eq!(throttle.check("bob@example.com", from), Ok(()));

        clock.advance(chrono::Duration::minutes(10) - chrono::Duration::milliseconds(1));
        assert_eq!(
            throttle.check("ada@example.com", from),
            Err(RetryAfter(Duration::from_millis(1)))
        );
        clock.advance(chrono::Duration::milliseconds(1));
        assert_eq!(throttle.check("ada@example.com", from), Ok(()));
        // One more failure fills the window again; the next to leave it is
        // the one from minute 1.
        throttle.record_failure("ada@example.com", from);
        assert_eq!(
            throttle.check("ada@example.com", from),
            Err(RetryAfter(Duration::from_secs(60)))
        );
    }

    #[test]
    fn failures_spread_wider_than_the_window_never_lock_an_account() {
        let (throttle, clock) = throttle();
        let from = ip("192.0.2.1");
        for _ in 0..50 {
            assert_eq!(throttle.check("ada@example.com", from), Ok(()));
            throttle.record_failure("ada@example.com", from);
            clock.advance(chrono::Duration::minutes(4));
        }
    }

    #[test]
    fn an_address_is_refused_after_twenty_failures_across_accounts() {
        let (throttle, clock) = throttle();
        let from = ip("203.0.113.9");
        for n in 0..20 {
            let account = format!("user{n}@example.com");
            assert_eq!(throttle.check(&account, from), Ok(()), "attempt {n}");
            throttle.record_failure(&account, from);
        }
        clock.advance(MINUTE);
        assert_eq!(
            throttle.check("new@example.com", from),
            Err(RetryAfter(Duration::from_secs(14 * 60)))
        );
        // The accounts themselves are not locked for other addresses.
        assert_eq!(throttle.check("user0@example.com", ip("192.0.2.1")), Ok(()));
    }

    #[test]
    fn when_both_keys_are_refused_the_longer_wait_is_given() {
        let (throttle, clock) = throttle();
        let from = ip("203.0.113.9");
        for n in 0..20 {
            throttle.record_failure(&format!("user{n}@example.com"), from);
        }
        clock.advance(chrono::Duration::minutes(3));
        for _ in 0..5 {
            throttle.record_failure("ada@example.com", ip("192.0.2.1"));
        }
        assert_eq!(
            throttle.check("ada@example.com", from),
            Err(RetryAfter(Duration::from_secs(15 * 60)))
        );
    }

    #[test]
    fn success_clears_the_account_but_not_the_address() {
        let (throttle, _clock) = throttle();
        let from = ip("203.0.113.9");
        for _ in 0..5 {
            throttle.record_failure("Ada@example.com", from);
        }
        for n in 0..15 {
            throttle.record_failure(&format!("user{n}@example.com"), from);
        }
        assert!(throttle.check("ada@example.com", ip("192.0.2.1")).is_err());
        throttle.record_success("ADA@EXAMPLE.COM");
        assert_eq!(throttle.check("ada@example.com", ip("192.0.2.1")), Ok(()));
        assert!(throttle.check("ada@example.com", from).is_err());
    }

    #[test]
    fn ipv6_addresses_count_per_slash_64_and_mapped_ipv4_as_ipv4() {
        let (throttle, _clock) = throttle();
        for n in 0..20 {
            throttle.record_failure(
                &format!("user{n}@example.com"),
                ip(&format!("2001:db8:1:2::{n:x}")),
            );
        }
        assert!(
            throttle
                .check("x@example.com", ip("2001:db8:1:2:ffff::1"))
                .is_err()
        );
        assert_eq!(
            throttle.check("x@example.com", ip("2001:db8:1:3::1")),
            Ok(())
        );

        for n in 0..20 {
            throttle.record_failure(&format!("v4user{n}@example.com"), ip("::ffff:192.0.2.5"));
        }
        assert!(throttle.check("x@example.com", ip("192.0.2.5")).is_err());
    }

    #[test]
    fn a_zero_maximum_is_taken_as_one() {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let throttle = Throttle::new(
            ThrottleSettings {
                max_failures_per_account: 0,
                max_failures_per_address: 0,
                window: Duration::from_secs(60),
            },
            clock,
        );
        assert_eq!(throttle.check("ada@example.com", ip("192.0.2.1")), Ok(()));
        throttle.record_failure("ada@example.com", ip("192.0.2.1"));
        assert!(throttle.check("ada@example.com", ip("192.0.2.2")).is_err());
    }

    #[test]
    fn a_key_keeps_no_more_timestamps_than_its_maximum() {
        let (throttle, _clock) = throttle();
        for _ in 0..1_000 {
            throttle.record_failure("ada@example.com", ip("192.0.2.1"));
        }
        let state = throttle.lock();
        assert_eq!(state.failures[&Key::account("ada@example.com")].len(), 5);
        assert_eq!(state.failures[&Key::address(ip("192.0.2.1"))].len(), 20);
    }

    #[test]
    fn expired_keys_are_swept_once_a_window_has_passed() {
        let (throttle, clock) = throttle();
        for n in 0..100 {
            throttle.record_failure(&format!("user{n}@example.com"), ip("192.0.2.1"));
        }
        assert_eq!(throttle.lock().failures.len(), 101);
        clock.advance(chrono::Duration::minutes(15));
        throttle.record_failure("ada@example.com", ip("192.0.2.2"));
        assert_eq!(throttle.lock().failures.len(), 2);
    }

    #[test]
    fn a_full_table_evicts_the_keys_idle_longest() {
        let (throttle, clock) = throttle();
        // Each failure adds an account key; all share one address key.
        let address = ip("192.0.2.1");
        for n in 0..MAX_KEYS - 1 {
            throttle.record_failure(&format!("user{n}@example.com"), address);
            if n == 9 {
                clock.advance(chrono::Duration::seconds(1));
            }
        }
        assert_eq!(throttle.lock().failures.len(), MAX_KEYS);
        clock.advance(chrono::Duration::seconds(1));
        throttle.record_failure("late@example.com", address);

        let state = throttle.lock();
        assert!(
            state.failures.len() <= MAX_KEYS / 10 * 9 + 2,
            "{}",
            state.failures.len()
        );
        // The first ten accounts failed a second before the rest: evicted.
        for n in 0..10 {
            assert!(
                !state
                    .failures
                    .contains_key(&Key::account(&format!("user{n}@example.com")))
            );
        }
        assert!(
            state
                .failures
                .contains_key(&Key::account("late@example.com"))
        );
        assert!(state.failures.contains_key(&Key::address(address)));
    }
}
