//! `fleet run`: flags, then inventory, then workers. Bad input fails before
//! any process starts.

use crate::cli::{FormatArg, HostKeyCheckArg, ModeArg, ProgressArg, RunArgs, TransportArg};
use anyhow::{bail, Context, Result};
use fleet_master::config::Progress;
use fleet_master::{OutputFormat, RunConfig};
use fleet_proto::{Device, ExitCode, HostKeyCheck, Mode, Timeouts, Transport};
use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default batch under `--transport noop` (measured: 64-1024 all beat T/2).
const NOOP_BATCH_SIZE: usize = 256;

/// `--connect-timeout` when neither the flag nor the inventory sets one.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// `--command-timeout` when neither the flag nor the inventory sets one.
const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// `--session-timeout` when neither the flag nor the inventory sets one.
const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(120);

/// File descriptors a worker needs besides its sessions (IPC, logs, std).
const FDS_PER_WORKER_BASE: u64 = 64;

/// Runs `fleet run` and returns the exit code.
pub fn run(args: RunArgs) -> i32 {
    match prepare(&args) {
        Ok((_, devices)) if is_dry_run(&args) => {
            crate::config_push::print_dry_run(&devices);
            ExitCode::AllOk.code()
        }
        Ok((cfg, devices)) => match fleet_master::run(cfg, devices) {
            Ok(outcome) => outcome.exit_code.code(),
            Err(e) => {
                eprintln!("fleet: error: {:#}", anyhow::Error::from(e));
                ExitCode::SomeFailed.code()
            }
        },
        Err(e) => {
            eprintln!("fleet: error: {e:#}");
            ExitCode::Usage.code()
        }
    }
}

/// Config lines without `--commit`: show, don't touch.
fn is_dry_run(args: &RunArgs) -> bool {
    (args.config.is_some() || !args.config_line.is_empty()) && !args.commit
}

fn prepare(args: &RunArgs) -> Result<(RunConfig, Vec<Device>)> {
    let inventory_path = match (&args.inventory, &args.resume) {
        (Some(p), _) => p.clone(),
        (None, Some(dir)) => inventory_of_run(dir)?,
        (None, None) => bail!("no inventory: pass --inventory FILE (or set FLEET_INVENTORY)"),
    };
    let format = args
        .inventory_format
        .as_deref()
        .map(|f| f.parse::<fleet_inventory::Format>())
        .transpose()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let prompted = if args.ask_pass {
        let pw = rpassword::prompt_password("SSH password: ")
            .context("--ask-pass needs a terminal to read the password from")?;
        fleet_inventory::set_password_prompted();
        Some(fleet_proto::Secret::new(pw))
    } else {
        None
    };
    let inventory = fleet_inventory::load(&inventory_path, format)?;
    for w in &inventory.warnings {
        eprintln!("fleet: warning: {w}");
    }
    let mut devices = inventory.devices;
    for d in &mut devices {
        // `[::1]` is how people write an IPv6 address next to a port; the
        // address itself is `::1` (for connecting and for known_hosts).
        unbracket(&mut d.host);
        for hop in &mut d.jump {
            unbracket(&mut hop.host);
        }
    }
    if let Some(pw) = &prompted {
        for d in &mut devices {
            if d.transport != Transport::Noop {
                d.auth.push(fleet_proto::Auth::Password(pw.clone()));
            }
        }
    }
    if let Some(expr) = &args.limit {
        let limit = fleet_inventory::limit::Limit::parse(expr)
            .map_err(|e| anyhow::anyhow!("--limit: {e}"))?;
        devices.retain(|d| limit.matches(d));
        if devices.is_empty() {
            bail!(
                "no device in {} matches --limit '{expr}'",
                inventory_path.display()
            );
        }
    }
    apply_flags(args, &mut devices);
    let push = crate::config_push::ConfigPush::from_args(
        args.config.as_deref(),
        &args.config_line,
        args.save_config,
    )?;
    if args.commit && push.is_none() {
        bail!("--commit needs --config or --config-line");
    }
    if let Some(push) = &push {
        for d in &mut devices {
            // Without -c, a config push runs only the config; with -c, the
            // commands run after it (e.g. a `show` to verify).
            if args.commands.is_empty() {
                d.commands.clear();
            }
            push.apply(d)?;
        }
    }
    if let Some(d) = devices.iter().find(|d| d.commands.is_empty()) {
        bail!(
            "nothing to run on device `{}`: give --command or `commands:` in the inventory",
            d.name
        );
    }
    if let Some(dir) = &args.resume {
        devices = remaining_after(dir, devices, args.retry_failed)?;
    }

    let policy = policy(args)?;
    if let Some(prev) = &args.diff {
        if !prev.join("results.jsonl").is_file() {
            bail!(
                "--diff: {} is not a run directory (no results.jsonl)",
                prev.display()
            );
        }
    }
    let processes = args.processes as usize;
    let threads = args.threads as usize;
    check_fd_budget(processes, threads)?;

    let format = match args.format {
        FormatArg::Table => OutputFormat::Table,
        FormatArg::Json => OutputFormat::Json,
        FormatArg::Jsonl => OutputFormat::Jsonl,
        FormatArg::None => OutputFormat::None,
    };
    let on_terminal = std::io::stderr().is_terminal();
    let progress = match args.progress {
        ProgressArg::Auto if on_terminal => Progress::Bar,
        ProgressArg::Auto | ProgressArg::Never => Progress::Off,
        ProgressArg::Always if on_terminal => Progress::Bar,
        ProgressArg::Always => Progress::Lines,
    };
    let host_key_check = match args.host_key_check {
        Some(HostKeyCheckArg::Strict) => HostKeyCheck::Strict,
        Some(HostKeyCheckArg::AcceptNew) => HostKeyCheck::AcceptNew,
        Some(HostKeyCheckArg::Off) => HostKeyCheck::Off,
        None => inventory.host_key_check.unwrap_or_default(),
    };
    let cfg = RunConfig {
        processes,
        threads,
        batch_size: args.batch_size.map(|b| b as usize).unwrap_or_else(|| {
            // No-op sessions take microseconds: balance does not matter,
            // round trips do.
            if args.transport == TransportArg::Noop {
                NOOP_BATCH_SIZE.max(threads)
            } else {
                fleet_master::config::default_batch_size(threads)
            }
        }),
        timeouts: Timeouts {
            connect: Some(args.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT)),
            command: Some(args.command_timeout.unwrap_or(DEFAULT_COMMAND_TIMEOUT)),
            session: Some(args.session_timeout.unwrap_or(DEFAULT_SESSION_TIMEOUT)),
        },
        max_output: args.max_output,
        host_key_check,
        known_hosts: args.known_hosts.clone().or(inventory.known_hosts),
        default_mode: args.mode.map(|m| match m {
            ModeArg::Exec => Mode::Exec,
            ModeArg::Shell => Mode::Shell,
        }),
        retries: args.retries,
        max_worker_restarts: args.max_worker_restarts,
        grace: args.grace,
        out_dir: args.out.clone(),
        resume_dir: args.resume.clone(),
        format,
        progress,
        log_level: args.log_level,
        command_line: std::env::args().collect(),
        inventory: Some(absolute(&inventory_path)),
        worker_exe: std::env::current_exe().context("cannot find the fleet executable")?,
        policy,
        save_outputs: args.save_outputs.clone(),
        group_output: args.group_output,
        diff_against: args.diff.clone(),
    };
    Ok((cfg, devices))
}

/// `[::1]` -> `::1`; other hosts unchanged.
fn unbracket(host: &mut String) {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        *host = inner.to_string();
    }
}

/// One rule for flags and the inventory: a flag given on the command line
/// wins over what the inventory says for every device; a flag left at its
/// default does not (it only fills what the inventory leaves open, through
/// the run-level settings). Host-key checking and known_hosts follow the
/// same rule where the run config is built.
fn apply_flags(args: &RunArgs, devices: &mut [Device]) {
    let mode = args.mode.map(|m| match m {
        ModeArg::Exec => Mode::Exec,
        ModeArg::Shell => Mode::Shell,
    });
    for d in devices {
        if !args.commands.is_empty() {
            d.commands = args.commands.clone();
        }
        if args.transport == TransportArg::Noop {
            d.transport = Transport::Noop;
        }
        if let Some(t) = args.connect_timeout {
            d.timeouts.connect = Some(t);
        }
        if let Some(t) = args.command_timeout {
            d.timeouts.command = Some(t);
        }
        if let Some(t) = args.session_timeout {
            d.timeouts.session = Some(t);
        }
        if mode.is_some() {
            d.mode = mode;
        }
    }
}

fn policy(args: &RunArgs) -> Result<fleet_master::policy::Policy> {
    use fleet_master::policy::{parse_backoff, parse_group_caps, parse_rate, parse_retry};
    let err = |e: String| anyhow::anyhow!(e);
    let (backoff_min, backoff_max) = parse_backoff(&args.retry_backoff).map_err(err)?;
    Ok(fleet_master::policy::Policy {
        connect_rate: args
            .connect_rate
            .as_deref()
            .map(parse_rate)
            .transpose()
            .map_err(err)?,
        group_caps: parse_group_caps(&args.max_per_group).map_err(err)?,
        retry: parse_retry(&args.retry).map_err(err)?,
        backoff_min,
        backoff_max,
    })
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The inventory a previous run used, from its run.json.
fn inventory_of_run(dir: &Path) -> Result<PathBuf> {
    let path = dir.join("run.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    match doc.get("inventory").and_then(|v| v.as_str()) {
        Some(p) => Ok(PathBuf::from(p)),
        None => bail!("{} names no inventory; pass --inventory", path.display()),
    }
}

/// Devices of a previous run that still need running: no result at all,
/// or cancelled, or (with `--retry-failed`) failed.
fn remaining_after(dir: &Path, devices: Vec<Device>, retry_failed: bool) -> Result<Vec<Device>> {
    let path = dir.join("results.jsonl");
    let results = fleet_master::sink::read_results(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    // The last word on each device wins (a resumed run appends).
    let mut last = std::collections::HashMap::new();
    for r in results {
        last.insert(r.device.clone(), r.status);
    }
    let done: HashSet<&String> = last
        .iter()
        .filter(|(_, st)| match st {
            fleet_proto::Status::Cancelled => false,
            st if retry_failed => st.is_ok(),
            _ => true,
        })
        .map(|(name, _)| name)
        .collect();
    let left: Vec<Device> = devices
        .into_iter()
        .filter(|d| !done.contains(&d.name))
        .collect();
    eprintln!(
        "fleet: resuming {}: {} devices left to run",
        dir.display(),
        left.len()
    );
    Ok(left)
}

/// Raises RLIMIT_NOFILE to its hard limit and refuses a layout whose
/// sessions cannot all have a socket.
fn check_fd_budget(processes: usize, threads: usize) -> Result<()> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).context("getrlimit(RLIMIT_NOFILE)")?;
    let limit = if soft < hard {
        match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => hard,
            Err(_) => soft,
        }
    } else {
        soft
    };
    // Each session holds a socket (two with a jump host); the in-process
    // layout also carries the master's own files.
    let per_process = threads as u64 * 2 + FDS_PER_WORKER_BASE;
    let master_extra = if processes == 0 {
        FDS_PER_WORKER_BASE
    } else {
        processes as u64 * 8
    };
    let needed = per_process + master_extra;
    if needed > limit {
        bail!(
            "layout {processes}x{threads} needs about {needed} file descriptors per process, \
             but RLIMIT_NOFILE is {limit}: use fewer threads and more processes, or raise the limit"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(argv: &[&str]) -> RunArgs {
        let argv = ["fleet", "run"].iter().chain(argv);
        match crate::cli::Cli::try_parse_from(argv).unwrap().command {
            crate::cli::Command::Run(a) => *a,
            _ => unreachable!("a run command"),
        }
    }

    fn inventory_device() -> Device {
        let mut d = Device::new("d", "h", 22);
        d.commands = vec!["inv".into()];
        d.mode = Some(Mode::Shell);
        d.timeouts.connect = Some(Duration::from_secs(7));
        d.timeouts.command = Some(Duration::from_secs(8));
        d.timeouts.session = Some(Duration::from_secs(9));
        d
    }

    #[test]
    fn flags_left_at_their_default_leave_the_inventory_alone() {
        let mut ds = [inventory_device()];
        apply_flags(&args(&[]), &mut ds);
        assert_eq!(ds[0], inventory_device());
    }

    #[test]
    fn given_flags_win_over_the_inventory() {
        let mut ds = [inventory_device()];
        apply_flags(
            &args(&[
                "-c", "flag", "--mode", "exec", "--connect-timeout", "1s",
                "--command-timeout", "2s", "--session-timeout", "3s",
            ]),
            &mut ds,
        );
        let d = &ds[0];
        assert_eq!(d.commands, ["flag"]);
        assert_eq!(d.mode, Some(Mode::Exec));
        assert_eq!(d.timeouts.connect, Some(Duration::from_secs(1)));
        assert_eq!(d.timeouts.command, Some(Duration::from_secs(2)));
        assert_eq!(d.timeouts.session, Some(Duration::from_secs(3)));
    }
}
