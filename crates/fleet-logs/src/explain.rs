//! The story of one device in a run (`fleet logs --device X --explain`):
//! which batch carried it to which worker, which process and thread ran
//! it, how long each phase took, how it ended (every attempt, when a
//! worker died under it), and what else its worker was doing meanwhile.
//!
//! Sources, all read as data: the master's `dispatch`, `result`,
//! `requeue` and `worker_exit` lifecycle events in `master.log`; the
//! workers' `session_start` and `session_end` events and their warnings
//! and errors; the device's rows and the other sessions of the same worker
//! process in `results.jsonl` (through [`ResultsReader`]).

use crate::error::LogsError;
use crate::filter::{parse_ts, ts_of_micros};
use crate::merge::{read_run, Entry};
use fleet_proto::event::Lifecycle;
use fleet_proto::rundir::ResultsReader;
use fleet_proto::DeviceResult;
use std::fmt;
use std::path::Path;

/// Everything known about one device in one run.
#[derive(Debug, Clone)]
pub struct Story {
    /// The device.
    pub device: String,
    /// The run id (directory name).
    pub run_id: String,
    /// Attempts in order (a worker crash while running the device starts
    /// another one).
    pub attempts: Vec<Attempt>,
    /// The device's last row in `results.jsonl`: its final word.
    pub last_result: Option<DeviceResult>,
}

/// One attempt at running the device.
#[derive(Debug, Clone, Default)]
pub struct Attempt {
    /// 1 for the first try.
    pub number: u32,
    /// What happened, in time order: `(timestamp, description)`.
    pub events: Vec<(String, String)>,
    /// The worker process that ran it, if any did: `(slot id, pid, thread)`.
    pub ran_on: Option<(u32, u32, String)>,
    /// When its worker logged `session_start` (log timestamp), if it did.
    pub started_at: Option<String>,
    /// This attempt's row in `results.jsonl` (none when its worker died).
    pub result: Option<DeviceResult>,
    /// Sessions the same worker process ran at the same time.
    pub load: Option<Load>,
    /// Warnings and errors of the same worker process during the
    /// attempt, about other devices or none.
    pub worker_problems: Vec<Entry>,
    /// The worker crash that ended the attempt, if one did.
    pub crashed: bool,
}

/// How busy the worker process was during an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Load {
    /// The worker's pid.
    pub pid: u32,
    /// Other sessions of that pid whose time range overlaps the attempt.
    pub overlapping: usize,
    /// Of those, the ones already running when the attempt started.
    pub running_at_start: usize,
}

/// Reads `results.jsonl` of a run, skipping a torn last line (a killed
/// master); a missing file reads as empty.
pub fn read_results(run_dir: &Path) -> Result<Vec<DeviceResult>, LogsError> {
    Ok(ResultsReader::open_or_empty(run_dir)?)
}

/// Tells the story of `device` in the run at `run_dir`.
pub fn explain(run_dir: &Path, device: &str) -> Result<Story, LogsError> {
    if let Some(story) = crate::shards::explain_merged(run_dir, device)? {
        return Ok(story);
    }
    let entries = read_run(run_dir)?;
    let results = read_results(run_dir)?;
    let run_id = run_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let story = build(&run_id, device, &entries, &results);
    if story.attempts.is_empty() && story.last_result.is_none() {
        return Err(LogsError::UnknownDevice {
            device: device.to_string(),
            path: run_dir.to_path_buf(),
        });
    }
    Ok(story)
}

/// The first line of a record's message (a panic's backtrace stays out
/// of the story; `fleet logs --device` shows it whole). A first line that
/// only introduces the next (`panic: panicked at src/x.rs:1:1:`) brings
/// that next line along, so the story shows the panic message.
fn first_line(msg: &str) -> std::borrow::Cow<'_, str> {
    let mut lines = msg.lines();
    let first = lines.next().unwrap_or("");
    match lines.next() {
        Some(next) if first.ends_with(':') && !next.trim().is_empty() => {
            format!("{first} {}", next.trim()).into()
        }
        _ => first.into(),
    }
}

fn is_problem(e: &Entry) -> bool {
    e.level().is_some_and(|l| l <= log::Level::Warn)
}

/// Builds the story from already-read logs and results.
pub fn build(run_id: &str, device: &str, entries: &[Entry], results: &[DeviceResult]) -> Story {
    let mut attempts: Vec<Attempt> = Vec::new();
    fn attempt(attempts: &mut Vec<Attempt>, n: u32) -> &mut Attempt {
        let i = match attempts.iter().position(|a| a.number == n) {
            Some(i) => i,
            None => {
                attempts.push(Attempt {
                    number: n,
                    ..Attempt::default()
                });
                attempts.len() - 1
            }
        };
        &mut attempts[i]
    }
    // Attempt of the latest line about the device, for lines that do not
    // say which attempt they belong to.
    let mut current: u32 = 1;
    // Log lines carry the name as a field (escaped, no whitespace).
    let logged = crate::format::field(device);
    for e in entries
        .iter()
        .filter(|e| e.record.device.as_deref() == Some(logged.as_str()))
    {
        let r = &e.record;
        let msg = first_line(&r.message);
        let msg: &str = &msg;
        let ts = r.ts.clone();
        let is_master = r.who == "master" && !r.thread.starts_with('w');
        match r.event() {
            Some(Lifecycle::Dispatch {
                batch,
                worker,
                attempt: n,
            }) if is_master => {
                current = n;
                attempt(&mut attempts, n).events.push((
                    ts,
                    format!("dispatched in batch {batch} to worker {worker}"),
                ));
            }
            Some(Lifecycle::Result {
                status,
                attempt: n,
                error,
                ..
            }) if is_master => {
                let error = error.map(|e| format!(": {e}")).unwrap_or_default();
                attempt(&mut attempts, n).events.push((
                    ts,
                    format!("master recorded result: {status} (attempt {n}){error}"),
                ));
            }
            Some(Lifecycle::Requeue {
                attempt: next,
                reason,
            }) if is_master => {
                let n = next.saturating_sub(1).max(1);
                attempt(&mut attempts, n)
                    .events
                    .push((ts, format!("master: requeued for attempt {next}: {reason}")));
            }
            _ if is_master => {
                attempt(&mut attempts, current)
                    .events
                    .push((ts, format!("master: {msg}")));
            }
            Some(Lifecycle::SessionStart { attempt: n, batch }) => {
                current = n;
                let id = r
                    .who
                    .strip_prefix('w')
                    .and_then(|w| w.parse().ok())
                    .unwrap_or(0);
                let a = attempt(&mut attempts, n);
                a.ran_on = Some((id, r.pid, r.thread.clone()));
                a.started_at.get_or_insert_with(|| ts.clone());
                a.events.push((
                    ts,
                    format!(
                        "started on worker {id} pid {} thread {} (batch {batch})",
                        r.pid, r.thread
                    ),
                ));
            }
            Some(Lifecycle::SessionEnd { status, ms, error }) => {
                let error = error.map(|e| format!(": {e}")).unwrap_or_default();
                attempt(&mut attempts, current).events.push((
                    ts,
                    format!(
                        "{} {}: session ended {status} in {ms:.1} ms{error}",
                        r.level, r.who
                    ),
                ));
            }
            _ if is_problem(e) => {
                let used = if r.message.lines().next() == Some(msg) {
                    1
                } else {
                    2
                };
                let extra = r.message.lines().count().saturating_sub(used);
                let more = if extra > 0 {
                    format!(" (+{extra} more lines: see `fleet logs --device {device}`)")
                } else {
                    String::new()
                };
                attempt(&mut attempts, current)
                    .events
                    .push((ts, format!("{} {}: {msg}{more}", r.level, r.who)));
            }
            _ => {}
        }
    }
    let mine: Vec<&DeviceResult> = results.iter().filter(|r| r.device == device).collect();
    for res in &mine {
        let a = attempt(&mut attempts, res.attempt);
        if let Some(w) = &res.worker {
            a.ran_on = Some((w.id, w.pid, w.thread.clone()));
        }
        a.result = Some((*res).clone());
    }
    attempts.sort_by_key(|a| a.number);
    for a in &mut attempts {
        a.events.sort_by(|x, y| x.0.cmp(&y.0));
        fill_worker_state(a, device, entries, results);
        a.events.sort_by(|x, y| x.0.cmp(&y.0));
    }
    Story {
        device: device.to_string(),
        run_id: run_id.to_string(),
        attempts,
        last_result: mine.last().map(|r| (*r).clone()),
    }
}

/// The attempt's time window as log timestamps: from the results row when
/// the session finished, else from its log lines (start to crash or last
/// master word).
fn window(a: &Attempt) -> Option<(String, String)> {
    if let Some(r) = &a.result {
        if r.worker.is_some() && r.started_us > 0 {
            let end = r.started_us + (r.timings_ms.total * 1e3).round() as u64;
            return Some((ts_of_micros(r.started_us), ts_of_micros(end)));
        }
    }
    let start = a.started_at.clone()?;
    let end = a.events.last().map(|(ts, _)| ts.clone())?;
    Some((start, end))
}

/// Finds the crash that ended the attempt, the worker's other sessions
/// and its warnings and errors during the attempt.
fn fill_worker_state(a: &mut Attempt, device: &str, entries: &[Entry], results: &[DeviceResult]) {
    let Some((_, pid, _)) = a.ran_on.clone() else {
        return;
    };
    let logged = crate::format::field(device);
    let Some((start, mut end)) = window(a) else {
        return;
    };
    // The worker's death, if it died with the device in flight: the first
    // crash line for that pid at or after the start, and only if no
    // result arrived first.
    if a.result.is_none() {
        let crash = entries
            .iter()
            .filter(|e| e.record.who == "master" && e.record.ts >= start)
            .find_map(|e| match e.record.event() {
                Some(Lifecycle::WorkerExit {
                    worker,
                    pid: p,
                    exit,
                    crashed: true,
                    ..
                }) if p == pid => Some((e.record.ts.clone(), worker, exit)),
                _ => None,
            });
        if let Some((ts, worker, exit)) = crash {
            a.crashed = true;
            if ts > end {
                end = ts.clone();
            }
            a.events.push((
                ts,
                format!("master: worker {worker} (pid {pid}) crashed: {exit}"),
            ));
        }
    }
    let (start_us, end_us) = match (parse_ts(&start), parse_ts(&end)) {
        (Some(s), Some(e)) => (micros(s), micros(e)),
        _ => return,
    };
    let mut load = Load {
        pid,
        overlapping: 0,
        running_at_start: 0,
    };
    for r in results {
        let Some(w) = &r.worker else { continue };
        if w.pid != pid || r.started_us == 0 {
            continue;
        }
        if r.device == device && a.result.as_ref().is_some_and(|m| m.attempt == r.attempt) {
            continue;
        }
        let s = r.started_us;
        let e = s + (r.timings_ms.total * 1e3).round() as u64;
        if s < end_us.max(start_us + 1) && e > start_us {
            load.overlapping += 1;
            if s <= start_us {
                load.running_at_start += 1;
            }
        }
    }
    a.load = Some(load);
    a.worker_problems = entries
        .iter()
        .filter(|e| {
            e.record.pid == pid
                && e.record.device.as_deref() != Some(logged.as_str())
                && is_problem(e)
                && e.record.ts >= start
                && e.record.ts <= end
        })
        .cloned()
        .collect();
}

fn micros(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

impl fmt::Display for Story {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A story is read on a terminal: names and errors come from
        // inventories and devices, so they stay on their line, escaped.
        let line = fleet_escape::line;
        write!(f, "device {} in run {}: ", line(&self.device), self.run_id)?;
        match &self.last_result {
            Some(r) => write!(f, "{}", r.status)?,
            None => write!(f, "no result")?,
        }
        let n = self.attempts.len();
        writeln!(f, " after {n} attempt{}", if n == 1 { "" } else { "s" })?;
        if let Some(err) = self.last_result.as_ref().and_then(|r| r.error.as_deref()) {
            writeln!(f, "  error: {}", line(err))?;
        }
        for a in &self.attempts {
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "attempt {}:", self.number)?;
        for (ts, what) in &self.events {
            writeln!(f, "  {ts}  {what}")?;
        }
        if let Some(r) = &self.result {
            if let Some(w) = &r.worker {
                let t = &r.timings_ms;
                writeln!(
                    f,
                    "  ran on worker {} pid {} thread {}: connect {:.1} ms, auth {:.1} ms, commands {:.1} ms, total {:.1} ms",
                    w.id, w.pid, w.thread, t.connect, t.auth, t.commands, t.total
                )?;
            }
            write!(f, "  result: {} (attempt {})", r.status, r.attempt)?;
            match &r.error {
                Some(e) => writeln!(f, ": {}", fleet_escape::line(e))?,
                None => writeln!(f)?,
            }
        } else if self.crashed {
            writeln!(f, "  result: none, the worker died while running it")?;
        } else {
            writeln!(f, "  result: none in results.jsonl")?;
        }
        if let Some(l) = &self.load {
            write!(
                f,
                "  worker pid {}: {} other session{} overlapped ({} already running at start)",
                l.pid,
                l.overlapping,
                if l.overlapping == 1 { "" } else { "s" },
                l.running_at_start
            )?;
            if self.worker_problems.is_empty() {
                writeln!(f, "; no other warnings or errors in its log meanwhile")?;
            } else {
                writeln!(
                    f,
                    "; {} warning(s)/error(s) in its log meanwhile:",
                    self.worker_problems.len()
                )?;
                for e in &self.worker_problems {
                    let r = &e.record;
                    writeln!(
                        f,
                        "    {} {} {} {}: {}",
                        r.ts,
                        r.level,
                        r.thread,
                        r.device.as_deref().unwrap_or("-"),
                        first_line(&r.message)
                    )?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::{merge, parse_entries};
    use fleet_proto::{Status, Timings, WorkerRef};

    const BASE_US: u64 = 1_795_306_200_000_000; // 2026-11-22T00:10:00Z

    fn ts(ms: u64) -> String {
        ts_of_micros(BASE_US + ms * 1000)
    }

    fn result(device: &str, pid: u32, start_ms: u64, total_ms: f64, attempt: u32) -> DeviceResult {
        DeviceResult {
            device: device.into(),
            host: "127.0.0.1".into(),
            port: 22,
            status: Status::Ok,
            error: None,
            outputs: Vec::new(),
            worker: Some(WorkerRef {
                id: 1,
                pid,
                thread: "w1-t0".into(),
            }),
            timings_ms: Timings {
                connect: 10.0,
                auth: 20.0,
                commands: total_ms - 30.0,
                total: total_ms,
            },
            attempt,
            started_us: BASE_US + start_ms * 1000,
            batch: Some(4),
        }
    }

    /// A run where worker 0 (pid 100) panics on `r1`, which then succeeds
    /// on worker 1 (pid 200) next to `r2` and `r3`.
    fn synthetic_run(dir: &Path) {
        let master = [
            format!(
                "{} INFO  master 1 main r1 {}",
                ts(0),
                Lifecycle::Dispatch {
                    batch: 0,
                    worker: 0,
                    attempt: 1
                }
            ),
            format!(
                "{} INFO  master 1 main - {}",
                ts(60),
                Lifecycle::WorkerExit {
                    worker: 0,
                    generation: 0,
                    pid: 100,
                    exit: "signal 6 (SIGABRT)".into(),
                    crashed: true
                }
            ),
            format!(
                "{} WARN  master 1 main r1 {}",
                ts(61),
                Lifecycle::Requeue {
                    attempt: 2,
                    reason: "was running when worker 0 died".into()
                }
            ),
            format!(
                "{} INFO  master 1 main r1 {}",
                ts(70),
                Lifecycle::Dispatch {
                    batch: 4,
                    worker: 1,
                    attempt: 2
                }
            ),
            format!(
                "{} INFO  master 1 main r1 {}",
                ts(190),
                Lifecycle::Result {
                    status: Status::Ok,
                    attempt: 2,
                    worker: Some(1),
                    pid: Some(200),
                    thread: Some("w1-t0".into()),
                    ms: 100.0,
                    error: None
                }
            ),
        ]
        .join("\n");
        let w0 = [
            format!(
                "{} INFO  w0 100 w0-t0 r1 {}",
                ts(10),
                Lifecycle::SessionStart {
                    attempt: 1,
                    batch: 0
                }
            ),
            format!(
                "{} ERROR w0 100 w0-t0 r1 panic: panicked at src/x.rs:1:1:\ninjected\nbacktrace:\n   0: frame",
                ts(50)
            ),
        ]
        .join("\n");
        let w1 = [
            format!(
                "{} INFO  w1 200 w1-t1 r2 {}",
                ts(20),
                Lifecycle::SessionStart {
                    attempt: 1,
                    batch: 3
                }
            ),
            format!(
                "{} INFO  w1 200 w1-t0 r1 {}",
                ts(80),
                Lifecycle::SessionStart {
                    attempt: 2,
                    batch: 4
                }
            ),
            format!(
                "{} WARN  w1 200 w1-t2 r3 {}",
                ts(150),
                Lifecycle::SessionEnd {
                    status: Status::Timeout,
                    ms: 5.0,
                    error: Some("slow".into())
                }
            ),
            format!("{} WARN  w1 200 w1-t2 - unrelated later warning", ts(500)),
            format!(
                "{} INFO  w1 200 w1-t0 r1 {}",
                ts(180),
                Lifecycle::SessionEnd {
                    status: Status::Ok,
                    ms: 100.0,
                    error: None
                }
            ),
        ]
        .join("\n");
        std::fs::write(dir.join("master.log"), master).unwrap();
        std::fs::write(dir.join("worker-0.log"), w0).unwrap();
        std::fs::write(dir.join("worker-1.log"), w1).unwrap();
        let results = [
            result("r2", 200, 20, 100.0, 1), // running at r1's start
            result("r3", 200, 100, 50.0, 1), // starts during r1
            result("r4", 200, 300, 10.0, 1), // after r1: not counted
            result("r5", 300, 80, 100.0, 1), // another pid: not counted
            result("r1", 200, 80, 100.0, 2),
        ];
        let mut text = String::new();
        for r in results {
            text.push_str(&serde_json::to_string(&r).unwrap());
            text.push('\n');
        }
        text.push_str("{\"device\": \"torn");
        std::fs::write(dir.join("results.jsonl"), text).unwrap();
    }

    #[test]
    fn tells_both_attempts_of_a_device_whose_worker_crashed() {
        let dir = tempfile::tempdir().unwrap();
        synthetic_run(dir.path());
        let story = explain(dir.path(), "r1").unwrap();
        assert_eq!(story.attempts.len(), 2);
        let first = &story.attempts[0];
        assert_eq!(first.number, 1);
        assert_eq!(first.ran_on, Some((0, 100, "w0-t0".to_string())));
        assert!(first.crashed);
        assert!(first.result.is_none());
        let second = &story.attempts[1];
        assert_eq!(second.ran_on, Some((1, 200, "w1-t0".to_string())));
        assert_eq!(second.result.as_ref().unwrap().status, Status::Ok);
        assert_eq!(
            second.load,
            Some(Load {
                pid: 200,
                overlapping: 2,
                running_at_start: 1
            })
        );
        assert_eq!(second.worker_problems.len(), 1);
        assert_eq!(
            second.worker_problems[0].record.device.as_deref(),
            Some("r3")
        );

        let text = story.to_string();
        let want_in_order = [
            "device r1 in run",
            "ok after 2 attempts",
            "attempt 1:",
            "dispatched in batch 0 to worker 0",
            "started on worker 0 pid 100 thread w0-t0",
            "ERROR w0: panic: panicked at src/x.rs:1:1: injected (+2 more lines",
            "master: worker 0 (pid 100) crashed: signal 6 (SIGABRT)",
            "master: requeued for attempt 2: was running when worker 0 died",
            "result: none, the worker died while running it",
            "attempt 2:",
            "dispatched in batch 4 to worker 1",
            "started on worker 1 pid 200 thread w1-t0",
            "INFO w1: session ended ok in 100.0 ms",
            "master recorded result: ok (attempt 2)",
            "connect 10.0 ms, auth 20.0 ms, commands 70.0 ms, total 100.0 ms",
            "result: ok (attempt 2)",
            "worker pid 200: 2 other sessions overlapped (1 already running at start)",
            "1 warning(s)/error(s)",
            "r3: session_end: error=slow ms=5.0 status=timeout",
        ];
        let mut at = 0;
        for want in want_in_order {
            let found = text[at..]
                .find(want)
                .unwrap_or_else(|| panic!("`{want}` missing after byte {at} in:\n{text}"));
            at += found + want.len();
        }
        assert!(!text.contains("unrelated later warning"), "{text}");
        assert!(!text.contains("   0: frame"), "{text}");
    }

    #[test]
    fn a_device_nobody_heard_of_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        synthetic_run(dir.path());
        assert!(matches!(
            explain(dir.path(), "nope"),
            Err(LogsError::UnknownDevice { .. })
        ));
    }

    #[test]
    fn works_from_results_alone() {
        let mut r = result("r9", 7, 0, 40.0, 1);
        r.status = Status::AuthFailed;
        r.error = Some("denied".into());
        let story = build(
            "run",
            "r9",
            &merge(vec![parse_entries("", "master.log")]),
            &[r],
        );
        let text = story.to_string();
        assert!(
            text.contains("r9 in run run: auth_failed after 1 attempt\n"),
            "{text}"
        );
        assert!(text.contains("  error: denied"), "{text}");
        assert!(
            text.contains("result: auth_failed (attempt 1): denied"),
            "{text}"
        );
        assert!(text.contains("worker pid 7: 0 other sessions"), "{text}");
    }
}
