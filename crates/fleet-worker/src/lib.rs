//! The inside of a worker: T session threads fed by batches from the master.
//!
//! - [`link`]: the IPC channel to the master (ipc-channel carrying
//!   bincode frames) and the in-process variant used by `-p 0`.
//! - [`pool`]: the thread pool: pull-based work requests, session threads,
//!   a watchdog for sessions stuck past their hard limit, batched events.
//! - [`process`]: the entry point of a worker process (`fleet __worker`):
//!   parent-death signal, logging to its own file, panic capture.
#![deny(missing_docs)]

pub mod link;
pub mod pool;
pub mod process;

pub use link::{Bootstrap, Frame, FromMaster, LinkError, ToMaster};
pub use pool::{serve, PoolError};
pub use process::{worker_main, WorkerArgs};
