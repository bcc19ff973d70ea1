//! Reading back what `fleet run` left in its run directory, through the
//! contract types of [`fleet_proto::rundir`]. Errors are the contract's
//! own [`RunDirError`] (file, line, and the parse or OS error as source).

use fleet_proto::rundir::ResultsReader;
pub use fleet_proto::rundir::{RunDirError, RunJson, WorkerRecord};
use fleet_proto::{Status, Timings};
use std::path::{Path, PathBuf};

/// The one run directory fleet created under `out` (the benchmark gives
/// every run its own `--out`).
pub fn single_run_dir(out: &Path) -> Option<PathBuf> {
    std::fs::read_dir(out)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.join("run.json").is_file())
}

/// Reads `run.json`.
pub fn read_run_json(run_dir: &Path) -> Result<RunJson, RunDirError> {
    RunJson::read(run_dir)
}

/// Reads `workers.json`; a run without one (its master died before the
/// end) has no records. A file that does not parse is an error.
pub fn read_workers_json(run_dir: &Path) -> Result<Vec<WorkerRecord>, RunDirError> {
    match WorkerRecord::read_all(run_dir) {
        Err(RunDirError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(Vec::new())
        }
        other => other,
    }
}

/// Worker spawn cost from `workers.json`: `(first hello − first start,
/// last of the first `workers` hellos − first start)`, ms, over the first
/// generation. `None` without worker processes (`-p 0`) or hellos.
pub fn spawn_times(records: &[WorkerRecord], workers: usize) -> Option<(f64, f64)> {
    let ts = |t: &str| humantime::parse_rfc3339_weak(t).ok();
    let first: Vec<&WorkerRecord> = records.iter().filter(|w| w.generation == 0).collect();
    let start = first.iter().filter_map(|w| ts(&w.started_at)).min()?;
    let mut hellos: Vec<_> = first
        .iter()
        .filter_map(|w| w.hello_at.as_deref().and_then(ts))
        .collect();
    hellos.sort();
    hellos.truncate(workers);
    let ms = |t: std::time::SystemTime| {
        t.duration_since(start)
            .map(|d| d.as_secs_f64() * 1e3)
            .unwrap_or(0.0)
    };
    Some((ms(*hellos.first()?), ms(*hellos.last()?)))
}

/// What one session costs when nothing else runs, from a calibration
/// run's `results.jsonl`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SessionCosts {
    /// Median `connect + auth` over ok sessions: one handshake, ms.
    pub handshake_ms: f64,
    /// Median `total` over ok sessions: handshake, every command with its
    /// latency, close, ms. The length of one wave of the ideal makespan.
    pub session_ms: f64,
}

/// Reads [`SessionCosts`] from a run directory (`None` without ok
/// sessions); a results file that does not parse is an error.
pub fn session_costs(run_dir: &Path) -> Result<Option<SessionCosts>, RunDirError> {
    let mut rows: Vec<Timings> = Vec::new();
    for r in ResultsReader::open(run_dir)? {
        let r = r?;
        if r.status == Status::Ok {
            rows.push(r.timings_ms);
        }
    }
    if rows.is_empty() {
        return Ok(None);
    }
    let mut hs: Vec<f64> = rows.iter().map(|t| t.connect + t.auth).collect();
    // Medians, not means: the first sessions of a run pay for cold caches
    // (tens of ms where the rest take 4), and a mean of 10 made the ideal
    // of a sequential run twice too long (1x1 at 194% efficiency).
    let mut totals: Vec<f64> = rows.iter().map(|t| t.total).collect();
    Ok(crate::stats::median(&mut hs)
        .zip(crate::stats::median(&mut totals))
        .map(|(handshake_ms, session_ms)| SessionCosts {
            handshake_ms,
            session_ms,
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spawn_times_from_workers_json() {
        let w = |id, generation, started: &str, hello: Option<&str>| WorkerRecord {
            id,
            generation,
            started_at: started.into(),
            hello_at: hello.map(String::from),
            ..WorkerRecord::default()
        };
        let records = [
            w(
                0,
                0,
                "2026-01-01T00:00:00.010000Z",
                Some("2026-01-01T00:00:00.045000Z"),
            ),
            w(
                1,
                0,
                "2026-01-01T00:00:00.012000Z",
                Some("2026-01-01T00:00:00.030000Z"),
            ),
            // A restart later on is no start-up cost.
            w(1, 1, "2026-01-01T00:00:05Z", Some("2026-01-01T00:00:06Z")),
        ];
        let (first, all) = spawn_times(&records, 2).unwrap();
        assert!((first - 20.0).abs() < 1e-6, "{first}");
        assert!((all - 35.0).abs() < 1e-6, "{all}");
        assert!(spawn_times(&records[..0], 2).is_none());
        let no_hello = [w(0, 0, "2026-01-01T00:00:00Z", None)];
        assert!(spawn_times(&no_hello, 1).is_none());
    }
}
