//! The stable shard function. Workers claim rules by shard, so a rule's shard
//! must never change for a given shard count: it is derived from SHA-256 of
//! the rule id's 16 bytes, which no library upgrade will alter.

use std::fmt;

use ring::digest::{SHA256, digest};
use sea_orm::DeriveValueType;
use serde::{Deserialize, Serialize};

use crate::ids::RuleId;

pub const DEFAULT_SHARD_COUNT: u32 = 256;

/// One shard: a number in `0..=i32::MAX`, stored in the same INT column a
/// bare `i32` was and serialised as that number. Every constructor keeps it
/// in range, so no conversion to or from the column can fail or wrap.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    DeriveValueType,
)]
#[serde(transparent)]
pub struct Shard(i32);

impl Shard {
    /// The number of shards a count may name: every shard fits the column.
    pub const LIMIT: u32 = i32::MAX.unsigned_abs() + 1;
    /// Shard 0, which every shard count has.
    pub const FIRST: Self = Self(0);

    /// The shard `rule` belongs to among `shard_count` shards (at most
    /// [`Shard::LIMIT`] of them are used).
    pub fn of(rule: &RuleId, shard_count: u32) -> Self {
        Self::fit(shard_of(rule, shard_count.min(Self::LIMIT)))
    }

    /// Shards `0..shard_count`, at most [`Shard::LIMIT`] of them.
    pub fn all(shard_count: u32) -> impl DoubleEndedIterator<Item = Shard> {
        (0..shard_count.min(Self::LIMIT)).map(Self::fit)
    }

    /// `n` as a shard, `None` past `i32::MAX`.
    pub fn new(n: u32) -> Option<Self> {
        i32::try_from(n).ok().map(Self)
    }

    pub const fn get(self) -> u32 {
        self.0.unsigned_abs()
    }

    /// For numbers known to be below [`Shard::LIMIT`].
    fn fit(n: u32) -> Self {
        Self(i32::try_from(n).unwrap_or(i32::MAX))
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

pub fn shard_of(rule: &RuleId, shard_count: u32) -> u32 {
    let hash = digest(&SHA256, rule.as_uuid().as_bytes());
    let mut prefix = [0u8; 8];
    prefix.copy_from_slice(&hash.as_ref()[..8]);
    let bucket = u64::from_be_bytes(prefix) % u64::from(shard_count.max(1));
    // The modulus is at most u32::MAX, so the bucket always fits.
    u32::try_from(bucket).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_ids_map_to_fixed_shards() {
        // Pinned values: changing them would move every stored rule.
        let id: RuleId = "0191f2a4-7c3e-7000-8000-000000000001".parse().unwrap();
        assert_eq!(shard_of(&id, 256), 209);
        assert_eq!(shard_of(&id, 7), 3);
        let nil: RuleId = "00000000-0000-0000-0000-000000000000".parse().unwrap();
        // SHA-256 of sixteen zero bytes begins 374708fff7719dd5.
        assert_eq!(shard_of(&nil, 256), 0xd5);
        assert_eq!(shard_of(&nil, 1), 0);
    }

    #[test]
    fn shards_stay_in_the_column_range() {
        let id: RuleId = "0191f2a4-7c3e-7000-8000-000000000001".parse().unwrap();
        assert_eq!(Shard::of(&id, 256).get(), 209);
        assert!(Shard::of(&id, u32::MAX).get() < Shard::LIMIT);
        assert_eq!(
            Shard::all(u32::MAX).next_back().map(Shard::get),
            Some(Shard::LIMIT - 1)
        );
        assert_eq!(Shard::new(Shard::LIMIT), None);
    }

    #[test]
    fn shards_spread_evenly() {
        let mut counts = vec![0u32; 16];
        for _ in 0..16_000 {
            counts[shard_of(&RuleId::generate(), 16) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
    }
}
