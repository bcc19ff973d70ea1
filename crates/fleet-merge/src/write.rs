//! Writing the merged run directory (private: 0700, files 0600, like a
//! run). `results.jsonl`, `run.json` and `workers.json` are written
//! through the contract types the master's sink writes
//! ([`fleet_proto::rundir`]), so a field added to the contract is carried
//! (or has to be decided on here: the struct literals do not compile
//! without it) rather than dropped.

use crate::check::Plan;
use crate::error::MergeError;
use crate::input::ShardRun;
use crate::{MergeOptions, PID_STRIDE};
use fleet_proto::rundir::{
    MergeRecord, MergedShard, MissingDevice, RunJson, RunLayout, Schema, ShardedLine, TraceRecord,
    WorkerRecord, MASTER_LOG, RESULTS_FILE, RUN_FILE, TRACE_FILE, WORKERS_FILE,
};
use fleet_proto::{ExitCode, Status};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What the writer counted.
pub(crate) struct Written {
    pub totals: BTreeMap<Status, usize>,
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

fn write_json(path: &Path, v: &impl serde::Serialize) -> Result<(), MergeError> {
    let mut w = create(path)?;
    serde_json::to_writer_pretty(&mut w, v).map_err(|e| MergeError::io("write", path)(e.into()))?;
    w.write_all(b"\n").map_err(MergeError::io("write", path))?;
    finish(w, path)
}

fn rfc3339(us: u64) -> String {
    humantime::format_rfc3339_micros(UNIX_EPOCH + Duration::from_micros(us)).to_string()
}

/// What the merge found, for writing: the shards, their plan and what
/// is missing or duplicated across them.
#[derive(Clone, Copy)]
pub(crate) struct Found<'a> {
    pub opts: &'a MergeOptions,
    pub plan: &'a Plan,
    pub shards: &'a [ShardRun],
    pub duplicates: &'a BTreeMap<String, Vec<u32>>,
    pub missing_devices: usize,
    pub missing_named: &'a [(String, u32)],
}

pub(crate) fn write(found: Found<'_>) -> Result<Written, MergeError> {
    let Found { opts, shards, .. } = found;
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
    let path = out.join(RESULTS_FILE);
    let mut w = create(&path)?;
    let mut seen: HashSet<&str> = HashSet::new();
    let mut totals: BTreeMap<Status, usize> = BTreeMap::new();
    for s in shards {
        for r in &s.results {
            if !seen.insert(r.device.as_str()) {
                continue;
            }
            *totals.entry(r.status).or_default() += 1;
            let line = ShardedLine {
                result: r,
                shard: Some(s.shard.k),
            };
            serde_json::to_writer(&mut w, &line)
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
                name == MASTER_LOG || (name.starts_with("worker-") && name.ends_with(".log"));
            if is_log || name == RUN_FILE {
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
    let workers: Vec<WorkerRecord> = shards
        .iter()
        .flat_map(|s| {
            s.workers.iter().map(|w| WorkerRecord {
                shard: Some(s.shard.k),
                name: Some(format!("s{}-w{}", s.shard.k, w.id)),
                ..w.clone()
            })
        })
        .collect();
    write_json(&out.join(WORKERS_FILE), &workers)?;

    // trace.json: one clock (the earliest shard start), pids apart. The
    // events stay JSON values on purpose: trace.json is the Chrome
    // trace-event format, open to any event a viewer understands (the
    // sink's session/phase/master events and the `M` metadata alike), and
    // the merge only moves each event (`pid`, `ts`) and relabels process
    // names; every other field passes through untouched, whatever it is.
    let t0 = shards.iter().map(|s| s.started_us).min().unwrap_or(0);
    let path = out.join(TRACE_FILE);
    let mut w = create(&path)?;
    let io = |e: std::io::Error| MergeError::io("write", &path)(e);
    w.write_all(b"{\"traceEvents\":[\n").map_err(io)?;
    let mut first = true;
    for s in shards {
        let host = if s.run.host.is_empty() {
            "?"
        } else {
            s.run.host.as_str()
        };
        let label = format!("shard {}/{} ({host})", s.shard.k, s.shard.n);
        let tpath = s.dir.join(TRACE_FILE);
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
    let doc = merged_run_json(found, &totals, seen.len());
    write_json(&out.join(RUN_FILE), &doc)?;
    Ok(Written { totals })
}

/// The value every shard agrees on, if they all do.
fn common<T: PartialEq>(mut values: impl Iterator<Item = T>) -> Option<T> {
    let first = values.next()?;
    values.all(|v| v == first).then_some(first)
}

/// The merged run's `run.json`: totals over all shards, the first shard's
/// start and the last one's end, the layouts summed, and the `merge`
/// record naming every shard.
fn merged_run_json(found: Found<'_>, totals: &BTreeMap<Status, usize>, devices: usize) -> RunJson {
    let Found {
        opts,
        plan,
        shards,
        duplicates,
        missing_devices,
        missing_named,
    } = found;
    let started_us = shards.iter().map(|s| s.started_us).min().unwrap_or(0);
    let ended_us = shards.iter().filter_map(|s| s.ended_us).max();
    let all_ended = shards.iter().all(|s| s.ended_us.is_some());
    let interrupted = shards.iter().any(|s| s.run.interrupted == Some(true));
    let failed = totals.iter().any(|(st, n)| !st.is_ok() && *n > 0);
    let complete = plan.missing.is_empty() && missing_devices == 0 && duplicates.is_empty();
    let exit_code = if interrupted {
        ExitCode::Interrupted
    } else if failed || !complete {
        ExitCode::SomeFailed
    } else {
        ExitCode::AllOk
    };
    let run_id = opts
        .out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let layouts = || shards.iter().map(|s| &s.run.layout);
    // Sessions in every shard's trace, when they all kept the same kind.
    let trace = shards
        .iter()
        .map(|s| s.run.trace)
        .collect::<Option<Vec<TraceRecord>>>()
        .and_then(|t| {
            let mode = common(t.iter().map(|r| r.mode))?;
            Some(TraceRecord {
                mode,
                sessions: t.iter().map(|r| r.sessions).sum(),
                failed: t.iter().map(|r| r.failed).sum(),
            })
        });
    let merge = MergeRecord {
        n: plan.n,
        by: plan.by.clone(),
        selection_digest: plan.selection_digest.clone(),
        selected: plan.selected,
        complete,
        shards: shards
            .iter()
            .map(|s| MergedShard {
                k: s.shard.k,
                run_id: s.run.run_id.clone(),
                host: Some(s.run.host.clone()),
                dir: Some(std::path::absolute(&s.dir).unwrap_or_else(|_| s.dir.clone())),
                started_at: Some(s.run.started_at.clone()),
                ended_at: s.run.ended_at.clone(),
                devices: s.shard.devices,
                results: s.results.len(),
                layout: Some(s.run.layout.clone()),
                wall_ms: s.run.wall_ms,
                exit_code: s.run.exit_code,
            })
            .collect(),
        missing_shards: plan.missing.iter().copied().collect(),
        missing_devices,
        missing_named: missing_named
            .iter()
            .map(|(device, shard)| MissingDevice {
                device: device.clone(),
                shard: *shard,
            })
            .collect(),
        duplicate_devices: duplicates.clone(),
        merged_at: Some(humantime::format_rfc3339_micros(SystemTime::now()).to_string()),
    };
    RunJson {
        schema: Schema::V1,
        run_id,
        fleet_version: env!("CARGO_PKG_VERSION").to_string(),
        host,
        command_line: opts.command_line.clone(),
        inventory: shards.first().and_then(|s| s.run.inventory.clone()),
        layout: RunLayout {
            processes: layouts().map(|l| l.processes).sum(),
            threads: layouts().map(|l| l.threads).max().unwrap_or(0),
            // Shards may differ: a common --batch-size, else "sized by
            // the dispatcher" (each shard's own is in merge.shards).
            batch_size: common(layouts().map(|l| l.batch_size)).flatten(),
            // Each shard's -p/-t auto decisions stay in merge.shards.
            auto: None,
        },
        // Shards of one run share their flags; if they did not, no one
        // set of limits describes the merged run.
        timeouts_ms: common(shards.iter().map(|s| s.run.timeouts_ms)).unwrap_or_default(),
        started_at: rfc3339(started_us),
        ended_at: if all_ended {
            ended_us.map(rfc3339)
        } else {
            None
        },
        devices,
        wall_ms: ended_us.map(|e| e.saturating_sub(started_us) as f64 / 1e3),
        totals: totals.clone(),
        interrupted: Some(interrupted),
        exit_code: Some(exit_code.code()),
        resumed: false,
        shard: None,
        trace,
        merge: Some(merge),
    }
}
