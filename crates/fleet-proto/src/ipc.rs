//! Messages between the master and its workers.
//!
//! The conversation, after the worker connects and says [`WorkerToMaster::Hello`]:
//!
//! ```text
//! master                          worker
//!   Configure(WorkerConfig) ----->
//!   Profiles([(id, profile)..]) ->  (before the first batch that uses them)
//!   Batch { id, jobs } ---------->
//!                          <----- Events([Started.., Finished..])   (batched)
//!                          <----- Heartbeat(threads)                (every second)
//!                          <----- Usage { cpu_ms }                  (with each heartbeat)
//!   SetThreads(n) --------------->                                  (-t auto: resize)
//!   Batch { id, jobs } ---------->                                  (slots freed)
//!   TakeBack { seqs } ----------->                                  (end of run)
//!                          <----- Events([Returned { seqs }])
//!   Drain ----------------------->  (no more work: finish and leave)
//!                          <----- Bye(WorkerStats)
//! ```
//!
//! The master hands out work by free slots: it knows each worker's threads
//! and the devices it holds, and sends more as results come back, with a
//! prefetch sized from measured session time against the round trip. It
//! takes queued devices back at the end of a run, so no device waits in
//! one worker's queue while a thread elsewhere is idle. Heartbeats let the
//! master tell a frozen or deadlocked worker from a busy one.
//!
//! Devices travel as the inventory holds them ([`crate::DeviceTable`]): a
//! batch carries each device's name, address and port, and the id of its
//! profile (user, credentials, commands, groups, ...), which each worker
//! gets once. Sending every device whole cost the master a clone and an
//! encoding of its profile per device, a fifth of its time on a noop run.

use crate::{Device, DeviceResult, HostKeyCheck, Mode, Timeouts};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Bumped on any incompatible change to these messages. The master and its
/// workers are the same executable, so a mismatch means a broken install.
pub const PROTOCOL_VERSION: u32 = 5;

/// Largest piece of command output one IPC message carries: bigger outputs
/// travel as [`WorkerEvent::OutputChunk`]s ahead of their result, so no
/// message grows with `--max-output`.
pub const OUTPUT_CHUNK: usize = 1 << 20;

/// One device as a batch carries it: what differs per device, and the id
/// of its profile, which the worker got in [`MasterToWorker::Profiles`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchJob {
    /// Position of the device in the inventory: the master's key for it.
    pub seq: u32,
    /// 1 for the first try.
    pub attempt: u32,
    /// Id of the device's profile.
    pub profile: u32,
    /// The device's name.
    pub name: String,
    /// Address or DNS name.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl BatchJob {
    /// The whole job, given the device's profile (name and host empty).
    pub fn into_job(self, profile: &Device) -> Job {
        let mut device = profile.clone();
        device.name = self.name;
        device.host = self.host;
        device.port = self.port;
        Job {
            seq: self.seq,
            attempt: self.attempt,
            device,
        }
    }
}

/// One device to run, whole: what a worker's session thread gets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    /// Position of the device in the inventory: the master's key for it.
    pub seq: u32,
    /// 1 for the first try.
    pub attempt: u32,
    /// The device, credentials included.
    pub device: Device,
}

/// Run-wide settings a worker needs before its first batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerConfig {
    /// Session threads in this worker.
    pub threads: usize,
    /// Run-level timeouts (every field set); devices may override.
    pub timeouts: Timeouts,
    /// Cap on captured bytes per command output.
    pub max_output: usize,
    /// Host-key policy.
    pub host_key_check: HostKeyCheck,
    /// `known_hosts` file to check and extend.
    pub known_hosts: Option<PathBuf>,
    /// Further known_hosts files, read only (see `fleet_ssh::SessionSettings`).
    #[serde(default)]
    pub known_hosts_extra: Vec<PathBuf>,
    /// Mode when neither the device nor its platform says.
    pub default_mode: Option<Mode>,
    /// How often the worker sends a [`WorkerToMaster::Heartbeat`].
    pub heartbeat: Duration,
}

/// Master to worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum MasterToWorker {
    /// First message: how to run.
    Configure(WorkerConfig),
    /// Profiles (devices with name and host empty, port 0) the next
    /// batches refer to by id; each is sent to a worker once.
    Profiles(Vec<(u32, Device)>),
    /// Devices to run.
    Batch {
        /// Batch id, for logs and traces.
        id: u64,
        /// The devices.
        jobs: Vec<BatchJob>,
    },
    /// Give back these devices if no thread has started them yet; answered
    /// by [`WorkerEvent::Returned`] with the ones given back.
    TakeBack {
        /// Inventory positions.
        seqs: Vec<u32>,
    },
    /// Run this many session threads from now on (`-t auto`): new threads
    /// start at once; threads beyond `n` finish their current session and
    /// then park, so no session is cut short and no device is lost.
    SetThreads(usize),
    /// No more work will come: finish what you hold, say Bye, exit.
    Drain,
    /// Stop now: drop queued jobs (the master reports them cancelled),
    /// finish running sessions, say Bye, exit.
    Stop,
}

/// Something that happened in a worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum WorkerEvent {
    /// A thread picked up a device.
    Started {
        /// Inventory position.
        seq: u32,
        /// Thread name.
        thread: String,
    },
    /// A piece of a large output of device `seq`, sent before its
    /// `Finished` (whose output fields then hold only what follows).
    OutputChunk {
        /// Inventory position.
        seq: u32,
        /// Which command's output.
        index: u32,
        /// Standard error rather than standard output.
        stderr: bool,
        /// At most [`OUTPUT_CHUNK`] bytes of text.
        data: String,
    },
    /// Devices given back after [`MasterToWorker::TakeBack`]: they were
    /// still queued and will not run here.
    Returned {
        /// Inventory positions.
        seqs: Vec<u32>,
    },
    /// The session of device `seq` panicked in the in-process pool of
    /// `-p 0`, which cannot crash: the master treats it as a crash of a
    /// worker running that device alone. (A worker process aborts instead.)
    Panicked {
        /// Inventory position.
        seq: u32,
        /// The panic message.
        message: String,
    },
    /// A device finished, in any status.
    Finished {
        /// Inventory position.
        seq: u32,
        /// The result.
        result: DeviceResult,
    },
}

/// Resource use of a worker process, reported as it leaves.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct WorkerStats {
    /// Devices this worker finished.
    pub devices: u64,
    /// User CPU time, milliseconds.
    pub cpu_user_ms: f64,
    /// System CPU time, milliseconds.
    pub cpu_sys_ms: f64,
    /// Peak resident set size, KiB.
    pub max_rss_kib: u64,
    /// IPC messages sent to the master.
    pub ipc_messages: u64,
    /// IPC payload bytes sent to the master (serialized size).
    pub ipc_bytes: u64,
}

/// Worker to master.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum WorkerToMaster {
    /// Sent once, first.
    Hello {
        /// Slot id the master gave this worker.
        worker_id: u32,
        /// OS pid.
        pid: u32,
        /// Must equal [`PROTOCOL_VERSION`].
        protocol_version: u32,
    },
    /// Sent every [`WorkerConfig::heartbeat`] by the worker's watchdog: a
    /// worker that stops sending it is frozen or deadlocked.
    Heartbeat(Vec<ThreadProgress>),
    /// The worker's CPU so far, sent with each heartbeat: `-p auto -t auto`
    /// measures what a session costs the client from its growth.
    Usage {
        /// User + system CPU time of the worker process, milliseconds.
        cpu_ms: f64,
    },
    /// Starts and results, batched to keep IPC messages few.
    Events(Vec<WorkerEvent>),
    /// The worker is leaving cleanly.
    Bye(WorkerStats),
}

/// What one session thread is doing, as carried by a heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThreadProgress {
    /// Thread slot in the worker.
    pub thread: u32,
    /// The device it runs, if busy.
    pub seq: Option<u32>,
    /// Milliseconds since that session started.
    pub elapsed_ms: u64,
}
