//! The stable shard function. Workers claim rules by shard, so a rule's shard
//! must never change for a given shard count: it is derived from SHA-256 of
//! the rule id's 16 bytes, which no library upgrade will alter.

use ring::digest::{SHA256, digest};

use crate::ids::RuleId;

pub const DEFAULT_SHARD_COUNT: u32 = 256;

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
