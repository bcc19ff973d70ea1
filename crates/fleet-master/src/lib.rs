//! The master side of a run: one source of truth for where every device is.
//!
//! - [`plan`]: which devices run and with which commands ([`plan::RunPlan`]),
//!   from the loaded inventory and the typed options.
//! - [`config`]: the settings of a run, validated before anything starts.
//! - [`rundir`]: the run directory (`<out>/<run-id>/`) and its private files.
//! - [`spawn`]: worker processes (self re-exec) and the in-process pool of
//!   `-p 0`, each turned into a stream of [`spawn::Event`]s.
//! - [`policy`]: connect rate, per-group caps, retries with backoff.
//! - [`dispatch`]: a pure state machine ([`dispatch::machine`]: one state
//!   per device, `on_event(now, event) -> actions`) and the thin I/O shell
//!   around it: work by free slots, crash recovery, heartbeats and
//!   deadlines, signals, draining. The only place device state changes.
//! - [`sink`]: what a run leaves behind: `results.jsonl`, `run.json`,
//!   `workers.json`, `trace.json`.
//! - [`outputs`]: `--save-outputs`, `--group-output`, `--diff`.
//! - [`report`]: the only code that prints: progress bar, stdout formats,
//!   summary.
#![deny(missing_docs)]

pub mod config;
pub mod dispatch;
pub mod outputs;
pub mod plan;
pub mod policy;
pub mod report;
pub mod rundir;
pub mod sink;
pub mod spawn;

pub use config::{OutputFormat, RunConfig};
pub use dispatch::{run, MasterError, RunOutcome};
pub use plan::{PlanOptions, RunPlan};
