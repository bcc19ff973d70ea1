//! Many devices in little memory: what differs per device (name, address,
//! port) packed, everything else (user, credentials, platform, commands,
//! groups, data, jump hosts, timeouts) interned and shared.
//!
//! A resolved [`Device`] owns a dozen strings, vectors and a map: ~1.3 KB
//! on the heap for a device with a group and a data key. A million of them
//! do not fit a small machine, yet in a real inventory they share a handful
//! of profiles (devices of one site or role inherit the same settings). A
//! [`DeviceTable`] keeps one packed row per device (24 bytes, name and
//! host in one text shared by all rows) and each distinct profile once, and gives a
//! whole [`Device`] back when one is needed (to send it to a worker).
//!
//! ```
//! use fleet_proto::{Device, DeviceTable};
//! let mut t = DeviceTable::new();
//! for i in 0..1000 {
//!     let mut d = Device::new(format!("r{i}"), format!("10.0.{}.{}", i / 256, i % 256), 22);
//!     d.groups = vec![format!("site{}", i % 4)];
//!     t.push(d);
//! }
//! assert_eq!((t.len(), t.profiles()), (1000, 4));
//! assert_eq!(t.name(7), "r7");
//! assert_eq!(t.device(7).groups, ["site3"]);
//! ```

use crate::Device;
use rustc_hash::FxBuildHasher;
use std::collections::HashMap;
use std::sync::Arc;

/// One device: where its name and host sit in the table's text, its
/// port, and its profile (24 bytes; no allocation of its own).
#[derive(Debug, Clone)]
struct Row {
    /// Where the name starts in `DeviceTable::text`; the host follows it.
    start: usize,
    name_len: u32,
    host_len: u32,
    port: u16,
    /// Index into `DeviceTable::profiles`.
    profile: u32,
}

/// Devices in inventory order, packed and interned (see the module docs).
/// Index `i` is the device's position, the dispatcher's `seq`.
#[derive(Debug, Clone, Default)]
pub struct DeviceTable {
    /// Every device's name and host, end to end (a host replaced by
    /// [`DeviceTable::map_hosts`] is appended; the old bytes stay).
    text: String,
    rows: Vec<Row>,
    /// Each distinct device with its name and host emptied and port 0.
    profiles: Vec<Arc<Device>>,
    /// `profiles` by content (FxHash: our own data, hashed often).
    index: HashMap<Arc<Device>, u32, FxBuildHasher>,
    /// Profiles given by [`DeviceTable::push_shared`], by the address of
    /// the caller's `Arc`, which is kept here so the address stays its.
    by_address: HashMap<usize, (Arc<Device>, u32), FxBuildHasher>,
}

/// A length that fits a row (names and hosts are far below 4 GiB).
fn len32(s: &str) -> u32 {
    u32::try_from(s.len()).expect("device names and hosts are shorter than 4 GiB")
}

impl DeviceTable {
    /// An empty table.
    pub fn new() -> DeviceTable {
        DeviceTable::default()
    }

    fn push_row(&mut self, name: &str, host: &str, port: u16, profile: u32) {
        let start = self.text.len();
        self.text.push_str(name);
        self.text.push_str(host);
        self.rows.push(Row {
            start,
            name_len: len32(name),
            host_len: len32(host),
            port,
            profile,
        });
    }

    /// Appends `device`, sharing its profile with earlier devices that
    /// have the same one.
    pub fn push(&mut self, mut device: Device) {
        let name = std::mem::take(&mut device.name);
        let host = std::mem::take(&mut device.host);
        let port = std::mem::replace(&mut device.port, 0);
        let profile = self.intern(device);
        self.push_row(&name, &host, port, profile);
    }

    /// Appends a device given as its name, host, port and a profile (name
    /// and host empty, port 0) that the caller shares between devices:
    /// the profile is looked up by the `Arc`'s address, its content hashed
    /// only the first time (an `Arc` held by nobody else is looked up by
    /// content, not kept). A profile with a name, host or port is taken
    /// as [`DeviceTable::push`] would take it.
    pub fn push_shared(&mut self, name: &str, host: &str, port: u16, profile: &Arc<Device>) {
        if !profile.name.is_empty() || !profile.host.is_empty() || profile.port != 0 {
            let mut d = Device::clone(profile);
            d.name = name.to_owned();
            d.host = host.to_owned();
            d.port = port;
            return self.push(d);
        }
        // Nobody else holds it: the caller is about to drop it, keeping it
        // here by address would only keep it alive.
        if Arc::strong_count(profile) == 1 {
            let p = self.intern_shared(profile);
            return self.push_row(name, host, port, p);
        }
        let address = Arc::as_ptr(profile) as usize;
        let p = match self.by_address.get(&address) {
            Some(&(_, p)) => p,
            None => {
                let p = self.intern_shared(profile);
                self.by_address.insert(address, (Arc::clone(profile), p));
                p
            }
        };
        self.push_row(name, host, port, p);
    }

    fn intern_shared(&mut self, profile: &Arc<Device>) -> u32 {
        if let Some(&i) = self.index.get(&**profile) {
            return i;
        }
        let i = self.profiles.len() as u32;
        self.profiles.push(Arc::clone(profile));
        self.index.insert(Arc::clone(profile), i);
        i
    }

    fn intern(&mut self, profile: Device) -> u32 {
        if let Some(&i) = self.index.get(&profile) {
            return i;
        }
        let i = self.profiles.len() as u32;
        let profile = Arc::new(profile);
        self.profiles.push(Arc::clone(&profile));
        self.index.insert(profile, i);
        i
    }

    /// Devices in the table.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table has no device.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Distinct profiles (what devices share).
    pub fn profiles(&self) -> usize {
        self.profiles.len()
    }

    /// Name of device `i`. Panics if `i` is out of range, like indexing.
    pub fn name(&self, i: usize) -> &str {
        let r = &self.rows[i];
        &self.text[r.start..r.start + r.name_len as usize]
    }

    /// Host of device `i`.
    pub fn host(&self, i: usize) -> &str {
        let r = &self.rows[i];
        let at = r.start + r.name_len as usize;
        &self.text[at..at + r.host_len as usize]
    }

    /// Port of device `i`.
    pub fn port(&self, i: usize) -> u16 {
        self.rows[i].port
    }

    /// Everything about device `i` but its name, host and port (empty and
    /// 0 here): groups, timeouts, credentials, ...
    pub fn profile(&self, i: usize) -> &Device {
        &self.profiles[self.rows[i].profile as usize]
    }

    /// Device `i`, whole.
    pub fn device(&self, i: usize) -> Device {
        let mut d = self.profile(i).clone();
        d.name = self.name(i).to_string();
        d.host = self.host(i).to_string();
        d.port = self.port(i);
        d
    }

    /// Id of device `i`'s profile: devices with the same id share
    /// everything but name, host and port ([`DeviceTable::profile_by_id`]).
    pub fn profile_id(&self, i: usize) -> u32 {
        self.rows[i].profile
    }

    /// Profile `id` (name and host empty, port 0); ids run from 0 to
    /// [`DeviceTable::profiles`] - 1.
    pub fn profile_by_id(&self, id: u32) -> &Device {
        &self.profiles[id as usize]
    }

    /// Every device, whole, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Device> + '_ {
        (0..self.len()).map(|i| self.device(i))
    }

    /// For each profile still used by a device, the first device (its
    /// index) that uses it: what messages about a profile name.
    fn first_rows(&self) -> Vec<Option<usize>> {
        let mut first = vec![None; self.profiles.len()];
        for (i, r) in self.rows.iter().enumerate() {
            let slot = &mut first[r.profile as usize];
            if slot.is_none() {
                *slot = Some(i);
            }
        }
        first
    }

    /// Changes what devices share, once per profile instead of once per
    /// device: `f` gets each profile still in use (name and host empty,
    /// port 0) and the index of the first device using it (for messages).
    /// Stops at the first error, in the order of those first devices.
    pub fn map_profiles<E>(
        &mut self,
        mut f: impl FnMut(&mut Device, usize) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut order: Vec<(usize, usize)> = self
            .first_rows()
            .into_iter()
            .enumerate()
            .filter_map(|(p, first)| first.map(|i| (i, p)))
            .collect();
        order.sort_unstable();
        // The index holds a second reference to every profile: drop it so
        // `make_mut` changes each in place, then rebuild it. Callers' `Arc`s
        // no longer name the changed profiles: forget them.
        self.index.clear();
        self.by_address.clear();
        let mut result = Ok(());
        for (first, p) in order {
            if let Err(e) = f(Arc::make_mut(&mut self.profiles[p]), first) {
                result = Err(e);
                break;
            }
        }
        for (i, p) in self.profiles.iter().enumerate() {
            self.index.entry(Arc::clone(p)).or_insert(i as u32);
        }
        result
    }

    /// Replaces the host of each device for which `f` returns a new one.
    pub fn map_hosts(&mut self, mut f: impl FnMut(&str) -> Option<String>) {
        for r in &mut self.rows {
            let at = r.start + r.name_len as usize;
            if let Some(host) = f(&self.text[at..at + r.host_len as usize]) {
                // The row moves to the end of the text with its new host.
                let start = self.text.len();
                self.text.extend_from_within(r.start..at);
                self.text.push_str(&host);
                r.start = start;
                r.host_len = len32(&host);
            }
        }
    }

    /// Keeps the devices for which `keep(table, i)` is true, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&DeviceTable, usize) -> bool) {
        let keep: Vec<bool> = (0..self.len()).map(|i| keep(self, i)).collect();
        let mut k = keep.iter();
        self.rows.retain(|_| *k.next().unwrap_or(&false));
    }
}

impl FromIterator<Device> for DeviceTable {
    fn from_iter<I: IntoIterator<Item = Device>>(devices: I) -> DeviceTable {
        let mut t = DeviceTable::new();
        for d in devices {
            t.push(d);
        }
        t
    }
}

impl From<Vec<Device>> for DeviceTable {
    fn from(devices: Vec<Device>) -> DeviceTable {
        devices.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Auth, Secret};

    fn device(i: usize, site: usize) -> Device {
        let mut d = Device::new(format!("dev-{i}"), format!("10.0.0.{i}"), 2200 + i as u16);
        d.username = "admin".into();
        d.auth = vec![Auth::Password(Secret::new("pw"))];
        d.platform = Some("cisco_ios".into());
        d.commands = vec!["show version".into()];
        d.groups = vec![format!("site{site}")];
        d.data.insert("site".into(), format!("s{site}"));
        d
    }

    #[test]
    fn every_device_comes_back_whole_and_profiles_are_shared() {
        let devices: Vec<Device> = (0..100).map(|i| device(i, i % 3)).collect();
        let t = DeviceTable::from(devices.clone());
        assert_eq!(t.len(), 100);
        assert_eq!(t.profiles(), 3);
        assert_eq!(t.iter().collect::<Vec<_>>(), devices);
        assert_eq!(t.name(42), "dev-42");
        assert_eq!(t.host(42), "10.0.0.42");
        assert_eq!(t.port(42), 2242);
        assert_eq!(t.profile(42).groups, ["site0"]);
        assert_eq!(t.profile(42).name, "");
    }

    #[test]
    fn devices_that_differ_in_anything_but_address_get_their_own_profile() {
        let a = device(1, 0);
        let mut b = device(2, 0);
        b.auth = vec![Auth::Password(Secret::new("other"))];
        let mut c = device(3, 0);
        c.timeouts.session = Some(std::time::Duration::from_secs(5));
        let t = DeviceTable::from(vec![a.clone(), b.clone(), c.clone()]);
        assert_eq!(t.profiles(), 3);
        assert_eq!(t.device(1), b);
        assert_eq!(t.device(2), c);
    }

    #[test]
    fn empty_names_and_unicode_split_right() {
        let t = DeviceTable::from(vec![
            Device::new("", "h", 1),
            Device::new("rüter", "", 2),
            Device::new("é", "ü.example", 3),
        ]);
        assert_eq!((t.name(0), t.host(0)), ("", "h"));
        assert_eq!((t.name(1), t.host(1)), ("rüter", ""));
        assert_eq!((t.name(2), t.host(2)), ("é", "ü.example"));
    }

    #[test]
    fn map_profiles_changes_every_device_sharing_a_profile_once() {
        let mut t = DeviceTable::from((0..10).map(|i| device(i, i % 3)).collect::<Vec<_>>());
        t.retain(|t, i| t.profile(i).groups != ["site2"]);
        let mut seen = Vec::new();
        t.map_profiles(|p, first| {
            seen.push(first);
            p.commands.push("show clock".into());
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(seen, [0, 1], "one call per profile in use, by first device");
        for d in t.iter() {
            assert_eq!(d.commands, ["show version", "show clock"]);
        }
        // The index follows the change: an equal device shares the profile.
        let mut d = device(20, 0);
        d.commands.push("show clock".into());
        t.push(d.clone());
        assert_eq!(t.profiles(), 3);
        assert_eq!(t.device(t.len() - 1), d);
        let e = t.map_profiles(|p, first| {
            if p.groups == ["site1"] {
                Err(first)
            } else {
                Ok(())
            }
        });
        assert_eq!(e, Err(1));
    }

    #[test]
    fn shared_profiles_are_looked_up_by_address_and_content() {
        let mut a = device(0, 1);
        a.name.clear();
        a.host.clear();
        a.port = 0;
        let shared = Arc::new(a.clone());
        let twin = Arc::new(a);
        let _keep = (Arc::clone(&shared), Arc::clone(&twin));
        let mut t = DeviceTable::new();
        t.push_shared("r1", "h1", 22, &shared);
        t.push(device(7, 1));
        t.push_shared("r2", "h2", 23, &twin);
        t.push_shared("r3", "h3", 24, &shared);
        assert_eq!(t.profiles(), 1, "equal content, one profile");
        assert_eq!(t.by_address.len(), 2);
        // An Arc nobody else holds: found by content, not kept.
        let mut lone = Device::clone(&shared);
        lone.commands.push("show clock".into());
        t.push_shared("l1", "h", 1, &Arc::new(lone.clone()));
        t.push_shared("l2", "h", 1, &Arc::new(lone));
        assert_eq!((t.profiles(), t.by_address.len()), (2, 2));
        assert_eq!(t.device(5).commands, ["show version", "show clock"]);
        t.retain(|t, i| !t.name(i).starts_with('l'));
        assert_eq!((t.name(2), t.host(2), t.port(2)), ("r2", "h2", 23));
        let mut want = device(0, 1);
        (want.name, want.host, want.port) = ("r3".into(), "h3".into(), 24);
        assert_eq!(t.device(3), want);
        // A profile that still carries a name is taken whole.
        t.push_shared("r4", "h4", 25, &Arc::new(device(4, 2)));
        let mut want = device(4, 2);
        (want.name, want.host, want.port) = ("r4".into(), "h4".into(), 25);
        assert_eq!(t.device(4), want);
        assert_eq!(t.profiles(), 3);
        // After map_profiles an address no longer names the old content.
        t.map_profiles(|p, _| {
            p.commands.push("x".into());
            Ok::<(), ()>(())
        })
        .unwrap();
        t.push_shared("r5", "h5", 26, &shared);
        assert_eq!(t.device(5).commands, ["show version"]);
        assert_eq!(t.device(0).commands, ["show version", "x"]);
    }

    #[test]
    fn map_hosts_replaces_only_what_it_returns() {
        let mut t = DeviceTable::from(vec![
            Device::new("a", "[::1]", 22),
            Device::new("b", "h", 22),
        ]);
        t.map_hosts(|h| {
            h.strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .map(String::from)
        });
        assert_eq!((t.name(0), t.host(0), t.host(1)), ("a", "::1", "h"));
        assert_eq!((t.name(1), t.port(0)), ("b", 22));
    }

    #[test]
    fn retain_keeps_order_and_profiles() {
        let mut t = DeviceTable::from((0..10).map(|i| device(i, i % 2)).collect::<Vec<_>>());
        t.retain(|t, i| t.name(i).ends_with(['1', '3', '8']));
        let names: Vec<String> = t.iter().map(|d| d.name).collect();
        assert_eq!(names, ["dev-1", "dev-3", "dev-8"]);
        assert_eq!(t.device(2), device(8, 0));
    }
}
