//! The session thread pool of one worker.
//!
//! Threads:
//! - `w<id>-rx` receives batches from the master and fills the queue;
//!   answers take-backs with the devices still queued;
//! - `w<id>-t<n>` (T of them) each take one device at a time and run it
//!   ([`session`]);
//! - `w<id>-tx` packs starts and results into few IPC messages: the
//!   first at once when idle, then one per short window while busy
//!   ([`sender`]);
//! - `w<id>-watchdog` sends the heartbeat and reports a session stuck past
//!   its hard limit as `timeout`, replacing its thread, so one hung device
//!   never stalls the run ([`watchdog`]).
//!
//! The master decides how much work a worker holds (it knows the threads
//! and what it sent); the pool only runs what it is given. The calling
//! thread waits until the master says `Drain` (or `Stop`) and every session
//! is done, then says `Bye` with the worker's statistics. The session
//! threads of a finished pool sleep until the process exits, which tears
//! them down at once (see `session::retire`).

use crate::link::{FromMaster, LinkError, ToMaster};
use fleet_proto::{
    BatchJob, Device, DeviceResult, Job, MasterToWorker, WorkerEvent, WorkerStats, WorkerToMaster,
    PROTOCOL_VERSION,
};
use fleet_ssh::{Context, SessionSettings};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};

mod sender;
mod session;
mod state;
mod watchdog;

use state::{Out, Shared, Slot, State};

/// How a pool failed as a whole (device failures are results, not errors).
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The link to the master broke.
    #[error("failed to exchange messages with the master")]
    Link(#[from] LinkError),
    /// The master opened with something other than `Configure`.
    #[error("expected Configure from the master, got {0}")]
    Handshake(&'static str),
    /// The session layer could not start (e.g. unreadable known_hosts).
    #[error("failed to set up sessions")]
    Setup(#[from] fleet_ssh::SshError),
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

/// Serves the master until it says `Drain` or `Stop` and all sessions end.
///
/// `in_process` is true for `-p 0`: a panicking session is then reported
/// as [`WorkerEvent::Panicked`] instead of taking the (shared) process down.
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
        MasterToWorker::Profiles(_) => return Err(PoolError::Handshake("Profiles")),
        MasterToWorker::TakeBack { .. } => return Err(PoolError::Handshake("TakeBack")),
        MasterToWorker::Drain => return Err(PoolError::Handshake("Drain")),
        MasterToWorker::SetThreads(_) => return Err(PoolError::Handshake("SetThreads")),
        MasterToWorker::Stop => return Err(PoolError::Handshake("Stop")),
    };
    let threads = config.threads.max(1);
    log::info!("worker {worker_id} ready: pid {pid}, {threads} threads");
    let context = Context::new(SessionSettings::from_worker_config(&config))?;

    let (out_tx, out_rx) = mpsc::channel();
    let shared = Arc::new(Shared {
        worker_id,
        pid,
        in_process,
        config,
        context,
        state: Mutex::new(State::with_threads(threads)),
        work: Condvar::new(),
        done: Condvar::new(),
        out: out_tx,
        hooks: session::TestHooks::from_env(),
    });

    let sender = spawn(format!("w{worker_id}-tx"), move || {
        sender::sender_loop(to_master, out_rx, sender::WINDOW)
    })?;
    for slot in 0..threads {
        spawn_session_thread(&shared, slot, 0)?;
    }
    {
        let shared = Arc::clone(&shared);
        spawn(format!("w{worker_id}-watchdog"), move || {
            watchdog::watchdog(shared)
        })?;
    }
    {
        let shared = Arc::clone(&shared);
        spawn(format!("w{worker_id}-rx"), move || {
            receive_loop(&shared, from_master.as_mut())
        })?;
    }

    // Wait for the end: told to finish, nothing queued, nothing running.
    {
        let mut st = shared.lock();
        while !st.finished() {
            st = shared.done.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        st.said_bye = true;
    }
    log::info!("worker {worker_id} done, saying bye");
    // `devices` is filled in by the sender thread, which counts results.
    shared.send(Out::Bye(resource_stats()));
    // A busy sender sleeps out its window: Bye need not wait for it.
    sender.thread().unpark();
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
        session::session_loop(&shared, slot, generation, thread)
    })?;
    Ok(())
}

/// Most threads `SetThreads` may ask of one worker.
const MAX_THREADS: usize = 4096;

/// Applies `SetThreads(n)`: slots below `n` without a thread get one
/// (returned, to spawn once the lock is released); threads at or beyond `n`
/// park after their current session.
fn resize(st: &mut State, n: usize) -> Vec<(usize, u32)> {
    let n = n.clamp(1, MAX_THREADS);
    st.active = n;
    let mut start = Vec::new();
    for i in 0..n {
        if i >= st.slots.len() {
            st.slots.push(Slot::default());
        }
        let s = &mut st.slots[i];
        if !s.alive {
            s.alive = true;
            start.push((i, s.generation));
        }
    }
    start
}

/// Profiles by id, as the master sent them ([`MasterToWorker::Profiles`]).
#[derive(Default)]
struct Profiles(Vec<Option<Device>>);

impl Profiles {
    fn add(&mut self, list: Vec<(u32, Device)>) {
        for (id, profile) in list {
            let i = id as usize;
            if self.0.len() <= i {
                self.0.resize_with(i + 1, || None);
            }
            self.0[i] = Some(profile);
        }
    }

    /// Whole jobs from a batch, built before the pool's lock is taken. A
    /// job whose profile never came (a master bug) is not lost: it comes
    /// back as a `protocol_error` result saying so (the second list).
    fn expand(
        &self,
        jobs: Vec<BatchJob>,
        batch: u64,
        worker_id: u32,
    ) -> (Vec<(Job, u64)>, Vec<Failed>) {
        let mut whole = Vec::with_capacity(jobs.len());
        let mut failed = Vec::new();
        for j in jobs {
            match self.0.get(j.profile as usize).and_then(Option::as_ref) {
                Some(profile) => whole.push((j.into_job(profile), batch)),
                None => {
                    log::error!("device {}: profile {} was never sent", j.name, j.profile);
                    failed.push((j.seq, missing_profile(j, batch, worker_id)));
                }
            }
        }
        (whole, failed)
    }
}

/// A device that cannot run, and its result.
type Failed = (u32, DeviceResult);

fn missing_profile(j: BatchJob, batch: u64, worker_id: u32) -> DeviceResult {
    DeviceResult {
        device: j.name,
        host: j.host,
        port: j.port,
        status: fleet_proto::Status::ProtocolError,
        error: Some(format!(
            "internal error: the master never sent profile {} to worker {worker_id}",
            j.profile
        )),
        outputs: Vec::new(),
        worker: None,
        timings_ms: fleet_proto::Timings::default(),
        attempt: j.attempt,
        started_us: state::now_us(),
        batch: Some(batch),
    }
}

/// A message from the master, its jobs made whole.
enum Received {
    Batch { id: u64, jobs: Vec<(Job, u64)> },
    TakeBack(Vec<u32>),
    Drain,
    Stop,
    SetThreads(usize),
    Configure,
}

/// Receives batches and control messages from the master.
fn receive_loop(shared: &Arc<Shared>, from_master: &mut dyn FromMaster) {
    let mut profiles = Profiles::default();
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
                    shared.wake_workers(&st, usize::MAX);
                    shared.wake_if_finished(&st);
                    return;
                }
                // The master is gone: nobody will read our results, and
                // workers must never outlive it.
                log::error!(
                    "lost the master ({}); exiting",
                    fleet_proto::chain::Chain(&e)
                );
                fleet_logs::flush();
                std::process::exit(fleet_proto::ExitCode::WorkerFailed.code());
            }
        };
        // Profiles are the rx thread's own; a batch's jobs are built
        // whole here, outside the pool's lock.
        let msg = match msg {
            MasterToWorker::Profiles(list) => {
                profiles.add(list);
                continue;
            }
            MasterToWorker::Batch { id, jobs } => {
                let (jobs, failed) = profiles.expand(jobs, id, shared.worker_id);
                for (seq, result) in failed {
                    shared.send(Out::Event(WorkerEvent::Finished { seq, result }));
                }
                Received::Batch { id, jobs }
            }
            MasterToWorker::TakeBack { seqs } => Received::TakeBack(seqs),
            MasterToWorker::Drain => Received::Drain,
            MasterToWorker::Stop => Received::Stop,
            MasterToWorker::SetThreads(n) => Received::SetThreads(n),
            MasterToWorker::Configure(_) => Received::Configure,
        };
        let mut st = shared.lock();
        let mut start = Vec::new();
        // Session threads to wake: as many as the new jobs can use, or all
        // of them when what they wait for changed.
        let mut wake = usize::MAX;
        match msg {
            Received::Batch { id, jobs } => {
                log::debug!("batch {id}: {} devices", jobs.len());
                wake = jobs.len();
                st.queue.extend(jobs);
            }
            Received::TakeBack(seqs) => {
                let wanted: std::collections::HashSet<u32> = seqs.into_iter().collect();
                let mut returned = Vec::new();
                st.queue.retain(|(job, _)| {
                    let back = wanted.contains(&job.seq);
                    if back {
                        returned.push(job.seq);
                    }
                    !back
                });
                log::info!(
                    "take-back: returning {} of {} devices asked",
                    returned.len(),
                    wanted.len()
                );
                shared.send(Out::Event(WorkerEvent::Returned { seqs: returned }));
                wake = 0;
            }
            Received::Drain => {
                log::info!("master says drain: finishing {} queued", st.queue.len());
                st.draining = true;
            }
            Received::Stop => {
                log::warn!(
                    "master says stop: dropping {} queued, finishing {} running",
                    st.queue.len(),
                    st.running
                );
                st.stopping = true;
                st.queue.clear();
            }
            Received::SetThreads(n) => {
                let before = st.active;
                start = resize(&mut st, n);
                log::info!(
                    "resize: threads {before} -> {}: {} started, {} parking after their session",
                    st.active,
                    start.len(),
                    before.saturating_sub(st.active)
                );
            }
            Received::Configure => {
                log::warn!("ignoring a second Configure");
                wake = 0;
            }
        }
        shared.wake_workers(&st, wake);
        shared.wake_if_finished(&st);
        if st.stopping {
            return;
        }
        drop(st);
        for (slot, generation) in start {
            if let Err(e) = spawn_session_thread(shared, slot, generation) {
                // The slot stays counted alive but has no thread: fewer
                // sessions at once than asked, nothing lost.
                log::error!("could not start a session thread: {e}");
            }
        }
    }
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

/// CPU time (user + system) of this process so far, milliseconds: one
/// `getrusage`, for every heartbeat. (Reading `/proc/self/status` for the
/// peak RSS as well, as [`resource_stats`] does once at the end, was
/// ~0.1 ms per heartbeat per worker: half a percent of an `8x25` run's
/// CPU at 2 s sessions.)
pub(super) fn cpu_ms() -> f64 {
    rusage().map_or(0.0, |u| ms(u.user_time()) + ms(u.system_time()))
}

/// CPU time and peak memory of this process.
fn resource_stats() -> WorkerStats {
    match rusage() {
        Some(u) => WorkerStats {
            cpu_user_ms: ms(u.user_time()),
            cpu_sys_ms: ms(u.system_time()),
            max_rss_kib: peak_rss_kib().unwrap_or(u.max_rss().max(0) as u64),
            ..WorkerStats::default()
        },
        None => WorkerStats::default(),
    }
}

fn rusage() -> Option<nix::sys::resource::Usage> {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).ok()
}

fn ms(tv: nix::sys::time::TimeVal) -> f64 {
    tv.tv_sec() as f64 * 1e3 + tv.tv_usec() as f64 / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(threads: usize) -> State {
        State::with_threads(threads)
    }

    #[test]
    fn growing_starts_threads_only_for_slots_without_one() {
        let mut st = pool(2);
        assert_eq!(resize(&mut st, 4), vec![(2, 0), (3, 0)]);
        assert_eq!((st.active, st.slots.len()), (4, 4));
        assert!(st.slots.iter().all(|s| s.alive));
    }

    #[test]
    fn shrinking_starts_nothing_and_keeps_the_slots_of_running_sessions() {
        let mut st = pool(4);
        assert!(resize(&mut st, 1).is_empty());
        assert_eq!(st.active, 1);
        // The threads beyond 1 still run their session; they park later.
        assert_eq!(st.slots.len(), 4);
        assert!(st.slots.iter().all(|s| s.alive));
    }

    #[test]
    fn regrowing_restarts_parked_slots_but_not_ones_still_finishing() {
        let mut st = pool(4);
        resize(&mut st, 1);
        // Slot 2's thread parked; slot 3's is still in its last session.
        st.slots[2].alive = false;
        st.slots[1].alive = false;
        st.slots[2].generation = 5;
        assert_eq!(resize(&mut st, 4), vec![(1, 0), (2, 5)]);
        assert_eq!(st.active, 4);
    }

    #[test]
    fn batch_jobs_are_made_whole_from_their_profile_and_an_unknown_one_fails_the_device() {
        let mut profile = Device::new("", "", 0);
        profile.username = "admin".into();
        profile.commands = vec!["show version".into()];
        let mut profiles = Profiles::default();
        profiles.add(vec![(2, profile)]);
        let job = |seq: u32, profile: u32| BatchJob {
            seq,
            attempt: 1,
            profile,
            name: format!("r{seq}"),
            host: "10.0.0.1".into(),
            port: 2222,
        };
        let (whole, failed) = profiles.expand(vec![job(7, 2), job(8, 0), job(9, 2)], 4, 1);
        let seqs: Vec<u32> = whole.iter().map(|(j, _)| j.seq).collect();
        assert_eq!(seqs, [7, 9]);
        let (j, batch) = &whole[0];
        assert_eq!(*batch, 4);
        assert_eq!(
            (
                j.device.name.as_str(),
                j.device.host.as_str(),
                j.device.port
            ),
            ("r7", "10.0.0.1", 2222)
        );
        assert_eq!(
            (j.device.username.as_str(), j.device.commands.len()),
            ("admin", 1)
        );
        assert_eq!(failed.len(), 1);
        let (seq, r) = &failed[0];
        assert_eq!(
            (*seq, r.device.as_str(), r.status),
            (8, "r8", fleet_proto::Status::ProtocolError)
        );
        assert!(r.error.as_deref().unwrap().contains("never sent profile 0"));
    }

    /// Keeps what the pool says, for the test to read.
    struct Collect(mpsc::Sender<WorkerToMaster>);

    impl crate::link::ToMaster for Collect {
        fn send(&mut self, msg: WorkerToMaster) -> Result<usize, LinkError> {
            let _ = self.0.send(msg);
            Ok(0)
        }
    }

    /// Names of this process's threads that start with `prefix`.
    fn threads_named(prefix: &str) -> Vec<String> {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .map(|name| name.trim_end().to_string())
            .filter(|name| name.starts_with(prefix))
            .collect()
    }

    #[test]
    fn a_finished_pool_leaves_its_session_threads_to_the_process_exit() {
        let (to_pool, from_master) = mpsc::channel();
        let (to_master, said) = mpsc::channel();
        let config = fleet_proto::WorkerConfig {
            threads: 3,
            timeouts: fleet_proto::Timeouts::default(),
            max_output: 1 << 20,
            host_key_check: fleet_proto::HostKeyCheck::AcceptNew,
            known_hosts: None,
            known_hosts_extra: Vec::new(),
            default_mode: None,
            heartbeat: std::time::Duration::from_secs(1),
        };
        to_pool.send(MasterToWorker::Configure(config)).unwrap();
        to_pool.send(MasterToWorker::Drain).unwrap();
        serve(
            917,
            Box::new(Collect(to_master)),
            Box::new(from_master),
            true,
        )
        .unwrap();
        assert!(said.try_iter().any(|m| matches!(m, WorkerToMaster::Bye(_))));
        // Threads that exited on their own would be gone well within this.
        std::thread::sleep(std::time::Duration::from_millis(300));
        let mut names = threads_named("w917-t");
        names.sort();
        assert_eq!(names, ["w917-t0", "w917-t1", "w917-t2"]);
    }

    #[test]
    fn zero_threads_means_one() {
        let mut st = pool(3);
        resize(&mut st, 0);
        assert_eq!(st.active, 1);
    }
}
