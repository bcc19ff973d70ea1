//! Command-line interface (clap derive).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// Largest T accepted: beyond this, threads cost more than they bring.
pub const MAX_THREADS: usize = 4096;
/// Largest P accepted.
pub const MAX_PROCESSES: usize = 512;

/// Run SSH sessions against a large inventory of network devices and
/// servers, across P worker processes × T threads.
#[derive(Debug, Parser)]
#[command(name = "fleet", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run commands on every device of an inventory.
    Run(Box<RunArgs>),
    /// Inspect an inventory: what would run, counts per group and platform.
    Inventory(InventoryArgs),
    /// Serve a simulated network of SSH devices on loopback (for demos, tests, benchmarks).
    Lab(fleet_lab::LabArgs),
    /// Show a run's logs merged in time order, filtered, or one device's story.
    Logs(crate::cmd_logs::LogsArgs),
    /// List past runs (newest last).
    Runs(crate::cmd_logs::RunsArgs),
    /// Benchmark layouts (sequential, threads, processes, processes x threads) against a lab.
    Bench(crate::cmd_bench::BenchArgs),
    /// Internal: a worker process started by `fleet run`.
    #[command(name = "__worker", hide = true)]
    Worker(WorkerArgs),
}

#[derive(Debug, Args)]
pub struct InventoryArgs {
    #[command(subcommand)]
    pub command: InventoryCommand,
}

#[derive(Debug, Subcommand)]
pub enum InventoryCommand {
    /// One line per device that would run: name, address, platform, groups.
    List(InventoryCommon),
    /// Validate and print counts per group, platform and transport.
    Check(InventoryCommon),
}

#[derive(Debug, Args)]
pub struct InventoryCommon {
    /// Inventory file (or Nornir directory).
    #[arg(short, long, env = "FLEET_INVENTORY")]
    pub inventory: std::path::PathBuf,
    /// Inventory format, when detection is not enough.
    #[arg(long, value_name = "FORMAT")]
    pub inventory_format: Option<String>,
    /// Only devices matching this pattern.
    #[arg(long, value_name = "EXPR")]
    pub limit: Option<String>,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[arg(long)]
    pub id: u32,
    #[arg(long)]
    pub ipc: String,
    #[arg(long)]
    pub master_pid: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Table,
    Json,
    Jsonl,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressArg {
    /// A bar when stderr is a terminal, else nothing live.
    Auto,
    /// A bar on a terminal, else a plain line every 2 s (logs, CI).
    Always,
    /// Nothing live (notes and the summary still print).
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HostKeyCheckArg {
    Strict,
    AcceptNew,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    Exec,
    Shell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransportArg {
    /// Whatever each device says (SSH unless the inventory says telnet).
    Inventory,
    /// Skip the network and answer at once: measures fleet's own overhead.
    Noop,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Inventory file (fleet YAML, Nornir hosts.yaml or directory, Ansible INI/YAML, CSV).
    #[arg(short, long, env = "FLEET_INVENTORY")]
    pub inventory: Option<PathBuf>,

    /// Inventory format, when detection from the file name and content is not enough.
    #[arg(long, value_name = "FORMAT")]
    pub inventory_format: Option<String>,

    /// Only devices matching this Ansible-like pattern (e.g. 'group:core,!name:lab-*').
    #[arg(long, value_name = "EXPR")]
    pub limit: Option<String>,

    /// Ask for the SSH password once, on the terminal (never echoed, never an
    /// argument); it is tried after each device's own credentials.
    #[arg(short = 'k', long)]
    pub ask_pass: bool,

    /// Worker processes; 0 runs the threads inside the master.
    #[arg(short, long, env = "FLEET_PROCESSES", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(0..=MAX_PROCESSES as i64))]
    pub processes: u32,

    /// Session threads per worker process.
    #[arg(short, long, env = "FLEET_THREADS", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=MAX_THREADS as i64))]
    pub threads: u32,

    /// Devices per batch sent to a worker [default: threads/2].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch_size: Option<u32>,

    /// Command to run (repeat for several, run in order in one session);
    /// overrides the inventory's commands.
    #[arg(short, long = "command", value_name = "CMD")]
    pub commands: Vec<String>,

    /// Directory for run directories.
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,

    /// What to print on stdout.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    pub format: FormatArg,

    /// Live progress on stderr.
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    pub progress: ProgressArg,

    /// TCP connect timeout [default: inventory's, else 5s].
    /// Given here, it wins over the inventory.
    #[arg(long, value_parser = crate::units::duration)]
    pub connect_timeout: Option<Duration>,

    /// Time limit for each command [default: inventory's, else 30s].
    /// Given here, it wins over the inventory.
    #[arg(long, value_parser = crate::units::duration)]
    pub command_timeout: Option<Duration>,

    /// Time limit for a whole session, connect to close [default: inventory's, else 120s].
    /// Given here, it wins over the inventory.
    #[arg(long, value_parser = crate::units::duration)]
    pub session_timeout: Option<Duration>,

    /// Re-runs of a device whose worker died while running it.
    #[arg(long, default_value_t = 1)]
    pub retries: u32,

    /// Replacement workers started per worker slot after crashes.
    #[arg(long, default_value_t = 3)]
    pub max_worker_restarts: u32,

    /// After Ctrl-C, time in-flight sessions get to finish.
    #[arg(long, default_value = "10s", value_parser = crate::units::duration)]
    pub grace: Duration,

    /// Cap on captured output per command (e.g. 16MiB); the rest is dropped
    /// and the output marked truncated.
    #[arg(long, default_value = "16MiB", value_parser = crate::units::size)]
    pub max_output: usize,

    /// Host-key policy, as OpenSSH's StrictHostKeyChecking [default: inventory's, else accept-new].
    #[arg(long, value_enum)]
    pub host_key_check: Option<HostKeyCheckArg>,

    /// known_hosts file [default: inventory's, else ~/.ssh/known_hosts].
    #[arg(long)]
    pub known_hosts: Option<PathBuf>,

    /// Exec channel or interactive shell [default: inventory's, else by platform].
    /// Given here, it wins over the inventory and the platform.
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,

    /// Override the transport of every device.
    #[arg(long, value_enum, default_value_t = TransportArg::Inventory)]
    pub transport: TransportArg,

    /// Log level for master.log and worker logs (RUST_LOG wins).
    #[arg(long, default_value = "info")]
    pub log_level: log::LevelFilter,

    /// New sessions per second across all workers, e.g. `50/s` (protects
    /// TACACS/RADIUS servers and fragile devices).
    #[arg(long, value_name = "RATE")]
    pub connect_rate: Option<String>,

    /// At most N concurrent sessions to devices of GROUP, whatever P×T is
    /// (`--max-per-group core=10`, repeatable or comma-separated).
    #[arg(long, value_name = "GROUP=N")]
    pub max_per_group: Vec<String>,

    /// Retry failure classes, e.g. `connect_failed=3,timeout=1` (extra attempts).
    #[arg(long, value_name = "CLASS=N")]
    pub retry: Vec<String>,

    /// Backoff range for --retry (doubles per attempt, with jitter).
    #[arg(long, default_value = "1s..30s", value_name = "MIN..MAX")]
    pub retry_backoff: String,

    /// Configuration lines to push through config mode (dry run unless --commit).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// One configuration line (repeatable), like --config.
    #[arg(long, value_name = "LINE")]
    pub config_line: Vec<String>,

    /// Actually send --config/--config-line to devices (otherwise print what would be sent).
    #[arg(long)]
    pub commit: bool,

    /// After --config, save the configuration (`write memory` or the platform's equivalent).
    #[arg(long)]
    pub save_config: bool,

    /// Write each device's outputs to DIR/<device>/<command-slug>.txt.
    #[arg(long, value_name = "DIR")]
    pub save_outputs: Option<PathBuf>,

    /// Print each distinct output once, with the devices that produced it.
    #[arg(long)]
    pub group_output: bool,

    /// Show which devices' outputs changed since a previous run.
    #[arg(long, value_name = "RUN_DIR")]
    pub diff: Option<PathBuf>,

    /// Continue a run: run only devices without a final result there.
    #[arg(long, value_name = "RUN_DIR")]
    pub resume: Option<PathBuf>,

    /// With --resume: also re-run devices that failed.
    #[arg(long, requires = "resume")]
    pub retry_failed: bool,
}
