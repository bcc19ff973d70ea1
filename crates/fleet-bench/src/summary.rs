//! Per-layout figures from a layout's runs (medians across repeats; peaks
//! are the largest seen).

use crate::layout::{Layout, LayoutKind};
use crate::runner::RunRecord;
pub use crate::stats::median;
use serde::Serialize;
use std::collections::BTreeMap;

/// One layout's line of the report (an element of bench.json `layouts`).
#[derive(Debug, Clone, Serialize)]
pub struct LayoutSummary {
    /// As written: `4x50`, `2x8@64`, `bare(200)`.
    pub layout: String,
    /// `fleet` (a `fleet run`) or `bare` (the bare ssh2 pool).
    pub kind: LayoutKind,
    /// Worker processes (0: threads in the master; `None` for the bare pool).
    pub p: Option<u32>,
    /// Threads per worker (`None` for the bare pool: see `slots`).
    pub t: Option<u32>,
    /// `--batch-size` given to fleet run (`None`: fleet's default).
    pub batch_size: Option<u32>,
    /// Concurrent sessions: P×T, or the bare pool's threads.
    pub slots: u64,
    /// The command each run of this layout was (its `--out` as `<out>`).
    pub command: Vec<String>,
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
    /// The shortest makespan this layout could have, ms: the larger of
    /// `ideal_waves_ms` and `ideal_cpu_ms`.
    pub ideal_ms: f64,
    /// `ceil(N / slots) × session_ms` (the uncontended session: handshake +
    /// each command's latency + close), ms: the bound when devices are slow.
    pub ideal_waves_ms: f64,
    /// Median (client CPU + lab CPU) of a run / cores, ms: the bound when
    /// the cores are the limit (client and simulated devices share them).
    pub ideal_cpu_ms: f64,
    /// Which bound `ideal_ms` is: `waves` or `cpu`.
    pub ideal_bound: IdealBound,
    /// `ideal_ms / median_wall_ms` (1.0 is perfect; `None` when ideal is 0).
    pub efficiency: Option<f64>,
    /// Median master + workers CPU per device, ms.
    pub cpu_ms_per_session: f64,
    /// The bare pool this layout is compared with (same slots, else the
    /// first in the sweep; `None` without one).
    pub bare: Option<String>,
    /// Median wall / the bare pool's median wall (1.0: as fast; 1.1: 10%
    /// slower). Its inverse is the throughput ratio.
    pub wall_vs_bare: Option<f64>,
    /// CPU per session / the bare pool's CPU per session.
    pub cpu_vs_bare: Option<f64>,
    /// Median of each run's client CPU over the lab's CPU in that run
    /// (`None` without a lab).
    pub cpu_per_lab_cpu: Option<f64>,
    /// `cpu_per_lab_cpu` / the bare pool's: the CPU ratio with each run
    /// first divided by the lab's CPU in the same run. The lab does the
    /// same work in every run, so this cancels a machine that runs faster
    /// or slower from one run to the next (on a 2-core VM, the lab's own
    /// CPU for identical runs varied by 50%, and fleet's with it).
    pub cpu_vs_bare_by_lab: Option<f64>,
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

/// Which bound makes a layout's ideal makespan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IdealBound {
    /// `ceil(N / slots)` waves of one uncontended session.
    Waves,
    /// The CPU the run and the lab used, spread over every core.
    Cpu,
}

impl IdealBound {
    /// The name bench.json and bench.csv use.
    pub fn as_str(self) -> &'static str {
        match self {
            IdealBound::Waves => "waves",
            IdealBound::Cpu => "cpu",
        }
    }
}

/// The ideal makespan, ms: `max(waves × session, cpu / cores)`, and which
/// bound it is. `cpu_ms` is the client's plus the lab's CPU for the run.
/// `slots` 0 (`auto`, which picks its slots during the run) has no waves
/// bound, only the CPU one.
pub fn ideal(
    devices: u64,
    slots: u64,
    session_ms: f64,
    cpu_ms: f64,
    cores: usize,
) -> (f64, f64, IdealBound) {
    let waves = if slots == 0 {
        0.0
    } else {
        devices.div_ceil(slots) as f64 * session_ms
    };
    let cpu = cpu_ms / cores.max(1) as f64;
    (
        waves,
        cpu,
        if cpu > waves {
            IdealBound::Cpu
        } else {
            IdealBound::Waves
        },
    )
}

fn median_of(runs: &[RunRecord], f: impl Fn(&RunRecord) -> Option<f64>) -> Option<f64> {
    let mut v: Vec<f64> = runs.iter().filter_map(f).collect();
    median(&mut v)
}

/// What [`summarise`] needs besides the layout and its runs.
#[derive(Debug, Clone, Copy)]
pub struct SweepFacts {
    /// Devices per run (N).
    pub devices: u64,
    /// The uncontended length of one session, ms.
    pub session_ms: f64,
    /// Cores the client and the lab share.
    pub cores: usize,
}

/// Summarises one layout: medians, the ideal makespan, flags.
pub fn summarise(
    layout: Layout,
    runs: Vec<RunRecord>,
    facts: SweepFacts,
    command: Vec<String>,
) -> LayoutSummary {
    let devices = facts.devices;
    let median_wall_ms = median_of(&runs, |r| Some(r.wall_ms)).unwrap_or(0.0);
    let run_cpu = median_of(&runs, |r| Some(r.cpu_ms + r.lab_cpu_ms.unwrap_or(0.0))).unwrap_or(0.0);
    let (ideal_waves_ms, ideal_cpu_ms, ideal_bound) = ideal(
        devices,
        layout.slots(),
        facts.session_ms,
        run_cpu,
        facts.cores,
    );
    let ideal_ms = ideal_waves_ms.max(ideal_cpu_ms);
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
        kind: layout.kind(),
        p: layout.fleet().map(|f| f.p),
        t: layout.fleet().map(|f| f.t),
        batch_size: layout.fleet().and_then(|f| f.batch),
        slots: layout.slots(),
        command,
        median_wall_ms,
        median_run_wall_ms: median_of(&runs, |r| r.run_wall_ms),
        sessions_per_s: if median_wall_ms > 0.0 {
            devices as f64 * 1e3 / median_wall_ms
        } else {
            0.0
        },
        speedup: None,
        ideal_ms,
        ideal_waves_ms,
        ideal_cpu_ms,
        ideal_bound,
        efficiency: (ideal_ms > 0.0 && median_wall_ms > 0.0).then(|| ideal_ms / median_wall_ms),
        cpu_ms_per_session: per_session(median_of(&runs, |r| Some(r.cpu_ms)).unwrap_or(0.0)),
        bare: None,
        wall_vs_bare: None,
        cpu_vs_bare: None,
        cpu_per_lab_cpu: median_of(&runs, |r| {
            r.lab_cpu_ms.filter(|l| *l > 0.0).map(|l| r.cpu_ms / l)
        }),
        cpu_vs_bare_by_lab: None,
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

/// Fills `bare`, `wall_vs_bare`, `cpu_vs_bare` and `cpu_vs_bare_by_lab` against the bare pool
/// with the same slots, else the sweep's first bare pool (nothing without one).
pub fn fill_bare_ratios(layouts: &mut [LayoutSummary]) {
    let bares: Vec<usize> = (0..layouts.len())
        .filter(|&i| layouts[i].kind == LayoutKind::Bare)
        .collect();
    let Some(&first) = bares.first() else { return };
    for i in 0..layouts.len() {
        let slots = layouts[i].slots;
        let j = bares
            .iter()
            .copied()
            .find(|&j| layouts[j].slots == slots)
            .unwrap_or(first);
        let bare = &layouts[j];
        let name = bare.layout.clone();
        let (wall, cpu, by_lab) = (
            bare.median_wall_ms,
            bare.cpu_ms_per_session,
            bare.cpu_per_lab_cpu,
        );
        let l = &mut layouts[i];
        l.bare = Some(name);
        l.wall_vs_bare = (wall > 0.0).then(|| l.median_wall_ms / wall);
        l.cpu_vs_bare = (cpu > 0.0).then(|| l.cpu_ms_per_session / cpu);
        l.cpu_vs_bare_by_lab = match (l.cpu_per_lab_cpu, by_lab) {
            (Some(mine), Some(bare)) if bare > 0.0 => Some(mine / bare),
            _ => None,
        };
    }
}

/// Fills `speedup` against the sequential layout (`1x1`, else any P×T = 1),
/// if the sweep has one.
pub fn fill_speedups(layouts: &mut [LayoutSummary]) -> Option<String> {
    let base = layouts
        .iter()
        .find(|l| l.p == Some(1) && l.t == Some(1))
        .or_else(|| {
            layouts
                .iter()
                .find(|l| l.slots == 1 && l.kind == LayoutKind::Fleet)
        })
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

    /// A layout's summary over 4 devices with no session time.
    fn four_devices(layout: &str, runs: Vec<RunRecord>) -> LayoutSummary {
        summarise(layout.parse().unwrap(), runs, facts(4, 0.0), vec![])
    }

    fn facts(devices: u64, session_ms: f64) -> SweepFacts {
        SweepFacts {
            devices,
            session_ms,
            cores: 2,
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
            facts(20, 500.0),
            vec!["run".into()],
        );
        assert_eq!(s.median_wall_ms, 2000.0);
        assert_eq!(s.ideal_ms, 1000.0);
        assert_eq!(s.ideal_bound, IdealBound::Waves);
        assert_eq!(s.efficiency, Some(0.5));
        assert_eq!(s.sessions_per_s, 10.0);
        assert_eq!(s.cpu_ms_per_session, 5.0);
        assert_eq!(s.peak_rss_total_kib, 2200);
        assert_eq!(s.peak_rss_per_worker_kib, Some(700));
        assert_eq!((s.p, s.t, s.kind), (Some(2), Some(5), LayoutKind::Fleet));
        assert!(s.all_ok);
        let bad = summarise(l, vec![run(1000.0, 19, 1)], facts(20, 500.0), vec![]);
        assert!(!bad.all_ok);
        assert!(bad.flag.unwrap().contains("1 sessions not ok"));
    }

    #[test]
    fn ideal_is_the_larger_of_waves_and_cpu() {
        // Slow devices: 5 waves of 2 s; 3 s of CPU over 2 cores is less.
        let (w, c, b) = ideal(1000, 200, 2000.0, 3000.0, 2);
        assert_eq!((w, c, b), (10_000.0, 1500.0, IdealBound::Waves));
        // Zero latency: 2,000 sessions of 2 ms CPU (client + lab) on 2
        // cores take 2 s, whatever the slots; the waves say 0.1 s.
        let (w, c, b) = ideal(2000, 100, 5.0, 4000.0, 2);
        assert_eq!((w, c, b), (100.0, 2000.0, IdealBound::Cpu));
        // Sequential: N sessions one after another; the CPU spread over 2
        // cores is less, so 1x1 can never beat its ideal by using 2 cores.
        let (w, c, b) = ideal(500, 1, 4.0, 1500.0, 2);
        assert_eq!((w, c, b), (2000.0, 750.0, IdealBound::Waves));
        // 0 slots (`auto` picks its own) has no waves bound, only the CPU
        // one; 0 cores does not divide by zero.
        let (w, c, b) = ideal(10, 0, 1.0, 10.0, 0);
        assert_eq!((w, c, b), (0.0, 10.0, IdealBound::Cpu));
    }

    #[test]
    fn the_cpu_bound_counts_the_lab() {
        // 0x100, 2,000 devices at zero latency: client 2,400 ms + lab
        // 1,600 ms = 4 s of CPU on 2 cores: the ideal is 2 s, not 20 waves
        // of 2 ms (40 ms), so 4 s of wall is 50%, not 1%.
        let mut r = run(4000.0, 2000, 0);
        r.cpu_ms = 2400.0;
        r.lab_cpu_ms = Some(1600.0);
        let s = summarise("0x100".parse().unwrap(), vec![r], facts(2000, 2.0), vec![]);
        assert_eq!(s.ideal_bound, IdealBound::Cpu);
        assert_eq!(s.ideal_ms, 2000.0);
        assert_eq!(s.ideal_waves_ms, 40.0);
        assert_eq!(s.efficiency, Some(0.5));
    }

    #[test]
    fn ratios_to_the_bare_pool_with_the_same_slots() {
        let mut all = vec![
            four_devices("2x50", vec![run(1100.0, 4, 0)]),
            four_devices("bare(100)", vec![run(1000.0, 4, 0)]),
            four_devices("bare(8)", vec![run(500.0, 4, 0)]),
            four_devices("0x8", vec![run(600.0, 4, 0)]),
            four_devices("0x3", vec![run(2000.0, 4, 0)]),
        ];
        all[0].runs[0].cpu_ms = 110.0;
        all[0].cpu_ms_per_session = 27.5;
        fill_bare_ratios(&mut all);
        assert_eq!(all[0].bare.as_deref(), Some("bare(100)"));
        assert!((all[0].wall_vs_bare.unwrap() - 1.1).abs() < 1e-9);
        assert!((all[0].cpu_vs_bare.unwrap() - 1.1).abs() < 1e-9);
        assert_eq!(all[1].wall_vs_bare, Some(1.0));
        assert_eq!(all[3].bare.as_deref(), Some("bare(8)"));
        assert!((all[3].wall_vs_bare.unwrap() - 1.2).abs() < 1e-9);
        // No bare pool with 3 slots: the first one in the sweep.
        assert_eq!(all[4].bare.as_deref(), Some("bare(100)"));
        assert_eq!(all[4].wall_vs_bare, Some(2.0));

        let mut none = vec![four_devices("0x8", vec![run(600.0, 4, 0)])];
        fill_bare_ratios(&mut none);
        assert_eq!(none[0].wall_vs_bare, None);
    }

    #[test]
    fn the_lab_paced_cpu_ratio_cancels_a_machine_that_is_slower_in_some_runs() {
        // The same work three times each, some runs on a machine 50%
        // slower (the lab's CPU shows it): fleet drew the slow machine
        // twice, the bare pool once. Plain medians say 1.8x; dividing
        // each run by its lab's CPU says 1.2x, the true ratio.
        let runs = |cpu: [f64; 3], lab: [f64; 3]| {
            cpu.iter()
                .zip(lab)
                .map(|(c, l)| {
                    let mut r = run(1000.0, 4, 0);
                    r.cpu_ms = *c;
                    r.lab_cpu_ms = Some(l);
                    r
                })
                .collect::<Vec<_>>()
        };
        let mut all = vec![
            four_devices("0x100", runs([120.0, 180.0, 180.0], [80.0, 120.0, 120.0])),
            four_devices(
                "bare(100)",
                runs([100.0, 100.0, 150.0], [80.0, 80.0, 120.0]),
            ),
        ];
        assert_eq!(all[0].cpu_per_lab_cpu, Some(1.5));
        all[0].cpu_ms_per_session = 180.0 / 4.0;
        all[1].cpu_ms_per_session = 100.0 / 4.0;
        fill_bare_ratios(&mut all);
        assert!((all[0].cpu_vs_bare.unwrap() - 1.8).abs() < 1e-9);
        assert!((all[0].cpu_vs_bare_by_lab.unwrap() - 1.2).abs() < 1e-9);
        assert_eq!(all[1].cpu_vs_bare_by_lab, Some(1.0));

        // Without a lab there is nothing to divide by.
        let mut no_lab = vec![
            four_devices("0x8", vec![run(600.0, 4, 0)]),
            four_devices("bare(8)", vec![run(500.0, 4, 0)]),
        ];
        fill_bare_ratios(&mut no_lab);
        assert_eq!(no_lab[0].cpu_vs_bare_by_lab, None);
    }

    #[test]
    fn speedup_against_sequential() {
        let seq = four_devices("1x1", vec![run(8000.0, 4, 0)]);
        let bare = four_devices("bare(1)", vec![run(7000.0, 4, 0)]);
        let par = four_devices("0x4", vec![run(2000.0, 4, 0)]);
        let mut all = vec![bare, seq, par];
        assert_eq!(fill_speedups(&mut all).as_deref(), Some("1x1"));
        assert_eq!(all[2].speedup, Some(4.0));
        // No calibration (session 0): the CPU bound alone, 100 ms on 2 cores.
        assert_eq!(all[1].ideal_bound, IdealBound::Cpu);
        assert_eq!(all[1].efficiency, Some(50.0 / 8000.0));
    }
}
