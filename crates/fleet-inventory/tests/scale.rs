//! 100,000 devices in every format load completely and in order. Ignored by
//! default (it takes a while in debug builds); run with
//! `cargo test -p fleet-inventory --release --test scale -- --ignored --nocapture`.
//! Timing and memory figures come from `examples/bench_100k.rs`.

#[path = "../examples/gen/mod.rs"]
mod gen;

use fleet_inventory::{load, Format};

#[test]
#[ignore]
fn hundred_thousand_devices_in_every_format() {
    std::env::set_var("FLEET_BENCH_PW", "bench");
    for format in Format::ALL {
        let dir = tempfile::tempdir().unwrap();
        let path = gen::write(dir.path(), format, 100_000).unwrap();
        let inv = load(&path, None).unwrap_or_else(|e| panic!("{format}: {e}"));
        assert_eq!(inv.devices.len(), 100_000, "{format}");
        // Ansible groups hosts by group; the other formats keep file order.
        if format != Format::AnsibleIni && format != Format::AnsibleYaml {
            assert_eq!(inv.devices[12_345].name, "dev012345", "{format}");
        }
        assert!(
            inv.devices.iter().all(|d| d.data.contains_key("site")),
            "{format}"
        );
    }
}
