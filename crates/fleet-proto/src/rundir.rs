//! The run directory as a typed, versioned contract (schema `fleet-run/1`).
//!
//! A run leaves `<out>/<run-id>/` behind, the product's main output. The
//! master writes it; `fleet logs`, `fleet runs`, `fleet bench`, `fleet
//! merge`, reports and the tests read it. All of them go through these
//! types, so a field changes in one place and every reader follows:
//!
//! | file | type | written |
//! |---|---|---|
//! | `results.jsonl` | one [`ResultLine`] per line | appended as results arrive |
//! | `run.json` | [`RunJson`] | at the start, replaced at the end |
//! | `workers.json` | array of [`WorkerRecord`] | at the end |
//! | `trace.json` | Chrome trace events, [`TraceCategory`] | at the end |
//! | `master.log`, `worker-<id>.log` | log lines; [`crate::event::Lifecycle`] messages | as they happen |
//!
//! [`SCHEMA`] names the layout. A reader refuses a `run.json` with another
//! schema ([`Schema`] does not deserialize) instead of misreading it;
//! a `run.json` without the field predates versioning and has the same
//! layout as `fleet-run/1`. Within one schema, fields are only ever added:
//! readers ignore fields they do not know.
//!
//! `docs/run-directory.md` documents every file for people and tools
//! outside Rust, with a JSON Schema for result lines.

use crate::result::{DeviceResult, Status};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufRead};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

/// The run-directory schema this fleet writes and reads.
pub const SCHEMA: &str = "fleet-run/1";

/// `results.jsonl`: one [`ResultLine`] per device (per attempt that ended
/// it; a resumed run appends).
pub const RESULTS_FILE: &str = "results.jsonl";
/// `run.json`: [`RunJson`].
pub const RUN_FILE: &str = "run.json";
/// `workers.json`: an array of [`WorkerRecord`].
pub const WORKERS_FILE: &str = "workers.json";
/// `trace.json`: Chrome trace events (ui.perfetto.dev).
pub const TRACE_FILE: &str = "trace.json";
/// The master's log.
pub const MASTER_LOG: &str = "master.log";

/// The log file of worker slot `id` (every incarnation of the slot appends).
pub fn worker_log(id: u32) -> String {
    format!("worker-{id}.log")
}

/// One line of `results.jsonl`: the final word on one device. The same
/// type crosses the worker→master IPC, so the line is exactly what the
/// worker reported plus the master's bookkeeping (attempt, batch).
pub type ResultLine = DeviceResult;

/// A line of a merged run's `results.jsonl` (`fleet merge`): a shard's
/// [`ResultLine`] with the shard that ran it. The result line itself
/// cannot carry the field: it is also the IPC result type, whose encoding
/// (bincode) allows no optional fields. Read an ordinary run's lines as
/// this type and `shard` is `None`; read a merged run's lines as
/// [`ResultLine`] and the `shard` field is ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardedLine<L = ResultLine> {
    /// The result line as the shard wrote it (`&ResultLine` to write one
    /// without a copy).
    #[serde(flatten)]
    pub result: L,
    /// 1-based index of the shard that ran the device; `None` for a line
    /// of a run that was not merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<u32>,
}

/// A type [`ResultsReader`] can read a `results.jsonl` line as: the whole
/// [`ResultLine`], a [`ShardedLine`], or a reader's own subset of the
/// fields (a table that does not keep outputs) that still names the
/// device, so [`ResultsReader::latest`] can find each device's last word.
pub trait ResultsLine: serde::de::DeserializeOwned {
    /// The device the line is about.
    fn device(&self) -> &str;
}

impl ResultsLine for ResultLine {
    fn device(&self) -> &str {
        &self.device
    }
}

impl ResultsLine for ShardedLine {
    fn device(&self) -> &str {
        &self.result.device
    }
}

/// The version tag of a run directory, in `run.json` as `"schema"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Schema {
    /// `fleet-run/1`, the only one so far.
    #[default]
    #[serde(rename = "fleet-run/1")]
    V1,
}

impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SCHEMA)
    }
}

/// What a run directory cannot be read for.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    /// A file could not be read.
    #[error("failed to read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A file is not what the schema says (or is another schema's).
    #[error("failed to parse {path}{}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The line, for `results.jsonl`.
        line: Option<usize>,
        /// What did not match.
        #[source]
        source: serde_json::Error,
    },
}

impl RunDirError {
    fn io(path: &Path) -> impl FnOnce(io::Error) -> RunDirError + '_ {
        move |source| RunDirError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// P×T and batch size of a run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RunLayout {
    /// Worker processes (0: session threads inside the master).
    pub processes: usize,
    /// Session threads per worker.
    pub threads: usize,
    /// `--batch-size` (devices queued per worker beyond its threads);
    /// `None`: sized by the dispatcher from measured session times.
    pub batch_size: Option<usize>,
    /// `-p auto` / `-t auto`: what fleet knew and measured, and every
    /// decision it took over the run (`processes`/`threads` above are the
    /// probe's layout, the one the workers started with).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto: Option<fleet_autotune::AutoLog>,
}

/// Run-wide time limits, milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TimeoutsMs {
    /// TCP connect and SSH handshake.
    pub connect: Option<u64>,
    /// Each command.
    pub command: Option<u64>,
    /// A whole session.
    pub session: Option<u64>,
}

/// `run.json`: what was run, how, and (once it ended) how it went. Written
/// when the run starts (the end fields `null`) and replaced when it ends; a
/// `run.json` whose `ended_at` is `null` belongs to a running or crashed
/// master.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunJson {
    /// The schema, [`SCHEMA`].
    #[serde(default)]
    pub schema: Schema,
    /// Run id: the directory name (`20261122T001500Z-3fa9`).
    pub run_id: String,
    /// Version of the fleet that ran it.
    pub fleet_version: String,
    /// Host name of the master.
    #[serde(default)]
    pub host: String,
    /// The command line, as given (`--config-line` values included).
    #[serde(default)]
    pub command_line: Vec<String>,
    /// Absolute path of the inventory (used by `--resume`).
    #[serde(default)]
    pub inventory: Option<PathBuf>,
    /// P×T and batch size.
    #[serde(default)]
    pub layout: RunLayout,
    /// Run-wide time limits.
    #[serde(default)]
    pub timeouts_ms: TimeoutsMs,
    /// RFC 3339 UTC start time.
    pub started_at: String,
    /// RFC 3339 UTC end time; `None` while running or after a master crash.
    #[serde(default)]
    pub ended_at: Option<String>,
    /// Devices in the run (for a resumed run: those it ran).
    #[serde(default)]
    pub devices: usize,
    /// Wall time of the master, ms; `None` until the end.
    #[serde(default)]
    pub wall_ms: Option<f64>,
    /// Devices per final status (empty until the end).
    #[serde(default)]
    pub totals: BTreeMap<Status, usize>,
    /// Whether SIGINT/SIGTERM stopped it; `None` until the end.
    #[serde(default)]
    pub interrupted: Option<bool>,
    /// The process exit code; `None` until the end.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// Whether this was a `--resume` of an earlier run.
    #[serde(default)]
    pub resumed: bool,
    /// `--shard K/N`: which part of a sharded run this is (`null` otherwise).
    #[serde(default)]
    pub shard: Option<ShardRecord>,
    /// Which sessions `trace.json` holds (`--trace`); `null` in run
    /// directories written before the choice existed (every session).
    #[serde(default)]
    pub trace: Option<TraceRecord>,
    /// Set when `fleet merge` made this run from shards (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<MergeRecord>,
}

/// How much of a run `trace.json` shows: every session costs ~150 bytes
/// there, so a million-device run keeps a sample (`--trace`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceMode {
    /// A slice for every session.
    #[default]
    Full,
    /// Every failed session (up to a cap) and an evenly spread, stable
    /// sample of the others (chosen by a hash of the device name).
    Sample,
    /// No session slices: process names and the master's marks only.
    Off,
}

impl TraceMode {
    /// The name used on the command line and in `run.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            TraceMode::Full => "full",
            TraceMode::Sample => "sample",
            TraceMode::Off => "off",
        }
    }
}

impl fmt::Display for TraceMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `trace` object of `run.json`: what `trace.json` left out, so a
/// reader does not mistake a sampled timeline for the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceRecord {
    /// The mode the run used.
    pub mode: TraceMode,
    /// Sessions with a slice in `trace.json` (0 until the run ends).
    #[serde(default)]
    pub sessions: usize,
    /// Of those, sessions that did not end `ok`.
    #[serde(default)]
    pub failed: usize,
}

/// The `merge` object of a merged run's `run.json`: which shards went in
/// and whether every device of the selection came out exactly once.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MergeRecord {
    /// Number of shards of the run.
    pub n: u32,
    /// The `--shard-by` key the shards were split by.
    pub by: String,
    /// The shards' common selection digest ([`ShardRecord::selection_digest`]).
    pub selection_digest: String,
    /// Devices in the selection, across all shards.
    pub selected: usize,
    /// Every device exactly once and no shard missing.
    pub complete: bool,
    /// The shards merged, by index.
    pub shards: Vec<MergedShard>,
    /// Indexes of the shards not given to the merge.
    pub missing_shards: Vec<u32>,
    /// Devices of the selection with no result in any shard.
    pub missing_devices: usize,
    /// Those devices by name, with the shard that should have run them
    /// (known when the merge could rebuild the selection).
    pub missing_named: Vec<MissingDevice>,
    /// Devices with results in more than one shard, with those shards.
    pub duplicate_devices: BTreeMap<String, Vec<u32>>,
    /// When the merge ran (RFC 3339).
    pub merged_at: Option<String>,
}

/// One shard in [`MergeRecord::shards`]: where it ran and how it ended.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MergedShard {
    /// 1-based shard index.
    pub k: u32,
    /// The shard's run id.
    pub run_id: String,
    /// Host name of the shard's master.
    pub host: Option<String>,
    /// The shard's run directory (absolute).
    pub dir: Option<PathBuf>,
    /// The shard's start time.
    pub started_at: Option<String>,
    /// The shard's end time; `None` if its master never finished.
    pub ended_at: Option<String>,
    /// Devices the shard was given.
    pub devices: usize,
    /// Result lines it wrote.
    pub results: usize,
    /// The shard's P×T.
    pub layout: Option<RunLayout>,
    /// The shard's wall time, ms.
    pub wall_ms: Option<f64>,
    /// The shard's exit code.
    pub exit_code: Option<i32>,
}

/// A device of [`MergeRecord::missing_named`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MissingDevice {
    /// Device name.
    pub device: String,
    /// The shard that should have run it.
    pub shard: u32,
}

/// The `shard` object of a shard's `run.json`, so `fleet merge` can check
/// that the run directories it is given are the N parts of one selection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRecord {
    /// 1-based shard index.
    pub k: u32,
    /// Number of shards.
    pub n: u32,
    /// The `--shard-by` key (`name`, `group:site`, ...).
    pub by: String,
    /// SHA-256 of the sorted names of the devices split into shards (the
    /// inventory after `--limit`), `sha256:<hex>`: equal in every shard of
    /// one run (`fleet_shard::selection_digest`).
    pub selection_digest: String,
    /// Devices in that selection, across all shards.
    pub selected: usize,
    /// The `--limit` that made the selection, so a merge can rebuild it
    /// from the inventory and name the devices of a missing shard.
    #[serde(default)]
    pub limit: Option<String>,
    /// Devices in this shard.
    pub devices: usize,
}

impl RunJson {
    /// Reads `<run_dir>/run.json`.
    pub fn read(run_dir: &Path) -> Result<RunJson, RunDirError> {
        let path = run_dir.join(RUN_FILE);
        let text = std::fs::read_to_string(&path).map_err(RunDirError::io(&path))?;
        serde_json::from_str(&text).map_err(|source| RunDirError::Parse {
            path,
            line: None,
            source,
        })
    }

    /// Devices that ended `ok`.
    pub fn ok(&self) -> usize {
        self.totals.get(&Status::Ok).copied().unwrap_or(0)
    }

    /// Devices that ended any other way.
    pub fn failed(&self) -> usize {
        self.totals
            .iter()
            .filter(|(st, _)| !st.is_ok())
            .map(|(_, n)| n)
            .sum()
    }
}

/// One worker incarnation, an element of `workers.json`. A slot that was
/// restarted after a crash has one record per generation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct WorkerRecord {
    /// Slot id.
    pub id: u32,
    /// Incarnation of the slot (0 first, then one per restart).
    pub generation: u32,
    /// OS pid (the master's for `-p 0`).
    pub pid: u32,
    /// When it was started (RFC 3339).
    pub started_at: String,
    /// When its hello arrived over IPC (RFC 3339): the end of its start-up.
    #[serde(default)]
    pub hello_at: Option<String>,
    /// When its exit was seen.
    #[serde(default)]
    pub exited_at: Option<String>,
    /// `exit 0`, `signal 9 (SIGKILL)`, ...
    #[serde(default)]
    pub exit: Option<String>,
    /// Whether the master counted it as crashed.
    #[serde(default)]
    pub crashed: bool,
    /// Devices it reported results for.
    #[serde(default)]
    pub devices: u64,
    /// User CPU ms (from the worker's own getrusage at exit).
    #[serde(default)]
    pub cpu_user_ms: Option<f64>,
    /// System CPU ms.
    #[serde(default)]
    pub cpu_sys_ms: Option<f64>,
    /// Peak RSS in KiB.
    #[serde(default)]
    pub max_rss_kib: Option<u64>,
    /// Messages the worker sent the master.
    #[serde(default)]
    pub ipc_messages_in: u64,
    /// Bytes the worker sent the master.
    #[serde(default)]
    pub ipc_bytes_in: u64,
    /// Messages the master sent the worker.
    #[serde(default)]
    pub ipc_messages_out: u64,
    /// Bytes the master sent the worker.
    #[serde(default)]
    pub ipc_bytes_out: u64,
    /// Batches it received.
    #[serde(default)]
    pub batches: u64,
    /// In a merged run (`fleet merge`): the shard whose master ran it
    /// (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<u32>,
    /// In a merged run: a name unique across shards, `s<K>-w<id>`
    /// (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl WorkerRecord {
    /// User + system CPU, ms (0 when the worker never said bye).
    pub fn cpu_ms(&self) -> f64 {
        self.cpu_user_ms.unwrap_or(0.0) + self.cpu_sys_ms.unwrap_or(0.0)
    }

    /// Reads `<run_dir>/workers.json`.
    pub fn read_all(run_dir: &Path) -> Result<Vec<WorkerRecord>, RunDirError> {
        let path = run_dir.join(WORKERS_FILE);
        let text = std::fs::read_to_string(&path).map_err(RunDirError::io(&path))?;
        serde_json::from_str(&text).map_err(|source| RunDirError::Parse {
            path,
            line: None,
            source,
        })
    }
}

/// The `cat` of an event in `trace.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceCategory {
    /// A complete slice (`ph: "X"`) per device session, named after the
    /// device, on its worker's process track and its thread's track.
    Session,
    /// A [`TracePhase`] slice nested inside a session.
    Phase,
    /// An instant event (`ph: "i"`) on the master's track (on the worker's
    /// for its start and exit), named `batch`, `worker start`,
    /// `worker exit` or `worker crashed`; `args` holds `worker` (slot) and
    /// `detail` (free text).
    Master,
}

/// The phases nested in a session slice of `trace.json`, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TracePhase {
    /// TCP connect, SSH handshake and host-key check.
    Connect,
    /// Authentication.
    Auth,
    /// Every command, first send to last byte.
    Commands,
}

impl TracePhase {
    /// In session order.
    pub const ALL: [TracePhase; 3] = [TracePhase::Connect, TracePhase::Auth, TracePhase::Commands];

    /// The name in `trace.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            TracePhase::Connect => "connect",
            TracePhase::Auth => "auth",
            TracePhase::Commands => "commands",
        }
    }
}

/// Reads `results.jsonl` line by line, each line as a `T` (by default the
/// whole [`ResultLine`]; see [`ResultsLine`]).
///
/// The master appends a line per result and flushes after each batch of
/// worker messages, so a master killed mid-write can leave a torn last
/// line (no newline at the end, not valid JSON). The reader skips that
/// line and counts it in [`ResultsReader::torn`]; any other line that does
/// not parse is an error naming file and line, because it means the file
/// is not what the schema says.
pub struct ResultsReader<R, T = ResultLine> {
    lines: io::Lines<R>,
    path: PathBuf,
    line: usize,
    /// The line read ahead, to know whether the current one is the last.
    next: Option<io::Result<String>>,
    /// Torn last lines skipped (0 or 1).
    torn: usize,
    /// What each line is read as.
    kind: PhantomData<fn() -> T>,
}

impl ResultsReader<io::BufReader<std::fs::File>> {
    /// Opens `<run_dir>/results.jsonl`, reading whole [`ResultLine`]s.
    pub fn open(run_dir: &Path) -> Result<Self, RunDirError> {
        ResultsReader::open_as(run_dir)
    }
}

impl<T: ResultsLine> ResultsReader<io::BufReader<std::fs::File>, T> {
    /// Opens `<run_dir>/results.jsonl`, reading each line as a `T`.
    pub fn open_as(run_dir: &Path) -> Result<Self, RunDirError> {
        let path = run_dir.join(RESULTS_FILE);
        let file = std::fs::File::open(&path).map_err(RunDirError::io(&path))?;
        Ok(ResultsReader::new_as(
            io::BufReader::with_capacity(256 * 1024, file),
            path,
        ))
    }

    /// Like [`ResultsReader::open_as`], but a run directory without a
    /// results file (a master that died before its first result) reads as
    /// no lines rather than an error.
    pub fn open_or_empty(run_dir: &Path) -> Result<Vec<T>, RunDirError> {
        match ResultsReader::open_as(run_dir) {
            Ok(r) => r.read_all(),
            Err(RunDirError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                Ok(Vec::new())
            }
            Err(e) => Err(e),
        }
    }
}

impl<R: BufRead> ResultsReader<R> {
    /// Reads whole [`ResultLine`]s from `reader`; `path` names it in errors.
    pub fn new(reader: R, path: PathBuf) -> Self {
        ResultsReader::new_as(reader, path)
    }
}

impl<R: BufRead, T: ResultsLine> ResultsReader<R, T> {
    /// Reads each line from `reader` as a `T`; `path` names it in errors.
    pub fn new_as(reader: R, path: PathBuf) -> Self {
        let mut lines = reader.lines();
        let next = lines.next();
        ResultsReader {
            lines,
            path,
            line: 0,
            next,
            torn: 0,
            kind: PhantomData,
        }
    }

    /// Torn last lines skipped so far (a master killed mid-write).
    pub fn torn(&self) -> usize {
        self.torn
    }

    /// Every line, in file order (a resumed run's lines follow the
    /// earlier run's, so one device can appear more than once).
    pub fn read_all(mut self) -> Result<Vec<T>, RunDirError> {
        let mut out = Vec::new();
        for r in &mut self {
            out.push(r?);
        }
        Ok(out)
    }

    /// The last line of each device, in the order of first appearance:
    /// its final word after any number of `--resume`s.
    pub fn latest(self) -> Result<Vec<T>, RunDirError> {
        let mut at: std::collections::HashMap<String, usize> = Default::default();
        let mut out: Vec<T> = Vec::new();
        for r in self {
            let r = r?;
            match at.get(r.device()) {
                Some(&i) => out[i] = r,
                None => {
                    at.insert(r.device().to_string(), out.len());
                    out.push(r);
                }
            }
        }
        Ok(out)
    }
}

impl<R: BufRead, T: ResultsLine> Iterator for ResultsReader<R, T> {
    type Item = Result<T, RunDirError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let current = self.next.take()?;
            self.next = self.lines.next();
            self.line += 1;
            let text = match current {
                Ok(t) => t,
                // Cut inside a multi-byte character.
                Err(e) if self.next.is_none() && e.kind() == io::ErrorKind::InvalidData => {
                    self.torn += 1;
                    return None;
                }
                Err(source) => {
                    return Some(Err(RunDirError::Io {
                        path: self.path.clone(),
                        source,
                    }))
                }
            };
            if text.trim().is_empty() {
                continue;
            }
            match serde_json::from_str(&text) {
                Ok(r) => return Some(Ok(r)),
                // Only the very last line may be torn.
                Err(e) if self.next.is_none() && e.is_eof() => {
                    self.torn += 1;
                    return None;
                }
                Err(source) => {
                    return Some(Err(RunDirError::Parse {
                        path: self.path.clone(),
                        line: Some(self.line),
                        source,
                    }))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{CommandOutput, Timings, WorkerRef};

    fn line(device: &str, status: Status) -> ResultLine {
        ResultLine {
            device: device.into(),
            host: "127.0.0.1".into(),
            port: 22,
            status,
            error: (!status.is_ok()).then(|| "boom".into()),
            outputs: vec![CommandOutput {
                command: "show version".into(),
                stdout: "Version 1\n\"quoted\" ü".into(),
                stderr: String::new(),
                exit_status: Some(0),
                truncated: false,
            }],
            worker: Some(WorkerRef {
                id: 1,
                pid: 42,
                thread: "w1-t3".into(),
            }),
            timings_ms: Timings {
                connect: 1.5,
                auth: 2.25,
                commands: 3.0,
                total: 7.0,
            },
            attempt: 1,
            started_us: 1_700_000_000_000_000,
            batch: Some(3),
        }
    }

    fn jsonl(lines: &[ResultLine]) -> String {
        lines
            .iter()
            .map(|l| serde_json::to_string(l).unwrap() + "\n")
            .collect()
    }

    fn reader(text: &str) -> ResultsReader<io::Cursor<Vec<u8>>> {
        ResultsReader::new(
            io::Cursor::new(text.as_bytes().to_vec()),
            PathBuf::from("results.jsonl"),
        )
    }

    #[test]
    fn result_lines_round_trip() {
        let lines = vec![line("r1", Status::Ok), line("r2", Status::Timeout)];
        let back = reader(&jsonl(&lines)).read_all().unwrap();
        assert_eq!(back, lines);
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_counted() {
        let lines = vec![line("r1", Status::Ok), line("r2", Status::Ok)];
        let mut text = jsonl(&lines);
        let third = serde_json::to_string(&line("r3", Status::Ok)).unwrap();
        text.push_str(&third[..third.len() / 2]);
        let mut r = reader(&text);
        let got: Vec<_> = (&mut r).map(Result::unwrap).collect();
        assert_eq!(got, lines);
        assert_eq!(r.torn(), 1);
    }

    #[test]
    fn a_broken_line_before_the_last_is_an_error_naming_the_line() {
        let mut text = jsonl(&[line("r1", Status::Ok)]);
        text.push_str("{\"device\": \n");
        text.push_str(&jsonl(&[line("r2", Status::Ok)]));
        let e = reader(&text).read_all().unwrap_err();
        assert_eq!(e.to_string(), "failed to parse results.jsonl:2");
        // A complete last line that is not a result is no torn write either.
        let e = reader("{\"x\": 1}\n").read_all().unwrap_err();
        assert!(matches!(e, RunDirError::Parse { line: Some(1), .. }), "{e}");
    }

    #[test]
    fn latest_keeps_each_devices_last_word_in_first_seen_order() {
        let mut retried = line("r1", Status::Ok);
        retried.attempt = 2;
        let text = jsonl(&[
            line("r1", Status::Cancelled),
            line("r2", Status::Ok),
            retried.clone(),
        ]);
        let got = reader(&text).latest().unwrap();
        assert_eq!(got, vec![retried, line("r2", Status::Ok)]);
    }

    fn run_json() -> RunJson {
        RunJson {
            schema: Schema::V1,
            run_id: "20261122T001500Z-3fa9".into(),
            fleet_version: "0.1.0".into(),
            host: "box".into(),
            command_line: vec!["fleet".into(), "run".into()],
            inventory: Some("/inv.yaml".into()),
            layout: RunLayout {
                processes: 2,
                threads: 16,
                batch_size: Some(8),
                auto: None,
            },
            timeouts_ms: TimeoutsMs {
                connect: Some(5000),
                command: Some(30000),
                session: Some(120000),
            },
            started_at: "2026-11-22T00:15:00.000000Z".into(),
            ended_at: Some("2026-11-22T00:15:01.000000Z".into()),
            devices: 3,
            wall_ms: Some(1000.5),
            totals: [(Status::Ok, 2), (Status::Timeout, 1)].into(),
            interrupted: Some(false),
            exit_code: Some(1),
            resumed: false,
            shard: None,
            trace: Some(TraceRecord {
                mode: TraceMode::Sample,
                sessions: 2,
                failed: 1,
            }),
            merge: None,
        }
    }

    #[test]
    fn run_json_round_trips_and_names_its_schema() {
        let doc = run_json();
        let text = serde_json::to_string_pretty(&doc).unwrap();
        assert!(text.contains("\"schema\": \"fleet-run/1\""), "{text}");
        assert!(text.contains("\"timeout\": 1"), "{text}");
        assert!(text.contains("\"mode\": \"sample\""), "{text}");
        assert_eq!(serde_json::from_str::<RunJson>(&text).unwrap(), doc);
        assert_eq!((doc.ok(), doc.failed()), (2, 1));
    }

    #[test]
    fn another_schema_is_refused_and_a_missing_one_is_v1() {
        let mut v = serde_json::to_value(run_json()).unwrap();
        v["schema"] = "fleet-run/2".into();
        let e = serde_json::from_value::<RunJson>(v.clone()).unwrap_err();
        assert!(e.to_string().contains("fleet-run/2"), "{e}");
        v.as_object_mut().unwrap().remove("schema");
        assert_eq!(
            serde_json::from_value::<RunJson>(v).unwrap().schema,
            Schema::V1
        );
        assert_eq!(Schema::V1.to_string(), SCHEMA);
    }

    #[test]
    fn a_run_json_without_trace_reads_as_unknown_and_modes_have_cli_names() {
        let mut v = serde_json::to_value(run_json()).unwrap();
        v.as_object_mut().unwrap().remove("trace");
        assert_eq!(serde_json::from_value::<RunJson>(v).unwrap().trace, None);
        for m in [TraceMode::Full, TraceMode::Sample, TraceMode::Off] {
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(json, format!("\"{m}\""));
        }
    }

    #[test]
    fn worker_records_round_trip_and_tolerate_missing_end_fields() {
        let w = WorkerRecord {
            id: 1,
            generation: 2,
            pid: 7,
            started_at: "2026-11-22T00:15:00.000000Z".into(),
            hello_at: Some("2026-11-22T00:15:00.010000Z".into()),
            cpu_user_ms: Some(1.0),
            cpu_sys_ms: Some(2.0),
            ..WorkerRecord::default()
        };
        let text = serde_json::to_string(std::slice::from_ref(&w)).unwrap();
        assert_eq!(
            serde_json::from_str::<Vec<WorkerRecord>>(&text).unwrap(),
            std::slice::from_ref(&w)
        );
        assert_eq!(w.cpu_ms(), 3.0);
        let minimal = r#"[{"id":0,"generation":0,"pid":1,"started_at":"x"}]"#;
        let back: Vec<WorkerRecord> = serde_json::from_str(minimal).unwrap();
        assert_eq!(back[0].exit, None);
    }

    #[test]
    fn sharded_lines_carry_their_shard_and_read_as_plain_result_lines() {
        let r = line("r1", Status::Ok);
        let text = serde_json::to_string(&ShardedLine {
            result: &r,
            shard: Some(2),
        })
        .unwrap()
            + "\n";
        assert!(text.contains("\"shard\":2"), "{text}");
        let merged: Vec<ShardedLine> =
            ResultsReader::new_as(io::Cursor::new(text.clone()), "m".into())
                .read_all()
                .unwrap();
        assert_eq!(merged[0].result, r);
        assert_eq!(merged[0].shard, Some(2));
        // Readers that know nothing of merges read the same line.
        assert_eq!(reader(&text).read_all().unwrap(), vec![r.clone()]);
        // An ordinary run's line, read as a sharded one, has no shard, and
        // writes back byte for byte.
        let plain = jsonl(std::slice::from_ref(&r));
        let mut back: ResultsReader<_, ShardedLine> =
            ResultsReader::new_as(io::Cursor::new(plain.clone()), "p".into());
        let one = back.next().unwrap().unwrap();
        assert_eq!(one.shard, None);
        assert_eq!(serde_json::to_string(&one).unwrap() + "\n", plain);
    }

    /// A reader's own subset of the fields.
    #[derive(Deserialize)]
    struct NameOnly {
        device: String,
    }

    impl ResultsLine for NameOnly {
        fn device(&self) -> &str {
            &self.device
        }
    }

    #[test]
    fn a_subset_type_reads_with_the_same_torn_line_rules() {
        let mut text = jsonl(&[line("r1", Status::Ok), line("r2", Status::Ok)]);
        text.push_str(&jsonl(&[line("r1", Status::Timeout)]));
        text.push_str("{\"device\":\"r9\"");
        let mut r: ResultsReader<_, NameOnly> =
            ResultsReader::new_as(io::Cursor::new(text.clone()), "x".into());
        let names: Vec<String> = (&mut r).map(|l| l.unwrap().device).collect();
        assert_eq!(names, ["r1", "r2", "r1"]);
        assert_eq!(r.torn(), 1);
        let latest: Vec<NameOnly> = ResultsReader::new_as(io::Cursor::new(text), "x".into())
            .latest()
            .unwrap();
        assert_eq!(latest.len(), 2);
    }

    #[test]
    fn a_missing_results_file_reads_as_empty_only_when_asked() {
        let dir = std::env::temp_dir().join(format!("fleet-rundir-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let none: Vec<ResultLine> = ResultsReader::open_or_empty(&dir).unwrap();
        assert!(none.is_empty());
        let e = ResultsReader::open(&dir).err().unwrap();
        assert!(matches!(e, RunDirError::Io { .. }), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn merge_fields_of_worker_records_appear_only_in_merged_runs() {
        let w = WorkerRecord {
            id: 3,
            started_at: "x".into(),
            ..WorkerRecord::default()
        };
        let text = serde_json::to_string(&w).unwrap();
        assert!(!text.contains("shard") && !text.contains("name"), "{text}");
        let merged = WorkerRecord {
            shard: Some(2),
            name: Some("s2-w3".into()),
            ..w
        };
        let text = serde_json::to_string(&merged).unwrap();
        assert_eq!(serde_json::from_str::<WorkerRecord>(&text).unwrap(), merged);
    }
}
