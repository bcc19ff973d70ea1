//! fleet's log lines: one format for the master and every worker, so that
//! `fleet logs` can put a P×T run back together.
//!
//! - [`format`]: the line format and the logger every process installs.
//! - [`read`]: parsing log lines back into records.
//! - [`merge`]: a run's `master.log` and `worker-<id>.log` files as one
//!   time-ordered stream, continuation lines attached (`fleet logs`).
//! - [`filter`]: choosing records by worker, device, level, regex, time.
//! - [`explain`]: the story of one device (`fleet logs --device X --explain`).
//! - [`runs`]: past runs from their `run.json` (`fleet runs`).
//! - [`shards`]: runs put together by `fleet merge` (one log set per shard).
//! - [`error`]: what can go wrong reading a run back.
//!
//! A line reads
//!
//! ```text
//! 2026-11-22T00:10:00.123456Z INFO  w3 41876 w3-t17 lab-ios-0042 auth ok (password) in 2.1 ms
//! ```
//!
//! that is: UTC time with microseconds, level, process role (`master` or
//! `w<id>`), pid, thread name, device name (`-` when the line is about no
//! device), message. Lines that do not parse (a panic's backtrace, raw
//! stderr of a worker) belong to the record before them.
#![deny(missing_docs)]

pub mod error;
pub mod explain;
pub mod filter;
pub mod format;
pub mod merge;
pub mod read;
pub mod runs;
pub mod shards;

pub use error::LogsError;
pub use explain::{explain, Story};
pub use filter::Filter;
pub use format::{device_scope, field, flush, init, init_with, write_message, DeviceScope};
pub use merge::{read_run, Entry};
pub use read::{parse_line, Record};
pub use runs::{list_runs, read_run_info, run_start, RunInfo, RunSummary};
