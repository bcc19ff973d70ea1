//! A run directory read into the data the report page draws.
//!
//! The page gets compact data: sessions (one per `results.jsonl` row, so
//! retries and crashed attempts show on the timeline) refer to devices
//! and lanes by index, times are microseconds from the run's first
//! session, and outputs are capped so that a 10,000-device run stays a file
//! you can mail ([`Limits`]).

use crate::error::ReportError;
use crate::story::StoryIndex;
use fleet_logs::explain;
use fleet_logs::merge::{read_run, Entry};
use fleet_proto::rundir::{RunDirError, RunJson, RunLayout, WorkerRecord, RESULTS_FILE};
use fleet_proto::DeviceResult;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// How much of the outputs a report carries.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Bytes kept of one command's output; the rest is cut with a note.
    pub output_bytes: usize,
    /// Bytes of output kept for the whole run; past it, outputs are left
    /// out (results.jsonl has them all).
    pub total_output_bytes: usize,
    /// Devices whose story (as `fleet logs --explain` tells it) is
    /// included; failed devices come first.
    pub stories: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            output_bytes: 16 * 1024,
            total_output_bytes: 8 * 1024 * 1024,
            stories: 20_000,
        }
    }
}

/// Everything the page shows.
#[derive(Debug, Serialize)]
pub struct ReportData {
    /// The run header.
    pub run: Header,
    /// Unix microseconds the timeline's zero stands for.
    pub t0_us: u64,
    /// One lane per worker thread (`pid`, thread name), grouped by process.
    pub lanes: Vec<Lane>,
    /// Every device once, with its last result.
    pub devices: Vec<Device>,
    /// Every session (a results row with a worker): timeline bars.
    pub sessions: Vec<Session>,
    /// The worker processes, as `workers.json` records them.
    pub workers: Vec<WorkerRecord>,
    /// Worker crashes, restarts and layout changes on the timeline.
    pub markers: Vec<Marker>,
    /// What the report left out, in words.
    pub notes: Vec<String>,
}

/// The run header.
#[derive(Debug, Serialize)]
pub struct Header {
    /// The run id (directory name).
    pub run_id: String,
    /// The command line, secrets redacted.
    pub command_line: Vec<String>,
    /// `run.json`'s layout object (with `auto` decisions when present).
    pub layout: Option<RunLayout>,
    /// Start time, RFC 3339.
    pub started_at: Option<String>,
    /// Wall time of the run in ms.
    pub wall_ms: Option<f64>,
    /// The exit code fleet returned.
    pub exit_code: Option<i32>,
    /// Whether Ctrl-C stopped it.
    pub interrupted: bool,
    /// Devices in the run.
    pub devices: usize,
    /// Devices by final status.
    pub totals: BTreeMap<String, usize>,
    /// Which part of a sharded run this is (`2/3 by name`), or which
    /// shards a merged run was made of (`merged 3/3 shards`).
    pub shards: Option<String>,
}

/// One worker thread.
#[derive(Debug, Serialize, Clone)]
pub struct Lane {
    /// The worker's pid.
    pub pid: u32,
    /// The worker slot id.
    pub worker: u32,
    /// The thread name (`w0-t3`).
    pub thread: String,
    /// The process group label (`worker 0 pid 123`, with shard when merged).
    pub group: String,
}

/// One device, as its last result left it.
#[derive(Debug, Serialize)]
pub struct Device {
    /// The name.
    pub name: String,
    /// host:port.
    pub addr: String,
    /// Final status.
    pub status: String,
    /// The error, if any.
    pub error: Option<String>,
    /// Attempts made (results rows).
    pub attempts: u32,
    /// Worker slot id of the last attempt.
    pub worker: Option<u32>,
    /// Lane index of the last attempt.
    pub lane: Option<usize>,
    /// Total session time (ms) of the last attempt.
    pub total_ms: f64,
    /// Connect, auth and commands (ms) of the last attempt.
    pub phases_ms: [f64; 3],
    /// Groups from the inventory, when it could be read.
    pub groups: Vec<String>,
    /// Platform from the inventory, when it could be read.
    pub platform: Option<String>,
    /// Outputs of the last attempt, capped.
    pub outputs: Vec<Output>,
    /// The story, as `fleet logs --explain` tells it.
    pub story: Option<String>,
}

/// One command's output, capped.
#[derive(Debug, Serialize)]
pub struct Output {
    /// The command.
    pub command: String,
    /// stdout then stderr, cut at [`Limits::output_bytes`].
    pub text: String,
    /// The exit status, if the session had one.
    pub exit_status: Option<i32>,
    /// Bytes left out of this report (0: complete).
    pub cut_bytes: usize,
}

/// A timeline bar: `[device, lane, start_us, connect_us, auth_us, cmd_us, status]`.
#[derive(Debug, Serialize)]
pub struct Session(
    pub usize,
    pub usize,
    pub u64,
    pub u64,
    pub u64,
    pub u64,
    pub String,
);

/// A mark on the timeline.
#[derive(Debug, Serialize)]
pub struct Marker {
    /// `crash`, `restart` or `exit`.
    pub kind: String,
    /// The worker's pid.
    pub pid: u32,
    /// Microseconds from `t0_us`.
    pub at_us: u64,
    /// Words.
    pub label: String,
}

/// A run-directory file read through its contract type; `None` when the
/// file does not exist (a master that died before writing it).
fn optional<T>(read: Result<T, RunDirError>) -> Result<Option<T>, ReportError> {
    match read {
        Ok(v) => Ok(Some(v)),
        Err(RunDirError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// The header's words on sharding: which shard a run was, or what a
/// merged run was made of.
fn shards_fact(run: &RunJson) -> Option<String> {
    if let Some(m) = &run.merge {
        let done = if m.complete { "" } else { ", incomplete" };
        return Some(format!(
            "merged {}/{} shards by {}{done}",
            m.shards.len(),
            m.n,
            m.by
        ));
    }
    run.shard
        .as_ref()
        .map(|s| format!("{}/{} by {}", s.k, s.n, s.by))
}

/// Unix microseconds of an RFC 3339 time in the run directory.
fn micros(rfc3339: &str) -> Option<u64> {
    let t = fleet_logs::filter::parse_ts(rfc3339)?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(d.as_micros() as u64)
}

/// Flags whose value is never shown.
fn is_secret_flag(flag: &str) -> bool {
    let f = flag.to_ascii_lowercase();
    ["password", "secret", "token", "passphrase"]
        .iter()
        .any(|k| f.contains(k))
}

/// The command line with secret values replaced by `***`.
pub fn redact(argv: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(argv.len());
    let mut hide_next = false;
    for a in argv {
        if hide_next {
            out.push("***".to_string());
            hide_next = false;
            continue;
        }
        if a.starts_with('-') {
            if let Some((flag, _)) = a.split_once('=') {
                if is_secret_flag(flag) {
                    out.push(format!("{flag}=***"));
                    continue;
                }
            } else if is_secret_flag(a) && !a.ends_with("-env") && !a.ends_with("-file") {
                hide_next = true;
            }
        }
        // Inline secrets in config lines: `{{ ... }}` placeholders stay, literal
        // "secret"/"password" lines are masked after the keyword.
        out.push(mask_inline(a));
    }
    out
}

fn mask_inline(a: &str) -> String {
    let lower = a.to_ascii_lowercase();
    for key in ["password ", "secret ", "key "] {
        if let Some(i) = lower.find(key) {
            if a.starts_with('-') {
                break;
            }
            let keep = i + key.len();
            return format!("{}***", &a[..keep]);
        }
    }
    a.to_string()
}

fn cap(s: &str, n: usize) -> (String, usize) {
    if s.len() <= n {
        return (s.to_string(), 0);
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (s[..end].to_string(), s.len() - end)
}

/// Reads the run at `run_dir`.
pub fn read(run_dir: &Path, limits: &Limits) -> Result<ReportData, ReportError> {
    let run = optional(RunJson::read(run_dir))?;
    if run.is_none() && !run_dir.join(RESULTS_FILE).exists() {
        return Err(ReportError::NotARun(run_dir.to_path_buf()));
    }
    let results = explain::read_results(run_dir).map_err(|source| ReportError::Logs {
        path: run_dir.to_path_buf(),
        source,
    })?;
    let workers = optional(WorkerRecord::read_all(run_dir))?.unwrap_or_default();
    let entries = read_run(run_dir).unwrap_or_default();
    let run_id = run_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut notes = Vec::new();

    // Devices in first-seen order; the last row of each is its final word.
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut last: Vec<&DeviceResult> = Vec::new();
    let mut attempts: Vec<u32> = Vec::new();
    for r in &results {
        match index.get(r.device.as_str()) {
            Some(&i) => {
                last[i] = r;
                attempts[i] += 1;
            }
            None => {
                index.insert(&r.device, last.len());
                last.push(r);
                attempts.push(1);
            }
        }
    }

    let t0_us = results
        .iter()
        .filter(|r| r.started_us > 0)
        .map(|r| r.started_us)
        .min()
        .or_else(|| run.as_ref().and_then(|r| micros(&r.started_at)))
        .unwrap_or(0);

    // Lanes: one per (pid, thread), grouped by worker process in slot order.
    let shard_of =
        |pid: u32| -> Option<u32> { workers.iter().find(|w| w.pid == pid).and_then(|w| w.shard) };
    let mut lane_keys: Vec<(u32, u32, String)> = results
        .iter()
        .filter_map(|r| r.worker.as_ref().map(|w| (w.id, w.pid, w.thread.clone())))
        .collect();
    lane_keys.sort_by(|a, b| {
        (shard_of(a.1), a.0, a.1, thread_num(&a.2), &a.2).cmp(&(
            shard_of(b.1),
            b.0,
            b.1,
            thread_num(&b.2),
            &b.2,
        ))
    });
    lane_keys.dedup();
    let lanes: Vec<Lane> = lane_keys
        .iter()
        .map(|(id, pid, thread)| {
            let group = match shard_of(*pid) {
                Some(s) => format!("shard {s} · worker {id} · pid {pid}"),
                None => format!("worker {id} · pid {pid}"),
            };
            Lane {
                pid: *pid,
                worker: *id,
                thread: thread.clone(),
                group,
            }
        })
        .collect();
    let lane_of: HashMap<(u32, &str), usize> = lanes
        .iter()
        .enumerate()
        .map(|(i, l)| ((l.pid, l.thread.as_str()), i))
        .collect();
    let lane_for = |r: &DeviceResult| {
        r.worker
            .as_ref()
            .and_then(|w| lane_of.get(&(w.pid, w.thread.as_str())).copied())
    };

    let us = |ms: f64| (ms * 1000.0).max(0.0) as u64;
    let sessions: Vec<Session> = results
        .iter()
        .filter_map(|r| {
            let lane = lane_for(r)?;
            let t = &r.timings_ms;
            let cmd = (t.total - t.connect - t.auth).max(t.commands);
            Some(Session(
                index[r.device.as_str()],
                lane,
                r.started_us.saturating_sub(t0_us),
                us(t.connect),
                us(t.auth),
                us(cmd),
                r.status.as_str().to_string(),
            ))
        })
        .collect();

    let inv = inventory_facts(run.as_ref(), &mut notes);

    // Stories: failed devices first, within the cap; entries split by device
    // once so each story reads only its own lines (plus device-less problems).
    let mut by_device: HashMap<&str, Vec<Entry>> = HashMap::new();
    let mut general: Vec<Entry> = Vec::new();
    for e in &entries {
        match e.record.device.as_deref() {
            Some(d) if index.contains_key(d) => by_device
                .entry(index.get_key_value(d).map(|(k, _)| *k).unwrap_or(d))
                .or_default()
                .push(e.clone()),
            Some(_) => {}
            None => {
                if e.level().is_some_and(|l| l <= log::Level::Warn) {
                    general.push(e.clone());
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..last.len()).collect();
    order.sort_by_key(|&i| last[i].status.is_ok());
    let with_story: std::collections::HashSet<usize> =
        order.iter().take(limits.stories).copied().collect();
    if last.len() > limits.stories {
        notes.push(format!(
            "stories included for {} of {} devices (failed first); `fleet logs RUN --device NAME --explain` tells the rest",
            limits.stories,
            last.len()
        ));
    }

    let mut story_index = StoryIndex::new(&results);
    let mut output_budget = limits.total_output_bytes;
    let mut outputs_dropped = 0usize;
    let mut devices = Vec::with_capacity(last.len());
    for (i, r) in last.iter().enumerate() {
        let story = if with_story.contains(&i) {
            let mut es: Vec<Entry> = by_device.remove(r.device.as_str()).unwrap_or_default();
            es.extend(general.iter().cloned());
            es.sort_by(|a, b| a.record.ts.cmp(&b.record.ts));
            let mine = story_index.rows_for(&r.device, r, &es);
            Some(explain::build(&run_id, &r.device, &es, &mine).to_string())
        } else {
            None
        };
        let mut outputs = Vec::new();
        for o in &r.outputs {
            let mut text = o.stdout.clone();
            if !o.stderr.is_empty() {
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
                text.push_str(&o.stderr);
            }
            let want = text.len().min(limits.output_bytes);
            let (kept, cut) = if want <= output_budget {
                cap(&text, limits.output_bytes)
            } else {
                outputs_dropped += 1;
                (String::new(), text.len())
            };
            output_budget = output_budget.saturating_sub(kept.len());
            outputs.push(Output {
                command: o.command.clone(),
                text: kept,
                exit_status: o.exit_status,
                cut_bytes: cut,
            });
        }
        let t = &r.timings_ms;
        let (groups, platform) = inv.get(r.device.as_str()).cloned().unwrap_or_default();
        devices.push(Device {
            name: r.device.clone(),
            addr: fleet_proto::device::host_port(&r.host, r.port),
            status: r.status.as_str().to_string(),
            error: r.error.clone(),
            attempts: attempts[i],
            worker: r.worker.as_ref().map(|w| w.id),
            lane: lane_for(r),
            total_ms: t.total,
            phases_ms: [t.connect, t.auth, t.commands],
            groups,
            platform,
            outputs,
            story,
        });
    }
    if outputs_dropped > 0 {
        notes.push(format!(
            "{outputs_dropped} outputs left out past {} MiB of outputs; results.jsonl has them all",
            limits.total_output_bytes / (1024 * 1024)
        ));
    }

    let mut markers = Vec::new();
    for w in &workers {
        let (pid, id, gen) = (w.pid, w.id, w.generation);
        let at = |t: Option<&str>| t.and_then(micros).map(|us| us.saturating_sub(t0_us));
        if gen > 0 {
            if let Some(t) = at(Some(&w.started_at)) {
                markers.push(Marker {
                    kind: "restart".into(),
                    pid,
                    at_us: t,
                    label: format!("worker {id} restarted (generation {gen})"),
                });
            }
        }
        if w.crashed {
            if let Some(t) = at(w.exited_at.as_deref()) {
                let exit = w.exit.as_deref().unwrap_or("crashed");
                markers.push(Marker {
                    kind: "crash".into(),
                    pid,
                    at_us: t,
                    label: format!("worker {id} pid {pid} crashed: {exit}"),
                });
            }
        }
    }

    let mut totals: BTreeMap<String, usize> = BTreeMap::new();
    for r in &last {
        *totals.entry(r.status.as_str().to_string()).or_default() += 1;
    }
    let header = Header {
        run_id,
        command_line: run
            .as_ref()
            .map(|r| redact(&r.command_line))
            .unwrap_or_default(),
        layout: run.as_ref().map(|r| r.layout.clone()),
        started_at: run.as_ref().map(|r| r.started_at.clone()),
        wall_ms: run.as_ref().and_then(|r| r.wall_ms),
        exit_code: run.as_ref().and_then(|r| r.exit_code),
        interrupted: run.as_ref().and_then(|r| r.interrupted).unwrap_or(false),
        devices: run.as_ref().map_or(last.len(), |r| r.devices),
        totals,
        shards: run.as_ref().and_then(shards_fact),
    };
    Ok(ReportData {
        run: header,
        t0_us,
        lanes,
        devices,
        sessions,
        workers,
        markers,
        notes,
    })
}

fn thread_num(t: &str) -> u32 {
    t.rsplit('t')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(u32::MAX)
}

/// Groups and platform per device from the run's inventory, when it can
/// be read again; results rows do not carry them.
fn inventory_facts(
    run: Option<&RunJson>,
    notes: &mut Vec<String>,
) -> HashMap<String, (Vec<String>, Option<String>)> {
    let mut out = HashMap::new();
    let Some(path) = run.and_then(|r| r.inventory.as_deref()) else {
        return out;
    };
    match fleet_inventory::load(path, None) {
        Ok(inv) => {
            for d in &inv.devices {
                out.insert(d.name.clone(), (d.groups.clone(), d.platform.clone()));
            }
        }
        Err(e) => notes.push(format!(
            "groups and platforms unavailable: inventory {}: {e}",
            path.display()
        )),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_secret_flags_and_inline_secrets() {
        let argv: Vec<String> = [
            "fleet",
            "run",
            "--vault-password",
            "hunter2",
            "--password-env",
            "PW",
            "--token=abc",
            "--config-line",
            "username admin secret s3cr3t",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let r = redact(&argv);
        assert_eq!(r[3], "***");
        assert_eq!(r[5], "PW", "an env var name is not a secret");
        assert_eq!(r[6], "--token=***");
        assert_eq!(r[8], "username admin secret ***");
        assert!(!r.join(" ").contains("hunter2") && !r.join(" ").contains("s3cr3t"));
    }

    #[test]
    fn cap_cuts_on_char_boundaries() {
        let (k, cut) = cap("héllo", 2);
        assert_eq!(k, "h");
        assert_eq!(cut, 5);
        assert_eq!(cap("abc", 10), ("abc".to_string(), 0));
    }
}
