//! Writing the merged run directory (private: 0700, files 0600, like a run).

use crate::check::Plan;
use crate::error::MergeError;
use crate::input::ShardRun;
use crate::{MergeOptions, PID_STRIDE};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What the writer counted.
pub(crate) struct Written {
    pub totals: BTreeMap<String, usize>,
}

fn mkdir(path: &Path) -> Result<(), MergeError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(MergeError::io("create", path))
}

fn create(path: &Path) -> Result<BufWriter<File>, MergeError> {
    OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .map(|f| BufWriter::with_capacity(256 * 1024, f))
        .map_err(MergeError::io("create", path))
}

fn finish(mut w: BufWriter<File>, path: &Path) -> Result<(), MergeError> {
    w.flush().map_err(MergeError::io("write", path))?;
    let f = w
        .into_inner()
        .map_err(|e| MergeError::io("write", path)(e.into_error()))?;
    f.sync_data().map_err(MergeError::io("write", path))
}

fn write_json(path: &Path, v: &Value) -> Result<(), MergeError> {
    let mut w = create(path)?;
    serde_json::to_writer_pretty(&mut w, v).map_err(|e| MergeError::io("write", path)(e.into()))?;
    w.write_all(b"\n").map_err(MergeError::io("write", path))?;
    finish(w, path)
}

fn rfc3339(us: u64) -> String {
    humantime::format_rfc3339_micros(UNIX_EPOCH + Duration::from_micros(us)).to_string()
}

pub(crate) fn write(
    opts: &MergeOptions,
    plan: &Plan,
    shards: &[ShardRun],
    duplicates: &BTreeMap<String, Vec<u32>>,
    missing_devices: usize,
    missing_named: &[(String, u32)],
) -> Result<Written, MergeError> {
    let out = &opts.out;
    if out.exists() {
        let empty = fs::read_dir(out)
            .map_err(MergeError::io("read", out))?
            .next()
            .is_none();
        if !empty {
            return Err(MergeError::OutExists { path: out.clone() });
        }
    }
    mkdir(out)?;

    // results.jsonl: one line per device (the first shard's, when two
    // shards both ran it), tagged with its shard.
    let path = out.join("results.jsonl");
    let mut w = create(&path)?;
    let mut seen: HashSet<&str> = HashSet::new();
    let mut totals: BTreeMap<String, usize> = BTreeMap::new();
    for s in shards {
        for r in &s.results {
            if !seen.insert(r.device.as_str()) {
                continue;
            }
            *totals.entry(r.status.as_str().to_string()).or_default() += 1;
            let mut v =
                serde_json::to_value(r).map_err(|e| MergeError::io("write", &path)(e.into()))?;
            if let Value::Object(m) = &mut v {
                m.insert("shard".into(), json!(s.shard.k));
            }
            serde_json::to_writer(&mut w, &v)
                .map_err(|e| MergeError::io("write", &path)(e.into()))?;
            w.write_all(b"\n").map_err(MergeError::io("write", &path))?;
        }
    }
    finish(w, &path)?;

    // shards/<K>/: logs and the original run.json.
    for s in shards {
        let dir = out.join("shards").join(s.shard.k.to_string());
        mkdir(&dir)?;
        for entry in fs::read_dir(&s.dir).map_err(MergeError::io("read", &s.dir))? {
            let entry = entry.map_err(MergeError::io("read", &s.dir))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let is_log =
                name == "master.log" || (name.starts_with("worker-") && name.ends_with(".log"));
            if is_log || name == "run.json" {
                let to = dir.join(&*name);
                let mut w = create(&to)?;
                let mut from =
                    File::open(entry.path()).map_err(MergeError::io("read", &entry.path()))?;
                std::io::copy(&mut from, &mut w).map_err(MergeError::io("write", &to))?;
                finish(w, &to)?;
            }
        }
    }

    // workers.json: every shard's records, named by shard.
    let mut workers = Vec::new();
    for s in shards {
        let path = s.dir.join("workers.json");
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        let list: Vec<Value> = serde_json::from_str(&text).map_err(|source| MergeError::Json {
            path: path.clone(),
            source,
        })?;
        for mut rec in list {
            if let Value::Object(m) = &mut rec {
                let id = m.get("id").cloned().unwrap_or(Value::Null);
                m.insert("shard".into(), json!(s.shard.k));
                m.insert("name".into(), json!(format!("s{}-w{}", s.shard.k, id)));
            }
            workers.push(rec);
        }
    }
    write_json(&out.join("workers.json"), &Value::Array(workers))?;

    // trace.json: one clock (the earliest shard start), pids apart.
    let t0 = shards.iter().map(|s| s.started_us).min().unwrap_or(0);
    let path = out.join("trace.json");
    let mut w = create(&path)?;
    let io = |e: std::io::Error| MergeError::io("write", &path)(e);
    w.write_all(b"{\"traceEvents\":[\n").map_err(io)?;
    let mut first = true;
    for s in shards {
        let host = s
            .run_json
            .get("host")
            .and_then(|h| h.as_str())
            .unwrap_or("?");
        let label = format!("shard {}/{} ({host})", s.shard.k, s.shard.n);
        let tpath = s.dir.join("trace.json");
        let Ok(text) = fs::read_to_string(&tpath) else {
            continue;
        };
        let doc: Value = serde_json::from_str(&text).map_err(|source| MergeError::Json {
            path: tpath.clone(),
            source,
        })?;
        let shift = s.started_us.saturating_sub(t0) as f64;
        let events = match doc {
            Value::Object(mut m) => m.remove("traceEvents").unwrap_or(Value::Null),
            other => other,
        };
        let Value::Array(events) = events else {
            continue;
        };
        let mut named = HashSet::new();
        for mut e in events {
            let Value::Object(m) = &mut e else { continue };
            let pid = m.get("pid").and_then(|p| p.as_u64()).unwrap_or(0);
            let new_pid = u64::from(s.shard.k) * PID_STRIDE + pid;
            m.insert("pid".into(), json!(new_pid));
            let meta = m.get("ph").and_then(|p| p.as_str()) == Some("M");
            if meta {
                if m.get("name").and_then(|n| n.as_str()) == Some("process_name") {
                    if let Some(Value::Object(args)) = m.get_mut("args") {
                        let name = args.get("name").and_then(|n| n.as_str()).unwrap_or("");
                        let name = format!("{label}: {name}");
                        args.insert("name".into(), json!(name));
                    }
                    named.insert(new_pid);
                }
            } else if let Some(ts) = m.get("ts").and_then(|t| t.as_f64()) {
                m.insert("ts".into(), json!(ts + shift));
            }
            if !first {
                w.write_all(b",\n").map_err(io)?;
            }
            first = false;
            serde_json::to_writer(&mut w, &e).map_err(|e| io(e.into()))?;
        }
        // Group each shard's processes: one label and sort position per shard.
        for pid in named {
            for ev in [
                json!({"ph": "M", "name": "process_labels", "pid": pid, "tid": 0, "ts": 0,
                       "args": {"labels": label}}),
                json!({"ph": "M", "name": "process_sort_index", "pid": pid, "tid": 0, "ts": 0,
                       "args": {"sort_index": pid}}),
            ] {
                if !first {
                    w.write_all(b",\n").map_err(io)?;
                }
                first = false;
                serde_json::to_writer(&mut w, &ev).map_err(|e| io(e.into()))?;
            }
        }
    }
    w.write_all(b"\n],\"displayTimeUnit\":\"ms\"}\n")
        .map_err(io)?;
    finish(w, &path)?;

    // run.json last: its presence says the merge finished.
    let started_us = t0;
    let ended_us = shards.iter().filter_map(|s| s.ended_us).max();
    let all_ended = shards.iter().all(|s| s.ended_us.is_some());
    let get = |s: &ShardRun, k: &str| s.run_json.get(k).cloned().unwrap_or(Value::Null);
    let layout_sum = |k: &str| -> u64 {
        shards
            .iter()
            .filter_map(|s| s.run_json.get("layout")?.get(k)?.as_u64())
            .sum()
    };
    let threads_max = shards
        .iter()
        .filter_map(|s| s.run_json.get("layout")?.get("threads")?.as_u64())
        .max()
        .unwrap_or(0);
    let interrupted = shards
        .iter()
        .any(|s| get(s, "interrupted").as_bool() == Some(true));
    let failed: usize = totals
        .iter()
        .filter(|(k, _)| k.as_str() != "ok")
        .map(|(_, n)| n)
        .sum();
    let complete = plan.missing.is_empty() && missing_devices == 0 && duplicates.is_empty();
    let exit_code = if interrupted {
        130
    } else if failed > 0 || !complete {
        1
    } else {
        0
    };
    let run_id = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let shard_list: Vec<Value> = shards
        .iter()
        .map(|s| {
            json!({
                "k": s.shard.k,
                "run_id": s.run_id(),
                "host": get(s, "host"),
                "dir": std::path::absolute(&s.dir).unwrap_or_else(|_| s.dir.clone()),
                "started_at": get(s, "started_at"),
                "ended_at": get(s, "ended_at"),
                "devices": s.shard.devices,
                "results": s.results.len(),
                "layout": get(s, "layout"),
                "wall_ms": get(s, "wall_ms"),
                "exit_code": get(s, "exit_code"),
            })
        })
        .collect();
    let devices = seen.len();
    let doc = json!({
        "schema": fleet_proto::rundir::SCHEMA,
        "run_id": run_id,
        "fleet_version": env!("CARGO_PKG_VERSION"),
        "host": host,
        "command_line": opts.command_line,
        "inventory": shards.first().map(|s| get(s, "inventory")),
        "layout": {
            "processes": layout_sum("processes"),
            "threads": threads_max,
            // Shards may differ; 0 keeps the field a number (fleet-run/1).
            "batch_size": 0,
        },
        "started_at": rfc3339(started_us),
        "ended_at": if all_ended { ended_us.map(rfc3339) } else { None },
        "devices": devices,
        "wall_ms": ended_us.map(|e| e.saturating_sub(started_us) as f64 / 1e3),
        "totals": totals,
        "interrupted": interrupted,
        "exit_code": exit_code,
        "resumed": false,
        "shard": Value::Null,
        "merge": {
            "n": plan.n,
            "by": plan.by,
            "selection_digest": plan.selection_digest,
            "selected": plan.selected,
            "complete": complete,
            "shards": shard_list,
            "missing_shards": plan.missing,
            "missing_devices": missing_devices,
            "missing_named": missing_named.iter().map(|(d, k)| json!({"device": d, "shard": k})).collect::<Vec<_>>(),
            "duplicate_devices": duplicates,
            "merged_at": humantime::format_rfc3339_micros(SystemTime::now()).to_string(),
        },
    });
    write_json(&out.join("run.json"), &doc)?;
    Ok(Written { totals })
}
