//! One measured child process: wall time from spawn to exit, its CPU (and
//! its reaped descendants') from `getrusage(RUSAGE_CHILDREN)` deltas, its
//! sampled peak RSS, the lab's CPU over the same span, and a timeout
//! (SIGINT, then SIGKILL) so a stuck run cannot stall the sweep.

use crate::error::BenchError;
use crate::procfs;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

/// How often the child is polled for exit (bounds the wall-time error).
const POLL: Duration = Duration::from_millis(2);
/// How often the child's peak RSS is sampled.
const RSS_SAMPLE: Duration = Duration::from_millis(20);
/// After a timeout's SIGINT, how long before SIGKILL.
const KILL_AFTER: Duration = Duration::from_secs(60);

/// What [`measure`] saw.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// How the child ended.
    pub status: ExitStatus,
    /// Whether it ran past the timeout (and was interrupted).
    pub timed_out: bool,
    /// Spawn to exit, ms.
    pub wall_ms: f64,
    /// CPU (user + system) of the child and every descendant it reaped, ms.
    pub cpu_ms: f64,
    /// The lab's CPU over the same span, ms (`None` without a lab pid).
    pub lab_cpu_ms: Option<f64>,
    /// The child's own peak RSS (`VmHWM`, last sample), KiB.
    pub peak_rss_kib: Option<u64>,
    /// 1-minute load average just before the spawn.
    pub load_1m: Option<f64>,
}

/// Spawns `cmd`, waits for it (interrupting it after `timeout`) and
/// measures it. `program` names it in errors.
pub fn measure(
    cmd: &mut Command,
    program: &Path,
    timeout: Duration,
    lab_pid: Option<u32>,
) -> Result<Measured, BenchError> {
    let load_1m = procfs::loadavg().map(|l| l[0]);
    let lab_before = lab_pid.and_then(procfs::cpu_ms);
    let cpu_before = procfs::children_cpu_ms();
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|source| BenchError::Spawn {
        action: "start",
        program: program.to_path_buf(),
        source,
    })?;
    let pid = child.id();
    let mut peak_rss_kib = None;
    let mut next_sample = started;
    let mut timed_out = false;
    let mut killed = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(source) => {
                return Err(BenchError::Spawn {
                    action: "wait for",
                    program: program.to_path_buf(),
                    source,
                })
            }
        }
        let now = Instant::now();
        if now >= next_sample {
            if let Some(kib) = procfs::peak_rss_kib(pid) {
                peak_rss_kib = Some(kib);
            }
            next_sample = now + RSS_SAMPLE;
        }
        let elapsed = now - started;
        if !timed_out && elapsed >= timeout {
            timed_out = true;
            // The child is not reaped yet, so its pid cannot be reused.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGINT,
            );
        } else if timed_out && !killed && elapsed >= timeout + KILL_AFTER {
            killed = true;
            let _ = child.kill();
        }
        std::thread::sleep(POLL);
    };
    let wall_ms = started.elapsed().as_secs_f64() * 1e3;
    let cpu_ms = procfs::children_cpu_ms() - cpu_before;
    let lab_cpu_ms = match (lab_before, lab_pid.and_then(procfs::cpu_ms)) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    Ok(Measured {
        status,
        timed_out,
        wall_ms,
        cpu_ms,
        lab_cpu_ms,
        peak_rss_kib,
        load_1m,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_child_that_burns_cpu() {
        // A real child that spins ~100 ms of CPU: its CPU and wall are seen.
        let sh = Path::new("/bin/sh");
        let mut cmd = Command::new(sh);
        cmd.args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"]);
        let m = measure(&mut cmd, sh, Duration::from_secs(120), None).unwrap();
        assert!(m.status.success());
        assert!(!m.timed_out);
        assert!(m.cpu_ms > 0.0, "{m:?}");
        assert!(m.wall_ms > 0.0);
        assert!(m.lab_cpu_ms.is_none());
    }

    #[test]
    fn interrupts_a_child_past_its_timeout() {
        let sh = Path::new("/bin/sh");
        let mut cmd = Command::new(sh);
        cmd.args(["-c", "exec sleep 30"]);
        let m = measure(&mut cmd, sh, Duration::from_millis(50), None).unwrap();
        assert!(m.timed_out);
        assert!(!m.status.success());
    }
}
