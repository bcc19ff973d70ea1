//! `fleet inventory list|check|show`: what would run, is the inventory
//! sound, and what exactly one device resolved to (and from where).

use crate::cli::{InventoryArgs, InventoryCommand, InventoryCommon};
use anyhow::{bail, Result};
use fleet_inventory::Inventory;
use fleet_proto::device::host_port;
use fleet_proto::{Auth, Device, ExitCode, Mode, Transport};
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

/// Load options; `sources` when the output shows where fields were set
/// (`list --long/--json`, `show`): it costs a map per device.
fn options(common: &InventoryCommon, sources: bool) -> fleet_inventory::LoadOptions {
    fleet_inventory::LoadOptions {
        format: common.inventory_format,
        vault_password: fleet_inventory::VaultPassword::from_flag_or_env(
            common.vault_password_file.as_deref(),
        ),
        sources,
        csv_columns: common.csv_columns.clone(),
        ..Default::default()
    }
}

fn print_warnings(inv: &Inventory) {
    let stderr = fleet_escape::Streams::detect(false).stderr;
    for w in &inv.warnings {
        eprintln!("fleet: warning: {}", stderr.text(&w.to_string()));
    }
}

/// `inventory check` on an inventory file alone: counted while it is read,
/// so a million devices are never held at once.
fn check_streamed(common: &InventoryCommon) -> Result<Option<fleet_inventory::Summary>> {
    let (Some(path), false, None) = (&common.inventory, is_adhoc(common), &common.limit) else {
        return Ok(None);
    };
    let mut summary = fleet_inventory::Summary::default();
    // The summary reads only what devices share (groups, platform, ...):
    // devices are counted per profile, each profile added once.
    let mut per_profile: rustc_hash::FxHashMap<usize, (std::sync::Arc<Device>, usize)> =
        Default::default();
    let inv = fleet_inventory::load_shared(path, &options(common, false), &mut |d| {
        let address = std::sync::Arc::as_ptr(d.profile) as usize;
        per_profile
            .entry(address)
            .or_insert_with(|| (std::sync::Arc::clone(d.profile), 0))
            .1 += 1;
        // Devices that share nothing: count them out, keep memory flat.
        if per_profile.len() > 4096 {
            for (profile, n) in per_profile.values() {
                summary.add_many(profile, *n);
            }
            per_profile.clear();
        }
    })?;
    for (profile, n) in per_profile.values() {
        summary.add_many(profile, *n);
    }
    print_warnings(&inv);
    summary.warnings = inv.warnings.len();
    Ok(Some(summary))
}

fn load(common: &InventoryCommon, sources: bool) -> Result<Inventory> {
    let opts = options(common, sources);
    let adhoc = is_adhoc(common);
    let mut inv = match &common.inventory {
        Some(path) => fleet_inventory::load_with(path, &opts)?,
        None if common.adhoc.has_hosts() => fleet_inventory::Inventory::default(),
        None => bail!(
            "no inventory: pass --inventory FILE (or set FLEET_INVENTORY), or hosts with -w HOSTLIST"
        ),
    };
    print_warnings(&inv);
    let stderr = fleet_escape::Streams::detect(false).stderr;
    if adhoc {
        let devices = std::mem::take(&mut inv.devices);
        let env = crate::adhoc::LocalEnv::from_process();
        inv.devices = crate::adhoc::resolve(&common.adhoc, devices, &env, false)?.devices;
    }
    if let Some(limit) = &common.limit {
        for w in limit.limit.unmatched(&inv.devices) {
            eprintln!("fleet: warning: --limit: {}", stderr.text(&w.to_string()));
        }
        inv.devices.retain(|d| limit.matches(d));
    }
    Ok(inv)
}

/// Ad-hoc hosts or an ssh config change what devices resolve to.
fn is_adhoc(common: &InventoryCommon) -> bool {
    common.adhoc.has_hosts() || common.adhoc.ssh_config.is_some()
}

fn inner(args: InventoryArgs) -> Result<i32> {
    // Inventories may come from elsewhere (dynamic, CSV): names and groups
    // are escaped on a terminal.
    let policy = fleet_escape::Streams::detect(false).stdout;
    let mut out = std::io::stdout().lock();
    match args.command {
        InventoryCommand::List(l) => {
            let inv = load(&l.common, l.long || l.json)?;
            for d in &inv.devices {
                let _ = if l.json {
                    writeln!(out, "{}", json(&inv, d))
                } else if l.long {
                    writeln!(out, "{}", policy.text(&long(&inv, d).to_string()))
                } else if is_adhoc(&l.common) {
                    // The resolution: who logs in where, through which hops, with what.
                    writeln!(
                        out,
                        "{}\t{}@{}\t{}\tvia {}\tauth {}",
                        policy.line(&d.name),
                        policy.line(&d.username),
                        policy.line(&d.address()),
                        policy.line(d.platform.as_deref().unwrap_or("-")),
                        crate::adhoc::jump_summary(&d.jump),
                        crate::adhoc::auth_summary(&d.auth)
                    )
                } else {
                    let groups = if d.groups.is_empty() {
                        "-".to_string()
                    } else {
                        d.groups.join(",")
                    };
                    writeln!(
                        out,
                        "{}\t{}\t{}\t{}",
                        policy.line(&d.name),
                        policy.line(&d.address()),
                        policy.line(d.platform.as_deref().unwrap_or("-")),
                        policy.line(&groups)
                    )
                };
            }
        }
        InventoryCommand::Check(c) => {
            let summary = match check_streamed(&c)? {
                Some(s) => s,
                None => fleet_inventory::summary(&load(&c, false)?),
            };
            let _ = write!(out, "{}", policy.text(&summary.to_string()));
        }
        InventoryCommand::Show(s) => {
            let inv = load(&s.common, true)?;
            let Some(d) = inv.devices.iter().find(|d| d.name == s.device) else {
                let close: Vec<&str> = inv
                    .devices
                    .iter()
                    .map(|d| d.name.as_str())
                    .filter(|n| n.contains(s.device.as_str()) || s.device.contains(*n))
                    .take(5)
                    .collect();
                if close.is_empty() {
                    bail!("no device `{}` in {}", s.device, inv.source.display());
                }
                bail!(
                    "no device `{}` in {} (similar: {})",
                    s.device,
                    inv.source.display(),
                    close.join(", ")
                );
            };
            let _ = writeln!(out, "{}", policy.text(&long(&inv, d).to_string()));
        }
    }
    Ok(ExitCode::AllOk.code())
}

/// A credential's kind (never its value) and the origin field that says
/// where it was set: `password`, `key_file PATH`, `agent`.
fn auth_kind(a: &Auth) -> (String, &'static str) {
    match a {
        Auth::Password(_) => ("password".to_owned(), "password"),
        Auth::KeyFile { path, passphrase } => (
            format!(
                "key_file {}{}",
                path.display(),
                if passphrase.is_some() {
                    " (with passphrase)"
                } else {
                    ""
                }
            ),
            "key_file",
        ),
        Auth::Agent => ("agent".to_owned(), "agent"),
    }
}

/// Credentials as kinds only.
fn auth_kinds(auth: &[Auth]) -> Vec<String> {
    auth.iter().map(|a| auth_kind(a).0).collect()
}

/// Where `field` of `d` was set: `file:line`, or `default` when the
/// inventory tracks sources and did not set it; `None` when it does not
/// track them (ad-hoc hosts).
fn source<'a>(inv: &'a Inventory, d: &Device, field: &str) -> Option<&'a str> {
    if inv.origins.is_empty() {
        return None;
    }
    Some(
        inv.origins
            .get(&d.name)
            .and_then(|o| o.get(field))
            .map_or("default", String::as_str),
    )
}

/// One field per line, each with where it was set.
fn long(inv: &Inventory, d: &Device) -> String {
    let from = |field: &str| -> String {
        match source(inv, d, field) {
            _ if field == "-" => String::new(),
            Some(at) => format!("  ({at})"),
            None => String::new(),
        }
    };
    let mut s = String::new();
    let mut line = |k: &str, v: String, field: &str| {
        s.push_str(&format!("{k:<16}{v}{}\n", from(field)));
    };
    line("name", d.name.clone(), "-");
    line("host", d.host.clone(), "host");
    line("port", d.port.to_string(), "port");
    line("transport", transport(d.transport).to_owned(), "transport");
    line("username", d.username.clone(), "username");
    // Each credential with its own source; secrets only as their kind.
    let kinds: Vec<String> = d
        .auth
        .iter()
        .map(|a| {
            let (kind, field) = auth_kind(a);
            format!("{kind}{}", from(field))
        })
        .collect();
    line(
        "credentials",
        if kinds.is_empty() {
            "-".to_owned()
        } else {
            kinds.join(", ")
        },
        "-",
    );
    line(
        "enable",
        match &d.enable_secret {
            Some(_) => "yes, secret set".to_owned(),
            None => "no".to_owned(),
        },
        "enable_secret",
    );
    line(
        "platform",
        d.platform.clone().unwrap_or_else(|| "-".to_owned()),
        "platform",
    );
    line(
        "mode",
        match d.mode {
            Some(Mode::Exec) => "exec".to_owned(),
            Some(Mode::Shell) => "shell".to_owned(),
            None => "platform default".to_owned(),
        },
        "mode",
    );
    let jump: Vec<String> = d
        .jump
        .iter()
        .map(|j| format!("{}@{}", j.username, host_port(&j.host, j.port)))
        .collect();
    line(
        "jump",
        if jump.is_empty() {
            "-".to_owned()
        } else {
            jump.join(" -> ")
        },
        "jump",
    );
    line(
        "groups",
        if d.groups.is_empty() {
            "-".to_owned()
        } else {
            d.groups.join(", ")
        },
        "-",
    );
    let t = |v: Option<std::time::Duration>| {
        v.map_or("run default".to_owned(), |d| {
            humantime::format_duration(d).to_string()
        })
    };
    let tf = |v: Option<std::time::Duration>, f: &'static str| if v.is_some() { f } else { "-" };
    line(
        "connect_timeout",
        t(d.timeouts.connect),
        tf(d.timeouts.connect, "connect_timeout"),
    );
    line(
        "command_timeout",
        t(d.timeouts.command),
        tf(d.timeouts.command, "command_timeout"),
    );
    line(
        "session_timeout",
        t(d.timeouts.session),
        tf(d.timeouts.session, "session_timeout"),
    );
    line(
        "commands",
        if d.commands.is_empty() {
            "-".to_owned()
        } else {
            d.commands.join("; ")
        },
        if d.commands.is_empty() {
            "-"
        } else {
            "commands"
        },
    );
    for (k, v) in &d.data {
        line(&format!("data.{k}"), v.clone(), &format!("data.{k}"));
    }
    s
}

/// Every field `json` reports a source for, besides credentials and data.
const SOURCED: &[&str] = &[
    "host",
    "port",
    "transport",
    "username",
    "enable_secret",
    "platform",
    "mode",
    "jump",
    "connect_timeout",
    "command_timeout",
    "session_timeout",
    "commands",
];

fn transport(t: Transport) -> &'static str {
    match t {
        Transport::Ssh => "ssh",
        Transport::Telnet => "telnet",
        Transport::Noop => "noop",
    }
}

/// Every resolved field as one JSON object; secrets only as kinds.
fn json(inv: &Inventory, d: &Device) -> serde_json::Value {
    serde_json::json!({
        "name": d.name,
        "host": d.host,
        "port": d.port,
        "address": d.address(),
        "transport": transport(d.transport),
        "username": d.username,
        "credentials": auth_kinds(&d.auth),
        "enable": d.enable_secret.is_some(),
        "platform": d.platform,
        "mode": d.mode.map(|m| match m { Mode::Exec => "exec", Mode::Shell => "shell" }),
        "jump": d.jump.iter().map(|j| serde_json::json!({
            "host": j.host, "port": j.port, "username": j.username,
            "credentials": auth_kinds(&j.auth),
        })).collect::<Vec<_>>(),
        "groups": d.groups,
        "timeouts": {
            "connect": d.timeouts.connect.map(|t| t.as_secs_f64()),
            "command": d.timeouts.command.map(|t| t.as_secs_f64()),
            "session": d.timeouts.session.map(|t| t.as_secs_f64()),
        },
        "commands": d.commands,
        "data": d.data,
        "sources": sources_json(inv, d),
    })
}

/// `field -> "file:line" | "default"` for every field of the device
/// (credentials by kind, `data.KEY`); `null` when sources are not tracked.
fn sources_json(inv: &Inventory, d: &Device) -> serde_json::Value {
    if inv.origins.is_empty() {
        return serde_json::Value::Null;
    }
    let mut m = serde_json::Map::new();
    let fields = SOURCED
        .iter()
        .map(|f| f.to_string())
        .chain(d.auth.iter().map(|a| auth_kind(a).1.to_owned()))
        .chain(d.data.keys().map(|k| format!("data.{k}")));
    for f in fields {
        let at = source(inv, d, &f).unwrap_or("default");
        m.insert(f, serde_json::Value::from(at));
    }
    serde_json::Value::Object(m)
}
