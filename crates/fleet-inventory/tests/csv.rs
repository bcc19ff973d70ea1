//! CSV inventories: columns field by field, errors naming line and column.

mod common;

use common::*;
use fleet_inventory::{load, load_str, load_with, ErrorKind, Format, InventoryError, LoadOptions};
use fleet_proto::{Auth, Device, Secret};
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

/// The user `ssh` would log in as (what fleet fills in when a CSV has no
/// `username` column).
fn local_user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "root".to_owned())
}

#[test]
fn netbox_export_maps_columns_from_its_comment_line_and_strips_cidr() {
    init_env();
    let path = fixture("netbox/devices.csv");
    let opts = LoadOptions {
        sources: true,
        ..LoadOptions::default()
    };
    let inv = load_with(&path, &opts).unwrap();
    let row =
        |name: &str, host: &str, platform: Option<&str>, group: &str, data: &[(&str, &str)]| {
            let mut d = Device::new(name, host, 22);
            d.username = local_user();
            d.auth = vec![Auth::Agent];
            d.platform = platform.map(str::to_owned);
            d.groups = vec![group.to_owned()];
            d.data = data
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            d
        };
    assert_eq!(
        inv.devices,
        vec![
            row(
                "ams-core-1",
                "127.0.0.1",
                Some("cisco_ios"),
                "core",
                &[("site", "ams"), ("status", "active"), ("tenant", "ops")]
            ),
            row(
                "ams-edge-1",
                "10.1.0.5",
                Some("cisco_nxos"),
                "edge",
                &[("site", "ams"), ("status", "active")]
            ),
            row(
                "fra-v6-1",
                "2001:db8::10",
                Some("arista_eos"),
                "edge",
                &[("site", "fra"), ("status", "planned"), ("tenant", "ops")]
            ),
            row(
                "fra-srv-1",
                "fra-srv-1.example.net",
                None,
                "server",
                &[("site", "fra"), ("status", "active"), ("tenant", "ops")]
            ),
        ]
    );
    let at = |line: usize| format!("{}:{line}", path.display());
    assert!(
        inv.warnings.contains(&format!(
            "{}: field `host`: CIDR suffix stripped from 3 host address(es) (first: 127.0.0.1/32 -> 127.0.0.1 (/32))",
            at(5)
        )),
        "{:?}",
        inv.warnings
    );
    // Sources: the row's line for every cell that was set, nothing else.
    let o = &inv.origins["ams-edge-1"];
    let fields: Vec<&str> = o.keys().map(String::as_str).collect();
    assert_eq!(
        fields,
        ["data.site", "data.status", "host", "platform"],
        "groups are not a sourced field; empty cells are not sources"
    );
    assert!(o.values().all(|v| *v == at(6)));
}

#[test]
fn csv_columns_option_overrides_the_comment_field_by_field() {
    init_env();
    let path = fixture("netbox/devices.csv");
    let opts = LoadOptions {
        csv_columns: Some("groups=site".parse().unwrap()),
        ..LoadOptions::default()
    };
    let inv = load_with(&path, &opts).unwrap();
    let d = &inv.devices[0];
    assert_eq!(d.groups, ["ams"]);
    assert_eq!(d.host, "127.0.0.1"); // still from the comment's host=primary_ip
    assert_eq!(d.data["role"], "core"); // no longer mapped: data
    assert!(!d.data.contains_key("site"));
}

#[test]
fn csv_column_map_errors_name_the_line() {
    init_env();
    let e = csv_err("# fleet-columns: hots=ip\nname,ip\nr1,h\n");
    assert_eq!(
        e.to_string(),
        "/inv/devices.csv:1: field `fleet-columns`: `hots` is not a fleet field; did you mean `host`?"
    );
    let e = csv_err("# fleet-columns: host=ip\nname,mgmt\nr1,h\n");
    assert_eq!(
        e.to_string(),
        "/inv/devices.csv:2: field `host`: `# fleet-columns:` maps `host` to column `ip`, which the header does not have (found: name, mgmt)"
    );
    let e = csv_err("# fleet-columns: host=ip\nname,ip,host\nr1,h,h\n");
    assert_eq!((e.line, e.column), (Some(2), Some(3)));
    assert!(
        e.message.contains("both column `host` and column `ip`"),
        "{e}"
    );
}

#[test]
fn csv_network_addresses_are_refused_with_line_and_column() {
    let e = csv_err("name,host,agent\nr1,10.1.0.1/32,yes\nr2,10.1.0.0/24,yes\n");
    assert_names(&e, 3, "host");
    assert_eq!(
        e.to_string(),
        "/inv/devices.csv:3:2: field `host`: `10.1.0.0/24` is a network, not a host address; give the device's own address"
    );
}
