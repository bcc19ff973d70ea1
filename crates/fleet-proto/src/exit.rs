//! Exit codes of the `fleet` binary, part of its interface for scripts.
//!
//! Every code `fleet` (and its internal worker process) exits with is a
//! variant here, and each means one thing, so a script can tell "some
//! routers failed" (1) from "fleet could not run" (3). The README's "Exit
//! codes" table lists them.

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
    /// fleet could not run: the `--out` directory or the run directory
    /// cannot be written, no worker process could be spawned, or the
    /// signal handlers could not be installed. No device ran.
    RunFailed = 3,
    /// `results.jsonl` could not be written: the run stopped dispatching at
    /// the first failed write; the devices without a recorded result are
    /// listed on stderr (and saved in a fallback file when possible).
    ResultsNotWritten = 4,
    /// `fleet merge` wrote the merged run, but a shard or some devices are
    /// missing, or a device has results in two shards.
    MergeIncomplete = 5,
    /// The internal `fleet __worker` process failed on its own (lost its
    /// master, could not connect to it, broke the protocol); only the master
    /// sees it, as a crashed worker whose devices are re-run.
    /// (EX_SOFTWARE from sysexits.h.)
    WorkerFailed = 70,
    /// The run was interrupted (SIGINT/SIGTERM); every device still has a result.
    Interrupted = 130,
}

impl ExitCode {
    /// Every code, in numeric order (for docs and tests).
    pub const ALL: [ExitCode; 8] = [
        ExitCode::AllOk,
        ExitCode::SomeFailed,
        ExitCode::Usage,
        ExitCode::RunFailed,
        ExitCode::ResultsNotWritten,
        ExitCode::MergeIncomplete,
        ExitCode::WorkerFailed,
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
    fn codes_are_distinct_and_fixed() {
        let codes: Vec<i32> = ExitCode::ALL.iter().map(|c| c.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 5, 70, 130]);
    }

    /// The README's "Exit codes" table lists exactly these codes, in order.
    #[test]
    fn readme_exit_code_table_matches() {
        let readme = include_str!("../../../README.md");
        let table = readme
            .split_once("### Exit codes")
            .expect("README has an `### Exit codes` section")
            .1;
        let table = table.split("\n#").next().unwrap_or(table);
        let documented: Vec<i32> = table
            .lines()
            .filter_map(|l| l.strip_prefix("| `")?.split_once('`')?.0.parse().ok())
            .collect();
        let codes: Vec<i32> = ExitCode::ALL.iter().map(|c| c.code()).collect();
        assert_eq!(documented, codes, "README exit-code table vs ExitCode::ALL");
    }
}
