//! `-p auto -t auto` against the lab: the decision is measured, explained
//! and recorded, and the thread count follows the devices' latency.

use crate::common::*;
use crate::lab::{lab_devices, LabProc};
use fleet_testkit::fleet::{results, FleetRun};
use std::path::{Path, PathBuf};

/// Every lab device has exactly one final result line, `ok`.
fn assert_each_device_once_ok(run_dir: &Path, inventory: &Path) {
    let lines = results(run_dir);
    let devices = lab_devices(inventory);
    assert_eq!(lines.len(), devices.len(), "one line per device");
    let res = by_device(&lines);
    assert_eq!(res.len(), devices.len(), "no device twice");
    for (name, _, _) in &devices {
        assert_eq!(status(&res[name]), "ok", "{name}: {}", res[name]);
    }
}

/// `-p auto -t auto` over the whole lab, which must end with every device
/// `ok` once; the run and its directory.
fn auto_run(dir: &Path, lab: &LabProc) -> (FleetRun, PathBuf) {
    let args = lab
        .run_args()
        .layout("auto", "auto")
        .command("show version")
        .format("none");
    let run = fleet(dir, &args.build(), &[]);
    run.assert_code(0);
    let run_dir = run.run_dir("runs");
    assert_each_device_once_ok(&run_dir, &lab.inventory);
    (run, run_dir)
}

/// The measured steps of `layout.auto` (the probe is step 0).
fn steps(run_json: &serde_json::Value) -> Vec<serde_json::Value> {
    run_json["layout"]["auto"]["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no layout.auto.steps in run.json: {run_json}"))
        .clone()
}

#[test]
fn auto_layout_is_measured_explained_and_recorded_in_run_json() {
    let dir = scratch();
    let lab = LabProc::start(BIN, dir.path(), &["--devices", "200", "--latency", "300ms"]);
    let (run, run_dir) = auto_run(dir.path(), &lab);

    let doc = read_json(&run_dir.join("run.json"));
    let auto = &doc["layout"]["auto"];
    let cores = std::thread::available_parallelism().unwrap().get() as u64;
    assert_eq!(auto["facts"]["cores"], cores, "{auto}");
    assert_eq!(auto["facts"]["devices_left"], 200);
    assert!(auto["facts"]["fd_limit"].as_u64().unwrap() > 0);
    let steps = steps(&doc);
    assert_eq!(steps[0]["decision"]["bottleneck"], "probe");
    assert_eq!(steps[0]["processes"], doc["layout"]["processes"]);
    assert_eq!(steps[0]["threads"], doc["layout"]["threads"]);
    // At least one decision from real measurements of this run's sessions.
    let measured = &steps[1];
    let sample = &measured["decision"]["sample"];
    assert!(sample["sessions"].as_u64().unwrap() >= 8, "{measured}");
    // Each session waits two commands of 300 ms (paging off, the command).
    assert!(sample["wall_s"].as_f64().unwrap() >= 0.3, "{measured}");
    assert!(sample["cpu_s"].as_f64().unwrap() > 0.0, "{measured}");
    // Explained once on stderr, with the layout in force.
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("fleet: auto: "))
        .collect();
    assert_eq!(lines.len(), 1, "{}", run.explain());
    let want = format!(
        "{}×{}: sessions wait",
        measured["processes"], measured["threads"]
    );
    assert!(lines[0].contains(&want), "{} lacks {want}", lines[0]);

    // Every change is a layout_change event in master.log and a marker in
    // trace.json.
    let changes = steps
        .iter()
        .skip(1)
        .filter(|s| s["changed"] == true)
        .count();
    assert!(
        changes >= 1,
        "the probe's slots for 300 ms sessions must grow: {steps:?}"
    );
    let log = std::fs::read_to_string(run_dir.join("master.log")).unwrap();
    let events: Vec<fleet_proto::event::Lifecycle> = log
        .lines()
        .filter_map(|l| l.split_once(" - ").map(|(_, m)| m))
        .filter(|m| m.starts_with("layout_change:"))
        .map(|m| fleet_proto::event::Lifecycle::parse(m).unwrap().unwrap())
        .filter(|ev| {
            matches!(ev, fleet_proto::event::Lifecycle::LayoutChange { reason, .. }
                if reason.starts_with("auto, was "))
        })
        .collect();
    assert_eq!(events.len(), changes, "{log}");
    let trace = read_json(&run_dir.join("trace.json"));
    let marks = trace["traceEvents"]
        .as_array()
        .expect("traceEvents")
        .iter()
        .filter(|e| e["name"] == "layout change")
        .count();
    assert_eq!(marks, changes);
    lab.stop();
}

#[test]
fn threads_follow_the_lab_latency_mid_run_and_every_device_ends_once() {
    let dir = scratch();
    // The first 399 devices answer at once, the next 301 after 300 ms per
    // command: fleet dispatches in inventory order, so the run meets the
    // slow devices after the fast ones, whatever the machine's speed.
    let scenario = dir.path().join("slower.toml");
    std::fs::write(
        &scenario,
        "[[rule]]\nname = \"fast\"\ndevices = [\"lab-*-0[0-3]??\"]\nlatency = \"0ms\"\n",
    )
    .unwrap();
    let lab = LabProc::start(
        BIN,
        dir.path(),
        &[
            "--devices",
            "700",
            "--latency",
            "300ms",
            "--scenario",
            scenario.to_str().unwrap(),
        ],
    );
    let devices = lab_devices(&lab.inventory);
    assert_eq!(devices.iter().filter(|d| d.2 == "fast").count(), 399);
    let (_, run_dir) = auto_run(dir.path(), &lab);

    let doc = read_json(&run_dir.join("run.json"));
    let steps = steps(&doc);
    let probe_threads = steps[0]["threads"].as_u64().unwrap();
    let changed: Vec<&serde_json::Value> = steps
        .iter()
        .skip(1)
        .filter(|s| s["changed"] == true)
        .collect();
    assert!(
        changed
            .iter()
            .any(|s| s["threads"].as_u64().unwrap() != probe_threads),
        "the thread count never changed: {steps:?}"
    );
    // The workers resized their pools (threads started or parked).
    let resized = std::fs::read_dir(&run_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("worker-"))
        .any(|e| {
            std::fs::read_to_string(e.path())
                .unwrap_or_default()
                .contains("resize: threads")
        });
    assert!(resized, "no worker log shows a resize");
    // Each device reached the lab exactly once: nothing lost, nothing run twice.
    let stats = lab.stop();
    assert_eq!(stats["sessions_accepted"], 700, "{stats}");
}
