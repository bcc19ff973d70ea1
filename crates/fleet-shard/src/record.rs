//! What a shard records in its `run.json`, so `fleet merge` can check that
//! the run directories it is given are the N parts of one selection.

use sha2::{Digest, Sha256};

pub use fleet_proto::rundir::ShardRecord;

/// `sha256:<hex>` of the sorted device names, one per line: the same
/// selection gives the same digest whatever the inventory's order or
/// format, and shards of different inventories or `--limit`s differ.
pub fn selection_digest<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let mut sorted: Vec<&str> = names.into_iter().collect();
    sorted.sort_unstable();
    let mut h = Sha256::new();
    for name in sorted {
        h.update(name.as_bytes());
        h.update(b"\n");
    }
    let digest = h.finalize();
    let mut hex = String::with_capacity(7 + 64);
    hex.push_str("sha256:");
    for b in digest.iter() {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_ignores_order_and_sees_every_name() {
        let a = selection_digest(["r2", "r1", "r3"]);
        assert_eq!(a, selection_digest(["r1", "r2", "r3"]));
        assert_ne!(a, selection_digest(["r1", "r2"]));
        // Names are separated: "r1r2" is not "r1" + "r2".
        assert_ne!(selection_digest(["r1r2"]), selection_digest(["r1", "r2"]));
        // `printf 'r1\nr2\nr3\n' | sha256sum`
        assert_eq!(
            a,
            "sha256:018d4d5c035c039b3395926a239d01c3fafbc05a5d79af2dd6b7544084cfc1da"
        );
    }

    #[test]
    fn round_trips_through_json() {
        let r = ShardRecord {
            k: 2,
            n: 3,
            by: "group:site".into(),
            selection_digest: selection_digest(["a"]),
            selected: 10,
            limit: Some("group:core".into()),
            devices: 4,
        };
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"k\":2"), "{json}");
        assert_eq!(serde_json::from_str::<ShardRecord>(&json).unwrap(), r);
    }
}
