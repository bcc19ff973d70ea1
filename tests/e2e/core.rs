//! The core pipeline: P processes × T threads over real SSH.

use crate::common::*;
use fleet_testkit::fleet::results;
use fleet_testkit::sshd::Sshd;
use std::collections::{BTreeMap, BTreeSet};

#[test]
fn sixty_devices_three_processes_four_threads_all_ok() {
    let sshd = Sshd::start().unwrap();
    let dir = scratch();
    let devices: Vec<Dev> = (0..60)
        .map(|i| {
            Dev::new(format!("dev-{i:03}"), sshd.port())
                .with(&format!("    commands: [\"echo hello from dev-{i:03}\"]\n"))
        })
        .collect();
    let inv = inventory(dir.path(), &sshd, "", &devices);
    let run = fleet(
        dir.path(),
        &RunArgs::new(inv.to_str().unwrap())
            .layout(3, 4)
            .args(["--format", "jsonl"])
            .build(),
        &[],
    );
    run.assert_code(0);
    let rd = run.run_dir("runs");
    let res = results(&rd);
    assert_eq!(res.len(), 60, "{}", run.explain());
    let mut pids = BTreeSet::new();
    let mut threads: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    for r in &res {
        let name = r["device"].as_str().unwrap();
        assert_eq!(status(r), "ok", "{r}");
        assert!(r["error"].is_null());
        assert_eq!(r["attempt"], 1);
        let out = &r["outputs"][0];
        assert_eq!(out["command"], format!("echo hello from {name}"));
        assert_eq!(out["stdout"], format!("hello from {name}\n"));
        assert_eq!(out["exit_status"], 0);
        let pid = r["worker"]["pid"].as_u64().unwrap();
        pids.insert(pid);
        threads
            .entry(pid)
            .or_default()
            .insert(r["worker"]["thread"].as_str().unwrap().to_string());
        for k in ["connect", "auth", "commands", "total"] {
            assert!(r["timings_ms"][k].as_f64().unwrap() >= 0.0);
        }
    }
    assert_eq!(pids.len(), 3, "expected 3 worker pids: {pids:?}");
    assert!(
        threads.values().all(|t| t.len() > 1),
        "each worker should use more than one thread: {threads:?}"
    );
    // stdout (jsonl) carries the same 60 results.
    assert_eq!(run.stdout.lines().count(), 60);
    assert!(run.stderr.contains("60 devices"), "{}", run.explain());
    // The run directory has everything troubleshooting needs.
    for f in [
        "run.json",
        "master.log",
        "worker-0.log",
        "worker-1.log",
        "worker-2.log",
        "workers.json",
        "trace.json",
    ] {
        assert!(rd.join(f).is_file(), "missing {f}");
    }
}

#[test]
fn failures_get_their_class_and_exit_code_1() {
    let sshd = Sshd::start().unwrap();
    let dir = scratch();
    let pw_user = sshd.test_user().expect("the password test user");
    let closed = closed_port();
    let no_key = unknown_key(dir.path());
    let mut devices = Vec::new();
    for i in 0..4 {
        devices.push(Dev::new(format!("good-{i}"), sshd.port()));
    }
    for i in 0..3 {
        devices.push(Dev::new(format!("closed-{i}"), closed));
    }
    for i in 0..2 {
        devices.push(
            Dev::new(format!("exit3-{i}"), sshd.port())
                .with("    commands: [\"echo partial; exit 3\"]\n"),
        );
    }
    for i in 0..2 {
        devices.push(Dev::new(format!("pw-good-{i}"), sshd.port()).with(&format!(
            "    username: {}\n    key_file: {}\n    password_env: FLEET_E2E_PW\n",
            pw_user.name,
            no_key.display()
        )));
    }
    for i in 0..3 {
        devices.push(Dev::new(format!("pw-bad-{i}"), sshd.port()).with(&format!(
            "    username: {}\n    key_file: {}\n    password_env: FLEET_E2E_BAD_PW\n",
            pw_user.name,
            no_key.display()
        )));
    }
    let inv = inventory(dir.path(), &sshd, "  commands: [\"echo ok\"]\n", &devices);
    let run = fleet(
        dir.path(),
        &RunArgs::new(inv.to_str().unwrap())
            .layout(2, 3)
            .args(["--connect-timeout", "3s"])
            .build(),
        &[
            ("FLEET_E2E_PW", pw_user.password.as_str()),
            ("FLEET_E2E_BAD_PW", "wrong-horse-43"),
        ],
    );
    run.assert_code(1);
    let res = run.results_by_device("runs");
    assert_eq!(res.len(), devices.len(), "{}", run.explain());
    for (name, r) in &res {
        let want = match name.split('-').next().unwrap() {
            "good" => "ok",
            "closed" => "connect_failed",
            "exit3" => "command_failed",
            "pw" if name.starts_with("pw-good") => "ok",
            "pw" => "auth_failed",
            other => panic!("unexpected device {other}"),
        };
        assert_eq!(status(r), want, "{name}: {r}");
        if want != "ok" {
            assert!(r["error"].as_str().is_some_and(|e| !e.is_empty()), "{r}");
        }
    }
    let exit3 = &res["exit3-0"]["outputs"][0];
    assert_eq!(exit3["exit_status"], 3);
    assert_eq!(exit3["stdout"], "partial\n");
    // The table on stdout lists every device with its class.
    assert!(run.stdout.contains("connect_failed") && run.stdout.contains("command_failed"));
}

#[test]
fn every_layout_gives_the_same_results() {
    let sshd = Sshd::start().unwrap();
    let dir = scratch();
    let closed = closed_port();
    let mut devices: Vec<Dev> = (0..16)
        .map(|i| {
            Dev::new(format!("d{i:02}"), sshd.port()).with(&format!(
                "    commands: [\"echo {i}\", \"echo err{i} >&2\"]\n"
            ))
        })
        .collect();
    devices.push(Dev::new("closed", closed));
    devices.push(Dev::new("fails", sshd.port()).with("    commands: [\"exit 7\"]\n"));
    let inv = inventory(dir.path(), &sshd, "  commands: [\"echo x\"]\n", &devices);
    let mut seen = Vec::new();
    for layout in [["0", "8"], ["1", "1"], ["4", "1"], ["2", "4"]] {
        let out = format!("runs-{}x{}", layout[0], layout[1]);
        let run = fleet(
            dir.path(),
            &RunArgs::new(&inv)
                .layout(layout[0], layout[1])
                .out(&out)
                .build(),
            &[],
        );
        run.assert_code(1);
        let res = run.results(&out);
        let essence: BTreeMap<String, (String, serde_json::Value)> = res
            .iter()
            .map(|r| {
                (
                    r["device"].as_str().unwrap().to_string(),
                    (status(r).to_string(), r["outputs"].clone()),
                )
            })
            .collect();
        assert_eq!(essence.len(), devices.len());
        seen.push((layout, essence));
    }
    for (layout, essence) in &seen[1..] {
        assert_eq!(
            essence, &seen[0].1,
            "layout {layout:?} differs from -p 0 -t 8"
        );
    }
    let first = &seen[0].1;
    assert_eq!(first["d03"].0, "ok");
    assert_eq!(first["d03"].1[0]["stdout"], "3\n");
    assert_eq!(first["d03"].1[1]["stderr"], "err3\n");
    assert_eq!(first["closed"].0, "connect_failed");
    assert_eq!(first["fails"].0, "command_failed");
}

/// One rule: a flag given on the command line wins over the inventory, a
/// flag left at its default does not. Checked for host-key checking,
/// commands, timeouts (and, in shell.rs, --mode).
#[test]
fn given_flags_win_over_the_inventory_defaults_do_not() {
    let sshd = Sshd::start().unwrap();
    let dir = scratch();
    let devices = vec![
        Dev::new("x", sshd.port()),
        Dev::new("y", sshd.port()).with("    command_timeout: 1s\n    commands: [\"sleep 30\"]\n"),
    ];
    let inv = inventory(
        dir.path(),
        &sshd,
        "  commands: [\"echo inv\"]\n  command_timeout: 20s\n",
        &devices,
    );
    // Strict checking from the inventory, with an empty known_hosts.
    let text = std::fs::read_to_string(&inv).unwrap();
    std::fs::write(&inv, format!("host_key_check: strict\n{text}")).unwrap();
    let inv = inv.to_str().unwrap();

    // No flags: the inventory's strict checking applies.
    let run = fleet(dir.path(), &RunArgs::new(inv).layout(1, 2).build(), &[]);
    run.assert_code(1);
    let res = run.results_by_device("runs");
    assert_eq!(status(&res["x"]), "host_key_mismatch", "{}", run.explain());

    // Only --host-key-check given: the inventory's commands and timeouts
    // stay (the default --command-timeout of 30s does not replace y's 1s).
    let run = fleet(
        dir.path(),
        &RunArgs::new(inv)
            .layout(1, 2)
            .args(["--host-key-check", "accept-new"])
            .build(),
        &[],
    );
    run.assert_code(1);
    let res = run.results_by_device("runs");
    assert_eq!(status(&res["x"]), "ok", "{}", run.explain());
    assert_eq!(res["x"]["outputs"][0]["stdout"], "inv\n");
    assert_eq!(status(&res["y"]), "timeout", "{}", run.explain());
    let err = res["y"]["error"].as_str().unwrap();
    assert!(err.contains("command time limit (1s)"), "{err}");

    // -c and --command-timeout given: they win over the inventory's
    // commands and its 20s command timeout.
    let run = fleet(
        dir.path(),
        &RunArgs::new(inv)
            .layout(1, 2)
            .args(["--limit", "x"])
            .commands(["echo flag", "sleep 30"])
            .args(["--command-timeout", "1s"])
            .build(),
        &[],
    );
    run.assert_code(1);
    let res = run.results_by_device("runs");
    assert_eq!(
        res["x"]["outputs"][0]["stdout"],
        "flag\n",
        "{}",
        run.explain()
    );
    assert_eq!(status(&res["x"]), "timeout", "{}", run.explain());
    let err = res["x"]["error"].as_str().unwrap();
    assert!(err.contains("command time limit (1s)"), "{err}");
}

/// A device written `[::1]` (an IPv6 literal in brackets) is reached over
/// IPv6 loopback, and its host key is stored under `[::1]:port`.
#[test]
fn ipv6_loopback_device_in_brackets() {
    std::net::TcpListener::bind("[::1]:0").expect(
        "this test needs IPv6 loopback (::1): enable it (sysctl net.ipv6.conf.lo.disable_ipv6=0)",
    );
    let sshd = Sshd::start_with(fleet_testkit::sshd::SshdOptions {
        ipv6: true,
        ..Default::default()
    })
    .unwrap();
    let dir = scratch();
    let inv = inventory(
        dir.path(),
        &sshd,
        "  commands: [\"echo $SSH_CONNECTION\"]\n",
        &[Dev::new("v6", sshd.port())],
    );
    let text = std::fs::read_to_string(&inv).unwrap();
    std::fs::write(&inv, text.replace("host: 127.0.0.1", "host: \"[::1]\"")).unwrap();
    let run = fleet(dir.path(), &RunArgs::new(&inv).layout(1, 1).build(), &[]);
    run.assert_code(0);
    let res = run.results("runs");
    let out = res[0]["outputs"][0]["stdout"].as_str().unwrap();
    // SSH_CONNECTION: client address, client port, server address, port.
    assert!(out.starts_with("::1 "), "connected over IPv6: {out:?}");
    let known = std::fs::read_to_string(dir.path().join("known_hosts")).unwrap();
    assert!(
        known.contains(&format!("[::1]:{}", sshd.port())),
        "key stored: {known}"
    );
}
