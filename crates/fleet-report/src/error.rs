//! What can stop a report from being written.

use std::path::PathBuf;

/// Why a report or the run browser failed.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file of the run could not be read.
    #[error("failed to read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `run.json` or `workers.json` is not what schema `fleet-run/1`
    /// says (or cannot be read).
    #[error(transparent)]
    RunDir(#[from] fleet_proto::rundir::RunDirError),
    /// The directory holds neither `run.json` nor `results.jsonl`.
    #[error("{0} is not a run directory (no run.json or results.jsonl)")]
    NotARun(PathBuf),
    /// Reading the run's logs failed.
    #[error("failed to read the logs of {path}")]
    Logs {
        /// The run directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: fleet_logs::error::LogsError,
    },
    /// The data could not be serialised into the page.
    #[error("failed to serialise the report data")]
    Serialise(#[source] serde_json::Error),
    /// The browser could not bind its address.
    #[error("failed to listen on {addr}")]
    Listen {
        /// The address.
        addr: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `--listen` was not given and the address is not loopback.
    #[error("refusing to serve on non-loopback address {0} without --listen naming it")]
    NotLoopback(String),
}
