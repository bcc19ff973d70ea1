//! Exit codes of the `fleet` binary, part of its interface for scripts.
//! Every exit code any fleet process uses is defined here, the worker's
//! included; the README's "Exit codes" section lists the same table.

/// What the process exit code tells a calling script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum ExitCode {
    /// Every device ended `ok` (`fleet run`), or the command did what it
    /// was asked (every other subcommand).
    AllOk = 0,
    /// The run finished and at least one device did not end `ok`; every
    /// device has its result. (`fleet bench`: some layout had sessions that
    /// were not ok.)
    SomeFailed = 1,
    /// Bad flags, a bad inventory, or an unreadable run directory to read
    /// back: nothing ran.
    Usage = 2,
    /// A worker process could not serve its master: it could not connect
    /// over IPC, or lost the master. Only the master sees this code (in
    /// `workers.json` as `exit 3`); `fleet` itself never exits with it.
    WorkerFailed = 3,
    /// `results.jsonl` could not be written: the run stopped dispatching at
    /// the first failed write; the devices without a recorded result are
    /// listed on stderr (and saved in a fallback file when possible).
    ResultsNotWritten = 4,
    /// fleet could not run: the run directory could not be created (e.g.
    /// an unwritable `--out`), no worker could be started, or signal
    /// handlers could not be installed. Devices may have no result.
    RunFailed = 5,
    /// The run was interrupted (SIGINT/SIGTERM); every device still has a
    /// result (`cancelled` for those not run).
    Interrupted = 130,
}

impl ExitCode {
    /// Every code, in numeric order.
    pub const ALL: [ExitCode; 7] = [
        ExitCode::AllOk,
        ExitCode::SomeFailed,
        ExitCode::Usage,
        ExitCode::WorkerFailed,
        ExitCode::ResultsNotWritten,
        ExitCode::RunFailed,
        ExitCode::Interrupted,
    ];

    /// The numeric code for `std::process::exit`.
    pub const fn code(self) -> i32 {
        self as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_stable() {
        let codes: Vec<i32> = ExitCode::ALL.iter().map(|c| c.code()).collect();
        // Scripts depend on these numbers: changing one is a breaking change.
        assert_eq!(codes, [0, 1, 2, 3, 4, 5, 130]);
    }
}
