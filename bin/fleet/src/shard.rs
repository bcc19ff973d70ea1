//! `fleet run --shard K/N [--shard-by KEY]`: run one part of the selected
//! devices. The shard function lives in the `fleet-shard` crate.

use anyhow::Result;
use clap::Args;
use fleet_shard::{Shard, ShardBy, ShardSpec};

/// Sharding flags of `fleet run`.
#[derive(Debug, Args)]
pub struct ShardArgs {
    /// Run only shard K of N of the devices selected by the inventory and
    /// --limit (1 <= K <= N, by a stable hash of the device name: the same
    /// on every machine, whatever the inventory's order). `auto/N` reads K
    /// from SLURM_ARRAY_TASK_ID (Slurm job arrays) or JOB_COMPLETION_INDEX
    /// (Kubernetes Indexed Jobs). Put the shards back with `fleet merge`.
    #[arg(long, value_name = "K/N", value_parser = parse_spec)]
    pub shard: Option<ShardSpec>,

    /// What keeps devices in the same shard: name (default, each device
    /// alone), host, platform, group:GLOB (a site's devices together:
    /// group:site) or data.KEY.
    #[arg(long, value_name = "KEY", requires = "shard", value_parser = parse_by)]
    pub shard_by: Option<ShardBy>,
}

fn parse_spec(s: &str) -> Result<ShardSpec, String> {
    s.parse()
        .map_err(|e: fleet_shard::ShardError| e.to_string())
}

fn parse_by(s: &str) -> Result<ShardBy, String> {
    s.parse()
        .map_err(|e: fleet_shard::ShardError| e.to_string())
}

/// The shard this process runs (`auto/N` read from the environment now,
/// before the inventory is loaded, so a missing index fails first).
pub fn resolve(args: &ShardArgs) -> Result<Option<Shard>> {
    Ok(args
        .shard
        .map(|spec| spec.resolve(|v| std::env::var(v).ok()))
        .transpose()?)
}
