//! One `fleet run` as a child process, and what it measured.
//!
//! Around each child the benchmark takes `getrusage(RUSAGE_CHILDREN)`
//! (master + workers CPU, since the master reaps its workers), samples the
//! master's `VmHWM`, the lab's CPU from /proc, and afterwards reads the run
//! directory: `run.json` (wall time, statuses), `workers.json` (per-worker
//! CPU, peak RSS, IPC) and `master.log` (worker start → hello times).

use crate::artifacts;
use crate::child;
use crate::error::BenchError;
use crate::layout::FleetLayout as Layout;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// What one `fleet run` needs besides the layout.
#[derive(Debug, Clone)]
pub struct RunSpec<'a> {
    /// The `fleet` executable.
    pub fleet_exe: &'a Path,
    /// Inventory file.
    pub inventory: &'a Path,
    /// Command to run on every device.
    pub command: &'a str,
    /// `--transport noop`.
    pub noop: bool,
    /// `--limit` expression, if any.
    pub limit: Option<&'a str>,
    /// Batch size when the layout names none.
    pub batch_size: Option<u32>,
    /// Interrupt the run after this long.
    pub timeout: Duration,
    /// Pid of a lab child whose CPU to measure.
    pub lab_pid: Option<u32>,
    /// Extra arguments appended to every `fleet run`.
    pub run_args: &'a [String],
}

/// The measurements of one run (one element of a layout's `runs[]`).
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    /// Repeat index of this layout (0-based).
    pub repeat: usize,
    /// Position in the whole interleaved sequence (0-based).
    pub order: usize,
    /// The run directory fleet wrote.
    pub run_dir: Option<PathBuf>,
    /// Exit code of `fleet run` (`None`: killed by a signal).
    pub exit_code: Option<i32>,
    /// Whether the run hit the benchmark's run timeout.
    pub timed_out: bool,
    /// End-to-end wall time: process start (inventory parse included) to exit, ms.
    pub wall_ms: f64,
    /// The master's own wall time from run.json (workers start to last result), ms.
    pub run_wall_ms: Option<f64>,
    /// Devices in the run.
    pub devices: u64,
    /// Master + workers CPU (user + system), ms: `RUSAGE_CHILDREN` delta.
    pub cpu_ms: f64,
    /// The master's part: `cpu_ms` minus the workers' (all of it for `-p 0`).
    pub master_cpu_ms: f64,
    /// Sum of the workers' own CPU from workers.json (`None` for `-p 0`).
    pub workers_cpu_ms: Option<f64>,
    /// CPU the lab used during the run, ms (`None` without a lab child).
    pub lab_cpu_ms: Option<f64>,
    /// The master's peak RSS, KiB (sampled VmHWM; exact getrusage for `-p 0`).
    pub master_peak_rss_kib: Option<u64>,
    /// Each worker's peak RSS from workers.json, KiB (empty for `-p 0`).
    pub worker_peak_rss_kib: Vec<u64>,
    /// IPC messages both ways, all workers.
    pub ipc_messages: u64,
    /// IPC payload bytes both ways, all workers.
    pub ipc_bytes: u64,
    /// First `hello_at` minus first `started_at` in workers.json, ms.
    pub spawn_ms: Option<f64>,
    /// Last first-generation `hello_at` minus first `started_at`, ms.
    pub spawn_all_ms: Option<f64>,
    /// Devices per final status (run.json totals).
    pub statuses: BTreeMap<String, u64>,
    /// 1-minute load average just before the run.
    pub load_1m: Option<f64>,
}

impl RunRecord {
    /// Peak RSS of the whole run: master plus every worker, KiB.
    pub fn peak_rss_total_kib(&self) -> u64 {
        self.master_peak_rss_kib.unwrap_or(0) + self.worker_peak_rss_kib.iter().sum::<u64>()
    }

    /// Devices whose status is not `ok`.
    pub fn failures(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(s, _)| s.as_str() != "ok")
            .map(|(_, n)| n)
            .sum()
    }
}

/// The `fleet run` arguments (without the program) for `layout`, writing
/// under `out`: what runs, and what bench.html shows.
pub fn args(spec: &RunSpec<'_>, layout: Layout, out: &str) -> Vec<String> {
    let mut a: Vec<String> = vec!["run".into(), "--inventory".into()];
    a.push(spec.inventory.display().to_string());
    a.extend(layout.run_args());
    a.extend(["--command".into(), spec.command.to_string()]);
    a.extend(["--out".into(), out.to_string()]);
    a.extend(["--format", "none", "--progress", "never"].map(String::from));
    if let Some(b) = layout.batch.or(spec.batch_size) {
        a.extend(["--batch-size".into(), b.to_string()]);
    }
    if spec.noop {
        a.extend(["--transport".into(), "noop".into()]);
    }
    if let Some(limit) = spec.limit {
        a.extend(["--limit".into(), limit.to_string()]);
    }
    a.extend(spec.run_args.iter().cloned());
    a
}

/// Runs `fleet run` with `layout` into `dir` (created; fleet makes its run
/// directory inside) and measures it.
pub fn run_once(
    spec: &RunSpec<'_>,
    layout: Layout,
    dir: &Path,
    repeat: usize,
    order: usize,
) -> Result<RunRecord, BenchError> {
    std::fs::create_dir_all(dir).map_err(BenchError::io("cannot create", dir))?;
    let stdout = std::fs::File::create(dir.join("fleet.out"))
        .map_err(BenchError::io("cannot create", dir.join("fleet.out")))?;
    let stderr = std::fs::File::create(dir.join("fleet.err"))
        .map_err(BenchError::io("cannot create", dir.join("fleet.err")))?;
    let mut cmd = Command::new(spec.fleet_exe);
    cmd.args(args(spec, layout, &dir.display().to_string()))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);

    let m = child::measure(&mut cmd, spec.fleet_exe, spec.timeout, spec.lab_pid)?;
    let (status, timed_out, wall_ms, cpu_ms, lab_cpu_ms, master_hwm, load_1m) = (
        m.status,
        m.timed_out,
        m.wall_ms,
        m.cpu_ms,
        m.lab_cpu_ms,
        m.peak_rss_kib,
        m.load_1m,
    );

    let run_dir = artifacts::single_run_dir(dir);
    let Some(run_dir) = run_dir else {
        return Err(BenchError::Run {
            layout: layout.to_string(),
            repeat,
            why: format!("no run directory (exit {status})"),
            dir: dir.to_path_buf(),
        });
    };
    let unusable = |source| BenchError::RunDir {
        layout: layout.to_string(),
        repeat,
        dir: dir.to_path_buf(),
        source,
    };
    let run = artifacts::read_run_json(&run_dir).map_err(unusable)?;
    let workers = artifacts::read_workers_json(&run_dir).map_err(unusable)?;
    let in_process = layout.p == 0 && !layout.auto;
    // `-p 0` spawns no process: its pool's start is no spawn cost.
    let spawn = (!in_process)
        .then(|| artifacts::spawn_times(&workers, layout.p as usize))
        .flatten();
    let workers_cpu_ms = (!in_process).then(|| workers.iter().map(|w| w.cpu_ms()).sum::<f64>());
    let master_cpu_ms = (cpu_ms - workers_cpu_ms.unwrap_or(0.0)).max(0.0);
    let (master_peak_rss_kib, worker_peak_rss_kib) = if in_process {
        let own = workers.iter().filter_map(|w| w.max_rss_kib).max();
        (own.max(master_hwm), Vec::new())
    } else {
        (
            master_hwm,
            workers.iter().filter_map(|w| w.max_rss_kib).collect(),
        )
    };
    Ok(RunRecord {
        repeat,
        order,
        run_dir: Some(run_dir),
        exit_code: status.code(),
        timed_out,
        wall_ms,
        run_wall_ms: run.wall_ms,
        devices: run.devices as u64,
        cpu_ms,
        master_cpu_ms,
        workers_cpu_ms,
        lab_cpu_ms,
        master_peak_rss_kib,
        worker_peak_rss_kib,
        ipc_messages: workers
            .iter()
            .map(|w| w.ipc_messages_in + w.ipc_messages_out)
            .sum(),
        ipc_bytes: workers
            .iter()
            .map(|w| w.ipc_bytes_in + w.ipc_bytes_out)
            .sum(),
        spawn_ms: spawn.map(|s| s.0),
        spawn_all_ms: spawn.map(|s| s.1),
        statuses: run
            .totals
            .iter()
            .map(|(st, n)| (st.as_str().to_string(), *n as u64))
            .collect(),
        load_1m,
    })
}
