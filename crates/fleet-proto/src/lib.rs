//! The types that cross fleet's process boundaries.
//!
//! The master, the workers and any tool that reads `results.jsonl` agree on
//! these types and nothing else, the way `nextest-metadata` does for nextest:
//!
//! - [`device`]: a fully resolved target (address, credentials, commands) as
//!   the inventory produced it, ready to hand to a worker.
//! - [`secret`]: a string that never prints.
//! - [`result`]: what happened to one device, the line in `results.jsonl`.
//! - [`ipc`]: the versioned messages between master and workers.
//! - [`exit`]: the documented exit codes of the `fleet` binary.
//! - [`platform`]: platform names and every other tool's spelling of them.
//! - [`duration`]: the one duration syntax for flags, inventories and policies.
#![deny(missing_docs)]

pub mod device;
pub mod duration;
pub mod exit;
pub mod ipc;
pub mod platform;
pub mod result;
pub mod secret;

pub use device::{Auth, Device, HostKeyCheck, JumpHost, Mode, Timeouts, Transport};
pub use exit::ExitCode;
pub use ipc::{
    Job, MasterToWorker, WorkerConfig, WorkerEvent, WorkerStats, WorkerToMaster, OUTPUT_CHUNK,
    PROTOCOL_VERSION,
};
pub use result::{CommandOutput, DeviceResult, Status, Timings, WorkerRef};
pub use secret::Secret;
