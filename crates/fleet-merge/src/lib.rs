//! `fleet merge`: the run directories of a sharded run, put back together
//! into one run directory that every fleet tool reads (`fleet runs`,
//! `fleet logs`, `--explain`, `--resume`, `--diff`).
//!
//! Inputs are the run directories of `fleet run --shard K/N` (on any
//! machines, copied to one place). Their `run.json` `shard` records must
//! agree on N, the `--shard-by` key and the selection digest, and name each
//! shard at most once ([`check`]); otherwise nothing is written.
//!
//! The merged directory holds:
//!
//! - `results.jsonl`: the final result of every device, shard by shard,
//!   each line with an extra `"shard": K`;
//! - `run.json`: totals over all shards, `started_at` of the first shard
//!   and `ended_at` of the last, the layouts summed, and a `merge` object
//!   (every shard's run id, host and directory, missing shards, missing and
//!   duplicated devices);
//! - `workers.json`: every shard's worker records, each with `"shard": K`
//!   and a `name` such as `s2-w0`;
//! - `trace.json`: every shard's timeline on one clock, one group of
//!   process tracks per shard (pid `K * 10,000,000 + pid`, names prefixed
//!   `shard K/N (host)`);
//! - `shards/<K>/`: each shard's `master.log`, `worker-<id>.log` files and
//!   its original `run.json`, which `fleet logs` reads as one run.
//!
//! Shards are read through the run-directory contract types
//! ([`fleet_proto::rundir`]: `RunJson`, `ResultsReader`, `WorkerRecord`)
//! and the merged files are written through the same types, so the merged
//! run is a `fleet-run/1` directory like any other. A shard whose master
//! was killed mid-write has a torn last result line: the reader skips it,
//! and that device is reported missing like any other device without a
//! result.
//!
//! Devices missing from every shard (a shard that never ran, a master that
//! died) and devices with results in two shards are reported in
//! [`MergeReport`]; the merge is still written so it can be inspected, and
//! the caller exits non-zero.
#![deny(missing_docs)]

pub mod check;
pub mod error;
pub mod input;
mod write;

pub use error::MergeError;
pub use input::ShardRun;

use fleet_proto::Status;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;

/// Offset between shards' process ids in the merged trace: larger than
/// Linux's `pid_max` (2^22), so `K * PID_STRIDE + pid` never collides.
pub const PID_STRIDE: u64 = 10_000_000;

/// What to merge and where.
#[derive(Debug, Clone)]
pub struct MergeOptions {
    /// The shard run directories.
    pub inputs: Vec<PathBuf>,
    /// The merged run directory to create (must not exist, or be empty).
    pub out: PathBuf,
    /// Every device of the selection with its shard (1-based), when the
    /// caller could rebuild the selection from the inventory: missing
    /// devices are then named, not just counted.
    pub expected: Option<Vec<(String, u32)>>,
    /// The merge's command line, for run.json.
    pub command_line: Vec<String>,
}

/// What a merge found.
#[derive(Debug, Clone)]
pub struct MergeReport {
    /// The merged run directory.
    pub out: PathBuf,
    /// Number of shards.
    pub n: u32,
    /// Shards merged.
    pub present: BTreeSet<u32>,
    /// Shards not given.
    pub missing_shards: BTreeSet<u32>,
    /// Devices in the selection.
    pub selected: usize,
    /// Devices with a result in the merged run.
    pub devices: usize,
    /// Devices per final status.
    pub totals: BTreeMap<Status, usize>,
    /// Devices of the selection with no result in any shard: their number.
    pub missing_devices: usize,
    /// Their names and shards, when [`MergeOptions::expected`] was given.
    pub missing_named: Vec<(String, u32)>,
    /// Devices with results in two or more shards, and those shards.
    pub duplicates: BTreeMap<String, Vec<u32>>,
    /// Shards whose results.jsonl ended in a torn line (their master was
    /// killed mid-write); that line's device is among the missing.
    pub torn: BTreeSet<u32>,
}

impl MergeReport {
    /// Every device once, no shard missing.
    pub fn is_complete(&self) -> bool {
        self.missing_shards.is_empty() && self.missing_devices == 0 && self.duplicates.is_empty()
    }

    /// Devices that ended other than `ok`.
    pub fn failed(&self) -> usize {
        self.totals
            .iter()
            .filter(|(st, _)| !st.is_ok())
            .map(|(_, n)| n)
            .sum()
    }
}

/// Reads the shards, checks they belong together, and writes the merged
/// run directory.
pub fn merge(opts: &MergeOptions) -> Result<MergeReport, MergeError> {
    if opts.inputs.is_empty() {
        return Err(MergeError::NoInputs);
    }
    let mut shards: Vec<ShardRun> = opts
        .inputs
        .iter()
        .map(|d| ShardRun::read(d))
        .collect::<Result<_, _>>()?;
    let plan = {
        let recs: Vec<(PathBuf, &fleet_shard::ShardRecord)> =
            shards.iter().map(|s| (s.dir.clone(), &s.shard)).collect();
        check::plan(&recs)?
    };
    shards.sort_by_key(|s| s.shard.k);
    let duplicates = check::duplicates(shards.iter().flat_map(|s| {
        s.results
            .iter()
            .map(move |r| (s.shard.k, r.device.as_str()))
    }));
    let found: HashSet<&str> = shards
        .iter()
        .flat_map(|s| s.results.iter().map(|r| r.device.as_str()))
        .collect();
    let missing_named: Vec<(String, u32)> = opts
        .expected
        .iter()
        .flatten()
        .filter(|(name, _)| !found.contains(name.as_str()))
        .cloned()
        .collect();
    let missing_devices = if opts.expected.is_some() {
        missing_named.len()
    } else {
        plan.selected.saturating_sub(found.len())
    };
    let devices = found.len();
    drop(found);
    let torn = shards
        .iter()
        .filter(|s| s.torn > 0)
        .map(|s| s.shard.k)
        .collect();
    let written = write::write(write::Found {
        opts,
        plan: &plan,
        shards: &shards,
        duplicates: &duplicates,
        missing_devices,
        missing_named: &missing_named,
    })?;
    Ok(MergeReport {
        out: opts.out.clone(),
        n: plan.n,
        present: plan.present,
        missing_shards: plan.missing,
        selected: plan.selected,
        devices,
        totals: written.totals,
        missing_devices,
        missing_named,
        duplicates,
        torn,
    })
}
