//! `fleet run`: flags (already typed by clap), then the checks that need no
//! inventory, then the password prompt, then the inventory and the
//! [`RunPlan`], then workers. Bad input fails before any process starts.

use crate::cli::{
    Count, DeviceLogsArg, FormatArg, HostKeyCheckArg, ModeArg, ProgressArg, RunArgs, TraceArg,
    TransportArg,
};
use anyhow::{bail, Context, Result};
use fleet_escape::{Policy, Streams};
use fleet_master::config::Progress;
use fleet_master::plan::{ConfigPush, PlanOptions, Resume, RunPlan};
use fleet_master::{OutputFormat, RunConfig};
use fleet_proto::rundir::TraceMode;
use fleet_proto::{DeviceTable, ExitCode, HostKeyCheck, Mode, Timeouts, Transport};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
        Ok(Prepared::DryRun(devices)) => {
            print_dry_run(&devices, Streams::detect(args.raw_output).stdout);
            ExitCode::AllOk.code()
        }
        Ok(Prepared::Run(cfg, devices)) => match fleet_master::run(*cfg, devices) {
            Ok(outcome) => outcome.exit_code.code(),
            Err(e) => {
                // The run itself could not start: no device ran.
                eprintln!("fleet: error: {:#}", anyhow::Error::from(e));
                ExitCode::RunFailed.code()
            }
        },
        Err(e) => {
            // Errors may quote inventories (names, lines): escaped on a terminal.
            let stderr = Streams::detect(args.raw_output).stderr;
            eprintln!("fleet: error: {}", stderr.text(&format!("{e:#}")));
            ExitCode::Usage.code()
        }
    }
}

/// What `fleet run` goes on to do once its input is checked.
enum Prepared {
    /// Configuration lines without `--commit`: print what would be sent.
    DryRun(DeviceTable),
    /// Start the run.
    Run(Box<RunConfig>, DeviceTable),
}

fn prepare(args: &RunArgs) -> Result<Prepared> {
    // Everything that needs no inventory first: a mistake here costs no
    // inventory load and no password prompt.
    let shard = crate::shard::resolve(&args.shard)?;
    let inventory_path = match (&args.inventory, &args.resume) {
        (Some(p), _) => Some(p.clone()),
        (None, _) if args.adhoc.has_hosts() => None,
        (None, Some(dir)) => Some(inventory_of_run(dir)?),
        (None, None) => bail!(
            "no inventory: pass --inventory FILE (or set FLEET_INVENTORY), or hosts with -w HOSTLIST"
        ),
    };
    let mut config = ConfigPush::from_sources(
        args.config.as_deref(),
        &args.config_line,
        args.save_config,
        args.commit,
    )?;
    if let Some(c) = &mut config {
        c.confirmed_minutes = args.commit_confirmed;
    }
    if let Some(prev) = &args.diff {
        if !prev.join("results.jsonl").is_file() {
            bail!(
                "--diff: {} is not a run directory (no results.jsonl)",
                prev.display()
            );
        }
    }
    let fd_limit = raise_fd_limit()?;
    if let (Count::Fixed(p), Count::Fixed(t)) = (args.processes, args.threads) {
        check_fd_budget(fd_limit, p as usize, t as usize)?;
    }
    let worker_exe = std::env::current_exe().context("failed to find the fleet executable")?;

    let password = if args.ask_pass {
        let pw = rpassword::prompt_password("SSH password: ")
            .context("--ask-pass needs a terminal to read the password from")?;
        Some(fleet_proto::Secret::new(pw))
    } else {
        None
    };
    let become_password = if args.ask_become_pass {
        let pw = rpassword::prompt_password("BECOME password: ")
            .context("--ask-become-pass needs a terminal to read the password from")?;
        Some(fleet_proto::Secret::new(pw))
    } else {
        None
    };
    let stderr = Streams::detect(args.raw_output).stderr;
    // The inventory streams through the ssh config (-x, -F) into a packed
    // table, one device at a time: a million devices never exist at once
    // as whole `Device`s. Errors keep their order: the inventory's first,
    // then the ssh config's, then a device's.
    let env = crate::adhoc::LocalEnv::from_process();
    let mut resolver =
        crate::adhoc::Resolver::new(&args.adhoc, &env, args.connect_timeout.is_some());
    let mut table = DeviceTable::new();
    let mut device_error: Option<anyhow::Error> = None;
    let (inventory_known_hosts, inventory_check) = match &inventory_path {
        Some(path) => {
            // Devices come with shared profiles: the ssh config is applied
            // once per profile where it can be, the table keys on them.
            let mut each = |d: fleet_inventory::SharedDevice<'_>| {
                if device_error.is_some() {
                    return;
                }
                if let Ok(r) = &mut resolver {
                    if let Err(e) = r.shared(d, &mut table) {
                        device_error = Some(e);
                    }
                }
            };
            let inventory = fleet_inventory::load_shared(
                path,
                &fleet_inventory::LoadOptions {
                    format: args.inventory_format,
                    password_prompted: password.is_some(),
                    vault_password: fleet_inventory::VaultPassword::from_flag_or_env(
                        args.vault_password_file.as_deref(),
                    ),
                    sources: false,
                    csv_columns: args.csv_columns.clone(),
                    become_password: become_password.clone(),
                },
                &mut each,
            )?;
            for w in &inventory.warnings {
                eprintln!("fleet: warning: {}", stderr.text(&w.to_string()));
            }
            (inventory.known_hosts, inventory.host_key_check)
        }
        None => (None, None),
    };
    let resolver = resolver?;
    if let Some(e) = device_error {
        return Err(e);
    }
    // -w hosts the inventory does not have come after its devices.
    let known: std::collections::HashSet<&str> = if resolver.has_targets() {
        (0..table.len()).map(|i| table.name(i)).collect()
    } else {
        Default::default()
    };
    let (adhoc, resolution) = resolver.finish(|name| known.contains(name))?;
    drop(known);
    for mut d in adhoc {
        // -K with -w hosts only: the inventory loader did not see them.
        if let (None, Some(pw)) = (&inventory_path, &become_password) {
            if d.enable_secret.is_none() {
                d.enable_secret = Some(pw.clone());
            }
        }
        table.push(d);
    }
    if let Some(l) = &args.limit {
        for w in l.limit.unmatched_each(table.iter()) {
            eprintln!("fleet: warning: --limit: {}", stderr.text(&w.to_string()));
        }
    }
    let plan = RunPlan::build(
        inventory_path
            .as_deref()
            .unwrap_or(Path::new("the -w hosts")),
        table,
        &PlanOptions {
            password,
            limit: args.limit.clone(),
            commands: args.commands.clone(),
            transport: (args.transport == TransportArg::Noop).then_some(Transport::Noop),
            // Explicit flags win over the inventory; unset ones leave it alone.
            timeouts: Timeouts {
                connect: args.connect_timeout,
                command: args.command_timeout,
                session: args.session_timeout,
            },
            mode: args.mode.map(|m| match m {
                ModeArg::Exec => Mode::Exec,
                ModeArg::Shell => Mode::Shell,
            }),
            config,
            resume: args.resume.as_ref().map(|dir| Resume {
                dir: dir.clone(),
                retry_failed: args.retry_failed,
            }),
            shard: shard.map(|s| (s, args.shard.shard_by.clone().unwrap_or_default())),
        },
    )?;
    if plan.dry_run {
        return Ok(Prepared::DryRun(plan.devices));
    }
    if let Some(s) = &plan.shard {
        eprintln!(
            "fleet: shard {}/{} (by {}): {} of {} devices",
            s.k, s.n, s.by, s.devices, s.selected
        );
    }
    if let Some(dir) = &args.resume {
        eprintln!(
            "fleet: resuming {}: {} devices left to run",
            dir.display(),
            plan.devices.len()
        );
    }

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
        None => match inventory_check {
            Some(c) => c,
            None => resolution
                .host_key_check
                .single("StrictHostKeyChecking", "--host-key-check")?
                .unwrap_or_default(),
        },
    };
    let (known_hosts, known_hosts_extra) = match args.known_hosts.clone().or(inventory_known_hosts)
    {
        Some(p) => (Some(p), resolution.global_known_hosts.clone()),
        None => resolution.known_hosts_files()?,
    };
    // -p auto / -t auto: start with the probe layout; the run measures and
    // resizes. Fixed values are respected.
    let auto = (args.processes == Count::Auto || args.threads == Count::Auto)
        .then(|| auto_facts(args, fd_limit, &plan.devices));
    let (processes, threads) = match &auto {
        Some(facts) => {
            let d = fleet_autotune::probe(facts);
            (d.processes as usize, d.threads as usize)
        }
        None => (
            args.processes.fixed().unwrap_or(2) as usize,
            args.threads.fixed().unwrap_or(16) as usize,
        ),
    };
    if auto.is_some() {
        check_fd_budget(fd_limit, processes, threads)?;
    }
    let cfg = RunConfig {
        auto,
        processes,
        threads,
        // Measured by the dispatcher unless given: session time against the
        // dispatch round trip (noop sessions get the largest prefetch).
        batch_size: args.batch_size.map(|b| b as usize),
        worker_silence: fleet_master::dispatch::DEFAULT_WORKER_SILENCE,
        timeouts: Timeouts {
            connect: Some(args.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT)),
            command: Some(args.command_timeout.unwrap_or(DEFAULT_COMMAND_TIMEOUT)),
            session: Some(args.session_timeout.unwrap_or(DEFAULT_SESSION_TIMEOUT)),
        },
        max_output: args.max_output,
        host_key_check,
        known_hosts,
        known_hosts_extra,
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
        device_logs: match args.device_logs {
            DeviceLogsArg::Auto => fleet_master::trace::auto_device_logs(plan.devices.len()),
            DeviceLogsArg::On => true,
            DeviceLogsArg::Off => false,
        },
        trace: match args.trace {
            TraceArg::Auto => fleet_master::trace::auto_mode(plan.devices.len()),
            TraceArg::Full => TraceMode::Full,
            TraceArg::Sample => TraceMode::Sample,
            TraceArg::Off => TraceMode::Off,
        },
        command_line: std::env::args().collect(),
        inventory: inventory_path.as_deref().map(absolute),
        worker_exe,
        policy: policy(args),
        save_outputs: args.save_outputs.clone(),
        group_output: args.group_output,
        diff_against: args.diff.clone(),
        shard: plan.shard.clone(),
        escape: Streams::detect(args.raw_output),
    };
    Ok(Prepared::Run(Box::new(cfg), plan.devices))
}

/// What `-p auto -t auto` knows before the first session.
fn auto_facts(args: &RunArgs, fd_limit: u64, devices: &DeviceTable) -> fleet_autotune::Facts {
    let caps: BTreeMap<&String, usize> = args
        .max_per_group
        .iter()
        .flatten()
        .map(|(g, n)| (g, *n))
        .collect();
    // Caps bound the total only when every device is in a capped group.
    let all_capped = !caps.is_empty()
        && (0..devices.len()).all(|i| {
            devices
                .profile(i)
                .groups
                .iter()
                .any(|g| caps.contains_key(g))
        });
    fleet_autotune::Facts {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        fd_limit,
        devices_left: devices.len() as u64,
        connect_rate: args.connect_rate,
        group_cap_sum: all_capped.then(|| caps.values().map(|&n| n as u64).sum()),
        fixed_processes: args.processes.fixed(),
        fixed_threads: args.threads.fixed(),
    }
}

/// The connection policy from its (already parsed) flags.
fn policy(args: &RunArgs) -> fleet_master::policy::Policy {
    let (backoff_min, backoff_max) = args.retry_backoff;
    fleet_master::policy::Policy {
        connect_rate: args.connect_rate,
        group_caps: args
            .max_per_group
            .iter()
            .flatten()
            .map(|(g, n)| (g.clone(), *n))
            .collect(),
        retry: args.retry.iter().flatten().map(|(s, n)| (*s, *n)).collect(),
        backoff_min,
        backoff_max,
    }
}

/// Prints what a dry run would send, per device (names and lines from
/// the inventory and config file: escaped on a terminal).
fn print_dry_run(devices: &DeviceTable, policy: Policy) {
    for d in devices.iter() {
        println!(
            "--- {} ({})",
            policy.line(&d.name),
            policy.line(&d.address())
        );
        for c in &d.commands {
            println!("{}", policy.line(c));
        }
    }
    eprintln!(
        "fleet: dry run: nothing was sent to {} devices; add --commit to apply",
        devices.len()
    );
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The inventory a previous run used, from its run.json.
fn inventory_of_run(dir: &Path) -> Result<PathBuf> {
    let run = fleet_proto::rundir::RunJson::read(dir)?;
    match run.inventory {
        Some(p) => Ok(p),
        None => bail!(
            "{} names no inventory; pass --inventory",
            dir.join(fleet_proto::rundir::RUN_FILE).display()
        ),
    }
}

/// Raises RLIMIT_NOFILE to its hard limit (workers inherit it) and
/// returns the limit in force.
fn raise_fd_limit() -> Result<u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).context("getrlimit(RLIMIT_NOFILE)")?;
    Ok(if soft < hard {
        match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => hard,
            Err(_) => soft,
        }
    } else {
        soft
    })
}

/// Refuses a layout whose sessions cannot all have a socket.
fn check_fd_budget(limit: u64, processes: usize, threads: usize) -> Result<()> {
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
