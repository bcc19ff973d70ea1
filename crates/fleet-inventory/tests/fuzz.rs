//! Property tests: every loader returns `Ok` or `Err` on arbitrary and
//! near-valid input, never panics, and never leaks a secret in an error.
//!
//! The default case count keeps CI fast; for a longer run:
//! `PROPTEST_CASES=20000 cargo test -p fleet-inventory --release --test fuzz`.

mod common;

use common::*;
use fleet_inventory::limit::Limit;
use fleet_inventory::{load_str, Format};
use proptest::prelude::*;
use std::path::PathBuf;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Valid inventories to mutate, with the format and origin they load as.
fn seeds() -> Vec<(String, Format, PathBuf)> {
    let read = |rel: &str| std::fs::read_to_string(fixture(rel)).unwrap();
    vec![
        (
            read("fleet/groups.yaml"),
            Format::Fleet,
            fixture("fleet/groups.yaml"),
        ),
        (
            read("fleet/basic.yaml"),
            Format::Fleet,
            fixture("fleet/basic.yaml"),
        ),
        (
            read("nornir/hosts.yaml"),
            Format::Nornir,
            fixture("nornir/hosts.yaml"),
        ),
        (
            read("ansible/hosts.ini"),
            Format::AnsibleIni,
            fixture("ansible/hosts.ini"),
        ),
        (
            read("ansible/hosts.yaml"),
            Format::AnsibleYaml,
            fixture("ansible/hosts.yaml"),
        ),
        (read("devices.csv"), Format::Csv, fixture("devices.csv")),
    ]
}

/// Bytes that matter to the parsers.
const SPICE: &[&str] = &[
    ":",
    "-",
    " ",
    "\n",
    "  ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "'",
    "\"",
    "#",
    "&a",
    "*a",
    "!!str",
    "---\n",
    "=",
    ";",
    "|",
    "~",
    "\t",
    "[1:9]",
    "[a:",
    ":70000",
    "password_env: NOPE_UNSET",
    "key_file: /nonexistent",
    "groups: [x]",
    "é",
    "\u{0}",
];

fn mutate(text: &str, edits: &[(usize, u8, usize)]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for &(at, op, pick) in edits {
        let at = if chars.is_empty() {
            0
        } else {
            at % (chars.len() + 1)
        };
        match op % 4 {
            0 => {
                let ins: Vec<char> = SPICE[pick % SPICE.len()].chars().collect();
                chars.splice(at..at, ins);
            }
            1 => {
                let end = (at + pick % 8).min(chars.len());
                chars.drain(at..end);
            }
            2 => {
                // Duplicate a line-sized chunk (duplicate keys, names).
                let end = (at + 1 + pick % 40).min(chars.len());
                let chunk: Vec<char> = chars[at..end].to_vec();
                chars.splice(at..at, chunk);
            }
            _ => {
                if at < chars.len() {
                    chars[at] = SPICE[pick % SPICE.len()].chars().next().unwrap_or('x');
                }
            }
        }
    }
    chars.into_iter().collect()
}

/// Keys fleet, Nornir and Ansible know, a few typos, and free words.
const KEYS: &[&str] = &[
    "devices",
    "defaults",
    "groups",
    "name",
    "host",
    "port",
    "username",
    "password_env",
    "password_file",
    "key_file",
    "agent",
    "platform",
    "commands",
    "transport",
    "mode",
    "connect_timeout",
    "jump_host",
    "data",
    "hostname",
    "password",
    "connection_options",
    "netmiko",
    "extras",
    "all",
    "hosts",
    "children",
    "vars",
    "ansible_host",
    "ansible_port",
    "ansible_user",
    "ansible_ssh_common_args",
    "usrname",
    "r1",
    "core",
    "site",
];
const VALUES: &[&str] = &[
    "r1",
    "127.0.0.1",
    "22",
    "70000",
    "0",
    "-1",
    "5s",
    "soon",
    "true",
    "maybe",
    "ssh",
    "noop",
    "shell",
    "FLEET_TEST_PASSWORD",
    "FLEET_TEST_UNSET",
    "keys/x",
    "~",
    "null",
    "\"\"",
    "u@h:2222",
    "[a, b]",
    "{k: v}",
    "core",
    "sw[1:3]",
    "-o ProxyJump=j@h:1",
];

/// Random YAML documents built from fleet-ish keys and values, so the
/// semantic checks (not just the parser) see odd but well-formed input.
fn yaml_doc() -> impl Strategy<Value = String> {
    let leaf = proptest::sample::select(VALUES).prop_map(|v| v.to_owned());
    let tree = leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec((proptest::sample::select(KEYS), inner.clone()), 0..6)
                .prop_map(|kv| {
                    let mut s = String::from("\n");
                    for (k, v) in kv {
                        for line in format!("{k}: {v}").lines() {
                            s.push_str("  ");
                            s.push_str(line);
                            s.push('\n');
                        }
                    }
                    s
                }),
            proptest::collection::vec(inner, 0..4).prop_map(|items| {
                let mut s = String::from("\n");
                for v in items {
                    for (i, line) in v.trim_start_matches('\n').lines().enumerate() {
                        s.push_str(if i == 0 { "  - " } else { "    " });
                        s.push_str(line);
                        s.push('\n');
                    }
                }
                s
            }),
        ]
    });
    proptest::collection::vec((proptest::sample::select(KEYS), tree), 0..6).prop_map(|kv| {
        kv.into_iter()
            .map(|(k, v)| format!("{k}: {v}\n"))
            .collect::<String>()
    })
}

/// fleet settings keys (and one typo).
const FLEET_KEYS: &[&str] = &[
    "username",
    "password_env",
    "password_file",
    "key_file",
    "agent",
    "port",
    "platform",
    "commands",
    "transport",
    "mode",
    "connect_timeout",
    "session_timeout",
    "jump_host",
    "data",
    "enable_secret_env",
    "key_passphrase_env",
    "usrname",
];

/// `key: value` lines at `indent`, from the fleet vocabulary.
fn kv_lines(indent: &'static str) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        (
            proptest::sample::select(FLEET_KEYS),
            proptest::sample::select(VALUES),
        ),
        0..5,
    )
    .prop_map(move |kv| {
        kv.into_iter()
            .map(|(k, v)| format!("{indent}{k}: {v}\n"))
            .collect()
    })
}

/// Fleet-shaped documents (defaults, a group, devices with a name and a
/// host) whose settings are random: exercises resolution and validation.
fn fleet_doc() -> impl Strategy<Value = String> {
    (
        kv_lines("  "),
        kv_lines("    "),
        proptest::collection::vec((0usize..4, kv_lines("    ")), 0..5),
    )
        .prop_map(|(defaults, group, devices)| {
            let mut s = format!("defaults:\n{defaults}groups:\n  core:\n{group}devices:\n");
            for (n, extra) in devices {
                s.push_str(&format!(
                    "  - name: r{n}\n    host: h\n    groups: [core]\n{extra}"
                ));
            }
            s
        })
}

fn check(text: &str, format: Format, origin: &std::path::Path) {
    if let Err(e) = load_str(text, origin, format) {
        let s = e.to_string();
        assert!(!s.contains(PASSWORD), "secret in error: {s}");
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}", f in 0usize..5) {
        init_env();
        let format = Format::ALL[f];
        check(&text, format, &fixture("scratch/inventory"));
    }

    #[test]
    fn near_valid_inventories_never_panic(
        seed in 0usize..6,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<usize>()), 1..8),
        as_other in proptest::option::of(0usize..5),
    ) {
        init_env();
        let seeds = seeds();
        let (text, format, origin) = &seeds[seed];
        let text = mutate(text, &edits);
        check(&text, *format, origin);
        // The same bytes read as another format must not panic either.
        if let Some(f) = as_other {
            check(&text, Format::ALL[f], origin);
        }
    }

    #[test]
    fn mutated_nornir_groups_and_defaults_never_panic(
        which in 0usize..2,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<usize>()), 1..8),
    ) {
        init_env();
        let dir = tempfile::tempdir().unwrap();
        for f in ["hosts.yaml", "groups.yaml", "defaults.yaml"] {
            std::fs::copy(fixture("nornir").join(f), dir.path().join(f)).unwrap();
        }
        let name = ["groups.yaml", "defaults.yaml"][which];
        let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
        std::fs::write(dir.path().join(name), mutate(&text, &edits)).unwrap();
        if let Err(e) = fleet_inventory::load(dir.path(), None) {
            prop_assert!(!e.to_string().contains(PASSWORD));
        }
    }

    #[test]
    fn generated_yaml_never_panics(doc in yaml_doc(), f in 0usize..5) {
        init_env();
        check(&doc, Format::ALL[f], &fixture("scratch/inventory.yaml"));
    }

    #[test]
    fn fleet_shaped_documents_never_panic(doc in fleet_doc()) {
        init_env();
        check(&doc, Format::Fleet, &fixture("fleet/inventory.yaml"));
    }

    #[test]
    fn limit_expressions_never_panic(expr in "[a-z:!&,.=*?\\[\\]{}-]{0,40}") {
        let _ = Limit::parse(&expr);
    }
}

#[test]
fn seeds_load_unmodified() {
    init_env();
    for (text, format, origin) in seeds() {
        load_str(&text, &origin, format).unwrap_or_else(|e| panic!("{e}"));
    }
}
