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
    let adhoc = common.adhoc.has_hosts() || common.adhoc.ssh_config.is_some();
    let mut inv = match &common.inventory {
        Some(path) => fleet_inventory::load(path, common.inventory_format)?,
        None if common.adhoc.has_hosts() => fleet_inventory::Inventory::default(),
        None => anyhow::bail!(
            "no inventory: pass --inventory FILE (or set FLEET_INVENTORY), or hosts with -w HOSTLIST"
        ),
    };
    for w in &inv.warnings {
        eprintln!("fleet: warning: {w}");
    }
    if adhoc {
        let devices = std::mem::take(&mut inv.devices);
        let env = crate::adhoc::LocalEnv::from_process();
        inv.devices = crate::adhoc::resolve(&common.adhoc, devices, &env, false)?.devices;
    }
    if let Some(limit) = &common.limit {
        inv.devices.retain(|d| limit.matches(d));
    }
    // Inventories may come from elsewhere (dynamic, CSV): names and groups
    // are escaped on a terminal.
    let policy = fleet_escape::Streams::detect(false).stdout;
    let mut out = std::io::stdout().lock();
    if list && adhoc {
        // The resolution: who logs in where, through which hops, with what.
        for d in &inv.devices {
            let _ = writeln!(
                out,
                "{}\t{}@{}:{}\t{}\tvia {}\tauth {}",
                d.name,
                d.username,
                d.host,
                d.port,
                d.platform.as_deref().unwrap_or("-"),
                crate::adhoc::jump_summary(&d.jump),
                crate::adhoc::auth_summary(&d.auth)
            );
        }
    } else if list {
        for d in &inv.devices {
            let groups = if d.groups.is_empty() {
                "-".to_string()
            } else {
                d.groups.join(",")
            };
            let _ = writeln!(
                out,
                "{}\t{}:{}\t{}\t{}",
                policy.line(&d.name),
                policy.line(&d.host),
                d.port,
                policy.line(d.platform.as_deref().unwrap_or("-")),
                policy.line(&groups)
            );
        }
    } else {
        let _ = write!(
            out,
            "{}",
            policy.text(&fleet_inventory::summary(&inv).to_string())
        );
    }
    Ok(ExitCode::AllOk.code())
}
