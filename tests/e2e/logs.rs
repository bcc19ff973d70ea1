//! Troubleshooting a P×T run afterwards: per-worker logs, `fleet logs`
//! (merge, filters, `--explain`), `trace.json`, `fleet runs`.

use crate::common::*;
use fleet_testkit::fleet::results;
use fleet_testkit::sshd::Sshd;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `n` devices on `sshd`, each echoing its own name.
fn devices(sshd: &Sshd, n: usize) -> Vec<Dev> {
    (0..n)
        .map(|i| {
            Dev::new(format!("dev-{i:03}"), sshd.port())
                .with(&format!("    commands: [\"echo hi from dev-{i:03}\"]\n"))
        })
        .collect()
}

/// The worker logs of a run, by file name.
fn worker_logs(rd: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(rd)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("worker-") && n.ends_with(".log"))
        .map(|n| {
            let text = std::fs::read_to_string(rd.join(&n)).unwrap();
            (n, text)
        })
        .collect()
}

/// Runs `fleet logs RUN_DIR ARGS...` and returns its stdout.
fn fleet_logs(dir: &Path, rd: &Path, args: &[&str]) -> String {
    let mut all = vec!["logs", rd.to_str().unwrap()];
    all.extend_from_slice(args);
    let run = fleet(dir, &all, &[]);
    run.assert_code(0);
    run.stdout
}

/// Runs 30 devices with `-p 3 -t 5`, returns (scratch dir, run dir).
fn run_3x5(out: &str) -> (tempfile::TempDir, PathBuf, Sshd) {
    let sshd = Sshd::start().unwrap();
    let dir = scratch();
    let inv = inventory(dir.path(), &sshd, "", &devices(&sshd, 30));
    let run = fleet(
        dir.path(),
        &RunArgs::new(&inv).layout(3, 5).out(out).build(),
        &[],
    );
    run.assert_code(0);
    let rd = run.run_dir(out);
    (dir, rd, sshd)
}

#[test]
fn every_line_parses_every_device_in_one_worker_log_and_fleet_logs_follows_a_device() {
    let (dir, rd, _sshd) = run_3x5("runs");
    let logs = worker_logs(&rd);
    assert_eq!(
        logs.keys().cloned().collect::<Vec<_>>(),
        ["worker-0.log", "worker-1.log", "worker-2.log"]
    );
    let master = std::fs::read_to_string(rd.join("master.log")).unwrap();
    let mut total_lines = 0;
    for (name, text) in logs.iter().chain([(&"master.log".to_string(), &master)]) {
        for line in text.lines() {
            total_lines += 1;
            let rec = fleet_logs::parse_line(line)
                .unwrap_or_else(|| panic!("{name}: line does not parse: {line:?}"));
            let want_who = match name.strip_prefix("worker-") {
                Some(rest) => format!("w{}", rest.trim_end_matches(".log")),
                None => "master".to_string(),
            };
            assert_eq!(rec.who, want_who, "{name}: {line}");
        }
    }
    // Each device's session ran in exactly one worker, which logged it
    // with the device field.
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, text) in &logs {
        for rec in text.lines().filter_map(fleet_logs::parse_line) {
            if let Some(fleet_proto::event::Lifecycle::SessionStart { .. }) = rec.event() {
                let device = rec.device.clone().expect("session start has a device");
                seen.entry(device).or_default().push(name.clone());
            }
        }
    }
    assert_eq!(seen.len(), 30, "{seen:?}");
    for (device, files) in &seen {
        assert_eq!(files.len(), 1, "{device} started in {files:?}");
    }

    // The merged stream holds every line exactly once, in time order.
    let merged = fleet_logs(dir.path(), &rd, &[]);
    assert_eq!(merged.lines().count(), total_lines);
    let stamps: Vec<&str> = merged
        .lines()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert!(
        stamps.windows(2).all(|w| w[0] <= w[1]),
        "not in time order:\n{merged}"
    );

    // One device across processes: dispatch (master), session (worker),
    // result (master), in that order.
    let device = "dev-017";
    let worker_file = &seen[device][0];
    let worker_who = format!(
        "w{}",
        worker_file
            .trim_start_matches("worker-")
            .trim_end_matches(".log")
    );
    let out = fleet_logs(dir.path(), &rd, &["--device", device]);
    let recs: Vec<fleet_logs::Record> = out
        .lines()
        .map(|l| fleet_logs::parse_line(l).unwrap_or_else(|| panic!("bad line {l:?}")))
        .collect();
    assert!(
        recs.iter().all(|r| r.device.as_deref() == Some(device)),
        "{out}"
    );
    use fleet_proto::event::Lifecycle;
    let pos = |who: &str, what: &str, is: &dyn Fn(&Lifecycle) -> bool| {
        recs.iter()
            .position(|r| r.who == who && r.event().is_some_and(|e| is(&e)))
            .unwrap_or_else(|| panic!("no {who} {what} event for {device}:\n{out}"))
    };
    let ok = fleet_proto::Status::Ok;
    let dispatch = pos("master", "dispatch", &|e| {
        matches!(e, Lifecycle::Dispatch { .. })
    });
    let start = pos(&worker_who, "session_start", &|e| {
        matches!(e, Lifecycle::SessionStart { .. })
    });
    let end = pos(
        &worker_who,
        "session_end",
        &|e| matches!(e, Lifecycle::SessionEnd { status, .. } if *status == ok),
    );
    let result = pos(
        "master",
        "result",
        &|e| matches!(e, Lifecycle::Result { status, .. } if *status == ok),
    );
    assert!(dispatch < start && start < end && end < result, "{out}");
    assert!(recs.windows(2).all(|w| w[0].ts <= w[1].ts), "{out}");

    // Filters: a worker's lines only; nothing at warn or worse in a clean
    // run; --json; --grep; --since/--until.
    let w1 = fleet_logs(dir.path(), &rd, &["--worker", "1"]);
    assert!(!w1.is_empty());
    for l in w1.lines() {
        assert_eq!(fleet_logs::parse_line(l).unwrap().who, "w1", "{l}");
    }
    assert_eq!(fleet_logs(dir.path(), &rd, &["--level", "warn"]), "");
    let json = fleet_logs(dir.path(), &rd, &["--device", device, "--json"]);
    assert_eq!(json.lines().count(), recs.len());
    for l in json.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["device"], device);
        assert!(v["ts"].is_string() && v["pid"].is_u64() && v["file"].is_string());
    }
    let grep = fleet_logs(
        dir.path(),
        &rd,
        &["--grep", "^.* result: attempt=1 .*status=ok"],
    );
    assert_eq!(grep.lines().count(), 30, "{grep}");
    let first = recs[0].ts.clone();
    let windowed = fleet_logs(
        dir.path(),
        &rd,
        &["--since", &first, "--until", &recs[result].ts],
    );
    assert!(windowed.lines().all(|l| {
        let ts = l.split(' ').next().unwrap();
        ts >= first.as_str() && ts <= recs[result].ts.as_str()
    }));
    assert!(
        windowed
            .lines()
            .any(|l| l.contains(&format!("{device} result: ")) && l.contains(" status=ok")),
        "{windowed}"
    );
    assert!(
        fleet_logs(dir.path(), &rd, &["--since", "0s"])
            .lines()
            .count()
            > 0
    );

    // --explain tells the same story.
    let story = fleet_logs(dir.path(), &rd, &["--device", device, "--explain"]);
    for want in [
        format!("device {device} in run"),
        "ok after 1 attempt".to_string(),
        "dispatched in batch".to_string(),
        format!("started on worker {}", &worker_who[1..]),
        "connect ".to_string(),
        "result: ok (attempt 1)".to_string(),
        "other session".to_string(),
    ] {
        assert!(story.contains(&want), "missing `{want}` in:\n{story}");
    }
}

#[test]
fn trace_json_is_valid_trace_event_json_with_one_session_slice_per_device() {
    let (_dir, rd, _sshd) = run_3x5("runs");
    let trace: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(rd.join("trace.json")).unwrap()).unwrap();
    let events = trace["traceEvents"].as_array().expect("traceEvents array");
    for e in events {
        assert!(e["ph"].is_string(), "{e}");
        assert!(e["ts"].is_number(), "{e}");
        assert!(e["pid"].is_u64(), "{e}");
        assert!(e["tid"].is_u64(), "{e}");
    }
    let thread_names: BTreeMap<(u64, u64), String> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .map(|e| {
            let key = (e["pid"].as_u64().unwrap(), e["tid"].as_u64().unwrap());
            (key, e["args"]["name"].as_str().unwrap().to_string())
        })
        .collect();
    let sessions: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["ph"] == "X" && e["cat"] == "session")
        .collect();
    let names: BTreeSet<&str> = sessions
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(sessions.len(), 30);
    assert_eq!(names.len(), 30, "one slice per device");
    let res = by_device(&results(&rd));
    let phases: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["ph"] == "X" && e["cat"] == "phase")
        .collect();
    // Float microseconds: allow rounding in the last digit.
    const EPS: f64 = 1.0;
    for s in &sessions {
        let name = s["name"].as_str().unwrap();
        let (pid, tid) = (s["pid"].as_u64().unwrap(), s["tid"].as_u64().unwrap());
        let worker = &res[name]["worker"];
        assert_eq!(pid, worker["pid"].as_u64().unwrap(), "{s}");
        assert_eq!(
            thread_names[&(pid, tid)],
            worker["thread"].as_str().unwrap()
        );
        let (ts, dur) = (s["ts"].as_f64().unwrap(), s["dur"].as_f64().unwrap());
        let inside: Vec<&str> = phases
            .iter()
            .filter(|p| p["pid"].as_u64() == Some(pid) && p["tid"].as_u64() == Some(tid))
            .filter(|p| {
                let (pts, pdur) = (p["ts"].as_f64().unwrap(), p["dur"].as_f64().unwrap());
                pts >= ts - EPS && pts + pdur <= ts + dur + EPS
            })
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(inside, ["connect", "auth", "commands"], "{name}: {s}");
    }
}

#[test]
fn a_worker_panic_lands_in_its_own_log_and_the_device_story_has_both_attempts() {
    const POISON: &str = "dev-007";
    let sshd = Sshd::start().unwrap();
    let dir = scratch();
    let inv = inventory(dir.path(), &sshd, "", &devices(&sshd, 12));
    // One thread per worker: when a worker dies, the poison device is the
    // only session it was running, so no other device loses an attempt.
    let run = fleet(
        dir.path(),
        &RunArgs::new(&inv).layout(3, 1).build(),
        &[("FLEET_TEST_PANIC_DEVICE", POISON)],
    );
    run.assert_code(1);
    let rd = run.run_dir("runs");
    let res = by_device(&results(&rd));
    assert_eq!(res.len(), 12, "{}", run.explain());
    for (name, r) in &res {
        if name == POISON {
            assert_eq!(status(r), "worker_lost", "{r}");
            assert_eq!(r["attempt"], 2, "{r}");
        } else {
            assert_eq!(status(r), "ok", "{name}: {r}");
        }
    }
    // Each worker that started the poison device has the panic and its
    // backtrace in its own log, attached to a record about that device.
    let logs = worker_logs(&rd);
    let mut crashed_in = 0;
    for (name, text) in &logs {
        let started = text.lines().filter_map(fleet_logs::parse_line).any(|r| {
            r.device.as_deref() == Some(POISON)
                && matches!(
                    r.event(),
                    Some(fleet_proto::event::Lifecycle::SessionStart { .. })
                )
        });
        if !started {
            continue;
        }
        crashed_in += 1;
        assert!(
            text.contains(&format!("injected panic for device {POISON}")),
            "{name}:\n{text}"
        );
        assert!(text.contains("backtrace:"), "{name}:\n{text}");
    }
    assert!(crashed_in >= 1);
    let master = std::fs::read_to_string(rd.join("master.log")).unwrap();
    assert_eq!(master.matches("worker_crashed:").count(), 2, "{master}");
    // The merged view keeps the backtrace right after its panic line.
    let out = fleet_logs(dir.path(), &rd, &["--device", POISON, "--level", "error"]);
    let panic_at = out.find(" panic: ").unwrap_or_else(|| panic!("{out}"));
    let after = &out[panic_at..];
    let bt = after.find("backtrace:").unwrap_or_else(|| panic!("{out}"));
    assert!(
        !after[..bt]
            .lines()
            .skip(1)
            .any(|l| fleet_logs::parse_line(l).is_some()),
        "a record came between the panic and its backtrace:\n{out}"
    );
    let story = fleet_logs(dir.path(), &rd, &["--device", POISON, "--explain"]);
    for want in [
        "worker_lost after 2 attempts",
        "attempt 1:",
        "crashed: signal",
        "requeued for attempt 2",
        "result: none, the worker died while running it",
        "attempt 2:",
        "injected panic",
        "result: worker_lost (attempt 2)",
    ] {
        assert!(story.contains(want), "missing `{want}` in:\n{story}");
    }
}

#[test]
fn fleet_runs_lists_the_runs_of_an_out_dir_oldest_first() {
    let sshd = Sshd::start().unwrap();
    let dir = scratch();
    let inv = inventory(dir.path(), &sshd, "", &devices(&sshd, 4));
    let closed = closed_port();
    let mut ids = Vec::new();
    for layout in [["2", "2"], ["1", "3"]] {
        let run = fleet(
            dir.path(),
            &RunArgs::new(&inv)
                .layout(layout[0], layout[1])
                .out("hist")
                .build(),
            &[],
        );
        run.assert_code(0);
        ids.push(
            run.run_dir("hist")
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned(),
        );
    }
    let bad = inventory(
        dir.path(),
        &sshd,
        "",
        &[Dev::new("nobody", closed).with("    commands: [\"echo x\"]\n")],
    );
    let run = fleet(
        dir.path(),
        &RunArgs::new(bad.to_str().unwrap())
            .layout(1, 1)
            .args(["--out", "hist"])
            .build(),
        &[],
    );
    run.assert_code(1);
    ids.push(
        run.run_dir("hist")
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned(),
    );

    let list = fleet(dir.path(), &["runs", "--out", "hist"], &[]);
    list.assert_code(0);
    let lines: Vec<&str> = list.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", list.explain());
    for (line, id) in lines.iter().zip(&ids) {
        assert!(line.starts_with(id.as_str()), "{line} vs {id}");
    }
    assert!(
        lines[0].contains("2x2  4 devices  ok 4 failed 0"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("1x3  4 devices  ok 4 failed 0"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].contains("1x1  1 devices  ok 0 failed 1"),
        "{}",
        lines[2]
    );
    let missing = fleet(dir.path(), &["runs", "--out", "nowhere"], &[]);
    missing.assert_code(2);
}
