//! Reading back what `fleet run` left in its run directory.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// The parts of `run.json` the benchmark uses.
#[derive(Debug, Clone, Deserialize)]
pub struct RunJson {
    /// The master's wall time, ms (absent if the run never finished).
    pub wall_ms: Option<f64>,
    /// Devices in the run.
    #[serde(default)]
    pub devices: u64,
    /// Devices per status.
    #[serde(default)]
    pub totals: BTreeMap<String, u64>,
}

/// The parts of one `workers.json` record the benchmark uses.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct WorkerJson {
    /// User CPU ms.
    pub cpu_user_ms: Option<f64>,
    /// System CPU ms.
    pub cpu_sys_ms: Option<f64>,
    /// Peak RSS, KiB.
    pub max_rss_kib: Option<u64>,
    /// Messages worker → master.
    #[serde(default)]
    pub ipc_messages_in: u64,
    /// Bytes worker → master.
    #[serde(default)]
    pub ipc_bytes_in: u64,
    /// Messages master → worker.
    #[serde(default)]
    pub ipc_messages_out: u64,
    /// Bytes master → worker.
    #[serde(default)]
    pub ipc_bytes_out: u64,
}

impl WorkerJson {
    /// User + system CPU, ms (0 when the worker never said bye).
    pub fn cpu_ms(&self) -> f64 {
        self.cpu_user_ms.unwrap_or(0.0) + self.cpu_sys_ms.unwrap_or(0.0)
    }
}

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
pub fn read_run_json(run_dir: &Path) -> Result<RunJson, String> {
    let path = run_dir.join("run.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads `workers.json`.
pub fn read_workers_json(run_dir: &Path) -> Result<Vec<WorkerJson>, String> {
    let path = run_dir.join("workers.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Worker spawn cost from master.log: `(first hello − first start,
/// last of the first `workers` hellos − first start)`, ms. `None` when the
/// log has no worker lines (`-p 0`).
pub fn spawn_times(master_log: &Path, workers: usize) -> Option<(f64, f64)> {
    let file = std::fs::File::open(master_log).ok()?;
    let mut first_start = None;
    let mut hellos = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let Ok(line) = line else { break };
        let is_start = line.contains(" worker_started: ");
        let is_hello = line.contains(" worker_hello: ");
        if !is_start && !is_hello {
            continue;
        }
        let Some(ts) = line
            .split_whitespace()
            .next()
            .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
        else {
            continue;
        };
        if is_start && first_start.is_none() {
            first_start = Some(ts);
        } else if is_hello && hellos.len() < workers {
            hellos.push(ts);
        }
    }
    let start = first_start?;
    let ms = |t: std::time::SystemTime| {
        t.duration_since(start)
            .map(|d| d.as_secs_f64() * 1e3)
            .unwrap_or(0.0)
    };
    let first = hellos.iter().copied().min()?;
    let last = hellos.iter().copied().max()?;
    Some((ms(first), ms(last)))
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

/// Reads [`SessionCosts`] from a run directory (`None` without ok sessions).
pub fn session_costs(run_dir: &Path) -> Option<SessionCosts> {
    #[derive(Deserialize)]
    struct Row {
        status: String,
        timings_ms: Timings,
    }
    #[derive(Deserialize)]
    struct Timings {
        connect: f64,
        auth: f64,
        total: f64,
    }
    let file = std::fs::File::open(run_dir.join("results.jsonl")).ok()?;
    let rows: Vec<Timings> = std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str::<Row>(&l).ok())
        .filter(|r| r.status == "ok")
        .map(|r| r.timings_ms)
        .collect();
    if rows.is_empty() {
        return None;
    }
    let mut hs: Vec<f64> = rows.iter().map(|t| t.connect + t.auth).collect();
    // Medians, not means: the first sessions of a run pay for cold caches
    // (tens of ms where the rest take 4), and a mean of 10 made the ideal
    // of a sequential run twice too long (1x1 at 194% efficiency).
    let mut totals: Vec<f64> = rows.iter().map(|t| t.total).collect();
    Some(SessionCosts {
        handshake_ms: crate::summary::median(&mut hs)?,
        session_ms: crate::summary::median(&mut totals)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spawn_times_from_master_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("master.log");
        std::fs::write(
            &log,
            "2026-01-01T00:00:00.000000Z INFO master 1 main - run x starting\n\
             2026-01-01T00:00:00.010000Z INFO master 1 main - worker_started: worker 0 generation 0 pid 2\n\
             2026-01-01T00:00:00.012000Z INFO master 1 main - worker_started: worker 1 generation 0 pid 3\n\
             2026-01-01T00:00:00.030000Z INFO master 1 main - worker_hello: worker 1 pid 3 protocol 1\n\
             2026-01-01T00:00:00.045000Z INFO master 1 main - worker_hello: worker 0 pid 2 protocol 1\n",
        )
        .unwrap();
        let (first, all) = spawn_times(&log, 2).unwrap();
        assert!((first - 20.0).abs() < 1e-6, "{first}");
        assert!((all - 35.0).abs() < 1e-6, "{all}");
        assert!(spawn_times(&dir.path().join("none.log"), 2).is_none());
    }
}
