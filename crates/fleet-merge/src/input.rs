//! Reading one shard's run directory.

use crate::error::MergeError;
use fleet_proto::DeviceResult;
use fleet_shard::ShardRecord;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One shard's run directory, read.
#[derive(Debug, Clone)]
pub struct ShardRun {
    /// The directory.
    pub dir: PathBuf,
    /// Its run.json as written (copied into the merged run).
    pub run_json: serde_json::Value,
    /// Its `shard` record.
    pub shard: ShardRecord,
    /// Start of the run, Unix microseconds (run.json `started_at`; also
    /// the zero of its trace.json).
    pub started_us: u64,
    /// End of the run, Unix microseconds, when it finished.
    pub ended_us: Option<u64>,
    /// The final result of each device, in first-seen order (a `--resume`
    /// appends a later word on a device; the last one wins).
    pub results: Vec<DeviceResult>,
}

impl ShardRun {
    /// Reads `dir/run.json` and `dir/results.jsonl`.
    pub fn read(dir: &Path) -> Result<ShardRun, MergeError> {
        let path = dir.join("run.json");
        let text = std::fs::read_to_string(&path).map_err(MergeError::io("read", &path))?;
        let run_json: serde_json::Value =
            serde_json::from_str(&text).map_err(|source| MergeError::Json {
                path: path.clone(),
                source,
            })?;
        let not = |why: &str| MergeError::NotAShard {
            path: dir.to_path_buf(),
            why: why.to_string(),
        };
        let shard_value = run_json
            .get("shard")
            .filter(|v| !v.is_null())
            .ok_or_else(|| not("its run.json has no `shard` (was it run with --shard K/N?)"))?;
        let shard: ShardRecord = serde_json::from_value(shard_value.clone())
            .map_err(|e| not(&format!("its run.json `shard` is malformed: {e}")))?;
        let time = |key: &str| {
            run_json
                .get(key)
                .and_then(|v| v.as_str())
                .and_then(|s| humantime::parse_rfc3339_weak(s.trim_end_matches('Z')).ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_micros() as u64)
        };
        let started_us = time("started_at").ok_or_else(|| not("its run.json has no started_at"))?;
        let ended_us = time("ended_at");
        let results = read_final_results(&dir.join("results.jsonl"))?;
        Ok(ShardRun {
            dir: dir.to_path_buf(),
            run_json,
            shard,
            started_us,
            ended_us,
            results,
        })
    }

    /// The shard's run id (its directory name).
    pub fn run_id(&self) -> String {
        self.run_json
            .get("run_id")
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| {
                self.dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
    }
}

/// The last word on each device in a results file, in first-seen order.
/// Lines that do not parse (a torn last line after a crash) are skipped; a
/// missing file reads as empty (a shard whose master died at once).
pub fn read_final_results(path: &Path) -> Result<Vec<DeviceResult>, MergeError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(MergeError::io("read", path)(e)),
    };
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<DeviceResult> = Vec::new();
    for line in text.lines() {
        let Ok(r) = serde_json::from_str::<DeviceResult>(line) else {
            continue;
        };
        match index.get(&r.device) {
            Some(&i) => out[i] = r,
            None => {
                index.insert(r.device.clone(), out.len());
                out.push(r);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_proto::{Device, Status};

    #[test]
    fn the_last_word_wins_and_a_torn_line_is_skipped() {
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
        let path = dir.path().join("results.jsonl");
        std::fs::write(&path, lines).unwrap();
        let got = read_final_results(&path).unwrap();
        let view: Vec<(&str, Status)> = got.iter().map(|r| (r.device.as_str(), r.status)).collect();
        assert_eq!(view, [("r1", Status::Ok), ("r2", Status::Timeout)]);
        assert!(read_final_results(&dir.path().join("none"))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_run_without_a_shard_record_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("run.json"),
            r#"{"run_id":"x","started_at":"2026-11-22T00:10:00.000000Z","shard":null}"#,
        )
        .unwrap();
        let e = ShardRun::read(dir.path()).unwrap_err();
        assert!(e.to_string().contains("--shard K/N"), "{e}");
    }
}
