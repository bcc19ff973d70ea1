//! Network CLI sessions against the lab: shell mode, paging, enable, config
//! mode, unknown commands, telnet and jump hosts, through the real binary.

use crate::common::*;
use crate::lab::{lab_devices, LabProc};
use fleet_lab::Flavour;
use fleet_testkit::fleet::results;

#[test]
fn shell_mode_multi_command_output_is_exact() {
    let dir = scratch();
    let lab = LabProc::start(
        BIN,
        dir.path(),
        &["--devices", "6", "--flavours", "ios,eos,nxos"],
    );
    let cmds = [
        "show version",
        "show ip interface brief",
        "show running-config",
    ];
    let args = lab.run_args().layout(1, 3).commands(cmds).format("none");
    let run = fleet(dir.path(), &args.build(), &[]);
    run.assert_code(0);
    let res = run.results_by_device("runs");
    for (name, flavour, _) in lab_devices(&lab.inventory) {
        let r = &res[&name];
        assert_eq!(status(r), "ok", "{r}");
        for (i, cmd) in cmds.iter().enumerate() {
            let want = fleet_lab::expected_output(&name, flavour, cmd).unwrap();
            // running-config is longer than a page: paging must be off or
            // --More-- handled, and the text must come back unchanged.
            assert_eq!(
                r["outputs"][i]["stdout"].as_str().unwrap(),
                want,
                "{name} {cmd}"
            );
            // The platform default for these CLIs is the shell: no exit
            // status comes back from a shell line.
            assert!(r["outputs"][i]["exit_status"].is_null(), "{name}: {r}");
        }
    }

    // An explicit --mode exec wins over the platform default: exec
    // channels, each with its exit status.
    let args = lab
        .run_args()
        .layout(1, 3)
        .args(["--mode", "exec"])
        .command(cmds[0])
        .format("none");
    let run = fleet(dir.path(), &args.build(), &[]);
    run.assert_code(0);
    let res = run.results_by_device("runs");
    for (name, flavour, _) in lab_devices(&lab.inventory) {
        let r = &res[&name];
        assert_eq!(status(r), "ok", "{r}");
        assert_eq!(
            r["outputs"][0]["exit_status"], 0,
            "{name} ran in exec mode: {r}"
        );
        let want = fleet_lab::expected_output(&name, flavour, cmds[0]).unwrap();
        assert_eq!(r["outputs"][0]["stdout"].as_str().unwrap(), want, "{name}");
    }
}

#[test]
fn unknown_command_is_command_failed_with_the_device_error() {
    let dir = scratch();
    let lab = LabProc::start(BIN, dir.path(), &["--devices", "1", "--flavours", "ios"]);
    let run = fleet(
        dir.path(),
        &lab.run_args()
            .layout(0, 1)
            .args(["-c", "show version", "-c", "show bogus"])
            .build(),
        &[],
    );
    run.assert_code(1);
    let res = run.results("runs");
    let r = &res[0];
    assert_eq!(status(r), "command_failed", "{r}");
    let want = fleet_lab::unknown_command_error(Flavour::CiscoIos, "show bogus");
    let err = r["error"].as_str().unwrap();
    assert!(
        err.contains(want.trim()),
        "error {err:?} should quote {want:?}"
    );
}

#[test]
fn config_dry_run_changes_nothing_commit_changes_running_config() {
    let dir = scratch();
    let lab = LabProc::start(BIN, dir.path(), &["--devices", "2", "--flavours", "ios"]);
    let inv = lab.inventory.to_str().unwrap().to_string();
    let line = "ntp server 192.0.2.123";
    let show = |dir: &std::path::Path| {
        let run = fleet(
            dir,
            &RunArgs::new(&inv)
                .layout(1, 2)
                .command("show running-config")
                .format("none")
                .build(),
            &[],
        );
        run.assert_code(0);
        run.results("runs")
    };
    // Dry run: prints the plan, connects to nothing.
    let push = RunArgs::new(&inv).config_line(line).arg("--save-config");
    let dry = fleet(dir.path(), &push.build(), &[]);
    dry.assert_code(0);
    assert!(
        dry.stdout.contains("configure terminal"),
        "{}",
        dry.explain()
    );
    assert!(dry.stdout.contains(line) && dry.stdout.contains("write memory"));
    assert!(dry.stderr.contains("dry run"));
    for r in show(dir.path()) {
        assert!(!r["outputs"][0]["stdout"].as_str().unwrap().contains(line));
    }
    // Commit: the lab keeps per-device state, a later session sees the line.
    let commit = fleet(dir.path(), &push.commit().format("none").build(), &[]);
    commit.assert_code(0);
    for r in show(dir.path()) {
        let text = r["outputs"][0]["stdout"].as_str().unwrap();
        assert!(text.contains(line), "{}: {text}", r["device"]);
    }
}

#[test]
fn telnet_devices_use_the_same_cli() {
    let dir = scratch();
    let scenario = dir.path().join("telnet.toml");
    std::fs::write(
        &scenario,
        "[[rule]]\nname = \"telnet\"\nshare = 100\ntelnet = true\n",
    )
    .unwrap();
    let lab = LabProc::start(
        BIN,
        dir.path(),
        &[
            "--devices",
            "2",
            "--flavours",
            "ios",
            "--scenario",
            scenario.to_str().unwrap(),
        ],
    );
    let text = std::fs::read_to_string(&lab.inventory).unwrap();
    assert!(text.contains("transport: telnet"), "{text}");
    let run = fleet(
        dir.path(),
        &lab.run_args()
            .layout(1, 2)
            .command("show version")
            .format("none")
            .build(),
        &[],
    );
    run.assert_code(0);
    let res = run.results_by_device("runs");
    for (name, flavour, _) in lab_devices(&lab.inventory) {
        let want = fleet_lab::expected_output(&name, flavour, "show version").unwrap();
        assert_eq!(res[&name]["outputs"][0]["stdout"].as_str().unwrap(), want);
    }
}

#[test]
fn jump_host_run_through_the_lab() {
    let dir = scratch();
    let lab = LabProc::start(
        BIN,
        dir.path(),
        &["--devices", "4", "--flavours", "linux", "--jump-host"],
    );
    let text = std::fs::read_to_string(&lab.inventory).unwrap();
    let jump = lab.jump_host();
    let with_jump = text.replacen(
        "defaults:\n",
        &format!("defaults:\n  jump_host: {jump}\n"),
        1,
    );
    let inv = dir.path().join("via-jump.yaml");
    std::fs::write(&inv, with_jump).unwrap();
    let run = fleet(
        dir.path(),
        &RunArgs::new(inv.to_str().unwrap())
            .layout(1, 4)
            .command("hostname")
            .format("none")
            .build(),
        &[],
    );
    run.assert_code(0);
    let res = run.results_by_device("runs");
    assert_eq!(res.len(), 4);
    for (name, r) in &res {
        assert_eq!(r["outputs"][0]["stdout"], format!("{name}\n"));
    }
    let stats = lab.stop();
    // Four device sessions, all through one jump session that the worker's
    // threads share (4 device auths + 1 jump auth).
    assert_eq!(stats["sessions_accepted"], 4, "{stats}");
    assert_eq!(stats["auth_ok"], 5, "the jump session is reused: {stats}");
}

/// A secret in a config line goes as a placeholder: the device gets the
/// value, and nothing fleet writes or prints holds it.
#[test]
fn config_line_secrets_are_placeholders_filled_in_by_the_worker() {
    let dir = scratch();
    let lab = LabProc::start(BIN, dir.path(), &["--devices", "2", "--flavours", "ios"]);
    const VALUE: &str = "Pl4ceholder-Value-7731";
    let secret_file = dir.path().join("key");
    std::fs::write(&secret_file, "File-Secret-4420\n").unwrap();
    let file_line = format!(
        "snmp-server community {{{{ file:{} }}}}",
        secret_file.display()
    );
    let push = lab
        .run_args()
        .layout(1, 2)
        .config_line("username ops secret {{ env:OPS_SECRET }}")
        .config_line(&file_line)
        .args(["--save-outputs", "saved", "--log-level", "trace"]);
    let args = push.build();
    // Dry run: the plan shows the placeholder.
    let dry = fleet(dir.path(), &args, &[("OPS_SECRET", VALUE)]);
    dry.assert_code(0);
    assert!(
        dry.stdout
            .contains("username ops secret {{ env:OPS_SECRET }}"),
        "{}",
        dry.explain()
    );
    assert!(!dry.stdout.contains(VALUE));
    // A missing variable is an error before anything runs.
    let missing = fleet(dir.path(), &args, &[]);
    missing.assert_code(2);
    assert!(
        missing.stderr.contains("OPS_SECRET"),
        "{}",
        missing.explain()
    );

    let commit = push
        .clone()
        .commit()
        .command("show running-config")
        .format("json");
    let run = fleet(
        dir.path(),
        &commit.build(),
        &[("OPS_SECRET", VALUE), ("RUST_LOG", "trace")],
    );
    run.assert_code(0);
    let rd = run.run_dir("runs");
    for r in results(&rd) {
        let outs = r["outputs"].as_array().unwrap();
        let show = outs.last().unwrap()["stdout"].as_str().unwrap();
        // The device stored the value; fleet hands it back masked.
        assert!(show.contains("username ops secret ********"), "{show}");
        assert!(show.contains("snmp-server community ********"), "{show}");
        assert!(outs
            .iter()
            .any(|o| o["command"] == "username ops secret {{ env:OPS_SECRET }}"));
    }
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains(VALUE) && !text.contains("File-Secret-4420"));
    }
    let mut files = vec![];
    for sub in [rd.clone(), dir.path().join("saved")] {
        let mut stack = vec![sub];
        while let Some(p) = stack.pop() {
            if p.is_dir() {
                stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            } else {
                files.push(p);
            }
        }
    }
    assert!(files.len() > 6, "{files:?}");
    for f in files {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        assert!(!text.contains(VALUE), "secret in {}", f.display());
        assert!(
            !text.contains("File-Secret-4420"),
            "secret in {}",
            f.display()
        );
    }
    let run_json = std::fs::read_to_string(rd.join("run.json")).unwrap();
    assert!(run_json.contains("{{ env:OPS_SECRET }}"), "{run_json}");
    // Saved outputs: 0700 directories, 0600 files.
    use std::os::unix::fs::PermissionsExt;
    let saved = dir.path().join("saved");
    for entry in std::fs::read_dir(&saved).unwrap() {
        let d = entry.unwrap().path();
        assert_eq!(
            std::fs::metadata(&d).unwrap().permissions().mode() & 0o777,
            0o700
        );
        for f in std::fs::read_dir(&d).unwrap() {
            let f = f.unwrap().path();
            assert_eq!(
                std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }
}

/// Runs `cmds` in shell mode on every device of `inv`; the results by device.
fn show_on(
    dir: &std::path::Path,
    inv: &str,
    cmds: &[&str],
) -> std::collections::BTreeMap<String, serde_json::Value> {
    let args = RunArgs::new(inv)
        .layout(0, 2)
        .format("none")
        .commands(cmds.iter().copied());
    let run = fleet(dir, &args.build(), &[]);
    run.assert_code(0);
    run.results_by_device("runs")
}

#[test]
fn junos_push_commits_and_a_later_session_sees_it() {
    let dir = scratch();
    let lab = LabProc::start(BIN, dir.path(), &["--devices", "2", "--flavours", "junos"]);
    let inv = lab.inventory.to_str().unwrap().to_string();
    let line = "set system ntp server 192.0.2.77";
    let shown = "set system ntp server 192.0.2.77\n";
    let display = ["show configuration | display set"];
    // Dry run: the plan has the commit, and nothing changes.
    let push = RunArgs::new(&inv).config_line(line);
    let dry = fleet(dir.path(), &push.build(), &[]);
    dry.assert_code(0);
    assert!(
        dry.stdout.contains(&format!(
            "configure\n{line}\ncommit\nexit configuration-mode\n"
        )),
        "{}",
        dry.explain()
    );
    for r in show_on(dir.path(), &inv, &display).values() {
        assert!(!r["outputs"][0]["stdout"].as_str().unwrap().contains(shown));
    }
    let push = fleet(dir.path(), &push.commit().format("none").build(), &[]);
    push.assert_code(0);
    let res = push.results_by_device("runs");
    for r in res.values() {
        assert_eq!(status(r), "ok", "{r}");
        let commit = r["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["command"] == "commit")
            .expect("commit was sent");
        assert!(
            commit["stdout"]
                .as_str()
                .unwrap()
                .starts_with("commit complete\n"),
            "{r}"
        );
    }
    // A new session (a later run) sees the committed line.
    for r in show_on(dir.path(), &inv, &display).values() {
        let text = r["outputs"][0]["stdout"].as_str().unwrap();
        assert!(text.contains(shown), "{}: {text}", r["device"]);
    }
}

#[test]
fn commit_confirmed_only_where_the_platform_has_it() {
    let dir = scratch();
    let cases = [
        (
            "junos",
            "set system ntp server 192.0.2.66",
            "commit confirmed 5",
            "show configuration | display set",
        ),
        (
            "eos",
            "ntp server 192.0.2.66",
            "commit timer 00:05:00",
            "show running-config",
        ),
    ];
    for (flavour, line, commit, show) in cases {
        let sub = dir.path().join(flavour);
        std::fs::create_dir_all(&sub).unwrap();
        let lab = LabProc::start(BIN, &sub, &["--devices", "1", "--flavours", flavour]);
        let inv = lab.inventory.to_str().unwrap().to_string();
        let args = RunArgs::new(&inv)
            .config_line(line)
            .commit()
            .args(["--commit-confirmed", "5"])
            .format("none");
        let push = fleet(&sub, &args.build(), &[]);
        push.assert_code(0);
        for r in push.results("runs") {
            assert_eq!(status(&r), "ok", "{r}");
            assert!(
                r["outputs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|o| o["command"] == commit),
                "{flavour}: {commit} not sent: {r}"
            );
        }
        for r in show_on(&sub, &inv, &[show]).values() {
            let text = r["outputs"][0]["stdout"].as_str().unwrap();
            assert!(text.contains(line), "{flavour}: {text}");
        }
    }
    let sub = dir.path().join("ios");
    std::fs::create_dir_all(&sub).unwrap();
    let lab = LabProc::start(BIN, &sub, &["--devices", "1", "--flavours", "ios"]);
    let inv = lab.inventory.to_str().unwrap().to_string();
    let args = RunArgs::new(&inv)
        .config_line("x")
        .commit()
        .args(["--commit-confirmed", "5"]);
    let ios = fleet(&sub, &args.build(), &[]);
    assert_ne!(ios.code, Some(0), "{}", ios.explain());
    assert!(
        ios.stderr.contains("has no confirmed commit"),
        "{}",
        ios.explain()
    );
    // Without --commit the flag is refused: a dry run cannot confirm.
    let args = RunArgs::new(&inv)
        .config_line("x")
        .args(["--commit-confirmed", "5"]);
    let bare = fleet(&sub, &args.build(), &[]);
    assert_ne!(bare.code, Some(0), "{}", bare.explain());
}

#[test]
fn confirm_and_destination_questions_are_answered() {
    let dir = scratch();
    let lab = LabProc::start(BIN, dir.path(), &["--devices", "1", "--flavours", "ios"]);
    let inv = lab.inventory.to_str().unwrap().to_string();
    let res = show_on(
        dir.path(),
        &inv,
        &[
            "clear counters",
            "copy running-config startup-config",
            "show version",
        ],
    );
    for (name, r) in &res {
        assert_eq!(status(r), "ok", "{r}");
        let out = |i: usize| r["outputs"][i]["stdout"].as_str().unwrap().to_string();
        assert!(out(0).contains("[confirm]"), "{r}");
        assert_eq!(
            out(1),
            "Destination filename [startup-config]? \nBuilding configuration...\n[OK]\n"
        );
        let want = fleet_lab::expected_output(name, Flavour::CiscoIos, "show version").unwrap();
        assert_eq!(out(2), want);
    }
}

#[test]
fn stuck_config_mode_is_recovered() {
    let dir = scratch();
    let scenario = dir.path().join("sticky.toml");
    std::fs::write(
        &scenario,
        "[[rule]]\nname = \"sticky\"\nshare = 100\nsticky_config_mode = true\n",
    )
    .unwrap();
    let lab = LabProc::start(
        BIN,
        dir.path(),
        &[
            "--devices",
            "2",
            "--flavours",
            "ios,eos",
            "--scenario",
            scenario.to_str().unwrap(),
        ],
    );
    let line = "ntp server 192.0.2.88";
    let args = lab
        .run_args()
        .config_line(line)
        .commit()
        .command("show running-config")
        .format("none");
    let run = fleet(dir.path(), &args.build(), &[]);
    run.assert_code(0);
    for r in run.results("runs") {
        assert_eq!(status(&r), "ok", "{r}");
        // `end` left the device in config mode; fleet sent `exit`, so the
        // show ran in exec mode (in config mode it is an invalid input).
        let show = r["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["command"] == "show running-config")
            .expect("show ran");
        assert!(show["stdout"].as_str().unwrap().contains(line), "{r}");
    }
}
