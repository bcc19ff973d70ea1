//! The types that cross fleet's process boundaries.
//!
//! The master, the workers and any tool that reads `results.jsonl` agree on
//! these types and nothing else, the way `nextest-metadata` does for nextest:
//!
//! - [`device`]: a fully resolved target (address, credentials, commands) as
//!   the inventory produced it, ready to hand to a worker.
//! - [`secret`]: a string that never prints.
//! - [`table`]: many devices in little memory ([`DeviceTable`]: packed
//!   names and addresses, shared profiles).
//! - [`result`]: what happened to one device, the line in `results.jsonl`.
//! - [`ipc`]: the versioned messages between master and workers.
//! - [`exit`]: the documented exit codes of the `fleet` binary.
//! - [`platform`]: platform names and every other tool's spelling of them.
//! - [`duration`]: the one duration syntax for flags, inventories and policies.
//! - [`rundir`]: the run directory as a versioned contract (`fleet-run/1`):
//!   `run.json`, `workers.json`, result lines, trace event kinds, and a
//!   [`rundir::ResultsReader`] that survives a torn last line.
//! - [`event`]: lifecycle events (dispatch, session start, phase, result,
//!   worker spawn/exit, layout change) written into log lines as fields
//!   and parsed back as data.
//!
//! The run-directory types live here rather than in a crate of their own
//! because every writer (master, worker) and every reader (fleet-logs,
//! fleet-bench, testkit, `fleet merge`) already depends on this crate, and
//! the result line *is* the IPC result type: one definition, no new edges.
#![deny(missing_docs)]

pub mod chain;
pub mod device;
pub mod duration;
pub mod event;
pub mod exit;
pub mod ipc;
pub mod platform;
pub mod result;
pub mod rundir;
pub mod secret;
pub mod table;

pub use device::{Auth, Device, HostKeyCheck, JumpHost, Mode, Timeouts, Transport};
pub use exit::ExitCode;
pub use ipc::{
    BatchJob, Job, MasterToWorker, ThreadProgress, WorkerConfig, WorkerEvent, WorkerStats,
    WorkerToMaster, OUTPUT_CHUNK, PROTOCOL_VERSION,
};
pub use result::{CommandOutput, DeviceResult, Status, Timings, WorkerRef};
pub use secret::Secret;
pub use table::DeviceTable;
