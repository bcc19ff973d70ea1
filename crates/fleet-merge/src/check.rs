//! Do the inputs make one run? Pure functions over what was read.

use crate::error::MergeError;
use fleet_shard::ShardRecord;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

/// What the shard records say about the run as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Number of shards.
    pub n: u32,
    /// The `--shard-by` key.
    pub by: String,
    /// Digest of the selection.
    pub selection_digest: String,
    /// Devices in the selection.
    pub selected: usize,
    /// Shard indexes given.
    pub present: BTreeSet<u32>,
    /// Shard indexes not given (1..=n minus present).
    pub missing: BTreeSet<u32>,
}

/// Checks that the shard records are parts of one selection, each at most
/// once; missing shards are reported in the plan, not an error.
pub fn plan(records: &[(PathBuf, &ShardRecord)]) -> Result<Plan, MergeError> {
    let Some((first_dir, first)) = records.first() else {
        return Err(MergeError::NoInputs);
    };
    let mut seen: HashMap<u32, &PathBuf> = HashMap::new();
    for (dir, r) in records {
        let differ = |what: &str, a: &dyn std::fmt::Display, b: &dyn std::fmt::Display| {
            MergeError::Mismatch(format!(
                "{} has {what} {a} but {} has {b}",
                first_dir.display(),
                dir.display()
            ))
        };
        if r.n != first.n {
            return Err(differ("N =", &first.n, &r.n));
        }
        if r.by != first.by {
            return Err(differ("--shard-by", &first.by, &r.by));
        }
        if r.selection_digest != first.selection_digest || r.selected != first.selected {
            return Err(MergeError::Mismatch(format!(
                "{} ran a selection of {} devices ({}) but {} ran {} devices ({}): \
                 different inventories or --limit",
                first_dir.display(),
                first.selected,
                first.selection_digest,
                dir.display(),
                r.selected,
                r.selection_digest
            )));
        }
        if let Some(prev) = seen.insert(r.k, dir) {
            return Err(MergeError::SameShardTwice {
                k: r.k,
                first: prev.clone(),
                second: dir.clone(),
            });
        }
    }
    let present: BTreeSet<u32> = seen.keys().copied().collect();
    let missing = (1..=first.n).filter(|k| !present.contains(k)).collect();
    Ok(Plan {
        n: first.n,
        by: first.by.clone(),
        selection_digest: first.selection_digest.clone(),
        selected: first.selected,
        present,
        missing,
    })
}

/// Devices with a result in more than one shard: name -> shards.
pub fn duplicates<'a>(
    per_shard: impl IntoIterator<Item = (u32, &'a str)>,
) -> BTreeMap<String, Vec<u32>> {
    let mut at: HashMap<&str, Vec<u32>> = HashMap::new();
    for (k, name) in per_shard {
        at.entry(name).or_default().push(k);
    }
    at.into_iter()
        .filter(|(_, ks)| ks.len() > 1)
        .map(|(name, ks)| (name.to_string(), ks))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(k: u32, n: u32) -> ShardRecord {
        ShardRecord {
            k,
            n,
            by: "name".into(),
            selection_digest: "sha256:aa".into(),
            selected: 9,
            limit: None,
            devices: 3,
        }
    }

    fn dirs(recs: &[ShardRecord]) -> Vec<(PathBuf, &ShardRecord)> {
        recs.iter()
            .map(|r| (PathBuf::from(format!("s{}", r.k)), r))
            .collect()
    }

    #[test]
    fn all_shards_make_a_complete_plan() {
        let recs = [rec(2, 3), rec(1, 3), rec(3, 3)];
        let p = plan(&dirs(&recs)).unwrap();
        assert_eq!(p.present, BTreeSet::from([1, 2, 3]));
        assert!(p.missing.is_empty());
    }

    #[test]
    fn a_missing_shard_is_reported() {
        let recs = [rec(1, 3), rec(3, 3)];
        let p = plan(&dirs(&recs)).unwrap();
        assert_eq!(p.missing, BTreeSet::from([2]));
    }

    #[test]
    fn mismatches_and_repeats_are_errors() {
        let recs = [rec(1, 3), rec(2, 4)];
        assert!(matches!(plan(&dirs(&recs)), Err(MergeError::Mismatch(_))));
        let mut other = rec(2, 3);
        other.selection_digest = "sha256:bb".into();
        let recs = [rec(1, 3), other];
        let e = plan(&dirs(&recs)).unwrap_err();
        assert!(e.to_string().contains("different inventories"), "{e}");
        let mut other = rec(2, 3);
        other.by = "group:site".into();
        let recs = [rec(1, 3), other];
        assert!(plan(&dirs(&recs))
            .unwrap_err()
            .to_string()
            .contains("--shard-by"));
        let recs = [rec(1, 3), rec(1, 3)];
        assert!(matches!(
            plan(&dirs(&recs)),
            Err(MergeError::SameShardTwice { k: 1, .. })
        ));
        assert!(matches!(plan(&[]), Err(MergeError::NoInputs)));
    }

    #[test]
    fn finds_devices_in_two_shards() {
        let d = duplicates([(1, "r1"), (2, "r2"), (3, "r1"), (3, "r3")]);
        assert_eq!(d, BTreeMap::from([("r1".to_string(), vec![1, 3])]));
    }
}
