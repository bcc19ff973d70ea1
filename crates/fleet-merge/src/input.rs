//! Reading one shard's run directory, through the run-directory contract
//! types of [`fleet_proto::rundir`]: every input is read (and refused if
//! it does not parse) before anything is written.

use crate::error::MergeError;
use fleet_proto::rundir::{ResultLine, ResultsReader, RunDirError, RunJson, WorkerRecord};
use fleet_shard::ShardRecord;
use std::path::{Path, PathBuf};

/// One shard's run directory, read.
#[derive(Debug, Clone)]
pub struct ShardRun {
    /// The directory.
    pub dir: PathBuf,
    /// Its run.json.
    pub run: RunJson,
    /// Its `shard` record (`run.shard`, present in every shard).
    pub shard: ShardRecord,
    /// Start of the run, Unix microseconds (run.json `started_at`; also
    /// the zero of its trace.json).
    pub started_us: u64,
    /// End of the run, Unix microseconds, when it finished.
    pub ended_us: Option<u64>,
    /// The final result of each device, in first-seen order (a `--resume`
    /// appends a later word on a device; the last one wins).
    pub results: Vec<ResultLine>,
    /// Torn last lines skipped in its results.jsonl (its master was killed
    /// mid-write): 0 or 1. The device of that line counts as missing.
    pub torn: usize,
    /// Its workers.json records (none when the master never wrote it).
    pub workers: Vec<WorkerRecord>,
}

/// Unix microseconds of an RFC 3339 time as run.json writes it.
fn micros(rfc3339: &str) -> Option<u64> {
    let t = humantime::parse_rfc3339_weak(rfc3339.trim_end_matches('Z')).ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(d.as_micros() as u64)
}

impl ShardRun {
    /// Reads `dir/run.json`, `dir/results.jsonl` and `dir/workers.json`.
    pub fn read(dir: &Path) -> Result<ShardRun, MergeError> {
        let run = RunJson::read(dir)?;
        let not = |why: &str| MergeError::NotAShard {
            path: dir.to_path_buf(),
            why: why.to_string(),
        };
        let shard = run
            .shard
            .clone()
            .ok_or_else(|| not("its run.json has no `shard` (was it run with --shard K/N?)"))?;
        let started_us = micros(&run.started_at)
            .ok_or_else(|| not("its run.json started_at is no RFC 3339 time"))?;
        let ended_us = run.ended_at.as_deref().and_then(micros);
        let (results, torn) = read_final_results(dir)?;
        let workers = match WorkerRecord::read_all(dir) {
            Ok(w) => w,
            // A master that died before the end wrote none.
            Err(RunDirError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Vec::new()
            }
            Err(e) => return Err(e.into()),
        };
        Ok(ShardRun {
            dir: dir.to_path_buf(),
            run,
            shard,
            started_us,
            ended_us,
            results,
            torn,
            workers,
        })
    }

    /// The shard's run id.
    pub fn run_id(&self) -> &str {
        &self.run.run_id
    }
}

/// The last word on each device in `<run_dir>/results.jsonl`, in
/// first-seen order, and the number of torn last lines skipped (a master
/// killed mid-write). A missing file reads as empty (a shard whose master
/// died at once); any other line that does not parse is an error.
pub fn read_final_results(run_dir: &Path) -> Result<(Vec<ResultLine>, usize), MergeError> {
    let mut reader = match ResultsReader::open(run_dir) {
        Ok(r) => r,
        Err(RunDirError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok((Vec::new(), 0))
        }
        Err(e) => return Err(e.into()),
    };
    let mut index: std::collections::HashMap<String, usize> = Default::default();
    let mut out: Vec<ResultLine> = Vec::new();
    for r in &mut reader {
        let r = r?;
        match index.get(&r.device) {
            Some(&i) => out[i] = r,
            None => {
                index.insert(r.device.clone(), out.len());
                out.push(r);
            }
        }
    }
    Ok((out, reader.torn()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_proto::{Device, DeviceResult, Status};

    #[test]
    fn the_last_word_wins_and_a_torn_line_is_skipped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let d1 = Device::new("r1", "h", 22);
        let d2 = Device::new("r2", "h", 22);
        let mut lines = String::new();
        for r in [
            DeviceResult::without_session(&d1, Status::Cancelled, "stopped", 1),
            DeviceResult::without_session(&d2, Status::Timeout, "slow", 1),
            DeviceResult::without_session(&d1, Status::Ok, "", 1),
        ] {
            lines.push_str(&serde_json::to_string(&r).unwrap());
            lines.push('\n');
        }
        lines.push_str("{\"device\":\"r3\",\"sta");
        std::fs::write(dir.path().join("results.jsonl"), lines).unwrap();
        let (got, torn) = read_final_results(dir.path()).unwrap();
        let view: Vec<(&str, Status)> = got.iter().map(|r| (r.device.as_str(), r.status)).collect();
        assert_eq!(view, [("r1", Status::Ok), ("r2", Status::Timeout)]);
        assert_eq!(torn, 1);
        let (none, torn) = read_final_results(&dir.path().join("none")).unwrap();
        assert!(none.is_empty());
        assert_eq!(torn, 0);
    }

    #[test]
    fn a_broken_line_before_the_last_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let r = DeviceResult::without_session(&Device::new("r1", "h", 22), Status::Ok, "", 1);
        let line = serde_json::to_string(&r).unwrap();
        std::fs::write(
            dir.path().join("results.jsonl"),
            format!("{{\"device\":\n{line}\n"),
        )
        .unwrap();
        let e = read_final_results(dir.path()).unwrap_err();
        assert!(e.to_string().ends_with("results.jsonl:1"), "{e}");
    }

    #[test]
    fn a_run_without_a_shard_record_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("run.json"),
            r#"{"run_id":"x","fleet_version":"0.1.0","started_at":"2026-11-22T00:10:00.000000Z","shard":null}"#,
        )
        .unwrap();
        let e = ShardRun::read(dir.path()).unwrap_err();
        assert!(e.to_string().contains("--shard K/N"), "{e}");
    }

    #[test]
    fn a_run_json_of_another_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("run.json"),
            r#"{"schema":"fleet-run/2","run_id":"x","fleet_version":"9","started_at":"2026-11-22T00:10:00.000000Z"}"#,
        )
        .unwrap();
        let e = ShardRun::read(dir.path()).unwrap_err();
        assert!(matches!(e, MergeError::RunDir(_)), "{e}");
    }
}
