//! The loaded result and its summary for `fleet inventory check`.

use fleet_proto::{Device, HostKeyCheck};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// A fully resolved inventory: devices in file order, run-level settings
/// and the warnings collected while loading (the caller decides how to show
/// them).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Inventory {
    /// Resolved devices, in inventory order, names unique.
    pub devices: Vec<Device>,
    /// `known_hosts` file named by the inventory, already resolved.
    pub known_hosts: Option<PathBuf>,
    /// Host key policy named by the inventory.
    pub host_key_check: Option<HostKeyCheck>,
    /// Things that loaded but deserve attention (plaintext passwords, loose
    /// file modes, fallbacks).
    pub warnings: Vec<String>,
    /// The file (or directory) the inventory was read from.
    pub source: PathBuf,
    /// Where each resolved field of a device was set, by device name.
    /// Filled by every format when [`crate::LoadOptions::sources`] is set
    /// (the Ansible loader always fills it); empty means "not tracked".
    pub origins: BTreeMap<String, Origins>,
}

/// Where each field of one device was set: field (`host`, `port`,
/// `username`, `password`, `key_file`, `enable_secret`, `data.KEY`, ...)
/// -> `file:line`. A field absent here took its default.
pub type Origins = BTreeMap<String, String>;

/// Device counts for `fleet inventory check`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Summary {
    /// Number of devices.
    pub devices: usize,
    /// Devices per group (a device counts once in each of its groups).
    pub per_group: BTreeMap<String, usize>,
    /// Devices per platform (`-` for devices without one).
    pub per_platform: BTreeMap<String, usize>,
    /// Devices per transport (`ssh`, `telnet`, `noop`).
    pub per_transport: BTreeMap<String, usize>,
    /// Devices that go through at least one jump host.
    pub with_jump: usize,
    /// Number of warnings collected while loading.
    pub warnings: usize,
}

/// Counts devices per group, platform and transport.
pub fn summary(inv: &Inventory) -> Summary {
    let mut s = Summary {
        warnings: inv.warnings.len(),
        ..Summary::default()
    };
    for d in &inv.devices {
        s.add(d);
    }
    s
}

impl Summary {
    /// Counts one more device: a summary can be made while the inventory
    /// streams by ([`crate::load_each`]), without keeping its devices.
    pub fn add(&mut self, d: &Device) {
        self.add_many(d, 1)
    }

    /// Counts `n` devices that share `d`'s groups, platform, transport and
    /// jump hosts (a profile of [`crate::load_shared`]) at once.
    pub fn add_many(&mut self, d: &Device, n: usize) {
        self.devices += n;
        for g in &d.groups {
            match self.per_group.get_mut(g) {
                Some(c) => *c += n,
                None => {
                    self.per_group.insert(g.clone(), n);
                }
            }
        }
        let platform = d.platform.as_deref().unwrap_or("-");
        match self.per_platform.get_mut(platform) {
            Some(c) => *c += n,
            None => {
                self.per_platform.insert(platform.to_owned(), n);
            }
        }
        let transport = crate::vocab::transport_name(d.transport);
        *self.per_transport.entry(transport.to_owned()).or_default() += n;
        if !d.jump.is_empty() {
            self.with_jump += n;
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "devices: {}", self.devices)?;
        let table = |f: &mut fmt::Formatter<'_>, title: &str, m: &BTreeMap<String, usize>| {
            writeln!(f, "{title}:")?;
            if m.is_empty() {
                writeln!(f, "  (none)")?;
            }
            let width = m.keys().map(|k| k.len()).max().unwrap_or(0);
            for (k, v) in m {
                writeln!(f, "  {k:<width$}  {v}")?;
            }
            Ok(())
        };
        table(f, "groups", &self.per_group)?;
        table(f, "platforms", &self.per_platform)?;
        table(f, "transports", &self.per_transport)?;
        writeln!(f, "via jump host: {}", self.with_jump)?;
        write!(f, "warnings: {}", self.warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_groups_and_platforms() {
        let mut a = Device::new("a", "h", 22);
        a.groups = vec!["core".into(), "ams".into()];
        a.platform = Some("cisco_ios".into());
        let mut b = Device::new("b", "h", 22);
        b.groups = vec!["core".into()];
        let inv = Inventory {
            devices: vec![a, b],
            known_hosts: None,
            host_key_check: None,
            warnings: vec![],
            source: PathBuf::from("x"),
            origins: BTreeMap::new(),
        };
        let s = summary(&inv);
        let mut many = Summary {
            warnings: 0,
            ..Summary::default()
        };
        many.add_many(&inv.devices[0], 1);
        many.add_many(&inv.devices[1], 1);
        assert_eq!(many, s);
        many.add_many(&inv.devices[0], 5);
        assert_eq!(
            (many.devices, many.per_group["ams"], many.per_group["core"]),
            (7, 6, 7)
        );
        assert_eq!(many.per_platform["cisco_ios"], 6);
        assert_eq!(s.devices, 2);
        assert_eq!(s.per_group["core"], 2);
        assert_eq!(s.per_group["ams"], 1);
        assert_eq!(s.per_platform["cisco_ios"], 1);
        assert_eq!(s.per_platform["-"], 1);
        assert!(s.to_string().contains("core"));
    }
}
