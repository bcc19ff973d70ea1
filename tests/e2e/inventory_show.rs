//! `fleet inventory show` / `list --long/--json` for every format: each
//! field with where it was set (file:line or "default"), secrets only as
//! kind and source, IPv6 addresses in brackets; `--csv-columns` (#19).

use crate::common::*;
use std::path::PathBuf;

fn fixture(rel: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/inventories")
        .join(rel)
}

const ENV: [(&str, &str); 3] = [
    ("FLEET_TEST_PASSWORD", "s3cret-pw"),
    ("FLEET_TEST_ENABLE", "s3cret-enable"),
    ("FLEET_TEST_JUMP_PASSWORD", "s3cret-jump"),
];

fn show(inv: &std::path::Path, device: &str, extra: &[&str]) -> String {
    let dir = scratch();
    let mut args = vec!["inventory", "show", "-i", inv.to_str().unwrap(), device];
    args.extend_from_slice(extra);
    let run = fleet(dir.path(), &args, &ENV);
    run.assert_code(0);
    for (_, secret) in ENV {
        assert!(
            !run.stdout.contains(secret),
            "secret printed: {}",
            run.stdout
        );
    }
    run.stdout
}

#[test]
fn csv_show_and_json_give_sources_and_bracket_ipv6() {
    let csv = fixture("netbox/devices.csv");
    let at = |line: usize| format!("{}:{line}", csv.display());
    let text = show(&csv, "fra-v6-1", &[]);
    let want = [
        "name            fra-v6-1".to_owned(),
        format!("host            2001:db8::10  ({})", at(7)),
        "port            22  (default)".to_owned(),
        "transport       ssh  (default)".to_owned(),
        "credentials     agent  (default)".to_owned(),
        "enable          no  (default)".to_owned(),
        format!("platform        arista_eos  ({})", at(7)),
        "groups          edge".to_owned(),
        format!("data.site       fra  ({})", at(7)),
    ];
    for w in &want {
        assert!(text.lines().any(|l| l == w), "no line `{w}` in:\n{text}");
    }

    let dir = scratch();
    let run = fleet(
        dir.path(),
        &["inventory", "list", "-i", csv.to_str().unwrap()],
        &[],
    );
    run.assert_code(0);
    assert!(
        run.stdout
            .lines()
            .any(|l| l == "fra-v6-1\t[2001:db8::10]:22\tarista_eos\tedge"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("CIDR suffix stripped from 3"),
        "{}",
        run.stderr
    );

    let run = fleet(
        dir.path(),
        &["inventory", "list", "--json", "-i", csv.to_str().unwrap()],
        &[],
    );
    run.assert_code(0);
    let v: serde_json::Value = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["name"] == "fra-v6-1")
        .unwrap();
    assert_eq!(v["address"], "[2001:db8::10]:22");
    assert_eq!(v["sources"]["host"], at(7));
    assert_eq!(v["sources"]["platform"], at(7));
    assert_eq!(v["sources"]["port"], "default");
    assert_eq!(v["sources"]["agent"], "default");
    assert_eq!(v["sources"]["data.tenant"], at(7));
}

#[test]
fn csv_columns_flag_maps_columns_and_rejects_unknown_fields() {
    let csv = fixture("netbox/devices.csv");
    let dir = scratch();
    let run = fleet(
        dir.path(),
        &[
            "inventory",
            "list",
            "-i",
            csv.to_str().unwrap(),
            "--csv-columns",
            "groups=site",
        ],
        &[],
    );
    run.assert_code(0);
    assert!(
        run.stdout
            .lines()
            .any(|l| l == "ams-core-1\t127.0.0.1:22\tcisco_ios\tams"),
        "{}",
        run.stdout
    );
    let run = fleet(
        dir.path(),
        &[
            "inventory",
            "list",
            "-i",
            csv.to_str().unwrap(),
            "--csv-columns",
            "hots=primary_ip",
        ],
        &[],
    );
    assert_eq!(run.code, Some(2), "{}", run.explain());
    assert!(
        run.stderr
            .contains("`hots` is not a fleet field; did you mean `host`?"),
        "{}",
        run.explain()
    );
}

#[test]
fn fleet_yaml_show_names_the_layer_of_each_field() {
    let inv = fixture("fleet/groups.yaml");
    let at = |line: usize| format!("({}:{line})", inv.display());
    let text = show(&inv, "core-1", &[]);
    for w in [
        format!("host            127.0.0.1  {}", at(36)),
        format!("port            2201  {}", at(37)),
        format!("username        admin  {}", at(7)),
        format!("credentials     password  {}", at(8)),
        format!("enable          yes, secret set  {}", at(19)),
        format!("platform        arista_eos  {}", at(22)),
        format!("mode            shell  {}", at(23)),
        "jump            -  (default)".to_owned(),
        format!("connect_timeout 5s  {}", at(12)),
        "session_timeout run default".to_owned(),
        format!("data.rack       r12  {}", at(39)),
    ] {
        assert!(text.lines().any(|l| l == w), "no line `{w}` in:\n{text}");
    }
    let text = show(&inv, "srv-1", &[]);
    let key = inv.parent().unwrap().join("keys/lab_ed25519");
    let want = format!(
        "credentials     key_file {}  {}, agent  {}, password  {}",
        key.display(),
        at(30),
        at(31),
        at(8)
    );
    assert!(
        text.lines().any(|l| l == want),
        "no line `{want}` in:\n{text}"
    );
}

#[test]
fn nornir_show_names_hosts_groups_and_defaults_files() {
    let dir = fixture("nornir-repo");
    let text = show(&dir, "ams-core-2", &[]);
    let f = |file: &str, line: usize| format!("({}:{line})", dir.join(file).display());
    for w in [
        format!("host            127.0.0.1  {}", f("hosts.yaml", 8)),
        format!("port            2202  {}", f("hosts.yaml", 12)),
        format!("username        netops  {}", f("defaults.yaml", 2)),
        format!("credentials     password  {}", f("defaults.yaml", 3)),
        format!("enable          yes, secret set  {}", f("hosts.yaml", 14)),
        format!("data.region     emea  {}", f("groups.yaml", 5)),
    ] {
        assert!(text.lines().any(|l| l == w), "no line `{w}` in:\n{text}");
    }
    assert!(!text.contains("host-enable"), "secret printed:\n{text}");
    assert!(!text.contains("default-pw"), "secret printed:\n{text}");
}
