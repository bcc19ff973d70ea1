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
//! - [`trace`]: which sessions `trace.json` shows (`--trace`), decided
//!   result by result.
//! - [`tune`]: `-p auto -t auto` during a run: measures sessions, resizes
//!   the workers' thread pools.
//! - [`outputs`]: `--save-outputs`, `--group-output`, `--diff`.
//! - [`report`]: the only code that prints: progress bar, stdout formats,
//!   summary.
//!
//! # One device, from `fleet run` to its `results.jsonl` line
//!
//! Each step names the function that does it; read them in this order.
//!
//! 1. `bin/fleet`: clap parses every flag into typed values
//!    (`cli::RunArgs`; `--limit`, `--retry`, `--connect-rate`, ... are
//!    value parsers, so a typo fails before anything is read).
//!    `cmd_run::prepare` loads the inventory (`fleet_inventory::load_with`)
//!    and calls [`plan::RunPlan::build`], which applies `--limit`, `-c`,
//!    `--transport`, the config push, `--shard` and `--resume`: the device
//!    now has its final commands. `cmd_run::run` hands the devices to [`run`].
//! 2. [`run`] ([`dispatch`]) creates the run directory
//!    ([`rundir::RunDir::create`]), writes the first `run.json`
//!    ([`sink::write_run_json`]) and builds the state machine
//!    ([`dispatch::machine::Machine`]), where the device gets its `seq` and
//!    waits `Pending` in the queue. `Shell::spawn` starts the workers
//!    ([`spawn::spawn_process`], or [`spawn::spawn_in_process`] for `-p 0`)
//!    and logs `worker_spawn` ([`fleet_proto::event::Lifecycle`]).
//! 3. `Shell::event_loop` turns what the spawn threads report
//!    ([`spawn::Event`]) into machine events (`Shell::handle`,
//!    `Shell::on_message` → `Shell::feed` →
//!    [`dispatch::machine::Machine::on_event`]). When a worker has free
//!    slots, the machine's `dispatch` puts the device in a batch (the
//!    `dispatch` event; state `InFlight`) and returns
//!    [`dispatch::machine::Action::Send`], which `Shell::act` carries out
//!    (`Shell::send`, over [`spawn::WorkerTx`]).
//! 4. In the worker, `fleet_worker::pool`'s `receive_loop` queues the
//!    batch; a session thread (`pool::session::session_loop`) runs the
//!    device through `pool::session::run_one`, which calls
//!    `fleet_ssh::Context::run` (events `session_start`, `phase`,
//!    `session_end`), and the worker's sender thread (`pool::sender`)
//!    sends the [`fleet_proto::DeviceResult`] back as
//!    `WorkerEvent::Finished`.
//! 5. `Shell::on_message` feeds it to the machine
//!    (`machine::Event::Finished` → `Machine::on_finished`), which either
//!    schedules a `--retry` backoff or returns
//!    [`dispatch::machine::Action::Record`]; `Shell::record_result` logs
//!    the `result` event and hands the result to
//!    [`sink::ResultsFile::write`], whose thread (`m-results`) encodes and
//!    appends the device's line in
//!    `results.jsonl` (type [`fleet_proto::rundir::ResultLine`]). Then
//!    [`report::Reporter::result`] shows it (progress bar, `--format`).
//! 6. When every device is `Done`, `Shell::finish` (`dispatch/finish.rs`)
//!    writes `workers.json`, `trace.json` and the final `run.json`, and
//!    [`report::Reporter::finish`] prints the summary. The files are
//!    specified in `docs/run-directory.md`.
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
pub mod trace;
pub mod tune;

pub use config::{OutputFormat, RunConfig};
pub use dispatch::{run, MasterError, RunOutcome};
pub use plan::{PlanOptions, RunPlan};
