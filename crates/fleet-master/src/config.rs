//! Settings of one run.

use fleet_proto::{HostKeyCheck, Mode, Timeouts};
use std::path::PathBuf;
use std::time::Duration;

/// How results are printed on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// A table at the end, one row per device.
    Table,
    /// One JSON array at the end.
    Json,
    /// One JSON object per device, as results arrive (for jq).
    Jsonl,
    /// Nothing but the summary.
    None,
}

/// Everything a run needs besides its devices.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Worker processes; 0 runs the session threads inside the master.
    pub processes: usize,
    /// Session threads per worker.
    pub threads: usize,
    /// `--batch-size`: devices each worker keeps queued beyond its threads.
    /// `None` sizes it from measured session time against the dispatch
    /// round trip.
    pub batch_size: Option<usize>,
    /// A worker silent this long (no heartbeat) is killed and replaced.
    pub worker_silence: Duration,
    /// Run-wide timeouts, every field set.
    pub timeouts: Timeouts,
    /// Cap on captured bytes per command output.
    pub max_output: usize,
    /// Host-key policy.
    pub host_key_check: HostKeyCheck,
    /// `known_hosts` file; `None` means `~/.ssh/known_hosts`.
    pub known_hosts: Option<PathBuf>,
    /// Further known_hosts files, read but never written.
    pub known_hosts_extra: Vec<PathBuf>,
    /// Mode when neither device nor platform says.
    pub default_mode: Option<Mode>,
    /// Re-runs of a device whose worker died while running it.
    pub retries: u32,
    /// Replacement workers started per slot after crashes.
    pub max_worker_restarts: u32,
    /// Time in-flight sessions get to finish after Ctrl-C.
    pub grace: Duration,
    /// Where the run directory goes (`<out>/<run-id>/`).
    pub out_dir: PathBuf,
    /// An existing run directory to append to (`--resume`).
    pub resume_dir: Option<PathBuf>,
    /// Stdout format.
    pub format: OutputFormat,
    /// Draw the live progress bar (stderr is a terminal).
    pub progress: bool,
    /// Default log level of master and workers (RUST_LOG wins).
    pub log_level: log::LevelFilter,
    /// Routine per-device log lines (dispatch, session start/end, ok
    /// results) at INFO; off, they appear at `--log-level debug` only.
    pub device_logs: bool,
    /// Which sessions `trace.json` shows.
    pub trace: fleet_proto::rundir::TraceMode,
    /// The command line, secrets redacted, for run.json.
    pub command_line: Vec<String>,
    /// The inventory file, for run.json and `--resume`.
    pub inventory: Option<PathBuf>,
    /// The executable to start workers from (the running `fleet`).
    pub worker_exe: PathBuf,
    /// Rate limits, group caps and retries.
    pub policy: crate::policy::Policy,
    /// `--save-outputs DIR`: one file per device and command.
    pub save_outputs: Option<PathBuf>,
    /// `--group-output`: print each distinct output once at the end.
    pub group_output: bool,
    /// `--diff RUN_DIR`: print which outputs changed since that run.
    pub diff_against: Option<PathBuf>,
    /// `--shard K/N`: which part of the selection this run is, recorded in
    /// run.json for `fleet merge`.
    pub shard: Option<fleet_proto::rundir::ShardRecord>,
    /// Whether device text printed on stdout / stderr is escaped
    /// (terminals, unless `--raw-output`); files always get exact text.
    pub escape: fleet_escape::Streams,
    /// `-p auto` and/or `-t auto`: what is known before the first session.
    /// `processes` and `threads` above then hold the probe's layout, and
    /// the run changes the threads as it measures.
    pub auto: Option<fleet_autotune::Facts>,
}

impl RunConfig {
    /// The layout as people say it: `4x50`, or `0x8` for in-process threads.
    pub fn layout(&self) -> String {
        let auto = if self.auto.is_some() { " (auto)" } else { "" };
        format!("{}x{}{auto}", self.processes, self.threads)
    }

    /// `--batch-size` as people read it: a number, or `adaptive`.
    pub fn batch_label(&self) -> String {
        self.batch_size
            .map_or_else(|| "adaptive".to_string(), |n| n.to_string())
    }

    /// The number of session slots: P×T (T for `-p 0`).
    pub fn slots(&self) -> usize {
        self.processes.max(1) * self.threads
    }
}
