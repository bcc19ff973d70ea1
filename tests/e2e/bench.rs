//! `fleet bench`: a tiny sweep against a lab child and a noop sweep; checks
//! the outputs' shape and that every layout ran every device (never timings).

use crate::common::*;
use crate::report::{browser, js, Driver};
use fantoccini::Locator;
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
    assert!(lines[0].starts_with("layout,kind,p,t,"));
    let cols = lines[0].split(',').count();
    for line in &lines[1..] {
        assert_eq!(line.split(',').count(), cols, "{line}");
    }
    check_svg(&out.join("bench.svg"));
    let html = std::fs::read_to_string(out.join("bench.html")).unwrap();
    assert!(
        html.contains("default-src 'none'"),
        "bench.html has its CSP"
    );
    let md = std::fs::read_to_string(out.join("bench.md")).unwrap();
    for l in layouts {
        assert!(md.contains(&format!("| {l} |")), "bench.md lacks {l}: {md}");
    }
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

/// The bare pool runs interleaved with fleet layouts against the same lab,
/// every layout gets its ratio to it, and bench.html draws the sweep in a
/// real headless Chromium without errors or network requests.
#[test]
fn bench_with_a_bare_pool_and_its_page_in_a_real_browser() {
    let dir = scratch();
    let run = fleet(
        dir.path(),
        &[
            "bench",
            "--devices",
            "12",
            "--zero-latency",
            "--lab-arg=--flavours=linux",
            "-c",
            "echo ok",
            "--layouts",
            "1x1,bare(4),0x4",
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
    assert!(run.stdout.contains("| bare(4) |"), "{}", run.explain());
    let out = dir.path().join("out");
    let doc = read_json(&out.join("bench.json"));
    let layouts = doc["layouts"].as_array().unwrap();
    let bare = &layouts[1];
    assert_eq!(bare["layout"], "bare(4)");
    assert_eq!(bare["kind"], "bare");
    assert_eq!(bare["slots"], 4);
    assert!(bare["p"].is_null() && bare["t"].is_null(), "{bare}");
    assert_eq!(bare["statuses"]["ok"], 12, "{bare}");
    assert_eq!(bare["all_ok"], true, "{bare}");
    assert_eq!(bare["command"][1], "__bare-pool", "{bare}");
    // The pool's sessions really reached the lab: calibration + 3 layouts.
    assert_eq!(doc["lab"]["stats"]["auth_ok"], 3 + 12 * 3, "{}", doc["lab"]);
    for l in layouts {
        assert_eq!(l["bare"], "bare(4)", "{l}");
        assert!(l["wall_vs_bare"].as_f64().unwrap() > 0.0, "{l}");
        assert!(l["cpu_vs_bare"].as_f64().unwrap() > 0.0, "{l}");
        // Divided by the lab's CPU run by run: a number when the lab's CPU
        // was measurable (10 ms ticks), never missing from the record.
        let by_lab = &l["cpu_vs_bare_by_lab"];
        assert!(
            by_lab.is_null() || by_lab.as_f64().is_some_and(|r| r > 0.0),
            "{l}"
        );
        assert!(l.get("cpu_per_lab_cpu").is_some(), "{l}");
        let ideal = l["ideal_ms"].as_f64().unwrap();
        let waves = l["ideal_waves_ms"].as_f64().unwrap();
        let cpu = l["ideal_cpu_ms"].as_f64().unwrap();
        assert_eq!(ideal, waves.max(cpu), "{l}");
        assert!(cpu > 0.0, "the CPU bound counts the run: {l}");
    }
    assert_eq!(layouts[1]["wall_vs_bare"], 1.0);
    assert_eq!(layouts[0]["kind"], "fleet");
    assert_eq!(layouts[0]["command"][1], "run");

    let html = out.join("bench.html");
    let driver = Driver::start();
    let profile = dir.path().join("chromium-profile");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = browser(&driver, &profile).await;
        c.goto(&format!("file://{}", html.display())).await.unwrap();
        c.wait()
            .for_element(Locator::Css("body[data-ready='1']"))
            .await
            .expect("page ready");
        // Four panels (wall, CPU, RSS, ratio to bare), each with a bar per
        // layout for its first series, drawn on the scale bench.json implies.
        let panels = js(
            &c,
            "return [...document.querySelectorAll('.panel')].map(p => [p.id, p.dataset.groups, \
             p.querySelectorAll('rect.bar').length]);",
        )
        .await;
        let panels = panels.as_array().unwrap();
        let ids: Vec<&str> = panels.iter().map(|p| p[0].as_str().unwrap()).collect();
        assert_eq!(ids, ["panel-wall", "panel-cpu", "panel-rss", "panel-bare"]);
        for p in panels {
            assert_eq!(p[1], "3", "{p}");
            assert!(p[2].as_u64().unwrap() >= 3, "a bar per layout: {p}");
        }
        let bars = js(
            &c,
            "return [...document.querySelectorAll('#panel-wall rect.bar')].filter(r => r.dataset.series === 'median wall').map(r => [r.dataset.layout, Number(r.dataset.value)]);",
        )
        .await;
        for (b, l) in bars.as_array().unwrap().iter().zip(layouts) {
            assert_eq!(b[0], l["layout"]);
            let want = l["median_wall_ms"].as_f64().unwrap() / 1e3;
            assert!((b[1].as_f64().unwrap() - want).abs() < 1e-9, "{b} vs {want}");
        }
        let rows = js(
            &c,
            "return [...document.querySelectorAll('#layouts tbody tr')].map(r => r.dataset.layout);",
        )
        .await;
        assert_eq!(rows, serde_json::json!(["1x1", "bare(4)", "0x4"]));
        let cmds = js(
            &c,
            "return [...document.querySelectorAll('#commands pre')].map(p => p.textContent);",
        )
        .await;
        let cmds = cmds.as_array().unwrap();
        assert_eq!(cmds.len(), 3);
        assert!(cmds[1].as_str().unwrap().contains("__bare-pool --inventory"), "{cmds:?}");
        assert!(cmds[2].as_str().unwrap().contains(" run --inventory"), "{cmds:?}");
        let sweep = js(&c, "return document.getElementById('bench-command').textContent;").await;
        assert!(sweep.as_str().unwrap().contains("'1x1,bare(4),0x4'"), "{sweep}");

        let errors = js(&c, "return window.__fleetErrors;").await;
        assert_eq!(errors, serde_json::json!([]), "errors on the page");
        let requests = js(
            &c,
            "return performance.getEntriesByType('resource').map(e => e.name);",
        )
        .await;
        assert_eq!(requests, serde_json::json!([]), "network requests");
        let png = c.screenshot().await.unwrap();
        let shot = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-screenshot.png");
        // target/ is not there when CARGO_TARGET_DIR points elsewhere.
        std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
        std::fs::write(&shot, png).unwrap();
        c.close().await.unwrap();
    });
}

#[test]
fn bench_refuses_the_bare_pool_without_ssh() {
    let dir = scratch();
    let run = fleet(
        dir.path(),
        &[
            "bench",
            "--transport",
            "noop",
            "--layouts",
            "0x2,bare(2)",
            "--out",
            "out",
        ],
        &[],
    );
    run.assert_code(2);
    assert!(
        run.stderr.contains("the bare pool makes real SSH sessions"),
        "{}",
        run.explain()
    );
    assert!(!dir.path().join("out/bench.json").exists());
}
