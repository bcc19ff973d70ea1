//! The run directory as a contract (docs/run-directory.md): real runs read
//! back through the typed readers, result lines checked against the
//! documented JSON Schema, lifecycle events parsed as data, and the exit
//! codes of run-level failures.

use crate::common::*;
use fleet_proto::event::Lifecycle;
use fleet_proto::rundir::{Schema, SCHEMA};
use fleet_proto::{ExitCode, Status};
use fleet_testkit::fleet::{result_lines, run_json, workers_json};
use serde_json::Value;
use std::path::Path;

/// An inventory of `n` noop devices and `closed` devices on a closed port
/// (real TCP, refused at once).
fn mixed_inventory(dir: &Path, n: usize, closed: usize) -> std::path::PathBuf {
    let port = closed_port();
    let mut y = String::from(
        "defaults:\n  username: nobody\n  agent: true\n  commands: [\"show version\"]\ndevices:\n",
    );
    for i in 0..n {
        y.push_str(&format!(
            "  - {{name: n{i}, host: 127.0.0.1, transport: noop}}\n"
        ));
    }
    for i in 0..closed {
        y.push_str(&format!(
            "  - {{name: c{i}, host: 127.0.0.1, port: {port}}}\n"
        ));
    }
    let path = dir.join("inventory.yaml");
    std::fs::write(&path, y).unwrap();
    path
}

/// The JSON Schema block of docs/run-directory.md.
fn documented_schema() -> Value {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/run-directory.md");
    let text = std::fs::read_to_string(&doc).unwrap();
    let after = text
        .split_once("### JSON Schema of a result line")
        .expect("the schema section")
        .1;
    let block = after
        .split_once("```json\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .expect("a ```json block")
        .0;
    serde_json::from_str(block).expect("the documented schema is JSON")
}

/// Checks `v` against the JSON Schema keywords the document uses (type,
/// required, properties, items, enum, oneOf, minimum, maximum, minLength);
/// any other keyword fails, so the schema cannot silently outgrow this.
fn validate(schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
    let Some(obj) = schema.as_object() else {
        errors.push(format!("{at}: schema is not an object"));
        return;
    };
    for key in obj.keys() {
        let known = [
            "$schema",
            "$id",
            "title",
            "type",
            "required",
            "properties",
            "items",
            "enum",
            "oneOf",
            "minimum",
            "maximum",
            "minLength",
        ];
        assert!(known.contains(&key.as_str()), "unsupported keyword {key}");
    }
    if let Some(t) = obj.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ok = types.iter().any(|t| match *t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "boolean" => v.is_boolean(),
            "null" => v.is_null(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            _ => false,
        });
        if !ok {
            errors.push(format!("{at}: {v} is not of type {t}"));
            return;
        }
    }
    if let Some(e) = obj.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            errors.push(format!("{at}: {v} not in {e:?}"));
        }
    }
    if let (Some(min), Some(n)) = (obj.get("minimum").and_then(Value::as_f64), v.as_f64()) {
        if n < min {
            errors.push(format!("{at}: {n} < {min}"));
        }
    }
    if let (Some(max), Some(n)) = (obj.get("maximum").and_then(Value::as_f64), v.as_f64()) {
        if n > max {
            errors.push(format!("{at}: {n} > {max}"));
        }
    }
    if let (Some(min), Some(s)) = (obj.get("minLength").and_then(Value::as_u64), v.as_str()) {
        if (s.chars().count() as u64) < min {
            errors.push(format!("{at}: `{s}` shorter than {min}"));
        }
    }
    if let Some(req) = obj.get("required").and_then(Value::as_array) {
        for k in req.iter().filter_map(Value::as_str) {
            if v.get(k).is_none() {
                errors.push(format!("{at}: missing `{k}`"));
            }
        }
    }
    if let (Some(props), Some(o)) = (
        obj.get("properties").and_then(Value::as_object),
        v.as_object(),
    ) {
        for (k, val) in o {
            match props.get(k) {
                Some(s) => validate(s, val, &format!("{at}.{k}"), errors),
                // Not a JSON Schema rule (fields may be added), but fleet's
                // own lines must all be documented.
                None => errors.push(format!("{at}: `{k}` is not documented")),
            }
        }
    }
    if let (Some(items), Some(a)) = (obj.get("items"), v.as_array()) {
        for (i, item) in a.iter().enumerate() {
            validate(items, item, &format!("{at}[{i}]"), errors);
        }
    }
    if let Some(alts) = obj.get("oneOf").and_then(Value::as_array) {
        let matching = alts
            .iter()
            .filter(|s| {
                let mut e = Vec::new();
                validate(s, v, at, &mut e);
                e.is_empty()
            })
            .count();
        if matching != 1 {
            errors.push(format!("{at}: {v} matches {matching} of oneOf"));
        }
    }
}

#[test]
fn real_result_lines_validate_against_the_documented_schema() {
    let schema = documented_schema();
    // The checker itself must reject what the schema forbids.
    let mut e = Vec::new();
    validate(
        &schema,
        &serde_json::json!({"device": "x", "status": "fine"}),
        "$",
        &mut e,
    );
    assert!(e.iter().any(|e| e.contains("fine")) && e.iter().any(|e| e.contains("missing")));

    let dir = scratch();
    let inv = mixed_inventory(dir.path(), 5, 2);
    let run = fleet(
        dir.path(),
        &RunArgs::new(inv.to_str().unwrap())
            .layout(2, 2)
            .args(["--format", "none"])
            .build(),
        &[],
    );
    run.assert_code(ExitCode::SomeFailed.code());
    let rd = run.run_dir("runs");
    let text = std::fs::read_to_string(rd.join("results.jsonl")).unwrap();
    let mut statuses = std::collections::BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let v: Value = serde_json::from_str(line).unwrap();
        statuses.insert(v["status"].as_str().unwrap().to_string());
        let mut errors = Vec::new();
        validate(&schema, &v, "$", &mut errors);
        assert!(errors.is_empty(), "line {}: {errors:#?}\n{line}", i + 1);
    }
    assert_eq!(text.lines().count(), 7);
    assert!(
        statuses.contains("ok") && statuses.contains("connect_failed"),
        "{statuses:?}"
    );
}

#[test]
fn a_finished_run_reads_back_through_the_typed_contract() {
    let dir = scratch();
    let inv = mixed_inventory(dir.path(), 6, 1);
    let run = fleet(
        dir.path(),
        &RunArgs::new(inv.to_str().unwrap())
            .layout(2, 2)
            .args(["--format", "none"])
            .build(),
        &[],
    );
    run.assert_code(1);
    let rd = run.run_dir("runs");

    let results = result_lines(&rd);
    assert_eq!(results.len(), 7);
    let doc = run_json(&rd);
    assert_eq!(doc.schema, Schema::V1);
    let raw: Value =
        serde_json::from_str(&std::fs::read_to_string(rd.join("run.json")).unwrap()).unwrap();
    assert_eq!(raw["schema"], SCHEMA);
    assert_eq!(doc.devices, 7);
    assert_eq!(doc.ok(), 6);
    assert_eq!(doc.totals.get(&Status::ConnectFailed), Some(&1));
    assert_eq!(doc.exit_code, Some(1));
    assert_eq!((doc.layout.processes, doc.layout.threads), (2, 2));
    assert!(doc.ended_at.is_some() && doc.wall_ms.is_some());

    let workers = workers_json(&rd);
    assert_eq!(workers.len(), 2, "{workers:?}");
    for w in &workers {
        assert!(w.hello_at.is_some(), "{w:?}");
        assert_eq!(w.exit.as_deref(), Some("exit 0"), "{w:?}");
        assert!(!w.crashed);
    }
    assert_eq!(workers.iter().map(|w| w.devices).sum::<u64>(), 7);

    // Lifecycle events are data: every device was dispatched, started on a
    // worker and recorded, and each worker spawned, said hello and exited.
    let entries = fleet_logs::read_run(&rd).unwrap();
    let mut seen: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for e in &entries {
        if let Some(ev) = e.record.event() {
            let who = e.record.device.as_deref().unwrap_or("-");
            seen.entry(who).or_default().push(ev.kind().to_string());
            if let Lifecycle::Result { status, .. } = ev {
                let r = results
                    .iter()
                    .find(|r| Some(r.device.as_str()) == e.record.device.as_deref());
                assert_eq!(r.map(|r| r.status), Some(status));
            }
        }
    }
    for r in &results {
        let kinds = seen.get(r.device.as_str()).cloned().unwrap_or_default();
        for k in ["dispatch", "session_start", "session_end", "result"] {
            assert!(
                kinds.iter().any(|x| x == k),
                "{}: no {k} in {kinds:?}",
                r.device
            );
        }
    }
    let run_level = &seen["-"];
    for k in ["worker_spawn", "worker_hello", "worker_exit"] {
        assert_eq!(
            run_level.iter().filter(|x| *x == k).count(),
            2,
            "{k}: {run_level:?}"
        );
    }
}
