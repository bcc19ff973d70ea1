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
    let run = fleet(
        dir.path(),
        &["run", "-i", inv.to_str().unwrap(), "-c", "x"],
        &[],
    );
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
    let ok = fleet(dir.path(), &["run", "-i", inv, "--transport", "noop", "-t", "1"], &[]);
    ok.assert_code(0);
    for t in ["0", "100000"] {
        let run = fleet(dir.path(), &["run", "-i", inv, "--transport", "noop", "-t", t], &[]);
        run.assert_code(2);
        assert!(run.stderr.contains("--threads"), "{}", run.explain());
        assert!(run.stderr.contains("not in 1..=4096"), "{}", run.explain());
    }
    let run = fleet(dir.path(), &["run", "--no-such-flag"], &[]);
    run.assert_code(2);
}
