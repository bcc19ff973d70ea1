//! `fleet_merge::merge` on shard run directories written with the
//! contract types, read back through the contract readers.

use fleet_merge::{merge, MergeOptions};
use fleet_proto::rundir::{
    ResultLine, ResultsReader, RunJson, RunLayout, Schema, ShardRecord, ShardedLine, TimeoutsMs,
    TraceMode, TraceRecord, WorkerRecord, RESULTS_FILE, RUN_FILE, TRACE_FILE, WORKERS_FILE,
};
use fleet_proto::{Device, DeviceResult, Status, WorkerRef};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const N: u32 = 2;
const SELECTED: usize = 4;

/// Devices of shard `k`: two each.
fn names(k: u32) -> [String; 2] {
    [format!("k{k}-a"), format!("k{k}-b")]
}

fn result(name: &str, status: Status, pid: u32) -> ResultLine {
    let mut r = DeviceResult::without_session(&Device::new(name, "127.0.0.1", 22), status, "", 1);
    r.error = (!status.is_ok()).then(|| "refused".to_string());
    r.worker = Some(WorkerRef {
        id: 0,
        pid,
        thread: "w0-t0".into(),
    });
    r.started_us = 1_795_306_200_000_000;
    r.timings_ms.total = 12.5;
    r
}

fn shard_run_json(k: u32) -> RunJson {
    RunJson {
        schema: Schema::V1,
        run_id: format!("20261122T001000Z-000{k}"),
        fleet_version: "0.1.0".into(),
        host: format!("node{k}"),
        command_line: vec!["fleet".into(), "run".into()],
        inventory: Some("/nonexistent/inv.yaml".into()),
        layout: RunLayout {
            processes: 2,
            threads: 4 * k as usize,
            batch_size: Some(8),
            auto: None,
        },
        timeouts_ms: TimeoutsMs {
            connect: Some(2000),
            command: None,
            session: Some(3000),
        },
        started_at: format!("2026-11-22T00:10:0{k}.000000Z"),
        ended_at: Some(format!("2026-11-22T00:10:1{k}.000000Z")),
        devices: 2,
        wall_ms: Some(10_000.0),
        totals: [(Status::Ok, 1), (Status::AuthFailed, 1)].into(),
        interrupted: Some(false),
        exit_code: Some(1),
        resumed: false,
        shard: Some(ShardRecord {
            k,
            n: N,
            by: "name".into(),
            selection_digest: "sha256:ab".into(),
            selected: SELECTED,
            limit: None,
            devices: 2,
        }),
        trace: Some(TraceRecord {
            mode: TraceMode::Full,
            sessions: 2,
            failed: 1,
        }),
        merge: None,
    }
}

/// A shard run directory as `fleet run --shard k/2` leaves it; `tail` is
/// appended to its results.jsonl (a torn line, say).
fn shard(root: &Path, k: u32, tail: &str) -> PathBuf {
    let dir = root.join(format!("shard{k}"));
    std::fs::create_dir_all(&dir).unwrap();
    let pid = 100 + k;
    let [a, b] = names(k);
    let mut text = String::new();
    for r in [
        result(&a, Status::Ok, pid),
        result(&b, Status::AuthFailed, pid),
    ] {
        text.push_str(&serde_json::to_string(&r).unwrap());
        text.push('\n');
    }
    text.push_str(tail);
    std::fs::write(dir.join(RESULTS_FILE), text).unwrap();
    std::fs::write(
        dir.join(RUN_FILE),
        serde_json::to_vec_pretty(&shard_run_json(k)).unwrap(),
    )
    .unwrap();
    let workers = vec![WorkerRecord {
        id: 0,
        generation: 0,
        pid,
        started_at: "2026-11-22T00:10:00.000000Z".into(),
        devices: 2,
        cpu_user_ms: Some(1.5),
        ipc_bytes_in: 321,
        ..WorkerRecord::default()
    }];
    std::fs::write(
        dir.join(WORKERS_FILE),
        serde_json::to_vec_pretty(&workers).unwrap(),
    )
    .unwrap();
    let trace = serde_json::json!({"traceEvents": [
        {"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "ts": 0, "args": {"name": "worker 0 (gen 0)"}},
        {"ph": "X", "cat": "session", "name": a, "pid": pid, "tid": 1, "ts": 5.0, "dur": 12.5, "args": {}},
    ], "displayTimeUnit": "ms"});
    std::fs::write(dir.join(TRACE_FILE), trace.to_string()).unwrap();
    std::fs::write(
        dir.join("master.log"),
        "2026-11-22T00:10:00.000000Z INFO  master 1 main - started\n",
    )
    .unwrap();
    dir
}

fn opts(inputs: Vec<PathBuf>, out: PathBuf) -> MergeOptions {
    MergeOptions {
        inputs,
        out,
        expected: None,
        command_line: vec!["fleet".into(), "merge".into()],
    }
}

#[test]
fn merged_files_round_trip_through_the_contract_readers() {
    let root = tempfile::tempdir().unwrap();
    let inputs = vec![shard(root.path(), 2, ""), shard(root.path(), 1, "")];
    let out = root.path().join("runs/merged");
    let report = merge(&opts(inputs, out.clone())).unwrap();
    assert!(report.is_complete());
    assert_eq!(report.devices, SELECTED);
    assert_eq!(report.failed(), 2);
    assert!(report.torn.is_empty());

    // results.jsonl: every line a result line with its shard; readers that
    // know nothing of merges read the same lines as plain result lines.
    let lines: Vec<ShardedLine> = ResultsReader::open_as(&out).unwrap().read_all().unwrap();
    let by_shard: BTreeMap<String, Option<u32>> = lines
        .iter()
        .map(|l| (l.result.device.clone(), l.shard))
        .collect();
    for k in 1..=N {
        for name in names(k) {
            assert_eq!(by_shard[&name], Some(k), "{name}");
        }
    }
    let plain = ResultsReader::open(&out).unwrap().read_all().unwrap();
    assert_eq!(
        plain,
        lines.iter().map(|l| l.result.clone()).collect::<Vec<_>>()
    );
    assert_eq!(
        plain[0],
        result("k1-a", Status::Ok, 101),
        "shard order, untouched"
    );

    // run.json: a fleet-run/1 run.json that reads back as the type.
    let run = RunJson::read(&out).unwrap();
    assert_eq!(run.schema, Schema::V1);
    assert_eq!(run.run_id, "merged");
    assert_eq!(run.started_at, "2026-11-22T00:10:01.000000Z");
    assert_eq!(run.ended_at.as_deref(), Some("2026-11-22T00:10:12.000000Z"));
    assert_eq!(run.wall_ms, Some(11_000.0));
    assert_eq!(run.devices, SELECTED);
    assert_eq!(
        run.totals,
        BTreeMap::from([(Status::Ok, 2), (Status::AuthFailed, 2)])
    );
    assert_eq!(run.exit_code, Some(1));
    assert_eq!(run.interrupted, Some(false));
    assert_eq!(run.shard, None);
    assert_eq!(
        (
            run.layout.processes,
            run.layout.threads,
            run.layout.batch_size
        ),
        (4, 8, Some(8))
    );
    assert_eq!(run.timeouts_ms, shard_run_json(1).timeouts_ms);
    assert_eq!(
        run.trace,
        Some(TraceRecord {
            mode: TraceMode::Full,
            sessions: 4,
            failed: 2
        })
    );
    assert_eq!(run.inventory, shard_run_json(1).inventory);
    let m = run.merge.as_ref().expect("a merge record");
    assert!(m.complete);
    assert_eq!((m.n, m.selected, m.missing_devices), (N, SELECTED, 0));
    let ks: Vec<u32> = m.shards.iter().map(|s| s.k).collect();
    assert_eq!(ks, [1, 2]);
    let s2 = &m.shards[1];
    let want = shard_run_json(2);
    assert_eq!(s2.run_id, want.run_id);
    assert_eq!(s2.host.as_deref(), Some("node2"));
    assert_eq!(s2.layout.as_ref(), Some(&want.layout));
    assert_eq!((s2.devices, s2.results), (2, 2));
    assert!(s2.dir.as_ref().is_some_and(|d| d.is_absolute()));
    // What the type writes is what it reads: nothing lost on the way.
    let again: RunJson = serde_json::from_str(&serde_json::to_string(&run).unwrap()).unwrap();
    assert_eq!(again, run);

    // workers.json: each shard's records, whole, with shard and name.
    let workers = WorkerRecord::read_all(&out).unwrap();
    assert_eq!(workers.len(), 2);
    for (w, k) in workers.iter().zip(1..) {
        assert_eq!(w.shard, Some(k));
        assert_eq!(w.name.as_deref(), Some(format!("s{k}-w0").as_str()));
        assert_eq!(
            (w.pid, w.ipc_bytes_in, w.cpu_user_ms),
            (100 + k, 321, Some(1.5))
        );
    }

    // trace.json: shard 2's events moved to its pid range and clock.
    let trace: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join(TRACE_FILE)).unwrap()).unwrap();
    let session2 = trace["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "k2-a")
        .unwrap();
    assert_eq!(session2["pid"], 2 * fleet_merge::PID_STRIDE + 102);
    assert_eq!(session2["ts"], 1_000_005.0, "shard 2 started 1 s later");
    assert!(out.join("shards/2/master.log").is_file());
    assert!(out.join("shards/1/run.json").is_file());
}

#[test]
fn a_torn_last_line_in_one_shard_is_a_missing_device_not_an_error() {
    let root = tempfile::tempdir().unwrap();
    let torn = serde_json::to_string(&result("k2-c", Status::Ok, 102)).unwrap();
    let inputs = vec![
        shard(root.path(), 1, ""),
        shard(root.path(), 2, &torn[..torn.len() / 2]),
    ];
    let out = root.path().join("merged");
    // The selection has 5 devices: k2-c never got its line written whole.
    let mut o = opts(inputs, out.clone());
    let mut expected: Vec<(String, u32)> = Vec::new();
    for k in 1..=N {
        expected.extend(names(k).into_iter().map(|n| (n, k)));
    }
    expected.push(("k2-c".into(), 2));
    o.expected = Some(expected);
    let report = merge(&o).unwrap();
    assert_eq!(report.torn, BTreeSet::from([2]));
    assert_eq!(report.devices, 4);
    assert_eq!(report.missing_devices, 1);
    assert_eq!(report.missing_named, [("k2-c".to_string(), 2)]);
    assert!(!report.is_complete());

    let mut reader = ResultsReader::open(&out).unwrap();
    let devices: BTreeSet<String> = (&mut reader).map(|r| r.unwrap().device).collect();
    assert_eq!(devices.len(), 4);
    assert!(!devices.contains("k2-c"));
    assert_eq!(reader.torn(), 0, "the merged file has no torn line");
    let m = RunJson::read(&out).unwrap().merge.unwrap();
    assert!(!m.complete);
    assert_eq!(m.missing_devices, 1);
    assert_eq!(m.missing_named[0].device, "k2-c");
    assert_eq!(m.shards[1].results, 2);
}

#[test]
fn a_broken_line_inside_a_shard_refuses_the_merge_before_writing() {
    let root = tempfile::tempdir().unwrap();
    let one = shard(root.path(), 1, "");
    let path = one.join(RESULTS_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{{\"device\": 1}}\n{text}")).unwrap();
    let out = root.path().join("merged");
    let e = merge(&opts(vec![one, shard(root.path(), 2, "")], out.clone())).unwrap_err();
    assert!(e.to_string().ends_with("results.jsonl:1"), "{e}");
    assert!(!out.exists(), "nothing written");
}
