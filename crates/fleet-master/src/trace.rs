//! Which sessions `trace.json` shows (`--trace`), decided one result at a
//! time so the master keeps only the rows it will write.
//!
//! A slice costs ~150 bytes in `trace.json` and ~200 in the master until
//! the run ends: at a million devices the full trace is 150 MB that no
//! timeline viewer opens. [`TraceMode::Sample`] keeps what a person looks
//! for: every failure (up to [`FAILED_CAP`]) and an evenly spread sample of
//! about [`SAMPLE_TARGET`] other sessions. The sample is chosen by a hash of
//! the device name, so the same devices are sampled in every run and in
//! every shard of a sharded run.

use fleet_proto::rundir::{TraceMode, TraceRecord};
use fleet_proto::DeviceResult;

/// Runs up to this many devices trace every session and log routine
/// per-device lines by default; larger ones sample and do not.
pub const AUTO_FULL_MAX: usize = 10_000;

/// Sessions that ended `ok` kept by [`TraceMode::Sample`], about.
pub const SAMPLE_TARGET: usize = 10_000;

/// Failed sessions kept by [`TraceMode::Sample`] at most (a run where
/// everything fails would otherwise trace everything).
pub const FAILED_CAP: usize = 10_000;

/// `--trace auto`: every session up to [`AUTO_FULL_MAX`] devices, a sample
/// above.
pub fn auto_mode(devices: usize) -> TraceMode {
    if devices <= AUTO_FULL_MAX {
        TraceMode::Full
    } else {
        TraceMode::Sample
    }
}

/// `--device-logs auto`: routine per-device lines up to [`AUTO_FULL_MAX`]
/// devices.
pub fn auto_device_logs(devices: usize) -> bool {
    devices <= AUTO_FULL_MAX
}

/// FNV-1a of a device name: stable across runs, machines and versions
/// (unlike `std`'s hasher), cheap, and spread well enough for sampling.
pub fn name_hash(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Decides, result by result, which sessions get a slice.
#[derive(Debug, Clone)]
pub struct Sampler {
    mode: TraceMode,
    /// Keep one `ok` session in `stride` (by name hash).
    stride: u64,
    kept: usize,
    failed: usize,
}

impl Sampler {
    /// A sampler for a run of `devices` devices.
    pub fn new(mode: TraceMode, devices: usize) -> Sampler {
        Sampler {
            mode,
            stride: devices.div_ceil(SAMPLE_TARGET).max(1) as u64,
            kept: 0,
            failed: 0,
        }
    }

    /// Whether `result` gets a slice in `trace.json` (counted if so).
    pub fn keep(&mut self, result: &DeviceResult) -> bool {
        let failed = !result.status.is_ok();
        let keep = match self.mode {
            TraceMode::Full => true,
            TraceMode::Off => false,
            TraceMode::Sample if failed => self.failed < FAILED_CAP,
            TraceMode::Sample => name_hash(&result.device).is_multiple_of(self.stride),
        };
        if keep {
            self.kept += 1;
            self.failed += usize::from(failed);
        }
        keep
    }

    /// What `run.json` says about the trace.
    pub fn record(&self) -> TraceRecord {
        TraceRecord {
            mode: self.mode,
            sessions: self.kept,
            failed: self.failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_proto::{Device, Status};

    fn result(name: &str, status: Status) -> DeviceResult {
        DeviceResult::without_session(&Device::new(name, "h", 22), status, "x", 1)
    }

    #[test]
    fn auto_traces_and_logs_everything_in_small_runs_only() {
        assert_eq!(auto_mode(1), TraceMode::Full);
        assert_eq!(auto_mode(AUTO_FULL_MAX), TraceMode::Full);
        assert_eq!(auto_mode(AUTO_FULL_MAX + 1), TraceMode::Sample);
        assert!(auto_device_logs(AUTO_FULL_MAX));
        assert!(!auto_device_logs(1_000_000));
    }

    #[test]
    fn full_keeps_every_session_and_off_none() {
        let mut full = Sampler::new(TraceMode::Full, 1_000_000);
        let mut off = Sampler::new(TraceMode::Off, 10);
        for i in 0..100 {
            let r = result(&format!("d{i}"), Status::Ok);
            assert!(full.keep(&r));
            assert!(!off.keep(&r));
        }
        assert_eq!(full.record().sessions, 100);
        assert_eq!(off.record().sessions, 0);
        assert_eq!(off.record().mode, TraceMode::Off);
    }

    #[test]
    fn sample_keeps_about_the_target_spread_over_the_run() {
        let n = 200_000;
        let mut s = Sampler::new(TraceMode::Sample, n);
        let kept: Vec<usize> = (0..n)
            .filter(|i| s.keep(&result(&format!("d{i:07}"), Status::Ok)))
            .collect();
        // stride 20: ~10,000 kept, within a few percent.
        assert!((9_000..11_000).contains(&kept.len()), "{}", kept.len());
        // Spread: every tenth of the run has its share.
        for tenth in 0..10 {
            let here = kept.iter().filter(|&&i| i * 10 / n == tenth).count();
            assert!((700..1_300).contains(&here), "tenth {tenth}: {here}");
        }
        assert_eq!(s.record().sessions, kept.len());
        assert_eq!(s.record().failed, 0);
    }

    #[test]
    fn sample_keeps_every_failure_up_to_the_cap() {
        let mut s = Sampler::new(TraceMode::Sample, 1_000_000);
        let failed = (0..FAILED_CAP + 5)
            .filter(|i| s.keep(&result(&format!("f{i}"), Status::Timeout)))
            .count();
        assert_eq!(failed, FAILED_CAP);
        assert_eq!(s.record().failed, FAILED_CAP);
    }

    #[test]
    fn the_sample_is_the_same_devices_every_time() {
        let pick = || {
            let mut s = Sampler::new(TraceMode::Sample, 100_000);
            (0..100_000)
                .map(|i| format!("r{i}"))
                .filter(|name| s.keep(&result(name, Status::Ok)))
                .collect::<Vec<_>>()
        };
        assert_eq!(pick(), pick());
        // FNV-1a test vector: the hash is fixed across versions.
        assert_eq!(name_hash("a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn a_small_sampled_run_keeps_everything() {
        let mut s = Sampler::new(TraceMode::Sample, 50);
        assert!((0..50).all(|i| s.keep(&result(&format!("d{i}"), Status::Ok))));
    }
}
