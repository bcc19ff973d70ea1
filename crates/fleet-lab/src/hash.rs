//! A small, stable hash for deterministic device facts and seeded choices.
//!
//! std's `DefaultHasher` is randomized per process, so outputs would differ
//! between runs; FNV-1a is fixed, portable and fast enough for names.

/// FNV-1a (64 bit) of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// FNV-1a of a seed and a string, for per-seed choices ("which devices get
/// this scenario") that stay stable across machines.
pub fn seeded(seed: u64, s: &str) -> u64 {
    let mut bytes = seed.to_le_bytes().to_vec();
    bytes.extend_from_slice(s.as_bytes());
    fnv1a64(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_reference_values() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
