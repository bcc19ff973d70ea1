//! Exit codes of the `fleet` binary, part of its interface for scripts.

/// What the process exit code tells a calling script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum ExitCode {
    /// Every device ended `ok`.
    AllOk = 0,
    /// The run finished and at least one device did not end `ok`.
    SomeFailed = 1,
    /// Bad flags or a bad inventory: nothing ran.
    Usage = 2,
    /// `results.jsonl` could not be written: the run stopped dispatching at
    /// the first failed write; the devices without a recorded result are
    /// listed on stderr (and saved in a fallback file when possible).
    ResultsNotWritten = 4,
    /// `fleet merge` wrote the merged run, but a shard or some devices are
    /// missing, or a device has results in two shards.
    MergeIncomplete = 5,
    /// The run was interrupted (SIGINT/SIGTERM); every device still has a result.
    Interrupted = 130,
}

impl ExitCode {
    /// The numeric code for `std::process::exit`.
    pub const fn code(self) -> i32 {
        self as i32
    }
}
