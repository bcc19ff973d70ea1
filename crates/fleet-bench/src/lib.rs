//! `fleet bench`: the layout benchmark — sequential vs threads vs processes
//! vs processes × threads, measured by running the real `fleet run`.
//!
//! A benchmark starts its devices (a `fleet lab` child process, an
//! inventory of real devices, or generated never-contacted devices for the
//! noop transport), measures the uncontended handshake once (`-p 0 -t 1`
//! on a few devices), then runs every layout `repeat` times interleaved
//! (A B C A B C), each `fleet run` a child process with its own run
//! directory. It reports per layout: median wall time, sessions/s,
//! speed-up over `1x1`, efficiency against the ideal makespan
//! `ceil(N / (P×T)) × session` (the uncontended session: handshake plus
//! each command's latency), CPU (master from
//! `getrusage(RUSAGE_CHILDREN)` deltas, workers from workers.json, lab from
//! /proc), peak RSS, IPC, worker spawn time and statuses.
//!
//! - [`config`]: [`BenchConfig`], [`Target`].
//! - [`layout`]: `PxT[@B]` parsing.
//! - [`bench`]: [`bench::run`] and [`bench::write_outputs`].
//! - [`runner`]: one measured `fleet run` ([`RunRecord`]).
//! - [`lab`]: the `fleet lab` child.
//! - [`artifacts`]: reading run.json, workers.json, master.log, results.jsonl.
//! - [`summary`]: per-layout figures ([`LayoutSummary`]); [`stats`]: the median.
//! - [`report`]: bench.json ([`BenchReport`]), bench.csv, the stdout table.
//! - [`chart`]: draws bench.svg.
//! - [`procfs`]: /proc and getrusage readings.
//!
//! # bench.json (schema `fleet-bench/1`)
//!
//! ```text
//! {
//!   "schema": "fleet-bench/1", "fleet_version", "started_at", "ended_at", "host",
//!   "cores": 2, "load_before": [1m, 5m, 15m], "load_after": [...],
//!   "command_line": [...], "target": "lab" | "inventory" | "synthetic",
//!   "inventory": path, "devices": N, "latency_ms", "transport": "inventory" | "noop",
//!   "command", "run_args": [extra fleet run args], "repeat",
//!   "handshake_ms":  uncontended connect+auth median (0 if not measured),
//!   "session_ms":    uncontended median session total (handshake + each command's
//!                    latency + close; the bare latency if not measured),
//!   "baseline": "1x1" | null,            // what speedup is relative to
//!   "lab": {"pid", "cpu_ms_total", "stats": {fleet lab stats.json}} | null,
//!   "layouts": [{
//!     "layout": "4x50", "p": 4, "t": 50, "batch_size": null | B, "slots": 200,
//!     "median_wall_ms",            // end to end: process start to exit
//!     "median_run_wall_ms",        // run.json wall_ms: workers start to last result
//!     "sessions_per_s",            // N / median wall
//!     "speedup": x | null,         // baseline median wall / this one
//!     "ideal_ms",                  // ceil(N / slots) * session_ms
//!     "efficiency": r | null,      // ideal_ms / median_wall_ms
//!     "cpu_ms_per_session",        // median (master + workers CPU) / N
//!     "master_cpu_ms", "workers_cpu_ms" (null for p = 0), "lab_cpu_ms" (null without lab),
//!     "peak_rss_total_kib",        // max over runs of master + sum of workers
//!     "peak_rss_master_kib", "peak_rss_per_worker_kib" (largest worker; null for p = 0),
//!     "ipc_messages", "ipc_bytes", // medians, both directions, all workers
//!     "spawn_ms",                  // first hello_at - first started_at (workers.json)
//!     "spawn_all_ms",              // last first-generation hello - first start
//!     "statuses": {"ok": n, ...},  // summed over runs
//!     "all_ok": bool, "flag": null | "why",
//!     "runs": [{"repeat", "order", "run_dir", "exit_code", "timed_out", "wall_ms",
//!               "run_wall_ms", "devices", "cpu_ms", "master_cpu_ms", "workers_cpu_ms",
//!               "lab_cpu_ms", "master_peak_rss_kib", "worker_peak_rss_kib": [..],
//!               "ipc_messages", "ipc_bytes", "spawn_ms", "spawn_all_ms",
//!               "statuses", "load_1m"}]
//!   }]
//! }
//! ```
//!
//! Medians are across repeats; peaks are the largest seen. bench.csv has
//! one row per layout with the columns in [`report::CSV_COLUMNS`].
#![deny(missing_docs)]

pub mod artifacts;
pub mod bare;
pub mod bench;
pub mod chart;
pub mod child;
pub mod config;
pub mod error;
pub mod html;
pub mod lab;
pub mod layout;
pub mod procfs;
pub mod report;
pub mod runner;
pub mod stats;
pub mod summary;

pub use config::{BenchConfig, Target};
pub use error::BenchError;
pub use layout::{BareLayout, FleetLayout, Layout, LayoutKind};
pub use report::BenchReport;
pub use runner::RunRecord;
pub use summary::LayoutSummary;
