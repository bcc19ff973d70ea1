//! The crate-level API: detection, summary and --limit over real fixtures.

mod common;

use common::*;
use fleet_inventory::limit::Limit;
use fleet_inventory::{load, summary, Format};
use std::io::Read;

#[test]
fn every_fixture_is_detected_as_its_format() {
    let cases = [
        ("fleet/basic.yaml", Format::Fleet),
        ("fleet/groups.yaml", Format::Fleet),
        ("nornir", Format::Nornir),
        ("nornir/hosts.yaml", Format::Nornir),
        ("ansible/hosts.ini", Format::AnsibleIni),
        ("ansible/hosts.yaml", Format::AnsibleYaml),
        ("devices.csv", Format::Csv),
    ];
    for (rel, want) in cases {
        let path = fixture(rel);
        let mut head = Vec::new();
        if path.is_file() {
            std::fs::File::open(&path)
                .unwrap()
                .take(4096)
                .read_to_end(&mut head)
                .unwrap();
        }
        assert_eq!(Format::detect(&path, &head), Some(want), "{rel}");
    }
}

#[test]
fn summary_counts_groups_and_platforms() {
    init_env();
    let inv = load(&fixture("ansible/hosts.ini"), None).unwrap();
    let s = summary(&inv);
    assert_eq!(s.devices, 8);
    assert_eq!(s.per_group["ios"], 4);
    assert_eq!(s.per_group["routers"], 6);
    assert_eq!(s.per_platform["cisco_ios"], 4);
    assert_eq!(s.per_platform["arista_eos"], 2);
    assert_eq!(s.per_platform["-"], 2);
    assert_eq!(s.with_jump, 6);
    assert_eq!(s.warnings, inv.warnings.len());
}

#[test]
fn limit_selects_from_a_loaded_inventory() {
    init_env();
    let inv = load(&fixture("ansible/hosts.ini"), None).unwrap();
    let pick = |expr: &str| -> Vec<String> {
        let l = Limit::parse(expr).unwrap();
        l.select(&inv.devices).map(|d| d.name.clone()).collect()
    };
    assert_eq!(
        pick("group:routers,&platform:arista_eos"),
        ["fra-sw-a", "fra-sw-b"]
    );
    assert_eq!(
        pick("group:ios,!ams-r0[12]*"),
        ["ams-r03.example.net", "ams-r04.example.net"]
    );
    assert_eq!(pick("data.site=ams-lab"), ["ams-r04.example.net"]);
    assert_eq!(pick("host:127.0.0.9"), ["ungrouped-box"]);
}

#[test]
fn non_utf8_file_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("inv.yaml");
    std::fs::write(&p, b"devices:\n  - name: caf\xe9\n").unwrap();
    let e = load(&p, None).unwrap_err();
    assert_eq!(
        (e.kind, e.line),
        (fleet_inventory::ErrorKind::Syntax, Some(2))
    );
}

#[test]
fn crlf_line_endings_load_like_lf() {
    init_env();
    let cases = [
        ("fleet/groups.yaml", Format::Fleet),
        ("ansible/hosts.ini", Format::AnsibleIni),
        ("ansible/hosts.yaml", Format::AnsibleYaml),
        ("devices.csv", Format::Csv),
    ];
    for (rel, format) in cases {
        let path = fixture(rel);
        let text = std::fs::read_to_string(&path).unwrap();
        let crlf = text.replace('\n', "\r\n");
        let a = fleet_inventory::load_str(&text, &path, format).unwrap();
        let b = fleet_inventory::load_str(&crlf, &path, format).unwrap();
        assert_eq!(a.devices, b.devices, "{rel}");
    }
}
