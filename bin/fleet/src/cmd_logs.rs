//! `fleet logs` and `fleet runs`: reading past runs back. The work is in
//! the `fleet-logs` crate; this only maps flags and prints.

use crate::cli::{LogsArgs, RunsArgs};
use anyhow::{Context, Result};
use fleet_logs::{filter, Filter};
use fleet_proto::ExitCode;
use std::io::{self, BufWriter, Write};

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
        Ok(()) => ExitCode::AllOk.code(),
        // `fleet logs ... | head` is not an error.
        Err(e)
            if e.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::AllOk.code()
        }
        Err(e) => {
            eprintln!("fleet {cmd}: error: {e:#}");
            ExitCode::Usage.code()
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
    let start = fleet_logs::read_run_info(dir)
        .ok()
        .and_then(|i| fleet_logs::run_start(&i))
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
