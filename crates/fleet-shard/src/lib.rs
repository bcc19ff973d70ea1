//! Splitting one inventory over several machines.
//!
//! One fleet master drives a few thousand sessions. Past that, or when
//! devices sit behind per-site firewalls, a run is split into N shards that
//! run anywhere (a Slurm job array, a Kubernetes Indexed Job, a CI matrix)
//! and are put back together with `fleet merge`. Every shard runner loads
//! the same inventory and computes its own part with the same pure function,
//! so no coordinator hands out work:
//!
//! - [`spec`]: `--shard K/N` and `--shard auto/N` (index from
//!   `SLURM_ARRAY_TASK_ID` or `JOB_COMPLETION_INDEX`).
//! - [`key`]: `--shard-by`: what keeps devices together (each device alone
//!   by default; `group:site` keeps a site's devices in one shard).
//! - [`assign`]: the shard function: disjoint, complete, balanced, and
//!   independent of the inventory's order.
//! - [`record`]: what a shard writes into its `run.json` so a merge can tell
//!   that shards belong together.
//!
//! # The shard function
//!
//! Devices are grouped by their key. Groups are ordered by size (largest
//! first), then by a stable 64-bit hash of the key (FNV-1a with a
//! SplitMix64 finaliser: the same on every machine, architecture and Rust
//! version), then by the key itself; each group in turn goes to the shard
//! holding the fewest devices so far (lowest index on a tie). With one
//! device per key this deals devices round-robin in hash order, so shard
//! sizes differ by at most one; with groups, by at most the largest group.
//! Nothing depends on the order of the inventory file.
#![deny(missing_docs)]

pub mod assign;
pub mod error;
pub mod key;
pub mod record;
pub mod spec;

pub use assign::{assign, select, stable_hash};
pub use error::ShardError;
pub use key::ShardBy;
pub use record::{selection_digest, ShardRecord};
pub use spec::{Shard, ShardSpec};
