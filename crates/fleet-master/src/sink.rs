//! What a run leaves behind in its directory, written with the types of
//! [`fleet_proto::rundir`] (schema `fleet-run/1`, see
//! `docs/run-directory.md`).

use crate::config::RunConfig;
use crate::dispatch::{MasterError, RunOutcome};
use crate::rundir::RunDir;
pub use fleet_proto::rundir::WorkerRecord;
use fleet_proto::rundir::{
    ResultsReader, RunJson, RunLayout, Schema, TimeoutsMs, TraceCategory, TracePhase, TraceRecord,
    RESULTS_FILE, RUN_FILE, WORKERS_FILE,
};
use fleet_proto::DeviceResult;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// `results.jsonl`: one line per device, appended as results arrive by a
/// writer thread of its own, and flushed whenever that thread has caught
/// up (and every [`FLUSH_EVERY`] lines), so a SIGKILLed master loses at
/// most the results in flight.
///
/// Encoding the lines was a third of the dispatcher thread's time on a
/// noop run; on their own thread they overlap with dispatching. The first
/// failed write is announced at once through the `on_failure` callback
/// given to [`ResultsFile::open`] (so the run can stop); the error and
/// every result not known to be on disk come back from
/// [`ResultsFile::close`].
pub struct ResultsFile {
    tx: Option<std::sync::mpsc::Sender<Unwritten>>,
    thread: Option<std::thread::JoinHandle<Closed>>,
}

/// A result by the device's inventory position: on its way to
/// `results.jsonl`, or (outputs dropped) not in it.
pub type Unwritten = (u32, DeviceResult);

/// What the writer thread leaves: the failure, if a write failed, and the
/// results that are not in the file because of it.
#[derive(Debug, Default)]
pub struct Closed {
    /// The first failed write's error.
    pub error: Option<String>,
    /// Results written since the last good flush before the failure, and
    /// every one sent after it.
    pub lost: Vec<Unwritten>,
}

/// Lines written between flushes at most.
pub const FLUSH_EVERY: usize = 1024;

impl ResultsFile {
    /// Opens (or, for `--resume`, reopens) the results file for appending
    /// and starts its writer thread. A torn last line left by a master
    /// killed mid-write is cut off first ([`cut_torn_tail`]).
    pub fn open(
        dir: &RunDir,
        on_failure: impl FnOnce(&str) + Send + 'static,
    ) -> io::Result<ResultsFile> {
        let file = dir.append(RESULTS_FILE)?;
        cut_torn_tail(&file, &dir.file(RESULTS_FILE))?;
        let (tx, rx) = std::sync::mpsc::channel();
        let out = BufWriter::with_capacity(256 * 1024, file);
        let thread = std::thread::Builder::new()
            .name("m-results".into())
            .spawn(move || write_loop(out, rx, on_failure))?;
        Ok(ResultsFile {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Appends one result line (on the writer thread). The result comes
    /// back if the writer is gone.
    pub fn write(&mut self, seq: u32, result: DeviceResult) -> Result<(), Box<Unwritten>> {
        match &self.tx {
            Some(tx) => tx.send((seq, result)).map_err(|e| Box::new(e.0)),
            None => Err(Box::new((seq, result))),
        }
    }

    /// Writes and flushes what is queued and stops the writer.
    pub fn close(&mut self) -> Closed {
        drop(self.tx.take());
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(closed)) => closed,
            Some(Err(_)) => Closed {
                error: Some("the results writer thread panicked".into()),
                lost: Vec::new(),
            },
            None => Closed::default(),
        }
    }
}

impl Drop for ResultsFile {
    fn drop(&mut self) {
        self.close();
    }
}

/// The writer thread: lines as they come, a flush whenever the queue is
/// empty (or every [`FLUSH_EVERY`] lines). After a failure it writes
/// nothing more and keeps what it gets.
fn write_loop(
    mut out: BufWriter<File>,
    rx: std::sync::mpsc::Receiver<Unwritten>,
    on_failure: impl FnOnce(&str),
) -> Closed {
    let mut on_failure = Some(on_failure);
    let mut closed = Closed::default();
    let mut unflushed: Vec<Unwritten> = Vec::new();
    let mut failed = |e: io::Error, unflushed: &mut Vec<Unwritten>, closed: &mut Closed| {
        let text = e.to_string();
        if let Some(announce) = on_failure.take() {
            announce(&text);
        }
        closed.error = Some(text);
        closed.lost.append(unflushed);
    };
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some((seq, mut result)) = next.take() {
            if closed.error.is_none() {
                let written = serde_json::to_writer(&mut out, &result)
                    .map_err(io::Error::from)
                    .and_then(|()| out.write_all(b"\n"));
                result.outputs = Vec::new();
                unflushed.push((seq, result));
                let flushed = match written {
                    Ok(()) if unflushed.len() >= FLUSH_EVERY => out.flush().map(|()| true),
                    Ok(()) => Ok(false),
                    Err(e) => Err(e),
                };
                match flushed {
                    Ok(true) => unflushed.clear(),
                    Ok(false) => {}
                    Err(e) => failed(e, &mut unflushed, &mut closed),
                }
            } else {
                result.outputs = Vec::new();
                closed.lost.push((seq, result));
            }
            next = rx.try_recv().ok();
        }
        if closed.error.is_none() {
            match out.flush() {
                Ok(()) => unflushed.clear(),
                Err(e) => failed(e, &mut unflushed, &mut closed),
            }
        }
    }
    // A BufWriter dropped retries its flush (and ignores errors): after a
    // failure the buffer is counted lost and must not reach the file.
    let _ = out.into_parts();
    closed
}

/// Cuts a results file back to its last newline. A master killed
/// mid-write leaves a torn last line; readers skip it because it is last,
/// but a `--resume` appending behind it would glue its first line onto the
/// fragment, and the file would no longer parse. The torn line's device has
/// no result, so the resumed run runs it again. `file` is the append
/// handle, `path` its name (read through a handle of its own).
fn cut_torn_tail(file: &File, path: &Path) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata()?.len();
    let mut reader = File::open(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut end = len;
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        reader.seek(SeekFrom::Start(start))?;
        reader.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            let keep = start + i as u64 + 1;
            if keep < len {
                log::warn!(
                    "{}: cut a torn last line ({} bytes) left by a master killed mid-write",
                    path.display(),
                    len - keep
                );
                file.set_len(keep)?;
            }
            return Ok(());
        }
        end = start;
    }
    if len > 0 {
        log::warn!("{}: no whole line; starting it afresh", path.display());
        file.set_len(0)?;
    }
    Ok(())
}

/// Reads a results file back, every line in file order, skipping a torn
/// last line (a master killed mid-write) rather than failing.
pub fn read_results(path: &Path) -> io::Result<Vec<DeviceResult>> {
    let file = File::open(path)?;
    ResultsReader::new(io::BufReader::new(file), path.to_path_buf())
        .read_all()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// `run.json` for a run: at the start (`outcome` `None`, the end fields
/// null) and at the end.
pub fn run_json(
    cfg: &RunConfig,
    dir: &RunDir,
    started_at: &str,
    ended_at: Option<&str>,
    devices: usize,
    outcome: Option<&RunOutcome>,
) -> RunJson {
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ms = |d: Option<std::time::Duration>| d.map(|d| d.as_millis() as u64);
    RunJson {
        schema: Schema::V1,
        run_id: dir.id.clone(),
        fleet_version: env!("CARGO_PKG_VERSION").to_string(),
        host,
        command_line: cfg.command_line.clone(),
        inventory: cfg.inventory.clone(),
        layout: RunLayout {
            processes: cfg.processes,
            threads: cfg.threads,
            batch_size: cfg.batch_size,
            auto: outcome.and_then(|o| o.auto.clone()),
        },
        timeouts_ms: TimeoutsMs {
            connect: ms(cfg.timeouts.connect),
            command: ms(cfg.timeouts.command),
            session: ms(cfg.timeouts.session),
        },
        started_at: started_at.to_string(),
        ended_at: ended_at.map(str::to_string),
        devices,
        wall_ms: outcome.map(|o| o.wall.as_secs_f64() * 1e3),
        totals: outcome.map(|o| o.counts.clone()).unwrap_or_default(),
        interrupted: outcome.map(|o| o.interrupted),
        exit_code: outcome.map(|o| o.exit_code.code()),
        resumed: cfg.resume_dir.is_some(),
        shard: cfg.shard.clone(),
        trace: Some(outcome.map_or(
            TraceRecord {
                mode: cfg.trace,
                sessions: 0,
                failed: 0,
            },
            |o| o.trace,
        )),
        merge: None,
    }
}

/// Writes `run.json` (atomically). A resumed run keeps the original
/// `run.json` until it ends.
pub fn write_run_json(
    cfg: &RunConfig,
    dir: &RunDir,
    started_at: &str,
    ended_at: Option<&str>,
    devices: usize,
    outcome: Option<&RunOutcome>,
) -> Result<(), MasterError> {
    if cfg.resume_dir.is_some() && outcome.is_none() {
        return Ok(());
    }
    let doc = run_json(cfg, dir, started_at, ended_at, devices, outcome);
    let bytes = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    dir.write_atomic(RUN_FILE, &bytes)
        .map_err(|source| MasterError::RunDir {
            path: dir.file(RUN_FILE),
            source,
        })
}

/// Writes `workers.json` (atomically).
pub fn write_workers_json(dir: &RunDir, records: &[WorkerRecord]) -> Result<(), MasterError> {
    let bytes = serde_json::to_vec_pretty(records).unwrap_or_default();
    dir.write_atomic(WORKERS_FILE, &bytes)
        .map_err(|source| MasterError::RunDir {
            path: dir.file(WORKERS_FILE),
            source,
        })
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
        events.push(json!({"ph": "X", "cat": TraceCategory::Session, "name": r.device, "pid": w.pid, "tid": tid,
            "ts": ts, "dur": (t.total * 1e3).max(1.0),
            "args": {"status": r.status, "attempt": r.attempt, "batch": r.batch, "error": r.error}}))?;
        let mut at = ts;
        for (phase, ms) in [
            (TracePhase::Connect, t.connect),
            (TracePhase::Auth, t.auth),
            (TracePhase::Commands, t.commands),
        ] {
            if ms > 0.0 {
                events.push(
                    json!({"ph": "X", "cat": TraceCategory::Phase, "name": phase, "pid": w.pid,
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
            json!({"ph": "i", "s": "p", "cat": TraceCategory::Master, "name": m.name, "pid": pid,
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

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_proto::{Device, Status};

    fn line(name: &str) -> String {
        let r = DeviceResult::without_session(&Device::new(name, "h", 22), Status::Ok, "", 1);
        serde_json::to_string(&r).unwrap() + "\n"
    }

    #[test]
    fn a_resume_cuts_the_torn_last_line_before_appending() {
        let out = tempfile::tempdir().unwrap();
        let dir = RunDir::create(out.path()).unwrap();
        let path = dir.file(RESULTS_FILE);
        let whole = line("r1");
        let torn = line("r2");
        std::fs::write(&path, format!("{whole}{}", &torn[..20])).unwrap();
        let mut f = ResultsFile::open(&dir, |e: &str| panic!("{e}")).unwrap();
        let r3 = DeviceResult::without_session(&Device::new("r3", "h", 22), Status::Ok, "", 2);
        f.write(0, r3).unwrap();
        let closed = f.close();
        assert!(closed.error.is_none() && closed.lost.is_empty());
        let back = read_results(&path).unwrap();
        let names: Vec<&str> = back.iter().map(|r| r.device.as_str()).collect();
        assert_eq!(names, ["r1", "r3"]);
        // A whole file is left as it is; so is an empty one.
        let before = std::fs::read(&path).unwrap();
        drop(ResultsFile::open(&dir, |_: &str| {}).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), before);
        std::fs::write(&path, &torn[..10]).unwrap();
        drop(ResultsFile::open(&dir, |_: &str| {}).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"");
    }

    fn result(i: usize) -> DeviceResult {
        let mut r = DeviceResult::without_session(
            &Device::new(format!("r{i}"), "h", 22),
            Status::Ok,
            "",
            1,
        );
        r.outputs = vec![fleet_proto::CommandOutput {
            command: "show version".into(),
            stdout: "x".repeat(100),
            stderr: String::new(),
            exit_status: Some(0),
            truncated: false,
        }];
        r
    }

    #[test]
    fn the_writer_thread_writes_every_line_in_order_past_its_flush_batches() {
        let out = tempfile::tempdir().unwrap();
        let dir = RunDir::create(out.path()).unwrap();
        let mut f = ResultsFile::open(&dir, |e: &str| panic!("{e}")).unwrap();
        let n = FLUSH_EVERY * 2 + 7;
        for i in 0..n {
            f.write(i as u32, result(i)).unwrap();
        }
        let closed = f.close();
        assert!(closed.error.is_none() && closed.lost.is_empty());
        let back = read_results(&dir.file(RESULTS_FILE)).unwrap();
        assert_eq!(back.len(), n);
        assert!(back
            .iter()
            .enumerate()
            .all(|(i, r)| r.device == format!("r{i}")));
        assert_eq!(back[5].outputs[0].stdout.len(), 100, "outputs are written");
        // Closed twice (close, then drop): harmless.
        f.close();
    }

    #[test]
    fn a_failed_write_is_announced_once_and_every_unwritten_result_comes_back() {
        let out = tempfile::tempdir().unwrap();
        let dir = RunDir::create(out.path()).unwrap();
        // Every write to /dev/full fails with ENOSPC.
        std::os::unix::fs::symlink("/dev/full", dir.file(RESULTS_FILE)).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let mut f =
            ResultsFile::open(&dir, move |e: &str| tx.send(e.to_string()).unwrap()).unwrap();
        for i in 0..10 {
            f.write(i, result(i as usize)).unwrap();
        }
        let announced = rx.recv_timeout(std::time::Duration::from_secs(30)).unwrap();
        for i in 10..20 {
            f.write(i, result(i as usize)).unwrap();
        }
        let closed = f.close();
        assert!(rx.try_recv().is_err(), "announced once");
        assert_eq!(closed.error.as_deref(), Some(announced.as_str()));
        assert!(announced.contains("No space left"), "{announced}");
        let mut lost: Vec<u32> = closed.lost.iter().map(|(seq, _)| *seq).collect();
        lost.sort_unstable();
        assert_eq!(
            lost,
            (0..20).collect::<Vec<u32>>(),
            "none of them is on disk"
        );
        assert!(
            closed.lost.iter().all(|(_, r)| r.outputs.is_empty()),
            "kept without outputs"
        );
    }
}
