//! What a run leaves behind in its directory.

use crate::rundir::RunDir;
use fleet_proto::DeviceResult;
use serde::Serialize;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};

/// `results.jsonl`: one line per device, appended as results arrive and
/// flushed after each worker message, so a SIGKILLed master loses at most
/// the results in flight.
pub struct ResultsFile {
    out: BufWriter<File>,
}

impl ResultsFile {
    /// Opens (or, for `--resume`, reopens) the results file for appending.
    pub fn open(dir: &RunDir) -> io::Result<ResultsFile> {
        Ok(ResultsFile {
            out: BufWriter::with_capacity(256 * 1024, dir.append("results.jsonl")?),
        })
    }

    /// Appends one result.
    pub fn write(&mut self, result: &DeviceResult) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, result)?;
        self.out.write_all(b"\n")
    }

    /// Pushes buffered lines to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Reads a results file back, skipping a torn last line (a master killed
/// mid-write) rather than failing.
pub fn read_results(path: &std::path::Path) -> io::Result<Vec<DeviceResult>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// One worker incarnation, for `workers.json`.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerRecord {
    /// Slot id.
    pub id: u32,
    /// Incarnation of the slot (0 first, then one per restart).
    pub generation: u32,
    /// OS pid (the master's for `-p 0`).
    pub pid: u32,
    /// When it was started (RFC 3339).
    pub started_at: String,
    /// When its exit was seen.
    pub exited_at: Option<String>,
    /// `exit 0`, `signal 9 (SIGKILL)`, ...
    pub exit: Option<String>,
    /// Whether the master counted it as crashed.
    pub crashed: bool,
    /// Devices it reported results for.
    pub devices: u64,
    /// User CPU ms (from the worker's own getrusage at exit).
    pub cpu_user_ms: Option<f64>,
    /// System CPU ms.
    pub cpu_sys_ms: Option<f64>,
    /// Peak RSS in KiB.
    pub max_rss_kib: Option<u64>,
    /// Messages the worker sent the master.
    pub ipc_messages_in: u64,
    /// Bytes the worker sent the master.
    pub ipc_bytes_in: u64,
    /// Messages the master sent the worker.
    pub ipc_messages_out: u64,
    /// Bytes the master sent the worker.
    pub ipc_bytes_out: u64,
    /// Batches it received.
    pub batches: u64,
}

/// A point on the master's own trace track.
#[derive(Debug, Clone)]
pub struct MasterMark {
    /// Unix micros.
    pub ts_us: u64,
    /// What happened.
    pub name: String,
    /// Worker slot it concerns, if any.
    pub worker: Option<u32>,
    /// Extra detail.
    pub detail: String,
}

/// Builds `trace.json` in the Chrome trace-event format (loads in
/// ui.perfetto.dev and chrome://tracing): one process track per worker, one
/// thread track per session thread, a complete slice per device session with
/// connect / auth / commands nested inside, and the master's batch
/// dispatches and worker starts/exits as instant events. Every event,
/// metadata included, carries `ph`, `ts`, `pid` and `tid`, which strict
/// trace-event readers require.
///
/// Events are written one by one as they are made: a 100,000-device run
/// never holds its whole trace as a JSON tree.
pub fn write_trace(
    out: &mut impl Write,
    results: &[DeviceResult],
    marks: &[MasterMark],
    workers: &[WorkerRecord],
    master_pid: u32,
    t0_us: u64,
) -> io::Result<()> {
    use serde_json::json;
    let rel = |ts: u64| ts.saturating_sub(t0_us);
    out.write_all(b"{\"traceEvents\":[\n")?;
    let mut events = Events { out, first: true };
    let mut tids: HashMap<(u32, String), u64> = HashMap::new();
    events.push(
        json!({"ph": "M", "name": "process_name", "pid": master_pid, "tid": 0, "ts": 0,
        "args": {"name": "master"}}),
    )?;
    let mut named = std::collections::HashSet::new();
    for w in workers {
        if w.pid != master_pid && named.insert(w.pid) {
            events.push(
                json!({"ph": "M", "name": "process_name", "pid": w.pid, "tid": 0, "ts": 0,
                "args": {"name": format!("worker {} (gen {})", w.id, w.generation)}}),
            )?;
        }
    }
    for r in results {
        let Some(w) = &r.worker else { continue };
        if r.started_us == 0 {
            continue;
        }
        let next = tids.len() as u64 + 1;
        let tid = match tids.get(&(w.pid, w.thread.clone())) {
            Some(&tid) => tid,
            None => {
                tids.insert((w.pid, w.thread.clone()), next);
                events.push(
                    json!({"ph": "M", "name": "thread_name", "pid": w.pid, "tid": next, "ts": 0,
                    "args": {"name": w.thread}}),
                )?;
                next
            }
        };
        let ts = rel(r.started_us) as f64;
        let t = &r.timings_ms;
        events.push(json!({"ph": "X", "cat": "session", "name": r.device, "pid": w.pid, "tid": tid,
            "ts": ts, "dur": (t.total * 1e3).max(1.0),
            "args": {"status": r.status, "attempt": r.attempt, "batch": r.batch, "error": r.error}}))?;
        let mut at = ts;
        for (name, ms) in [
            ("connect", t.connect),
            ("auth", t.auth),
            ("commands", t.commands),
        ] {
            if ms > 0.0 {
                events.push(
                    json!({"ph": "X", "cat": "phase", "name": name, "pid": w.pid,
                    "tid": tid, "ts": at, "dur": ms * 1e3}),
                )?;
                at += ms * 1e3;
            }
        }
    }
    for m in marks {
        let pid = m
            .worker
            .and_then(|id| workers.iter().rev().find(|w| w.id == id).map(|w| w.pid))
            .filter(|_| m.name.starts_with("worker"))
            .unwrap_or(master_pid);
        events.push(
            json!({"ph": "i", "s": "p", "cat": "master", "name": m.name, "pid": pid,
            "tid": 0, "ts": rel(m.ts_us) as f64,
            "args": {"worker": m.worker, "detail": m.detail}}),
        )?;
    }
    let out = events.out;
    out.write_all(b"\n],\"displayTimeUnit\":\"ms\"}\n")
}

/// Writes trace events as elements of one JSON array.
struct Events<'a, W: Write> {
    out: &'a mut W,
    first: bool,
}

impl<W: Write> Events<'_, W> {
    fn push(&mut self, event: serde_json::Value) -> io::Result<()> {
        if !self.first {
            self.out.write_all(b",\n")?;
        }
        self.first = false;
        serde_json::to_writer(&mut *self.out, &event).map_err(io::Error::from)
    }
}
