//! CSV inventories: columns field by field, errors naming line and column.

mod common;

use common::*;
use fleet_inventory::{load, load_str, ErrorKind, Format, InventoryError};
use fleet_proto::{Auth, Secret};
use std::path::Path;

#[test]
fn csv_fixture_resolves() {
    init_env();
    let path = fixture("devices.csv");
    let inv = load(&path, None).unwrap();
    let names: Vec<&str> = inv.devices.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["ams-core-1", "ams-core-2", "fra-edge-1", "srv-1"]);

    let d = &inv.devices[0];
    assert_eq!(
        (d.host.as_str(), d.port, d.username.as_str()),
        ("127.0.0.1", 2201, "admin")
    );
    assert_eq!(d.platform.as_deref(), Some("cisco_ios"));
    assert_eq!(d.groups, ["core", "ams"]);
    assert_eq!(d.auth, vec![Auth::Password(Secret::new(PASSWORD))]);
    assert_eq!(d.commands, ["show version", "show ip interface brief"]);
    assert_eq!(d.data["site"], "ams");
    assert_eq!(d.data["rack"], "r12");
    assert_eq!(inv.devices[1].groups, ["core", "ams"]); // `|` separator

    let d = &inv.devices[2];
    assert_eq!(d.port, 22);
    assert_eq!(
        d.auth,
        vec![Auth::KeyFile {
            path: path.parent().unwrap().join("fleet/keys/lab_ed25519"),
            passphrase: None
        }]
    );
    assert_eq!(d.commands, ["show version", "show interfaces status"]);
    assert!(!d.data.contains_key("rack")); // empty cell: no data

    let d = &inv.devices[3];
    assert_eq!(d.auth, vec![Auth::Agent]);
    assert!(d.groups.is_empty());
    assert!(inv.warnings.iter().any(|w| w.contains("ssh-agent")));
}

fn csv_err(text: &str) -> InventoryError {
    init_env();
    load_str(text, Path::new("/inv/devices.csv"), Format::Csv).unwrap_err()
}

#[test]
fn error_bad_port_names_line_and_column() {
    let e = csv_err("name,host,port\nr1,h,22\nr2,h,70000\n");
    assert_eq!(e.kind, ErrorKind::InvalidValue);
    assert_names(&e, 3, "port");
    assert_eq!(
        e.to_string(),
        "/inv/devices.csv:3:3: field `port`: invalid port 70000 (expected 1-65535)"
    );
}

#[test]
fn error_duplicate_name() {
    let e = csv_err("name,host,agent\nr1,h,true\nr1,h,true\n");
    assert_eq!(e.kind, ErrorKind::DuplicateName);
    assert_names(&e, 3, "name");
    assert!(e.message.contains("line 2"), "{e}");
}

#[test]
fn error_password_env_not_set() {
    let e = csv_err("name,host,username,password_env\nr1,h,u,FLEET_TEST_UNSET\n");
    assert_eq!(e.kind, ErrorKind::Secret);
    assert_names(&e, 2, "password_env");
}

#[test]
fn error_missing_name_column_and_ragged_rows() {
    let e = csv_err("host,port\nh,22\n");
    assert_eq!(e.field.as_deref(), Some("name"));
    let e = csv_err("name,host\nr1,h,extra\n");
    assert_eq!((e.kind, e.line), (ErrorKind::Syntax, Some(2)));
}

#[test]
fn plaintext_password_column_is_accepted_with_one_warning() {
    init_env();
    let inv = load_str(
        "name;host;password\nr1;h;pw1\nr2;h;pw2\n",
        Path::new("/inv/d.csv"),
        Format::Csv,
    )
    .unwrap();
    assert_eq!(
        inv.devices[1].auth,
        vec![Auth::Password(Secret::new("pw2"))]
    );
    assert_eq!(
        inv.warnings
            .iter()
            .filter(|w| w.contains("plaintext"))
            .count(),
        1
    );
    assert!(!inv.warnings.join("").contains("pw1"));
}

#[test]
fn header_errors_count_leading_comment_lines() {
    let e = csv_err("# exported\nname,host,host\nr1,h,h\n");
    assert_eq!(
        (e.line, e.column, e.field.as_deref()),
        (Some(2), Some(3), Some("host"))
    );
}
