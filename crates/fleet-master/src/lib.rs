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
//!
//! # One device, from `fleet run` to its `results.jsonl` line
//!
//! 1. `bin/fleet`: clap parses every flag into typed values
//!    (`cli::RunArgs`); `cmd_run::prepare` loads the inventory
//!    (`fleet_inventory::load_with`) and calls [`plan::RunPlan::build`],
//!    which applies `--limit`, `-c`, `--transport`, the config push and
//!    `--resume`: the device now has its final commands.
//! 2. [`run`] ([`dispatch`]) creates the run directory
//!    ([`rundir::RunDir::create`]), writes `run.json` ([`sink::write_run_json`]),
//!    queues the device as a `Job` and starts workers
//!    ([`spawn::spawn_process`], or [`spawn::spawn_in_process`] for `-p 0`).
//! 3. A worker asks for work (`NeedWork`); the dispatcher feeds that to
//!    its state machine (`dispatch::machine::Machine::on_event`), whose
//!    `dispatch` puts the device in a batch (logging the `dispatch`
//!    lifecycle event, [`fleet_proto::event::Lifecycle`]) and returns a
//!    send action that the event loop carries out.
//! 4. In the worker, `fleet_worker::pool` runs the session on a thread
//!    (`session_start`, `session_end` events) and sends the
//!    [`fleet_proto::DeviceResult`] back as `WorkerEvent::Finished`.
//! 5. The event loop's `on_message` feeds it to the machine
//!    (`Event::Finished` → `on_finished`), which either schedules a
//!    `--retry` backoff or returns `Action::Record`; `record_result` then
//!    logs the `result` event and appends the line through
//!    [`sink::ResultsFile::write`]: that is the device's line in
//!    `results.jsonl` (type [`fleet_proto::rundir::ResultLine`]).
//! 6. When every device has a line, `finish` writes `workers.json`,
//!    `trace.json` and the final `run.json`, and [`report`] prints the
//!    summary. The files are specified in `docs/run-directory.md`.
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
