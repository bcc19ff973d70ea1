//! The dispatcher: the one place where a device changes state.
//!
//! Split the way quinn splits `quinn-proto` from `quinn`:
//!
//! - [`machine`]: a pure state machine. One table maps every device to one
//!   [`machine::State`] (pending, in flight on a worker, waiting out a
//!   retry backoff, done); `Machine::on_event(now, event)` returns the
//!   actions to take. Crash requeue, poison isolation, retries, rate limit,
//!   group caps, Ctrl-C, take-back, silent workers, master-side deadlines
//!   and write failures are all transitions there, unit-tested one by one.
//! - this module: the thin I/O shell. It turns IPC messages, process exits,
//!   signals and timers into events, and carries actions out: sends
//!   batches, kills and spawns workers, writes `results.jsonl`.
//! - `finish`: what a run leaves behind once every device has a result.

use crate::config::RunConfig;
use crate::report::Reporter;
use crate::rundir::{now_rfc3339, RunDir};
use crate::sink::{self, write_run_json, MasterMark, ResultsFile, WorkerRecord};
use crate::spawn::{self, Event, WorkerTx};
use fleet_proto::chain::Chain;
use fleet_proto::event::Lifecycle;
use fleet_proto::{
    DeviceResult, DeviceTable, ExitCode, MasterToWorker, Status, WorkerConfig, WorkerEvent,
    WorkerToMaster,
};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

mod finish;
pub mod machine;

use machine::{Action, Batching, Machine, Settings, WorkerKey};

/// How long workers get to leave after `Drain` once all results are in.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How often workers send a heartbeat.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// A worker silent this long (no heartbeat, no event) is frozen or
/// deadlocked. Generous: a loaded 2-core machine can delay a heartbeat by
/// seconds, and killing a healthy worker costs its running sessions.
pub const DEFAULT_WORKER_SILENCE: Duration = Duration::from_secs(10);

/// How long past its session limit the master waits for a device's result
/// before ending it itself: above the worker watchdog's 10 s margin, so
/// the worker normally reports first.
const DEADLINE_MARGIN: Duration = Duration::from_secs(15);

/// Failures of the run itself (a device's failure is a result, not this).
#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    /// The run directory or one of its files could not be written.
    #[error("failed to write the run directory {path}")]
    RunDir {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A worker could not be started when the run began (one failure is
    /// enough; a failed restart after a crash is logged and the run goes on
    /// with fewer workers).
    #[error("failed to start worker {slot}")]
    Spawn {
        /// Worker slot.
        slot: u32,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Signal handlers could not be installed.
    #[error("failed to install signal handlers")]
    Signals(#[source] std::io::Error),
}

/// What a finished run tells the caller.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// Run id.
    pub run_id: String,
    /// Run directory.
    pub run_dir: PathBuf,
    /// Devices per status.
    pub counts: BTreeMap<Status, usize>,
    /// Devices in this run.
    pub total: usize,
    /// Wall time.
    pub wall: Duration,
    /// Whether Ctrl-C/SIGTERM stopped it.
    pub interrupted: bool,
    /// Devices whose result could not be written to `results.jsonl`.
    pub unrecorded: Vec<String>,
    /// What `trace.json` holds.
    pub trace: fleet_proto::rundir::TraceRecord,
    /// The process exit code to use.
    pub exit_code: ExitCode,
    /// `-p auto -t auto`: the facts and every decision, for run.json.
    pub auto: Option<fleet_autotune::AutoLog>,
}

/// The I/O shell around the [`Machine`].
struct Shell {
    cfg: RunConfig,
    dir: RunDir,
    events: mpsc::Sender<Event>,
    machine: Machine,
    results: ResultsFile,
    reporter: Reporter,
    txs: HashMap<WorkerKey, WorkerTx>,
    /// `workers.json` records, and which one each incarnation has.
    records: Vec<WorkerRecord>,
    record_of: HashMap<WorkerKey, usize>,
    marks: Vec<MasterMark>,
    /// The final results (without outputs) that get a slice in
    /// `trace.json`: all of them, a sample or none (`--trace`).
    traced: Vec<DeviceResult>,
    sampler: crate::trace::Sampler,
    /// Final results handed to the writer so far.
    recorded: usize,
    counts: BTreeMap<Status, usize>,
    worker_config: WorkerConfig,
    /// The first failure to write `results.jsonl`; nothing is written after.
    write_error: Option<std::sync::Arc<std::io::Error>>,
    /// Final results (without outputs) that did not reach `results.jsonl`.
    unrecorded: Vec<(u32, DeviceResult)>,
    /// Events the shell feeds back to the machine (a write failed).
    feedback: VecDeque<machine::Event>,
    /// `-p auto -t auto`: measures sessions and resizes the workers.
    tuner: Option<crate::tune::Tuner>,
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Runs `devices` with the layout in `cfg` and returns when every device has
/// a result in `results.jsonl`.
pub fn run(mut cfg: RunConfig, devices: impl Into<DeviceTable>) -> Result<RunOutcome, MasterError> {
    let devices: DeviceTable = devices.into();
    let started = Instant::now();
    let tuner = cfg
        .auto
        .clone()
        .map(|facts| crate::tune::Tuner::new(facts, started));
    if let Some(t) = &tuner {
        let (p, t) = t.layout();
        cfg.processes = p as usize;
        cfg.threads = t as usize;
    }
    let t0_us = now_us();
    let started_at = now_rfc3339();
    let dir = match &cfg.resume_dir {
        Some(path) => RunDir::open(path),
        None => RunDir::create(&cfg.out_dir),
    }
    .map_err(|source| MasterError::RunDir {
        path: cfg.resume_dir.clone().unwrap_or(cfg.out_dir.clone()),
        source,
    })?;
    let io_err = |path: PathBuf| move |source| MasterError::RunDir { path, source };
    let master_log = dir
        .append("master.log")
        .map_err(io_err(dir.file("master.log")))?;
    fleet_logs::init_with("master", cfg.log_level, cfg.device_logs, master_log);
    log::info!(
        "run {} starting: {} devices, layout {} (batch {}), fleet {}",
        dir.id,
        devices.len(),
        cfg.layout(),
        cfg.batch_label(),
        env!("CARGO_PKG_VERSION")
    );
    let (events, rx) = mpsc::channel();
    let announce = events.clone();
    let results = ResultsFile::open(&dir, move |error: &str| {
        let _ = announce.send(Event::ResultsFailed(error.to_string()));
    })
    .map_err(io_err(dir.file("results.jsonl")))?;
    write_run_json(&cfg, &dir, &started_at, None, devices.len(), None)?;

    install_signals(events.clone())?;

    let total = devices.len();
    let reporter = Reporter::new(&cfg, total, &dir);
    let worker_config = WorkerConfig {
        threads: cfg.threads,
        timeouts: cfg.timeouts,
        max_output: cfg.max_output,
        host_key_check: cfg.host_key_check,
        known_hosts: cfg.known_hosts.clone(),
        known_hosts_extra: cfg.known_hosts_extra.clone(),
        default_mode: cfg.default_mode,
        heartbeat: HEARTBEAT,
    };
    let settings = Settings {
        processes: cfg.processes,
        threads: cfg.threads,
        crash_retries: cfg.retries,
        max_worker_restarts: cfg.max_worker_restarts,
        grace: cfg.grace,
        drain_timeout: DRAIN_TIMEOUT,
        policy: cfg.policy.clone(),
        batching: match cfg.batch_size {
            Some(n) => Batching::Fixed(n),
            None => Batching::Adaptive,
        },
        silence: cfg.worker_silence,
        session_limit: cfg.timeouts.session.unwrap_or(Duration::from_secs(600)),
        deadline_margin: DEADLINE_MARGIN,
    };
    let trace_mode = cfg.trace;
    let now = Instant::now();
    let machine = Machine::new(settings, devices, now);
    let mut shell = Shell {
        cfg,
        dir,
        events,
        machine,
        results,
        reporter,
        txs: HashMap::new(),
        records: Vec::new(),
        record_of: HashMap::new(),
        marks: Vec::new(),
        traced: Vec::new(),
        sampler: crate::trace::Sampler::new(trace_mode, total),
        recorded: 0,
        counts: BTreeMap::new(),
        worker_config,
        write_error: None,
        unrecorded: Vec::new(),
        feedback: VecDeque::new(),
        tuner,
    };
    let first = shell.machine.start(now);
    for action in first {
        if let Action::Spawn(key) = action {
            shell.spawn(key)?;
        }
    }
    shell.event_loop(&rx);
    shell.finish(started, t0_us, &started_at)
}

fn install_signals(events: mpsc::Sender<Event>) -> Result<(), MasterError> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals =
        signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).map_err(MasterError::Signals)?;
    std::thread::Builder::new()
        .name("m-signals".into())
        .spawn(move || {
            let mut count = 0;
            for sig in signals.forever() {
                count += 1;
                if count >= 3 {
                    // Third strike: the user wants out now. Results written
                    // so far are flushed per batch.
                    eprintln!("fleet: third signal, exiting immediately");
                    fleet_logs::flush();
                    std::process::exit(ExitCode::Interrupted.code());
                }
                if events.send(Event::Signal(sig)).is_err() {
                    return;
                }
            }
        })
        .map_err(MasterError::Signals)?;
    Ok(())
}

impl Shell {
    /// Starts worker incarnation `key`: a process, or the in-process pool.
    fn spawn(&mut self, key: WorkerKey) -> Result<(), MasterError> {
        let WorkerKey { slot, generation } = key;
        if self.cfg.processes == 0 {
            let pid = std::process::id();
            self.new_record(key, pid);
            return spawn::spawn_in_process(self.events.clone())
                .map_err(|source| MasterError::Spawn { slot: 0, source });
        }
        let log_name = format!("worker-{slot}.log");
        let log_file = self
            .dir
            .append(&log_name)
            .map_err(|source| MasterError::RunDir {
                path: self.dir.file(&log_name),
                source,
            })?;
        let spawned = spawn::spawn_process(
            &self.cfg.worker_exe,
            slot,
            generation,
            log_file,
            self.cfg.log_level,
            self.cfg.device_logs,
            self.events.clone(),
        )
        .map_err(|source| MasterError::Spawn { slot, source })?;
        log::info!(
            "{}",
            Lifecycle::WorkerSpawn {
                worker: slot,
                generation,
                pid: spawned.pid,
            }
        );
        self.mark("worker start", Some(slot), format!("pid {}", spawned.pid));
        self.new_record(key, spawned.pid);
        Ok(())
    }

    fn new_record(&mut self, key: WorkerKey, pid: u32) {
        self.records.push(WorkerRecord {
            id: key.slot,
            generation: key.generation,
            pid,
            started_at: now_rfc3339(),
            hello_at: None,
            exited_at: None,
            exit: None,
            crashed: false,
            devices: 0,
            cpu_user_ms: None,
            cpu_sys_ms: None,
            max_rss_kib: None,
            ipc_messages_in: 0,
            ipc_bytes_in: 0,
            ipc_messages_out: 0,
            ipc_bytes_out: 0,
            batches: 0,
            // Set only by `fleet merge`.
            shard: None,
            name: None,
        });
        self.record_of.insert(key, self.records.len() - 1);
    }

    fn record(&mut self, key: WorkerKey) -> Option<&mut WorkerRecord> {
        let i = *self.record_of.get(&key)?;
        self.records.get_mut(i)
    }

    fn mark(&mut self, name: &str, worker: Option<u32>, detail: String) {
        self.marks.push(MasterMark {
            ts_us: now_us(),
            name: name.to_string(),
            worker,
            detail,
        });
    }

    fn event_loop(&mut self, rx: &mpsc::Receiver<Event>) {
        // Ticks at least this often: silence and deadline checks.
        const TICK: Duration = Duration::from_millis(250);
        let mut next_tick = Instant::now() + TICK;
        while !self.machine.finished() {
            let wake = self
                .machine
                .next_wake()
                .map_or(next_tick, |w| w.min(next_tick));
            let wait = wake.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(ev) => {
                    self.handle(ev);
                    while let Ok(ev) = rx.try_recv() {
                        self.handle(ev);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            let now = Instant::now();
            if now >= next_tick || self.machine.next_wake().is_some_and(|w| now >= w) {
                next_tick = now + TICK;
                self.feed(machine::Event::Tick);
                self.autotune();
                self.reporter
                    .tick(self.machine.done(), &self.counts, &self.machine.activity());
            }
        }
    }

    /// Feeds one event to the machine and carries out its actions (and
    /// whatever events those produce in turn).
    fn feed(&mut self, ev: machine::Event) {
        self.feedback.push_back(ev);
        self.run_feedback();
    }

    fn run_feedback(&mut self) {
        while let Some(ev) = self.feedback.pop_front() {
            let actions = self.machine.on_event(Instant::now(), ev);
            for action in actions {
                self.act(action);
            }
        }
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::Send(key, msg) => self.send(key, msg),
            Action::Kill(key) => self.kill(key),
            Action::Spawn(key) => {
                if let Err(e) = self.spawn(key) {
                    log::error!("failed to restart worker {}: {}", key.slot, Chain(&e));
                    self.feedback.push_back(machine::Event::Exited {
                        worker: key,
                        status: format!("failed to start: {}", Chain(&e)),
                        success: false,
                    });
                }
            }
            Action::Record { seq, result } => self.record_result(seq, *result),
            Action::Note(line) => self.reporter.note(&line),
        }
    }

    fn send(&mut self, key: WorkerKey, msg: MasterToWorker) {
        let batch = match &msg {
            MasterToWorker::Batch { id, jobs } => Some((*id, jobs.len())),
            _ => None,
        };
        if let Some((id, n)) = batch {
            self.mark("batch", Some(key.slot), format!("batch {id}: {n} devices"));
        }
        let Some(tx) = self.txs.get(&key) else {
            // Not connected or already gone: the exit event hands its
            // devices back.
            return;
        };
        match tx.send(msg) {
            Ok(bytes) => {
                if let Some(r) = self.record(key) {
                    r.ipc_messages_out += 1;
                    r.ipc_bytes_out += bytes as u64;
                    if batch.is_some() {
                        r.batches += 1;
                    }
                }
            }
            // The Disconnected/Exited events will hand the devices back.
            Err(e) => log::warn!("failed to send to worker {}: {}", key.slot, Chain(&e)),
        }
    }

    fn kill(&mut self, key: WorkerKey) {
        let Some(pid) = self.record(key).map(|r| r.pid) else {
            return;
        };
        if pid == std::process::id() {
            return;
        }
        log::warn!("killing worker {} pid {pid}", key.slot);
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }

    /// Turns what the spawn threads report into machine events.
    fn handle(&mut self, ev: Event) {
        match ev {
            Event::Connected {
                slot,
                generation,
                tx,
            } => {
                let key = WorkerKey { slot, generation };
                let _ = tx.send(MasterToWorker::Configure(self.worker_config.clone()));
                self.txs.insert(key, tx);
                self.feed(machine::Event::Connected(key));
            }
            Event::Message {
                slot,
                generation,
                msg,
            } => self.on_message(WorkerKey { slot, generation }, msg),
            Event::ResultsFailed(error) => {
                self.write_failed(error);
                self.run_feedback();
            }
            Event::Disconnected {
                slot,
                generation,
                reason,
            } => {
                // The exit follows; the crash (if any) is judged there,
                // once every message has been read.
                if self.txs.remove(&WorkerKey { slot, generation }).is_some() {
                    log::debug!("worker {slot} channel closed: {reason}");
                }
            }
            Event::Exited {
                slot,
                generation,
                status,
                success,
            } => {
                let key = WorkerKey { slot, generation };
                self.txs.remove(&key);
                let held = self.machine.held(key);
                let mut crashed = false;
                let mut pid = 0;
                if let Some(r) = self.record(key) {
                    r.exit = Some(status.clone());
                    r.exited_at = Some(now_rfc3339());
                    // Judged like the machine does: a clean exit says Bye.
                    r.crashed = !(success && r.cpu_user_ms.is_some());
                    crashed = r.crashed;
                    pid = r.pid;
                    log::info!(
                        "{}",
                        Lifecycle::WorkerExit {
                            worker: slot,
                            generation,
                            pid,
                            exit: status.clone(),
                            crashed,
                        }
                    );
                }
                self.mark("worker exit", Some(slot), status.clone());
                if crashed {
                    log::error!(
                        "worker_crashed: worker {slot} generation {generation} pid {pid}: {status}; {held} devices in flight"
                    );
                    self.mark("worker crashed", Some(slot), status.clone());
                }
                self.feed(machine::Event::Exited {
                    worker: key,
                    status,
                    success,
                });
            }
            Event::Signal(sig) => {
                log::warn!("signal {sig}");
                self.feed(machine::Event::Signal);
            }
        }
    }

    fn on_message(&mut self, key: WorkerKey, msg: WorkerToMaster) {
        if let Some(r) = self.record(key) {
            r.ipc_messages_in += 1;
        }
        match msg {
            WorkerToMaster::Hello {
                worker_id,
                pid,
                protocol_version,
            } => {
                if let Some(r) = self.record(key) {
                    r.pid = pid;
                    r.hello_at = Some(now_rfc3339());
                }
                log::info!(
                    "{}",
                    Lifecycle::WorkerHello {
                        worker: worker_id,
                        pid,
                        protocol: protocol_version,
                    }
                );
                self.feed(machine::Event::Hello {
                    worker: key,
                    protocol: protocol_version,
                });
            }
            WorkerToMaster::Heartbeat(threads) => {
                log::trace!(
                    "heartbeat: worker {} {} threads busy",
                    key.slot,
                    threads.iter().filter(|t| t.seq.is_some()).count()
                );
                self.feed(machine::Event::Heartbeat(key));
            }
            WorkerToMaster::Events(events) => {
                for ev in events {
                    let ev = match ev {
                        WorkerEvent::Started { seq, thread } => {
                            log::debug!("started: seq {seq} on {thread}");
                            machine::Event::Started { worker: key, seq }
                        }
                        WorkerEvent::OutputChunk {
                            seq,
                            index,
                            stderr,
                            data,
                        } => machine::Event::Chunk {
                            worker: key,
                            seq,
                            index,
                            stderr,
                            data,
                        },
                        WorkerEvent::Panicked { seq, message } => machine::Event::Panicked {
                            worker: key,
                            seq,
                            message,
                        },
                        WorkerEvent::Returned { seqs } => {
                            machine::Event::Returned { worker: key, seqs }
                        }
                        WorkerEvent::Finished { seq, result } => {
                            if let Some(r) = self.record(key) {
                                r.devices += 1;
                            }
                            if let Some(t) = &mut self.tuner {
                                if result.timings_ms.total > 0.0 {
                                    t.on_session(key, result.timings_ms.total);
                                }
                            }
                            machine::Event::Finished {
                                worker: key,
                                seq,
                                result: Box::new(result),
                            }
                        }
                    };
                    self.feed(ev);
                }
                self.count_running();
            }
            WorkerToMaster::Usage { cpu_ms } => {
                let first = self.tuner.as_mut().map(|t| {
                    t.on_worker_cpu(key, cpu_ms);
                    !t.measured()
                });
                self.feed(machine::Event::Heartbeat(key));
                // The probe ends with the first report that completes its
                // measurements, not a tick later.
                if first == Some(true) {
                    self.autotune();
                }
            }
            WorkerToMaster::Bye(stats) => {
                if let Some(r) = self.record(key) {
                    r.cpu_user_ms = Some(stats.cpu_user_ms);
                    r.cpu_sys_ms = Some(stats.cpu_sys_ms);
                    r.max_rss_kib = Some(stats.max_rss_kib);
                    r.ipc_bytes_in = stats.ipc_bytes;
                }
                log::info!(
                    "worker_bye: worker {}: {} devices, cpu {:.0}+{:.0} ms, max rss {} KiB",
                    key.slot,
                    stats.devices,
                    stats.cpu_user_ms,
                    stats.cpu_sys_ms,
                    stats.max_rss_kib
                );
                self.feed(machine::Event::Bye(key));
            }
        }
    }

    /// `-p auto`: the running sessions after a batch of worker events, so
    /// that CPU is set against the time sessions really ran.
    fn count_running(&mut self) {
        let Some(t) = &mut self.tuner else { return };
        let running: usize = self.machine.activity().iter().map(|a| a.1).sum();
        t.on_running(Instant::now(), running as u64);
    }

    /// `-p auto -t auto`: looks at the measurements, logs each decision,
    /// and resizes the workers when the layout changes.
    fn autotune(&mut self) {
        let Some(t) = &mut self.tuner else { return };
        t.on_master_cpu(crate::tune::process_cpu_ms());
        t.on_machine_cpu(crate::tune::machine_cpu_ms());
        let left = self.machine.total().saturating_sub(self.machine.done()) as u64;
        let Some(v) = t.tick(Instant::now(), left) else {
            return;
        };
        log::info!("{}", v.log);
        if let Some(line) = &v.print {
            self.reporter.note(line);
        }
        if let Some(n) = v.set_threads {
            let from = self.machine.threads();
            self.mark(
                "layout change",
                None,
                format!("threads {from} -> {n} per worker: {}", v.log),
            );
            // Workers not connected yet are configured with the new count.
            self.worker_config.threads = n as usize;
            self.feed(machine::Event::SetThreads(n as usize));
        }
    }

    /// Writes a final result and updates the tallies.
    fn record_result(&mut self, seq: u32, result: DeviceResult) {
        // A failure is always worth a line; an ok result only when the run
        // logs routine device lines.
        let target = if result.status.is_ok() {
            fleet_proto::event::DEVICE_LOG_TARGET
        } else {
            module_path!()
        };
        if log::log_enabled!(target: target, log::Level::Info) {
            let _scope = fleet_logs::device_scope(&result.device);
            let w = result.worker.as_ref();
            log::info!(
                target: target,
                "{}",
                Lifecycle::Result {
                    status: result.status,
                    attempt: result.attempt,
                    worker: w.map(|w| w.id),
                    pid: w.map(|w| w.pid),
                    thread: w.map(|w| w.thread.clone()),
                    ms: result.timings_ms.total,
                    error: result.error.clone(),
                }
            );
        }
        if let Some(dir) = &self.cfg.save_outputs {
            if let Err(e) = crate::outputs::save(dir, &result) {
                log::error!("failed to save outputs of {}: {e}", result.device);
            }
        }
        self.reporter.result(seq, &result);
        *self.counts.entry(result.status).or_default() += 1;
        self.recorded += 1;
        if self.sampler.keep(&result) {
            self.traced.push(without_outputs(&result));
        }
        // The line is encoded and written on the results thread. After a
        // failed write the result goes straight to the fallback list.
        let unwritten = match &self.write_error {
            Some(_) => Some((seq, result)),
            None => self.results.write(seq, result).err().map(|b| *b),
        };
        if let Some((seq, mut result)) = unwritten {
            result.outputs = Vec::new();
            self.unrecorded.push((seq, result));
        }
    }

    /// The first failed write (the results thread says so): the machine
    /// stops the run; what was not written comes back when the results
    /// file closes.
    fn write_failed(&mut self, error: String) {
        if self.write_error.is_some() {
            return;
        }
        log::error!("failed to write results.jsonl: {error}");
        self.write_error = Some(std::sync::Arc::new(std::io::Error::other(error.clone())));
        // The machine is pure data: it gets the text for the results.
        self.feedback
            .push_back(machine::Event::WriteFailed { error });
    }
}

/// A result's copy for the trace: everything but the outputs (which a
/// trace never shows), without copying them first.
fn without_outputs(r: &DeviceResult) -> DeviceResult {
    DeviceResult {
        device: r.device.clone(),
        host: r.host.clone(),
        port: r.port,
        status: r.status,
        error: r.error.clone(),
        outputs: Vec::new(),
        worker: r.worker.clone(),
        timings_ms: r.timings_ms,
        attempt: r.attempt,
        started_us: r.started_us,
        batch: r.batch,
    }
}
