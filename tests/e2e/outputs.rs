//! What people do with outputs: save them, group them, diff runs; and
//! every inventory format people already have, against the lab.

use crate::common::*;
use crate::lab::{lab_devices, LabProc};
use std::fmt::Write as _;
use std::path::Path;

#[test]
fn save_group_and_diff_outputs() {
    let dir = scratch();
    let lab = LabProc::start(BIN, dir.path(), &["--devices", "6", "--flavours", "linux"]);
    let inv = lab.inventory.to_str().unwrap().to_string();
    let saved = dir.path().join("saved");
    let run = fleet(
        dir.path(),
        &RunArgs::new(&inv)
            .layout(2, 2)
            .commands(["uname -a", "echo same"])
            .arg("--save-outputs")
            .arg(saved.to_str().unwrap())
            .arg("--group-output")
            .format("none")
            .build(),
        &[],
    );
    run.assert_code(0);
    let first = run.run_dir("runs");
    let devices = lab_devices(&lab.inventory);
    for (name, flavour, _) in &devices {
        let uname = std::fs::read_to_string(saved.join(name).join("uname-a.txt")).unwrap();
        assert_eq!(
            uname,
            fleet_lab::expected_output(name, *flavour, "uname -a").unwrap()
        );
        let echo = std::fs::read_to_string(saved.join(name).join("echo-same.txt")).unwrap();
        assert_eq!(echo, "same\n");
    }
    // Every device's uname differs (it names the device): six groups of one.
    assert_eq!(run.stdout.matches(" (1)\n").count(), 6, "{}", run.explain());

    // Only `echo same`: one group of six.
    let run = fleet(
        dir.path(),
        &RunArgs::new(&inv)
            .layout(1, 3)
            .args(["-c", "echo same", "--group-output", "--format", "none"])
            .build(),
        &[],
    );
    run.assert_code(0);
    assert_eq!(run.stdout.matches(" (6)\n").count(), 1, "{}", run.explain());
    assert!(run.stdout.contains("same\n"));

    // Diff against the first run: the same commands give no change.
    let diff_with = |second: &str| {
        let run = fleet(
            dir.path(),
            &RunArgs::new(&inv)
                .layout(1, 3)
                .commands(["uname -a", second])
                .arg("--diff")
                .arg(first.to_str().unwrap())
                .format("none")
                .build(),
            &[],
        );
        run.assert_code(0);
        run
    };
    let run = diff_with("echo same");
    assert!(
        run.stdout.contains("unchanged: 6 devices"),
        "{}",
        run.explain()
    );
    // A different command changes every device.
    let run = diff_with("echo other");
    let changed = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("changed: "))
        .count();
    assert_eq!(changed, 6, "{}", run.explain());
    // A unified diff: the old command's section out, the new one's in.
    assert!(
        run.stdout
            .contains("-### echo same\n-same\n+### echo other\n+other\n"),
        "{}",
        run.explain()
    );
}

/// The lab's devices written in another format; fleet must run them unchanged.
#[test]
fn every_inventory_format_runs_against_the_lab() {
    let dir = scratch();
    let lab = LabProc::start(BIN, dir.path(), &["--devices", "8", "--flavours", "linux"]);
    let password = std::fs::read_to_string(lab.state.join("password")).unwrap();
    let password = password.trim();
    let text = std::fs::read_to_string(&lab.inventory).unwrap();
    let inv =
        fleet_inventory::load_str(&text, &lab.inventory, fleet_inventory::Format::Fleet).unwrap();
    let known = dir.path().join("known_hosts");
    let known = known.to_str().unwrap();

    let mut csv = String::from("name,host,port,username,platform,groups,password_env\n");
    let mut ini = String::from("[lab]\n");
    let mut ayaml = String::from("all:\n  children:\n    lab:\n      hosts:\n");
    let mut nornir = String::new();
    for d in &inv.devices {
        writeln!(
            csv,
            "{},{},{},admin,linux,lab,LAB_PW",
            d.name, d.host, d.port
        )
        .unwrap();
        writeln!(
            ini,
            "{} ansible_host={} ansible_port={}",
            d.name, d.host, d.port
        )
        .unwrap();
        writeln!(
            ayaml,
            "        {}:\n          ansible_host: {}\n          ansible_port: {}",
            d.name, d.host, d.port
        )
        .unwrap();
        writeln!(
            nornir,
            "{}:\n  hostname: {}\n  port: {}\n  groups: [lab]",
            d.name, d.host, d.port
        )
        .unwrap();
    }
    ini.push_str(&format!(
        "[lab:vars]\nansible_user=admin\nansible_password={password}\n"
    ));
    ayaml.push_str(&format!(
        "      vars:\n        ansible_user: admin\n        ansible_password: {password}\n"
    ));
    let formats = dir.path().join("formats");
    std::fs::create_dir_all(formats.join("nornir")).unwrap();
    std::fs::write(formats.join("devices.csv"), csv).unwrap();
    std::fs::write(formats.join("hosts.ini"), ini).unwrap();
    std::fs::write(formats.join("hosts.yaml"), ayaml).unwrap();
    std::fs::write(formats.join("nornir/hosts.yaml"), nornir).unwrap();
    std::fs::write(
        formats.join("nornir/groups.yaml"),
        "lab:\n  platform: linux\n  username: admin\n",
    )
    .unwrap();
    std::fs::write(
        formats.join("nornir/defaults.yaml"),
        format!("password: {password}\n"),
    )
    .unwrap();

    for (file, format) in [
        ("devices.csv", None),
        ("hosts.ini", Some("ansible-ini")),
        ("hosts.yaml", Some("ansible-yaml")),
        ("nornir", Some("nornir")),
    ] {
        let path = formats.join(file);
        let path = path.to_str().unwrap();
        let mut args = RunArgs::new(path)
            .layout(2, 2)
            .command("hostname")
            .args(["--known-hosts", known])
            .format("none");
        if let Some(f) = format {
            args = args.args(["--inventory-format", f]);
        }
        let run = fleet(dir.path(), &args.build(), &[("LAB_PW", password)]);
        run.assert_code(0);
        let res = run.results_by_device("runs");
        assert_eq!(res.len(), 8, "{file}: {}", run.explain());
        for d in &inv.devices {
            assert_eq!(
                res[&d.name]["outputs"][0]["stdout"],
                format!("{}\n", d.name),
                "{file}"
            );
        }
        // Plaintext passwords in files are accepted, with a warning.
        if file != "devices.csv" {
            assert!(run.stderr.contains("warning"), "{file}: {}", run.explain());
        }
        assert!(
            !run.stderr.contains(password),
            "the password must not be echoed"
        );
    }
}

#[test]
fn inventory_list_and_check() {
    let dir = scratch();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/inventories/ansible/hosts.ini");
    let f = fixture.to_str().unwrap();
    let list = fleet(
        dir.path(),
        &["inventory", "list", "-i", f, "--limit", "ams-r0*"],
        &[],
    );
    list.assert_code(0);
    let names: Vec<&str> = list
        .stdout
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(names.len(), 4, "{}", list.explain());
    assert!(names.iter().all(|n| n.starts_with("ams-r0")));
    let check = fleet(dir.path(), &["inventory", "check", "-i", f], &[]);
    check.assert_code(0);
    // The counts of the fixture, line by line (spacing aside).
    let lines: Vec<String> = check
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    for want in [
        "devices: 8",
        "ams 4",
        "eos 2",
        "ios 4",
        "linux 1",
        "routers 6",
        "arista_eos 2",
        "cisco_ios 4",
        "ssh 8",
        "via jump host: 6",
    ] {
        assert!(
            lines.iter().any(|l| l == want),
            "{want:?}: {}",
            check.explain()
        );
    }
}

/// A resumed run appends to results.jsonl; `--format json` and
/// `--group-output` still show each device once, with its latest result.
#[test]
fn resumed_run_prints_each_device_once() {
    let dir = scratch();
    let port = closed_port();
    let inv = dir.path().join("inventory.yaml");
    std::fs::write(
        &inv,
        format!(
            "defaults:\n  username: nobody\n  agent: true\n  commands: [\"true\"]\ndevices:\n  - name: a\n    host: 127.0.0.1\n    port: {port}\n  - name: b\n    host: 127.0.0.1\n    port: {port}\n"
        ),
    )
    .unwrap();
    let run = fleet(
        dir.path(),
        &RunArgs::new(&inv).layout(1, 2).format("none").build(),
        &[],
    );
    run.assert_code(1);
    let rd = run.run_dir("runs");
    let rd = rd.to_str().unwrap();
    let resume = |extra: &[&str]| {
        let args = RunArgs::resume(rd)
            .arg("--retry-failed")
            .args(extra.iter().copied());
        let run = fleet(dir.path(), &args.build(), &[]);
        run.assert_code(1);
        run
    };
    let json = resume(&["--format", "json"]);
    let lines = std::fs::read_to_string(Path::new(rd).join("results.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 4, "both runs are in the file");
    let arr: Vec<serde_json::Value> = serde_json::from_str(&json.stdout).expect("a JSON array");
    let mut names: Vec<&str> = arr.iter().map(|r| r["device"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["a", "b"], "{}", json.explain());
    // The latest attempt is the one shown: it started after the first run's.
    for r in &arr {
        let latest = lines
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|l| l["device"] == r["device"])
            .map(|l| l["started_us"].as_u64().unwrap())
            .max();
        assert_eq!(r["started_us"].as_u64(), latest, "{r}");
    }
    let group = resume(&["--group-output", "--format", "none"]);
    assert!(group.stdout.contains("a,b (2)\n"), "{}", group.explain());
    // One group: its header between two rules.
    assert_eq!(
        group.stdout.matches("-------\n").count(),
        2,
        "{}",
        group.explain()
    );
    // The table shows this run's rows (kept in memory, not re-read from
    // the file that holds three runs by now): a header and a, b once each.
    let table = resume(&["--format", "table"]);
    let rows: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(rows.len(), 3, "{}", table.explain());
    assert!(rows[0].starts_with("DEVICE"), "{}", table.explain());
    assert!(
        rows[1].starts_with("a ") && rows[2].starts_with("b "),
        "{}",
        table.explain()
    );
    assert!(
        rows[1].contains("connect_failed") || rows[1].contains("failed"),
        "{}",
        table.explain()
    );
}
