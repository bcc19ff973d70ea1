//! The inside of a worker: T session threads fed by batches from the master.
//!
//! - [`link`]: the IPC channel to the master (ipc-channel carrying
//!   bincode frames) and the in-process variant used by `-p 0`.
//! - [`pool`]: the thread pool: session threads fed by the master's
//!   batches, a watchdog for sessions stuck past their hard limit that
//!   also sends the heartbeat, batched events.
//! - [`process`]: the entry point of a worker process (`fleet __worker`):
//!   parent-death signal, logging to its own file, panic capture.
//!
//! # Panic policy
//!
//! One rule in every layout: a panic during a session is a crash caused by
//! that device. A worker process logs the panic with its backtrace and
//! aborts (its state cannot be trusted); the master re-runs the devices it
//! was running, each alone, and isolates the device that keeps crashing as
//! `worker_lost`. The in-process pool of `-p 0` cannot abort (it is the
//! master): it catches the panic at the session boundary and reports
//! `WorkerEvent::Panicked`, which the master judges the same way. So a
//! panicking device ends `worker_lost` whatever `-p` is, and its
//! neighbours end as they would have. The fault-injection hook
//! `FLEET_TEST_PANIC_DEVICE` exists only with the cargo feature
//! `test-hooks` (on under `make test`, off in `make build`).
#![deny(missing_docs)]

pub mod link;
pub mod pool;
pub mod process;

pub use link::{Bootstrap, Frame, FromMaster, LinkError, ToMaster};
pub use pool::{serve, PoolError};
pub use process::{worker_main, WorkerArgs};
