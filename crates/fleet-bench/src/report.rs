//! The report: bench.json (the document), bench.csv (one row per layout)
//! and the stdout table.

use crate::summary::LayoutSummary;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Version tag of the bench.json layout.
pub const SCHEMA: &str = "fleet-bench/1";

/// What the lab child did over the whole benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct LabReport {
    /// The lab's pid.
    pub pid: u32,
    /// Its CPU over the whole benchmark (calibration included), ms.
    pub cpu_ms_total: Option<f64>,
    /// Its `stats.json` counters at exit (sessions, handshakes, peaks).
    pub stats: Option<serde_json::Value>,
}

/// The whole of bench.json (see the crate docs for the field list).
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// fleet version.
    pub fleet_version: &'static str,
    /// When the benchmark started (RFC 3339).
    pub started_at: String,
    /// When it ended.
    pub ended_at: String,
    /// Host name.
    pub host: String,
    /// Online CPUs.
    pub cores: usize,
    /// Load averages (1, 5, 15 min) before the first run.
    pub load_before: Option<[f64; 3]>,
    /// Load averages after the last run.
    pub load_after: Option<[f64; 3]>,
    /// How `fleet bench` was invoked.
    pub command_line: Vec<String>,
    /// `lab`, `inventory` or `synthetic`.
    pub target: &'static str,
    /// The inventory every run used.
    pub inventory: PathBuf,
    /// Devices per run (N).
    pub devices: u64,
    /// Lab latency per command, ms.
    pub latency_ms: f64,
    /// `inventory` or `noop`.
    pub transport: &'static str,
    /// Command run on each device.
    pub command: String,
    /// Extra `fleet run` arguments (`--run-arg`).
    pub run_args: Vec<String>,
    /// Runs per layout.
    pub repeat: usize,
    /// Uncontended per-session handshake cost (connect + auth median of a
    /// `-p 0 -t 1` calibration run), ms; 0 when not measured.
    pub handshake_ms: f64,
    /// Median uncontended session time (calibration `total`: handshake, every
    /// command with its latency, close), ms: one wave of the ideal
    /// makespan. The bare latency when not measured (noop: 0).
    pub session_ms: f64,
    /// The sequential layout speed-ups are relative to, if any.
    pub baseline: Option<String>,
    /// The lab child, if the benchmark started one.
    pub lab: Option<LabReport>,
    /// One entry per layout, in sweep order.
    pub layouts: Vec<LayoutSummary>,
}

impl BenchReport {
    /// Whether every layout ran every device ok.
    pub fn all_ok(&self) -> bool {
        self.layouts.iter().all(|l| l.all_ok)
    }
}

/// Columns of bench.csv, in order.
pub const CSV_COLUMNS: &[&str] = &[
    "layout",
    "kind",
    "p",
    "t",
    "batch_size",
    "slots",
    "runs",
    "median_wall_ms",
    "median_run_wall_ms",
    "sessions_per_s",
    "speedup",
    "ideal_ms",
    "ideal_waves_ms",
    "ideal_cpu_ms",
    "ideal_bound",
    "efficiency",
    "wall_vs_bare",
    "cpu_ms_per_session",
    "cpu_vs_bare",
    "cpu_vs_bare_by_lab",
    "master_cpu_ms",
    "workers_cpu_ms",
    "lab_cpu_ms",
    "peak_rss_total_kib",
    "peak_rss_master_kib",
    "peak_rss_per_worker_kib",
    "ipc_messages",
    "ipc_bytes",
    "spawn_ms",
    "spawn_all_ms",
    "ok",
    "not_ok",
    "flag",
];

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn f3(v: f64) -> String {
    format!("{v:.3}")
}

/// bench.csv: a header and one row per layout.
pub fn csv(report: &BenchReport) -> String {
    let mut out = CSV_COLUMNS.join(",");
    out.push('\n');
    for l in &report.layouts {
        let ok = l.statuses.get("ok").copied().unwrap_or(0);
        let not_ok: u64 = l.statuses.values().sum::<u64>() - ok;
        let row = [
            l.layout.clone(),
            l.kind.as_str().to_string(),
            opt(l.p),
            opt(l.t),
            opt(l.batch_size),
            l.slots.to_string(),
            l.runs.len().to_string(),
            f3(l.median_wall_ms),
            opt(l.median_run_wall_ms.map(f3)),
            f3(l.sessions_per_s),
            opt(l.speedup.map(f3)),
            f3(l.ideal_ms),
            f3(l.ideal_waves_ms),
            f3(l.ideal_cpu_ms),
            l.ideal_bound.as_str().to_string(),
            opt(l.efficiency.map(f3)),
            opt(l.wall_vs_bare.map(f3)),
            f3(l.cpu_ms_per_session),
            opt(l.cpu_vs_bare.map(f3)),
            opt(l.cpu_vs_bare_by_lab.map(f3)),
            f3(l.master_cpu_ms),
            opt(l.workers_cpu_ms.map(f3)),
            opt(l.lab_cpu_ms.map(f3)),
            l.peak_rss_total_kib.to_string(),
            opt(l.peak_rss_master_kib),
            opt(l.peak_rss_per_worker_kib),
            l.ipc_messages.to_string(),
            l.ipc_bytes.to_string(),
            opt(l.spawn_ms.map(f3)),
            opt(l.spawn_all_ms.map(f3)),
            ok.to_string(),
            not_ok.to_string(),
            // Flags are plain words; keep the row one CSV field per column.
            l.flag.clone().unwrap_or_default().replace(',', ";"),
        ];
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

/// `1.06x`: how many times the reference a value is.
fn ratio(r: f64) -> String {
    format!("{r:.2}x")
}

/// The load line above a table.
fn load(l: Option<[f64; 3]>) -> String {
    l.map(|l| format!("{:.2} {:.2} {:.2}", l[0], l[1], l[2]))
        .unwrap_or_else(|| "?".into())
}

/// The short table `make bench` collects: per layout, the makespan over
/// the ideal and the ratios to the bare pool (Markdown).
pub fn summary_table(report: &BenchReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} devices, latency {} ms, `{}`, session {:.1} ms, medians of {}, {} cores, load {} -> {}",
        report.devices,
        report.latency_ms,
        report.command,
        report.session_ms,
        report.repeat,
        report.cores,
        load(report.load_before),
        load(report.load_after),
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| layout | wall s | ideal s (bound) | wall/ideal | wall/bare | sess/s | cpu ms/sess | cpu/bare | cpu/bare by lab | status |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|");
    for l in &report.layouts {
        let _ = writeln!(
            out,
            "| {} | {:.2} | {:.2} ({}) | {} | {} | {:.0} | {:.2} | {} | {} | {} |",
            l.layout,
            l.median_wall_ms / 1e3,
            l.ideal_ms / 1e3,
            l.ideal_bound.as_str(),
            opt(l.efficiency.map(|e| ratio(1.0 / e))),
            opt(l.wall_vs_bare.map(ratio)),
            l.sessions_per_s,
            l.cpu_ms_per_session,
            opt(l.cpu_vs_bare.map(ratio)),
            opt(l.cpu_vs_bare_by_lab.map(ratio)),
            l.flag.as_deref().unwrap_or("all ok"),
        );
    }
    out
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// The human table printed on stdout (Markdown, so it pastes into docs).
pub fn table(report: &BenchReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "fleet bench: {} devices, latency {} ms, transport {}, handshake {:.1} ms, session {:.1} ms, {} repeats, {} cores, load {} -> {}",
        report.devices,
        report.latency_ms,
        report.transport,
        report.handshake_ms,
        report.session_ms,
        report.repeat,
        report.cores,
        load(report.load_before),
        load(report.load_after),
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| layout | wall s | run s | sess/s | speedup | ideal s | bound | wall/ideal | wall/bare | cpu ms/sess | cpu/bare | cpu/bare by lab | master cpu ms | workers cpu ms | lab cpu ms | rss total MiB | rss/worker MiB | ipc msgs | ipc MiB | spawn ms | status |"
    );
    let _ = writeln!(
        out,
        "|---|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|"
    );
    for l in &report.layouts {
        let status = match &l.flag {
            None => "all ok".to_string(),
            Some(f) => format!("FLAGGED: {f}"),
        };
        let _ = writeln!(
            out,
            "| {} | {:.2} | {} | {:.0} | {} | {:.2} | {} | {} | {} | {:.2} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {:.2} | {} | {} |",
            l.layout,
            l.median_wall_ms / 1e3,
            opt(l.median_run_wall_ms.map(|w| format!("{:.2}", w / 1e3))),
            l.sessions_per_s,
            opt(l.speedup.map(|s| format!("{s:.1}x"))),
            l.ideal_ms / 1e3,
            l.ideal_bound.as_str(),
            opt(l.efficiency.map(|e| ratio(1.0 / e))),
            opt(l.wall_vs_bare.map(ratio)),
            l.cpu_ms_per_session,
            opt(l.cpu_vs_bare.map(ratio)),
            opt(l.cpu_vs_bare_by_lab.map(ratio)),
            l.master_cpu_ms,
            opt(l.workers_cpu_ms.map(|c| format!("{c:.0}"))),
            opt(l.lab_cpu_ms.map(|c| format!("{c:.0}"))),
            mib(l.peak_rss_total_kib),
            opt(l.peak_rss_per_worker_kib.map(mib)),
            l.ipc_messages,
            l.ipc_bytes as f64 / (1024.0 * 1024.0),
            opt(l.spawn_ms.map(|s| format!("{s:.1}"))),
            status,
        );
    }
    out
}
