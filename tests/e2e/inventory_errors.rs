//! Bad input: a clear error naming file, line and field, exit 2, nothing runs.

use crate::common::*;

#[test]
fn malformed_inventory_names_file_line_and_field_and_runs_nothing() {
    let dir = scratch();
    let inv = dir.path().join("bad.yaml");
    std::fs::write(
        &inv,
        "defaults:\n  username: admin\n  agent: true\ndevices:\n  - name: r1\n    host: 127.0.0.1\n    port: 70000\n",
    )
    .unwrap();
    let run = fleet(dir.path(), &RunArgs::new(&inv).command("x").build(), &[]);
    run.assert_code(2);
    assert!(run.stderr.contains("bad.yaml:7"), "{}", run.explain());
    assert!(run.stderr.contains("port"), "{}", run.explain());
    assert!(
        !dir.path().join("runs").exists(),
        "nothing may run on bad input"
    );
}

#[test]
fn bad_flags_are_usage_errors() {
    let dir = scratch();
    // A valid inventory, so only the flag can be what is refused.
    let inv = dir.path().join("ok.yaml");
    std::fs::write(
        &inv,
        "defaults:\n  username: u\n  agent: true\n  commands: [x]\ndevices:\n  - {name: a, host: 127.0.0.1}\n",
    )
    .unwrap();
    let inv = inv.to_str().unwrap();
    let ok = fleet(
        dir.path(),
        &RunArgs::new(inv).transport("noop").threads(1).build(),
        &[],
    );
    ok.assert_code(0);
    for t in ["0", "100000"] {
        let run = fleet(
            dir.path(),
            &RunArgs::new(inv).transport("noop").threads(t).build(),
            &[],
        );
        run.assert_code(2);
        assert!(run.stderr.contains("--threads"), "{}", run.explain());
        assert!(run.stderr.contains("from 1 to 4096"), "{}", run.explain());
    }
    let run = fleet(
        dir.path(),
        &RunArgs::bare().arg("--no-such-flag").build(),
        &[],
    );
    run.assert_code(2);
}

/// A typo in any flag value fails in argument parsing: before the
/// inventory is read (it does not exist here) and before the password
/// prompt of `-k` (which would fail without a terminal).
#[test]
fn flag_value_typos_fail_before_inventory_load_and_password_prompt() {
    let dir = scratch();
    let cases: &[(&str, &str)] = &[
        ("--limit", "group:"),
        ("--retry", "conect_failed=3"),
        ("--retry", "timeout=x"),
        ("--retry-backoff", "30s..1s"),
        ("--connect-rate", "fast"),
        ("--max-per-group", "core"),
        ("--inventory-format", "yml2"),
    ];
    for (flag, value) in cases {
        let run = fleet(
            dir.path(),
            &RunArgs::new("missing.yaml")
                .arg("-k")
                .command("x")
                .args([*flag, *value])
                .build(),
            &[],
        );
        run.assert_code(2);
        assert!(
            run.stderr.contains(flag) && run.stderr.contains("invalid value"),
            "the error must name {flag}\n{}",
            run.explain()
        );
        for late in ["missing.yaml", "password", "terminal"] {
            assert!(
                !run.stderr.contains(late),
                "{flag} {value}: failed too late (mentions `{late}`)\n{}",
                run.explain()
            );
        }
    }
    assert!(!dir.path().join("runs").exists(), "nothing may run");
}

/// The same flags, well formed, get as far as the inventory.
#[test]
fn well_formed_flag_values_reach_the_inventory_load() {
    let dir = scratch();
    let run = fleet(
        dir.path(),
        &RunArgs::new("missing.yaml")
            .command("x")
            .args([
                "--limit",
                "group:core",
                "--retry",
                "connect_failed=3,timeout=1",
                "--retry-backoff",
                "1s..5s",
                "--connect-rate",
                "50/s",
                "--max-per-group",
                "core=2",
                "--inventory-format",
                "fleet",
            ])
            .build(),
        &[],
    );
    run.assert_code(2);
    assert!(run.stderr.contains("missing.yaml"), "{}", run.explain());
}

/// A run that cannot start is exit 3, not 1 ("some devices failed"): here
/// `--out` is below a regular file, which even root cannot write into.
#[test]
fn an_unwritable_out_directory_exits_3() {
    let dir = scratch();
    let inv = dir.path().join("ok.yaml");
    std::fs::write(
        &inv,
        "defaults:\n  username: u\n  agent: true\n  commands: [x]\ndevices:\n  - {name: a, host: 127.0.0.1}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("file"), "not a directory\n").unwrap();
    let run = fleet(
        dir.path(),
        &RunArgs::new(&inv)
            .transport("noop")
            .out("file/runs")
            .build(),
        &[],
    );
    run.assert_code(3);
    assert!(run.stderr.contains("file/runs"), "{}", run.explain());
    // The same inventory with a writable --out runs, exit 0.
    let ok = fleet(
        dir.path(),
        &RunArgs::new(&inv).transport("noop").out("runs").build(),
        &[],
    );
    ok.assert_code(0);
}
