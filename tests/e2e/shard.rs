//! Sharded runs: `fleet run --shard K/N` on three "machines" against the
//! lab, `fleet merge`, and every reader on the merged run.

use crate::common::*;
use crate::lab::LabProc;
use fleet_testkit::fleet::results;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The one run directory under `out`.
fn only_run(out: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap_or_else(|e| panic!("{}: {e}", out.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.into_iter().next().unwrap()
}

fn statuses(run_dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for r in results(run_dir) {
        let name = r["device"].as_str().unwrap().to_string();
        let prev = out.insert(name.clone(), status(&r).to_string());
        assert!(prev.is_none(), "{name} twice in {}", run_dir.display());
    }
    out
}

fn run_json(run_dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run_dir.join("run.json")).unwrap()).unwrap()
}

#[test]
fn three_shards_merge_into_the_single_run() {
    let dir = scratch();
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/lab/faults.toml");
    let lab = LabProc::start(
        BIN,
        dir.path(),
        &["--devices", "60", "--scenario", scenario.to_str().unwrap()],
    );
    let common = lab
        .run_args()
        .layout(2, 8)
        .command("show version")
        .args(["--connect-timeout", "2s", "--session-timeout", "3s"])
        .args(["--command-timeout", "2s"])
        .format("none");

    // The reference: one run of everything.
    let args = common.clone().out("single");
    fleet(dir.path(), &args.build(), &[]).assert_code(1);
    let single = statuses(&only_run(&dir.path().join("single")));
    assert_eq!(single.len(), 60);

    // Three shards, the third from a Kubernetes-style index.
    let mut shard_sets: Vec<BTreeSet<String>> = Vec::new();
    for k in 1..=3 {
        let out = format!("shards/{k}");
        let spec = format!("{k}/3");
        let args = common.clone().out(&out);
        let index = (k - 1).to_string();
        let (args, env): (RunArgs, Vec<(&str, &str)>) = if k == 3 {
            let env = vec![("JOB_COMPLETION_INDEX", index.as_str())];
            (args.args(["--shard", "auto/3"]), env)
        } else {
            (args.args(["--shard", spec.as_str()]), vec![])
        };
        let run = fleet(dir.path(), &args.build(), &env);
        assert!(matches!(run.code, Some(0 | 1)), "{}", run.explain());
        let rd = only_run(&dir.path().join(&out));
        let shard = &run_json(&rd)["shard"];
        assert_eq!(shard["k"], k, "{shard}");
        assert_eq!(shard["n"], 3);
        assert_eq!(shard["by"], "name");
        assert_eq!(shard["selected"], 60);
        let names: BTreeSet<String> = statuses(&rd).into_keys().collect();
        assert_eq!(shard["devices"], names.len());
        // Balanced: 60 devices in 3 shards of 20.
        assert_eq!(names.len(), 20, "shard {k}: {names:?}");
        shard_sets.push(names);
    }
    let union: BTreeSet<String> = shard_sets.iter().flatten().cloned().collect();
    assert_eq!(union.len(), 60, "disjoint and complete");

    // Merge all three.
    let dirs: Vec<String> = (1..=3)
        .map(|k| {
            only_run(&dir.path().join(format!("shards/{k}")))
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let mut args = vec!["merge"];
    args.extend(dirs.iter().map(String::as_str));
    args.extend(["--out", "runs/merged"]);
    let merge = fleet(dir.path(), &args, &[]);
    merge.assert_code(1); // complete, but some devices failed (the faults)
    assert!(
        merge.stdout.contains("merged 3/3 shards") && merge.stdout.contains("60 of 60 devices"),
        "{}",
        merge.explain()
    );
    let merged_dir = dir.path().join("runs/merged");
    let merged = statuses(&merged_dir);
    assert_eq!(merged, single, "same devices, same statuses as one run");
    for r in results(&merged_dir) {
        let k = r["shard"].as_u64().unwrap() as usize;
        assert!(shard_sets[k - 1].contains(r["device"].as_str().unwrap()));
    }
    let rj = run_json(&merged_dir);
    assert_eq!(rj["devices"], 60);
    assert_eq!(rj["merge"]["complete"], true);
    assert_eq!(rj["merge"]["shards"].as_array().unwrap().len(), 3);
    let total: u64 = rj["totals"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total, 60);
    assert_eq!(rj["layout"]["processes"], 6);

    // workers.json named by shard; trace.json with one group per shard.
    let workers: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(merged_dir.join("workers.json")).unwrap())
            .unwrap();
    let names: BTreeSet<&str> = workers
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    for k in 1..=3 {
        assert!(names.contains(format!("s{k}-w0").as_str()), "{names:?}");
    }
    let trace: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(merged_dir.join("trace.json")).unwrap())
            .unwrap();
    let events = trace["traceEvents"].as_array().unwrap();
    for k in 1..=3 {
        let label = format!("shard {k}/3 (");
        assert!(
            events.iter().any(|e| e["name"] == "process_name"
                && e["args"]["name"].as_str().unwrap().starts_with(&label)),
            "no process group for shard {k}"
        );
    }
    let sessions = events
        .iter()
        .filter(|e| e["ph"] == "X" && e["cat"] == "session")
        .count();
    assert!(sessions >= 55, "{sessions} session slices"); // refused devices never start one

    // fleet runs lists the merged run.
    let runs = fleet(dir.path(), &["runs", "--out", "runs"], &[]);
    runs.assert_code(0);
    assert!(
        runs.stdout.contains("merged  ") && runs.stdout.contains("merged 3/3 shards"),
        "{}",
        runs.explain()
    );

    // fleet logs reads every shard; --explain tells a device's story from its shard.
    let logs = fleet(dir.path(), &["logs", "runs/merged"], &[]);
    logs.assert_code(0);
    for k in 1..=3 {
        assert!(
            logs.stdout.contains(&format!("[s{k}] ")),
            "shard {k} logs missing"
        );
    }
    let ok_device = single.iter().find(|(_, s)| *s == "ok").unwrap().0.clone();
    let bad_device = single
        .iter()
        .find(|(_, s)| *s == "auth_failed")
        .unwrap()
        .0
        .clone();
    for (device, want) in [(&ok_device, "ok"), (&bad_device, "auth_failed")] {
        let k = (0..3).find(|&i| shard_sets[i].contains(device)).unwrap() + 1;
        let ex = fleet(
            dir.path(),
            &["logs", "runs/merged", "--device", device, "--explain"],
            &[],
        );
        ex.assert_code(0);
        let head = format!("device {device} in run merged (shard {k}: ");
        assert!(ex.stdout.starts_with(&head), "{}", ex.explain());
        assert!(
            ex.stdout.contains(&format!("result: {want} (attempt 1)")),
            "{}",
            ex.explain()
        );
        assert!(
            ex.stdout.contains("dispatched in batch"),
            "{}",
            ex.explain()
        );
        assert!(ex.stdout.contains("started on worker"), "{}", ex.explain());
        let lines = fleet(
            dir.path(),
            &["logs", "runs/merged", "--device", device],
            &[],
        );
        lines.assert_code(0);
        assert!(!lines.stdout.is_empty());
        for l in lines.stdout.lines().filter(|l| l.starts_with('[')) {
            assert!(l.starts_with(&format!("[s{k}] ")), "{l}");
        }
    }

    // A missing shard: reported with its devices, exit 5.
    let args = [
        "merge",
        dirs[0].as_str(),
        dirs[2].as_str(),
        "--out",
        "runs/partial",
    ];
    let partial = fleet(dir.path(), &args, &[]);
    partial.assert_code(5);
    let line = partial
        .stderr
        .lines()
        .find(|l| l.contains("shard 2/3 is missing: 20 devices: "))
        .unwrap_or_else(|| panic!("{}", partial.explain()));
    let named: BTreeSet<String> = line
        .split(": ")
        .last()
        .unwrap()
        .split(", ")
        .map(str::to_string)
        .collect();
    assert_eq!(named, shard_sets[1], "the missing shard's devices, by name");
    assert_eq!(
        run_json(&dir.path().join("runs/partial"))["merge"]["complete"],
        false
    );

    // The same shard twice, or a shard of another selection: nothing written.
    let args = [
        "merge",
        dirs[0].as_str(),
        dirs[0].as_str(),
        "--out",
        "runs/twice",
    ];
    let twice = fleet(dir.path(), &args, &[]);
    twice.assert_code(2);
    assert!(
        twice.stderr.contains("shard 1 given twice"),
        "{}",
        twice.explain()
    );
    assert!(!dir.path().join("runs/twice").exists());
    let single_dir = only_run(&dir.path().join("single"))
        .to_string_lossy()
        .into_owned();
    let args = [
        "merge",
        dirs[0].as_str(),
        single_dir.as_str(),
        "--out",
        "runs/x",
    ];
    let not_shard = fleet(dir.path(), &args, &[]);
    not_shard.assert_code(2);
    assert!(
        not_shard.stderr.contains("not a shard run directory"),
        "{}",
        not_shard.explain()
    );
    lab.stop();
}

#[test]
fn shard_flags_are_checked_before_anything_runs() {
    let dir = scratch();
    let inv = dir.path().join("inv.yaml");
    std::fs::write(
        &inv,
        "defaults:\n  username: u\n  agent: true\n  commands: [x]\ndevices:\n  - {name: a, host: 127.0.0.1}\n",
    )
    .unwrap();
    let inv = inv.to_str().unwrap();
    for (shard, env, want) in [
        ("auto/3", vec![], "no shard index in the environment"),
        ("4/3", vec![], "K must be between 1 and N"),
        (
            "auto/3",
            vec![
                ("SLURM_ARRAY_TASK_ID", "2"),
                ("SLURM_ARRAY_TASK_MIN", "1"),
                ("SLURM_ARRAY_TASK_COUNT", "4"),
            ],
            "the array has 4 tasks but --shard asks for 3",
        ),
    ] {
        let run = fleet(
            dir.path(),
            &RunArgs::new(inv)
                .transport("noop")
                .args(["--shard", shard])
                .build(),
            &env,
        );
        run.assert_code(2);
        assert!(run.stderr.contains(want), "{}", run.explain());
        assert!(!dir.path().join("runs").exists(), "nothing ran");
    }
    let run = fleet(
        dir.path(),
        &RunArgs::new(inv)
            .transport("noop")
            .args(["--shard", "1/2", "--shard-by", "vendor"])
            .build(),
        &[],
    );
    run.assert_code(2);
    assert!(
        run.stderr.contains("invalid --shard-by `vendor`"),
        "{}",
        run.explain()
    );
}

/// Runs one `run:` step of the CI example with bash, as GitHub does
/// (`bash -e`), after substituting the expressions GitHub would.
fn run_step(dir: &Path, path_dir: &Path, script: &str, vars: &[(&str, String)]) {
    let mut script = script.to_string();
    for (expr, value) in vars {
        script = script.replace(&format!("${{{{ {expr} }}}}"), value);
    }
    assert!(
        !script.contains("${{"),
        "unsubstituted expression in:\n{script}"
    );
    let path = format!(
        "{}:{}",
        path_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = fleet_testkit::fleet::command("bash", dir)
        .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &script])
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "step failed ({:?}):\n{script}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ci_matrix_example_runs_as_written() {
    use yaml_rust2::{Yaml, YamlLoader};
    let dir = scratch();
    let mut inv = String::from(
        "defaults:\n  username: u\n  agent: true\n  transport: noop\n  commands: [x]\ndevices:\n",
    );
    for i in 0..30 {
        inv.push_str(&format!("  - {{name: d{i:02}, host: 127.0.0.1}}\n"));
    }
    std::fs::write(dir.path().join("inventory.yaml"), inv).unwrap();
    // `fleet` on PATH, as the workflow expects.
    let bin_dir = dir.path().join("bin");
    std::fs::create_dir(&bin_dir).unwrap();
    std::os::unix::fs::symlink(BIN, bin_dir.join("fleet")).unwrap();

    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/deploy/ci/github-actions-matrix.yml");
    let wf = &YamlLoader::load_from_str(&std::fs::read_to_string(file).unwrap()).unwrap()[0];
    let jobs = &wf["jobs"];
    let matrix: Vec<i64> = jobs["shard"]["strategy"]["matrix"]["shard"]
        .as_vec()
        .expect("matrix.shard list")
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(matrix, [1, 2, 3]);
    let runs = |job: &str| -> Vec<String> {
        jobs[job]["steps"]
            .as_vec()
            .unwrap()
            .iter()
            .filter_map(|s| s["run"].as_str().map(str::to_string))
            .collect()
    };
    assert_eq!(jobs["merge"]["needs"], Yaml::String("shard".into()));
    for k in &matrix {
        for script in runs("shard") {
            let vars = [
                ("matrix.shard", k.to_string()),
                ("strategy.job-total", matrix.len().to_string()),
            ];
            run_step(dir.path(), &bin_dir, &script, &vars);
        }
    }
    for script in runs("merge") {
        run_step(dir.path(), &bin_dir, &script, &[]);
    }
    let merged = dir.path().join("runs/merged");
    let got = statuses(&merged);
    assert_eq!(got.len(), 30);
    assert!(got.values().all(|s| s == "ok"), "{got:?}");
    let rj = run_json(&merged);
    assert_eq!(rj["merge"]["complete"], true, "{rj}");
    assert_eq!(rj["merge"]["n"], 3);
}
