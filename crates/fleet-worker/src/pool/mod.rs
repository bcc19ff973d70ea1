//! The session thread pool of one worker.
//!
//! Threads:
//! - `w<id>-rx` receives batches from the master and fills the queue;
//!   answers take-backs with the devices still queued;
//! - `w<id>-t<n>` (T of them) each take one device at a time and run it
//!   ([`session`]);
//! - `w<id>-tx` batches starts and results into few IPC messages
//!   ([`sender`]);
//! - `w<id>-watchdog` sends the heartbeat and reports a session stuck past
//!   its hard limit as `timeout`, replacing its thread, so one hung device
//!   never stalls the run ([`watchdog`]).
//!
//! The master decides how much work a worker holds (it knows the threads
//! and what it sent); the pool only runs what it is given. The calling
//! thread waits until the master says `Drain` (or `Stop`) and every session
//! is done, then says `Bye` with the worker's statistics.

use crate::link::{FromMaster, LinkError, ToMaster};
use fleet_proto::{MasterToWorker, WorkerEvent, WorkerStats, WorkerToMaster, PROTOCOL_VERSION};
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
        MasterToWorker::TakeBack { .. } => return Err(PoolError::Handshake("TakeBack")),
        MasterToWorker::Drain => return Err(PoolError::Handshake("Drain")),
        MasterToWorker::Stop => return Err(PoolError::Handshake("Stop")),
    };
    let threads = config.threads.max(1);
    log::info!("worker {worker_id} ready: pid {pid}, {threads} threads");
    let context = Context::new(SessionSettings {
        timeouts: config.timeouts,
        max_output: config.max_output,
        host_key_check: config.host_key_check,
        known_hosts: config.known_hosts.clone(),
        known_hosts_extra: config.known_hosts_extra.clone(),
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
        hooks: session::TestHooks::from_env(),
    });

    let sender = spawn(format!("w{worker_id}-tx"), move || {
        sender::sender_loop(to_master, out_rx)
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
            st = shared.changed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        st.said_bye = true;
    }
    log::info!("worker {worker_id} done, saying bye");
    // `devices` is filled in by the sender thread, which counts results.
    shared.send(Out::Bye(resource_stats()));
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
                st.queue.extend(jobs.into_iter().map(|j| (j, id)));
            }
            MasterToWorker::TakeBack { seqs } => {
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
