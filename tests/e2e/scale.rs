//! Large runs keep their run directory proportional: `--trace
//! sample|full|off` and routine per-device log lines off above 10,000
//! devices; every device still has its result line.

use crate::common::{fleet, scratch, RunArgs};
use fleet_proto::rundir::{ResultsReader, RunJson, TraceMode, WorkerRecord};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Above `fleet_master::trace::AUTO_FULL_MAX` (10,000): `auto` samples.
const LARGE: usize = 12_000;

/// A fleet YAML inventory of `n` noop devices in two groups.
fn inventory(dir: &Path, n: usize) -> PathBuf {
    let mut y = String::from(
        "defaults:\n  username: u\n  agent: true\n  transport: noop\n  commands: [x]\ndevices:\n",
    );
    for i in 0..n {
        y.push_str(&format!(
            "- {{name: d{i:05}, host: 10.0.{}.{}, groups: [g{}]}}\n",
            i / 256,
            i % 256,
            i % 2
        ));
    }
    let path = dir.join("inventory.yaml");
    std::fs::write(&path, y).unwrap();
    path
}

/// What a run directory holds, read through the typed readers.
struct Read {
    dir: PathBuf,
    run: RunJson,
    names: BTreeSet<String>,
    lines: usize,
    sessions_in_trace: usize,
    master_log: String,
    worker_logs: String,
}

fn read(run_dir: &Path) -> Read {
    let run = RunJson::read(run_dir).expect("run.json");
    WorkerRecord::read_all(run_dir).expect("workers.json");
    let results = ResultsReader::open(run_dir)
        .expect("results.jsonl")
        .read_all()
        .expect("result lines");
    let trace: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("trace.json")).unwrap())
            .expect("trace.json is JSON");
    let sessions_in_trace = trace["traceEvents"]
        .as_array()
        .expect("traceEvents")
        .iter()
        .filter(|e| e["cat"] == "session")
        .count();
    let mut worker_logs = String::new();
    for entry in std::fs::read_dir(run_dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("worker-") && name.ends_with(".log") {
            worker_logs.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
    Read {
        dir: run_dir.to_path_buf(),
        run,
        names: results.iter().map(|r| r.device.clone()).collect(),
        lines: results.len(),
        sessions_in_trace,
        master_log: std::fs::read_to_string(run_dir.join("master.log")).unwrap(),
        worker_logs,
    }
}

fn run(dir: &Path, inv: &Path, out: &str, extra: &[&str]) -> Read {
    let args = RunArgs::new(inv)
        .transport("noop")
        .layout(2, 4)
        .format("none")
        .out(out)
        .args(extra.iter().copied());
    let r = fleet(dir, &args.build(), &[]);
    r.assert_code(0);
    read(&r.run_dir(out))
}

#[test]
fn a_large_run_samples_its_trace_and_logs_no_routine_device_lines() {
    let dir = scratch();
    let inv = inventory(dir.path(), LARGE);
    let got = run(dir.path(), &inv, "auto", &[]);
    let want: BTreeSet<String> = (0..LARGE).map(|i| format!("d{i:05}")).collect();
    assert_eq!(got.lines, LARGE, "one result line per device");
    assert_eq!(got.names, want);
    let trace = got.run.trace.expect("run.json names its trace mode");
    assert_eq!(trace.mode, TraceMode::Sample);
    // ~10,000 of 12,000 at stride 2: a sample, not everything, not nothing.
    assert!(
        (4_000..9_000).contains(&trace.sessions),
        "{} sessions traced",
        trace.sessions
    );
    assert_eq!(got.sessions_in_trace, trace.sessions);
    assert!(!got.master_log.contains(" dispatch: "), "no dispatch lines");
    assert!(!got.master_log.contains(" result: "), "no ok result lines");
    assert!(got.master_log.contains(" run "), "the run's own lines stay");
    assert!(!got.worker_logs.contains("session_start:"));
    assert!(got.worker_logs.contains("ready"), "worker lines stay");
    // A device's story still comes from its result line.
    let story = fleet(
        dir.path(),
        &[
            "logs",
            got.dir.to_str().unwrap(),
            "--device",
            "d00042",
            "--explain",
        ],
        &[],
    );
    story.assert_code(0);
    assert!(story.stdout.contains("d00042"), "{}", story.explain());
    assert!(story.stdout.contains("ok"), "{}", story.explain());

    // Asked for: every device's lines and slices.
    let all = run(
        dir.path(),
        &inv,
        "full",
        &["--trace", "full", "--device-logs", "on"],
    );
    assert_eq!(all.lines, LARGE);
    assert_eq!(all.run.trace.unwrap().mode, TraceMode::Full);
    assert_eq!(all.sessions_in_trace, LARGE);
    assert_eq!(dispatched(&all.master_log).len(), LARGE);
    assert_eq!(all.worker_logs.matches("session_start:").count(), LARGE);
}

#[test]
fn trace_off_keeps_a_valid_trace_without_sessions_and_every_result() {
    let dir = scratch();
    let inv = inventory(dir.path(), 300);
    let got = run(dir.path(), &inv, "off", &["--trace", "off"]);
    assert_eq!(got.lines, 300);
    assert_eq!(got.names.len(), 300);
    let trace = got.run.trace.unwrap();
    assert_eq!((trace.mode, trace.sessions), (TraceMode::Off, 0));
    assert_eq!(got.sessions_in_trace, 0);
    // A small run logs its devices by default (auto): every device is
    // dispatched, some twice when the end-of-run take-back hands a device
    // queued in a busy worker to an idle one (each dispatch has its line).
    assert_eq!(dispatched(&got.master_log).len(), 300);

    let sampled = run(dir.path(), &inv, "sample", &["--trace", "sample"]);
    // Under the sample target, a sample is everything.
    assert_eq!(sampled.run.trace.unwrap().sessions, 300);
    assert_eq!(sampled.sessions_in_trace, 300);
}

/// The devices with a `dispatch:` line in a master.log (a device taken back
/// at the end of a run and sent again has two).
fn dispatched(master_log: &str) -> std::collections::BTreeSet<String> {
    master_log
        .lines()
        .filter_map(fleet_logs::parse_line)
        .filter(|r| r.message.starts_with("dispatch: "))
        .filter_map(|r| r.device)
        .collect()
}
