//! The session thread pool of one worker.
//!
//! Threads:
//! - `w<id>-rx` receives batches from the master and fills the queue;
//! - `w<id>-t<n>` (T of them) each take one device at a time and run it;
//! - `w<id>-tx` batches starts and results into few IPC messages;
//! - `w<id>-watchdog` reports a session stuck past its hard limit as
//!   `timeout` and replaces its thread, so one hung device never stalls
//!   the run.
//!
//! The calling thread waits until the master says `Drain` (or `Stop`) and
//! every session is done, then says `Bye` with the worker's statistics.

use crate::link::{FromMaster, LinkError, ToMaster};
use fleet_proto::event::Lifecycle;
use fleet_proto::rundir::TracePhase;
use fleet_proto::{
    DeviceResult, Job, MasterToWorker, Status, WorkerConfig, WorkerEvent, WorkerRef, WorkerStats,
    WorkerToMaster, OUTPUT_CHUNK, PROTOCOL_VERSION,
};
use fleet_ssh::{Context, SessionSettings};
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Extra time past a session's own deadline before the watchdog gives up
/// on its thread: libssh2 timeouts normally fire well before this.
const HARD_LIMIT_MARGIN: Duration = Duration::from_secs(10);

/// How a pool failed as a whole (device failures are results, not errors).
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The link to the master broke.
    #[error("link to master failed")]
    Link(#[from] LinkError),
    /// The master opened with something other than `Configure`.
    #[error("expected Configure from the master, got {0}")]
    Handshake(&'static str),
    /// The session layer could not start (e.g. unreadable known_hosts).
    #[error("failed to set up sessions: {0}")]
    Setup(String),
    /// A thread could not be spawned.
    #[error("failed to spawn thread {name}")]
    Spawn {
        /// Thread name.
        name: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// What session threads and the watchdog hand the sender thread.
enum Out {
    Event(WorkerEvent),
    NeedWork(usize),
    Bye(WorkerStats),
}

/// A thread slot: which device its thread is running, and since when.
#[derive(Default)]
struct Slot {
    /// Bumped when the watchdog replaces a stuck thread; the old thread
    /// sees the mismatch and leaves without reporting.
    generation: u32,
    busy: Option<Busy>,
}

struct Busy {
    seq: u32,
    attempt: u32,
    batch: u64,
    device: String,
    host: String,
    port: u16,
    thread: String,
    started: Instant,
    started_us: u64,
    hard_deadline: Instant,
}

#[derive(Default)]
struct State {
    queue: VecDeque<(Job, u64)>,
    running: usize,
    draining: bool,
    stopping: bool,
    /// `Bye` is on its way: the master closing the channel now is the
    /// normal end, not a lost master.
    said_bye: bool,
    request_outstanding: bool,
    slots: Vec<Slot>,
}

struct Shared {
    worker_id: u32,
    pid: u32,
    in_process: bool,
    config: WorkerConfig,
    context: Context,
    state: Mutex<State>,
    changed: Condvar,
    out: Mutex<mpsc::Sender<Out>>,
    /// Test hook: a device whose session panics (see `FLEET_TEST_PANIC_DEVICE`).
    panic_device: Option<String>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means a thread panicked while holding it; the state
        // is plain counters and queues, still consistent enough to finish.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn send(&self, out: Out) {
        let tx = self.out.lock().unwrap_or_else(|p| p.into_inner()).clone();
        // The sender thread only leaves after Bye, so this cannot fail
        // while sessions still run.
        let _ = tx.send(out);
    }

    /// Asks the master for more work when the queue runs low.
    fn maybe_request(&self, st: &mut State) {
        if st.request_outstanding || st.draining || st.stopping {
            return;
        }
        let prefetch = self.config.prefetch.max(1);
        let capacity = self.config.threads + prefetch;
        let held = st.queue.len() + st.running;
        if st.queue.len() < prefetch && held < capacity {
            st.request_outstanding = true;
            self.send(Out::NeedWork(capacity - held));
        }
    }
}

fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Serves the master until it says `Drain` or `Stop` and all sessions end.
///
/// `in_process` is true for `-p 0`: a panicking session then becomes a
/// `protocol_error` result instead of taking the (shared) process down.
pub fn serve(
    worker_id: u32,
    mut to_master: Box<dyn ToMaster>,
    mut from_master: Box<dyn FromMaster>,
    in_process: bool,
) -> Result<WorkerStats, PoolError> {
    let pid = std::process::id();
    to_master.send(WorkerToMaster::Hello {
        worker_id,
        pid,
        protocol_version: PROTOCOL_VERSION,
    })?;
    let config = match from_master.recv()? {
        MasterToWorker::Configure(c) => c,
        MasterToWorker::Batch { .. } => return Err(PoolError::Handshake("Batch")),
        MasterToWorker::Drain => return Err(PoolError::Handshake("Drain")),
        MasterToWorker::Stop => return Err(PoolError::Handshake("Stop")),
    };
    let threads = config.threads.max(1);
    log::info!(
        "worker {worker_id} ready: pid {pid}, {threads} threads, prefetch {}",
        config.prefetch
    );
    let context = Context::new(SessionSettings {
        timeouts: config.timeouts,
        max_output: config.max_output,
        host_key_check: config.host_key_check,
        known_hosts: config.known_hosts.clone(),
        default_mode: config.default_mode,
    })
    .map_err(|e| PoolError::Setup(e.to_string()))?;

    let (out_tx, out_rx) = mpsc::channel();
    let shared = Arc::new(Shared {
        worker_id,
        pid,
        in_process,
        config,
        context,
        state: Mutex::new(State {
            slots: (0..threads).map(|_| Slot::default()).collect(),
            ..State::default()
        }),
        changed: Condvar::new(),
        out: Mutex::new(out_tx),
        panic_device: std::env::var("FLEET_TEST_PANIC_DEVICE").ok(),
    });

    let sender = spawn(format!("w{worker_id}-tx"), move || {
        sender_loop(to_master, out_rx)
    })?;
    for slot in 0..threads {
        spawn_session_thread(&shared, slot, 0)?;
    }
    {
        let shared = Arc::clone(&shared);
        spawn(format!("w{worker_id}-watchdog"), move || watchdog(shared))?;
    }
    {
        let shared = Arc::clone(&shared);
        spawn(format!("w{worker_id}-rx"), move || {
            receive_loop(&shared, from_master.as_mut())
        })?;
    }
    {
        let mut st = shared.lock();
        shared.maybe_request(&mut st);
    }

    // Wait for the end: told to finish, nothing queued, nothing running.
    {
        let mut st = shared.lock();
        while !((st.draining || st.stopping) && st.queue.is_empty() && st.running == 0) {
            st = shared.changed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }
    let mut stats = resource_stats();
    stats.devices = 0; // filled in by the sender thread, which counts results
    log::info!("worker {worker_id} done, saying bye");
    shared.lock().said_bye = true;
    shared.send(Out::Bye(stats));
    let stats = sender.join().unwrap_or_default();
    Ok(stats)
}

fn spawn<T: Send + 'static>(
    name: String,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<std::thread::JoinHandle<T>, PoolError> {
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(f)
        .map_err(|source| PoolError::Spawn { name, source })
}

fn spawn_session_thread(
    shared: &Arc<Shared>,
    slot: usize,
    generation: u32,
) -> Result<(), PoolError> {
    let name = if generation == 0 {
        format!("w{}-t{}", shared.worker_id, slot)
    } else {
        format!("w{}-t{}r{}", shared.worker_id, slot, generation)
    };
    let shared = Arc::clone(shared);
    let thread = name.clone();
    spawn(name, move || {
        session_loop(&shared, slot, generation, thread)
    })?;
    Ok(())
}

/// Receives batches and control messages from the master.
fn receive_loop(shared: &Shared, from_master: &mut dyn FromMaster) {
    loop {
        let msg = match from_master.recv() {
            Ok(m) => m,
            Err(e) => {
                if shared.lock().said_bye {
                    // The master got our Bye and hung up: a clean end,
                    // which the main thread is about to finish.
                    log::debug!("master closed the channel after bye");
                    return;
                }
                if shared.in_process {
                    let mut st = shared.lock();
                    st.stopping = true;
                    st.queue.clear();
                    shared.changed.notify_all();
                    return;
                }
                // The master is gone: nobody will read our results, and
                // workers must never outlive it.
                log::error!("lost the master ({e}); exiting");
                fleet_logs::flush();
                std::process::exit(fleet_proto::ExitCode::WorkerFailed.code());
            }
        };
        let mut st = shared.lock();
        match msg {
            MasterToWorker::Batch { id, jobs } => {
                log::debug!("batch {id}: {} devices", jobs.len());
                st.request_outstanding = false;
                st.queue.extend(jobs.into_iter().map(|j| (j, id)));
                shared.maybe_request(&mut st);
            }
            MasterToWorker::Drain => {
                log::info!("master says drain: finishing {} queued", st.queue.len());
                st.draining = true;
            }
            MasterToWorker::Stop => {
                log::warn!(
                    "master says stop: dropping {} queued, finishing {} running",
                    st.queue.len(),
                    st.running
                );
                st.stopping = true;
                st.queue.clear();
            }
            MasterToWorker::Configure(_) => log::warn!("ignoring a second Configure"),
        }
        shared.changed.notify_all();
        if st.stopping {
            return;
        }
    }
}

/// One session thread: take a device, run it, report, repeat.
fn session_loop(shared: &Shared, slot: usize, generation: u32, thread: String) {
    loop {
        let (job, batch) = {
            let mut st = shared.lock();
            loop {
                if st.slots[slot].generation != generation || st.stopping {
                    return;
                }
                if let Some(item) = st.queue.pop_front() {
                    break item;
                }
                if st.draining {
                    return;
                }
                st = shared.changed.wait(st).unwrap_or_else(|p| p.into_inner());
            }
        };
        let device = &job.device;
        let timeouts = device.timeouts.or(shared.config.timeouts);
        let session_limit = timeouts.session.unwrap_or(Duration::from_secs(600));
        let started = Instant::now();
        let started_us = now_us();
        {
            let mut st = shared.lock();
            st.running += 1;
            st.slots[slot].busy = Some(Busy {
                seq: job.seq,
                attempt: job.attempt,
                batch,
                device: device.name.clone(),
                host: device.host.clone(),
                port: device.port,
                thread: thread.clone(),
                started,
                started_us,
                hard_deadline: started + session_limit + HARD_LIMIT_MARGIN,
            });
            shared.maybe_request(&mut st);
        }
        shared.send(Out::Event(WorkerEvent::Started {
            seq: job.seq,
            thread: thread.clone(),
        }));

        let scope = fleet_logs::device_scope(&device.name);
        log::info!(
            "{}",
            Lifecycle::SessionStart {
                attempt: job.attempt,
                batch,
            }
        );
        let outcome = run_one(shared, device);
        let result = DeviceResult {
            device: device.name.clone(),
            host: device.host.clone(),
            port: device.port,
            status: outcome.status,
            error: outcome.error,
            outputs: outcome.outputs,
            worker: Some(WorkerRef {
                id: shared.worker_id,
                pid: shared.pid,
                thread: thread.clone(),
            }),
            timings_ms: outcome.timings,
            attempt: job.attempt,
            started_us: outcome.started_us.max(started_us),
            batch: Some(batch),
        };
        if log::log_enabled!(log::Level::Debug) {
            let t = &result.timings_ms;
            for (phase, ms) in [
                (TracePhase::Connect, t.connect),
                (TracePhase::Auth, t.auth),
                (TracePhase::Commands, t.commands),
            ] {
                log::debug!("{}", Lifecycle::Phase { phase, ms });
            }
        }
        let end = Lifecycle::SessionEnd {
            status: result.status,
            ms: result.timings_ms.total,
            error: result.error.clone(),
        };
        match &result.error {
            None => log::info!("{end}"),
            Some(_) => log::warn!("{end}"),
        }
        drop(scope);

        let mut st = shared.lock();
        if st.slots[slot].generation != generation {
            // The watchdog already reported this device as timed out and
            // gave the slot to a new thread.
            log::warn!(
                "late result for {} discarded (thread was replaced)",
                result.device
            );
            return;
        }
        // Report before counting the session done, so `Bye` (sent once
        // running reaches zero) always follows the last result.
        let mut result = result;
        for chunk in split_large_outputs(job.seq, &mut result) {
            shared.send(Out::Event(chunk));
        }
        shared.send(Out::Event(WorkerEvent::Finished {
            seq: job.seq,
            result,
        }));
        st.slots[slot].busy = None;
        st.running -= 1;
        shared.maybe_request(&mut st);
        shared.changed.notify_all();
    }
}

/// Moves every output larger than [`OUTPUT_CHUNK`] out of `result` into
/// chunk events (cut at UTF-8 boundaries), so each IPC message stays small.
pub(crate) fn split_large_outputs(seq: u32, result: &mut DeviceResult) -> Vec<WorkerEvent> {
    let mut chunks = Vec::new();
    for (index, out) in result.outputs.iter_mut().enumerate() {
        for (stderr, text) in [(false, &mut out.stdout), (true, &mut out.stderr)] {
            if text.len() <= OUTPUT_CHUNK {
                continue;
            }
            let whole = std::mem::take(text);
            let mut rest = whole.as_str();
            while !rest.is_empty() {
                let mut cut = rest.len().min(OUTPUT_CHUNK);
                while !rest.is_char_boundary(cut) {
                    cut -= 1;
                }
                let (piece, tail) = rest.split_at(cut);
                chunks.push(WorkerEvent::OutputChunk {
                    seq,
                    index: index as u32,
                    stderr,
                    data: piece.to_string(),
                });
                rest = tail;
            }
        }
    }
    chunks
}

/// Bytes of output an event carries, for the sender's per-message budget.
fn payload(ev: &WorkerEvent) -> usize {
    match ev {
        WorkerEvent::Started { .. } => 64,
        WorkerEvent::OutputChunk { data, .. } => data.len(),
        WorkerEvent::Finished { result, .. } => {
            256 + result
                .outputs
                .iter()
                .map(|o| o.stdout.len() + o.stderr.len() + o.command.len())
                .sum::<usize>()
        }
    }
}

fn run_one(shared: &Shared, device: &fleet_proto::Device) -> fleet_ssh::Outcome {
    let inject = shared.panic_device.as_deref() == Some(device.name.as_str());
    if !shared.in_process {
        if inject {
            panic!(
                "injected panic for device {} (FLEET_TEST_PANIC_DEVICE)",
                device.name
            );
        }
        return shared.context.run(device);
    }
    let caught = std::panic::catch_unwind(AssertUnwindSafe(|| {
        if inject {
            panic!(
                "injected panic for device {} (FLEET_TEST_PANIC_DEVICE)",
                device.name
            );
        }
        shared.context.run(device)
    }));
    caught.unwrap_or_else(|panic| {
        let msg = panic_message(&*panic);
        log::error!("session panicked: {msg}");
        fleet_ssh::Outcome {
            status: Status::ProtocolError,
            error: Some(format!("internal error: session panicked: {msg}")),
            outputs: Vec::new(),
            timings: Default::default(),
            started_us: now_us(),
        }
    })
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_string())
}

/// Reports sessions stuck past their hard limit and replaces their threads.
fn watchdog(shared: Arc<Shared>) {
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let now = Instant::now();
        let mut replace = Vec::new();
        {
            let mut st = shared.lock();
            if (st.draining || st.stopping) && st.queue.is_empty() && st.running == 0 {
                return;
            }
            let mut stuck = Vec::new();
            for (i, slot) in st.slots.iter_mut().enumerate() {
                if slot.busy.as_ref().is_some_and(|b| now >= b.hard_deadline) {
                    if let Some(b) = slot.busy.take() {
                        slot.generation += 1;
                        stuck.push((i, slot.generation, b));
                    }
                }
            }
            for (i, generation, b) in stuck {
                let elapsed = now.duration_since(b.started);
                log::error!(
                    "device {} stuck in thread {} for {:.1} s: reporting timeout, replacing the thread",
                    b.device,
                    b.thread,
                    elapsed.as_secs_f64()
                );
                let result = DeviceResult {
                    device: b.device,
                    host: b.host,
                    port: b.port,
                    status: Status::Timeout,
                    error: Some(format!(
                        "session exceeded its hard limit ({:.1} s); thread abandoned",
                        elapsed.as_secs_f64()
                    )),
                    outputs: Vec::new(),
                    worker: Some(WorkerRef {
                        id: shared.worker_id,
                        pid: shared.pid,
                        thread: b.thread,
                    }),
                    timings_ms: fleet_proto::Timings {
                        total: elapsed.as_secs_f64() * 1e3,
                        ..Default::default()
                    },
                    attempt: b.attempt,
                    started_us: b.started_us,
                    batch: Some(b.batch),
                };
                shared.send(Out::Event(WorkerEvent::Finished { seq: b.seq, result }));
                st.running -= 1;
                replace.push((i, generation));
            }
            if !replace.is_empty() {
                shared.maybe_request(&mut st);
                shared.changed.notify_all();
            }
        }
        for (slot, generation) in replace {
            if let Err(e) = spawn_session_thread(&shared, slot, generation) {
                log::error!("could not replace a stuck thread: {e}");
            }
        }
    }
}

/// Drains events into as few IPC messages as the load allows: one message
/// when idle (low latency), many events per message when busy.
fn sender_loop(mut to_master: Box<dyn ToMaster>, rx: mpsc::Receiver<Out>) -> WorkerStats {
    const MAX_EVENTS_PER_MESSAGE: usize = 512;
    let mut stats = WorkerStats::default();
    let mut send = |msg: WorkerToMaster, stats: &mut WorkerStats| match to_master.send(msg) {
        Ok(bytes) => {
            stats.ipc_messages += 1;
            stats.ipc_bytes += bytes as u64;
            true
        }
        Err(e) => {
            log::error!("failed to send to master: {e}");
            false
        }
    };
    while let Ok(first) = rx.recv() {
        let mut events = Vec::new();
        let mut bytes = 0;
        let mut need_work = None;
        let mut bye = None;
        let mut next = Some(first);
        while let Some(out) = next.take() {
            match out {
                Out::Event(ev) => {
                    if matches!(ev, WorkerEvent::Finished { .. }) {
                        stats.devices += 1;
                    }
                    bytes += payload(&ev);
                    events.push(ev)
                }
                Out::NeedWork(n) => need_work = Some(n),
                Out::Bye(s) => bye = Some(s),
            }
            if events.len() < MAX_EVENTS_PER_MESSAGE && bytes < OUTPUT_CHUNK && bye.is_none() {
                next = rx.try_recv().ok();
            }
        }
        if !events.is_empty() && !send(WorkerToMaster::Events(events), &mut stats) {
            return stats;
        }
        if let Some(want) = need_work {
            if !send(WorkerToMaster::NeedWork { want }, &mut stats) {
                return stats;
            }
        }
        if let Some(mut final_stats) = bye {
            final_stats.devices = stats.devices;
            final_stats.ipc_messages = stats.ipc_messages + 1;
            final_stats.ipc_bytes = stats.ipc_bytes;
            send(WorkerToMaster::Bye(final_stats), &mut stats);
            return final_stats;
        }
    }
    stats
}

/// Peak resident set of this process image, from /proc/self/status.
///
/// Not `getrusage`'s `ru_maxrss`: Linux keeps that across `execve`, so a
/// worker forked from a master holding a 100,000-device inventory would
/// report the master's size as its own (seen: 85 MiB for an 8 MiB worker).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time and peak memory of this process.
fn resource_stats() -> WorkerStats {
    use nix::sys::resource::{getrusage, UsageWho};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let ms =
                |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 * 1e3 + tv.tv_usec() as f64 / 1e3;
            WorkerStats {
                cpu_user_ms: ms(u.user_time()),
                cpu_sys_ms: ms(u.system_time()),
                max_rss_kib: peak_rss_kib().unwrap_or(u.max_rss().max(0) as u64),
                ..WorkerStats::default()
            }
        }
        Err(_) => WorkerStats::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_proto::{CommandOutput, Timings};

    #[test]
    fn large_outputs_travel_in_bounded_chunks_that_reassemble() {
        let big = "é".repeat(OUTPUT_CHUNK); // 2 bytes each: cuts must respect UTF-8
        let mut result = DeviceResult {
            device: "d".into(),
            host: "h".into(),
            port: 22,
            status: Status::Ok,
            error: None,
            outputs: vec![CommandOutput {
                command: "c".into(),
                stdout: big.clone(),
                stderr: "small".into(),
                exit_status: Some(0),
                truncated: false,
            }],
            worker: None,
            timings_ms: Timings::default(),
            attempt: 1,
            started_us: 0,
            batch: None,
        };
        let chunks = split_large_outputs(7, &mut result);
        assert!(chunks.len() >= 2);
        let mut joined = String::new();
        for c in &chunks {
            match c {
                WorkerEvent::OutputChunk {
                    seq,
                    index,
                    stderr,
                    data,
                } => {
                    assert_eq!((*seq, *index, *stderr), (7, 0, false));
                    assert!(data.len() <= OUTPUT_CHUNK);
                    joined.push_str(data);
                }
                _ => panic!("not a chunk"),
            }
        }
        assert_eq!(joined, big);
        assert!(result.outputs[0].stdout.is_empty());
        assert_eq!(result.outputs[0].stderr, "small");
    }
}
