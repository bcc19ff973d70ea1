//! Runs merged by `fleet merge`: each shard's logs sit in `shards/<K>/`
//! and every `results.jsonl` line carries `"shard": K`. `fleet logs`
//! reads all shards as one time-ordered stream (each record's text starts
//! with `[sK] `, since worker ids and pids repeat across machines), and
//! `--explain` tells a device's story from its own shard's logs and results.

use crate::error::LogsError;
use crate::explain::{build, Story};
use crate::merge::{merge, parse_entries, read_run, Entry};
use fleet_proto::rundir::{ResultsReader, RunJson, ShardedLine};
use fleet_proto::DeviceResult;
use std::path::{Path, PathBuf};

/// The shard directories of a merged run, by shard index; empty for an
/// ordinary run.
pub fn shard_dirs(run_dir: &Path) -> Vec<(u32, PathBuf)> {
    let Ok(dir) = std::fs::read_dir(run_dir.join("shards")) else {
        return Vec::new();
    };
    let mut out: Vec<(u32, PathBuf)> = dir
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let k = e.file_name().to_str()?.parse().ok()?;
            e.path().is_dir().then(|| (k, e.path()))
        })
        .collect();
    out.sort();
    out
}

/// Every shard's log records of a merged run, merged by time; `None` for
/// an ordinary run.
pub fn read_merged(run_dir: &Path) -> Result<Option<Vec<Entry>>, LogsError> {
    let shards = shard_dirs(run_dir);
    if shards.is_empty() {
        return Ok(None);
    }
    let mut files = Vec::with_capacity(shards.len());
    for (k, dir) in shards {
        let mut entries = Vec::new();
        for path in crate::merge::log_files(&dir)? {
            let bytes = std::fs::read(&path).map_err(LogsError::io(&path))?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            entries.extend(parse_entries(&String::from_utf8_lossy(&bytes), &name));
        }
        for e in &mut entries {
            e.file = format!("shards/{k}/{}", e.file);
            e.text = format!("[s{k}] {}", e.text);
        }
        files.push(entries);
    }
    Ok(Some(merge(files)))
}

/// The story of `device` in a merged run, from its shard's logs and the
/// results of that shard; `None` for an ordinary run.
pub fn explain_merged(run_dir: &Path, device: &str) -> Result<Option<Story>, LogsError> {
    let shards = shard_dirs(run_dir);
    if shards.is_empty() {
        return Ok(None);
    }
    let tagged: Vec<ShardedLine> = ResultsReader::open_or_empty(run_dir)?;
    // The device's shard: from its result, else the shard whose logs name it.
    let mut shard = tagged
        .iter()
        .find(|t| t.result.device == device)
        .and_then(|t| t.shard);
    let mut entries = Vec::new();
    for (k, dir) in &shards {
        if shard.is_some_and(|s| s != *k) {
            continue;
        }
        let mine = read_run(dir)?;
        if mine
            .iter()
            .any(|e| e.record.device.as_deref() == Some(device))
            || shard == Some(*k)
        {
            shard = Some(*k);
            entries = mine;
            break;
        }
    }
    let Some(k) = shard else {
        return Err(LogsError::UnknownDevice {
            device: device.to_string(),
            path: run_dir.to_path_buf(),
        });
    };
    let results: Vec<DeviceResult> = tagged
        .into_iter()
        .filter(|t| t.shard == Some(k))
        .map(|t| t.result)
        .collect();
    let merged_id = run_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // The shard's own run id, from the run.json kept beside its logs.
    let shard_id = RunJson::read(&run_dir.join("shards").join(k.to_string()))
        .map(|i| i.run_id)
        .unwrap_or_default();
    let label = format!("{merged_id} (shard {k}: {shard_id})");
    Ok(Some(build(&label, device, &entries, &results)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(ts: &str, who: &str, pid: u32, device: &str, msg: &str) -> String {
        format!("{ts} INFO  {who} {pid} main {device} {msg}\n")
    }

    /// Two shards whose workers share id 0 and pid 7 (different machines).
    fn merged_run(dir: &Path) {
        for (k, ts, dev) in [
            (1, "2026-11-22T00:10:00.000002Z", "r1"),
            (2, "2026-11-22T00:10:00.000001Z", "r2"),
        ] {
            let d = dir.join("shards").join(k.to_string());
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(
                d.join("master.log"),
                line(ts, "master", 5, dev, "dispatch: attempt=1 batch=0 worker=0"),
            )
            .unwrap();
            std::fs::write(
                d.join("worker-0.log"),
                line(ts, "w0", 7, dev, "session_start: attempt=1 batch=0"),
            )
            .unwrap();
            std::fs::write(
                d.join("run.json"),
                format!(
                    r#"{{"run_id":"shard-run-{k}","fleet_version":"0.1.0","started_at":"{ts}"}}"#
                ),
            )
            .unwrap();
        }
        let mut text = String::new();
        for (k, dev) in [(1, "r1"), (2, "r2")] {
            let mut r = DeviceResult::without_session(
                &fleet_proto::Device::new(dev, "127.0.0.1", 22),
                fleet_proto::Status::Ok,
                "",
                1,
            );
            r.error = None;
            // Both sessions at the same time on "pid 7" of two machines.
            r.started_us = 1_795_306_200_000_000;
            r.timings_ms.total = 100.0;
            r.worker = Some(fleet_proto::WorkerRef {
                id: 0,
                pid: 7,
                thread: "w0-t0".into(),
            });
            let line = ShardedLine {
                result: &r,
                shard: Some(k),
            };
            text.push_str(&serde_json::to_string(&line).unwrap());
            text.push('\n');
        }
        std::fs::write(dir.join("results.jsonl"), text).unwrap();
    }

    #[test]
    fn logs_of_all_shards_in_time_order_labelled_by_shard() {
        let dir = tempfile::tempdir().unwrap();
        merged_run(dir.path());
        let entries = read_merged(dir.path()).unwrap().unwrap();
        let texts: Vec<&str> = entries.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(entries.len(), 4);
        assert!(
            texts[0].starts_with("[s2] 2026-11-22T00:10:00.000001Z INFO  master"),
            "{texts:#?}"
        );
        assert!(texts[3].starts_with("[s1] "), "{texts:#?}");
        assert_eq!(entries[0].file, "shards/2/master.log");
        // Through the ordinary entry point too.
        assert_eq!(crate::merge::read_run(dir.path()).unwrap().len(), 4);
        assert!(read_merged(&dir.path().join("shards/1")).unwrap().is_none());
    }

    #[test]
    fn explain_uses_only_the_device_shard() {
        let dir = tempfile::tempdir().unwrap();
        merged_run(dir.path());
        let story = crate::explain(dir.path(), "r2").unwrap();
        assert!(
            story.run_id.ends_with("(shard 2: shard-run-2)"),
            "{}",
            story.run_id
        );
        assert_eq!(story.attempts.len(), 1);
        // r1 ran on another machine's pid 7: not counted as r2's neighbour.
        let load = story.attempts[0].load.unwrap();
        assert_eq!(load.overlapping, 0);
        assert!(matches!(
            crate::explain(dir.path(), "nope"),
            Err(LogsError::UnknownDevice { .. })
        ));
    }

    #[test]
    fn explain_reads_merged_results_as_data_and_survives_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        merged_run(dir.path());
        let path = dir.path().join("results.jsonl");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"device\":\"r3\",\"ho");
        std::fs::write(&path, &text).unwrap();
        let story = crate::explain(dir.path(), "r1").unwrap();
        let last = story
            .last_result
            .expect("r1's line, read through the shard tag");
        assert_eq!(last.worker.map(|w| w.pid), Some(7));
        assert!(story.run_id.ends_with("(shard 1: shard-run-1)"));
        // A broken line before the last is no torn write: an error naming it.
        std::fs::write(&path, format!("{{\"device\": 1}}\n{text}")).unwrap();
        let e = crate::explain(dir.path(), "r1").unwrap_err();
        assert!(matches!(e, LogsError::RunDir(_)), "{e}");
    }
}
