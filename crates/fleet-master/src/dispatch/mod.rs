//! The dispatcher: the one place where a device changes state.
//!
//! Every device is always in exactly one of four places: `pending` (the
//! master's queue), `delayed` (waiting out a `--retry` backoff, its last
//! result kept), `in_flight` (in a batch held by one worker, started or
//! not), or done (its result written). Workers pull: they say how many
//! devices they can take, the dispatcher answers with at most a batch.
//! A worker that dies hands its in-flight devices back: those it had not
//! started go back to the queue as they were, those it was running go back
//! with one more attempt, or end `worker_lost` when out of retries (which
//! also isolates a "poison" device that crashes every worker it touches).
//!
//! This module holds the state and the event loop; `schedule` hands out
//! devices, `recovery` handles workers that end and signals, `finish`
//! writes what a run leaves behind.

use crate::config::RunConfig;
use crate::policy::{GroupGate, RateLimiter};
use crate::report::Reporter;
use crate::rundir::{now_rfc3339, RunDir};
use crate::sink::{self, MasterMark, ResultsFile, WorkerRecord};
use crate::spawn::{self, Event, WorkerTx};
use fleet_proto::{
    Device, DeviceResult, ExitCode, Job, MasterToWorker, Status, WorkerConfig, WorkerEvent,
    WorkerToMaster, PROTOCOL_VERSION,
};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

mod finish;
mod recovery;
mod schedule;

use finish::{reassemble, write_run_json};

/// How long workers get to leave after `Drain` once all results are in.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// The process exit code to use.
    pub exit_code: ExitCode,
}

/// A device handed to a worker and not yet back.
struct InFlight {
    job: Job,
    /// Worker slot holding it.
    slot: u32,
    /// A thread picked it up (it was running, not queued, if the worker dies).
    started: bool,
}

struct Slot {
    id: u32,
    generation: u32,
    pid: u32,
    tx: Option<WorkerTx>,
    /// Devices the worker asked for and has not been sent yet.
    want: usize,
    /// The process (or in-process pool) has not exited yet.
    alive: bool,
    /// It said Bye: a clean end.
    said_bye: bool,
    drain_sent: bool,
    /// A suspect device runs alone on this worker: send nothing else until
    /// its result is in.
    solo: Option<u32>,
    /// Crash already handled for this generation.
    lost: bool,
    restarts: u32,
    record: usize,
}

impl Slot {
    /// A just-started worker incarnation, not yet connected.
    fn new(id: u32, generation: u32, pid: u32, record: usize) -> Slot {
        Slot {
            id,
            generation,
            pid,
            tx: None,
            want: 0,
            alive: true,
            said_bye: false,
            drain_sent: false,
            solo: None,
            lost: false,
            restarts: 0,
            record,
        }
    }
}

struct Stopping {
    deadline: Instant,
    /// Workers were killed at the deadline (done once).
    killed: bool,
}

struct Master {
    cfg: RunConfig,
    dir: RunDir,
    events: mpsc::Sender<Event>,
    results: ResultsFile,
    reporter: Reporter,
    pending: VecDeque<Job>,
    in_flight: HashMap<u32, InFlight>,
    total: usize,
    done: usize,
    counts: BTreeMap<Status, usize>,
    slots: Vec<Slot>,
    records: Vec<WorkerRecord>,
    marks: Vec<MasterMark>,
    compact: Vec<DeviceResult>,
    next_batch: u64,
    stopping: Option<Stopping>,
    drain_deadline: Option<Instant>,
    worker_config: WorkerConfig,
    /// `--connect-rate`: paces dispatch across all workers.
    rate: Option<RateLimiter>,
    /// `--max-per-group`: sessions per capped group.
    gate: GroupGate,
    /// Devices waiting out a retry backoff, with their last result (which
    /// becomes final if the run stops before the retry).
    delayed: Vec<(Instant, Job, DeviceResult)>,
    /// The dispatcher must look again at this time (next rate token).
    wake_at: Option<Instant>,
    /// Devices that were running beside others when a worker crashed: any
    /// of them may be the cause, so each runs alone next time.
    suspects: HashSet<u32>,
    /// Crashes of a worker that ran the device alone: proof, not suspicion.
    strikes: HashMap<u32, u32>,
    /// Pieces of large outputs that arrived ahead of their result.
    partial: HashMap<u32, Vec<(u32, bool, String)>>,
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Runs `devices` with the layout in `cfg` and returns when every device has
/// a result in `results.jsonl`.
pub fn run(cfg: RunConfig, devices: Vec<Device>) -> Result<RunOutcome, MasterError> {
    let started = Instant::now();
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
    fleet_logs::init("master", cfg.log_level, master_log);
    log::info!(
        "run {} starting: {} devices, layout {} (batch {}), fleet {}",
        dir.id,
        devices.len(),
        cfg.layout(),
        cfg.batch_size,
        env!("CARGO_PKG_VERSION")
    );
    let results = ResultsFile::open(&dir).map_err(io_err(dir.file("results.jsonl")))?;
    write_run_json(&cfg, &dir, &started_at, None, devices.len(), None)?;

    let (events, rx) = mpsc::channel();
    install_signals(events.clone())?;

    let total = devices.len();
    let reporter = Reporter::new(&cfg, total, &dir);
    let worker_config = WorkerConfig {
        threads: cfg.threads,
        timeouts: cfg.timeouts,
        max_output: cfg.max_output,
        host_key_check: cfg.host_key_check,
        known_hosts: cfg.known_hosts.clone(),
        default_mode: cfg.default_mode,
        // Under a connect rate a device must start when dispatched, not sit
        // in a worker's queue and start later in a burst.
        prefetch: if cfg.policy.connect_rate.is_some() {
            0
        } else {
            cfg.batch_size
        },
    };
    let rate = cfg.policy.connect_rate.map(RateLimiter::new);
    let gate = GroupGate::new(&cfg.policy.group_caps);
    let pending = devices
        .into_iter()
        .enumerate()
        .map(|(i, device)| Job {
            seq: i as u32,
            attempt: 1,
            device,
        })
        .collect();
    let mut m = Master {
        cfg,
        dir,
        events,
        results,
        reporter,
        pending,
        in_flight: HashMap::new(),
        total,
        done: 0,
        counts: BTreeMap::new(),
        slots: Vec::new(),
        records: Vec::new(),
        marks: Vec::new(),
        compact: Vec::with_capacity(total),
        next_batch: 0,
        stopping: None,
        drain_deadline: None,
        worker_config,
        rate,
        gate,
        delayed: Vec::new(),
        wake_at: None,
        suspects: HashSet::new(),
        strikes: HashMap::new(),
        partial: HashMap::new(),
    };
    if total > 0 {
        m.start_workers()?;
    }
    m.event_loop(&rx);
    m.finish(started, t0_us, &started_at)
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

impl Master {
    fn start_workers(&mut self) -> Result<(), MasterError> {
        if self.cfg.processes == 0 {
            let record = self.new_record(0, 0, std::process::id());
            self.slots.push(Slot::new(0, 0, std::process::id(), record));
            spawn::spawn_in_process(self.events.clone())
                .map_err(|source| MasterError::Spawn { slot: 0, source })?;
            return Ok(());
        }
        for id in 0..self.cfg.processes as u32 {
            let slot = self.spawn_worker(id, 0)?;
            self.slots.push(slot);
        }
        Ok(())
    }

    fn new_record(&mut self, id: u32, generation: u32, pid: u32) -> usize {
        self.records.push(WorkerRecord {
            id,
            generation,
            pid,
            started_at: now_rfc3339(),
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
        });
        self.records.len() - 1
    }

    fn spawn_worker(&mut self, id: u32, generation: u32) -> Result<Slot, MasterError> {
        let log_name = format!("worker-{id}.log");
        let log_file = self
            .dir
            .append(&log_name)
            .map_err(|source| MasterError::RunDir {
                path: self.dir.file(&log_name),
                source,
            })?;
        let spawned = spawn::spawn_process(
            &self.cfg.worker_exe,
            id,
            generation,
            log_file,
            self.cfg.log_level,
            self.events.clone(),
        )
        .map_err(|source| MasterError::Spawn { slot: id, source })?;
        log::info!(
            "worker_started: worker {id} generation {generation} pid {}",
            spawned.pid
        );
        self.mark("worker start", Some(id), format!("pid {}", spawned.pid));
        let record = self.new_record(id, generation, spawned.pid);
        Ok(Slot::new(id, generation, spawned.pid, record))
    }

    fn mark(&mut self, name: &str, worker: Option<u32>, detail: String) {
        self.marks.push(MasterMark {
            ts_us: now_us(),
            name: name.to_string(),
            worker,
            detail,
        });
    }

    fn finished(&self) -> bool {
        self.done >= self.total && self.slots.iter().all(|s| !s.alive)
    }

    fn event_loop(&mut self, rx: &mpsc::Receiver<Event>) {
        while !self.finished() {
            let deadline = [
                self.stopping
                    .as_ref()
                    .filter(|s| !s.killed)
                    .map(|s| s.deadline),
                self.drain_deadline,
                self.wake_at,
                self.delayed.iter().map(|(t, _, _)| *t).min(),
            ]
            .into_iter()
            .flatten()
            .min();
            let wait = deadline
                .map(|d| d.saturating_duration_since(Instant::now()))
                .unwrap_or(Duration::from_millis(500))
                .min(Duration::from_millis(500));
            match rx.recv_timeout(wait) {
                Ok(ev) => {
                    self.handle(ev);
                    // Take everything already queued before flushing, so a
                    // busy run writes in large chunks.
                    while let Ok(ev) = rx.try_recv() {
                        self.handle(ev);
                    }
                    if let Err(e) = self.results.flush() {
                        log::error!("failed to flush results.jsonl: {e}");
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            self.on_tick();
        }
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        if self.wake_at.is_some_and(|t| now >= t) {
            self.wake_at = None;
        }
        if self.delayed.iter().any(|(t, _, _)| now >= *t) {
            let (due, wait): (Vec<_>, Vec<_>) =
                self.delayed.drain(..).partition(|(t, _, _)| now >= *t);
            self.delayed = wait;
            for (_, job, _) in due {
                let _scope = fleet_logs::device_scope(&job.device.name);
                log::info!("retry: attempt {} queued after backoff", job.attempt);
                self.pending.push_back(job);
            }
        }
        self.dispatch();
        if let Some(stop) = &mut self.stopping {
            if now >= stop.deadline && !stop.killed {
                stop.killed = true;
                self.kill_all("grace period over");
            }
        }
        if let Some(d) = self.drain_deadline {
            if now >= d {
                self.kill_all("workers did not exit after drain");
                self.drain_deadline = None;
            }
        }
        self.reporter
            .tick(self.done, &self.counts, &self.activity());
    }

    fn activity(&self) -> Vec<(u32, usize)> {
        let mut per: BTreeMap<u32, usize> = BTreeMap::new();
        for f in self.in_flight.values().filter(|f| f.started) {
            *per.entry(f.slot).or_default() += 1;
        }
        self.slots
            .iter()
            .filter(|s| s.alive)
            .map(|s| (s.id, per.get(&s.id).copied().unwrap_or(0)))
            .collect()
    }

    fn slot_mut(&mut self, id: u32, generation: u32) -> Option<&mut Slot> {
        self.slots
            .iter_mut()
            .find(|s| s.id == id && s.generation == generation)
    }

    fn handle(&mut self, ev: Event) {
        match ev {
            Event::Connected {
                slot,
                generation,
                tx,
            } => {
                let cfg = MasterToWorker::Configure(self.worker_config.clone());
                let stopping = self.stopping.is_some();
                let Some(s) = self.slot_mut(slot, generation) else {
                    return;
                };
                let _ = tx.send(cfg);
                if stopping {
                    let _ = tx.send(MasterToWorker::Stop);
                }
                s.tx = Some(tx);
            }
            Event::Message {
                slot,
                generation,
                msg,
            } => self.on_message(slot, generation, msg),
            Event::Disconnected {
                slot,
                generation,
                reason,
            } => {
                // The exit follows; the crash (if any) is judged there,
                // once every message has been read.
                if let Some(s) = self.slot_mut(slot, generation) {
                    s.tx = None;
                    if !s.said_bye {
                        log::warn!("worker {slot} channel closed before bye: {reason}");
                    }
                }
            }
            Event::Exited {
                slot,
                generation,
                status,
                success,
            } => {
                let Some(s) = self.slot_mut(slot, generation) else {
                    return;
                };
                s.alive = false;
                s.tx = None;
                let crashed = !(s.said_bye && success);
                let record = s.record;
                self.records[record].exit = Some(status.clone());
                self.records[record].exited_at = Some(now_rfc3339());
                log::info!("worker_exited: worker {slot} generation {generation}: {status}");
                self.mark("worker exit", Some(slot), status.clone());
                self.worker_gone(slot, generation, &status, crashed);
            }
            Event::Signal(sig) => self.on_signal(sig),
        }
        self.dispatch();
    }

    fn on_message(&mut self, slot: u32, generation: u32, msg: WorkerToMaster) {
        let Some(i) = self
            .slots
            .iter()
            .position(|s| s.id == slot && s.generation == generation)
        else {
            return;
        };
        let record = self.slots[i].record;
        self.records[record].ipc_messages_in += 1;
        match msg {
            WorkerToMaster::Hello {
                worker_id,
                pid,
                protocol_version,
            } => {
                if protocol_version != PROTOCOL_VERSION {
                    log::error!(
                        "worker {worker_id} speaks protocol {protocol_version}, master {PROTOCOL_VERSION}"
                    );
                    self.kill_slot(slot, generation);
                    return;
                }
                self.slots[i].pid = pid;
                self.records[record].pid = pid;
                log::info!(
                    "worker_hello: worker {worker_id} pid {pid} protocol {protocol_version}"
                );
            }
            WorkerToMaster::NeedWork { want } => self.slots[i].want = want,
            WorkerToMaster::Events(events) => {
                for ev in events {
                    match ev {
                        WorkerEvent::Started { seq, thread } => {
                            if let Some(f) = self.in_flight.get_mut(&seq) {
                                f.started = true;
                                log::debug!("started: {} on {thread}", f.job.device.name);
                            }
                        }
                        WorkerEvent::OutputChunk {
                            seq,
                            index,
                            stderr,
                            data,
                        } => {
                            if self.in_flight.get(&seq).is_some_and(|f| f.slot == slot) {
                                self.partial
                                    .entry(seq)
                                    .or_default()
                                    .push((index, stderr, data));
                            }
                        }
                        WorkerEvent::Finished { seq, result } => match self.in_flight.get(&seq) {
                            Some(f) if f.slot == slot => {
                                let mut result = result;
                                if let Some(chunks) = self.partial.remove(&seq) {
                                    reassemble(&mut result, chunks);
                                }
                                self.records[record].devices += 1;
                                if let Some(f) = self.take_in_flight(seq) {
                                    self.device_done(f.job, result);
                                }
                            }
                            _ => log::warn!(
                                "ignoring a result for {} from worker {slot}: not in flight there",
                                result.device
                            ),
                        },
                    }
                }
            }
            WorkerToMaster::Bye(stats) => {
                self.slots[i].said_bye = true;
                let r = &mut self.records[record];
                r.cpu_user_ms = Some(stats.cpu_user_ms);
                r.cpu_sys_ms = Some(stats.cpu_sys_ms);
                r.max_rss_kib = Some(stats.max_rss_kib);
                r.ipc_bytes_in = stats.ipc_bytes;
                log::info!(
                    "worker_bye: worker {slot}: {} devices, cpu {:.0}+{:.0} ms, max rss {} KiB",
                    stats.devices,
                    stats.cpu_user_ms,
                    stats.cpu_sys_ms,
                    stats.max_rss_kib
                );
            }
        }
    }

    /// Removes a device from flight, freeing its group slots.
    fn take_in_flight(&mut self, seq: u32) -> Option<InFlight> {
        let f = self.in_flight.remove(&seq)?;
        self.partial.remove(&seq);
        self.gate.leave(&f.job.device);
        for s in &mut self.slots {
            if s.solo == Some(seq) {
                s.solo = None;
            }
        }
        Some(f)
    }

    /// A worker finished a device: final, or retried after a backoff.
    fn device_done(&mut self, mut job: Job, result: DeviceResult) {
        // It ran to a result without taking its worker down: not the cause.
        self.suspects.remove(&job.seq);
        let policy = &self.cfg.policy;
        if self.stopping.is_none() && policy.should_retry(result.status, job.attempt) {
            let wait = policy.backoff(job.attempt);
            {
                let _scope = fleet_logs::device_scope(&job.device.name);
                log::warn!(
                    "retry: attempt {} ended {} ({}); retrying in {:.2} s",
                    job.attempt,
                    result.status,
                    result.error.as_deref().unwrap_or("-"),
                    wait.as_secs_f64()
                );
            }
            job.attempt += 1;
            self.delayed.push((Instant::now() + wait, job, result));
            return;
        }
        self.record_result(result);
    }

    /// Writes a final result and updates the tallies.
    fn record_result(&mut self, result: DeviceResult) {
        {
            let _scope = fleet_logs::device_scope(&result.device);
            let w = result
                .worker
                .as_ref()
                .map(|w| format!("worker {} pid {} thread {}", w.id, w.pid, w.thread))
                .unwrap_or_else(|| "no worker".to_string());
            log::info!(
                "result: {} attempt {} ({w}) in {:.1} ms{}",
                result.status,
                result.attempt,
                result.timings_ms.total,
                result
                    .error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            );
        }
        if let Err(e) = self.results.write(&result) {
            log::error!("failed to write results.jsonl: {e}");
        }
        if let Some(dir) = &self.cfg.save_outputs {
            if let Err(e) = crate::outputs::save(dir, &result) {
                log::error!("failed to save outputs of {}: {e}", result.device);
            }
        }
        self.reporter.result(&result);
        *self.counts.entry(result.status).or_default() += 1;
        self.done += 1;
        let mut compact = result;
        compact.outputs = Vec::new();
        self.compact.push(compact);
    }

    fn final_without_session(&mut self, job: &Job, status: Status, why: &str) {
        let result = DeviceResult::without_session(&job.device, status, why, job.attempt);
        self.record_result(result);
    }
}
