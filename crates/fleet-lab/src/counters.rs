//! What the lab saw: sessions, handshakes, auths, commands, bytes, peaks.
//!
//! Tests and benchmarks compare these with what the client did. The
//! snapshot [`Counters`] serializes to the stats file (JSON):
//!
//! ```json
//! {
//!   "uptime_ms": 1234,
//!   "sessions_accepted": 10,        // TCP connections accepted (hang devices included)
//!   "handshakes_completed": 9,      // key exchange done (client reached user auth; telnet: connected)
//!   "auth_ok": 8, "auth_failed": 1, // finished authentications (success / final reject)
//!   "channels": 8,                  // session channels opened
//!   "commands": 8,                  // exec commands + shell lines run
//!   "bytes_sent": 12345,            // channel payload bytes sent (stdout + stderr + echo)
//!   "current_sessions": 0, "peak_sessions": 5,
//!   "peak_sessions_per_group": {"access": 4, "core": 1},
//!   "max_new_sessions_per_1s_window": 7,   // most TCP accepts within any sliding 1 s
//!   "new_sessions_per_second": [7, 3],     // accepts in each second since start
//!   "sessions_per_device": {"lab-ios-0001": 2}  // devices with at least one session
//! }
//! ```

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A snapshot of the lab's counters (see the module docs for the JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Milliseconds since the lab started.
    pub uptime_ms: u64,
    /// TCP connections accepted.
    pub sessions_accepted: u64,
    /// Key exchanges completed (the client reached user authentication).
    pub handshakes_completed: u64,
    /// Successful authentications.
    pub auth_ok: u64,
    /// Rejected authentication attempts (password or signed public key).
    pub auth_failed: u64,
    /// Session channels opened.
    pub channels: u64,
    /// Commands run (exec requests and shell lines).
    pub commands: u64,
    /// Channel payload bytes sent to clients.
    pub bytes_sent: u64,
    /// Sessions open now.
    pub current_sessions: u64,
    /// Most sessions open at once.
    pub peak_sessions: u64,
    /// Most sessions open at once, per role group.
    pub peak_sessions_per_group: BTreeMap<String, u64>,
    /// Most TCP accepts within any sliding 1 s window.
    pub max_new_sessions_per_1s_window: u64,
    /// TCP accepts in each whole second since the lab started.
    pub new_sessions_per_second: Vec<u64>,
    /// Sessions per device, for devices with at least one.
    pub sessions_per_device: BTreeMap<String, u64>,
}

/// Current and peak gauge.
#[derive(Debug, Default)]
struct Gauge {
    current: AtomicU64,
    peak: AtomicU64,
}

impl Gauge {
    fn inc(&self) {
        let now = self.current.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }
    fn dec(&self) {
        self.current.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Accept times for the sliding window and the per-second histogram.
#[derive(Debug, Default)]
struct Rate {
    window: VecDeque<Instant>,
    max_in_window: u64,
    per_second: Vec<u64>,
}

/// The live counters, shared by every connection task.
#[derive(Debug)]
pub(crate) struct LiveCounters {
    started: Instant,
    accepted: AtomicU64,
    handshakes: AtomicU64,
    auth_ok: AtomicU64,
    auth_failed: AtomicU64,
    channels: AtomicU64,
    commands: AtomicU64,
    bytes_sent: AtomicU64,
    sessions: Gauge,
    /// Group names and their gauges, indexed by group id.
    groups: Vec<(String, Gauge)>,
    /// Device names and their session counts, indexed by device id.
    devices: Vec<(String, AtomicU64)>,
    rate: Mutex<Rate>,
}

/// Decrements the session gauges when a connection ends, however it ends.
pub(crate) struct SessionGuard<'a> {
    counters: &'a LiveCounters,
    group: usize,
}

impl Drop for SessionGuard<'_> {
    fn drop(&mut self) {
        self.counters.sessions.dec();
        if let Some((_, g)) = self.counters.groups.get(self.group) {
            g.dec();
        }
    }
}

impl LiveCounters {
    pub(crate) fn new(groups: Vec<String>, devices: Vec<String>) -> Self {
        LiveCounters {
            started: Instant::now(),
            accepted: AtomicU64::new(0),
            handshakes: AtomicU64::new(0),
            auth_ok: AtomicU64::new(0),
            auth_failed: AtomicU64::new(0),
            channels: AtomicU64::new(0),
            commands: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            sessions: Gauge::default(),
            groups: groups.into_iter().map(|g| (g, Gauge::default())).collect(),
            devices: devices
                .into_iter()
                .map(|d| (d, AtomicU64::new(0)))
                .collect(),
            rate: Mutex::new(Rate::default()),
        }
    }

    /// Records an accepted TCP connection; the guard ends the session.
    pub(crate) fn session_started(&self, device: usize, group: usize) -> SessionGuard<'_> {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.sessions.inc();
        if let Some((_, g)) = self.groups.get(group) {
            g.inc();
        }
        if let Some((_, d)) = self.devices.get(device) {
            d.fetch_add(1, Ordering::Relaxed);
        }
        let now = Instant::now();
        let second = now.duration_since(self.started).as_secs() as usize;
        if let Ok(mut rate) = self.rate.lock() {
            while rate
                .window
                .front()
                .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
            {
                rate.window.pop_front();
            }
            rate.window.push_back(now);
            rate.max_in_window = rate.max_in_window.max(rate.window.len() as u64);
            if rate.per_second.len() <= second {
                rate.per_second.resize(second + 1, 0);
            }
            rate.per_second[second] += 1;
        }
        SessionGuard {
            counters: self,
            group,
        }
    }

    pub(crate) fn handshake(&self) {
        self.handshakes.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn auth(&self, ok: bool) {
        let c = if ok { &self.auth_ok } else { &self.auth_failed };
        c.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn channel(&self) {
        self.channels.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn command(&self) {
        self.commands.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn sent(&self, bytes: usize) {
        self.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// A consistent-enough snapshot (each field read once).
    pub(crate) fn snapshot(&self) -> Counters {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let (max_window, per_second) = match self.rate.lock() {
            Ok(rate) => (rate.max_in_window, rate.per_second.clone()),
            Err(_) => (0, Vec::new()),
        };
        Counters {
            uptime_ms: self.started.elapsed().as_millis() as u64,
            sessions_accepted: load(&self.accepted),
            handshakes_completed: load(&self.handshakes),
            auth_ok: load(&self.auth_ok),
            auth_failed: load(&self.auth_failed),
            channels: load(&self.channels),
            commands: load(&self.commands),
            bytes_sent: load(&self.bytes_sent),
            current_sessions: load(&self.sessions.current),
            peak_sessions: load(&self.sessions.peak),
            peak_sessions_per_group: self
                .groups
                .iter()
                .map(|(name, g)| (name.clone(), load(&g.peak)))
                .collect(),
            max_new_sessions_per_1s_window: max_window,
            new_sessions_per_second: per_second,
            sessions_per_device: self
                .devices
                .iter()
                .filter(|(_, n)| load(n) > 0)
                .map(|(name, n)| (name.clone(), load(n)))
                .collect(),
        }
    }
}
