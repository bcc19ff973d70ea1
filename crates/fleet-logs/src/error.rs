//! Errors of reading a run back.

use std::path::PathBuf;

/// Why a run directory could not be read, or a filter not understood.
#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    /// A file of the run could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The directory holds none of the files a run writes.
    #[error("{path} is not a fleet run directory (no master.log, worker-*.log or results.jsonl)")]
    NotARun {
        /// The directory.
        path: PathBuf,
    },
    /// A `--since`/`--until` value is neither RFC 3339 nor a duration.
    #[error("bad time `{value}`: expected RFC 3339 UTC (2026-11-22T00:10:00Z) or a duration from the run start (10s, 1m30s)")]
    BadTime {
        /// The value given.
        value: String,
    },
    /// A relative time was given but the run's start is unknown.
    #[error("`{value}` is relative to the run start, which neither run.json nor the logs tell")]
    NoRunStart {
        /// The value given.
        value: String,
    },
    /// A `--level` value is not a log level.
    #[error("bad level `{value}`: expected error, warn, info, debug or trace")]
    BadLevel {
        /// The value given.
        value: String,
    },
    /// A `--grep` pattern is not a valid regular expression.
    #[error("bad --grep pattern")]
    BadRegex(#[source] regex::Error),
    /// A JSON file of the run is not what fleet writes.
    #[error("{path} is not valid JSON")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A file of the run is not what schema `fleet-run/1` says.
    #[error(transparent)]
    RunDir(#[from] fleet_proto::rundir::RunDirError),
    /// The device never appears in the run.
    #[error("device `{device}` appears neither in results.jsonl nor in the logs of {path}")]
    UnknownDevice {
        /// The device asked about.
        device: String,
        /// The run directory.
        path: PathBuf,
    },
}

impl LogsError {
    /// An I/O error on `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> LogsError {
        let path = path.into();
        move |source| LogsError::Io { path, source }
    }
}
