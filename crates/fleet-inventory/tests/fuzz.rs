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
