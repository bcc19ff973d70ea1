//! `-p auto -t auto`: fleet picks processes × threads from what it knows and
//! what it measures, and says why.
//!
//! Everything here is a pure function of its inputs, so that every decision
//! can be replayed in a unit test and recorded verbatim in `run.json`:
//!
//! - [`Facts`]: what is known before the first session (cores, the fd limit,
//!   devices, `--connect-rate`, the group caps, fixed `-p`/`-t` values).
//! - [`Sample`]: what the first sessions cost (client CPU and wall time per
//!   session), measured on real devices whose results count.
//! - [`probe`]: the layout to start with, before anything is measured.
//! - [`decide`]: the layout that saturates the bottleneck and nothing more,
//!   with the [`Bottleneck`] that set it and a one-line reason.
//! - [`should_change`]: whether a new decision differs enough from the
//!   current layout to be worth applying mid-run (hysteresis).
//!
//! The total number of slots is the minimum of: the devices left, the fd
//! budget, rate × session time, the sum of group caps, and the concurrency
//! that keeps the cores at [`TARGET_CPU`] given CPU and wall per session.
//! The split into P × T then gives P a reason: crash isolation (two workers
//! once there is enough work to share), the per-process fd limit, and a cap
//! on threads per process; threads never exceed devices.
#![deny(missing_docs)]

use serde::{Deserialize, Serialize};
use std::fmt;

/// Share of the cores the client may use: a little headroom keeps the master,
/// the logs and (on loopback labs) the devices themselves responsive.
pub const TARGET_CPU: f64 = 0.9;

/// File descriptors one session holds in a worker (socket, plus a second one
/// through a jump host); counted generously because running out is fatal.
pub const FDS_PER_SESSION: u64 = 3;

/// File descriptors a worker keeps for itself (logs, IPC, std streams).
pub const FDS_RESERVED: u64 = 64;

/// Most threads auto puts in one process: past this, a worker's crash takes
/// too many sessions with it and its log becomes hard to read.
pub const MAX_AUTO_THREADS: u32 = 256;

/// Most slots auto will run at once, whatever the measurements say.
pub const MAX_AUTO_SLOTS: u32 = 4096;

/// Slots used to probe before anything is measured: enough sessions to
/// measure quickly without flooding a fleet whose behaviour is unknown.
/// 16 per core is fleet's old fixed default on 2 cores (2×16): auto never
/// starts more aggressively than fleet did before it, and a larger probe
/// wastes less of the first second when sessions turn out to be slow (the
/// `mixed` workload of `make bench`: 8 probe slots made auto 12% slower
/// than the best fixed layout, the probe's second being most of it).
pub const PROBE_SLOTS_PER_CORE: u32 = 16;

/// Below this many slots a second worker buys nothing worth its start-up.
pub const ISOLATION_MIN_SLOTS: u32 = 8;

/// What is known before the first session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Facts {
    /// Cores the client can use.
    pub cores: u32,
    /// The soft `RLIMIT_NOFILE` every worker inherits.
    pub fd_limit: u64,
    /// Devices not yet finished.
    pub devices_left: u64,
    /// `--connect-rate`, new sessions per second, when given.
    pub connect_rate: Option<f64>,
    /// Sum over the inventory's groups of `--max-per-group`, when every device
    /// is in a capped group (otherwise caps cannot bound the total).
    pub group_cap_sum: Option<u64>,
    /// `-p N` given explicitly: respected as is.
    pub fixed_processes: Option<u32>,
    /// `-t N` given explicitly: respected as is.
    pub fixed_threads: Option<u32>,
}

/// What the sessions measured so far cost, per session.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Sessions the figures are averaged over.
    pub sessions: u64,
    /// Client CPU (user + system, all of fleet) per session, in seconds.
    pub cpu_s: f64,
    /// Wall time per session (connect, auth, commands), in seconds.
    pub wall_s: f64,
    /// CPU per session of the whole machine (every process, idle and iowait
    /// excluded), in seconds, when it could be read. It counts whatever
    /// shares the cores with fleet: a loopback lab, other jobs. At
    /// saturation a session's wall time grows with the slots (it queues for
    /// a core), so Little's law on fleet's CPU alone would ask for ever more
    /// slots; on the machine's CPU it settles at the slots the cores serve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_cpu_s: Option<f64>,
}

/// Share of the machine's CPU fleet's sessions must do before the machine's
/// figure stands for them: then the rest works for them (a loopback lab) or
/// competes with them for the same cores, and the cores are what more slots
/// would queue for. Below it, fleet is not what keeps the machine busy (a
/// build next door): its own CPU decides, so unrelated load does not starve
/// a latency-bound run of slots.
pub const MACHINE_SHARE: f64 = 0.25;

impl Sample {
    /// The CPU a session costs the cores: fleet's, or the machine's when
    /// fleet does at least [`MACHINE_SHARE`] of it.
    pub fn cores_cpu_s(&self) -> f64 {
        match self.machine_cpu_s {
            Some(m) if m > self.cpu_s && self.cpu_s >= m * MACHINE_SHARE => m,
            _ => self.cpu_s,
        }
    }
}

/// What limits the total number of slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bottleneck {
    /// Fewer devices are left than any other limit allows.
    Devices,
    /// The fd limit across the workers.
    FdBudget,
    /// `--connect-rate` × session time.
    ConnectRate,
    /// The sum of the group caps.
    GroupCaps,
    /// The cores: more sessions would only queue for CPU.
    Cpu,
    /// [`MAX_AUTO_SLOTS`], or fixed `-p`/`-t` values.
    Ceiling,
    /// Nothing measured yet: the probe layout.
    Probe,
}

impl fmt::Display for Bottleneck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Bottleneck::Devices => "devices left",
            Bottleneck::FdBudget => "fd budget",
            Bottleneck::ConnectRate => "connect rate",
            Bottleneck::GroupCaps => "group caps",
            Bottleneck::Cpu => "cores",
            Bottleneck::Ceiling => "ceiling",
            Bottleneck::Probe => "probe",
        })
    }
}

/// A layout and why: what `run.json` records under `layout.auto`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Worker processes (at least 1: auto never runs sessions in the master).
    pub processes: u32,
    /// Threads per worker process.
    pub threads: u32,
    /// Slots wanted in all; `processes × threads` may round it up.
    pub slots: u32,
    /// The limit that set `slots`.
    pub bottleneck: Bottleneck,
    /// Every candidate limit, for the record (None: not a limit here).
    pub limits: Limits,
    /// Why P is what it is.
    pub processes_reason: ProcessReason,
    /// The measurements the decision used, if any.
    pub sample: Option<Sample>,
}

/// The candidate totals [`decide`] took the minimum of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Devices left.
    pub devices: u64,
    /// fd budget across at most [`MAX_AUTO_SLOTS`] / per-process threads.
    pub fd: u64,
    /// `--connect-rate` × session wall.
    pub rate: Option<u64>,
    /// Sum of the group caps.
    pub groups: Option<u64>,
    /// Concurrency that keeps the cores at [`TARGET_CPU`].
    pub cpu: Option<u64>,
}

/// Why a decision has the number of processes it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessReason {
    /// `-p N` was given.
    Fixed,
    /// Too few slots for a second worker to matter.
    Single,
    /// Two workers, so that a crash takes at most half the sessions with it.
    Isolation,
    /// More workers because one process may hold only so many threads
    /// (per-process fd limit or [`MAX_AUTO_THREADS`]).
    PerProcessLimit,
}

impl fmt::Display for ProcessReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProcessReason::Fixed => "fixed by -p",
            ProcessReason::Single => "one worker: too few slots to share",
            ProcessReason::Isolation => "two workers: a crash takes half the sessions at most",
            ProcessReason::PerProcessLimit => "threads per process capped by fds or size",
        })
    }
}

impl Facts {
    /// Threads one process may hold: its fd limit and [`MAX_AUTO_THREADS`].
    pub fn threads_per_process_cap(&self) -> u32 {
        let by_fd = self.fd_limit.saturating_sub(FDS_RESERVED) / FDS_PER_SESSION;
        by_fd.clamp(1, MAX_AUTO_THREADS as u64) as u32
    }

    /// The fd budget in slots: per-process capacity times the most workers
    /// auto would start (fixed `-p`, or enough for [`MAX_AUTO_SLOTS`]).
    fn fd_slots(&self) -> u64 {
        let per = self.fd_limit.saturating_sub(FDS_RESERVED) / FDS_PER_SESSION;
        match self.fixed_processes {
            Some(p) => per * p.max(1) as u64,
            None => per.saturating_mul(MAX_AUTO_SLOTS as u64).max(1),
        }
    }
}

/// The layout to start with, before any session has been measured: a few
/// slots per core, never more than devices, within fixed values.
pub fn probe(facts: &Facts) -> Decision {
    let want = (facts.cores.max(1) * PROBE_SLOTS_PER_CORE) as u64;
    let limits = Limits {
        devices: facts.devices_left,
        fd: facts.fd_slots(),
        rate: None,
        groups: facts.group_cap_sum,
        cpu: None,
    };
    let mut slots = want.min(limits.devices).min(limits.fd);
    if let Some(g) = limits.groups {
        slots = slots.min(g);
    }
    split(facts, slots.max(1) as u32, Bottleneck::Probe, limits, None)
}

/// The layout that saturates the bottleneck and nothing more, given the
/// facts and what the sessions so far cost.
pub fn decide(facts: &Facts, sample: Sample) -> Decision {
    let wall = sample.wall_s.max(1e-6);
    let cpu_per = sample.cores_cpu_s().max(1e-6);
    let cores = facts.cores.max(1) as f64;
    // Little's law: c sessions in flight use c × cpu/wall cores.
    let cpu_limit = (TARGET_CPU * cores * wall / cpu_per).ceil().max(1.0);
    let limits = Limits {
        devices: facts.devices_left,
        fd: facts.fd_slots(),
        // A session slot is reused every `wall` seconds, so rate × wall slots
        // are enough to start `rate` sessions a second (plus one in hand).
        rate: facts.connect_rate.map(|r| (r * wall).ceil() as u64 + 1),
        groups: facts.group_cap_sum,
        cpu: Some(clamp_u64(cpu_limit)),
    };
    let mut candidates: Vec<(u64, Bottleneck)> = vec![
        (limits.devices, Bottleneck::Devices),
        (limits.fd, Bottleneck::FdBudget),
        (MAX_AUTO_SLOTS as u64, Bottleneck::Ceiling),
    ];
    if let Some(r) = limits.rate {
        candidates.push((r, Bottleneck::ConnectRate));
    }
    if let Some(g) = limits.groups {
        candidates.push((g, Bottleneck::GroupCaps));
    }
    if let Some(c) = limits.cpu {
        candidates.push((c, Bottleneck::Cpu));
    }
    // The first minimum wins: devices before the others when they tie.
    let (slots, bottleneck) =
        candidates
            .into_iter()
            .fold((u64::MAX, Bottleneck::Ceiling), |best, c| {
                if c.0 < best.0 {
                    c
                } else {
                    best
                }
            });
    split(facts, slots.max(1) as u32, bottleneck, limits, Some(sample))
}

fn clamp_u64(x: f64) -> u64 {
    if x.is_finite() && x < u64::MAX as f64 {
        x as u64
    } else {
        u64::MAX
    }
}

/// Splits `slots` into P × T, respecting fixed values, and gives P a reason.
fn split(
    facts: &Facts,
    slots: u32,
    bottleneck: Bottleneck,
    limits: Limits,
    sample: Option<Sample>,
) -> Decision {
    let cap = facts.threads_per_process_cap();
    let (processes, threads, reason, bottleneck) =
        match (facts.fixed_processes, facts.fixed_threads) {
            (Some(p), Some(t)) => (p, t, ProcessReason::Fixed, Bottleneck::Ceiling),
            (Some(p), None) => {
                let p1 = p.max(1);
                let t = slots.div_ceil(p1).clamp(1, cap);
                (p, t, ProcessReason::Fixed, bottleneck)
            }
            (None, Some(t)) => {
                let t = t.max(1);
                let p = slots.div_ceil(t).max(1);
                let reason = if p == 1 {
                    ProcessReason::Single
                } else {
                    ProcessReason::PerProcessLimit
                };
                (p, t, reason, bottleneck)
            }
            (None, None) => {
                let needed = slots.div_ceil(cap);
                let (p, reason) = if needed >= 2 {
                    (needed, ProcessReason::PerProcessLimit)
                } else if slots >= ISOLATION_MIN_SLOTS {
                    (2, ProcessReason::Isolation)
                } else {
                    (1, ProcessReason::Single)
                };
                (p, slots.div_ceil(p).max(1), reason, bottleneck)
            }
        };
    Decision {
        processes,
        threads,
        slots,
        bottleneck,
        limits,
        processes_reason: reason,
        sample,
    }
}

/// Whether `next` is worth applying over the `current` total of slots: a
/// change of at least a quarter (or to or from very few slots), so that noise
/// in the measurements does not make the layout flap.
pub fn should_change(current_slots: u32, next: &Decision) -> bool {
    let (a, b) = (current_slots.max(1) as f64, next.slots.max(1) as f64);
    let ratio = if a > b { a / b } else { b / a };
    ratio >= 1.25 || (current_slots != next.slots && (current_slots <= 2 || next.slots <= 2))
}

impl Decision {
    /// Total slots the layout really has (`processes × threads`).
    pub fn total(&self) -> u32 {
        self.processes.max(1).saturating_mul(self.threads)
    }

    /// The one line printed on stderr at the start and on each change.
    pub fn explain(&self, facts: &Facts) -> String {
        let mut s = format!("auto: {}×{}: ", self.processes, self.threads);
        match self.sample {
            Some(m) => {
                s.push_str(&format!(
                    "sessions wait {} and use {} CPU",
                    human_secs(m.wall_s),
                    human_secs(m.cpu_s),
                ));
                if m.cores_cpu_s() > m.cpu_s * 1.1 {
                    s.push_str(&format!(
                        " ({} with the rest of the machine)",
                        human_secs(m.cores_cpu_s())
                    ));
                }
                s.push_str(&format!(
                    "; {} slots keep {} core{} ~{:.0}% busy",
                    self.total(),
                    facts.cores,
                    if facts.cores == 1 { "" } else { "s" },
                    (100.0 * self.total() as f64 * m.cores_cpu_s()
                        / m.wall_s.max(1e-9)
                        / facts.cores.max(1) as f64)
                        .min(100.0),
                ));
            }
            None => s.push_str(&format!("probing with {} slots", self.total())),
        }
        s.push_str(&format!(
            "; limited by {}; fd budget {} per process; {}",
            self.bottleneck, facts.fd_limit, self.processes_reason
        ));
        s
    }
}

/// `layout.auto` in `run.json`: what auto knew, and every decision it took
/// during the run, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoLog {
    /// The facts known before the first session (`devices_left` is the
    /// run's device count; each step records its own).
    pub facts: Facts,
    /// The probe, then each evaluation of the measurements.
    pub steps: Vec<Step>,
}

/// One decision of a run and the layout in force after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Milliseconds since the run started.
    pub at_ms: u64,
    /// Devices not finished at that moment.
    pub devices_left: u64,
    /// What [`probe`] or [`decide`] said.
    pub decision: Decision,
    /// Worker processes in force after this step (processes are chosen
    /// once, at the start; later steps change threads only).
    pub processes: u32,
    /// Threads per worker in force after this step.
    pub threads: u32,
    /// Whether this step changed the layout (the probe counts as one).
    pub changed: bool,
}

fn human_secs(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.1} s")
    } else if s >= 1e-3 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{:.0} µs", s * 1e6)
    }
}

#[cfg(test)]
mod tests;
