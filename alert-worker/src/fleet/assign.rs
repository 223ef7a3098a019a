//! Which shards each live worker should hold. Every shard goes to the
//! highest-ranked worker (rendezvous hashing on worker and shard) that still
//! has room under ceil(shards / workers): the split is as even as it can
//! be, every worker computes the same split from the same live set, and a
//! worker joining or leaving moves few shards.

use std::collections::{BTreeMap, BTreeSet};

use ring::digest;
use shared_models::shard::Shard;

pub fn assign(shard_count: u32, workers: &BTreeSet<String>) -> BTreeMap<String, BTreeSet<Shard>> {
    let mut out: BTreeMap<String, BTreeSet<Shard>> = workers
        .iter()
        .map(|w| (w.clone(), BTreeSet::new()))
        .collect();
    if workers.is_empty() {
        return out;
    }
    let cap = (shard_count as usize).div_ceil(workers.len());
    for shard in Shard::all(shard_count) {
        let mut ranked: Vec<(u64, &String)> =
            workers.iter().map(|w| (score(w, shard.get()), w)).collect();
        ranked.sort_by(|a, b| b.cmp(a));
        if let Some((_, worker)) = ranked.into_iter().find(|(_, w)| out[*w].len() < cap) {
            out.entry(worker.clone()).or_default().insert(shard);
        }
    }
    out
}

fn score(worker: &str, shard: u32) -> u64 {
    let mut context = digest::Context::new(&digest::SHA256);
    context.update(worker.as_bytes());
    context.update(&shard.to_be_bytes());
    let hash = context.finish();
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_ref()[..8]);
    u64::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workers(n: usize) -> BTreeSet<String> {
        (0..n).map(|i| format!("worker-{i}")).collect()
    }

    #[test]
    fn every_shard_once_and_no_worker_above_its_share() {
        for n in 1..=9 {
            let split = assign(256, &workers(n));
            let cap = 256usize.div_ceil(n);
            let mut all = BTreeSet::new();
            for shards in split.values() {
                assert!(shards.len() <= cap, "{n} workers: {} > {cap}", shards.len());
                for s in shards {
                    assert!(all.insert(*s), "shard {s} assigned twice");
                }
            }
            assert_eq!(all.len(), 256);
        }
    }

    #[test]
    fn a_joining_worker_takes_shards_without_reshuffling_the_rest() {
        let before = assign(256, &workers(3));
        let after = assign(256, &workers(4));
        let moved_between_old: usize = (0..3)
            .map(|i| {
                let w = format!("worker-{i}");
                after[&w].difference(&before[&w]).count()
            })
            .sum();
        // The newcomer takes about a quarter; the old three trade few shards among themselves.
        assert_eq!(after["worker-3"].len(), 64);
        assert!(
            moved_between_old < 40,
            "{moved_between_old} shards moved between old workers"
        );
    }

    #[test]
    fn no_workers_no_assignment() {
        assert!(assign(256, &BTreeSet::new()).is_empty());
    }
}
