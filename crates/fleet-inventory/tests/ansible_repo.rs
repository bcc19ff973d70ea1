//! An Ansible repo as real ones are kept (`fixtures/inventories/ansible-repo`):
//! `-i DIR`, group_vars/host_vars files and directories, vault (made by
//! `ansible-vault` itself), become, env lookups, unsupported connections.
//! Every resolved field of every device is asserted, and the variables are
//! checked against `ansible-inventory --list` (Ansible's own resolution,
//! saved by `scripts/make-vault-fixture.sh`).

mod common;

use common::*;
use fleet_inventory::{load_with, ErrorKind, Format, LoadOptions, VaultPassword};
use fleet_proto::{Auth, Device, JumpHost, Mode, Secret};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn repo() -> PathBuf {
    fixture("ansible-repo")
}

fn with_vault() -> LoadOptions {
    LoadOptions {
        vault_password: VaultPassword::File(repo().join("vault-password.txt")),
        ..LoadOptions::default()
    }
}

fn load_prod() -> fleet_inventory::Inventory {
    init_env();
    load_with(&repo().join("inventories/prod"), &with_vault()).unwrap()
}

const LOGIN: &str = "fixture-login-pw";

#[test]
fn every_field_of_every_device() {
    let inv = load_prod();
    let names: Vec<&str> = inv.devices.iter().map(|d| d.name.as_str()).collect();
    // nc-r1 (ansible_connection netconf) is left out, with a warning.
    assert_eq!(names, ["ios-r1", "ios-r2", "eos-sw1"]);
    let data = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let login = vec![Auth::Password(Secret::new(LOGIN))];

    let mut want = Device::new("ios-r1", "127.0.0.1", 2201); // port from host_vars
    want.username = "netops".into(); // group_vars/all.yml
    want.auth = login.clone(); // !vault in group_vars/all.yml
    want.platform = Some("cisco_ios".into()); // group_vars/ios/connection.yml
    want.mode = Some(Mode::Shell); // network_cli
    want.groups = vec!["ios".into(), "network".into()];
    want.enable_secret = Some(Secret::new(ENABLE)); // become + env lookup
    want.jump = vec![JumpHost {
        host: "127.0.0.1".into(),
        port: 2222,
        username: "jump".into(),
        auth: login.clone(),
    }];
    want.data = data(&[
        ("ntp_server", "10.0.0.1"),
        ("site", "ams-from-group-vars"), // group_vars/ beats [network:vars]
        ("tier", "ios"),                 // child group beats parent
    ]);
    assert_eq!(inv.devices[0], want);

    let mut want = Device::new("ios-r2", "127.0.0.2", 22); // host_vars/ios-r2/main.yml
    want.username = "netops".into();
    want.auth = login.clone();
    want.platform = Some("cisco_ios".into());
    want.mode = Some(Mode::Shell);
    want.groups = vec!["ios".into(), "network".into()];
    // host_vars/ios-r2/vault.yml (a whole-file vault) beats group_vars/ios.
    want.enable_secret = Some(Secret::new("r2-enable-secret"));
    want.data = data(&[
        ("ntp_server", "10.0.0.1"),
        ("site", "ams-from-group-vars"),
        ("tier", "ios"),
    ]);
    assert_eq!(inv.devices[1], want);

    let mut want = Device::new("eos-sw1", "127.0.0.1", 2301);
    want.username = "netops".into();
    want.auth = login;
    want.platform = Some("arista_eos".into());
    want.groups = vec!["eos".into(), "network".into()];
    // ansible_become: no -> no enable, although a become password is set.
    want.enable_secret = None;
    want.data = data(&[
        ("ntp_server", "10.0.0.1"),
        ("site", "ams-from-group-vars"),
        ("tier", "network"),
    ]);
    assert_eq!(inv.devices[2], want);

    let w = inv.warnings.join("\n");
    assert!(w.contains("netconf_devices.json:1: field `ansible_connection`: 1 host(s) (first: `nc-r1`) use `ansible.netcommon.netconf`"), "{w}");
    assert!(
        w.contains("retired_group.yml: no group `retired_group`"),
        "{w}"
    );
    assert!(w.contains("group_vars/eos.yml:4: field `ansible_become_password`: set, but ansible_become is not true"), "{w}");
    assert!(!w.contains("plaintext secret"), "{w}");
    assert!(!w.contains(LOGIN) && !w.contains(ENABLE), "{w}");
}

/// The oracle: `ansible-inventory --list` on the same repo. Every variable
/// fleet maps or keeps as data has the value Ansible resolved.
#[test]
fn agrees_with_ansible_inventory() {
    let inv = load_prod();
    let text = std::fs::read_to_string(repo().join("ansible-inventory.json")).unwrap();
    let ans: serde_json::Value = serde_json::from_str(&text).unwrap();
    let hostvars = &ans["_meta"]["hostvars"];
    for d in &inv.devices {
        let hv = &hostvars[&d.name];
        let s = |k: &str| match &hv[k] {
            serde_json::Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        assert_eq!(d.host, s("ansible_host"), "{}", d.name);
        let port = hv.get("ansible_port").map_or(22, |p| p.as_u64().unwrap());
        assert_eq!(u64::from(d.port), port, "{}", d.name);
        assert_eq!(d.username, s("ansible_user"), "{}", d.name);
        for (k, v) in &d.data {
            assert_eq!(*v, s(k), "{}: {k}", d.name);
        }
        let become_on = hv.get("ansible_become").and_then(|b| b.as_bool()) == Some(true);
        assert_eq!(d.enable_secret.is_some(), become_on, "{}", d.name);
        if d.name == "ios-r2" {
            assert_eq!(
                d.enable_secret.as_ref().unwrap().expose(),
                s("ansible_become_password")
            );
        }
    }
}

#[test]
fn the_inventory_file_alone_finds_the_vars_beside_it() {
    init_env();
    let inv = load_with(&repo().join("inventories/prod/hosts"), &with_vault()).unwrap();
    assert_eq!(inv.devices.len(), 3);
    assert_eq!(inv.devices[0].port, 2201);
    assert_eq!(inv.devices[0].username, "netops");
}

#[test]
fn vault_without_a_password_stops_the_load() {
    init_env();
    let none = LoadOptions {
        vault_password: VaultPassword::None,
        ..LoadOptions::default()
    };
    let e = load_with(&repo().join("inventories/prod"), &none).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Secret);
    let s = e.to_string();
    assert!(
        s.contains("group_vars/all.yml:4:1: field `ansible_password`"),
        "{s}"
    );
    assert!(s.contains("--vault-password-file"), "{s}");
}

#[test]
fn a_wrong_vault_password_is_a_clear_error() {
    init_env();
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "not-the-password\n").unwrap();
    let opts = LoadOptions {
        vault_password: VaultPassword::File(pw),
        ..LoadOptions::default()
    };
    let e = load_with(&repo().join("inventories/prod"), &opts).unwrap_err();
    assert!(e.to_string().contains("wrong vault password"), "{e}");
}

#[test]
fn a_vault_encrypted_inventory_file_is_decrypted_not_read_as_ini() {
    init_env();
    // The whole-file vault from the fixture holds YAML vars; as an
    // inventory file it must be decrypted, never parsed as INI host names.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("hosts");
    let vaulted =
        std::fs::read_to_string(repo().join("inventories/prod/host_vars/ios-r2/vault.yml"))
            .unwrap();
    std::fs::write(&f, &vaulted).unwrap();
    let none = LoadOptions {
        vault_password: VaultPassword::None,
        ..LoadOptions::default()
    };
    let e = load_with(&f, &none).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Secret);
    assert!(e.to_string().contains("vault-encrypted"), "{e}");
    let opts = LoadOptions {
        format: Some(Format::AnsibleIni),
        ..with_vault()
    };
    let e = load_with(&f, &opts);
    // Decrypted, it is a YAML mapping, not an inventory: an error, not
    // devices named after ciphertext lines.
    if let Ok(inv) = e {
        assert!(inv.devices.iter().all(|d| !d.name.starts_with("$ANSIBLE")));
    }
}
