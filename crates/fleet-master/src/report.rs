//! The only code that prints: progress on stderr (a bar on a terminal,
//! plain lines otherwise), results on stdout in the chosen format, notes
//! and the summary on stderr.
//!
//! Device text (outputs, errors quoting devices, inventory names) is
//! untrusted: on a terminal it goes through `fleet-escape` (see
//! [`RunConfig::escape`]), so no escape sequence a device sends reaches
//! the user's terminal. JSON stays the same value (C1 controls written as
//! `\u009b`); `results.jsonl` and `--save-outputs` keep the exact text.

use crate::config::{OutputFormat, Progress, RunConfig};
use crate::dispatch::RunOutcome;
use crate::rundir::RunDir;
use fleet_escape::{Policy, Streams};
use fleet_proto::rundir::ResultsReader;
use fleet_proto::{DeviceResult, Status};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often `--progress` prints a line when stderr is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(2);

/// Live progress: nothing, a bar, or periodic lines.
enum Live {
    Off,
    Bar(ProgressBar),
    Lines {
        /// When the run started, for the rate.
        started: Instant,
        /// When the last line was printed.
        last: Instant,
    },
}

/// Prints what a run does, as it does it.
pub struct Reporter {
    format: OutputFormat,
    live: Live,
    /// Devices in the run, for progress lines.
    total: usize,
    /// Stdout shares the terminal with the bar: jsonl lines are written
    /// with the bar suspended, so they never interleave with it.
    stdout_on_bar: bool,
    stdout: io::BufWriter<io::Stdout>,
    results_path: std::path::PathBuf,
    /// `--format table`: this run's rows.
    table: Table,
    /// Stdout went away (e.g. `| head`): stop writing, keep running.
    stdout_closed: bool,
    /// Escape device text on stdout / stderr (terminals).
    escape: Streams,
}

impl Reporter {
    /// A reporter for `total` devices.
    pub fn new(cfg: &RunConfig, total: usize, dir: &RunDir) -> Reporter {
        let header = format!(
            "fleet: run {} ({} devices, layout {} batch {}) -> {}",
            dir.id,
            total,
            cfg.layout(),
            cfg.batch_label(),
            dir.path.display()
        );
        let live = match cfg.progress {
            Progress::Off => Live::Off,
            Progress::Lines => {
                eprintln!("{header}");
                let now = Instant::now();
                Live::Lines {
                    started: now,
                    last: now,
                }
            }
            Progress::Bar => {
                let bar = ProgressBar::with_draw_target(
                    Some(total as u64),
                    ProgressDrawTarget::stderr_with_hz(8),
                );
                let style = ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} eta {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar());
                bar.set_style(style);
                println_above(&bar, &header);
                bar.enable_steady_tick(Duration::from_millis(250));
                Live::Bar(bar)
            }
        };
        let stdout_on_bar = matches!(live, Live::Bar(_)) && io::stdout().is_terminal();
        Reporter {
            format: cfg.format,
            live,
            total,
            stdout_on_bar,
            stdout: io::BufWriter::new(io::stdout()),
            results_path: dir.file("results.jsonl"),
            table: Table::default(),
            stdout_closed: false,
            escape: cfg.escape,
        }
    }

    /// Device `seq` (its inventory position) finished.
    pub fn result(&mut self, seq: u32, r: &DeviceResult) {
        if let Live::Bar(bar) = &self.live {
            bar.inc(1);
        }
        if self.format == OutputFormat::Table {
            self.table.push(seq, r);
        }
        if self.format == OutputFormat::Jsonl && !self.stdout_closed {
            let on_bar = self.stdout_on_bar;
            let policy = self.escape.stdout;
            let stdout = &mut self.stdout;
            let mut write = move || {
                (match policy {
                    Policy::Raw => serde_json::to_writer(&mut *stdout, r).is_ok(),
                    Policy::Escape => serde_json::to_string(r).is_ok_and(|json| {
                        stdout
                            .write_all(fleet_escape::json(&json).as_bytes())
                            .is_ok()
                    }),
                }) && stdout.write_all(b"\n").is_ok()
                    && (!on_bar || stdout.flush().is_ok())
            };
            let ok = match &self.live {
                // The bar is erased while the line goes out, then redrawn.
                Live::Bar(bar) if on_bar => bar.suspend(write),
                _ => write(),
            };
            if !ok {
                self.stdout_closed = true;
            }
        }
    }

    /// Periodic refresh: tallies and per-worker activity.
    pub fn tick(
        &mut self,
        done: usize,
        counts: &BTreeMap<Status, usize>,
        activity: &[(u32, usize)],
    ) {
        if self.format == OutputFormat::Jsonl && !self.stdout_closed && self.stdout.flush().is_err()
        {
            self.stdout_closed = true;
        }
        let ok = counts.get(&Status::Ok).copied().unwrap_or(0);
        let failed = done - ok.min(done);
        let bar = match &mut self.live {
            Live::Off => return,
            Live::Lines { started, last } => {
                if last.elapsed() >= LINE_EVERY {
                    *last = Instant::now();
                    eprintln!("{}", progress_line(done, self.total, ok, failed, *started));
                }
                return;
            }
            Live::Bar(bar) => bar,
        };
        let workers: Vec<String> = activity
            .iter()
            .take(16)
            .map(|(id, n)| format!("w{id}:{n}"))
            .collect();
        let secs = bar.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
        bar.set_message(format!(
            "{rate:.1}/s ok {ok} failed {failed} | active {}",
            workers.join(" ")
        ));
    }

    /// A one-off line above the bar (or on stderr); may quote devices, so
    /// it is kept on its line and escaped on a terminal.
    pub fn note(&self, line: &str) {
        let line = format!("fleet: {}", self.escape.stderr.line(line));
        match &self.live {
            Live::Bar(bar) => println_above(bar, &line),
            Live::Off | Live::Lines { .. } => eprintln!("{line}"),
        }
    }

    /// Prints the final results (table/json) and the summary; `name` gives
    /// the name of the device at an inventory position.
    pub fn finish<'a>(&mut self, o: &RunOutcome, cfg: &RunConfig, name: impl Fn(u32) -> &'a str) {
        match std::mem::replace(&mut self.live, Live::Off) {
            Live::Bar(bar) => bar.finish_and_clear(),
            Live::Lines { started, .. } => {
                let ok = o.counts.get(&Status::Ok).copied().unwrap_or(0);
                let failed = o.total - ok.min(o.total);
                let done: usize = o.counts.values().sum();
                eprintln!("{}", progress_line(done, self.total, ok, failed, started));
            }
            Live::Off => {}
        }
        if !self.stdout_closed {
            let printed = match self.format {
                OutputFormat::Table => {
                    let table = std::mem::take(&mut self.table);
                    table.print(&mut self.stdout, name, self.escape.stdout)
                }
                OutputFormat::Json => {
                    print_json(&mut self.stdout, &self.results_path, self.escape.stdout)
                }
                OutputFormat::Jsonl | OutputFormat::None => Ok(()),
            };
            let extras = self.print_extras(cfg);
            if printed
                .and(extras)
                .and_then(|_| self.stdout.flush())
                .is_err()
            {
                self.stdout_closed = true;
            }
        }
        eprintln!("{}", summary(o, cfg));
    }
}

impl Reporter {
    /// `--group-output` and `--diff`, from the results file (outputs are
    /// not kept in memory during the run).
    fn print_extras(&mut self, cfg: &RunConfig) -> io::Result<()> {
        if !cfg.group_output && cfg.diff_against.is_none() {
            return Ok(());
        }
        // A resumed run appends: each device's latest result only.
        let current = crate::outputs::latest(crate::sink::read_results(&self.results_path)?);
        let policy = self.escape.stdout;
        if cfg.group_output {
            let text = crate::outputs::group(&current);
            self.stdout.write_all(policy.text(&text).as_bytes())?;
        }
        if let Some(prev) = &cfg.diff_against {
            let previous = crate::sink::read_results(&prev.join("results.jsonl"))?;
            let text = crate::outputs::diff(&previous, &current);
            self.stdout.write_all(policy.text(&text).as_bytes())?;
        }
        Ok(())
    }
}

/// Longest error shown in a table cell, characters.
const TABLE_ERROR_CHARS: usize = 100;

/// What the table shows of each result, kept as the run goes (~40 bytes a
/// device; names come from the device table at the end). Reading the rows
/// back from `results.jsonl` instead cost 2.5 s of a 1M-device noop run.
/// Only this run's results are here, also on a resumed run (whose file
/// holds the earlier run's lines too).
#[derive(Debug, Default)]
struct Table {
    rows: Vec<TableRow>,
    /// Thread names (`w0-t3`), each once; rows point into this.
    threads: Vec<Box<str>>,
    thread_ids: std::collections::HashMap<Box<str>, u32>,
}

#[derive(Debug)]
struct TableRow {
    /// Inventory position: the name is looked up at the end.
    seq: u32,
    status: Status,
    /// Index into `Table::threads`; `NO_THREAD` when no worker ran it.
    thread: u32,
    total_ms: f64,
    /// Cut to [`TABLE_ERROR_CHARS`].
    error: Option<Box<str>>,
}

const NO_THREAD: u32 = u32::MAX;

impl Table {
    fn push(&mut self, seq: u32, r: &DeviceResult) {
        let thread = match &r.worker {
            None => NO_THREAD,
            Some(w) => match self.thread_ids.get(w.thread.as_str()) {
                Some(&i) => i,
                None => {
                    let i = self.threads.len() as u32;
                    self.threads.push(w.thread.as_str().into());
                    self.thread_ids.insert(w.thread.as_str().into(), i);
                    i
                }
            },
        };
        let error = r
            .error
            .as_deref()
            .map(|e| match e.char_indices().nth(TABLE_ERROR_CHARS) {
                Some((cut, _)) => e[..cut].into(),
                None => e.into(),
            });
        self.rows.push(TableRow {
            seq,
            status: r.status,
            thread,
            total_ms: r.timings_ms.total,
            error,
        });
    }

    /// One row per device, sorted by name; names, threads and errors are
    /// cells, so under `Policy::Escape` they are escaped as single lines.
    fn print<'a>(
        &self,
        out: &mut impl Write,
        name: impl Fn(u32) -> &'a str,
        policy: Policy,
    ) -> io::Result<()> {
        let mut rows: Vec<(&str, &TableRow)> = self.rows.iter().map(|r| (name(r.seq), r)).collect();
        rows.sort_unstable_by(|a, b| a.0.cmp(b.0).then(a.1.seq.cmp(&b.1.seq)));
        let name_w = rows
            .iter()
            .map(|(n, _)| policy.line(n).chars().count())
            .max()
            .unwrap_or(6)
            .max(6);
        writeln!(
            out,
            "{:<name_w$}  {:<17}  {:>9}  {:<10}  ERROR",
            "DEVICE", "STATUS", "TOTAL_MS", "WORKER"
        )?;
        for (name, r) in rows {
            let worker = match self.threads.get(r.thread as usize) {
                Some(t) => t,
                None => "-",
            };
            writeln!(
                out,
                "{:<name_w$}  {:<17}  {:>9.1}  {:<10}  {}",
                policy.line(name),
                r.status,
                r.total_ms,
                policy.line(worker),
                policy.line(r.error.as_deref().unwrap_or(""))
            )?;
        }
        Ok(())
    }
}

/// Prints a line above the bar; if indicatif hides the bar (no terminal
/// after all), the line goes to stderr directly, so notes are never lost.
fn println_above(bar: &ProgressBar, line: &str) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

/// One `--progress` line when stderr is not a terminal.
fn progress_line(done: usize, total: usize, ok: usize, failed: usize, started: Instant) -> String {
    let secs = started.elapsed().as_secs_f64();
    let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
    format!("fleet: progress {done}/{total} ok {ok} failed {failed} ({rate:.1}/s, {secs:.0} s)")
}

/// The full results (with outputs) as one JSON array, streamed from the
/// results file so the master never holds every output in memory: a first
/// pass notes which line is each device's latest (a resumed run appends,
/// so a device may have several), a second writes those lines out. Both
/// read through the contract's [`ResultsReader`]; a line is written as the
/// type serialises it, the same bytes the sink wrote.
fn print_json(out: &mut impl Write, results: &std::path::Path, policy: Policy) -> io::Result<()> {
    let keep = latest_lines(results)?;
    out.write_all(b"[")?;
    let mut first = true;
    let file = std::fs::File::open(results)?;
    let reader = ResultsReader::new(io::BufReader::new(file), results.to_path_buf());
    for (i, r) in reader.enumerate() {
        let r = r.map_err(invalid_data)?;
        if !keep.contains(&i) {
            continue;
        }
        if !first {
            out.write_all(b",\n")?;
        }
        first = false;
        let line = serde_json::to_string(&r)?;
        out.write_all(policy.json(&line).as_bytes())?;
    }
    out.write_all(b"]\n")
}

fn invalid_data(e: fleet_proto::rundir::RunDirError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Only the device of a result line: what the first pass of
/// [`print_json`] needs, without holding outputs.
#[derive(serde::Deserialize)]
struct DeviceOnly {
    device: String,
}

impl fleet_proto::rundir::ResultsLine for DeviceOnly {
    fn device(&self) -> &str {
        &self.device
    }
}

/// Positions (in [`ResultsReader`] order) of the lines of a results file
/// that hold each device's latest result; a torn last line is never one.
fn latest_lines(results: &std::path::Path) -> io::Result<std::collections::HashSet<usize>> {
    let file = std::fs::File::open(results)?;
    let reader = io::BufReader::new(file);
    let mut last: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (i, r) in ResultsReader::<_, DeviceOnly>::new_as(reader, results.to_path_buf()).enumerate()
    {
        last.insert(r.map_err(invalid_data)?.device, i);
    }
    Ok(last.into_values().collect())
}

/// The human summary printed on stderr at the end of a run.
pub fn summary(o: &RunOutcome, cfg: &RunConfig) -> String {
    let secs = o.wall.as_secs_f64();
    let rate = if secs > 0.0 {
        o.total as f64 / secs
    } else {
        0.0
    };
    let ok = o.counts.get(&Status::Ok).copied().unwrap_or(0);
    let classes: Vec<String> = Status::ALL
        .iter()
        .filter_map(|s| o.counts.get(s).map(|n| format!("{s} {n}")))
        .collect();
    let last = o.auto.as_ref().and_then(|a| a.steps.last());
    let layout = if let Some(step) = last {
        format!(
            "auto: {} processes x {} threads at the end ({} layout changes), batch {}",
            step.processes,
            step.threads,
            o.auto
                .as_ref()
                .map_or(0, |a| a.steps.iter().skip(1).filter(|s| s.changed).count()),
            cfg.batch_label()
        )
    } else if cfg.processes == 0 {
        format!("{} threads in the master (-p 0)", cfg.threads)
    } else {
        format!(
            "{} processes x {} threads, batch {}",
            cfg.processes,
            cfg.threads,
            cfg.batch_label()
        )
    };
    let mut s = format!(
        "fleet: {} devices in {:.2} s ({:.1} sessions/s) with {}\n  ok {ok}, failed {}: {}\n  run {}: {}",
        o.total,
        secs,
        rate,
        layout,
        o.total - ok.min(o.total),
        if classes.is_empty() { "-".to_string() } else { classes.join(", ") },
        o.run_id,
        o.run_dir.display()
    );
    if o.interrupted {
        s.push_str("\n  interrupted: devices not run are marked cancelled; resume with --resume");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_proto::Timings;

    const HOSTILE: &str = "\x1b]0;PWNED\x07\x1b[2J\rX\u{9b}31m\x7f";

    fn raw_controls(s: &str) -> bool {
        s.chars()
            .any(|c| fleet_escape::is_control(c) && c != '\n' && c != '\t')
    }

    fn row(device: &str, error: &str) -> DeviceResult {
        DeviceResult {
            device: device.into(),
            host: "h".into(),
            port: 22,
            status: Status::CommandFailed,
            error: Some(error.into()),
            outputs: Vec::new(),
            worker: None,
            timings_ms: Timings::default(),
            attempt: 1,
            started_us: 0,
            batch: None,
        }
    }

    fn table(rows: &[DeviceResult]) -> (Table, Vec<String>) {
        let mut t = Table::default();
        for (seq, r) in rows.iter().enumerate() {
            t.push(seq as u32, r);
        }
        (t, rows.iter().map(|r| r.device.clone()).collect())
    }

    #[test]
    fn the_table_escapes_names_and_errors_on_a_terminal() {
        let (rows, names) = table(&[
            row(
                &format!("evil{HOSTILE}\nname"),
                &format!("failed: {HOSTILE}"),
            ),
            row("r1", "plain"),
        ]);
        let name = |seq: u32| names[seq as usize].as_str();
        let mut out = Vec::new();
        rows.print(&mut out, name, Policy::Escape).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!raw_controls(&text), "{text:?}");
        assert_eq!(text.lines().count(), 3, "one header, one line per device");
        assert!(text.contains("failed: \\x1b]0;PWNED\\x07\\x1b[2J\\rX\\u{9b}31m\\x7f"));
        // Columns line up on the escaped width.
        let starts: Vec<usize> = text.lines().map(|l| l.find("  ").unwrap()).collect();
        assert!(text.lines().nth(2).unwrap().starts_with("r1 "));
        assert_eq!(
            starts[1],
            text.lines()
                .nth(1)
                .unwrap()
                .find("  command_failed")
                .unwrap()
        );

        let mut out = Vec::new();
        rows.print(&mut out, name, Policy::Raw).unwrap();
        assert!(String::from_utf8(out).unwrap().contains(HOSTILE));
    }

    #[test]
    fn the_table_sorts_by_name_shares_thread_names_and_cuts_long_errors() {
        let mut a = row("b", &"é".repeat(500));
        a.worker = Some(fleet_proto::WorkerRef {
            id: 0,
            pid: 1,
            thread: "w0-t1".into(),
        });
        let mut b = row("a", "x");
        b.worker = a.worker.clone();
        b.status = Status::Ok;
        b.timings_ms.total = 12.25;
        let (rows, names) = table(&[a, b, row("c", "y")]);
        assert_eq!(rows.threads.len(), 1, "one thread name, shared");
        assert_eq!(
            rows.rows[0].error.as_deref().map(|e| e.chars().count()),
            Some(TABLE_ERROR_CHARS)
        );
        let mut out = Vec::new();
        rows.print(&mut out, |s| names[s as usize].as_str(), Policy::Raw)
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[1].starts_with("a ") && lines[2].starts_with("b ") && lines[3].starts_with("c ")
        );
        assert!(lines[1].contains("ok") && lines[1].contains("12.2") && lines[1].contains("w0-t1"));
        assert!(lines[3].contains("  -  "), "no worker: {}", lines[3]);
    }

    #[test]
    fn json_on_a_terminal_is_the_same_value_without_raw_controls() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.jsonl");
        let r = row("r1", HOSTILE);
        std::fs::write(&path, serde_json::to_string(&r).unwrap() + "\n").unwrap();
        let mut out = Vec::new();
        print_json(&mut out, &path, Policy::Escape).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!raw_controls(&text), "{text:?}");
        let back: Vec<DeviceResult> = serde_json::from_str(&text).unwrap();
        assert_eq!(back[0].error.as_deref(), Some(HOSTILE));
    }
}
