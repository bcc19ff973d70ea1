//! Past runs: one summary per run directory, from its `run.json`.

use crate::error::LogsError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What `run.json` says about a run (only the fields `fleet runs` and
/// `fleet logs` use; unknown fields are ignored, missing ones default).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RunInfo {
    /// Run id (the directory name).
    pub run_id: String,
    /// RFC 3339 start time.
    pub started_at: Option<String>,
    /// RFC 3339 end time; `None` while running or after a master crash.
    pub ended_at: Option<String>,
    /// Worker layout.
    pub layout: Layout,
    /// Devices in the run.
    pub devices: usize,
    /// Wall time in milliseconds.
    pub wall_ms: Option<f64>,
    /// Devices per status name.
    pub totals: BTreeMap<String, usize>,
    /// Whether Ctrl-C/SIGTERM stopped it.
    pub interrupted: Option<bool>,
    /// Whether it was a `--resume` of an earlier run.
    pub resumed: bool,
    /// Set when `fleet merge` made this run from shards.
    pub merge: Option<MergeInfo>,
}

/// The `merge` object of a merged run's `run.json` (the parts `fleet runs` shows).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MergeInfo {
    /// Number of shards of the run.
    pub n: u32,
    /// The shards merged.
    pub shards: Vec<serde_json::Value>,
    /// Every device exactly once, no shard missing.
    pub complete: bool,
}

/// P×T of a run.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(default)]
pub struct Layout {
    /// Worker processes (0: threads inside the master).
    pub processes: usize,
    /// Threads per worker.
    pub threads: usize,
}

impl RunInfo {
    /// Reads `<run_dir>/run.json`.
    pub fn read(run_dir: &Path) -> Result<RunInfo, LogsError> {
        let path = run_dir.join("run.json");
        let text = std::fs::read_to_string(&path).map_err(LogsError::io(&path))?;
        serde_json::from_str(&text).map_err(|source| LogsError::Json { path, source })
    }

    /// When the run started, if `run.json` says.
    pub fn start(&self) -> Option<SystemTime> {
        self.started_at.as_deref().and_then(crate::filter::parse_ts)
    }

    /// Devices that ended `ok`.
    pub fn ok(&self) -> usize {
        self.totals.get("ok").copied().unwrap_or(0)
    }

    /// Devices that ended any other way.
    pub fn failed(&self) -> usize {
        self.totals
            .iter()
            .filter(|(k, _)| k.as_str() != "ok")
            .map(|(_, n)| n)
            .sum()
    }
}

/// One line of `fleet runs`.
#[derive(Debug)]
pub struct RunSummary {
    /// The run directory.
    pub dir: PathBuf,
    /// Its `run.json`, or why it could not be read.
    pub info: Result<RunInfo, LogsError>,
}

impl RunSummary {
    fn sort_key(&self) -> (String, String) {
        let id = self
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let start = self
            .info
            .as_ref()
            .ok()
            .and_then(|i| i.started_at.clone())
            .unwrap_or_default();
        (start, id)
    }
}

impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = self
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let info = match &self.info {
            Ok(info) => info,
            Err(e) => return write!(f, "{id}  (unreadable run.json: {e})"),
        };
        let started = info.started_at.as_deref().unwrap_or("?");
        // Seconds are enough to tell runs apart in a listing.
        let started = started.split('.').next().unwrap_or(started);
        let started = started.trim_end_matches('Z');
        write!(
            f,
            "{id}  {started}Z  {}x{}  {} devices  ok {} failed {}",
            info.layout.processes,
            info.layout.threads,
            info.devices,
            info.ok(),
            info.failed()
        )?;
        match (info.wall_ms, &info.ended_at) {
            (Some(ms), Some(_)) => write!(f, "  {:.1} s", ms / 1e3)?,
            _ => write!(f, "  unfinished")?,
        }
        if info.interrupted == Some(true) {
            write!(f, "  interrupted")?;
        }
        if info.resumed {
            write!(f, "  resumed")?;
        }
        if let Some(m) = &info.merge {
            write!(f, "  merged {}/{} shards", m.shards.len(), m.n)?;
            if !m.complete {
                write!(f, " (incomplete)")?;
            }
        }
        Ok(())
    }
}

/// Every run directory under `out` (a subdirectory holding `run.json`
/// or `results.jsonl`), oldest first, newest last.
pub fn list_runs(out: &Path) -> Result<Vec<RunSummary>, LogsError> {
    let mut runs = Vec::new();
    for entry in std::fs::read_dir(out).map_err(LogsError::io(out))? {
        let entry = entry.map_err(LogsError::io(out))?;
        let dir = entry.path();
        if !dir.is_dir() {
            continue;
        }
        if !dir.join("run.json").is_file() && !dir.join("results.jsonl").is_file() {
            continue;
        }
        let info = RunInfo::read(&dir);
        runs.push(RunSummary { dir, info });
    }
    runs.sort_by_key(|r| r.sort_key());
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_run(out: &Path, id: &str, json: &str) {
        let dir = out.join(id);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("run.json"), json).unwrap();
    }

    #[test]
    fn lists_runs_oldest_first_with_totals() {
        let out = tempfile::tempdir().unwrap();
        write_run(
            out.path(),
            "20261122T001500Z-bbbb",
            r#"{"run_id":"20261122T001500Z-bbbb","started_at":"2026-11-22T00:15:00.120000Z",
               "ended_at":"2026-11-22T00:15:03Z","layout":{"processes":3,"threads":5,"batch_size":2},
               "devices":30,"wall_ms":2950.0,"totals":{"ok":28,"timeout":1,"worker_lost":1},
               "interrupted":false,"exit_code":1,"resumed":false,"extra":"ignored"}"#,
        );
        write_run(
            out.path(),
            "20261122T001000Z-aaaa",
            r#"{"run_id":"20261122T001000Z-aaaa","started_at":"2026-11-22T00:10:00.000001Z",
               "ended_at":null,"layout":{"processes":0,"threads":8},"devices":4,
               "wall_ms":null,"totals":{},"interrupted":null,"resumed":false}"#,
        );
        write_run(out.path(), "20261122T002000Z-cccc", "{not json");
        std::fs::create_dir(out.path().join("not-a-run")).unwrap();
        std::fs::write(out.path().join("stray.txt"), "").unwrap();
        let runs = list_runs(out.path()).unwrap();
        let lines: Vec<String> = runs.iter().map(|r| r.to_string()).collect();
        assert_eq!(lines.len(), 3, "{lines:#?}");
        // The unreadable one has no start time: it sorts first.
        assert!(lines[0].starts_with("20261122T002000Z-cccc  (unreadable run.json"));
        assert_eq!(
            lines[1],
            "20261122T001000Z-aaaa  2026-11-22T00:10:00Z  0x8  4 devices  ok 0 failed 0  unfinished"
        );
        assert_eq!(
            lines[2],
            "20261122T001500Z-bbbb  2026-11-22T00:15:00Z  3x5  30 devices  ok 28 failed 2  3.0 s"
        );
    }

    #[test]
    fn marks_merged_runs() {
        let out = tempfile::tempdir().unwrap();
        write_run(
            out.path(),
            "m",
            r#"{"started_at":"2026-11-22T00:15:00Z","ended_at":"2026-11-22T00:15:02Z",
               "layout":{"processes":6,"threads":4},"devices":30,"wall_ms":2000.0,
               "totals":{"ok":30},"interrupted":false,"resumed":false,
               "merge":{"n":3,"shards":[{"k":1},{"k":3}],"complete":false}}"#,
        );
        let runs = list_runs(out.path()).unwrap();
        assert_eq!(
            runs[0].to_string(),
            "m  2026-11-22T00:15:00Z  6x4  30 devices  ok 30 failed 0  2.0 s  merged 2/3 shards (incomplete)"
        );
    }

    #[test]
    fn marks_interrupted_and_resumed_runs() {
        let out = tempfile::tempdir().unwrap();
        write_run(
            out.path(),
            "r",
            r#"{"started_at":"2026-11-22T00:15:00Z","ended_at":"2026-11-22T00:15:01Z",
               "layout":{"processes":1,"threads":1},"devices":2,"wall_ms":1000.0,
               "totals":{"ok":1,"cancelled":1},"interrupted":true,"resumed":true}"#,
        );
        let runs = list_runs(out.path()).unwrap();
        assert_eq!(
            runs[0].to_string(),
            "r  2026-11-22T00:15:00Z  1x1  2 devices  ok 1 failed 1  1.0 s  interrupted  resumed"
        );
    }
}
