//! `fleet inventory list|check`: what would run, and is the inventory sound.

use crate::cli::{InventoryArgs, InventoryCommand};
use anyhow::Result;
use fleet_proto::ExitCode;
use std::io::Write;

/// Runs `fleet inventory ...` and returns the exit code.
pub fn run(args: InventoryArgs) -> i32 {
    match inner(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fleet: error: {e:#}");
            ExitCode::Usage.code()
        }
    }
}

fn inner(args: InventoryArgs) -> Result<i32> {
    let (common, list) = match args.command {
        InventoryCommand::List(c) => (c, true),
        InventoryCommand::Check(c) => (c, false),
    };
    let mut inv = fleet_inventory::load(&common.inventory, common.inventory_format)?;
    for w in &inv.warnings {
        eprintln!("fleet: warning: {w}");
    }
    if let Some(limit) = &common.limit {
        inv.devices.retain(|d| limit.matches(d));
    }
    let mut out = std::io::stdout().lock();
    if list {
        for d in &inv.devices {
            let groups = if d.groups.is_empty() {
                "-".to_string()
            } else {
                d.groups.join(",")
            };
            let _ = writeln!(
                out,
                "{}\t{}:{}\t{}\t{}",
                d.name,
                d.host,
                d.port,
                d.platform.as_deref().unwrap_or("-"),
                groups
            );
        }
    } else {
        let _ = write!(out, "{}", fleet_inventory::summary(&inv));
    }
    Ok(ExitCode::AllOk.code())
}
