//! The dispatcher's state machine: no I/O, no clock, no threads.
//!
//! Every device has exactly one [`State`], kept in one table indexed by its
//! `seq`. The caller feeds [`Event`]s with the current time and carries out
//! the [`Action`]s that come back (send a message, kill or spawn a worker,
//! write a result). Unit tests drive it with a fake clock, so every
//! transition is checked in microseconds, without processes or sleeps.
//!
//! Transitions of one device:
//!
//! ```text
//! Pending --send--> InFlight --Finished--> Done                (final result)
//!                      |      \--Finished--> Backoff --due--> Pending (retry policy)
//!                      |--worker gone, not started--> Pending (front, same attempt)
//!                      |--worker crashed, running--> Pending (suspect: runs alone) | Done worker_lost
//!                      |--worker silent, running--> Backoff | Done timeout
//!                      |--past its deadline (master's clock)--> Backoff | Done timeout
//!                      \--taken back before it started--> Pending (front)
//! Pending | Backoff --Ctrl-C / write failure--> Done cancelled (or its last result)
//! ```
//!
//! Work is handed out by free slots: the machine knows how many devices each
//! worker holds and sends more only while it holds fewer than its threads
//! plus a prefetch. The prefetch is measured, not guessed (see [`Pace`]):
//! sessions of seconds need none, sessions of microseconds need large
//! batches. At the end of a run, devices queued in a busy worker but not
//! yet started are taken back and handed to idle slots elsewhere.

use crate::policy::{GroupGate, Policy, RateLimiter};
use fleet_proto::event::{Lifecycle, DEVICE_LOG_TARGET};
use fleet_proto::{
    BatchJob, Device, DeviceResult, DeviceTable, MasterToWorker, Status, PROTOCOL_VERSION,
};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// One incarnation of a worker slot: a restart gets a new generation, so
/// late messages from a dead incarnation are never mistaken for the new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerKey {
    /// Slot id, stable across restarts (names `worker-<slot>.log`).
    pub slot: u32,
    /// Incarnation of the slot: 0 first, then one per restart.
    pub generation: u32,
}

/// How many devices a worker may hold beyond its threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batching {
    /// `--batch-size N`: always N queued beyond the threads.
    Fixed(usize),
    /// Sized from measured session time against the dispatch round trip.
    Adaptive,
}

/// The settings the machine needs, taken from the run configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Worker processes; 0 is the in-process pool (one worker that cannot
    /// be killed or restarted).
    pub processes: usize,
    /// Session threads per worker at the start ([`Event::SetThreads`]
    /// changes it during the run).
    pub threads: usize,
    /// Extra attempts for a device that was running when its worker died.
    pub crash_retries: u32,
    /// Replacements per slot after crashes.
    pub max_worker_restarts: u32,
    /// Time in-flight sessions get after the first Ctrl-C.
    pub grace: Duration,
    /// How long workers get to leave after `Drain`.
    pub drain_timeout: Duration,
    /// Rate, group caps, retries.
    pub policy: Policy,
    /// Prefetch policy.
    pub batching: Batching,
    /// A worker that sends nothing for this long is frozen or deadlocked:
    /// killed and replaced.
    pub silence: Duration,
    /// The run's session limit (a device may set its own).
    pub session_limit: Duration,
    /// How long past a session's limit the master waits for its result
    /// before it ends the device itself. Above the worker's own watchdog
    /// margin, so the worker normally reports first.
    pub deadline_margin: Duration,
}

/// Where one device is. Exactly one per device, always.
#[derive(Debug)]
pub enum State {
    /// In the master's queue (order in `Machine::queue`).
    Pending,
    /// Sent to a worker, queued there or running (boxed: only the devices
    /// held by workers pay for it).
    InFlight(Box<InFlight>),
    /// Waiting out a retry backoff; `last` becomes final if the run stops.
    Backoff {
        /// When it may run again.
        until: Instant,
        /// The result of the attempt that will be retried.
        last: Box<DeviceResult>,
    },
    /// Its final result was handed to the writer.
    Done,
}

/// A device held by a worker.
#[derive(Debug)]
pub struct InFlight {
    /// The worker holding it.
    pub worker: WorkerKey,
    /// When it was sent.
    pub sent: Instant,
    /// When the worker said a thread picked it up.
    pub started: Option<Instant>,
    /// Sent while the worker had a free thread: its start measures the
    /// dispatch round trip.
    pub eager: bool,
    /// A suspect running alone on its worker.
    pub alone: bool,
    /// Asked back (end-of-run take-back); not asked again.
    pub recalled: bool,
    /// Pieces of large outputs that arrived ahead of the result.
    pub chunks: Vec<(u32, bool, String)>,
}

/// Which device and which try: what a [`Job`] carries but the device
/// itself, which stays in the machine's [`DeviceTable`] until it is sent.
#[derive(Debug, Clone, Copy)]
struct JobRef {
    seq: u32,
    attempt: u32,
}

/// One device and what the run has learnt about it. Kept small: a
/// million-device run has a million of these.
#[derive(Debug)]
struct Entry {
    job: JobRef,
    state: State,
    /// It was running beside others when a worker crashed: it runs alone
    /// until it produces a result.
    suspect: bool,
    /// Crashes of a worker while it ran alone: proof, not suspicion.
    strikes: u32,
}

/// The life of a worker incarnation, as far as dispatch is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Started, not connected yet.
    Spawned,
    /// Connected and configured: may get work.
    Ready,
    /// Told `Drain` or `Stop`: gets nothing more.
    Leaving,
    /// Its devices were handed back (it exited, or the master killed it).
    Gone,
}

#[derive(Debug)]
struct Worker {
    key: WorkerKey,
    phase: Phase,
    /// Its session threads: what it was configured with, or last told by
    /// `SetThreads`. Its free slots are `threads - held`.
    threads: usize,
    /// Devices in flight there (queued or running).
    held: usize,
    /// Of those, running.
    running: usize,
    /// Last time anything arrived from it (or it was spawned).
    last_heard: Instant,
    /// Restarts of this slot so far.
    restarts: u32,
    /// It said Bye: an exit 0 after that is clean.
    said_bye: bool,
    /// It has exited (the last event of an incarnation).
    exited: bool,
    /// A suspect device runs alone here.
    alone: Option<u32>,
    /// Devices asked back and not answered yet.
    recalled: usize,
    /// Which profiles (by id) this incarnation has been sent.
    profiles: Vec<bool>,
}

/// Measured session time and dispatch round trip, for the adaptive prefetch.
#[derive(Debug, Default, Clone, Copy)]
pub struct Pace {
    /// Moving average of session wall time, seconds.
    pub session: Option<f64>,
    /// Moving average of send-to-start time for devices sent to a free
    /// thread, seconds.
    pub round_trip: Option<f64>,
}

impl Pace {
    const WEIGHT: f64 = 0.2;
    /// Largest adaptive prefetch: beyond this, round trips no longer matter.
    /// Sized for microsecond sessions (`--transport noop`, trivial
    /// commands): a worker's results come back in sender windows of a few
    /// milliseconds, so it must hold a few milliseconds of work. At 256 a
    /// noop run of 300k devices idled 60% of two cores at 100k devices/s;
    /// at 2048, 150k/s with the master's thread the busy one.
    pub const MAX_PREFETCH: usize = 2048;

    fn add(avg: &mut Option<f64>, sample: f64) {
        *avg = Some(match *avg {
            Some(a) => a + Self::WEIGHT * (sample - a),
            None => sample,
        });
    }

    /// Devices a worker with `threads` threads should hold queued so that
    /// no thread waits for a round trip: the sessions its threads finish
    /// during one round trip, rounded to nearest. 0 until measured.
    pub fn prefetch(&self, threads: usize) -> usize {
        match (self.session, self.round_trip) {
            (Some(s), Some(rt)) if s > 0.0 => {
                let n = (threads as f64 * rt / s).round();
                (n as usize).min(Self::MAX_PREFETCH)
            }
            (Some(_), Some(_)) => Self::MAX_PREFETCH,
            _ => 0,
        }
    }
}

/// Why the run is stopping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopCause {
    /// SIGINT or SIGTERM.
    Signal,
    /// `results.jsonl` could not be written: running more sessions whose
    /// results cannot be recorded is unsafe.
    WriteFailed(String),
}

#[derive(Debug)]
struct Stopping {
    cause: StopCause,
    deadline: Instant,
    /// Workers were killed at the deadline (done once).
    killed: bool,
}

/// What the machine reacts to.
#[derive(Debug)]
pub enum Event {
    /// A worker connected; the machine configures it and may send work.
    Connected(WorkerKey),
    /// A worker's first message.
    Hello {
        /// Who.
        worker: WorkerKey,
        /// Its protocol version.
        protocol: u32,
    },
    /// A thread of the worker picked up device `seq`.
    Started {
        /// Who.
        worker: WorkerKey,
        /// The device.
        seq: u32,
    },
    /// A piece of a large output, ahead of its result.
    Chunk {
        /// Who.
        worker: WorkerKey,
        /// The device.
        seq: u32,
        /// Which command.
        index: u32,
        /// Standard error rather than standard output.
        stderr: bool,
        /// The text.
        data: String,
    },
    /// A device finished on the worker.
    Finished {
        /// Who.
        worker: WorkerKey,
        /// The device.
        seq: u32,
        /// Its result.
        result: Box<DeviceResult>,
    },
    /// The session panicked in the in-process pool (which cannot crash):
    /// handled like a crash of a worker running this device alone.
    Panicked {
        /// Who.
        worker: WorkerKey,
        /// The device.
        seq: u32,
        /// The panic message.
        message: String,
    },
    /// Devices the worker gave back after a take-back (not started there).
    Returned {
        /// Who.
        worker: WorkerKey,
        /// The devices.
        seqs: Vec<u32>,
    },
    /// A sign of life with nothing else to say.
    Heartbeat(WorkerKey),
    /// The worker is leaving cleanly.
    Bye(WorkerKey),
    /// The worker's process (or in-process pool) ended.
    Exited {
        /// Who.
        worker: WorkerKey,
        /// `exit 0`, `signal 9 (SIGKILL)`, ...
        status: String,
        /// Whether it exited 0.
        success: bool,
    },
    /// `-t auto` decided another thread count: every live worker runs this
    /// many threads from now on (new workers start with it).
    SetThreads(usize),
    /// Ctrl-C or SIGTERM.
    Signal,
    /// Writing these devices' results failed; the run must stop.
    WriteFailed {
        /// The error.
        error: String,
    },
    /// Time passed.
    Tick,
}

/// What the shell must do.
#[derive(Debug)]
pub enum Action {
    /// Send a message to a worker.
    Send(WorkerKey, MasterToWorker),
    /// Kill a worker process.
    Kill(WorkerKey),
    /// Start a worker incarnation.
    Spawn(WorkerKey),
    /// Write a device's final result.
    Record {
        /// The device.
        seq: u32,
        /// Its result.
        result: Box<DeviceResult>,
    },
    /// Tell the user (progress bar / stderr).
    Note(String),
}

/// The dispatcher's whole state.
#[derive(Debug)]
pub struct Machine {
    set: Settings,
    /// The devices themselves, packed (index = seq).
    table: DeviceTable,
    devices: Vec<Entry>,
    /// Order of the `Pending` devices (only they are in it).
    queue: VecDeque<u32>,
    workers: Vec<Worker>,
    done: usize,
    stopping: Option<Stopping>,
    drain_deadline: Option<Instant>,
    rate: Option<RateLimiter>,
    gate: GroupGate,
    pace: Pace,
    next_batch: u64,
    /// The next time the machine must look again (rate token).
    wake_at: Option<Instant>,
}

impl Machine {
    /// A machine for `devices` (their index is their `seq`), with every
    /// worker to spawn. Nothing happens until [`Machine::start`].
    pub fn new(set: Settings, devices: impl Into<DeviceTable>, now: Instant) -> Machine {
        let table = devices.into();
        let rate = set
            .policy
            .connect_rate
            .map(|r| RateLimiter::starting_at(r, now));
        let gate = GroupGate::new(&set.policy.group_caps);
        let devices: Vec<Entry> = (0..table.len())
            .map(|i| Entry {
                job: JobRef {
                    seq: i as u32,
                    attempt: 1,
                },
                state: State::Pending,
                suspect: false,
                strikes: 0,
            })
            .collect();
        let queue = (0..devices.len() as u32).collect();
        Machine {
            set,
            table,
            devices,
            queue,
            workers: Vec::new(),
            done: 0,
            stopping: None,
            drain_deadline: None,
            rate,
            gate,
            pace: Pace::default(),
            next_batch: 0,
            wake_at: None,
        }
    }

    /// Spawns the workers (none for an empty run).
    pub fn start(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if self.devices.is_empty() {
            return out;
        }
        for slot in 0..self.set.processes.max(1) as u32 {
            self.spawn(
                WorkerKey {
                    slot,
                    generation: 0,
                },
                0,
                now,
                &mut out,
            );
        }
        out
    }

    fn spawn(&mut self, key: WorkerKey, restarts: u32, now: Instant, out: &mut Vec<Action>) {
        self.workers.push(Worker {
            key,
            threads: self.set.threads.max(1),
            phase: Phase::Spawned,
            held: 0,
            running: 0,
            last_heard: now,
            restarts,
            said_bye: false,
            exited: false,
            alone: None,
            recalled: 0,
            profiles: Vec::new(),
        });
        out.push(Action::Spawn(key));
    }

    /// Every device has its final result and every worker has exited.
    pub fn finished(&self) -> bool {
        self.done >= self.devices.len() && self.workers.iter().all(|w| w.exited)
    }

    /// Devices in the run.
    pub fn total(&self) -> usize {
        self.devices.len()
    }

    /// Devices with a final result.
    pub fn done(&self) -> usize {
        self.done
    }

    /// Why the run stopped early, if it did.
    pub fn stop_cause(&self) -> Option<&StopCause> {
        self.stopping.as_ref().map(|s| &s.cause)
    }

    /// The state of device `seq`.
    pub fn state(&self, seq: u32) -> Option<&State> {
        self.devices.get(seq as usize).map(|e| &e.state)
    }

    /// The attempt device `seq` is on.
    pub fn attempt(&self, seq: u32) -> u32 {
        self.devices.get(seq as usize).map_or(0, |e| e.job.attempt)
    }

    /// The name of device `seq`.
    pub fn device_name(&self, seq: u32) -> Option<&str> {
        (seq as usize)
            .lt(&self.table.len())
            .then(|| self.table.name(seq as usize))
    }

    /// Devices in flight on worker `key`.
    pub fn held(&self, key: WorkerKey) -> usize {
        self.workers
            .iter()
            .find(|w| w.key == key)
            .map_or(0, |w| w.held)
    }

    /// The measured pace (for logs and tests).
    pub fn pace(&self) -> Pace {
        self.pace
    }

    /// Running sessions per live worker slot, for the progress line.
    pub fn activity(&self) -> Vec<(u32, usize)> {
        self.workers
            .iter()
            .filter(|w| !w.exited)
            .map(|w| (w.key.slot, w.running))
            .collect()
    }

    /// Session threads per worker now (new workers start with this many).
    pub fn threads(&self) -> usize {
        self.set.threads
    }

    /// When the machine next needs a [`Event::Tick`] even if nothing happens.
    pub fn next_wake(&self) -> Option<Instant> {
        // Called on every turn of the event loop: scan the table only when
        // some device waits out a backoff (a million-device run otherwise
        // spends more time here than dispatching).
        let backoff = (self.backoffs() > 0)
            .then(|| {
                self.devices
                    .iter()
                    .filter_map(|e| match &e.state {
                        State::Backoff { until, .. } => Some(*until),
                        _ => None,
                    })
                    .min()
            })
            .flatten();
        [
            self.stopping
                .as_ref()
                .filter(|s| !s.killed)
                .map(|s| s.deadline),
            self.drain_deadline,
            self.wake_at,
            backoff,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn worker(&mut self, key: WorkerKey) -> Option<&mut Worker> {
        self.workers.iter_mut().find(|w| w.key == key)
    }

    /// Feeds one event; returns what to do, in order.
    pub fn on_event(&mut self, now: Instant, ev: Event) -> Vec<Action> {
        let mut out = Vec::new();
        if let Some(key) = ev_worker(&ev) {
            if let Some(w) = self.worker(key) {
                w.last_heard = now;
            }
        }
        match ev {
            Event::Connected(key) => self.on_connected(key, &mut out),
            Event::Hello { worker, protocol } => {
                if protocol != PROTOCOL_VERSION {
                    log::error!(
                        "worker {} speaks protocol {protocol}, master {PROTOCOL_VERSION}",
                        worker.slot
                    );
                    self.kill(worker, &mut out);
                }
            }
            Event::Started { worker, seq } => self.on_started(now, worker, seq),
            Event::Chunk {
                worker,
                seq,
                index,
                stderr,
                data,
            } => {
                if let Some(f) = self.in_flight_on(seq, worker) {
                    f.chunks.push((index, stderr, data));
                }
            }
            Event::Finished {
                worker,
                seq,
                result,
            } => self.on_finished(now, worker, seq, *result, &mut out),
            Event::Panicked {
                worker,
                seq,
                message,
            } => self.on_panicked(worker, seq, &message, &mut out),
            Event::Returned { worker, seqs } => self.on_returned(worker, seqs, &mut out),
            Event::Heartbeat(_) => {}
            Event::Bye(key) => {
                if let Some(w) = self.worker(key) {
                    w.said_bye = true;
                }
            }
            Event::Exited {
                worker,
                status,
                success,
            } => self.on_exited(now, worker, &status, success, &mut out),
            Event::SetThreads(n) => self.on_set_threads(n, &mut out),
            Event::Signal => self.on_signal(now, &mut out),
            Event::WriteFailed { error } => {
                if self.stopping.is_none() {
                    log::error!("failed to write results.jsonl: {error}; stopping the run");
                    out.push(Action::Note(format!(
                        "results.jsonl cannot be written ({error}): stopping, no new sessions"
                    )));
                    self.stop(now, StopCause::WriteFailed(error), &mut out);
                }
            }
            Event::Tick => self.on_tick(now, &mut out),
        }
        self.dispatch(now, &mut out);
        out
    }

    fn in_flight_on(&mut self, seq: u32, worker: WorkerKey) -> Option<&mut InFlight> {
        match &mut self.devices.get_mut(seq as usize)?.state {
            State::InFlight(f) if f.worker == worker => Some(f),
            _ => None,
        }
    }

    /// Resizes every live worker. A worker that grows gets work for its new
    /// slots at once (the dispatch after every event); one that shrinks gets
    /// nothing until it holds fewer devices than its new thread count, and
    /// its threads park as their sessions end, so nothing is cut short,
    /// lost or sent twice. Workers not yet connected are configured with
    /// the new count by the shell; leaving ones are left alone.
    fn on_set_threads(&mut self, n: usize, out: &mut Vec<Action>) {
        let n = n.max(1);
        if self.stopping.is_some() || n == self.set.threads {
            return;
        }
        log::info!("resize: threads {} -> {n} per worker", self.set.threads);
        self.set.threads = n;
        for w in &mut self.workers {
            match w.phase {
                Phase::Spawned => w.threads = n,
                Phase::Ready => {
                    w.threads = n;
                    out.push(Action::Send(w.key, MasterToWorker::SetThreads(n)));
                }
                Phase::Leaving | Phase::Gone => {}
            }
        }
    }

    fn on_connected(&mut self, key: WorkerKey, out: &mut Vec<Action>) {
        let stopping = self.stopping.is_some();
        let Some(w) = self.worker(key) else { return };
        if w.phase != Phase::Spawned {
            return;
        }
        if stopping {
            w.phase = Phase::Leaving;
            out.push(Action::Send(key, MasterToWorker::Stop));
        } else {
            w.phase = Phase::Ready;
        }
    }

    fn on_started(&mut self, now: Instant, worker: WorkerKey, seq: u32) {
        let Some(f) = self.in_flight_on(seq, worker) else {
            return;
        };
        if f.started.is_some() {
            return;
        }
        f.started = Some(now);
        let sample = f.eager.then(|| now.duration_since(f.sent).as_secs_f64());
        if let Some(s) = sample {
            Pace::add(&mut self.pace.round_trip, s);
        }
        if let Some(w) = self.worker(worker) {
            w.running += 1;
        }
    }

    /// Takes device `seq` out of flight: its worker and group slots are free.
    fn leave_flight(&mut self, seq: u32) -> Option<InFlight> {
        let e = &mut self.devices[seq as usize];
        let State::InFlight(_) = e.state else {
            return None;
        };
        let State::InFlight(f) = std::mem::replace(&mut e.state, State::Pending) else {
            return None;
        };
        self.gate.leave(self.table.profile(seq as usize));
        if let Some(w) = self.workers.iter_mut().find(|w| w.key == f.worker) {
            w.held = w.held.saturating_sub(1);
            if f.started.is_some() {
                w.running = w.running.saturating_sub(1);
            }
            if w.alone == Some(seq) {
                w.alone = None;
            }
            if f.recalled {
                w.recalled = w.recalled.saturating_sub(1);
            }
        }
        Some(*f)
    }

    fn on_finished(
        &mut self,
        now: Instant,
        worker: WorkerKey,
        seq: u32,
        mut result: DeviceResult,
        out: &mut Vec<Action>,
    ) {
        if self.in_flight_on(seq, worker).is_none() {
            log::warn!(
                "ignoring a result for {} from worker {}: not in flight there",
                result.device,
                worker.slot
            );
            return;
        }
        let Some(f) = self.leave_flight(seq) else {
            return;
        };
        if !f.chunks.is_empty() {
            reassemble(&mut result, f.chunks);
        }
        if result.timings_ms.total > 0.0 {
            Pace::add(&mut self.pace.session, result.timings_ms.total / 1e3);
        }
        // It ran to a result without taking its worker down: not the cause.
        self.devices[seq as usize].suspect = false;
        self.retry_or_finish(now, seq, result, out);
    }

    /// After an attempt: a retry after a backoff if the policy says so
    /// (and the run is not stopping), else the final result.
    fn retry_or_finish(
        &mut self,
        now: Instant,
        seq: u32,
        result: DeviceResult,
        out: &mut Vec<Action>,
    ) {
        let e = &mut self.devices[seq as usize];
        let policy = &self.set.policy;
        if self.stopping.is_none() && policy.should_retry(result.status, e.job.attempt) {
            let wait = policy.backoff(e.job.attempt);
            let _scope = fleet_logs::device_scope(self.table.name(seq as usize));
            log::warn!(
                "retry: attempt {} ended {} ({}); retrying in {:.2} s",
                e.job.attempt,
                result.status,
                result.error.as_deref().unwrap_or("-"),
                wait.as_secs_f64()
            );
            e.job.attempt += 1;
            e.state = State::Backoff {
                until: now + wait,
                last: Box::new(result),
            };
            return;
        }
        self.finish(seq, result, out);
    }

    /// The device's final result: `Done`, and the shell writes it.
    fn finish(&mut self, seq: u32, result: DeviceResult, out: &mut Vec<Action>) {
        let e = &mut self.devices[seq as usize];
        if matches!(e.state, State::Done) {
            return;
        }
        e.state = State::Done;
        self.done += 1;
        out.push(Action::Record {
            seq,
            result: Box::new(result),
        });
    }

    /// A result for device `seq` on its current attempt that no session
    /// produced (cancelled, lost, ended by the master's clock).
    fn bare_result(&self, seq: u32, status: Status, why: &str) -> DeviceResult {
        let i = seq as usize;
        let mut r = DeviceResult::without_session(&Device::new("", "", 0), status, why, 1);
        r.device = self.table.name(i).to_string();
        r.host = self.table.host(i).to_string();
        r.port = self.table.port(i);
        r.attempt = self.devices[i].job.attempt;
        r
    }

    fn finish_without_session(
        &mut self,
        seq: u32,
        status: Status,
        why: &str,
        out: &mut Vec<Action>,
    ) {
        let result = self.bare_result(seq, status, why);
        self.finish(seq, result, out);
    }

    fn on_returned(&mut self, worker: WorkerKey, seqs: Vec<u32>, out: &mut Vec<Action>) {
        let mut back = Vec::new();
        for seq in seqs {
            if self
                .in_flight_on(seq, worker)
                .is_some_and(|f| f.started.is_none())
            {
                self.leave_flight(seq);
                back.push(seq);
            }
        }
        log::info!(
            "take-back: worker {} returned {} queued devices",
            worker.slot,
            back.len()
        );
        if self.stopping.is_some() {
            // Stop already cancelled the queue; these never started.
            for seq in back {
                self.finish_without_session(
                    seq,
                    Status::Cancelled,
                    "run interrupted before this device started",
                    out,
                );
            }
            return;
        }
        for seq in back.into_iter().rev() {
            self.queue.push_front(seq);
        }
    }
}

impl Machine {
    fn on_exited(
        &mut self,
        now: Instant,
        key: WorkerKey,
        status: &str,
        success: bool,
        out: &mut Vec<Action>,
    ) {
        let Some(w) = self.worker(key) else { return };
        if w.exited {
            return;
        }
        w.exited = true;
        let crashed = !(w.said_bye && success);
        self.worker_gone(now, key, status, crashed, out);
    }

    /// Hands an ended worker's devices back and, after a crash, starts a
    /// replacement: queued devices go back to the front of the queue as
    /// they were; running ones get another attempt, alone, or end
    /// `worker_lost` once they crashed a worker running alone more than
    /// `crash_retries` times (a "poison" device).
    fn worker_gone(
        &mut self,
        now: Instant,
        key: WorkerKey,
        why: &str,
        crashed: bool,
        out: &mut Vec<Action>,
    ) {
        let stopping = self.stopping.is_some();
        let Some(w) = self.worker(key) else { return };
        if w.phase == Phase::Gone {
            return;
        }
        w.phase = Phase::Gone;
        let restarts = w.restarts;
        let mine = self.held_by(key);
        let running = mine
            .iter()
            .filter(|&&seq| matches!(&self.devices[seq as usize].state, State::InFlight(f) if f.started.is_some()))
            .count();
        // A crash is logged by the shell as `worker_crashed` (it knows the pid).
        if !crashed && !mine.is_empty() {
            log::info!(
                "worker {} left with {} devices it never started; handing them back",
                key.slot,
                mine.len()
            );
        }
        let mut requeue = Vec::new();
        for seq in mine {
            let Some(f) = self.leave_flight(seq) else {
                continue;
            };
            let e = &mut self.devices[seq as usize];
            if stopping {
                self.finish_without_session(seq, Status::Cancelled, "run interrupted", out);
            } else if f.started.is_none() {
                requeue.push(seq);
            } else if running > 1 && !e.suspect {
                // Any of the devices running may have caused the crash: each
                // gets another attempt, alone, before anyone is blamed.
                let _scope = fleet_logs::device_scope(self.table.name(seq as usize));
                log::warn!(
                    "{}",
                    Lifecycle::Requeue {
                        attempt: e.job.attempt + 1,
                        reason: format!(
                            "running beside {} others when worker {} died; runs alone next",
                            running - 1,
                            key.slot
                        ),
                    }
                );
                e.suspect = true;
                e.job.attempt += 1;
                requeue.push(seq);
            } else {
                e.strikes += 1;
                let _scope = fleet_logs::device_scope(self.table.name(seq as usize));
                if e.strikes > self.set.crash_retries {
                    log::error!(
                        "worker_lost: device was running when worker {} died, attempt {} of {}; giving up",
                        key.slot,
                        e.job.attempt,
                        self.set.crash_retries + 1
                    );
                    let why = format!(
                        "worker {} died while running this device ({why}); it crashed its \
                         worker {} time(s), running alone: isolated after {} attempt(s)",
                        key.slot, e.strikes, e.job.attempt
                    );
                    self.finish_without_session(seq, Status::WorkerLost, &why, out);
                } else {
                    log::warn!(
                        "{}",
                        Lifecycle::Requeue {
                            attempt: e.job.attempt + 1,
                            reason: format!("was running when worker {} died", key.slot),
                        }
                    );
                    e.suspect = true;
                    e.job.attempt += 1;
                    requeue.push(seq);
                }
            }
        }
        for seq in requeue.into_iter().rev() {
            self.queue.push_front(seq);
        }
        if crashed {
            self.replace(now, key, restarts, out);
        }
        self.fail_pending_if_no_workers(out);
    }

    /// A session panicked in the in-process pool: the same verdict as a
    /// crash of a worker running it alone (the culprit is known, so no
    /// neighbour is suspected).
    fn on_panicked(&mut self, worker: WorkerKey, seq: u32, message: &str, out: &mut Vec<Action>) {
        if self.in_flight_on(seq, worker).is_none() {
            return;
        }
        self.leave_flight(seq);
        let e = &mut self.devices[seq as usize];
        e.strikes += 1;
        let _scope = fleet_logs::device_scope(self.table.name(seq as usize));
        log::error!("worker_crashed: session panicked: {message}");
        if self.stopping.is_some() {
            let why = format!("session panicked ({message}); run interrupted");
            self.finish_without_session(seq, Status::WorkerLost, &why, out);
        } else if e.strikes > self.set.crash_retries {
            let why = format!(
                "session panicked ({message}) {} time(s): isolated after {} attempt(s)",
                e.strikes, e.job.attempt
            );
            log::error!("worker_lost: giving up after attempt {}", e.job.attempt);
            self.finish_without_session(seq, Status::WorkerLost, &why, out);
        } else {
            log::warn!(
                "{}",
                Lifecycle::Requeue {
                    attempt: e.job.attempt + 1,
                    reason: "session panicked".into(),
                }
            );
            e.job.attempt += 1;
            self.queue.push_front(seq);
        }
    }

    /// Devices in flight on `key`, in seq order.
    fn held_by(&self, key: WorkerKey) -> Vec<u32> {
        self.devices
            .iter()
            .filter(|e| matches!(&e.state, State::InFlight(f) if f.worker == key))
            .map(|e| e.job.seq)
            .collect()
    }

    /// Starts the next incarnation of a slot whose worker died, if work is
    /// left and the slot has restarts left.
    fn replace(&mut self, now: Instant, key: WorkerKey, restarts: u32, out: &mut Vec<Action>) {
        let work_left = !self.queue.is_empty() || self.backoffs() > 0;
        if self.stopping.is_some() || !work_left || self.set.processes == 0 {
            return;
        }
        let max = self.set.max_worker_restarts;
        if restarts >= max {
            log::error!("worker {} reached --max-worker-restarts ({max})", key.slot);
            return;
        }
        let next = WorkerKey {
            slot: key.slot,
            generation: key.generation + 1,
        };
        log::warn!(
            "{}",
            Lifecycle::LayoutChange {
                processes: self.set.processes,
                threads: self.set.threads,
                reason: format!(
                    "worker {} restarted as generation {} (restart {} of {max})",
                    next.slot,
                    next.generation,
                    restarts + 1
                ),
            }
        );
        self.spawn(next, restarts + 1, now, out);
    }

    fn backoffs(&self) -> usize {
        self.devices.len() - self.done - self.queue.len() - self.flying()
    }

    fn flying(&self) -> usize {
        self.workers.iter().map(|w| w.held).sum()
    }

    /// With no worker left that could take work, the queue can never run.
    fn fail_pending_if_no_workers(&mut self, out: &mut Vec<Action>) {
        let usable = self
            .workers
            .iter()
            .any(|w| matches!(w.phase, Phase::Spawned | Phase::Ready));
        if usable || (self.queue.is_empty() && self.backoffs() == 0) {
            return;
        }
        log::error!(
            "no workers left: {} devices cannot run",
            self.queue.len() + self.backoffs()
        );
        while let Some(seq) = self.queue.pop_front() {
            self.finish_without_session(
                seq,
                Status::WorkerLost,
                "no worker left to run this device (--max-worker-restarts reached)",
                out,
            );
        }
        self.finish_backoffs(out);
    }

    /// Devices waiting out a backoff end with their last result.
    fn finish_backoffs(&mut self, out: &mut Vec<Action>) {
        if self.backoffs() == 0 {
            return;
        }
        for seq in 0..self.devices.len() as u32 {
            let e = &mut self.devices[seq as usize];
            if let State::Backoff { .. } = e.state {
                if let State::Backoff { last, .. } = std::mem::replace(&mut e.state, State::Pending)
                {
                    self.finish(seq, *last, out);
                }
            }
        }
    }

    fn on_signal(&mut self, now: Instant, out: &mut Vec<Action>) {
        match &mut self.stopping {
            None => {
                let grace = self.set.grace;
                log::warn!(
                    "signal: stopping; in-flight sessions get {:.1} s",
                    grace.as_secs_f64()
                );
                out.push(Action::Note(format!(
                    "interrupted: finishing in-flight sessions (up to {:.0} s); Ctrl-C again to stop now",
                    grace.as_secs_f64()
                )));
                self.stop(now, StopCause::Signal, out);
            }
            Some(stop) => {
                log::warn!("signal again: stopping now");
                stop.deadline = now;
                self.enforce_stop(now, out);
            }
        }
    }

    /// Stops the run as on Ctrl-C: nothing new starts, the queue ends
    /// `cancelled`, retries waiting end with their last result, workers
    /// finish their running sessions within the grace period.
    fn stop(&mut self, now: Instant, cause: StopCause, out: &mut Vec<Action>) {
        let why = match &cause {
            StopCause::Signal => "run interrupted before this device started".to_string(),
            StopCause::WriteFailed(_) => {
                "run stopped before this device started: results.jsonl cannot be written"
                    .to_string()
            }
        };
        self.stopping = Some(Stopping {
            cause,
            deadline: now + self.set.grace,
            killed: false,
        });
        while let Some(seq) = self.queue.pop_front() {
            self.finish_without_session(seq, Status::Cancelled, &why, out);
        }
        self.finish_backoffs(out);
        for w in &mut self.workers {
            if matches!(w.phase, Phase::Ready | Phase::Leaving) && !w.exited {
                w.phase = Phase::Leaving;
                out.push(Action::Send(w.key, MasterToWorker::Stop));
            }
        }
    }

    /// Past the grace period: kill what is left.
    fn enforce_stop(&mut self, now: Instant, out: &mut Vec<Action>) {
        let due = self
            .stopping
            .as_ref()
            .is_some_and(|s| !s.killed && now >= s.deadline);
        if due {
            if let Some(s) = &mut self.stopping {
                s.killed = true;
            }
            self.kill_all("grace period over", out);
        }
    }

    fn kill(&mut self, key: WorkerKey, out: &mut Vec<Action>) {
        if self.set.processes > 0 {
            out.push(Action::Kill(key));
        }
    }

    fn kill_all(&mut self, why: &str, out: &mut Vec<Action>) {
        log::warn!("{why}: killing remaining workers");
        let live: Vec<WorkerKey> = self
            .workers
            .iter()
            .filter(|w| !w.exited)
            .map(|w| w.key)
            .collect();
        for key in &live {
            self.kill(*key, out);
        }
        // The in-process pool cannot be killed: its unfinished devices end
        // here, and its threads die with the process.
        if self.set.processes == 0 {
            for key in live {
                for seq in self.held_by(key) {
                    self.leave_flight(seq);
                    self.finish_without_session(seq, Status::Cancelled, "run interrupted", out);
                }
                if let Some(w) = self.worker(key) {
                    w.exited = true;
                    w.phase = Phase::Gone;
                }
            }
        }
    }

    fn on_tick(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.wake_at.is_some_and(|t| now >= t) {
            self.wake_at = None;
        }
        if self.backoffs() > 0 {
            for seq in 0..self.devices.len() as u32 {
                let e = &mut self.devices[seq as usize];
                if matches!(e.state, State::Backoff { until, .. } if now >= until) {
                    let _scope = fleet_logs::device_scope(self.table.name(seq as usize));
                    log::info!(
                        "{}",
                        Lifecycle::Requeue {
                            attempt: e.job.attempt,
                            reason: "retry after backoff".into(),
                        }
                    );
                    e.state = State::Pending;
                    self.queue.push_back(seq);
                }
            }
        }
        self.check_silence(now, out);
        self.check_deadlines(now, out);
        self.enforce_stop(now, out);
        if self.drain_deadline.is_some_and(|d| now >= d) {
            self.drain_deadline = None;
            self.kill_all("workers did not exit after drain", out);
        }
    }

    /// A worker process that sent nothing (not even a heartbeat) for
    /// `silence` is frozen or deadlocked: kill it, give its queued devices
    /// to others, end its running ones as `timeout` (or retry them, as the
    /// policy says), and start a replacement.
    fn check_silence(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.set.processes == 0 {
            return;
        }
        let silent: Vec<(WorkerKey, Duration)> = self
            .workers
            .iter()
            .filter(|w| !w.exited && w.phase != Phase::Gone)
            .map(|w| (w.key, now.saturating_duration_since(w.last_heard)))
            .filter(|(_, quiet)| *quiet >= self.set.silence)
            .collect();
        for (key, quiet) in silent {
            log::error!(
                "worker_silent: worker {} generation {} sent nothing for {:.1} s: killing it",
                key.slot,
                key.generation,
                quiet.as_secs_f64()
            );
            out.push(Action::Kill(key));
            let Some(w) = self.worker(key) else { continue };
            w.phase = Phase::Gone;
            let restarts = w.restarts;
            let mut requeue = Vec::new();
            for seq in self.held_by(key) {
                let Some(f) = self.leave_flight(seq) else {
                    continue;
                };
                if f.started.is_none() {
                    requeue.push(seq);
                    continue;
                }
                let mut result = self.bare_result(
                    seq,
                    Status::Timeout,
                    &format!(
                        "worker {} sent nothing for {:.1} s (frozen or deadlocked) while this \
                         device ran; the master killed it",
                        key.slot,
                        quiet.as_secs_f64()
                    ),
                );
                if let Some(t) = f.started {
                    result.timings_ms.total = now.duration_since(t).as_secs_f64() * 1e3;
                }
                self.retry_or_finish(now, seq, result, out);
            }
            if self.stopping.is_some() {
                for seq in requeue {
                    self.finish_without_session(seq, Status::Cancelled, "run interrupted", out);
                }
            } else {
                for seq in requeue.into_iter().rev() {
                    self.queue.push_front(seq);
                }
            }
            self.replace(now, key, restarts, out);
            self.fail_pending_if_no_workers(out);
        }
    }

    /// The master's own clock on every running session: a device with no
    /// result well past its session limit ends `timeout` here, whatever its
    /// worker's watchdog does.
    fn check_deadlines(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.workers.iter().all(|w| w.running == 0) {
            return;
        }
        let mut late = Vec::new();
        for e in &self.devices {
            if let State::InFlight(f) = &e.state {
                if let Some(t) = f.started {
                    let limit = self
                        .table
                        .profile(e.job.seq as usize)
                        .timeouts
                        .session
                        .unwrap_or(self.set.session_limit)
                        + self.set.deadline_margin;
                    if now.duration_since(t) >= limit {
                        late.push((e.job.seq, f.worker, now.duration_since(t)));
                    }
                }
            }
        }
        for (seq, worker, ran) in late {
            self.leave_flight(seq);
            log::error!(
                "deadline: {} has no result from worker {} {:.1} s after it started: timeout",
                self.table.name(seq as usize),
                worker.slot,
                ran.as_secs_f64()
            );
            let mut result = self.bare_result(
                seq,
                Status::Timeout,
                &format!(
                    "no result {:.1} s after the session started on worker {} (past its \
                     session limit); ended by the master",
                    ran.as_secs_f64(),
                    worker.slot
                ),
            );
            result.timings_ms.total = ran.as_secs_f64() * 1e3;
            self.retry_or_finish(now, seq, result, out);
        }
    }
}

impl Machine {
    /// The prefetch now in force for a worker with `threads` threads.
    fn prefetch(&self, threads: usize) -> usize {
        if self.rate.is_some() {
            // Under a connect rate a device must start when dispatched,
            // not sit in a worker's queue and start later in a burst.
            return 0;
        }
        match self.set.batching {
            Batching::Fixed(n) => n,
            Batching::Adaptive => self.pace.prefetch(threads),
        }
    }

    /// Takes up to `n` devices from the queue that the policy lets start
    /// now: in queue order, skipping devices whose group is at its cap,
    /// stopping when the rate limit has no token left. A suspect device goes
    /// only to an idle worker, alone; the second value then names it.
    fn pick(&mut self, n: usize, idle: bool, now: Instant) -> (Vec<u32>, Option<u32>) {
        let mut picked = Vec::new();
        let mut skipped = Vec::new();
        let mut alone = None;
        while picked.len() < n {
            let Some(seq) = self.queue.pop_front() else {
                break;
            };
            let e = &self.devices[seq as usize];
            let profile = self.table.profile(seq as usize);
            if (e.suspect && !(idle && picked.is_empty())) || !self.gate.admits(profile) {
                skipped.push(seq);
                continue;
            }
            if let Some(rate) = &mut self.rate {
                if !rate.try_take(now) {
                    self.wake_at = Some(rate.next_token());
                    skipped.push(seq);
                    break;
                }
            }
            self.gate.enter(profile);
            picked.push(seq);
            if e.suspect {
                alone = Some(seq);
                break;
            }
        }
        for seq in skipped.into_iter().rev() {
            self.queue.push_front(seq);
        }
        (picked, alone)
    }

    /// Hands devices to workers with free slots, takes queued devices back
    /// from busy workers when others sit idle at the end, and says `Drain`
    /// when all is done.
    fn dispatch(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.stopping.is_some() {
            return;
        }
        // Emptiest workers first; no prefetch in the last wave.
        let mut order: Vec<usize> = (0..self.workers.len())
            .filter(|&i| self.workers[i].phase == Phase::Ready)
            .collect();
        order.sort_by_key(|&i| self.workers[i].held);
        // The last wave: once the queue holds no more than the threads,
        // every device left goes to a thread as it frees up. A prefetched
        // device in the last wave waits behind a busy session while a
        // thread elsewhere finishes first, and that thread idles.
        let threads: usize = order.iter().map(|&i| self.workers[i].threads).sum();
        let tail = self.queue.len() <= threads;
        // Two passes: every free thread first, then prefetch. A single pass
        // let the emptiest worker prefetch what a free thread of the next
        // one should have run: with 8x25 at 2 s sessions, the last devices
        // sat queued behind busy threads for a whole extra wave.
        let passes: &[bool] = if tail { &[false] } else { &[false, true] };
        for &prefetching in passes {
            for &i in &order {
                if self.queue.is_empty() {
                    break;
                }
                self.fill(i, prefetching, now, out);
            }
        }
        if self.queue.is_empty() {
            self.take_back(out);
        }
        if self.queue.is_empty() && self.flying() == 0 && self.backoffs() == 0 {
            let mut any = false;
            for w in &mut self.workers {
                if w.phase == Phase::Ready {
                    w.phase = Phase::Leaving;
                    out.push(Action::Send(w.key, MasterToWorker::Drain));
                    any = true;
                }
            }
            if any && self.drain_deadline.is_none() {
                self.drain_deadline = Some(now + self.set.drain_timeout);
            }
        }
    }

    /// Sends worker `i` devices for its free threads, or with `prefetching`
    /// up to its threads plus the prefetch (when it has fallen below the
    /// refill mark).
    fn fill(&mut self, i: usize, prefetching: bool, now: Instant, out: &mut Vec<Action>) {
        {
            let w = &self.workers[i];
            let threads = w.threads.max(1);
            let prefetch = self.prefetch(threads);
            let capacity = threads + prefetch;
            let refill_below = threads + prefetch.div_ceil(2);
            if w.alone.is_some() || w.held >= refill_below {
                return;
            }
            let key = w.key;
            let held = w.held;
            let n = if prefetching {
                capacity.saturating_sub(held)
            } else {
                threads.saturating_sub(held)
            };
            if n == 0 {
                return;
            }
            let (seqs, alone) = self.pick(n, held == 0, now);
            if seqs.is_empty() {
                return;
            }
            let id = self.next_batch;
            self.next_batch += 1;
            let mut jobs = Vec::with_capacity(seqs.len());
            let mut profiles = Vec::new();
            let sent = &mut self.workers[i].profiles;
            sent.resize(self.table.profiles(), false);
            let logged = log::log_enabled!(target: DEVICE_LOG_TARGET, log::Level::Info);
            for (k, &seq) in seqs.iter().enumerate() {
                let e = &mut self.devices[seq as usize];
                if logged {
                    let _scope = fleet_logs::device_scope(self.table.name(seq as usize));
                    log::info!(
                        target: DEVICE_LOG_TARGET,
                        "{}",
                        Lifecycle::Dispatch {
                            batch: id,
                            worker: key.slot,
                            attempt: e.job.attempt,
                        }
                    );
                }
                e.state = State::InFlight(Box::new(InFlight {
                    worker: key,
                    sent: now,
                    started: None,
                    eager: held + k < threads,
                    alone: alone == Some(seq),
                    recalled: false,
                    chunks: Vec::new(),
                }));
                let row = seq as usize;
                let profile = self.table.profile_id(row);
                if !std::mem::replace(&mut sent[profile as usize], true) {
                    profiles.push((profile, self.table.profile_by_id(profile).clone()));
                }
                jobs.push(BatchJob {
                    seq,
                    attempt: e.job.attempt,
                    profile,
                    name: self.table.name(row).to_string(),
                    host: self.table.host(row).to_string(),
                    port: self.table.port(row),
                });
            }
            let w = &mut self.workers[i];
            w.held += seqs.len();
            w.alone = alone;
            if !profiles.is_empty() {
                out.push(Action::Send(key, MasterToWorker::Profiles(profiles)));
            }
            out.push(Action::Send(key, MasterToWorker::Batch { id, jobs }));
        }
    }

    /// End of run: devices waiting in a worker's queue (beyond its threads)
    /// while threads elsewhere are idle are asked back, at most as many as
    /// there are idle threads.
    fn take_back(&mut self, out: &mut Vec<Action>) {
        let idle: usize = self
            .workers
            .iter()
            .filter(|w| w.phase == Phase::Ready && w.alone.is_none())
            .map(|w| w.threads.max(1).saturating_sub(w.held))
            .sum();
        // Devices already asked back will fill idle threads when they return.
        let outstanding: usize = self.workers.iter().map(|w| w.recalled).sum();
        let mut budget = idle.saturating_sub(outstanding);
        if budget == 0 {
            return;
        }
        for i in 0..self.workers.len() {
            let w = &self.workers[i];
            if budget == 0 {
                break;
            }
            // Devices beyond its threads wait for one of its sessions to end.
            let threads = w.threads.max(1);
            if w.phase != Phase::Ready || w.held <= threads {
                continue;
            }
            let key = w.key;
            let waiting = w.held - threads;
            let want = waiting.saturating_sub(w.recalled).min(budget);
            if want == 0 {
                continue;
            }
            let mut seqs = Vec::new();
            for e in self.devices.iter_mut().rev() {
                if seqs.len() == want {
                    break;
                }
                if let State::InFlight(f) = &mut e.state {
                    if f.worker == key && f.started.is_none() && !f.recalled {
                        f.recalled = true;
                        seqs.push(e.job.seq);
                    }
                }
            }
            if seqs.is_empty() {
                continue;
            }
            budget -= seqs.len();
            self.workers[i].recalled += seqs.len();
            log::info!(
                "take-back: asking worker {} for {} queued devices ({idle} idle threads elsewhere)",
                key.slot,
                seqs.len()
            );
            out.push(Action::Send(key, MasterToWorker::TakeBack { seqs }));
        }
    }
}

/// The worker an event comes from, if any.
fn ev_worker(ev: &Event) -> Option<WorkerKey> {
    match ev {
        Event::Connected(w)
        | Event::Heartbeat(w)
        | Event::Bye(w)
        | Event::Hello { worker: w, .. }
        | Event::Started { worker: w, .. }
        | Event::Chunk { worker: w, .. }
        | Event::Finished { worker: w, .. }
        | Event::Returned { worker: w, .. }
        | Event::Panicked { worker: w, .. }
        | Event::Exited { worker: w, .. } => Some(*w),
        Event::Signal | Event::WriteFailed { .. } | Event::Tick | Event::SetThreads(_) => None,
    }
}

/// Puts chunked outputs back: chunks hold the start of each output, in order.
pub(super) fn reassemble(result: &mut DeviceResult, chunks: Vec<(u32, bool, String)>) {
    let mut parts: std::collections::BTreeMap<(u32, bool), String> = Default::default();
    for (index, stderr, data) in chunks {
        parts.entry((index, stderr)).or_default().push_str(&data);
    }
    for ((index, stderr), mut text) in parts {
        if let Some(out) = result.outputs.get_mut(index as usize) {
            let field = if stderr {
                &mut out.stderr
            } else {
                &mut out.stdout
            };
            text.push_str(field);
            *field = text;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_proto::Timings;

    const W0: WorkerKey = WorkerKey {
        slot: 0,
        generation: 0,
    };
    const W1: WorkerKey = WorkerKey {
        slot: 1,
        generation: 0,
    };

    fn settings(processes: usize, threads: usize) -> Settings {
        Settings {
            processes,
            threads,
            crash_retries: 1,
            max_worker_restarts: 3,
            grace: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(10),
            policy: Policy::default(),
            batching: Batching::Adaptive,
            silence: Duration::from_secs(10),
            session_limit: Duration::from_secs(60),
            deadline_margin: Duration::from_secs(15),
        }
    }

    fn devices(n: usize) -> Vec<Device> {
        (0..n)
            .map(|i| Device::new(format!("d{i:03}"), "127.0.0.1", 22))
            .collect()
    }

    /// A machine with a fake clock and the actions it produced.
    struct Sim {
        m: Machine,
        t0: Instant,
        now: Instant,
    }

    impl Sim {
        fn new(set: Settings, devs: Vec<Device>) -> (Sim, Vec<Action>) {
            let t0 = Instant::now();
            let mut m = Machine::new(set, devs, t0);
            let a = m.start(t0);
            (Sim { m, t0, now: t0 }, a)
        }
        fn at(&mut self, ms: u64) -> &mut Sim {
            self.now = self.t0 + Duration::from_millis(ms);
            self
        }
        fn ev(&mut self, ev: Event) -> Vec<Action> {
            self.m.on_event(self.now, ev)
        }
        fn start(&mut self, w: WorkerKey, seq: u32) -> Vec<Action> {
            self.ev(Event::Started { worker: w, seq })
        }
        fn finish(&mut self, w: WorkerKey, seq: u32, status: Status) -> Vec<Action> {
            let r = result(&self.m, seq, status);
            self.ev(Event::Finished {
                worker: w,
                seq,
                result: Box::new(r),
            })
        }
        fn crash(&mut self, w: WorkerKey) -> Vec<Action> {
            self.ev(Event::Exited {
                worker: w,
                status: "signal 6 (SIGABRT)".into(),
                success: false,
            })
        }
        fn state(&self, seq: u32) -> &State {
            self.m.state(seq).unwrap()
        }
    }

    fn result(m: &Machine, seq: u32, status: Status) -> DeviceResult {
        let e = &m.devices[seq as usize];
        DeviceResult {
            device: m.table.name(seq as usize).to_string(),
            host: m.table.host(seq as usize).to_string(),
            port: 22,
            status,
            error: None,
            outputs: Vec::new(),
            worker: None,
            timings_ms: Timings {
                total: 2000.0,
                ..Default::default()
            },
            attempt: e.job.attempt,
            started_us: 1,
            batch: None,
        }
    }

    fn batches(actions: &[Action]) -> Vec<(WorkerKey, Vec<u32>)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send(w, MasterToWorker::Batch { jobs, .. }) => {
                    Some((*w, jobs.iter().map(|j| j.seq).collect()))
                }
                _ => None,
            })
            .collect()
    }

    fn sent_to(actions: &[Action], w: WorkerKey) -> Vec<u32> {
        batches(actions)
            .into_iter()
            .filter(|(k, _)| *k == w)
            .flat_map(|(_, s)| s)
            .collect()
    }

    fn records(actions: &[Action]) -> Vec<(u32, Status, String)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Record { seq, result } => Some((
                    *seq,
                    result.status,
                    result.error.clone().unwrap_or_default(),
                )),
                _ => None,
            })
            .collect()
    }

    fn has(actions: &[Action], f: impl Fn(&Action) -> bool) -> bool {
        actions.iter().any(f)
    }

    fn in_flight_on(s: &Sim, seq: u32) -> Option<(WorkerKey, bool)> {
        match s.state(seq) {
            State::InFlight(f) => Some((f.worker, f.started.is_some())),
            _ => None,
        }
    }

    #[test]
    fn start_spawns_one_worker_per_process_and_none_for_an_empty_run() {
        let (_, a) = Sim::new(settings(3, 2), devices(5));
        let spawned: Vec<_> = a
            .iter()
            .filter_map(|a| match a {
                Action::Spawn(k) => Some(*k),
                _ => None,
            })
            .collect();
        assert_eq!(spawned.len(), 3);
        let (s, a) = Sim::new(settings(3, 2), devices(0));
        assert!(a.is_empty());
        assert!(s.m.finished());
    }

    #[test]
    fn work_goes_out_by_free_slots_and_comes_back_for_each_result() {
        let (mut s, _) = Sim::new(settings(2, 3), devices(10));
        let a = s.ev(Event::Connected(W0));
        assert_eq!(sent_to(&a, W0), vec![0, 1, 2], "one device per free thread");
        let a = s.ev(Event::Connected(W1));
        assert_eq!(sent_to(&a, W1), vec![3, 4, 5]);
        s.at(10);
        s.start(W0, 0);
        assert!(batches(&s.start(W0, 1)).is_empty(), "no free slot yet");
        s.at(2010);
        let a = s.finish(W0, 0, Status::Ok);
        assert_eq!(records(&a), vec![(0, Status::Ok, String::new())]);
        assert_eq!(sent_to(&a, W0), vec![6], "the freed slot is refilled");
        assert!(matches!(s.state(0), State::Done));
    }

    /// The profiles sent to `w`, ids in the order sent; asserts they go
    /// before any batch to `w` in the same actions.
    fn profiles_sent(actions: &[Action], w: WorkerKey) -> Vec<u32> {
        let mut ids = Vec::new();
        let mut batch_seen = false;
        for a in actions {
            match a {
                Action::Send(k, MasterToWorker::Profiles(list)) if *k == w => {
                    assert!(!batch_seen, "profiles after a batch: {actions:?}");
                    ids.extend(list.iter().map(|(id, _)| *id));
                }
                Action::Send(k, MasterToWorker::Batch { .. }) if *k == w => batch_seen = true,
                _ => {}
            }
        }
        ids
    }

    #[test]
    fn each_worker_incarnation_gets_each_profile_once_before_the_batch_using_it() {
        // Even devices in group a, odd in group b: two profiles.
        let devs: Vec<Device> = devices(12)
            .into_iter()
            .enumerate()
            .map(|(i, mut d)| {
                d.groups = vec![if i % 2 == 0 { "a" } else { "b" }.into()];
                d
            })
            .collect();
        let (mut s, _) = Sim::new(settings(2, 1), devs);
        let a = s.ev(Event::Connected(W0));
        assert_eq!((sent_to(&a, W0), profiles_sent(&a, W0)), (vec![0], vec![0]));
        let a = s.ev(Event::Connected(W1));
        assert_eq!((sent_to(&a, W1), profiles_sent(&a, W1)), (vec![1], vec![1]));
        // The batch carries the profile's id and the device's own fields.
        s.start(W0, 0);
        let a = s.finish(W0, 0, Status::Ok);
        assert_eq!(sent_to(&a, W0), vec![2]);
        assert!(profiles_sent(&a, W0).is_empty(), "profile 0 is known to W0");
        let job = a
            .iter()
            .find_map(|x| match x {
                Action::Send(_, MasterToWorker::Batch { jobs, .. }) => Some(jobs[0].clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            (job.name.as_str(), job.host.as_str(), job.port),
            ("d002", "127.0.0.1", 22)
        );
        let whole = job.into_job(s.m.table.profile_by_id(0));
        assert_eq!(
            whole.device,
            s.m.table.device(2),
            "rebuilt whole on the worker"
        );
        // W1 finishes: 3 is in group b, which W1 has.
        s.start(W1, 1);
        let a = s.finish(W1, 1, Status::Ok);
        assert_eq!((sent_to(&a, W1), profiles_sent(&a, W1)), (vec![3], vec![]));
        // W0 dies; its new incarnation knows nothing and is sent profiles again.
        s.start(W0, 2);
        s.crash(W0);
        let w0b = WorkerKey {
            slot: 0,
            generation: 1,
        };
        let a = s.ev(Event::Connected(w0b));
        let sent = sent_to(&a, w0b);
        assert_eq!(sent.len(), 1);
        let want = s.m.table.profile_id(sent[0] as usize);
        assert_eq!(profiles_sent(&a, w0b), vec![want]);
    }

    #[test]
    fn the_last_wave_goes_to_free_threads_never_into_a_busy_workers_queue() {
        let set = Settings {
            batching: Batching::Fixed(2),
            ..settings(2, 3)
        };
        let (mut s, _) = Sim::new(set, devices(12));
        // Threads first, then the prefetch: 3 + 2 each.
        let a = s.ev(Event::Connected(W0));
        assert_eq!(sent_to(&a, W0), vec![0, 1, 2, 3, 4]);
        let a = s.ev(Event::Connected(W1));
        assert_eq!(sent_to(&a, W1), vec![5, 6, 7, 8, 9]);
        for seq in [0, 1, 2] {
            s.start(W0, seq);
        }
        for seq in [5, 6, 7] {
            s.start(W1, seq);
        }
        // Two sessions end on W0 (its queue starts 3 and 4): it falls below
        // its refill mark, but 10 and 11 are the last wave: they wait for a
        // free thread instead of queueing behind W0's busy ones.
        s.at(2000);
        for seq in [0, 1] {
            let a = s.finish(W0, seq, Status::Ok);
            assert!(
                batches(&a).is_empty(),
                "no prefetch in the last wave: {a:?}"
            );
        }
        // W1's sessions end first: its own queue (8, 9) starts, then the
        // last wave runs on its threads as they free up.
        let mut sent = Vec::new();
        sent.extend(sent_to(&s.finish(W1, 5, Status::Ok), W1));
        s.start(W1, 8);
        sent.extend(sent_to(&s.finish(W1, 6, Status::Ok), W1));
        s.start(W1, 9);
        for seq in [7, 8] {
            sent.extend(sent_to(&s.finish(W1, seq, Status::Ok), W1));
        }
        assert_eq!(sent, vec![10, 11]);
    }

    #[test]
    fn adaptive_prefetch_follows_session_time_against_round_trip() {
        let pace = |session: f64, rt: f64| Pace {
            session: Some(session),
            round_trip: Some(rt),
        };
        assert_eq!(Pace::default().prefetch(50), 0, "nothing measured: none");
        assert_eq!(pace(2.0, 0.001).prefetch(50), 0, "2 s sessions need none");
        assert_eq!(pace(0.000_01, 0.000_1).prefetch(8), 80);
        assert_eq!(pace(0.000_001, 0.01).prefetch(8), Pace::MAX_PREFETCH);
    }

    #[test]
    fn round_trip_and_session_time_are_measured() {
        let (mut s, _) = Sim::new(settings(1, 2), devices(4));
        s.ev(Event::Connected(W0));
        s.at(3);
        s.start(W0, 0);
        s.at(2003);
        s.finish(W0, 0, Status::Ok);
        let p = s.m.pace();
        assert!((p.round_trip.unwrap() - 0.003).abs() < 1e-9);
        assert!((p.session.unwrap() - 2.0).abs() < 1e-9);
    }

    #[test]
    fn fixed_batch_keeps_that_many_queued_beyond_the_threads() {
        let mut set = settings(1, 2);
        set.batching = Batching::Fixed(4);
        let (mut s, _) = Sim::new(set, devices(20));
        let a = s.ev(Event::Connected(W0));
        assert_eq!(sent_to(&a, W0).len(), 6);
        // Refilled only below threads + half the prefetch: few, larger messages.
        s.start(W0, 0);
        let a = s.finish(W0, 0, Status::Ok);
        assert!(sent_to(&a, W0).is_empty());
        s.start(W0, 1);
        s.finish(W0, 1, Status::Ok);
        s.start(W0, 2);
        let a = s.finish(W0, 2, Status::Ok);
        assert_eq!(sent_to(&a, W0).len(), 3, "back up to 6 held");
    }

    #[test]
    fn a_crash_requeues_queued_devices_as_they_were_and_running_ones_alone() {
        let mut set = settings(2, 2);
        set.batching = Batching::Fixed(2);
        let (mut s, _) = Sim::new(set, devices(12));
        s.ev(Event::Connected(W0));
        s.ev(Event::Connected(W1));
        s.start(W0, 0);
        s.start(W0, 1);
        let a = s.crash(W0);
        assert!(has(&a, |a| matches!(
            a,
            Action::Spawn(WorkerKey {
                slot: 0,
                generation: 1
            })
        )));
        assert!(records(&a).is_empty(), "nobody is blamed yet");
        for seq in [0, 1] {
            assert!(matches!(s.state(seq), State::Pending));
            assert_eq!(s.m.attempt(seq), 2, "running: another attempt");
            assert!(s.m.devices[seq as usize].suspect);
        }
        for seq in [2, 3] {
            assert!(matches!(s.state(seq), State::Pending));
            assert_eq!(s.m.attempt(seq), 1, "queued: unchanged");
        }
        // Suspects run alone, on an idle worker only.
        let w0b = WorkerKey {
            slot: 0,
            generation: 1,
        };
        let a = s.ev(Event::Connected(w0b));
        assert_eq!(sent_to(&a, w0b), vec![0], "a suspect alone");
        s.start(w0b, 0);
        let a = s.finish(w0b, 0, Status::Ok);
        assert_eq!(records(&a)[0].1, Status::Ok);
        assert!(!s.m.devices[0].suspect, "it ran to a result: cleared");
    }

    #[test]
    fn a_poison_device_is_isolated_after_its_crash_retries() {
        let (mut s, _) = Sim::new(settings(1, 1), devices(3));
        s.ev(Event::Connected(W0));
        s.start(W0, 0);
        s.crash(W0);
        assert_eq!(s.m.attempt(0), 2);
        let w = WorkerKey {
            slot: 0,
            generation: 1,
        };
        let a = s.ev(Event::Connected(w));
        assert_eq!(sent_to(&a, w), vec![0]);
        s.start(w, 0);
        let a = s.crash(w);
        let r = records(&a);
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].0, r[0].1), (0, Status::WorkerLost));
        assert!(r[0].2.contains("isolated after 2 attempt(s)"), "{}", r[0].2);
        assert!(has(
            &a,
            |a| matches!(a, Action::Spawn(k) if k.generation == 2)
        ));
    }

    #[test]
    fn a_panic_in_the_in_process_pool_is_judged_like_a_crash() {
        let (mut s, _) = Sim::new(settings(0, 2), devices(3));
        s.ev(Event::Connected(W0));
        s.start(W0, 1);
        let panicked = |s: &mut Sim| {
            s.ev(Event::Panicked {
                worker: W0,
                seq: 1,
                message: "boom".into(),
            })
        };
        let a = panicked(&mut s);
        assert!(records(&a).is_empty());
        assert_eq!(sent_to(&a, W0), vec![1], "another attempt at once");
        assert_eq!(s.m.attempt(1), 2);
        s.start(W0, 1);
        let a = panicked(&mut s);
        assert_eq!(records(&a)[0].1, Status::WorkerLost);
        assert!(!has(&a, |a| matches!(a, Action::Spawn(_))));
    }

    #[test]
    fn retries_wait_out_their_backoff() {
        let mut set = settings(1, 1);
        set.policy.retry.insert(Status::Timeout, 1);
        set.policy.backoff_min = Duration::from_secs(2);
        set.policy.backoff_max = Duration::from_secs(2);
        let (mut s, _) = Sim::new(set, devices(1));
        s.ev(Event::Connected(W0));
        s.start(W0, 0);
        let a = s.finish(W0, 0, Status::Timeout);
        assert!(records(&a).is_empty());
        let State::Backoff { until, .. } = s.state(0) else {
            panic!("not in backoff")
        };
        assert!(*until >= s.t0 + Duration::from_secs(1));
        assert_eq!(s.m.next_wake(), Some(*until));
        s.at(500);
        assert!(sent_to(&s.ev(Event::Tick), W0).is_empty(), "still waiting");
        s.at(2100);
        let a = s.ev(Event::Tick);
        assert_eq!(sent_to(&a, W0), vec![0]);
        assert_eq!(s.m.attempt(0), 2);
        s.start(W0, 0);
        let a = s.finish(W0, 0, Status::Timeout);
        assert_eq!(records(&a)[0].1, Status::Timeout, "out of retries: final");
    }

    #[test]
    fn the_connect_rate_paces_dispatch_and_disables_prefetch() {
        let mut set = settings(1, 10);
        set.policy.connect_rate = Some(10.0);
        set.batching = Batching::Fixed(50);
        let (mut s, _) = Sim::new(set, devices(5));
        let a = s.ev(Event::Connected(W0));
        assert_eq!(sent_to(&a, W0).len(), 1, "one token");
        let wake = s.m.next_wake().expect("a wake-up for the next token");
        assert!(wake > s.now);
        s.now = wake;
        let a = s.ev(Event::Tick);
        assert_eq!(sent_to(&a, W0).len(), 1);
    }

    #[test]
    fn group_caps_hold_devices_back_and_let_others_pass() {
        let mut set = settings(1, 10);
        set.policy.group_caps.insert("core".into(), 2);
        let mut devs = devices(8);
        for d in devs.iter_mut().take(5) {
            d.groups = vec!["core".into()];
        }
        let (mut s, _) = Sim::new(set, devs);
        let a = s.ev(Event::Connected(W0));
        assert_eq!(sent_to(&a, W0), vec![0, 1, 5, 6, 7]);
        s.start(W0, 0);
        let a = s.finish(W0, 0, Status::Ok);
        assert_eq!(
            sent_to(&a, W0),
            vec![2],
            "a freed core slot admits the next"
        );
    }

    #[test]
    fn first_ctrl_c_cancels_the_queue_and_lets_running_sessions_finish() {
        let mut set = settings(2, 1);
        set.policy.retry.insert(Status::Timeout, 3);
        let (mut s, _) = Sim::new(set, devices(6));
        s.ev(Event::Connected(W0));
        s.ev(Event::Connected(W1));
        s.start(W0, 0);
        s.start(W1, 1);
        s.finish(W1, 1, Status::Timeout); // now in backoff
        let a = s.ev(Event::Signal);
        let r = records(&a);
        // 0 runs on W0, 2 was sent to W1 after 1 ended: the other 3 wait.
        assert_eq!(r.len(), 4, "queue cancelled, backoff final: {r:?}");
        assert!(r
            .iter()
            .any(|(seq, st, _)| *seq == 1 && *st == Status::Timeout));
        assert!(r.iter().filter(|x| x.1 == Status::Cancelled).count() == 3);
        assert!(has(
            &a,
            |a| matches!(a, Action::Send(k, MasterToWorker::Stop) if *k == W0)
        ));
        assert!(has(&a, |a| matches!(a, Action::Note(_))));
        assert_eq!(s.m.stop_cause(), Some(&StopCause::Signal));
        let a = s.finish(W0, 0, Status::Ok);
        assert_eq!(records(&a)[0].1, Status::Ok, "a running session finishes");
        assert!(batches(&a).is_empty(), "nothing new starts");
        // Past the grace period the rest is killed.
        s.at(5001);
        let a = s.ev(Event::Tick);
        assert!(has(&a, |a| matches!(a, Action::Kill(_))));
    }

    #[test]
    fn second_ctrl_c_kills_at_once_and_every_device_still_ends() {
        let (mut s, _) = Sim::new(settings(1, 2), devices(4));
        s.ev(Event::Connected(W0));
        s.start(W0, 0);
        s.start(W0, 1);
        s.ev(Event::Signal);
        s.at(10);
        let a = s.ev(Event::Signal);
        assert!(has(&a, |a| matches!(a, Action::Kill(k) if *k == W0)));
        let a = s.crash(W0);
        let r = records(&a);
        assert_eq!(r.len(), 2);
        assert!(r.iter().all(|x| x.1 == Status::Cancelled));
        assert!(
            !has(&a, |a| matches!(a, Action::Spawn(_))),
            "no restart when stopping"
        );
        assert!(s.m.finished());
    }

    #[test]
    fn second_ctrl_c_in_process_ends_the_running_devices_itself() {
        let (mut s, _) = Sim::new(settings(0, 2), devices(2));
        s.ev(Event::Connected(W0));
        s.start(W0, 0);
        s.ev(Event::Signal);
        let a = s.ev(Event::Signal);
        assert!(
            !has(&a, |a| matches!(a, Action::Kill(_))),
            "cannot kill itself"
        );
        assert!(records(&a)
            .iter()
            .any(|x| x.0 == 0 && x.1 == Status::Cancelled));
        assert!(s.m.finished());
    }

    #[test]
    fn a_resumed_run_dispatches_only_what_it_is_given() {
        // --resume hands the machine the devices without a result; seqs are
        // positions in that list.
        let (mut s, _) = Sim::new(settings(1, 4), devices(2));
        let a = s.ev(Event::Connected(W0));
        assert_eq!(sent_to(&a, W0), vec![0, 1]);
        s.start(W0, 0);
        s.start(W0, 1);
        s.finish(W0, 0, Status::Ok);
        let a = s.finish(W0, 1, Status::Ok);
        assert!(has(&a, |a| matches!(
            a,
            Action::Send(_, MasterToWorker::Drain)
        )));
        s.ev(Event::Bye(W0));
        s.ev(Event::Exited {
            worker: W0,
            status: "exit 0".into(),
            success: true,
        });
        assert!(s.m.finished());
    }

    /// Two workers of 2 threads with 4 devices queued each; worker 1 runs
    /// through its share while worker 0 is still busy.
    fn take_back_setup() -> Sim {
        let mut set = settings(2, 2);
        set.batching = Batching::Fixed(4);
        let (mut s, _) = Sim::new(set, devices(12));
        s.ev(Event::Connected(W0));
        s.ev(Event::Connected(W1));
        s.start(W0, 0);
        s.start(W0, 1);
        for seq in 6..12 {
            s.start(W1, seq);
            s.finish(W1, seq, Status::Ok);
        }
        s
    }

    #[test]
    fn queued_devices_are_taken_back_for_idle_threads_at_the_end() {
        let mut s = take_back_setup();
        // The last result of worker 1 triggered the take-back; check the state.
        let asked: Vec<u32> =
            s.m.devices
                .iter()
                .filter(|e| matches!(&e.state, State::InFlight(f) if f.recalled))
                .map(|e| e.job.seq)
                .collect();
        assert_eq!(asked.len(), 2, "as many as worker 1 has idle threads");
        assert!(asked.iter().all(|seq| (2..6).contains(seq)), "{asked:?}");
        // Worker 0 returns one (the other had just started there).
        s.start(W0, asked[0]);
        let a = s.ev(Event::Returned {
            worker: W0,
            seqs: vec![asked[1]],
        });
        assert_eq!(sent_to(&a, W1), vec![asked[1]]);
        assert_eq!(in_flight_on(&s, asked[0]), Some((W0, true)));
        // Not asked twice.
        let a = s.ev(Event::Tick);
        assert!(!has(&a, |a| matches!(
            a,
            Action::Send(_, MasterToWorker::TakeBack { .. })
        )));
    }

    #[test]
    fn a_crash_during_take_back_loses_and_duplicates_nothing() {
        let mut s = take_back_setup();
        let a = s.crash(W0);
        // Everything worker 0 held is back in the queue or sent to worker 1.
        let mut back: Vec<u32> = sent_to(&a, W1);
        back.extend(s.m.queue.iter().copied());
        back.sort_unstable();
        assert_eq!(back, vec![0, 1, 2, 3, 4, 5]);
        // The answer of the dead incarnation changes nothing.
        let before = s.m.queue.clone();
        let a = s.ev(Event::Returned {
            worker: W0,
            seqs: vec![2, 3],
        });
        assert_eq!(s.m.queue, before);
        assert!(batches(&a).is_empty());
        for seq in 0..6 {
            assert!(!matches!(s.state(seq), State::Done));
        }
    }

    #[test]
    fn a_silent_worker_is_killed_its_running_devices_time_out_and_its_queue_moves() {
        let mut set = settings(2, 1);
        set.batching = Batching::Fixed(2);
        let (mut s, _) = Sim::new(set, devices(6));
        s.ev(Event::Connected(W0));
        s.ev(Event::Connected(W1));
        s.start(W0, 0);
        s.start(W1, 3);
        s.at(9_000);
        s.ev(Event::Heartbeat(W1));
        let a = s.ev(Event::Tick);
        assert!(!has(&a, |a| matches!(a, Action::Kill(_))), "9 s: not yet");
        s.at(10_500);
        s.ev(Event::Heartbeat(W1));
        let a = s.ev(Event::Tick);
        assert!(has(&a, |a| matches!(a, Action::Kill(k) if *k == W0)));
        let r = records(&a);
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].0, r[0].1), (0, Status::Timeout));
        assert!(r[0].2.contains("sent nothing"), "{}", r[0].2);
        assert!(has(
            &a,
            |a| matches!(a, Action::Spawn(k) if k.slot == 0 && k.generation == 1)
        ));
        for seq in [1, 2] {
            assert!(!matches!(s.state(seq), State::InFlight(f) if f.worker == W0));
        }
        // Its exit, later, changes nothing more.
        let a = s.crash(W0);
        assert!(records(&a).is_empty());
        assert!(!has(&a, |a| matches!(a, Action::Spawn(_))));
    }

    #[test]
    fn a_silent_worker_s_running_devices_follow_the_retry_policy() {
        let mut set = settings(1, 1);
        set.policy.retry.insert(Status::Timeout, 1);
        let (mut s, _) = Sim::new(set, devices(1));
        s.ev(Event::Connected(W0));
        s.start(W0, 0);
        s.at(11_000);
        let a = s.ev(Event::Tick);
        assert!(records(&a).is_empty());
        assert!(matches!(s.state(0), State::Backoff { .. }));
    }

    #[test]
    fn the_master_ends_a_session_past_its_deadline_itself() {
        let mut set = settings(1, 1);
        set.session_limit = Duration::from_secs(2);
        set.deadline_margin = Duration::from_secs(1);
        let (mut s, _) = Sim::new(set, devices(2));
        s.ev(Event::Connected(W0));
        s.start(W0, 0);
        s.at(2_900);
        s.ev(Event::Heartbeat(W0));
        assert!(records(&s.ev(Event::Tick)).is_empty());
        s.at(3_100);
        s.ev(Event::Heartbeat(W0));
        let a = s.ev(Event::Tick);
        let r = records(&a);
        assert_eq!((r[0].0, r[0].1), (0, Status::Timeout));
        assert!(r[0].2.contains("ended by the master"));
        assert_eq!(sent_to(&a, W0), vec![1], "its slot counts as free again");
        // The worker's late result is ignored.
        assert!(records(&s.finish(W0, 0, Status::Ok)).is_empty());
    }

    #[test]
    fn a_write_failure_stops_dispatching_like_ctrl_c() {
        let (mut s, _) = Sim::new(settings(1, 2), devices(6));
        s.ev(Event::Connected(W0));
        s.start(W0, 0);
        let a = s.ev(Event::WriteFailed {
            error: "No space left on device".into(),
        });
        assert!(matches!(s.m.stop_cause(), Some(StopCause::WriteFailed(_))));
        assert!(has(&a, |a| matches!(
            a,
            Action::Send(_, MasterToWorker::Stop)
        )));
        let r = records(&a);
        assert_eq!(r.len(), 4, "the queue ends cancelled");
        assert!(r[0].2.contains("cannot be written"));
        let a = s.finish(W0, 0, Status::Ok);
        assert!(batches(&a).is_empty(), "nothing new starts");
        // A second failure changes nothing.
        let a = s.ev(Event::WriteFailed {
            error: "again".into(),
        });
        assert!(a.is_empty());
    }

    #[test]
    fn results_of_a_dead_incarnation_or_another_worker_are_ignored() {
        let (mut s, _) = Sim::new(settings(2, 1), devices(2));
        s.ev(Event::Connected(W0));
        s.ev(Event::Connected(W1));
        s.start(W0, 0);
        assert!(records(&s.finish(W1, 0, Status::Ok)).is_empty());
        s.crash(W0);
        assert!(records(&s.finish(W0, 0, Status::Ok)).is_empty());
    }

    #[test]
    fn no_worker_left_ends_the_queue_as_worker_lost() {
        let mut set = settings(1, 1);
        set.max_worker_restarts = 0;
        let (mut s, _) = Sim::new(set, devices(3));
        s.ev(Event::Connected(W0));
        let a = s.crash(W0);
        let r = records(&a);
        assert_eq!(r.len(), 3);
        assert!(r.iter().all(|x| x.1 == Status::WorkerLost));
        assert!(s.m.finished());
    }

    #[test]
    fn workers_drain_when_all_is_done_and_are_killed_if_they_linger() {
        let (mut s, _) = Sim::new(settings(1, 1), devices(1));
        s.ev(Event::Connected(W0));
        s.start(W0, 0);
        let a = s.finish(W0, 0, Status::Ok);
        assert!(has(&a, |a| matches!(
            a,
            Action::Send(_, MasterToWorker::Drain)
        )));
        assert!(!s.m.finished(), "the worker has not exited");
        s.at(10_001);
        s.ev(Event::Heartbeat(W0));
        let a = s.ev(Event::Tick);
        assert!(has(&a, |a| matches!(a, Action::Kill(_))));
    }

    fn set_threads_sent(actions: &[Action]) -> Vec<(WorkerKey, usize)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send(w, MasterToWorker::SetThreads(n)) => Some((*w, *n)),
                _ => None,
            })
            .collect()
    }

    /// Every device is in exactly one place: the queue, one worker, or done.
    fn assert_accounted(s: &Sim) {
        for (i, e) in s.m.devices.iter().enumerate() {
            let queued = s.m.queue.iter().filter(|&&q| q as usize == i).count();
            let pending = matches!(e.state, State::Pending) as usize;
            assert_eq!(queued, pending, "device {i} queued {queued} times");
        }
        for w in &s.m.workers {
            assert_eq!(
                w.held,
                s.m.held_by(w.key).len(),
                "held of worker {}",
                w.key.slot
            );
        }
    }

    #[test]
    fn growing_threads_tells_each_ready_worker_and_fills_the_new_slots() {
        let (mut s, _) = Sim::new(settings(2, 2), devices(20));
        s.ev(Event::Connected(W0));
        let a = s.ev(Event::SetThreads(5));
        assert_eq!(
            set_threads_sent(&a),
            vec![(W0, 5)],
            "worker 1 is not connected yet"
        );
        assert_eq!(
            sent_to(&a, W0),
            vec![2, 3, 4],
            "three new free slots filled at once"
        );
        assert_eq!(s.m.threads(), 5);
        // Worker 1 connects later: configured by the shell with 5, it gets 5.
        let a = s.ev(Event::Connected(W1));
        assert_eq!(sent_to(&a, W1), vec![5, 6, 7, 8, 9]);
        assert_accounted(&s);
    }

    #[test]
    fn shrinking_threads_sends_nothing_until_the_worker_is_below_its_new_count() {
        let (mut s, _) = Sim::new(settings(1, 4), devices(10));
        s.ev(Event::Connected(W0));
        for seq in 0..4 {
            s.start(W0, seq);
        }
        let a = s.ev(Event::SetThreads(2));
        assert_eq!(set_threads_sent(&a), vec![(W0, 2)]);
        assert!(batches(&a).is_empty());
        // 4 running on 2 slots: the first two results free nothing.
        assert!(batches(&s.finish(W0, 0, Status::Ok)).is_empty());
        assert!(batches(&s.finish(W0, 1, Status::Ok)).is_empty());
        // Below 2 held: refilled up to 2, never beyond.
        let a = s.finish(W0, 2, Status::Ok);
        assert_eq!(sent_to(&a, W0), vec![4]);
        assert_eq!(s.m.held(W0), 2);
        assert_accounted(&s);
    }

    #[test]
    fn a_worker_restarted_after_a_crash_gets_the_current_thread_count() {
        let (mut s, _) = Sim::new(settings(1, 2), devices(10));
        s.ev(Event::Connected(W0));
        s.ev(Event::SetThreads(3));
        let a = s.crash(W0);
        let next = WorkerKey {
            slot: 0,
            generation: 1,
        };
        assert!(has(&a, |a| matches!(a, Action::Spawn(k) if *k == next)));
        let a = s.ev(Event::Connected(next));
        assert_eq!(sent_to(&a, next).len(), 3);
        assert_accounted(&s);
    }

    #[test]
    fn thread_changes_are_ignored_when_stopping_or_unchanged_or_leaving() {
        let (mut s, _) = Sim::new(settings(2, 2), devices(4));
        s.ev(Event::Connected(W0));
        assert!(s.ev(Event::SetThreads(2)).is_empty(), "same count: nothing");
        // Zero means one.
        let a = s.ev(Event::SetThreads(0));
        assert_eq!(set_threads_sent(&a), vec![(W0, 1)]);
        s.ev(Event::Signal);
        let a = s.ev(Event::SetThreads(8));
        assert!(
            set_threads_sent(&a).is_empty(),
            "a stopping run resizes nothing"
        );
        assert_eq!(s.m.threads(), 1);
    }

    #[test]
    fn resizing_mid_run_loses_and_duplicates_no_device() {
        let mut set = settings(2, 3);
        set.batching = Batching::Fixed(2);
        let (mut s, _) = Sim::new(set, devices(40));
        s.ev(Event::Connected(W0));
        s.ev(Event::Connected(W1));
        let mut sizes = [6usize, 1, 4, 2, 9].into_iter().cycle();
        let mut finished = std::collections::BTreeSet::new();
        let mut step = 0u64;
        while !s.m.finished() && step < 10_000 {
            step += 1;
            s.at(step);
            if step.is_multiple_of(7) {
                s.ev(Event::SetThreads(sizes.next().unwrap()));
            }
            // Each worker starts and finishes its lowest held device.
            for w in [W0, W1] {
                if let Some(&seq) = s.m.held_by(w).first() {
                    s.start(w, seq);
                    let a = s.finish(w, seq, Status::Ok);
                    for (seq, _, _) in records(&a) {
                        assert!(finished.insert(seq), "device {seq} finished twice");
                    }
                }
            }
            if s.m.done() == 40 {
                for w in [W0, W1] {
                    s.ev(Event::Bye(w));
                    s.ev(Event::Exited {
                        worker: w,
                        status: "exit 0".into(),
                        success: true,
                    });
                }
            }
            assert_accounted(&s);
        }
        assert!(s.m.finished());
        assert_eq!(finished.len(), 40);
    }
}
