//! The pool's shared state: the queue, the thread slots, and what the
//! threads hand the sender. One mutex guards it all, so taking a job and
//! counting it running are one step (a `Stop` can never say `Bye` while a
//! session is starting).
//!
//! Two condition variables, so a wake-up reaches only who can act on it:
//! `work` for session threads waiting for a job, `done` for the thread
//! waiting for the end of the pool. A session that ends wakes nobody
//! unless it was the last one (a futex wake per session is a context
//! switch per session on a busy worker).

use fleet_proto::{
    DeviceResult, Job, Status, Timings, WorkerConfig, WorkerEvent, WorkerRef, WorkerStats,
};
use fleet_ssh::{Context, Outcome};
use std::collections::VecDeque;
use std::sync::mpsc;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Extra time past a session's own deadline before the watchdog gives up
/// on its thread: libssh2 timeouts normally fire well before this.
pub(super) const HARD_LIMIT_MARGIN: Duration = Duration::from_secs(10);

/// What session threads and the watchdog hand the sender thread.
pub(super) enum Out {
    Event(WorkerEvent),
    /// Per-thread progress and the process's CPU so far (milliseconds).
    Heartbeat(Vec<fleet_proto::ThreadProgress>, f64),
    Bye(WorkerStats),
}

/// A thread slot: which device its thread is running, and since when.
#[derive(Default)]
pub(super) struct Slot {
    /// Bumped when the watchdog replaces a stuck thread; the old thread
    /// sees the mismatch and leaves without reporting.
    pub generation: u32,
    pub busy: Option<Busy>,
    /// A thread serves this slot (running, waiting for work, or finishing
    /// its last session before it parks). A parked slot has none, and
    /// `SetThreads` starts one for it again.
    pub alive: bool,
}

/// A session in progress: everything its result needs besides the outcome.
pub(super) struct Busy {
    pub job: std::sync::Arc<Job>,
    pub batch: u64,
    pub thread: String,
    pub started: Instant,
    pub started_us: u64,
    pub hard_deadline: Instant,
}

impl Busy {
    /// The one place a [`DeviceResult`] is built, from a session's outcome
    /// (or the watchdog's verdict).
    pub fn result(&self, shared: &Shared, outcome: Outcome) -> DeviceResult {
        let d = &self.job.device;
        DeviceResult {
            device: d.name.clone(),
            host: d.host.clone(),
            port: d.port,
            status: outcome.status,
            error: outcome.error,
            outputs: outcome.outputs,
            worker: Some(WorkerRef {
                id: shared.worker_id,
                pid: shared.pid,
                thread: self.thread.clone(),
            }),
            timings_ms: outcome.timings,
            attempt: self.job.attempt,
            started_us: outcome.started_us.max(self.started_us),
            batch: Some(self.batch),
        }
    }

    /// The watchdog's verdict on a session stuck past its hard limit.
    pub fn stuck(&self, now: Instant) -> Outcome {
        let elapsed = now.duration_since(self.started);
        Outcome {
            status: Status::Timeout,
            error: Some(format!(
                "session exceeded its hard limit ({:.1} s); thread abandoned",
                elapsed.as_secs_f64()
            )),
            outputs: Vec::new(),
            timings: Timings {
                total: elapsed.as_secs_f64() * 1e3,
                ..Default::default()
            },
            started_us: self.started_us,
        }
    }
}

/// Everything behind the pool's one lock.
#[derive(Default)]
pub(super) struct State {
    pub queue: VecDeque<(Job, u64)>,
    pub running: usize,
    pub draining: bool,
    pub stopping: bool,
    /// `Bye` is on its way: the master closing the channel now is the
    /// normal end, not a lost master.
    pub said_bye: bool,
    pub slots: Vec<Slot>,
    /// Threads wanted (`SetThreads`): slots at or beyond this park once
    /// their session ends.
    pub active: usize,
    /// Session threads waiting on `work` now: a batch wakes at most this
    /// many, and none when every thread is busy.
    pub idle: usize,
}

impl State {
    /// A pool of `threads` live, idle slots and nothing queued.
    pub fn with_threads(threads: usize) -> State {
        State {
            slots: (0..threads)
                .map(|_| Slot {
                    alive: true,
                    ..Slot::default()
                })
                .collect(),
            active: threads,
            ..State::default()
        }
    }

    /// Told to finish, nothing queued, nothing running.
    pub fn finished(&self) -> bool {
        (self.draining || self.stopping) && self.queue.is_empty() && self.running == 0
    }
}

/// Shared by every thread of the pool.
pub(super) struct Shared {
    pub worker_id: u32,
    pub pid: u32,
    pub in_process: bool,
    pub config: WorkerConfig,
    pub context: Context,
    pub state: Mutex<State>,
    /// Session threads wait here for a job (or to stop, drain or park).
    pub work: Condvar,
    /// The serving thread waits here for [`State::finished`].
    pub done: Condvar,
    /// To the sender thread (`Sender` is `Sync`: no lock, no clone).
    pub out: mpsc::Sender<Out>,
    /// Test hooks (cargo feature `test-hooks` only).
    pub hooks: super::session::TestHooks,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means a thread panicked while holding it; the state
        // is plain counters and queues, still consistent enough to finish.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn send(&self, out: Out) {
        // The sender thread only leaves after Bye, so this cannot fail
        // while sessions still run.
        let _ = self.out.send(out);
    }

    /// Wakes the serving thread if the pool is finished: call after any
    /// change that can finish it (a session ended, the queue shrank, the
    /// master said drain or stop).
    pub fn wake_if_finished(&self, st: &State) {
        if st.finished() {
            self.done.notify_all();
        }
    }

    /// Wakes the idle session threads that `jobs` new jobs can keep busy
    /// (all of them for `usize::MAX`: stop, drain, a new thread count).
    pub fn wake_workers(&self, st: &State, jobs: usize) {
        if st.idle == 0 {
            return;
        }
        if jobs >= st.idle {
            self.work.notify_all();
        } else {
            for _ in 0..jobs {
                self.work.notify_one();
            }
        }
    }
}

pub(super) fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}
