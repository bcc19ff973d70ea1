//! What one session produced.

use fleet_proto::{CommandOutput, Status, Timings};

/// The result of [`crate::Context::run`]: the worker wraps it into a
/// `DeviceResult` with the device name and its own worker reference.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Outcome class.
    pub status: Status,
    /// Human-readable cause when `status` is not `ok` (never holds secrets).
    pub error: Option<String>,
    /// One entry per command that ran, in order (kept on failure too).
    pub outputs: Vec<CommandOutput>,
    /// Phase durations.
    pub timings: Timings,
    /// Session start, microseconds since the Unix epoch.
    pub started_us: u64,
}
