//! Starting workers and turning everything they do into [`Event`]s.
//!
//! A worker process is the `fleet` executable itself re-run as
//! `fleet __worker`, so master and workers can never be different
//! versions. Per process, two helper threads feed the dispatcher: one reads
//! the worker's IPC channel, one waits for the process to exit. Workers
//! start with a scrubbed environment (credentials travel over IPC only),
//! stderr pointed at their own log file, and in their own process group so
//! a terminal's Ctrl-C reaches only the master, which decides.

use fleet_proto::chain::Chain;
use fleet_proto::{MasterToWorker, WorkerToMaster};
use fleet_worker::link::{self, Bootstrap, Frame};
use fleet_worker::{FromMaster, LinkError, ToMaster};
use ipc_channel::ipc::{IpcOneShotServer, IpcSender};
use std::fs::File;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;

/// Environment variables a worker inherits; everything else (notably any
/// variable an inventory reads a password from) is dropped.
const ENV_ALLOWLIST: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
    "RUST_LOG",
    "RUST_BACKTRACE",
    "SSH_AUTH_SOCK",
    "FLEET_TEST_PANIC_DEVICE",
    "MALLOC_ARENA_MAX",
];

/// How long the exit of a worker waits for its IPC reader to drain.
const READER_DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Everything the dispatcher reacts to.
pub enum Event {
    /// A worker connected; the dispatcher may now talk to it.
    Connected {
        /// Worker slot.
        slot: u32,
        /// Incarnation of the slot (bumped by each restart).
        generation: u32,
        /// Its channel.
        tx: WorkerTx,
    },
    /// A message from a worker.
    Message {
        /// Worker slot.
        slot: u32,
        /// Incarnation.
        generation: u32,
        /// The message.
        msg: WorkerToMaster,
    },
    /// A worker's channel closed (it exited, crashed, or broke protocol).
    Disconnected {
        /// Worker slot.
        slot: u32,
        /// Incarnation.
        generation: u32,
        /// Why, if known.
        reason: String,
    },
    /// A worker process (or in-process pool) ended. Always the last event
    /// of that worker incarnation.
    Exited {
        /// Worker slot.
        slot: u32,
        /// Incarnation.
        generation: u32,
        /// `exit 0`, `signal 9 (SIGKILL)`, ...
        status: String,
        /// Whether it exited 0.
        success: bool,
    },
    /// SIGINT or SIGTERM reached the master.
    Signal(i32),
    /// Writing `results.jsonl` failed (the results thread says so, once).
    ResultsFailed(String),
}

/// The master's sending half to one worker.
pub enum WorkerTx {
    /// A worker process.
    Ipc(IpcSender<Frame>),
    /// The in-process pool of `-p 0`.
    Local(mpsc::Sender<MasterToWorker>),
}

impl WorkerTx {
    /// Sends a message; returns the bytes that crossed a process boundary.
    pub fn send(&self, msg: MasterToWorker) -> Result<usize, LinkError> {
        match self {
            WorkerTx::Ipc(tx) => {
                let frame = link::encode(&msg)?;
                let len = frame.0.len();
                tx.send(frame).map_err(LinkError::send)?;
                Ok(len)
            }
            WorkerTx::Local(tx) => tx.send(msg).map(|_| 0).map_err(|_| LinkError::Closed),
        }
    }
}

/// A started worker process.
pub struct Spawned {
    /// OS pid.
    pub pid: u32,
}

/// Starts worker process `slot` and the threads that report on it.
pub fn spawn_process(
    exe: &Path,
    slot: u32,
    generation: u32,
    log_file: File,
    log_level: log::LevelFilter,
    device_lines: bool,
    events: mpsc::Sender<Event>,
) -> std::io::Result<Spawned> {
    let (server, name) = IpcOneShotServer::<Bootstrap>::new()?;
    let mut cmd = Command::new(exe);
    cmd.arg("__worker")
        .arg("--id")
        .arg(slot.to_string())
        .arg("--ipc")
        .arg(&name)
        .arg("--master-pid")
        .arg(std::process::id().to_string())
        .env_clear()
        .env("FLEET_LOG_LEVEL", log_level.to_string())
        .env("FLEET_DEVICE_LOGS", if device_lines { "on" } else { "off" })
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log_file))
        .process_group(0);
    for key in ENV_ALLOWLIST {
        if let Some(v) = std::env::var_os(key) {
            cmd.env(key, v);
        }
    }
    let mut child = cmd.spawn()?;
    let pid = child.id();

    // The waiter reports the exit only after the reader has delivered every
    // message the worker sent, so `Exited` is always a worker's last event.
    let (reader_done, reader_finished) = mpsc::channel::<()>();
    let tx = events.clone();
    std::thread::Builder::new()
        .name(format!("m-rx{slot}"))
        .spawn(move || {
            let _done = reader_done;
            // If the worker dies before connecting, accept() never returns;
            // the waiter below reports the exit and this thread just idles.
            let (_, boot) = match server.accept() {
                Ok(b) => b,
                Err(e) => {
                    let _ = tx.send(Event::Disconnected {
                        slot,
                        generation,
                        reason: format!("bootstrap failed: {e}"),
                    });
                    return;
                }
            };
            let Bootstrap {
                to_worker,
                from_worker,
            } = boot;
            if tx
                .send(Event::Connected {
                    slot,
                    generation,
                    tx: WorkerTx::Ipc(to_worker),
                })
                .is_err()
            {
                return;
            }
            let reason = loop {
                match from_worker.recv() {
                    Ok(frame) => match link::decode::<WorkerToMaster>(&frame) {
                        Ok(msg) => {
                            if tx
                                .send(Event::Message {
                                    slot,
                                    generation,
                                    msg,
                                })
                                .is_err()
                            {
                                return;
                            }
                        }
                        Err(e) => break format!("undecodable message: {}", Chain(&e)),
                    },
                    Err(ipc_channel::IpcError::Disconnected) => break "channel closed".to_string(),
                    Err(e) => break format!("ipc error: {e}"),
                }
            };
            let _ = tx.send(Event::Disconnected {
                slot,
                generation,
                reason,
            });
        })?;

    std::thread::Builder::new()
        .name(format!("m-wait{slot}"))
        .spawn(move || {
            let (status, success) = match child.wait() {
                Ok(s) => (describe_exit(&s), s.success()),
                Err(e) => (format!("wait failed: {e}"), false),
            };
            // A worker that died before connecting leaves the reader blocked
            // in accept() forever: do not wait for it long.
            let _ = reader_finished.recv_timeout(READER_DRAIN_TIMEOUT);
            let _ = events.send(Event::Exited {
                slot,
                generation,
                status,
                success,
            });
        })?;
    Ok(Spawned { pid })
}

/// `exit 0`, `exit 3`, `signal 9 (SIGKILL)`, `signal 6 (SIGABRT, core dumped)`.
pub fn describe_exit(s: &std::process::ExitStatus) -> String {
    if let Some(code) = s.code() {
        return format!("exit {code}");
    }
    match s.signal() {
        Some(sig) => {
            let name = nix::sys::signal::Signal::try_from(sig)
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|_| "?".into());
            let core = if s.core_dumped() { ", core dumped" } else { "" };
            format!("signal {sig} ({name}{core})")
        }
        None => "unknown".to_string(),
    }
}

/// [`ToMaster`] for the in-process pool: messages go straight into the
/// dispatcher's event queue, no serialization.
struct LocalToMaster {
    slot: u32,
    generation: u32,
    events: mpsc::Sender<Event>,
}

impl ToMaster for LocalToMaster {
    fn send(&mut self, msg: WorkerToMaster) -> Result<usize, LinkError> {
        self.events
            .send(Event::Message {
                slot: self.slot,
                generation: self.generation,
                msg,
            })
            .map(|_| 0)
            .map_err(|_| LinkError::Closed)
    }
}

/// Starts the session pool inside the master (`-p 0`).
pub fn spawn_in_process(events: mpsc::Sender<Event>) -> std::io::Result<()> {
    let (tx, rx) = mpsc::channel::<MasterToWorker>();
    let _ = events.send(Event::Connected {
        slot: 0,
        generation: 0,
        tx: WorkerTx::Local(tx),
    });
    std::thread::Builder::new()
        .name("w0-main".into())
        .spawn(move || {
            let to_master = LocalToMaster {
                slot: 0,
                generation: 0,
                events: events.clone(),
            };
            let from_master: Box<dyn FromMaster> = Box::new(rx);
            let (status, success) =
                match fleet_worker::serve(0, Box::new(to_master), from_master, true) {
                    Ok(_) => ("exit 0".to_string(), true),
                    Err(e) => (format!("pool failed: {}", Chain(&e)), false),
                };
            let _ = events.send(Event::Exited {
                slot: 0,
                generation: 0,
                status,
                success,
            });
        })?;
    Ok(())
}
