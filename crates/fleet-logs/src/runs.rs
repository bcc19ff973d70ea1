//! Past runs: one summary per run directory, from its `run.json`.

use crate::error::LogsError;
use fleet_proto::rundir::{RunJson, RESULTS_FILE, RUN_FILE};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What `run.json` says about a run: the contract type of
/// [`fleet_proto::rundir`], under the name `fleet logs` has always used.
pub type RunInfo = RunJson;

/// Reads `<run_dir>/run.json`.
pub fn read_run_info(run_dir: &Path) -> Result<RunInfo, LogsError> {
    RunJson::read(run_dir).map_err(LogsError::RunDir)
}

/// When the run started, if `run.json` says.
pub fn run_start(info: &RunInfo) -> Option<SystemTime> {
    crate::filter::parse_ts(&info.started_at)
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
            .map(|i| i.started_at.clone())
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
            Err(e) => {
                write!(f, "{id}  (unreadable run.json: {e}")?;
                let mut source = std::error::Error::source(e);
                while let Some(s) = source {
                    write!(f, ": {s}")?;
                    source = s.source();
                }
                return write!(f, ")");
            }
        };
        let started = info.started_at.as_str();
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
        if !dir.join(RUN_FILE).is_file() && !dir.join(RESULTS_FILE).is_file() {
            continue;
        }
        let info = read_run_info(&dir);
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
            r#"{"run_id":"20261122T001500Z-bbbb","fleet_version":"0.1.0","started_at":"2026-11-22T00:15:00.120000Z",
               "ended_at":"2026-11-22T00:15:03Z","layout":{"processes":3,"threads":5,"batch_size":2},
               "devices":30,"wall_ms":2950.0,"totals":{"ok":28,"timeout":1,"worker_lost":1},
               "interrupted":false,"exit_code":1,"resumed":false,"extra":"ignored"}"#,
        );
        write_run(
            out.path(),
            "20261122T001000Z-aaaa",
            r#"{"run_id":"20261122T001000Z-aaaa","fleet_version":"0.1.0","started_at":"2026-11-22T00:10:00.000001Z",
               "ended_at":null,"layout":{"processes":0,"threads":8,"batch_size":4},"devices":4,
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
            r#"{"run_id":"m","fleet_version":"0.1.0","started_at":"2026-11-22T00:15:00Z","ended_at":"2026-11-22T00:15:02Z",
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
            r#"{"run_id":"r","fleet_version":"0.1.0","started_at":"2026-11-22T00:15:00Z","ended_at":"2026-11-22T00:15:01Z",
               "layout":{"processes":1,"threads":1,"batch_size":1},"devices":2,"wall_ms":1000.0,
               "totals":{"ok":1,"cancelled":1},"interrupted":true,"resumed":true}"#,
        );
        let runs = list_runs(out.path()).unwrap();
        assert!(runs[0].info.is_ok(), "{:?}", runs[0].info);
        assert_eq!(
            runs[0].to_string(),
            "r  2026-11-22T00:15:00Z  1x1  2 devices  ok 1 failed 1  1.0 s  interrupted  resumed"
        );
    }
}

#[cfg(test)]
mod schema_tests {
    use super::*;

    #[test]
    fn a_run_of_another_schema_is_listed_as_unreadable() {
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().join("r");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("run.json"),
            r#"{"schema":"fleet-run/9","run_id":"r","fleet_version":"9","started_at":"x"}"#,
        )
        .unwrap();
        let runs = list_runs(out.path()).unwrap();
        let line = runs[0].to_string();
        assert!(line.contains("unreadable run.json"), "{line}");
    }
}
