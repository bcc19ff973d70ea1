//! What happened to one device: one line of `results.jsonl`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The class of a device's outcome. Every device in an inventory ends a run
/// with exactly one of these, whatever happened to workers or the master.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Connected, authenticated, every command ran and exited 0.
    Ok,
    /// The device refused every credential.
    AuthFailed,
    /// TCP connect failed: refused, unreachable, or no such host.
    ConnectFailed,
    /// A connect, command or session time limit ran out.
    Timeout,
    /// A command exited non-zero or printed a platform error marker.
    CommandFailed,
    /// The peer broke the protocol: bad banner, disconnect mid-output, ...
    ProtocolError,
    /// The host key differs from the one in `known_hosts`, or is unknown
    /// under `--host-key-check strict`.
    HostKeyMismatch,
    /// The worker running the device died, on every allowed attempt.
    WorkerLost,
    /// The run stopped (Ctrl-C, SIGTERM) before the device finished.
    Cancelled,
}

impl Status {
    /// Every status, in the order summaries print them.
    pub const ALL: [Status; 9] = [
        Status::Ok,
        Status::AuthFailed,
        Status::ConnectFailed,
        Status::Timeout,
        Status::CommandFailed,
        Status::ProtocolError,
        Status::HostKeyMismatch,
        Status::WorkerLost,
        Status::Cancelled,
    ];

    /// The snake_case name used in results and summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::AuthFailed => "auth_failed",
            Status::ConnectFailed => "connect_failed",
            Status::Timeout => "timeout",
            Status::CommandFailed => "command_failed",
            Status::ProtocolError => "protocol_error",
            Status::HostKeyMismatch => "host_key_mismatch",
            Status::WorkerLost => "worker_lost",
            Status::Cancelled => "cancelled",
        }
    }

    /// Parses the snake_case name (for `--retry timeout=1` and `--status` filters).
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether this is the outcome users want.
    pub fn is_ok(self) -> bool {
        self == Status::Ok
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Output of one command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandOutput {
    /// The command as sent.
    pub command: String,
    /// Its standard output (lossy UTF-8).
    pub stdout: String,
    /// Its standard error (lossy UTF-8; empty in shell mode).
    pub stderr: String,
    /// Exit status where the transport reports one (exec mode).
    pub exit_status: Option<i32>,
    /// True when output was cut at `--max-output`. Always present: the
    /// IPC encoding (bincode) is not self-describing, so no field may be
    /// skipped conditionally.
    pub truncated: bool,
}

/// Which worker process and thread ran a device: the key to its log lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerRef {
    /// Worker id (0-based, stable across restarts of that slot).
    pub id: u32,
    /// OS process id of the worker.
    pub pid: u32,
    /// Thread name inside the worker, e.g. `w3-t17`.
    pub thread: String,
}

/// Phase durations in milliseconds (fractional, microsecond precision).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// TCP connect plus SSH handshake and host-key check.
    pub connect: f64,
    /// Authentication.
    pub auth: f64,
    /// All commands, first send to last byte.
    pub commands: f64,
    /// The whole session as the worker saw it.
    pub total: f64,
}

/// The final word on one device: one line of `results.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceResult {
    /// Device name from the inventory.
    pub device: String,
    /// Address connected to.
    pub host: String,
    /// Port connected to.
    pub port: u16,
    /// Outcome class.
    pub status: Status,
    /// Human-readable cause when `status` is not `ok`.
    pub error: Option<String>,
    /// One entry per command that ran, in order.
    pub outputs: Vec<CommandOutput>,
    /// Who ran it; `None` when no worker ever started it (cancelled).
    pub worker: Option<WorkerRef>,
    /// Phase durations.
    pub timings_ms: Timings,
    /// 1 for the first try; retries after a lost worker or a retryable
    /// failure count up.
    pub attempt: u32,
    /// Start of the session, microseconds since the Unix epoch (for traces).
    pub started_us: u64,
    /// Batch that carried the device to its worker, if any.
    pub batch: Option<u64>,
}

impl DeviceResult {
    /// A result for a device that never produced one itself (cancelled,
    /// worker lost): no outputs, no timings.
    pub fn without_session(
        device: &crate::Device,
        status: Status,
        error: impl Into<String>,
        attempt: u32,
    ) -> Self {
        DeviceResult {
            device: device.name.clone(),
            host: device.host.clone(),
            port: device.port,
            status,
            error: Some(error.into()),
            outputs: Vec::new(),
            worker: None,
            timings_ms: Timings::default(),
            attempt,
            started_us: 0,
            batch: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_round_trip_through_serde_and_parse() {
        for st in Status::ALL {
            let json = serde_json::to_string(&st).unwrap();
            assert_eq!(json, format!("\"{}\"", st.as_str()));
            assert_eq!(Status::parse(st.as_str()), Some(st));
        }
    }
}
