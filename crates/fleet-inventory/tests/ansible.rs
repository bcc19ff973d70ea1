//! Ansible INI and YAML: precedence field by field, both flavours equal.

mod common;

use common::*;
use fleet_inventory::{load, load_str, ErrorKind, Format};
use fleet_proto::{Auth, Mode, Secret};
use std::path::Path;

fn check_lab(inv: &fleet_inventory::Inventory, dir: &Path) {
    let names: Vec<&str> = inv.devices.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "ungrouped-box",
            "ams-r01.example.net",
            "ams-r02.example.net",
            "ams-r03.example.net",
            "ams-r04.example.net",
            "fra-sw-a",
            "fra-sw-b",
            "srv1"
        ]
    );
    let d = &inv.devices[0];
    assert_eq!((d.host.as_str(), d.port), ("127.0.0.9", 22));
    assert!(d.groups.is_empty());
    assert_eq!(d.data["site"], "unknown"); // all:vars
    assert_eq!(d.username, "netops");

    // ios (depth 2) > ams, routers (depth 1, alphabetical) > all.
    let d = &inv.devices[1];
    assert_eq!(d.host, "127.0.0.1");
    assert_eq!(d.groups, ["ios", "routers", "ams"]);
    assert_eq!(d.data["site"], "ios-default");
    assert_eq!(d.data["tier"], "2"); // routers sorts after ams at the same depth
    assert_eq!(d.data["role"], "router");
    assert_eq!(d.data["ntp_server"], "10.0.0.1");
    assert_eq!(d.platform.as_deref(), Some("cisco_ios"));
    assert_eq!(d.mode, Some(Mode::Shell)); // network_cli
    assert_eq!(d.auth, vec![Auth::Password(Secret::new("ios-pw"))]);
    assert_eq!(d.jump.len(), 1);
    assert_eq!(
        (
            d.jump[0].username.as_str(),
            d.jump[0].host.as_str(),
            d.jump[0].port
        ),
        ("jump", "127.0.0.1", 2222)
    );
    assert_eq!(d.jump[0].auth, d.auth);
    assert!(!d.data.contains_key("ansible_password"));

    // Host vars beat every group; `host:port` sets the port.
    let d = &inv.devices[4];
    assert_eq!(d.port, 2204);
    assert_eq!(d.data["site"], "ams-lab");

    let d = &inv.devices[5];
    assert_eq!(d.groups, ["eos", "routers"]);
    assert_eq!(d.platform.as_deref(), Some("arista_eos"));
    assert_eq!(d.data["site"], "routers-default");
    assert_eq!(d.auth, vec![Auth::Agent]); // no credentials: agent + warning

    let d = &inv.devices[7];
    assert_eq!(
        (d.host.as_str(), d.port, d.username.as_str()),
        ("127.0.0.1", 2210, "ops")
    );
    assert_eq!(d.mode, None);
    assert_eq!(
        d.auth,
        vec![Auth::KeyFile {
            path: dir.join("keys/lab_ed25519"),
            passphrase: None
        }]
    );
    assert_eq!(d.groups, ["linux"]);

    let w = inv.warnings.join("\n");
    assert!(
        w.contains("plaintext secret in field `ansible_password`"),
        "{w}"
    );
    assert!(!w.contains("ios-pw"), "{w}");
}

#[test]
fn ini_resolves_with_ansible_precedence() {
    init_env();
    let path = fixture("ansible/hosts.ini");
    let inv = load(&path, None).unwrap();
    check_lab(&inv, path.parent().unwrap());
}

#[test]
fn yaml_resolves_with_ansible_precedence() {
    init_env();
    let path = fixture("ansible/hosts.yaml");
    let inv = load(&path, None).unwrap();
    check_lab(&inv, path.parent().unwrap());
}

#[test]
fn ini_and_yaml_flavours_agree_exactly() {
    init_env();
    let ini = load(&fixture("ansible/hosts.ini"), Some(Format::AnsibleIni)).unwrap();
    let yaml = load(&fixture("ansible/hosts.yaml"), Some(Format::AnsibleYaml)).unwrap();
    assert_eq!(ini.devices, yaml.devices);
}

fn ini_err(text: &str) -> fleet_inventory::InventoryError {
    init_env();
    load_str(text, Path::new("/inv/hosts.ini"), Format::AnsibleIni).unwrap_err()
}

#[test]
fn error_ini_bad_port_names_the_variable() {
    let e = ini_err("[g]\nr1 ansible_port=70000\n");
    assert_eq!(e.kind, ErrorKind::InvalidValue);
    assert_names(&e, 2, "ansible_port");
    assert_eq!(e.column, Some(4));
}

#[test]
fn error_ini_bad_syntax() {
    let e = ini_err("[g\nr1\n");
    assert_eq!((e.kind, e.line), (ErrorKind::Syntax, Some(1)));
    let e = ini_err("[g:kids]\n");
    assert!(e.message.contains("`:kids`"), "{e}");
    let e = ini_err("[g]\nr1 novalue\n");
    assert_eq!(e.line, Some(2));
    let e = ini_err("[g:vars]\njustakey\n");
    assert_eq!(e.line, Some(2));
    let e = ini_err("[g]\nsw[5:1]\n");
    assert!(e.message.contains("after end"), "{e}");
}

#[test]
fn error_ini_children_cycle() {
    let e = ini_err("[a:children]\nb\n[b:children]\na\n[a]\nr1\n");
    assert!(e.message.contains("cycle"), "{e}");
}

#[test]
fn error_missing_key_file_names_the_variable() {
    let e = ini_err("[g]\nr1 ansible_ssh_private_key_file=/nonexistent/key\n");
    assert_eq!(e.kind, ErrorKind::Io);
    assert_names(&e, 2, "ansible_ssh_private_key_file");
}

#[test]
fn error_yaml_bad_port_has_position() {
    init_env();
    let e = load_str(
        "all:\n  hosts:\n    r1:\n      ansible_port: nope\n",
        Path::new("/inv/hosts.yaml"),
        Format::AnsibleYaml,
    )
    .unwrap_err();
    assert_names(&e, 4, "ansible_port");
}

/// #19.4: a Jinja template other than `lookup('env', ...)` is an error
/// naming file, line and variable, never a literal password or user.
#[test]
fn jinja_templates_are_errors_except_env_lookups() {
    init_env();
    let e = load_str(
        "[g]\nr1 ansible_user=u ansible_password=\"{{ vault_pw }}\"\n",
        Path::new("/inv/hosts"),
        Format::AnsibleIni,
    )
    .unwrap_err();
    assert_names(&e, 2, "ansible_password");
    assert!(e.to_string().contains("lookup('env', 'NAME')"), "{e}");
    let e = load_str(
        "all:\n  vars:\n    ansible_user: \"{{ me }}\"\n  hosts: {r1: }\n",
        Path::new("/inv/hosts.yml"),
        Format::AnsibleYaml,
    )
    .unwrap_err();
    assert_names(&e, 3, "ansible_user");

    let inv = load_str(
        "[g]\nr1 ansible_user=\"{{ lookup('env', 'FLEET_TEST_PASSWORD') }}\" ansible_password=\"{{ lookup(\\\"ansible.builtin.env\\\", \\\"FLEET_TEST_PASSWORD\\\") }}\"\n",
        Path::new("/inv/hosts"),
        Format::AnsibleIni,
    )
    .unwrap();
    assert_eq!(inv.devices[0].username, PASSWORD);
    assert_eq!(
        inv.devices[0].auth,
        vec![Auth::Password(Secret::new(PASSWORD))]
    );
    assert!(
        !inv.warnings.iter().any(|w| w.contains("plaintext")),
        "{:?}",
        inv.warnings
    );
    let e = load_str(
        "[g]\nr1 ansible_user=u ansible_password=\"{{ lookup('env', 'FLEET_TEST_UNSET') }}\"\n",
        Path::new("/inv/hosts"),
        Format::AnsibleIni,
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Secret);
    assert!(e.to_string().contains("FLEET_TEST_UNSET"), "{e}");
}

#[test]
fn group_priority_overrides_alphabetical_order() {
    init_env();
    let inv = load_str(
        "[a]\nr1\n[b]\nr1\n[a:vars]\nx=from-a\nansible_group_priority=10\n[b:vars]\nx=from-b\n",
        Path::new("/inv/hosts"),
        Format::AnsibleIni,
    )
    .unwrap();
    assert_eq!(inv.devices[0].data["x"], "from-a");
    assert_eq!(inv.devices[0].groups, ["a", "b"]);
}

/// #19.4: a `!vault` value without a vault password stops the load with
/// an error naming file, line and variable.
#[test]
fn vault_values_without_a_password_are_errors() {
    init_env();
    let text = "all:\n  hosts:\n    r1:\n      ansible_user: u\n      ansible_password: !vault |\n        $ANSIBLE_VAULT;1.1;AES256\n        6162636465\n";
    let e = load_str(text, Path::new("/inv/hosts.yaml"), Format::AnsibleYaml).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Secret);
    assert_names(&e, 5, "ansible_password");
    assert!(e.to_string().contains("--vault-password-file"), "{e}");
}

#[test]
fn yaml_anchors_and_aliases_are_supported() {
    init_env();
    let text = "all:\n  children:\n    a:\n      vars: &common\n        ansible_user: ops\n        ansible_port: 2222\n      hosts: {r1: }\n    b:\n      vars: *common\n      hosts: {r2: }\n";
    let inv = load_str(text, Path::new("/inv/hosts.yaml"), Format::AnsibleYaml).unwrap();
    assert_eq!(
        (inv.devices[1].username.as_str(), inv.devices[1].port),
        ("ops", 2222)
    );
}

/// #20.1: `h[0:18446744073709551615]` wrapped the host count in release
/// builds; it must be a clear error with file and line, in both flavours.
#[test]
fn huge_host_ranges_are_errors_with_file_and_line() {
    init_env();
    let ini = "[core]\nr1\nh[0:18446744073709551615] ansible_user=u\n";
    let e = load_str(ini, Path::new("/inv/hosts.ini"), Format::AnsibleIni).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidValue);
    assert!(e.to_string().starts_with("/inv/hosts.ini:3:"), "{e}");
    assert!(e.to_string().contains("more than 1000000 hosts"), "{e}");

    let yml = "all:\n  hosts:\n    r1:\n    h[0:18446744073709551615]:\n";
    let e = load_str(yml, Path::new("/inv/hosts.yml"), Format::AnsibleYaml).unwrap_err();
    assert!(e.to_string().starts_with("/inv/hosts.yml:4:"), "{e}");
    assert!(e.to_string().contains("more than 1000000 hosts"), "{e}");

    // Many ranges each under the cap still hit the inventory-wide cap.
    let many: String = (0..3)
        .map(|i| format!("[g{i}]\nh{i}-[1:400000]\n"))
        .collect();
    let e = load_str(&many, Path::new("/inv/hosts.ini"), Format::AnsibleIni).unwrap_err();
    assert!(e.to_string().starts_with("/inv/hosts.ini:6:"), "{e}");
    assert!(e.to_string().contains("in total"), "{e}");
}
