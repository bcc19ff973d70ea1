//! The device names seen so far, for the duplicate-name check: a million
//! names in one string pool with a table of indices, not a `String` and a
//! SipHash per name.
//!
//! A `HashMap<Box<str>, _>` costs one allocation per name and hashes each
//! with SipHash (DoS-resistant, slow); at 1M devices that was a sixth of
//! the load. Names are our own data and the worst a crafted inventory can
//! do to FxHash is slow its own load, so [`NameSet`] hashes with FxHash,
//! keeps every name in one `String` and looks them up through a
//! `hashbrown::HashTable` of `u32` indices (≈ 4 bytes + the name + 16
//! bytes of position per device).

use hashbrown::HashTable;
use std::hash::BuildHasher;

/// One name: where it sits in the pool and where it was defined.
#[derive(Debug, Clone, Copy)]
struct Entry {
    start: usize,
    len: u32,
    line: u32,
    column: u32,
}

/// Names with the line and column each was first defined at.
#[derive(Default)]
pub(crate) struct NameSet {
    /// Every name, end to end.
    pool: String,
    entries: Vec<Entry>,
    /// Indices into `entries`, by name.
    table: HashTable<u32>,
    hasher: rustc_hash::FxBuildHasher,
}

impl NameSet {
    /// A set with room for `names` names (an estimate: it grows as needed).
    pub(crate) fn with_capacity(names: usize) -> NameSet {
        NameSet {
            pool: String::with_capacity(names.saturating_mul(10)),
            entries: Vec::with_capacity(names),
            table: HashTable::with_capacity(names),
            hasher: rustc_hash::FxBuildHasher,
        }
    }

    fn name<'p>(pool: &'p str, e: &Entry) -> &'p str {
        &pool[e.start..e.start + e.len as usize]
    }

    /// Records `name` at (`line`, `column`) unless it is already there;
    /// returns where it was first defined then.
    pub(crate) fn insert(&mut self, name: &str, line: u32, column: u32) -> Option<(u32, u32)> {
        let hash = self.hasher.hash_one(name);
        let (pool, entries, hasher) = (&mut self.pool, &mut self.entries, &self.hasher);
        let found = self
            .table
            .find(hash, |&i| Self::name(pool, &entries[i as usize]) == name);
        if let Some(&i) = found {
            let e = &entries[i as usize];
            return Some((e.line, e.column));
        }
        // Names longer than 4 GiB or more than 4G names are not inventories.
        let (Ok(len), Ok(index)) = (u32::try_from(name.len()), u32::try_from(entries.len())) else {
            panic!("more than 4G device names or a name over 4 GiB");
        };
        entries.push(Entry {
            start: pool.len(),
            len,
            line,
            column,
        });
        pool.push_str(name);
        let (pool, entries) = (&*pool, &*entries);
        self.table.insert_unique(hash, index, |&i| {
            hasher.hash_one(Self::name(pool, &entries[i as usize]))
        });
        None
    }

    /// Names in the set.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_name_with_its_first_position() {
        let mut s = NameSet::with_capacity(4);
        for i in 0..10_000u32 {
            assert_eq!(s.insert(&format!("d{i:07}"), i + 1, 3), None);
        }
        assert_eq!(s.len(), 10_000);
        assert_eq!(s.insert("d0000042", 99_999, 1), Some((43, 3)));
        assert_eq!(s.insert("d0000042", 5, 5), Some((43, 3)), "the first stays");
        assert_eq!(s.len(), 10_000);
        assert_eq!(s.insert("d10000", 7, 1), None);
    }

    #[test]
    fn prefixes_empty_and_unicode_names_are_distinct() {
        let mut s = NameSet::default();
        for (i, n) in ["ab", "a", "", "abc", "rüter", "b"].iter().enumerate() {
            assert_eq!(s.insert(n, i as u32, 0), None, "{n:?}");
        }
        assert_eq!(s.insert("", 7, 7), Some((2, 0)));
        assert_eq!(s.insert("rüter", 7, 7), Some((4, 0)));
        assert_eq!(s.insert("a", 9, 9), Some((1, 0)));
        assert_eq!(s.insert("abcd", 9, 9), None);
    }
}
