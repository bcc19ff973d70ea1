//! `fleet bench`: a tiny sweep against a lab child and a noop sweep; checks
//! the outputs' shape and that every layout ran every device (never timings).

use crate::common::*;
use serde_json::Value;
use std::path::Path;

/// Keys every layout entry of bench.json must have.
const LAYOUT_KEYS: &[&str] = &[
    "layout",
    "p",
    "t",
    "runs",
    "median_wall_ms",
    "sessions_per_s",
    "speedup",
    "efficiency",
    "cpu_ms_per_session",
    "master_cpu_ms",
    "workers_cpu_ms",
    "peak_rss_total_kib",
    "peak_rss_per_worker_kib",
    "ipc_messages",
    "ipc_bytes",
    "spawn_ms",
    "statuses",
];

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// A string-level SVG check: one root `<svg>` element that is closed, no
/// stray bytes after it, and one line series per metric (the legend names
/// both metrics and there is a polyline for each).
fn check_svg(path: &Path) {
    let svg = std::fs::read_to_string(path).unwrap();
    let body = svg.trim();
    let body = body
        .strip_prefix("<?xml")
        .map(|rest| {
            rest.split_once("?>")
                .expect("xml declaration closed")
                .1
                .trim_start()
        })
        .unwrap_or(body);
    assert!(
        body.starts_with("<svg"),
        "root element is not <svg>: {}",
        &body[..body.len().min(200)]
    );
    assert!(body.ends_with("</svg>"), "svg not closed");
    assert_eq!(body.matches("<svg").count(), 1, "one svg root");
    assert!(body.contains("xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(
        body.contains("median wall time (s)"),
        "wall-time series missing"
    );
    assert!(body.contains("peak RSS"), "memory series missing");
    assert!(
        body.matches("<polyline").count() >= 2,
        "expected a line per metric"
    );
}

fn check_bench(out: &Path, devices: u64, layouts: &[&str], with_workers: &[bool]) -> Value {
    let doc = read_json(&out.join("bench.json"));
    assert_eq!(doc["schema"], "fleet-bench/1");
    assert_eq!(doc["devices"], devices);
    assert!(doc["cores"].as_u64().unwrap() >= 1);
    let got: Vec<&str> = doc["layouts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["layout"].as_str().unwrap())
        .collect();
    assert_eq!(got, layouts);
    for (l, workers) in doc["layouts"].as_array().unwrap().iter().zip(with_workers) {
        for k in LAYOUT_KEYS {
            assert!(l.get(k).is_some(), "layout {} lacks {k}: {l}", l["layout"]);
        }
        let runs = l["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 1, "{l}");
        let run = &runs[0];
        assert_eq!(run["devices"], devices, "{run}");
        assert_eq!(run["exit_code"], 0, "{run}");
        assert_eq!(l["statuses"]["ok"], devices, "{l}");
        assert_eq!(l["all_ok"], true, "{l}");
        assert!(l["median_wall_ms"].as_f64().unwrap() > 0.0);
        assert!(l["peak_rss_total_kib"].as_u64().unwrap() > 0);
        let run_dir = Path::new(run["run_dir"].as_str().unwrap());
        assert!(run_dir.join("results.jsonl").is_file());
        if *workers {
            assert!(l["ipc_messages"].as_u64().unwrap() > 0, "{l}");
            assert!(l["peak_rss_per_worker_kib"].as_u64().unwrap() > 0, "{l}");
            assert!(l["workers_cpu_ms"].is_number(), "{l}");
            assert!(l["spawn_ms"].is_number(), "{l}");
        } else {
            assert!(l["workers_cpu_ms"].is_null(), "{l}");
            assert!(l["spawn_ms"].is_null(), "{l}");
        }
    }
    let csv = std::fs::read_to_string(out.join("bench.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), layouts.len() + 1, "{csv}");
    assert!(lines[0].starts_with("layout,p,t,"));
    let cols = lines[0].split(',').count();
    for line in &lines[1..] {
        assert_eq!(line.split(',').count(), cols, "{line}");
    }
    check_svg(&out.join("bench.svg"));
    doc
}

#[test]
fn bench_tiny_sweep_against_a_lab() {
    let dir = scratch();
    let run = fleet(
        dir.path(),
        &[
            "bench",
            "--devices",
            "20",
            "--zero-latency",
            "--layouts",
            "1x1,2x4",
            "--repeat",
            "1",
            "--calibration-devices",
            "3",
            "--out",
            "out",
        ],
        &[],
    );
    run.assert_code(0);
    assert!(run.stdout.contains("| 1x1 |"), "{}", run.explain());
    assert!(run.stdout.contains("| 2x4 |"), "{}", run.explain());
    let doc = check_bench(&dir.path().join("out"), 20, &["1x1", "2x4"], &[true, true]);
    assert_eq!(doc["target"], "lab");
    assert_eq!(doc["baseline"], "1x1");
    assert_eq!(doc["latency_ms"], 0.0);
    assert!(
        doc["handshake_ms"].as_f64().unwrap() > 0.0,
        "calibration ran"
    );
    assert!(
        doc["session_ms"].as_f64().unwrap() >= doc["handshake_ms"].as_f64().unwrap(),
        "a session includes its handshake: {doc}"
    );
    assert!(doc["lab"]["cpu_ms_total"].is_number(), "{}", doc["lab"]);
    // The lab saw every session of every run: calibration + 2 layouts.
    assert_eq!(
        doc["lab"]["stats"]["auth_ok"],
        3 + 20 + 20,
        "{}",
        doc["lab"]
    );
    for l in doc["layouts"].as_array().unwrap() {
        assert!(l["lab_cpu_ms"].is_number(), "{l}");
        assert!(l["speedup"].is_number(), "{l}");
    }
}

#[test]
fn bench_noop_sweep_needs_no_lab() {
    let dir = scratch();
    let run = fleet(
        dir.path(),
        &[
            "bench",
            "--transport",
            "noop",
            "--devices",
            "300",
            "--layouts",
            "0x4,2x8@64",
            "--repeat",
            "1",
            "--out",
            "out",
        ],
        &[],
    );
    run.assert_code(0);
    let doc = check_bench(
        &dir.path().join("out"),
        300,
        &["0x4", "2x8@64"],
        &[false, true],
    );
    assert_eq!(doc["target"], "synthetic");
    assert_eq!(doc["transport"], "noop");
    assert!(doc["lab"].is_null());
    assert_eq!(doc["layouts"][1]["batch_size"], 64);
    assert!(doc["baseline"].is_null());
}

#[test]
fn bench_rejects_a_bad_layout() {
    let dir = scratch();
    let run = fleet(
        dir.path(),
        &[
            "bench",
            "--transport",
            "noop",
            "--layouts",
            "4x0",
            "--out",
            "out",
        ],
        &[],
    );
    run.assert_code(2);
    assert!(
        run.stderr.contains("invalid layout `4x0`"),
        "{}",
        run.explain()
    );
    assert!(!dir.path().join("out/bench.json").exists());
}
