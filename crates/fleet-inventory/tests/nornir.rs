//! Nornir SimpleInventory: inheritance order field by field, and errors.

mod common;

use common::*;
use fleet_inventory::{load, load_str, ErrorKind, Format};
use fleet_proto::{Auth, JumpHost, Secret};

#[test]
fn resolves_with_nornir_inheritance() {
    init_env();
    // Detected from the directory.
    let inv = load(&fixture("nornir"), None).unwrap();
    let names: Vec<&str> = inv.devices.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["ams-core-1", "ams-core-2", "fra-edge-1", "srv-1"]);

    // ams-core-1: host, core, ios_devices, ams, europe, defaults.
    let d = &inv.devices[0];
    assert_eq!((d.host.as_str(), d.port), ("127.0.0.1", 2201));
    assert_eq!(d.username, "cisco_admin"); // from ios_devices (via core)
    assert_eq!(d.platform.as_deref(), Some("cisco_ios")); // netmiko option in core
    assert_eq!(d.auth, vec![Auth::Password(Secret::new("r1-pw"))]);
    // Direct groups, then their parent groups (#19.3: `--limit group:europe`).
    assert_eq!(d.groups, ["core", "ams", "ios_devices", "europe"]);
    assert_eq!(d.data["owner"], "neteng"); // depth-first: ios_devices before ams
    assert_eq!(d.data["tier"], "2"); // core before europe
    assert_eq!(d.data["ntp"], "10.1.0.1"); // ams before europe
    assert_eq!(d.data["region"], "emea");
    assert_eq!(d.data["rack"], "r12");
    assert_eq!(d.data["domain"], "example.net"); // defaults
    assert_eq!(
        d.jump,
        vec![JumpHost {
            host: "127.0.0.1".into(),
            port: 2222,
            username: "jump".into(),
            auth: vec![Auth::Password(Secret::new("r1-pw"))],
        }]
    );

    // ams-core-2: host, ams, europe, core, ios_devices, defaults.
    let d = &inv.devices[1];
    assert_eq!(d.data["owner"], "ams-team");
    assert_eq!(d.data["tier"], "1");
    assert_eq!(d.data["site"], "ams-2");
    assert_eq!(d.username, "cisco_admin");
    assert_eq!(d.auth, vec![Auth::Agent]); // no password anywhere: agent + warning

    // fra-edge-1: scrapli options on the host override base attributes.
    let d = &inv.devices[2];
    assert_eq!((d.host.as_str(), d.port), ("10.2.0.1", 2222));
    assert_eq!(d.username, "scrapli_user");
    assert_eq!(d.platform.as_deref(), Some("arista_eos"));
    assert_eq!(d.auth, vec![Auth::Password(Secret::new("eos-group-pw"))]);
    assert!(d.jump.is_empty());

    // srv-1: empty host entry: name as hostname, defaults for the rest.
    let d = &inv.devices[3];
    assert_eq!((d.host.as_str(), d.port), ("srv-1", 22));
    assert_eq!(d.username, "netops");
    assert_eq!(d.platform.as_deref(), Some("linux"));

    let w = inv.warnings.join("\n");
    assert!(
        w.contains("hosts.yaml: plaintext secret in field `password`"),
        "{w}"
    );
    assert!(
        w.contains("groups.yaml: plaintext secret in field `password`"),
        "{w}"
    );
    assert!(w.contains("ssh-agent"), "{w}");
    assert!(!w.contains("r1-pw") && !w.contains("eos-group-pw"), "{w}");
}

#[test]
fn hosts_file_path_is_accepted_and_detected() {
    init_env();
    let inv = load(&fixture("nornir/hosts.yaml"), None).unwrap();
    assert_eq!(inv.devices.len(), 4);
}

#[test]
fn error_unknown_group() {
    init_env();
    let dir = tempfile::tempdir().unwrap();
    let e = load_str(
        "r1:\n  hostname: h\n  groups: [nope]\n",
        &dir.path().join("hosts.yaml"),
        Format::Nornir,
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidValue);
    assert_names(&e, 3, "groups");
    assert!(e.message.contains("`nope`"), "{e}");
}

#[test]
fn error_group_cycle() {
    init_env();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("groups.yaml"),
        "a:\n  groups: [b]\nb:\n  groups: [a]\n",
    )
    .unwrap();
    let e = load_str(
        "r1:\n  groups: [a]\n",
        &dir.path().join("hosts.yaml"),
        Format::Nornir,
    )
    .unwrap_err();
    assert!(e.message.contains("cycle"), "{e}");
    assert!(e.file.ends_with("groups.yaml"));
}

#[test]
fn error_bad_port_in_groups_file_names_that_file() {
    init_env();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("groups.yaml"), "g:\n  port: 0\n").unwrap();
    let e = load_str(
        "r1:\n  groups: [g]\n",
        &dir.path().join("hosts.yaml"),
        Format::Nornir,
    )
    .unwrap_err();
    assert_names(&e, 2, "port");
    assert!(e.to_string().contains("groups.yaml:2:9"), "{e}");
}

#[test]
fn unknown_keys_warn_like_nornir_ignores_them() {
    init_env();
    let dir = tempfile::tempdir().unwrap();
    let inv = load_str(
        "r1:\n  hostnme: h\n  username: u\n",
        &dir.path().join("hosts.yaml"),
        Format::Nornir,
    )
    .unwrap();
    assert!(
        inv.warnings[0].contains("did you mean `hostname`"),
        "{:?}",
        inv.warnings
    );
}

/// #19.3: a Nornir repo as kept in the wild: enable secrets in netmiko /
/// scrapli / napalm extras, parent groups, a netconf-only block. Every
/// resolved field of every device.
#[test]
fn nornir_repo_every_field() {
    use fleet_proto::Device;
    init_env();
    let inv = fleet_inventory::load(&fixture("nornir-repo"), None).unwrap();
    let names: Vec<&str> = inv.devices.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "ams-core-1",
            "ams-core-2",
            "ams-eos-1",
            "ams-mx-1",
            "ams-nc-1"
        ]
    );
    let data = |site: Option<&str>, region: bool| {
        let mut m = std::collections::BTreeMap::new();
        m.insert("domain".to_string(), "example.net".to_string());
        if let Some(s) = site {
            m.insert("site".to_string(), s.to_string());
        }
        if region {
            m.insert("region".to_string(), "emea".to_string());
        }
        m
    };
    let pw = vec![Auth::Password(Secret::new("default-pw"))];
    let base = |name: &str, port: u16| {
        let mut d = Device::new(name, "127.0.0.1", port);
        d.username = "netops".into();
        d.auth = pw.clone();
        d
    };

    let mut want = base("ams-core-1", 2201);
    want.platform = Some("cisco_ios".into()); // cisco_xe is IOS-XE
    want.groups = vec!["ams_core".into(), "ams".into(), "europe".into()];
    want.enable_secret = Some(Secret::new("group-enable"));
    want.data = data(Some("ams"), true);
    assert_eq!(inv.devices[0], want);

    let mut want = base("ams-core-2", 2202); // netmiko port
    want.platform = Some("cisco_ios".into());
    want.groups = vec!["ams_core".into(), "ams".into(), "europe".into()];
    want.enable_secret = Some(Secret::new("host-enable")); // host beats group
    want.data = data(Some("ams"), true);
    assert_eq!(inv.devices[1], want);

    let mut want = base("ams-eos-1", 2301);
    want.platform = Some("arista_eos".into());
    want.groups = vec!["arista".into(), "ams".into(), "europe".into()];
    want.enable_secret = Some(Secret::new("scrapli-enable"));
    want.data = data(Some("ams"), true);
    assert_eq!(inv.devices[2], want);

    let mut want = base("ams-mx-1", 22);
    want.platform = Some("juniper_junos".into());
    want.groups = vec!["junos".into()];
    want.enable_secret = Some(Secret::new("napalm-enable"));
    want.data = data(None, false);
    assert_eq!(inv.devices[3], want);

    let mut want = base("ams-nc-1", 22); // not the netconf port
    want.platform = Some("cisco_ios".into());
    want.data = data(None, false);
    assert_eq!(inv.devices[4], want);

    // Parent groups count for --limit.
    let l = fleet_inventory::limit::Limit::parse("group:europe").unwrap();
    assert_eq!(l.select(&inv.devices).count(), 3);
}

#[test]
fn nornir_repo_sources_name_the_file_and_line_that_won() {
    init_env();
    let dir = fixture("nornir-repo");
    let opts = fleet_inventory::LoadOptions {
        sources: true,
        ..Default::default()
    };
    let inv = fleet_inventory::load_with(&dir, &opts).unwrap();
    let plain = fleet_inventory::load(&dir, None).unwrap();
    assert_eq!(inv.devices, plain.devices, "tracking changes nothing else");
    assert!(plain.origins.is_empty());
    let hosts = |l: usize| format!("{}:{l}", dir.join("hosts.yaml").display());
    let groups = |l: usize| format!("{}:{l}", dir.join("groups.yaml").display());
    let defaults = |l: usize| format!("{}:{l}", dir.join("defaults.yaml").display());
    let got = |name: &str| -> Vec<(String, String)> {
        inv.origins[name]
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let want = |pairs: &[(&str, String)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    };
    // ams-core-2: port from its own netmiko block, the enable secret from
    // the host's netmiko extras, platform and parents' data from groups.
    assert_eq!(
        got("ams-core-2"),
        want(&[
            ("data.domain", defaults(5)),
            ("data.region", groups(5)),
            ("data.site", groups(10)),
            ("enable_secret", hosts(14)),
            ("host", hosts(8)),
            ("password", defaults(3)),
            ("platform", groups(14)),
            ("port", hosts(12)),
            ("username", defaults(2)),
        ])
    );
    // ams-mx-1: napalm's optional_args.secret; no port anywhere (default).
    assert_eq!(
        got("ams-mx-1"),
        want(&[
            ("data.domain", defaults(5)),
            ("enable_secret", groups(33)),
            ("host", hosts(22)),
            ("password", defaults(3)),
            ("platform", groups(28)),
            ("username", defaults(2)),
        ])
    );
    // ams-nc-1: the netconf block's port and username are not sources.
    let nc = &inv.origins["ams-nc-1"];
    assert!(!nc.contains_key("port"));
    assert_eq!(nc["username"], defaults(2));
    assert_eq!(nc["platform"], hosts(28));
}
