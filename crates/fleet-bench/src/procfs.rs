//! The few /proc and getrusage readings the benchmark needs.

/// Clock ticks per second of /proc times: Linux reports them in USER_HZ,
/// which is 100 on every mainstream architecture.
const USER_HZ: f64 = 100.0;

/// CPU time (user + system, all threads) of a live process, ms, from
/// `/proc/<pid>/stat` (10 ms resolution).
pub fn cpu_ms(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start
    // after the last ')'. utime and stime are fields 14 and 15 (1-based),
    // i.e. 12 and 13 after the state field.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 1000.0 / USER_HZ)
}

/// Peak resident set size of a live process so far (`VmHWM`), KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU time of all reaped children (and their reaped descendants) of this
/// process, ms: `getrusage(RUSAGE_CHILDREN)`. A delta around one child run
/// is that run's master plus workers, since the master reaps its workers.
pub fn children_cpu_ms() -> f64 {
    use nix::sys::resource::{getrusage, UsageWho};
    match getrusage(UsageWho::RUSAGE_CHILDREN) {
        Ok(u) => {
            let ms = |t: nix::sys::time::TimeVal| {
                t.tv_sec() as f64 * 1000.0 + t.tv_usec() as f64 / 1000.0
            };
            ms(u.user_time()) + ms(u.system_time())
        }
        Err(_) => 0.0,
    }
}

/// Load averages (1, 5, 15 minutes) from `/proc/loadavg`.
pub fn loadavg() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|x| x.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// Online CPUs.
pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let pid = std::process::id();
        assert!(cpu_ms(pid).is_some());
        assert!(peak_rss_kib(pid).unwrap() > 0);
        assert!(loadavg().is_some());
    }
}
