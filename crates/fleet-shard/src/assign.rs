//! The shard function (see the crate docs for the algorithm).

use crate::key::ShardBy;
use crate::spec::Shard;
use fleet_proto::Device;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// A 64-bit hash of `bytes` that never changes: FNV-1a, then SplitMix64's
/// finaliser so that names differing in one trailing digit spread widely.
/// (`std`'s hashers are seeded per process or may change between Rust
/// versions; shards computed on different machines must agree.)
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The 0-based shard of each key, in the order given: equal keys get equal
/// shards; the result does not depend on the order of `keys`.
///
/// `n` must be at least 1.
pub fn assign<K: AsRef<str>>(keys: &[K], n: usize) -> Vec<usize> {
    let n = n.max(1);
    // Group indices by key.
    let mut groups: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, k) in keys.iter().enumerate() {
        groups.entry(k.as_ref()).or_default().push(i);
    }
    let mut order: Vec<(&str, Vec<usize>)> = groups.into_iter().collect();
    order.sort_by_cached_key(|(k, members)| {
        (
            Reverse(members.len()),
            stable_hash(k.as_bytes()),
            k.to_string(),
        )
    });
    // Least-loaded shard first; ties go to the lowest index.
    let mut load: BinaryHeap<Reverse<(usize, usize)>> = (0..n).map(|s| Reverse((0, s))).collect();
    let mut out = vec![0; keys.len()];
    for (_, members) in order {
        let Some(Reverse((size, shard))) = load.pop() else {
            break;
        };
        for &i in &members {
            out[i] = shard;
        }
        load.push(Reverse((size + members.len(), shard)));
    }
    out
}

/// Keeps only the devices of `shard`, in their original order.
pub fn select(devices: Vec<Device>, shard: Shard, by: &ShardBy) -> Vec<Device> {
    let keys: Vec<_> = devices.iter().map(|d| by.key(d)).collect();
    let owner = assign(&keys, shard.n() as usize);
    drop(keys);
    devices
        .into_iter()
        .zip(owner)
        .filter(|(_, s)| *s == shard.index())
        .map(|(d, _)| d)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("dev-{i:05}")).collect()
    }

    /// Each shard's set of keys.
    fn shards_of(keys: &[String], n: usize) -> Vec<BTreeSet<String>> {
        let owner = assign(keys, n);
        let mut out = vec![BTreeSet::new(); n];
        for (k, s) in keys.iter().zip(owner) {
            out[s].insert(k.clone());
        }
        out
    }

    #[test]
    fn the_hash_is_fixed_forever() {
        // Changing these values changes every shard of every user: don't.
        assert_eq!(stable_hash(b""), PINNED_EMPTY);
        assert_eq!(stable_hash(b"r1"), PINNED_R1);
        assert_ne!(stable_hash(b"r1"), stable_hash(b"r2"));
    }

    #[test]
    fn disjoint_complete_and_balanced_by_name() {
        for (devices, n) in [(1000, 3), (10, 4), (3, 5), (1, 1), (0, 2), (10_007, 16)] {
            let keys = names(devices);
            let shards = shards_of(&keys, n);
            let total: usize = shards.iter().map(|s| s.len()).sum();
            assert_eq!(total, devices, "complete and disjoint ({devices}/{n})");
            let all: BTreeSet<String> = shards.iter().flatten().cloned().collect();
            assert_eq!(all.len(), devices);
            let max = shards.iter().map(|s| s.len()).max().unwrap();
            let min = shards.iter().map(|s| s.len()).min().unwrap();
            assert!(max - min <= 1, "{devices}/{n}: sizes {min}..{max}");
        }
    }

    #[test]
    fn stable_under_reordering() {
        let keys = names(500);
        let mut reversed = keys.clone();
        reversed.reverse();
        assert_eq!(shards_of(&keys, 4), shards_of(&reversed, 4));
    }

    #[test]
    fn the_same_on_every_machine() {
        // Pinned: a different result means shards computed by two fleet
        // versions would not fit together.
        let keys = names(8);
        assert_eq!(assign(&keys, 3), PINNED_8_IN_3.to_vec());
    }

    const PINNED_EMPTY: u64 = 0xf52a_15e9_a9b5_e89b;
    const PINNED_R1: u64 = 0x15d7_ff2b_7619_7532;
    const PINNED_8_IN_3: [usize; 8] = [2, 1, 1, 1, 0, 0, 0, 2];

    #[test]
    fn group_keys_keep_groups_together_and_balance() {
        // Sites of 50, 30, 20, 20, 10, 10 devices, plus 9 loners.
        let mut keys = Vec::new();
        for (site, size) in [
            ("a", 50),
            ("b", 30),
            ("c", 20),
            ("d", 20),
            ("e", 10),
            ("f", 10),
        ] {
            keys.extend((0..size).map(|_| format!("group=site-{site}")));
        }
        keys.extend((0..9).map(|i| format!("=loner-{i}")));
        let owner = assign(&keys, 3);
        let mut site_shards: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
        let mut sizes = [0usize; 3];
        for (k, &s) in keys.iter().zip(&owner) {
            site_shards.entry(k).or_default().insert(s);
            sizes[s] += 1;
        }
        assert!(
            site_shards.values().all(|s| s.len() == 1),
            "{site_shards:?}"
        );
        // 149 devices: LPT puts a (50) | b+e (40)... within the largest group.
        let max = *sizes.iter().max().unwrap();
        let min = *sizes.iter().min().unwrap();
        assert!(max - min <= 50, "{sizes:?}");
        assert_eq!(sizes.iter().sum::<usize>(), 149);
        assert_eq!(max, 50, "{sizes:?}");
    }

    #[test]
    fn select_keeps_inventory_order_and_uses_the_key() {
        let mut devices = Vec::new();
        for i in 0..12 {
            let mut d = Device::new(format!("r{i}"), "10.0.0.1", 22);
            d.groups = vec![format!("site-{}", i % 3)];
            devices.push(d);
        }
        let by: ShardBy = "group:site".parse().unwrap();
        let mut seen = BTreeSet::new();
        for k in 1..=3 {
            let part = select(devices.clone(), Shard::new(k, 3).unwrap(), &by);
            assert_eq!(part.len(), 4, "one site of 4 per shard");
            let sites: BTreeSet<_> = part.iter().map(|d| d.groups[0].clone()).collect();
            assert_eq!(sites.len(), 1);
            let idx: Vec<usize> = part.iter().map(|d| d.name[1..].parse().unwrap()).collect();
            assert!(idx.windows(2).all(|w| w[0] < w[1]), "order kept: {idx:?}");
            for d in part {
                assert!(seen.insert(d.name));
            }
        }
        assert_eq!(seen.len(), 12);
    }

    proptest! {
        #[test]
        fn any_keys_any_n(
            keys in proptest::collection::vec("[a-c]{0,3}", 0..200),
            n in 1usize..9,
            seed in any::<u64>(),
        ) {
            let owner = assign(&keys, n);
            prop_assert_eq!(owner.len(), keys.len());
            prop_assert!(owner.iter().all(|&s| s < n));
            // Equal keys, equal shards.
            let mut by_key: BTreeMap<&str, usize> = BTreeMap::new();
            for (k, &s) in keys.iter().zip(&owner) {
                let prev = *by_key.entry(k.as_str()).or_insert(s);
                prop_assert_eq!(prev, s);
            }
            // Balanced within the largest group.
            let mut group_size: BTreeMap<&str, usize> = BTreeMap::new();
            for k in &keys { *group_size.entry(k.as_str()).or_default() += 1; }
            let largest = group_size.values().copied().max().unwrap_or(0);
            let mut sizes = vec![0usize; n];
            for &s in &owner { sizes[s] += 1; }
            let spread = sizes.iter().max().unwrap() - sizes.iter().min().unwrap();
            prop_assert!(spread <= largest.max(1), "sizes {:?} largest {}", sizes, largest);
            // Order-independent: a rotated copy maps each key the same way.
            let rot = if keys.is_empty() { 0 } else { (seed as usize) % keys.len() };
            let mut rotated = keys.clone();
            rotated.rotate_left(rot);
            let owner2 = assign(&rotated, n);
            for (k, &s) in rotated.iter().zip(&owner2) {
                prop_assert_eq!(by_key[k.as_str()], s);
            }
        }

        #[test]
        fn unique_names_differ_by_at_most_one(count in 0usize..3000, n in 1usize..33) {
            let keys = names(count);
            let owner = assign(&keys, n);
            let mut sizes = vec![0usize; n];
            for &s in &owner { sizes[s] += 1; }
            prop_assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
        }
    }
}
