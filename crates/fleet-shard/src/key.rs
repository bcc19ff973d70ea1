//! `--shard-by`: which devices must land in the same shard.

use crate::error::ShardError;
use fleet_proto::Device;
use globset::{Glob, GlobMatcher};
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

/// What keeps devices together: devices with equal keys share a shard.
#[derive(Debug, Clone, Default)]
pub enum ShardBy {
    /// Each device alone (the default): the best balance.
    #[default]
    Name,
    /// Devices at the same address together.
    Host,
    /// Devices of one platform together (devices without one form a group).
    Platform,
    /// `group:GLOB`: devices whose first matching group (in name order) is
    /// the same stay together, so a per-site runner gets a whole site. A
    /// pattern without glob characters matches as a prefix: `group:site`
    /// is `group:site*`. Devices in no matching group are spread alone.
    Group {
        /// The pattern as written (for run.json and messages).
        pattern: String,
        /// The compiled glob.
        glob: GlobMatcher,
    },
    /// `data.KEY` (or `data:KEY`): devices with the same inventory data
    /// value together; devices without the key are spread alone.
    Data(String),
}

impl PartialEq for ShardBy {
    fn eq(&self, other: &ShardBy) -> bool {
        self.to_string() == other.to_string()
    }
}

impl FromStr for ShardBy {
    type Err = ShardError;

    fn from_str(value: &str) -> Result<ShardBy, ShardError> {
        let err = |why: &str| ShardError::Key {
            value: value.to_string(),
            why: why.to_string(),
        };
        let v = value.trim();
        match v {
            "name" => return Ok(ShardBy::Name),
            "host" => return Ok(ShardBy::Host),
            "platform" => return Ok(ShardBy::Platform),
            _ => {}
        }
        if let Some(pattern) = v.strip_prefix("group:") {
            if pattern.is_empty() {
                return Err(err("empty group pattern"));
            }
            let glob_text = if pattern.contains(['*', '?', '[', '{']) {
                pattern.to_string()
            } else {
                format!("{pattern}*")
            };
            let glob = Glob::new(&glob_text)
                .map_err(|e| err(&e.to_string()))?
                .compile_matcher();
            return Ok(ShardBy::Group {
                pattern: pattern.to_string(),
                glob,
            });
        }
        if let Some(key) = v.strip_prefix("data.").or_else(|| v.strip_prefix("data:")) {
            if key.is_empty() {
                return Err(err("empty data key"));
            }
            return Ok(ShardBy::Data(key.to_string()));
        }
        Err(err("unknown key"))
    }
}

impl fmt::Display for ShardBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShardBy::Name => f.write_str("name"),
            ShardBy::Host => f.write_str("host"),
            ShardBy::Platform => f.write_str("platform"),
            ShardBy::Group { pattern, .. } => write!(f, "group:{pattern}"),
            ShardBy::Data(k) => write!(f, "data.{k}"),
        }
    }
}

impl ShardBy {
    /// The key of a device. Keys of different kinds never collide (a
    /// device alone is `=name`, a group `group=...`), so a device named
    /// like a group is not pulled into it.
    pub fn key<'a>(&self, d: &'a Device) -> Cow<'a, str> {
        let alone = || Cow::Owned(format!("={}", d.name));
        match self {
            ShardBy::Name => Cow::Borrowed(d.name.as_str()),
            ShardBy::Host => Cow::Owned(format!("host={}", d.host)),
            ShardBy::Platform => {
                Cow::Owned(format!("platform={}", d.platform.as_deref().unwrap_or("")))
            }
            ShardBy::Group { glob, .. } => d
                .groups
                .iter()
                .filter(|g| glob.is_match(g.as_str()))
                .min()
                .map(|g| Cow::Owned(format!("group={g}")))
                .unwrap_or_else(alone),
            ShardBy::Data(k) => d
                .data
                .get(k)
                .map(|v| Cow::Owned(format!("data={v}")))
                .unwrap_or_else(alone),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(name: &str, groups: &[&str]) -> Device {
        let mut d = Device::new(name, "10.0.0.1", 22);
        d.groups = groups.iter().map(|g| g.to_string()).collect();
        d
    }

    #[test]
    fn parses_and_prints_every_kind() {
        for s in [
            "name",
            "host",
            "platform",
            "group:site",
            "group:site-*",
            "data.region",
        ] {
            assert_eq!(s.parse::<ShardBy>().unwrap().to_string(), s);
        }
        assert_eq!(
            "data:region".parse::<ShardBy>().unwrap().to_string(),
            "data.region"
        );
        for bad in ["", "site", "group:", "data.", "group:[", "vendor"] {
            let e = bad.parse::<ShardBy>().unwrap_err();
            assert!(e.to_string().contains("--shard-by"), "{bad}: {e}");
        }
    }

    #[test]
    fn group_key_is_the_first_matching_group_in_name_order() {
        let by: ShardBy = "group:site".parse().unwrap();
        assert_eq!(
            by.key(&dev("r1", &["core", "site-b", "site-a"])),
            "group=site-a"
        );
        assert_eq!(by.key(&dev("r2", &["site-a"])), "group=site-a");
        // No site: alone, and never equal to a group's key.
        assert_eq!(by.key(&dev("site-a", &["core"])), "=site-a");
    }

    #[test]
    fn data_and_platform_keys() {
        let mut d = dev("r1", &[]);
        d.data.insert("region".into(), "eu".into());
        assert_eq!("data.region".parse::<ShardBy>().unwrap().key(&d), "data=eu");
        assert_eq!("data.rack".parse::<ShardBy>().unwrap().key(&d), "=r1");
        assert_eq!("platform".parse::<ShardBy>().unwrap().key(&d), "platform=");
        assert_eq!("name".parse::<ShardBy>().unwrap().key(&d), "r1");
    }
}
