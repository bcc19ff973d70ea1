//! Command-line interface (clap derive): every argument struct of every
//! subcommand lives here, and every flag value is parsed by a clap value
//! parser, so a typo fails before the inventory loads and before any
//! password prompt. The `cmd_*` modules take these structs and call the
//! engine crates; nothing here depends on them.

use clap::{Args, Parser, Subcommand, ValueEnum};
use fleet_master::plan::LimitExpr;
use fleet_proto::Status;
use std::collections::BTreeMap;
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
    Logs(LogsArgs),
    /// List past runs (newest last).
    Runs(RunsArgs),
    /// Merge the run directories of `fleet run --shard K/N` into one run.
    Merge(crate::cmd_merge::MergeArgs),
    /// Benchmark layouts (sequential, threads, processes, processes x threads) against a lab.
    Bench(BenchArgs),
    /// Write a run's self-contained HTML report, or serve past runs' reports on loopback.
    Report(ReportArgs),
    /// Internal: a worker process started by `fleet run`.
    #[command(name = "__worker", hide = true)]
    Worker(WorkerArgs),
    /// Internal: the bare ssh2 thread pool `fleet bench` measures fleet against.
    #[command(name = "__bare-pool", hide = true)]
    BarePool(BarePoolArgs),
}

/// Flags of the hidden `fleet __bare-pool` (started by `fleet bench`).
#[derive(Debug, Args)]
pub struct BarePoolArgs {
    /// Inventory whose devices to run.
    #[arg(long)]
    pub inventory: PathBuf,
    /// Threads of the pool.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=MAX_THREADS as i64))]
    pub threads: u32,
    /// Command executed on every device (one exec channel).
    #[arg(long)]
    pub command: String,
    /// libssh2 timeout of each session, ms.
    #[arg(long, default_value_t = 60_000)]
    pub session_timeout_ms: u64,
}

#[derive(Debug, Args)]
pub struct InventoryArgs {
    #[command(subcommand)]
    pub command: InventoryCommand,
}

#[derive(Debug, Subcommand)]
pub enum InventoryCommand {
    /// One line per device that would run: name, address, platform, groups.
    List(InventoryList),
    /// Validate and print counts per group, platform and transport.
    Check(InventoryCommon),
    /// Every resolved field of one device and where it was set (secrets
    /// only as their kind and source).
    Show(InventoryShow),
}

#[derive(Debug, Args)]
pub struct InventoryList {
    #[command(flatten)]
    pub common: InventoryCommon,
    /// Every resolved field, one block per device.
    #[arg(long, conflicts_with = "json")]
    pub long: bool,
    /// Every resolved field as JSON Lines (one device per line; secrets
    /// only as their kind).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InventoryShow {
    #[command(flatten)]
    pub common: InventoryCommon,
    /// Device name.
    pub device: String,
}

#[derive(Debug, Args)]
pub struct InventoryCommon {
    /// Inventory file (or Nornir directory); optional with -w.
    #[arg(short, long, env = "FLEET_INVENTORY")]
    pub inventory: Option<std::path::PathBuf>,
    /// Inventory format, when detection is not enough.
    #[arg(long, value_name = "FORMAT", value_parser = inventory_format)]
    pub inventory_format: Option<fleet_inventory::Format>,
    /// Only devices matching this pattern.
    #[arg(long, value_name = "EXPR", value_parser = LimitExpr::parse)]
    pub limit: Option<LimitExpr>,
    /// Ad-hoc hosts and the ssh config (see `fleet run --help`).
    #[command(flatten)]
    pub adhoc: crate::adhoc::AdhocArgs,
    /// File with the Ansible Vault password (or an executable printing it)
    /// [default: $ANSIBLE_VAULT_PASSWORD_FILE].
    #[arg(long, value_name = "FILE")]
    pub vault_password_file: Option<PathBuf>,
    /// Which CSV column holds which field, for CMDB/NetBox exports
    /// (e.g. host=primary_ip,platform=device_type).
    #[arg(long, value_name = "FIELD=COLUMN,...")]
    pub csv_columns: Option<fleet_inventory::CsvColumns>,
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

/// `--trace`: which sessions get a slice in trace.json.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TraceArg {
    /// `full` up to 10,000 devices, `sample` above.
    Auto,
    /// Every session.
    Full,
    /// Every failure (up to 10,000) and a stable sample of ~10,000 others.
    Sample,
    /// No session slices.
    Off,
}

/// `--device-logs`: routine per-device log lines at INFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeviceLogsArg {
    /// `on` up to 10,000 devices, `off` above.
    Auto,
    /// Dispatch, session start/end and result lines for every device.
    On,
    /// Only warnings and errors name a device (all lines at `--log-level debug`).
    Off,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Inventory file (fleet YAML, Nornir hosts.yaml or directory, Ansible INI/YAML, CSV).
    #[arg(short, long, env = "FLEET_INVENTORY")]
    pub inventory: Option<PathBuf>,

    /// Inventory format, when detection from the file name and content is not enough.
    #[arg(long, value_name = "FORMAT", value_parser = inventory_format)]
    pub inventory_format: Option<fleet_inventory::Format>,

    /// Only devices matching this Ansible-like pattern (e.g. 'group:core,!name:lab-*').
    #[arg(long, value_name = "EXPR", value_parser = LimitExpr::parse)]
    pub limit: Option<LimitExpr>,

    /// File with the Ansible Vault password (or an executable printing it)
    /// [default: $ANSIBLE_VAULT_PASSWORD_FILE].
    #[arg(long, value_name = "FILE")]
    pub vault_password_file: Option<PathBuf>,

    /// Ask for the SSH password once, on the terminal (never echoed, never an
    /// argument); it is tried after each device's own credentials.
    #[arg(short = 'k', long)]
    pub ask_pass: bool,

    /// Ask for the become (enable) password once, on the terminal: Ansible
    /// hosts with ansible_become true and no password of their own take it,
    /// in other formats every device without an enable secret.
    #[arg(short = 'K', long)]
    pub ask_become_pass: bool,

    /// Which CSV column holds which field, for CMDB/NetBox exports
    /// (e.g. host=primary_ip,platform=device_type).
    #[arg(long, value_name = "FIELD=COLUMN,...")]
    pub csv_columns: Option<fleet_inventory::CsvColumns>,

    /// Worker processes; 0 runs the threads inside the master; `auto`
    /// chooses from the cores, the fd limit and the inventory (the default:
    /// `make bench` found it never slower than the old fixed 2×16, see
    /// docs/performance.md).
    #[arg(short, long, env = "FLEET_PROCESSES", default_value = "auto",
          value_parser = processes_arg)]
    pub processes: Count,

    /// Session threads per worker process; `auto` (the default) chooses
    /// from what the first sessions cost and keeps adjusting during the run.
    #[arg(short, long, env = "FLEET_THREADS", default_value = "auto",
          value_parser = threads_arg)]
    pub threads: Count,

    /// Devices a worker may hold queued beyond its threads [default: measured:
    /// session time against the dispatch round trip, 0 for multi-second sessions,
    /// up to 2048 for microsecond ones].
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
    #[arg(long, value_parser = crate::units::timeout)]
    pub connect_timeout: Option<Duration>,

    /// Time limit for each command [default: inventory's, else 30s].
    /// Given here, it wins over the inventory.
    #[arg(long, value_parser = crate::units::timeout)]
    pub command_timeout: Option<Duration>,

    /// Time limit for a whole session, connect to close [default: inventory's, else 120s].
    /// Given here, it wins over the inventory.
    #[arg(long, value_parser = crate::units::timeout)]
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

    /// Routine per-device log lines (dispatch, session start/end, result)
    /// at INFO; warnings and errors always name their device.
    #[arg(long, value_enum, default_value_t = DeviceLogsArg::Auto)]
    pub device_logs: DeviceLogsArg,

    /// Sessions in trace.json: every one, a sample (every failure plus a
    /// stable spread of the rest), or none.
    #[arg(long, value_enum, default_value_t = TraceArg::Auto)]
    pub trace: TraceArg,

    /// New sessions per second across all workers, e.g. `50/s` (protects
    /// TACACS/RADIUS servers and fragile devices).
    #[arg(long, value_name = "RATE", value_parser = connect_rate)]
    pub connect_rate: Option<f64>,

    /// At most N concurrent sessions to devices of GROUP, whatever P×T is
    /// (`--max-per-group core=10`, repeatable or comma-separated).
    #[arg(long, value_name = "GROUP=N", value_parser = group_caps)]
    pub max_per_group: Vec<BTreeMap<String, usize>>,

    /// Retry failure classes, e.g. `connect_failed=3,timeout=1` (extra attempts).
    #[arg(long, value_name = "CLASS=N", value_parser = retry_classes)]
    pub retry: Vec<BTreeMap<Status, u32>>,

    /// Backoff range for --retry (doubles per attempt, with jitter).
    #[arg(long, default_value = "1s..30s", value_name = "MIN..MAX",
          value_parser = retry_backoff)]
    pub retry_backoff: (Duration, Duration),

    /// Configuration lines to push through config mode (dry run unless --commit).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// One configuration line (repeatable), like --config.
    #[arg(long, value_name = "LINE")]
    pub config_line: Vec<String>,

    /// Actually send --config/--config-line to devices (otherwise print what would be sent).
    #[arg(long)]
    pub commit: bool,

    /// With --commit: commit so that the device rolls the change back after
    /// MINUTES unless confirmed (Junos `commit confirmed`, EOS `commit timer`).
    /// Confirm with a later `commit` (Junos) or `configure session fleet commit` (EOS).
    #[arg(long, value_name = "MINUTES", requires = "commit", value_parser = clap::value_parser!(u32).range(1..=65535))]
    pub commit_confirmed: Option<u32>,

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

    /// Ad-hoc hosts (-w, -x) and the OpenSSH client config (-F).
    #[command(flatten)]
    pub adhoc: crate::adhoc::AdhocArgs,
    /// Print device text as the devices sent it, even on a terminal. By
    /// default, control characters in outputs, errors and names (escape
    /// sequences, bells, lone carriage returns, C1 codes) are shown as
    /// `\x1b`-style escapes when stdout or stderr is a terminal; files
    /// and pipes always get the exact text.
    #[arg(long)]
    pub raw_output: bool,

    /// Continue a run: run only devices without a final result there.
    #[arg(long, value_name = "RUN_DIR")]
    pub resume: Option<PathBuf>,

    /// With --resume: also re-run devices that failed.
    #[arg(long, requires = "resume")]
    pub retry_failed: bool,

    /// --shard K/N, --shard-by KEY.
    #[command(flatten)]
    pub shard: crate::shard::ShardArgs,
}

/// Flags of `fleet bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Simulated lab devices (ignored with --inventory).
    #[arg(long, default_value_t = 200)]
    pub devices: usize,

    /// Lab latency per command.
    #[arg(long, default_value = "500ms", value_parser = crate::units::duration,
          conflicts_with = "zero_latency")]
    pub latency: Duration,

    /// Latency 0: shows the orchestration's own overhead.
    #[arg(long)]
    pub zero_latency: bool,

    /// Layouts PxT (0xT: threads inside the master), optionally @BATCH, and
    /// `bare(N)` (or `bare:N`): a plain ssh2 pool of N threads, the yardstick
    /// every layout is compared with; `auto` runs -p auto -t auto.
    #[arg(long, default_value = "1x1,0x50,4x1,2x50,4x50")]
    pub layouts: String,

    /// Runs per layout, interleaved (A B C A B C).
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,

    /// Output directory: bench.json, bench.csv, bench.svg, and work/ with every run.
    #[arg(long, default_value = "bench")]
    pub out: PathBuf,

    /// Run against this inventory (real devices) instead of a lab.
    #[arg(short, long)]
    pub inventory: Option<PathBuf>,

    /// `noop` passes through to `fleet run --transport noop` (no SSH at all;
    /// without --inventory, --devices generated devices are used, no lab).
    #[arg(long, value_enum, default_value_t = TransportArg::Inventory)]
    pub transport: TransportArg,

    /// Command run on every device.
    #[arg(short, long, default_value = "show version")]
    pub command: String,

    /// --batch-size for layouts without @BATCH [default: fleet's, T/2].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch_size: Option<u32>,

    /// Tokio threads of the lab [default: one per core].
    #[arg(long)]
    pub lab_threads: Option<usize>,

    /// Interrupt (and flag) a run that takes longer than this.
    #[arg(long, default_value = "30m", value_parser = crate::units::duration)]
    pub run_timeout: Duration,

    /// Extra argument for the lab, repeatable (e.g. `--lab-arg=--flavours=linux`:
    /// exec sessions with one command, so one latency per session).
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    pub lab_arg: Vec<String>,

    /// Extra argument for every `fleet run`, repeatable (e.g. `--run-arg=--log-level=warn`).
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    pub run_arg: Vec<String>,

    /// Devices in the one-at-a-time calibration run measuring the handshake (0: skip).
    #[arg(long, default_value_t = 10)]
    pub calibration_devices: usize,
}

/// Flags of `fleet logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The run directory (`runs/<run-id>`).
    pub run_dir: PathBuf,

    /// Only lines from worker N's process(es); the master's lines about
    /// --device are kept too.
    #[arg(long, value_name = "N")]
    pub worker: Option<u32>,

    /// Only lines about this device, from every process.
    #[arg(long, value_name = "NAME")]
    pub device: Option<String>,

    /// Only this level and more severe (error, warn, info, debug, trace).
    #[arg(long, value_name = "LEVEL")]
    pub level: Option<String>,

    /// Only records matching this regular expression (any of their lines).
    #[arg(long, value_name = "REGEX")]
    pub grep: Option<String>,

    /// Only records at or after this time: RFC 3339 UTC
    /// (2026-11-22T00:10:00Z) or a duration from the run start (10s, 1m30s).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// Only records at or before this time (same forms as --since).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,

    /// One JSON object per record instead of the original lines.
    #[arg(long, conflicts_with = "explain")]
    pub json: bool,

    /// Tell the story of --device: dispatch, worker, phases, attempts,
    /// result and what its worker was doing meanwhile.
    #[arg(long, requires = "device")]
    pub explain: bool,

    /// Print log lines as written, even on a terminal (by default control
    /// characters are shown as `\x1b`-style escapes when stdout is one).
    #[arg(long)]
    pub raw_output: bool,
}

/// Flags of `fleet runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Directory holding run directories.
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
}

/// `--inventory-format` values (`fleet`, `nornir`, `ansible-ini`, ...).
/// `-p` / `-t`: a number, or `auto` (fleet decides from what it knows and
/// measures, see `fleet_autotune`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// `auto`.
    Auto,
    /// A number, respected as is.
    Fixed(u32),
}

impl Count {
    /// The number, unless `auto`.
    pub fn fixed(self) -> Option<u32> {
        match self {
            Count::Auto => None,
            Count::Fixed(n) => Some(n),
        }
    }
}

fn count(s: &str, min: u32, max: usize) -> Result<Count, String> {
    if s.eq_ignore_ascii_case("auto") {
        return Ok(Count::Auto);
    }
    match s.parse::<u32>() {
        Ok(n) if n >= min && n as usize <= max => Ok(Count::Fixed(n)),
        _ => Err(format!("expected `auto` or a number from {min} to {max}")),
    }
}

fn processes_arg(s: &str) -> Result<Count, String> {
    count(s, 0, MAX_PROCESSES)
}

fn threads_arg(s: &str) -> Result<Count, String> {
    count(s, 1, MAX_THREADS)
}

fn inventory_format(s: &str) -> Result<fleet_inventory::Format, fleet_inventory::UnknownFormat> {
    s.parse()
}

/// A policy flag's error with its cause, as clap prints it (clap shows
/// only the error's own message, not its source).
fn with_cause(e: fleet_master::policy::PolicyParseError) -> String {
    fleet_proto::chain::Chain(&e).to_string()
}

/// `--connect-rate`: `50/s`, `3000/m`.
fn connect_rate(s: &str) -> Result<f64, String> {
    fleet_master::policy::parse_rate(s).map_err(with_cause)
}

/// `--retry-backoff`: `1s..30s`.
fn retry_backoff(s: &str) -> Result<(Duration, Duration), String> {
    fleet_master::policy::parse_backoff(s).map_err(with_cause)
}

/// One `--max-per-group` value: `core=10` or `core=10,edge=4`.
fn group_caps(s: &str) -> Result<BTreeMap<String, usize>, String> {
    fleet_master::policy::parse_group_caps(&[s.to_string()]).map_err(with_cause)
}

/// One `--retry` value: `connect_failed=3` or `connect_failed=3,timeout=1`.
fn retry_classes(s: &str) -> Result<BTreeMap<Status, u32>, String> {
    fleet_master::policy::parse_retry(&[s.to_string()]).map_err(with_cause)
}

/// Flags of `fleet report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run directory (`runs/<run-id>`); not with --serve.
    #[arg(required_unless_present = "serve")]
    pub run_dir: Option<PathBuf>,

    /// Where to write the report [default: RUN_DIR/report.html]; `-` for stdout.
    #[arg(short, long, value_name = "FILE", conflicts_with = "serve")]
    pub output: Option<PathBuf>,

    /// Serve the reports of every run under --out, read-only, until Ctrl-C.
    #[arg(long, conflicts_with = "run_dir")]
    pub serve: bool,

    /// The runs directory to serve.
    #[arg(long, default_value = "runs", value_name = "DIR", requires = "serve")]
    pub out: PathBuf,

    /// Address to serve on; a non-loopback address is accepted only when named here.
    #[arg(long, value_name = "ADDR", requires = "serve")]
    pub listen: Option<String>,

    /// Bytes kept of each command's output in the page.
    #[arg(long, default_value_t = 16 * 1024, value_name = "BYTES")]
    pub output_cap: usize,
}
