//! Why a benchmark could not run (a layout whose sessions fail is a
//! result, flagged in the report, not an error).

use std::path::PathBuf;

/// A failure of the benchmark itself.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A `--layouts` entry is not `PxT` or `PxT@B`.
    #[error("invalid layout `{layout}`: {message}")]
    Layout {
        /// The entry as written.
        layout: String,
        /// What is wrong with it.
        message: String,
    },
    /// Flags that cannot work together.
    #[error("{0}")]
    Config(String),
    /// A file or directory could not be read or written.
    #[error("{context}: {path}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A child process (`fleet lab`, `fleet run`) could not be started or waited for.
    #[error("failed to {action} `{program}`")]
    Spawn {
        /// start, wait for, ...
        action: &'static str,
        /// The executable.
        program: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The lab did not come up.
    #[error("the lab did not start: {0}")]
    Lab(String),
    /// A run left no usable run directory (it crashed or was refused).
    #[error("run {layout} #{repeat} left no usable results ({why}); see {dir}")]
    Run {
        /// Layout of the run.
        layout: String,
        /// Repeat index.
        repeat: usize,
        /// What was missing.
        why: String,
        /// Its output directory (stdout/stderr captured there).
        dir: PathBuf,
    },
    /// A run's directory is not what schema `fleet-run/1` says (or a file
    /// of it cannot be read).
    #[error("run {layout} #{repeat}: unusable run directory (see {dir})")]
    RunDir {
        /// Layout of the run.
        layout: String,
        /// Repeat index.
        repeat: usize,
        /// Its output directory (stdout/stderr captured there).
        dir: PathBuf,
        /// Which file, and why.
        #[source]
        source: fleet_proto::rundir::RunDirError,
    },
    /// The inventory could not be read.
    #[error("inventory {path}: {message}")]
    Inventory {
        /// The file.
        path: PathBuf,
        /// The loader's message.
        message: String,
    },
    /// bench.svg could not be drawn.
    #[error("failed to draw bench.svg: {0}")]
    Chart(String),
}

impl BenchError {
    /// A closure turning an I/O error on `path` into [`BenchError::Io`].
    pub fn io(
        context: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> BenchError {
        let path = path.into();
        move |source| BenchError::Io {
            context,
            path,
            source,
        }
    }
}
