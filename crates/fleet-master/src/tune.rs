//! `-p auto` / `-t auto` during a run: measures what sessions cost and
//! turns [`fleet_autotune`]'s decisions into thread counts.
//!
//! Pure like the dispatcher's machine: the shell feeds it results, the CPU
//! each worker reports with its heartbeat, the master's own CPU and the
//! time, and carries out what [`Tuner::tick`] returns (resize the workers,
//! log, print). Processes are chosen once, by the probe, before any worker
//! starts; later decisions change the threads per worker only.
//!
//! CPU and sessions are counted over the same intervals: a worker's CPU
//! growth between two of its reports is set against the sessions it
//! finished between them (its results travel on the same channel, ahead of
//! the report), so a session is never counted without its CPU or the other
//! way round. The first report of a worker is a baseline: its start-up CPU
//! is no session's.
//!
//! CPU per session is not simply the window's CPU over the sessions that
//! ended in it: while the layout grows, hundreds of sessions start (and pay
//! for their key exchange) in a window where only the probe's few end, and
//! that quotient says sessions cost ten times what they do. So the window
//! also integrates the running sessions over time (slot-seconds): CPU per
//! slot-second is what a running session costs the cores, and times the
//! mean session wall it is the CPU of one session, ramp or no ramp.

use crate::dispatch::machine::WorkerKey;
use fleet_autotune::{decide, probe, should_change, AutoLog, Bottleneck, Decision, Facts, Step};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Sessions measured before the first decision: one round of the probe
/// slots on a small machine, few enough to decide within the first seconds.
pub const FIRST_SESSIONS: u64 = 8;

/// Sessions needed in a window before a later decision.
pub const MIN_SESSIONS: u64 = 8;

/// How often the measurements are looked at again after the first decision:
/// often, because the first decision rests on a few sessions measured while
/// the run starts up; [`should_change`]'s hysteresis keeps the layout from
/// flapping on noise.
pub const EVERY: Duration = Duration::from_secs(1);

/// Most steps kept in `run.json`; past this only changes are recorded.
pub const MAX_STEPS: usize = 1000;

/// What the shell must do after a [`Tuner::tick`].
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The step just recorded.
    pub step: Step,
    /// New threads per worker, when the layout changes.
    pub set_threads: Option<u32>,
    /// The one line for stderr (the first measured decision only).
    pub print: Option<String>,
    /// The line for `master.log`: a `layout_change` lifecycle event when
    /// the layout changes.
    pub log: String,
}

/// Sessions a worker finished since its last CPU report.
#[derive(Debug, Default, Clone, Copy)]
struct Pending {
    /// CPU the worker reported last (None: no baseline yet).
    cpu_ms: Option<f64>,
    sessions: u64,
    wall_s: f64,
}

/// The controller of an auto layout.
#[derive(Debug)]
pub struct Tuner {
    facts: Facts,
    started: Instant,
    processes: u32,
    threads: u32,
    log: AutoLog,
    /// The master's CPU counts too (worker processes); with `-p 0` the
    /// in-process pool's report already covers the whole process.
    count_master: bool,
    master_cpu_ms: Option<f64>,
    /// The machine's busy CPU at the last reading (None: no baseline yet,
    /// or the machine does not say).
    machine_cpu_ms: Option<f64>,
    window_machine_ms: f64,
    workers: HashMap<WorkerKey, Pending>,
    window_cpu_ms: f64,
    window_sessions: u64,
    window_wall_s: f64,
    /// Running sessions integrated over time since the last decision.
    window_busy_s: f64,
    /// The last [`Tuner::on_running`] sample: when, and how many ran.
    running: Option<(Instant, u64)>,
    measured: bool,
    last_eval: Instant,
}

impl Tuner {
    /// Starts with the probe layout for `facts` (`facts.devices_left` is
    /// the run's device count).
    pub fn new(facts: Facts, now: Instant) -> Tuner {
        let d = probe(&facts);
        let (processes, threads) = (d.processes, d.threads);
        let step = Step {
            at_ms: 0,
            devices_left: facts.devices_left,
            decision: d,
            processes,
            threads,
            changed: true,
        };
        Tuner {
            count_master: processes > 0,
            log: AutoLog {
                facts: facts.clone(),
                steps: vec![step],
            },
            facts,
            started: now,
            processes,
            threads,
            master_cpu_ms: None,
            machine_cpu_ms: None,
            window_machine_ms: 0.0,
            workers: HashMap::new(),
            window_cpu_ms: 0.0,
            window_sessions: 0,
            window_wall_s: 0.0,
            window_busy_s: 0.0,
            running: None,
            measured: false,
            last_eval: now,
        }
    }

    /// The layout to start the workers with (the probe's).
    pub fn layout(&self) -> (u32, u32) {
        (self.processes, self.threads)
    }

    /// Whether a decision from measurements has been taken (the probe is over).
    pub fn measured(&self) -> bool {
        self.measured
    }

    /// Everything decided so far, for `run.json`.
    pub fn log(&self) -> &AutoLog {
        &self.log
    }

    /// A session of `worker` ended after `wall_ms` (results without a
    /// session, such as cancelled devices, are not given here).
    pub fn on_session(&mut self, worker: WorkerKey, wall_ms: f64) {
        let p = self.workers.entry(worker).or_default();
        p.sessions += 1;
        p.wall_s += wall_ms / 1e3;
    }

    /// `worker` reported its process CPU so far: the growth since its last
    /// report is the cost of the sessions it finished in between.
    pub fn on_worker_cpu(&mut self, worker: WorkerKey, cpu_ms: f64) {
        let p = self.workers.entry(worker).or_default();
        if let Some(last) = p.cpu_ms {
            self.window_cpu_ms += (cpu_ms - last).max(0.0);
            self.window_sessions += p.sessions;
            self.window_wall_s += p.wall_s;
        }
        p.cpu_ms = Some(cpu_ms);
        p.sessions = 0;
        p.wall_s = 0.0;
    }

    /// The master's own CPU so far (worker processes only: fleet's cost
    /// includes the dispatcher's).
    pub fn on_master_cpu(&mut self, cpu_ms: f64) {
        if !self.count_master {
            return;
        }
        if let Some(last) = self.master_cpu_ms {
            self.window_cpu_ms += (cpu_ms - last).max(0.0);
        }
        self.master_cpu_ms = Some(cpu_ms);
    }

    /// The machine's busy CPU so far (every process; see
    /// [`machine_cpu_ms`]), when it can be read.
    pub fn on_machine_cpu(&mut self, cpu_ms: Option<f64>) {
        let Some(ms) = cpu_ms else { return };
        if let Some(last) = self.machine_cpu_ms {
            self.window_machine_ms += (ms - last).max(0.0);
        }
        self.machine_cpu_ms = Some(ms);
    }

    /// `running` sessions run now: the time since the last call counts as
    /// busy for as many sessions as ran then.
    pub fn on_running(&mut self, now: Instant, running: u64) {
        if let Some((then, n)) = self.running {
            self.window_busy_s += n as f64 * now.saturating_duration_since(then).as_secs_f64();
        }
        self.running = Some((now, running));
    }

    /// Looks at the measurements when it is time to, records the decision
    /// and says what to change.
    pub fn tick(&mut self, now: Instant, devices_left: u64) -> Option<Verdict> {
        let due = if self.measured {
            self.window_sessions >= MIN_SESSIONS && now.duration_since(self.last_eval) >= EVERY
        } else {
            self.window_sessions >= FIRST_SESSIONS.min(self.facts.devices_left.max(1))
        };
        if !due || devices_left == 0 {
            return None;
        }
        self.on_running(now, self.running.map_or(0, |r| r.1));
        let wall_s = self.window_wall_s / self.window_sessions as f64;
        let cpu_s = if self.window_busy_s > 0.0 {
            self.window_cpu_ms / 1e3 / self.window_busy_s * wall_s
        } else {
            self.window_cpu_ms / 1e3 / self.window_sessions as f64
        };
        // The probe's window also holds the start-up of every process on
        // the machine (workers, a loopback lab's first handshakes): the
        // machine's figure counts from the second decision on.
        let machine_cpu_s =
            (self.measured && self.machine_cpu_ms.is_some() && self.window_busy_s > 0.0)
                .then(|| self.window_machine_ms / 1e3 / self.window_busy_s * wall_s);
        let sample = fleet_autotune::Sample {
            sessions: self.window_sessions,
            cpu_s,
            wall_s,
            machine_cpu_s,
        };
        self.window_cpu_ms = 0.0;
        self.window_sessions = 0;
        self.window_wall_s = 0.0;
        self.window_busy_s = 0.0;
        self.window_machine_ms = 0.0;
        self.last_eval = now;
        let first = !self.measured;
        self.measured = true;
        let facts = Facts {
            devices_left,
            ..self.facts.clone()
        };
        let d = decide(&facts, sample);
        let threads = self.threads_for(&d);
        let current = self.processes.max(1) * self.threads;
        // Idle threads at the end of a run cost nothing: fewer devices left
        // is no reason to resize.
        let tail = d.bottleneck == Bottleneck::Devices && d.slots < current;
        let changed = threads != self.threads && !tail && should_change(current, &d);
        let before = self.threads;
        if changed {
            self.threads = threads;
        }
        // What is in force: P (and its reason) stays the probe's.
        let shown = Decision {
            processes: self.processes,
            threads: self.threads,
            processes_reason: self.log.steps[0].decision.processes_reason,
            ..d.clone()
        };
        let line = shown.explain(&facts);
        let step = Step {
            at_ms: now.duration_since(self.started).as_millis() as u64,
            devices_left,
            decision: d,
            processes: self.processes,
            threads: self.threads,
            changed,
        };
        if changed || self.log.steps.len() < MAX_STEPS {
            self.log.steps.push(step.clone());
        }
        let log = if changed {
            fleet_proto::event::Lifecycle::LayoutChange {
                processes: self.processes as usize,
                threads: self.threads as usize,
                reason: format!("auto, was {}x{before}: {line}", self.processes),
            }
            .to_string()
        } else {
            format!("layout kept: {line}")
        };
        Some(Verdict {
            step,
            set_threads: changed.then_some(self.threads),
            print: first.then_some(line),
            log,
        })
    }

    /// Threads per worker that give the decision's slots with the
    /// processes already running, within the per-process cap.
    fn threads_for(&self, d: &Decision) -> u32 {
        match self.facts.fixed_threads {
            Some(t) => t,
            None => d
                .slots
                .div_ceil(self.processes.max(1))
                .clamp(1, self.facts.threads_per_process_cap()),
        }
    }
}

/// Busy CPU time of the whole machine so far, milliseconds: every core's
/// time in user, nice, system, irq, softirq and steal (not idle, not
/// iowait), from the first line of `/proc/stat`. None where there is no
/// `/proc/stat` (not Linux) or it does not parse: auto then goes by
/// fleet's own CPU alone.
pub fn machine_cpu_ms() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|t| *t > 0)? as f64;
    parse_proc_stat_busy(&text).map(|busy| busy as f64 * 1e3 / ticks)
}

/// Busy ticks from `/proc/stat`'s aggregate `cpu` line.
fn parse_proc_stat_busy(text: &str) -> Option<u64> {
    let line = text.lines().next()?;
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let v: Vec<u64> = fields.map(|f| f.parse().ok()).collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice]:
    // guest time is already inside user and nice.
    if v.len() < 8 {
        return None;
    }
    Some(v[0] + v[1] + v[2] + v[5] + v[6] + v[7])
}

/// CPU time (user + system) of this process so far, milliseconds.
pub fn process_cpu_ms() -> f64 {
    use nix::sys::resource::{getrusage, UsageWho};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let ms =
                |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 * 1e3 + tv.tv_usec() as f64 / 1e3;
            ms(u.user_time()) + ms(u.system_time())
        }
        Err(_) => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W0: WorkerKey = WorkerKey {
        slot: 0,
        generation: 0,
    };
    const W1: WorkerKey = WorkerKey {
        slot: 1,
        generation: 0,
    };

    fn facts(devices: u64) -> Facts {
        Facts {
            cores: 2,
            fd_limit: 65536,
            devices_left: devices,
            connect_rate: None,
            group_cap_sum: None,
            fixed_processes: None,
            fixed_threads: None,
        }
    }

    /// Feeds `n` sessions of `wall_ms` costing `cpu_ms` each to worker `w`,
    /// then its CPU report.
    fn sessions(
        t: &mut Tuner,
        w: WorkerKey,
        cpu_so_far: &mut f64,
        n: u64,
        wall_ms: f64,
        cpu_ms: f64,
    ) {
        for _ in 0..n {
            t.on_session(w, wall_ms);
        }
        *cpu_so_far += n as f64 * cpu_ms;
        t.on_worker_cpu(w, *cpu_so_far);
    }

    #[test]
    fn starts_with_the_probe_layout_and_records_it() {
        let t = Tuner::new(facts(1000), Instant::now());
        assert_eq!(t.layout(), (2, 16));
        assert_eq!(t.log().steps.len(), 1);
        assert_eq!(t.log().steps[0].decision.bottleneck, Bottleneck::Probe);
    }

    #[test]
    fn nothing_is_decided_before_enough_sessions_are_measured() {
        let t0 = Instant::now();
        let mut t = Tuner::new(facts(1000), t0);
        let mut cpu = 0.0;
        t.on_worker_cpu(W0, 0.0);
        sessions(&mut t, W0, &mut cpu, 5, 500.0, 2.0);
        assert!(t.tick(t0 + Duration::from_secs(1), 995).is_none());
    }

    #[test]
    fn the_first_report_of_a_worker_is_a_baseline_not_a_cost() {
        let t0 = Instant::now();
        let mut t = Tuner::new(facts(1000), t0);
        // 50 ms of start-up CPU and 8 sessions before the first report.
        for _ in 0..8 {
            t.on_session(W0, 500.0);
        }
        t.on_worker_cpu(W0, 50.0);
        assert!(t.tick(t0 + Duration::from_secs(1), 992).is_none());
    }

    #[test]
    fn slow_cheap_sessions_grow_the_threads_and_print_one_line() {
        let t0 = Instant::now();
        let mut t = Tuner::new(facts(10_000), t0);
        let mut cpu = [0.0, 0.0];
        t.on_worker_cpu(W0, 0.0);
        t.on_worker_cpu(W1, 0.0);
        sessions(&mut t, W0, &mut cpu[0], 4, 500.0, 2.0);
        sessions(&mut t, W1, &mut cpu[1], 4, 500.0, 2.0);
        let v = t.tick(t0 + Duration::from_secs(1), 9992).unwrap();
        // 0.9 × 2 cores × 0.5 s / 2 ms = 450 slots: 2 × 225.
        assert_eq!(v.set_threads, Some(225));
        assert_eq!(v.step.decision.bottleneck, Bottleneck::Cpu);
        let line = v.print.unwrap();
        assert!(
            line.starts_with("auto: 2×225: sessions wait 500.0 ms and use 2.0 ms CPU"),
            "{line}"
        );
        match fleet_proto::event::Lifecycle::parse(&v.log) {
            Some(Ok(fleet_proto::event::Lifecycle::LayoutChange {
                processes,
                threads,
                reason,
            })) => {
                assert_eq!((processes, threads), (2, 225));
                assert!(
                    reason.starts_with("auto, was 2x16: auto: 2×225"),
                    "{reason}"
                );
            }
            other => panic!("not a layout_change event: {other:?} from {}", v.log),
        }
        assert_eq!(t.log().steps.len(), 2);
    }

    #[test]
    fn later_decisions_wait_for_the_period_and_print_nothing() {
        let t0 = Instant::now();
        let mut t = Tuner::new(facts(10_000), t0);
        let mut cpu = 0.0;
        t.on_worker_cpu(W0, 0.0);
        sessions(&mut t, W0, &mut cpu, 8, 500.0, 2.0);
        t.tick(t0 + Duration::from_secs(1), 9992).unwrap();
        // Sessions get 10 times cheaper in wall time: CPU-bound now.
        sessions(&mut t, W0, &mut cpu, 20, 50.0, 2.0);
        assert!(
            t.tick(t0 + EVERY / 2 + Duration::from_secs(1), 9972)
                .is_none(),
            "too soon"
        );
        let v = t.tick(t0 + EVERY + Duration::from_secs(1), 9972).unwrap();
        assert!(v.print.is_none());
        // 0.9 × 2 × 0.05 / 0.002 = 45 slots: 2 × 23.
        assert_eq!(v.set_threads, Some(23));
    }

    #[test]
    fn small_differences_keep_the_layout() {
        let t0 = Instant::now();
        let mut t = Tuner::new(facts(10_000), t0);
        let mut cpu = 0.0;
        t.on_worker_cpu(W0, 0.0);
        // 0.9 × 2 × 0.08 / 0.004 = 36 slots against 32: within hysteresis.
        sessions(&mut t, W0, &mut cpu, 8, 80.0, 4.0);
        let v = t.tick(t0 + Duration::from_secs(1), 9992).unwrap();
        assert_eq!(v.set_threads, None);
        assert!(!v.step.changed);
        assert!(
            v.print.is_some(),
            "the first decision is explained even when kept"
        );
        assert_eq!(t.layout(), (2, 16));
    }

    #[test]
    fn fewer_devices_left_never_shrinks_the_layout() {
        let t0 = Instant::now();
        let mut t = Tuner::new(facts(10_000), t0);
        let mut cpu = 0.0;
        t.on_worker_cpu(W0, 0.0);
        sessions(&mut t, W0, &mut cpu, 8, 500.0, 2.0);
        t.tick(t0 + Duration::from_secs(1), 9992).unwrap();
        sessions(&mut t, W0, &mut cpu, 8, 500.0, 2.0);
        let v = t.tick(t0 + Duration::from_secs(5), 10).unwrap();
        assert_eq!(v.step.decision.bottleneck, Bottleneck::Devices);
        assert_eq!(v.set_threads, None);
        assert_eq!(t.layout(), (2, 225));
    }

    #[test]
    fn fixed_threads_are_never_changed() {
        let t0 = Instant::now();
        let mut t = Tuner::new(
            Facts {
                fixed_threads: Some(10),
                ..facts(10_000)
            },
            t0,
        );
        let mut cpu = 0.0;
        t.on_worker_cpu(W0, 0.0);
        sessions(&mut t, W0, &mut cpu, 8, 500.0, 2.0);
        let v = t.tick(t0 + Duration::from_secs(1), 9992).unwrap();
        assert_eq!(v.set_threads, None);
        assert_eq!(t.layout().1, 10);
    }

    #[test]
    fn a_ramp_up_does_not_inflate_the_cost_of_a_session() {
        let t0 = Instant::now();
        let mut t = Tuner::new(facts(10_000), t0);
        let mut cpu = 0.0;
        t.on_worker_cpu(W0, 0.0);
        t.on_running(t0, 8);
        sessions(&mut t, W0, &mut cpu, 8, 2000.0, 2.0);
        let v = t.tick(t0 + Duration::from_secs(2), 9992).unwrap();
        let first = v.step.decision.sample.unwrap();
        // 8 slots busy for 2 s, 16 ms: 1 ms per slot-second, 2 ms a session.
        assert!((first.cpu_s - 0.002).abs() < 1e-9, "{first:?}");
        // Now 400 sessions start at once and pay 2 ms each for their key
        // exchange while only 8 end in the window: CPU per ended session
        // would say 100 ms; per slot-second it is still about 1 ms.
        t.on_running(t0 + Duration::from_secs(2), 400);
        sessions(&mut t, W0, &mut cpu, 8, 2000.0, 100.0);
        let v = t.tick(t0 + Duration::from_secs(5), 9984).unwrap();
        let s = v.step.decision.sample.unwrap();
        // 800 ms over 400 × 3 s of running sessions, times 2 s of wall.
        assert!((s.cpu_s - 0.8 / 1200.0 * 2.0).abs() < 1e-9, "{s:?}");
        assert_eq!(v.step.decision.bottleneck, Bottleneck::Cpu);
        assert!(v.step.decision.slots > 400, "{:?}", v.step.decision);
    }

    #[test]
    fn without_running_counts_cpu_is_split_over_the_ended_sessions() {
        let t0 = Instant::now();
        let mut t = Tuner::new(facts(10_000), t0);
        let mut cpu = 0.0;
        t.on_worker_cpu(W0, 0.0);
        sessions(&mut t, W0, &mut cpu, 8, 500.0, 3.0);
        let s = t
            .tick(t0 + Duration::from_secs(1), 9992)
            .unwrap()
            .step
            .decision
            .sample
            .unwrap();
        assert!((s.cpu_s - 0.003).abs() < 1e-9, "{s:?}");
    }

    #[test]
    fn the_machine_cpu_is_measured_per_running_session_too() {
        let t0 = Instant::now();
        let mut t = Tuner::new(facts(10_000), t0);
        let mut cpu = 0.0;
        t.on_worker_cpu(W0, 0.0);
        t.on_machine_cpu(Some(0.0));
        // The probe's decision goes by fleet's CPU alone (start-up noise).
        t.on_running(t0, 32);
        sessions(&mut t, W0, &mut cpu, 32, 40.0, 1.0);
        t.on_machine_cpu(Some(1000.0));
        let first = t.tick(t0, 9968).unwrap();
        assert_eq!(first.step.decision.sample.unwrap().machine_cpu_s, None);
        // 0.9 × 2 × 0.04 / 0.001 = 72 slots (73 after rounding up a float)
        // on fleet's CPU alone.
        assert!(matches!(first.set_threads, Some(36 | 37)), "{first:?}");
        // 1 s of 32 running sessions of 40 ms: 800 of them, 1 ms each of
        // fleet's CPU; the machine was busy 1.6 s (a loopback lab used the
        // other 0.8 s): 2 ms a session.
        sessions(&mut t, W0, &mut cpu, 800, 40.0, 1.0);
        t.on_machine_cpu(Some(2600.0));
        let v = t.tick(t0 + EVERY, 9168).unwrap();
        let s = v.step.decision.sample.unwrap();
        assert!((s.machine_cpu_s.unwrap() - 0.002).abs() < 1e-9, "{s:?}");
        // 0.9 × 2 × 0.04 / 0.002 = 36 slots: the cores are full at 36.
        assert!((36..=37).contains(&v.step.decision.slots), "{v:?}");
        assert!(matches!(v.set_threads, Some(18 | 19)), "{v:?}");
        assert!(v.log.contains("with the rest of the machine"), "{}", v.log);
    }

    #[test]
    fn proc_stat_busy_ticks_skip_idle_and_iowait() {
        let text = "cpu  100 5 50 9000 40 3 2 1 0 0\ncpu0 50 2 25 4500 20 1 1 0 0 0\n";
        assert_eq!(parse_proc_stat_busy(text), Some(100 + 5 + 50 + 3 + 2 + 1));
        assert_eq!(parse_proc_stat_busy("intr 1 2 3\n"), None);
        assert_eq!(parse_proc_stat_busy("cpu 1 2 x\n"), None);
        assert!(
            machine_cpu_ms().is_some(),
            "this Linux machine has /proc/stat"
        );
    }

    #[test]
    fn the_master_cpu_counts_with_worker_processes() {
        let t0 = Instant::now();
        let mut t = Tuner::new(facts(10_000), t0);
        let mut cpu = 0.0;
        t.on_master_cpu(100.0);
        t.on_worker_cpu(W0, 0.0);
        sessions(&mut t, W0, &mut cpu, 8, 500.0, 1.0);
        // 8 ms of master CPU for 8 sessions: 2 ms each in all.
        t.on_master_cpu(108.0);
        let v = t.tick(t0 + Duration::from_secs(1), 9992).unwrap();
        let s = v.step.decision.sample.unwrap();
        assert!((s.cpu_s - 0.002).abs() < 1e-9, "{s:?}");
    }
}
