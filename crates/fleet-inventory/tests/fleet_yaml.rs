//! fleet YAML: resolution field by field and one test per error kind.

mod common;

use common::*;
use fleet_inventory::{load, ErrorKind, Format};
use fleet_proto::{Auth, HostKeyCheck, JumpHost, Mode, Secret, Transport};
use std::path::Path;
use std::time::Duration;

#[test]
fn basic_fixture_resolves_defaults() {
    init_env();
    let path = fixture("fleet/basic.yaml");
    let inv = load(&path, None).unwrap();
    assert_eq!(inv.source, path);
    let names: Vec<&str> = inv.devices.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["r1", "r2"]);
    let r1 = &inv.devices[0];
    assert_eq!(r1.host, "127.0.0.1");
    assert_eq!(r1.port, 2201);
    assert_eq!(r1.username, "admin");
    assert_eq!(r1.auth, vec![Auth::Password(Secret::new(PASSWORD))]);
    assert_eq!(r1.platform.as_deref(), Some("cisco_ios"));
    assert_eq!(r1.commands, ["show version"]);
    assert_eq!(r1.transport, Transport::Ssh);
    assert!(inv.warnings.is_empty(), "{:?}", inv.warnings);
}

#[test]
fn groups_fixture_resolves_with_precedence() {
    init_env();
    let path = fixture("fleet/groups.yaml");
    let inv = load(&path, Some(Format::Fleet)).unwrap();
    let dir = path.parent().unwrap();
    assert_eq!(inv.known_hosts, Some(dir.join("lab/known_hosts")));
    assert_eq!(inv.host_key_check, Some(HostKeyCheck::Strict));
    let names: Vec<&str> = inv.devices.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["core-1", "edge-1", "srv-1", "far-1", "bench-1"]);

    // core-1: groups [core, edge]: core's commands, edge's platform and mode.
    let d = &inv.devices[0];
    assert_eq!(d.groups, ["core", "edge"]);
    assert_eq!(d.commands, ["show version", "show ip interface brief"]);
    assert_eq!(d.platform.as_deref(), Some("arista_eos"));
    assert_eq!(d.mode, Some(Mode::Shell));
    assert_eq!(d.enable_secret, Some(Secret::new(ENABLE)));
    assert_eq!(d.data["role"], "core");
    assert_eq!(d.data["tier"], "1"); // edge beats defaults
    assert_eq!(d.data["site"], "ams");
    assert_eq!(d.data["rack"], "r12");
    assert_eq!(d.timeouts.connect, Some(Duration::from_secs(5)));
    assert_eq!(d.timeouts.command, Some(Duration::from_secs(30)));
    assert_eq!(d.timeouts.session, None);

    // edge-1: groups [edge, core]: edge wins for data.role.
    let d = &inv.devices[1];
    assert_eq!(d.data["role"], "edge");
    assert_eq!(d.commands, ["show version", "show ip interface brief"]);
    assert_eq!(d.timeouts.session, Some(Duration::from_secs(120)));

    // srv-1: key + agent from group linux, then the password from defaults.
    let d = &inv.devices[2];
    assert_eq!(d.username, "ops");
    assert_eq!(d.platform.as_deref(), Some("linux"));
    assert_eq!(d.mode, Some(Mode::Exec));
    assert_eq!(d.commands, ["uname -a", "uptime"]);
    let key = dir.join("keys/lab_ed25519");
    assert_eq!(
        d.auth,
        vec![
            Auth::KeyFile {
                path: key,
                passphrase: None
            },
            Auth::Agent,
            Auth::Password(Secret::new(PASSWORD)),
        ]
    );
    assert_eq!(
        d.jump,
        vec![JumpHost {
            host: "127.0.0.1".into(),
            port: 2222,
            username: "jump".into(),
            auth: d.auth.clone(),
        }]
    );

    // far-1: two hops, the second with its own password.
    let d = &inv.devices[3];
    assert_eq!(d.port, 22);
    assert_eq!(d.jump.len(), 2);
    assert_eq!(d.jump[0].username, "hop1");
    assert_eq!(d.jump[0].auth, vec![Auth::Password(Secret::new(PASSWORD))]);
    assert_eq!(
        (d.jump[1].host.as_str(), d.jump[1].port),
        ("127.0.0.2", 2223)
    );
    assert_eq!(
        d.jump[1].auth,
        vec![Auth::Password(Secret::new(JUMP_PASSWORD))]
    );

    let d = &inv.devices[4];
    assert_eq!(d.transport, Transport::Noop);
}

#[test]
fn debug_output_hides_secrets() {
    init_env();
    let inv = load(&fixture("fleet/groups.yaml"), None).unwrap();
    let dbg = format!("{inv:?}");
    for s in [PASSWORD, ENABLE, JUMP_PASSWORD] {
        assert!(!dbg.contains(s));
    }
}

#[test]
fn telnet_defaults_to_port_23_and_noop_needs_no_credentials() {
    let inv = load_in(
        Path::new("/inv"),
        "devices:\n  - {name: t, host: h, transport: telnet, username: u}\n  - {name: n, host: h, transport: noop}\n",
        Format::Fleet,
    )
    .unwrap();
    assert_eq!(inv.devices[0].port, 23);
    assert!(inv.devices[1].auth.is_empty());
}

#[test]
fn undefined_group_is_a_label_with_a_warning_only_beside_a_groups_section() {
    let inv = load_in(
        Path::new("/inv"),
        "devices:\n  - {name: a, host: h, groups: [x], transport: noop}\n  - {name: b, host: h, groups: [x], transport: noop}\n",
        Format::Fleet,
    )
    .unwrap();
    assert_eq!(inv.devices[0].groups, ["x"]);
    assert!(inv.warnings.is_empty(), "{:?}", inv.warnings);
    let inv = load_in(
        Path::new("/inv"),
        "groups:\n  y: {port: 2222}\ndevices:\n  - {name: a, host: h, groups: [x], transport: noop}\n  - {name: b, host: h, groups: [x], transport: noop}\n",
        Format::Fleet,
    )
    .unwrap();
    assert_eq!(inv.devices[0].groups, ["x"]);
    assert_eq!(inv.warnings.len(), 1, "{:?}", inv.warnings);
}

// ---- one test per error kind ----

#[test]
fn error_bad_yaml_has_parser_position() {
    let e = fleet_err("devices:\n  - name: r1\n    host: [unclosed\n");
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert!(e.line.is_some());
    assert!(e.to_string().starts_with("/inv/inventory.yaml:"), "{e}");
}

#[test]
fn error_unknown_field_suggests() {
    let e = fleet_err("devices:\n  - name: r1\n    host: h\n    usrname: admin\n");
    assert_eq!(e.kind, ErrorKind::UnknownField);
    assert_names(&e, 4, "usrname");
    assert_eq!(e.column, Some(5));
    assert!(e.to_string().contains("did you mean `username`?"), "{e}");
}

#[test]
fn error_unknown_top_level_field() {
    let e = fleet_err("device:\n  - name: r1\n");
    assert_names(&e, 1, "device");
    assert!(e.message.contains("`devices`"), "{e}");
}

#[test]
fn error_plaintext_password_is_refused() {
    let e = fleet_err("defaults:\n  password: hunter2\ndevices: []\n");
    assert_eq!(e.kind, ErrorKind::UnknownField);
    assert_names(&e, 2, "password");
    assert!(!e.to_string().contains("hunter2"));
}

#[test]
fn error_duplicate_device_names_point_to_the_first() {
    let e = fleet_err(
        "defaults: {username: u, agent: true}\ndevices:\n  - name: r1\n    host: a\n  - name: r1\n    host: b\n",
    );
    assert_eq!(e.kind, ErrorKind::DuplicateName);
    assert_names(&e, 5, "name");
    assert!(e.message.contains("first defined at line 3"), "{e}");
}

#[test]
fn error_duplicate_yaml_key() {
    let e = fleet_err("devices:\n  - name: r1\n    host: a\n    host: b\n");
    assert_names(&e, 4, "host");
    assert!(e.message.contains("duplicate key"), "{e}");
}

#[test]
fn error_bad_port() {
    let e = fleet_err("devices:\n  - name: r1\n    host: a\n    port: 70000\n");
    assert_eq!(e.kind, ErrorKind::InvalidValue);
    assert_names(&e, 4, "port");
    assert_eq!(
        e.to_string(),
        "/inv/inventory.yaml:4:11: field `port`: invalid port 70000 (expected 1-65535)"
    );
}

#[test]
fn error_missing_host() {
    let e = fleet_err("devices:\n  - name: r1\n    port: 22\n");
    assert_eq!(e.kind, ErrorKind::MissingField);
    assert_names(&e, 2, "host");
    assert_eq!(e.column, Some(5)); // the device's first key
    assert!(e.message.contains("`r1`"));
}

#[test]
fn error_missing_name() {
    let e = fleet_err("devices:\n  - host: a\n");
    assert_eq!(e.kind, ErrorKind::MissingField);
    assert_names(&e, 2, "name");
}

#[test]
fn error_missing_username() {
    let e = fleet_err("devices:\n  - name: r1\n    host: a\n    agent: true\n");
    assert_eq!(e.kind, ErrorKind::MissingField);
    assert_names(&e, 2, "username");
}

#[test]
fn error_missing_credentials() {
    let e = fleet_err("defaults:\n  username: u\ndevices:\n  - name: r1\n    host: a\n");
    assert_eq!(e.kind, ErrorKind::MissingCredentials);
    assert_names(&e, 4, "credentials");
}

#[test]
fn error_unreadable_key_file() {
    let e = fleet_err("defaults:\n  username: u\n  key_file: nope/id_ed25519\ndevices:\n  - {name: r1, host: a}\n");
    assert_eq!(e.kind, ErrorKind::Io);
    assert_names(&e, 3, "key_file");
    assert!(e.message.contains("/inv/nope/id_ed25519"), "{e}");
}

#[test]
fn error_password_env_not_set_points_at_the_setting() {
    let e = fleet_err(
        "defaults:\n  username: u\n  password_env: FLEET_TEST_UNSET\ndevices:\n  - {name: r1, host: a}\n",
    );
    assert_eq!(e.kind, ErrorKind::Secret);
    assert_names(&e, 3, "password_env");
    assert!(e.message.contains("FLEET_TEST_UNSET"), "{e}");
}

#[test]
fn error_unreadable_password_file() {
    let e = fleet_err("devices:\n  - {name: r1, host: a, username: u, password_file: missing}\n");
    assert_eq!(e.kind, ErrorKind::Secret);
    assert_names(&e, 2, "password_file");
}

#[test]
fn password_file_is_read_and_loose_mode_warns() {
    init_env();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "filepw\nignored\n").unwrap();
    let text = "devices:\n  - {name: r1, host: a, username: u, password_file: pw}\n";
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.path().join("pw");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let inv = load_in(dir.path(), text, Format::Fleet).unwrap();
        assert_eq!(
            inv.devices[0].auth,
            vec![Auth::Password(Secret::new("filepw"))]
        );
        assert_eq!(inv.warnings.len(), 1);
        assert!(inv.warnings[0].contains("0644"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        let inv = load_in(dir.path(), text, Format::Fleet).unwrap();
        assert!(inv.warnings.is_empty(), "{:?}", inv.warnings);
    }
}

#[test]
fn error_bad_duration() {
    let e = fleet_err("defaults:\n  connect_timeout: 5 parsecs\ndevices: []\n");
    assert_eq!(e.kind, ErrorKind::InvalidValue);
    assert_names(&e, 2, "connect_timeout");
    assert!(e.message.contains("5 parsecs"));
}

#[test]
fn error_bad_enum_value() {
    let e = fleet_err("host_key_check: maybe\ndevices: []\n");
    assert_names(&e, 1, "host_key_check");
    assert!(e.message.contains("strict, accept-new, off"), "{e}");
    let e = fleet_err("defaults:\n  transport: carrier-pigeon\ndevices: []\n");
    assert_names(&e, 2, "transport");
}

#[test]
fn error_wrong_type() {
    let e = fleet_err("defaults:\n  commands: {a: b}\ndevices: []\n");
    assert_names(&e, 2, "commands");
    let e = fleet_err("devices:\n  - name: [r1]\n");
    assert_names(&e, 2, "name");
}

#[test]
fn error_bad_jump_host() {
    let e = fleet_err("defaults:\n  jump_host: \"u@h:0\"\ndevices: []\n");
    assert_names(&e, 2, "jump_host");
}

#[test]
fn error_missing_inventory_file() {
    let e = load(Path::new("/nonexistent/inv.yaml"), Some(Format::Fleet)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Io);
    assert!(
        e.to_string()
            .starts_with("/nonexistent/inv.yaml: failed to read"),
        "{e}"
    );
}

#[test]
fn nothing_partial_one_bad_device_fails_the_load() {
    let e = fleet_err("defaults: {username: u, agent: true}\ndevices:\n  - {name: a, host: h}\n  - {name: b, host: h, port: 0}\n");
    assert_names(&e, 4, "port");
}

#[test]
fn defaults_and_groups_may_follow_devices() {
    let inv = load_in(
        Path::new("/inv"),
        "devices:\n  - {name: r1, host: h, groups: [g]}\ngroups:\n  g: {port: 2222}\ndefaults:\n  username: u\n  agent: true\n",
        Format::Fleet,
    )
    .unwrap();
    let d = &inv.devices[0];
    assert_eq!((d.port, d.username.as_str()), (2222, "u"));
    assert_eq!(d.auth, vec![Auth::Agent]);
}

#[test]
fn error_unclosed_bracket_says_where_it_opened() {
    let e = fleet_err("devices:\n  - name: r1\n    host: [unclosed\n");
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert!(e.message.contains("opened at line 3:11"), "{e}");
}

#[test]
fn yaml_anchors_share_settings() {
    let inv = load_in(
        Path::new("/inv"),
        "defaults: {username: u, agent: true}\ndevices:\n  - &base {name: r1, host: h, port: 2201}\n  - {name: r2, host: h, port: 2202}\n",
        Format::Fleet,
    )
    .unwrap();
    assert_eq!(inv.devices.len(), 2);
}

#[test]
fn sources_name_the_line_of_the_layer_that_won() {
    init_env();
    let path = fixture("fleet/groups.yaml");
    let plain = load(&path, None).unwrap();
    assert!(
        plain.origins.is_empty(),
        "sources are tracked only on request"
    );
    let opts = fleet_inventory::LoadOptions {
        sources: true,
        ..Default::default()
    };
    let inv = fleet_inventory::load_with(&path, &opts).unwrap();
    assert_eq!(inv.devices, plain.devices, "tracking changes nothing else");
    let at = |line: usize| format!("{}:{line}", path.display());
    let core1: Vec<(&str, String)> = inv.origins["core-1"]
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    assert_eq!(
        core1,
        [
            ("command_timeout", at(13)),
            ("commands", at(18)),
            ("connect_timeout", at(12)),
            ("data.rack", at(39)),
            ("data.role", at(20)),
            ("data.site", at(14)),
            ("data.tier", at(24)),
            ("enable_secret", at(19)),
            ("host", at(36)),
            ("mode", at(23)),
            ("password", at(8)),
            ("platform", at(22)),
            ("port", at(37)),
            ("username", at(7)),
        ]
        .map(|(k, v)| (k, v))
    );
    // srv-1: key and agent from group `linux`, the jump host from `bastioned`.
    let srv = &inv.origins["srv-1"];
    assert_eq!(srv["key_file"], at(30));
    assert_eq!(srv["agent"], at(31));
    assert_eq!(srv["jump"], at(26));
    assert_eq!(srv["username"], at(29));
    // bench-1: transport from the device; no session timeout anywhere.
    assert_eq!(inv.origins["bench-1"]["transport"], at(61));
    assert!(!inv.origins["bench-1"].contains_key("session_timeout"));
    assert_eq!(inv.origins["edge-1"]["session_timeout"], at(44));
}
