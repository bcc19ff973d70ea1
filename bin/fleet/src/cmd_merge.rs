//! `fleet merge RUN_DIR... --out DIR`: a sharded run's directories back into
//! one run. The work is in the `fleet-merge` crate; this maps flags, names
//! missing devices from the inventory when it can, and prints the report.
//!
//! Exit codes: 0 every device merged once and ok; 1 every device merged
//! once, some failed; 2 bad input (nothing written); 5 merged, but shards
//! or devices are missing, or devices ran in two shards.

use anyhow::{Context, Result};
use clap::Args;
use fleet_merge::{MergeOptions, MergeReport, ShardRun};
use std::path::PathBuf;

/// Device names printed per problem; the full lists are in run.json.
const MAX_NAMES: usize = 50;

/// `a, b, c` or `a, b, ... and 7 more (run.json: merge.missing_named)`.
fn name_list(names: &[&str]) -> String {
    if names.len() <= MAX_NAMES {
        return names.join(", ");
    }
    format!(
        "{}, ... and {} more (run.json: merge.missing_named)",
        names[..MAX_NAMES].join(", "),
        names.len() - MAX_NAMES
    )
}

/// Flags of `fleet merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Run directories of `fleet run --shard K/N`, one per shard.
    #[arg(required = true, value_name = "RUN_DIR")]
    pub run_dirs: Vec<PathBuf>,

    /// The merged run directory to create (e.g. runs/<name>, so `fleet
    /// runs` lists it); it must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// The inventory the shards ran (default: the one their run.json
    /// names, if readable here): names the devices of missing shards.
    #[arg(short, long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,

    /// Inventory format, when detection is not enough.
    #[arg(long, value_name = "FORMAT")]
    pub inventory_format: Option<String>,
}

/// Runs `fleet merge`; returns the exit code.
pub fn merge(args: MergeArgs) -> i32 {
    let expected = match expected_devices(&args) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("fleet merge: warning: cannot name missing devices: {e:#}");
            None
        }
    };
    let opts = MergeOptions {
        inputs: args.run_dirs.clone(),
        out: args.out.clone(),
        expected,
        command_line: std::env::args().collect(),
    };
    match fleet_merge::merge(&opts) {
        Ok(report) => {
            print_report(&report);
            if !report.is_complete() {
                fleet_proto::ExitCode::MergeIncomplete.code()
            } else if report.failed() > 0 {
                fleet_proto::ExitCode::SomeFailed.code()
            } else {
                fleet_proto::ExitCode::AllOk.code()
            }
        }
        Err(e) => {
            eprintln!("fleet merge: error: {:#}", anyhow::Error::from(e));
            fleet_proto::ExitCode::Usage.code()
        }
    }
}

/// Every device of the shards' selection with its shard, rebuilt from the
/// inventory and the recorded --limit and --shard-by; `None` when there is
/// no readable inventory. An inventory whose selection digest differs from
/// the shards' is not the one they ran: an error.
fn expected_devices(args: &MergeArgs) -> Result<Option<Vec<(String, u32)>>> {
    let Some(first) = args.run_dirs.first() else {
        return Ok(None);
    };
    let run = ShardRun::read(first)?;
    let path = match &args.inventory {
        Some(p) => p.clone(),
        None => match run.run.inventory {
            Some(p) if p.is_file() => p,
            _ => return Ok(None),
        },
    };
    let format = args
        .inventory_format
        .as_deref()
        .map(|f| f.parse::<fleet_inventory::Format>())
        .transpose()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let inventory = fleet_inventory::load(&path, format)
        .with_context(|| format!("loading {}", path.display()))?;
    let mut devices = inventory.devices;
    if let Some(expr) = &run.shard.limit {
        let limit = fleet_inventory::limit::Limit::parse(expr)
            .map_err(|e| anyhow::anyhow!("recorded --limit: {e}"))?;
        devices.retain(|d| limit.matches(d));
    }
    let digest = fleet_shard::selection_digest(devices.iter().map(|d| d.name.as_str()));
    if digest != run.shard.selection_digest {
        anyhow::bail!(
            "{} (with --limit {:?}) selects {} devices ({digest}), not the {} the shards ran ({})",
            path.display(),
            run.shard.limit,
            devices.len(),
            run.shard.selected,
            run.shard.selection_digest
        );
    }
    let by: fleet_shard::ShardBy = run.shard.by.parse()?;
    let keys: Vec<_> = devices.iter().map(|d| by.key(d)).collect();
    let owner = fleet_shard::assign(&keys, run.shard.n as usize);
    Ok(Some(
        devices
            .iter()
            .zip(owner)
            .map(|(d, s)| (d.name.clone(), s as u32 + 1))
            .collect(),
    ))
}

fn print_report(r: &MergeReport) {
    let totals: Vec<String> = r.totals.iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!(
        "merged {}/{} shards into {}: {} of {} devices ({})",
        r.present.len(),
        r.n,
        r.out.display(),
        r.devices,
        r.selected,
        totals.join(", ")
    );
    for k in &r.missing_shards {
        let names: Vec<&str> = r
            .missing_named
            .iter()
            .filter(|(_, s)| s == k)
            .map(|(d, _)| d.as_str())
            .collect();
        if names.is_empty() {
            eprintln!("fleet merge: shard {k}/{} is missing", r.n);
        } else {
            eprintln!(
                "fleet merge: shard {k}/{} is missing: {} devices: {}",
                r.n,
                names.len(),
                name_list(&names)
            );
        }
    }
    if r.missing_devices > 0 {
        let in_present: Vec<&str> = r
            .missing_named
            .iter()
            .filter(|(_, s)| !r.missing_shards.contains(s))
            .map(|(d, _)| d.as_str())
            .collect();
        eprintln!(
            "fleet merge: {} devices have no result in any shard{}",
            r.missing_devices,
            if in_present.is_empty() {
                String::new()
            } else {
                format!(" (in shards that ran: {})", name_list(&in_present))
            }
        );
    }
    for k in &r.torn {
        eprintln!(
            "fleet merge: shard {k}/{}: results.jsonl ends in a torn line (its master was killed \
             mid-write); that device counts as missing",
            r.n
        );
    }
    for (d, ks) in &r.duplicates {
        let ks: Vec<String> = ks.iter().map(|k| k.to_string()).collect();
        eprintln!(
            "fleet merge: device {d} has results in shards {}",
            ks.join(" and ")
        );
    }
}
