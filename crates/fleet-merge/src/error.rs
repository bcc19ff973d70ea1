//! Why a merge refused to start (nothing was written).

use std::path::PathBuf;

/// A merge that cannot be done: bad inputs or an unwritable output.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// Reading or writing a file failed.
    #[error("failed to {what} {}", path.display())]
    Io {
        /// What was being done (`read`, `write`, `create`).
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A trace.json that does not parse.
    #[error("failed to parse {}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A shard's run.json, results.jsonl or workers.json is not what
    /// schema `fleet-run/1` says (or cannot be read).
    #[error(transparent)]
    RunDir(#[from] fleet_proto::rundir::RunDirError),
    /// An input directory is not a shard of a `--shard` run.
    #[error("{} is not a shard run directory: {why}", path.display())]
    NotAShard {
        /// The directory.
        path: PathBuf,
        /// What is missing.
        why: String,
    },
    /// Inputs that are not parts of one sharded run.
    #[error("shards do not belong together: {0}")]
    Mismatch(String),
    /// The same shard index given twice (a retried task left two run directories).
    #[error("shard {k} given twice: {} and {}; pass one of them", first.display(), second.display())]
    SameShardTwice {
        /// The shard index.
        k: u32,
        /// One directory.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
    /// The output directory exists and is not empty.
    #[error("{} already exists and is not empty", path.display())]
    OutExists {
        /// The output directory.
        path: PathBuf,
    },
    /// No input directories.
    #[error("no run directories to merge")]
    NoInputs,
}

impl MergeError {
    /// An I/O error builder for `map_err`.
    pub(crate) fn io(
        what: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> MergeError {
        let path = path.to_path_buf();
        move |source| MergeError::Io { what, path, source }
    }
}
