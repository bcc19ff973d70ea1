//! `fleet logs` and `fleet runs`: reading past runs back. The work is in
//! the `fleet-logs` crate; this only maps flags and prints.

use anyhow::{Context, Result};
use clap::Args;
use fleet_logs::{filter, Filter, RunInfo};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

/// Exit code for bad flags or an unreadable run directory.
const USAGE: i32 = 2;

/// Flags of `fleet logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The run directory (`runs/<run-id>`).
    pub run_dir: PathBuf,

    /// Only lines from worker N's process(es); the master's lines about
    /// --device are kept too.
    #[arg(long, value_name = "N")]
    pub worker: Option<u32>,

    /// Only lines about this device, from every process.
    #[arg(long, value_name = "NAME")]
    pub device: Option<String>,

    /// Only this level and more severe (error, warn, info, debug, trace).
    #[arg(long, value_name = "LEVEL")]
    pub level: Option<String>,

    /// Only records matching this regular expression (any of their lines).
    #[arg(long, value_name = "REGEX")]
    pub grep: Option<String>,

    /// Only records at or after this time: RFC 3339 UTC
    /// (2026-11-22T00:10:00Z) or a duration from the run start (10s, 1m30s).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// Only records at or before this time (same forms as --since).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,

    /// One JSON object per record instead of the original lines.
    #[arg(long, conflicts_with = "explain")]
    pub json: bool,

    /// Tell the story of --device: dispatch, worker, phases, attempts,
    /// result and what its worker was doing meanwhile.
    #[arg(long, requires = "device")]
    pub explain: bool,

    /// Print log lines as written, even on a terminal (by default control
    /// characters are shown as `\x1b`-style escapes when stdout is one).
    #[arg(long)]
    pub raw_output: bool,
}

/// Flags of `fleet runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Directory holding run directories.
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
}

/// Runs `fleet logs`; returns the exit code.
pub fn logs(args: LogsArgs) -> i32 {
    report("logs", run_logs(&args))
}

/// Runs `fleet runs`; returns the exit code.
pub fn runs(args: RunsArgs) -> i32 {
    report("runs", run_runs(&args))
}

fn report(cmd: &str, outcome: Result<()>) -> i32 {
    match outcome {
        Ok(()) => 0,
        // `fleet logs ... | head` is not an error.
        Err(e)
            if e.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe) =>
        {
            0
        }
        Err(e) => {
            eprintln!("fleet {cmd}: error: {e:#}");
            USAGE
        }
    }
}

fn run_logs(args: &LogsArgs) -> Result<()> {
    let dir = &args.run_dir;
    // Log lines quote devices and inventories: escaped on a terminal.
    let policy = fleet_escape::Streams::detect(args.raw_output).stdout;
    if args.explain {
        let device = args.device.as_deref().unwrap_or_default();
        let story = fleet_logs::explain(dir, device)?.to_string();
        let mut out = io::stdout().lock();
        write!(out, "{}", policy.text(&story))?;
        return Ok(out.flush()?);
    }
    let entries = fleet_logs::read_run(dir)?;
    let start = RunInfo::read(dir)
        .ok()
        .and_then(|i| i.start())
        .or_else(|| entries.first().and_then(|e| filter::parse_ts(&e.record.ts)));
    let f = Filter {
        worker: args.worker,
        device: args.device.clone(),
        level: args.level.as_deref().map(filter::parse_level).transpose()?,
        grep: args.grep.as_deref().map(filter::parse_grep).transpose()?,
        since: args
            .since
            .as_deref()
            .map(|s| filter::time_bound(s, start))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|s| filter::time_bound(s, start))
            .transpose()?,
    };
    let mut out = BufWriter::new(io::stdout().lock());
    for e in entries.iter().filter(|e| f.matches(e)) {
        if args.json {
            let json = serde_json::to_string(&e.to_json())?;
            writeln!(out, "{}", policy.json(&json))?;
        } else {
            writeln!(out, "{}", policy.text(&e.text))?;
        }
    }
    Ok(out.flush()?)
}

fn run_runs(args: &RunsArgs) -> Result<()> {
    let runs = fleet_logs::list_runs(&args.out)
        .with_context(|| format!("no runs under {}", args.out.display()))?;
    let mut out = BufWriter::new(io::stdout().lock());
    for r in &runs {
        writeln!(out, "{r}")?;
    }
    Ok(out.flush()?)
}
