//! Per-layout figures from a layout's runs (medians across repeats; peaks
//! are the largest seen).

use crate::layout::Layout;
use crate::runner::RunRecord;
use serde::Serialize;
use std::collections::BTreeMap;

/// One layout's line of the report (an element of bench.json `layouts`).
#[derive(Debug, Clone, Serialize)]
pub struct LayoutSummary {
    /// As written: `4x50`, `2x8@64`.
    pub layout: String,
    /// Worker processes (0: threads in the master).
    pub p: u32,
    /// Threads per worker.
    pub t: u32,
    /// `--batch-size` given to fleet run (`None`: fleet's default T/2).
    pub batch_size: Option<u32>,
    /// Concurrent sessions, P×T.
    pub slots: u64,
    /// Every run of this layout, in order.
    pub runs: Vec<RunRecord>,
    /// Median end-to-end wall time, ms.
    pub median_wall_ms: f64,
    /// Median of the master's own wall time (run.json: first worker start
    /// to last result; excludes process start and inventory parse), ms.
    pub median_run_wall_ms: Option<f64>,
    /// Devices / median wall time.
    pub sessions_per_s: f64,
    /// Sequential (1x1) median wall / this median wall (`None` without 1x1).
    pub speedup: Option<f64>,
    /// `ceil(N / (P×T)) × session_ms` (the uncontended session: handshake +
    /// each command's latency + close), ms.
    pub ideal_ms: f64,
    /// `ideal_ms / median_wall_ms` (1.0 is perfect; `None` when ideal is 0).
    pub efficiency: Option<f64>,
    /// Median master + workers CPU per device, ms.
    pub cpu_ms_per_session: f64,
    /// Median master CPU, ms.
    pub master_cpu_ms: f64,
    /// Median workers CPU, ms (`None` for `-p 0`: it is all in the master).
    pub workers_cpu_ms: Option<f64>,
    /// Median lab CPU during a run, ms (`None` without a lab child).
    pub lab_cpu_ms: Option<f64>,
    /// Largest master + workers peak RSS of any run, KiB.
    pub peak_rss_total_kib: u64,
    /// Largest master peak RSS, KiB.
    pub peak_rss_master_kib: Option<u64>,
    /// Largest single-worker peak RSS, KiB (`None` for `-p 0`).
    pub peak_rss_per_worker_kib: Option<u64>,
    /// Median IPC messages (both ways) per run.
    pub ipc_messages: u64,
    /// Median IPC bytes (both ways) per run.
    pub ipc_bytes: u64,
    /// Median first worker hello − first worker start, ms (`None` for `-p 0`).
    pub spawn_ms: Option<f64>,
    /// Median all-workers-ready time, ms.
    pub spawn_all_ms: Option<f64>,
    /// Devices per status, summed over runs.
    pub statuses: BTreeMap<String, u64>,
    /// Every session of every run was ok and no run timed out.
    pub all_ok: bool,
    /// Why the layout is flagged, if it is.
    pub flag: Option<String>,
}

/// Median (mean of the middle two for an even count); sorts `v`.
pub fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn median_of(runs: &[RunRecord], f: impl Fn(&RunRecord) -> Option<f64>) -> Option<f64> {
    let mut v: Vec<f64> = runs.iter().filter_map(f).collect();
    median(&mut v)
}

/// Summarises one layout. `devices` is N; `session_ms`, the uncontended
/// length of one session, gives the ideal makespan.
pub fn summarise(
    layout: Layout,
    runs: Vec<RunRecord>,
    devices: u64,
    session_ms: f64,
) -> LayoutSummary {
    let median_wall_ms = median_of(&runs, |r| Some(r.wall_ms)).unwrap_or(0.0);
    let waves = devices.div_ceil(layout.slots().max(1)) as f64;
    // `auto` has no fixed number of slots: no ideal to compare with.
    let ideal_ms = if layout.auto { 0.0 } else { waves * session_ms };
    let mut statuses = BTreeMap::new();
    for r in &runs {
        for (s, n) in &r.statuses {
            *statuses.entry(s.clone()).or_insert(0) += n;
        }
    }
    let failures: u64 = runs.iter().map(RunRecord::failures).sum();
    let timeouts = runs.iter().filter(|r| r.timed_out).count();
    let short = runs.iter().filter(|r| r.devices != devices).count();
    let mut why = Vec::new();
    if failures > 0 {
        why.push(format!("{failures} sessions not ok"));
    }
    if timeouts > 0 {
        why.push(format!("{timeouts} runs timed out"));
    }
    if short > 0 {
        why.push(format!("{short} runs did not have {devices} devices"));
    }
    let per_session = |ms: f64| {
        if devices > 0 {
            ms / devices as f64
        } else {
            0.0
        }
    };
    LayoutSummary {
        layout: layout.to_string(),
        p: layout.p,
        t: layout.t,
        batch_size: layout.batch,
        slots: layout.slots(),
        median_wall_ms,
        median_run_wall_ms: median_of(&runs, |r| r.run_wall_ms),
        sessions_per_s: if median_wall_ms > 0.0 {
            devices as f64 * 1e3 / median_wall_ms
        } else {
            0.0
        },
        speedup: None,
        ideal_ms,
        efficiency: (ideal_ms > 0.0 && median_wall_ms > 0.0).then(|| ideal_ms / median_wall_ms),
        cpu_ms_per_session: per_session(median_of(&runs, |r| Some(r.cpu_ms)).unwrap_or(0.0)),
        master_cpu_ms: median_of(&runs, |r| Some(r.master_cpu_ms)).unwrap_or(0.0),
        workers_cpu_ms: median_of(&runs, |r| r.workers_cpu_ms),
        lab_cpu_ms: median_of(&runs, |r| r.lab_cpu_ms),
        peak_rss_total_kib: runs
            .iter()
            .map(RunRecord::peak_rss_total_kib)
            .max()
            .unwrap_or(0),
        peak_rss_master_kib: runs.iter().filter_map(|r| r.master_peak_rss_kib).max(),
        peak_rss_per_worker_kib: runs
            .iter()
            .flat_map(|r| r.worker_peak_rss_kib.iter().copied())
            .max(),
        ipc_messages: median_of(&runs, |r| Some(r.ipc_messages as f64)).unwrap_or(0.0) as u64,
        ipc_bytes: median_of(&runs, |r| Some(r.ipc_bytes as f64)).unwrap_or(0.0) as u64,
        spawn_ms: median_of(&runs, |r| r.spawn_ms),
        spawn_all_ms: median_of(&runs, |r| r.spawn_all_ms),
        statuses,
        all_ok: why.is_empty(),
        flag: (!why.is_empty()).then(|| why.join("; ")),
        runs,
    }
}

/// Fills `speedup` against the sequential layout (`1x1`, else any P×T = 1),
/// if the sweep has one.
pub fn fill_speedups(layouts: &mut [LayoutSummary]) -> Option<String> {
    let base = layouts
        .iter()
        .find(|l| l.p == 1 && l.t == 1)
        .or_else(|| layouts.iter().find(|l| l.slots == 1))
        .map(|l| (l.layout.clone(), l.median_wall_ms))?;
    for l in layouts.iter_mut() {
        if l.median_wall_ms > 0.0 {
            l.speedup = Some(base.1 / l.median_wall_ms);
        }
    }
    Some(base.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(wall: f64, ok: u64, failed: u64) -> RunRecord {
        let mut statuses = BTreeMap::new();
        statuses.insert("ok".to_string(), ok);
        if failed > 0 {
            statuses.insert("timeout".to_string(), failed);
        }
        RunRecord {
            repeat: 0,
            order: 0,
            run_dir: None,
            exit_code: Some(0),
            timed_out: false,
            wall_ms: wall,
            run_wall_ms: Some(wall),
            devices: ok + failed,
            cpu_ms: 100.0,
            master_cpu_ms: 40.0,
            workers_cpu_ms: Some(60.0),
            lab_cpu_ms: None,
            master_peak_rss_kib: Some(1000),
            worker_peak_rss_kib: vec![500, 700],
            ipc_messages: 10,
            ipc_bytes: 1000,
            spawn_ms: Some(3.0),
            spawn_all_ms: Some(4.0),
            statuses,
            load_1m: None,
        }
    }

    #[test]
    fn medians_ideal_and_flags() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
        let l: Layout = "2x5".parse().unwrap();
        let s = summarise(
            l,
            vec![run(1000.0, 20, 0), run(3000.0, 20, 0), run(2000.0, 20, 0)],
            20,
            500.0,
        );
        assert_eq!(s.median_wall_ms, 2000.0);
        assert_eq!(s.ideal_ms, 1000.0);
        assert_eq!(s.efficiency, Some(0.5));
        assert_eq!(s.sessions_per_s, 10.0);
        assert_eq!(s.cpu_ms_per_session, 5.0);
        assert_eq!(s.peak_rss_total_kib, 2200);
        assert_eq!(s.peak_rss_per_worker_kib, Some(700));
        assert!(s.all_ok);
        let bad = summarise(l, vec![run(1000.0, 19, 1)], 20, 500.0);
        assert!(!bad.all_ok);
        assert!(bad.flag.unwrap().contains("1 sessions not ok"));
    }

    #[test]
    fn speedup_against_sequential() {
        let seq = summarise("1x1".parse().unwrap(), vec![run(8000.0, 4, 0)], 4, 0.0);
        let par = summarise("0x4".parse().unwrap(), vec![run(2000.0, 4, 0)], 4, 0.0);
        let mut all = vec![seq, par];
        assert_eq!(fill_speedups(&mut all).as_deref(), Some("1x1"));
        assert_eq!(all[1].speedup, Some(4.0));
        assert_eq!(all[0].efficiency, None);
    }
}
