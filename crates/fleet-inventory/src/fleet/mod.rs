//! fleet's own YAML format (see `docs/inventory.md`), walked by hand so
//! every error names file, line, column and field.
//!
//! - [`settings`]: one block of settings as written, with positions.
//! - [`resolve`]: device > groups (listed order) > defaults, secrets read.

mod fast;
mod resolve;
mod settings;

use crate::error::{ErrorKind, InventoryError};
use crate::inventory::{Inventory, Origins};
use crate::names::NameSet;
use crate::secrets::Secrets;
use crate::yaml::{self, err_at};
use crate::ytree::{Node, Reader};
use crate::{LoadOptions, SharedDevice};
use fleet_proto::{Device, HostKeyCheck};
use resolve::{origins, resolve};
use rustc_hash::FxHashMap;
use settings::{At, Ctx, Settings, TOP_KEYS};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

/// True when no top-level `defaults:`/`groups:` line follows the top-level
/// `devices:` line, so devices can be resolved while they are read
/// instead of being held as a tree (block style only; anything unusual
/// answers false, which is always correct, just heavier).
fn devices_come_last(text: &str) -> bool {
    let mut after_devices = false;
    for line in text.lines() {
        let key = |k: &str| {
            let unquoted = line
                .strip_prefix(['"', '\''])
                .and_then(|l| l.strip_prefix(k))
                .and_then(|l| l.strip_prefix(['"', '\'']));
            unquoted
                .or_else(|| line.strip_prefix(k))
                .is_some_and(|r| r.trim_start().starts_with(':'))
        };
        if key("devices") {
            after_devices = true;
        } else if after_devices && (key("defaults") || key("groups")) {
            return false;
        }
    }
    after_devices
}

/// Resolves devices one at a time once `defaults` and `groups` are known,
/// and hands each to the caller as soon as it is whole.
struct Builder<'a, 'e, 's> {
    ctx: Ctx<'a>,
    defaults: Settings,
    groups: HashMap<String, Settings>,
    secrets: Secrets,
    /// Names seen so far, with the line and column of each (a million
    /// entries at 1M devices: kept small).
    seen: NameSet,
    /// The profile (name and host empty, port 0) and port of devices
    /// that set nothing but `name`, `host` and `groups`, by group list:
    /// resolving one of them resolves them all (secrets are read once
    /// anyway, warnings are given once). Off when origins are tracked.
    profiles: FxHashMap<Vec<String>, (Arc<Device>, u16)>,
    /// Where resolved devices go.
    each: &'e mut crate::Sink<'s>,
    /// Devices handed over so far.
    count: usize,
    /// `--ask-pass`: devices without credentials get the prompted password.
    password_prompted: bool,
    /// `-K`: devices without an enable secret get the prompted one.
    become_password: Option<fleet_proto::Secret>,
    /// Where each device's fields were set, when the caller asked
    /// ([`LoadOptions::sources`]); empty otherwise.
    origins: Option<BTreeMap<String, Origins>>,
}

impl<'a, 'e, 's> Builder<'a, 'e, 's> {
    fn new(
        ctx: Ctx<'a>,
        defaults: Settings,
        groups: HashMap<String, Settings>,
        opts: &LoadOptions,
        devices: usize,
        each: &'e mut crate::Sink<'s>,
    ) -> Self {
        Builder {
            ctx,
            defaults,
            groups,
            secrets: Secrets::default(),
            seen: NameSet::with_capacity(devices),
            profiles: FxHashMap::default(),
            each,
            count: 0,
            password_prompted: opts.password_prompted,
            become_password: opts.become_password.clone(),
            origins: opts.sources.then(BTreeMap::new),
        }
    }

    fn add(&mut self, node: &Node) -> Result<(), InventoryError> {
        let file = self.ctx.file;
        let map = yaml::mapping(file, node, "devices")?;
        let name_node = map.get_node("name").ok_or_else(|| {
            err_at(
                file,
                map.span(),
                Some("name"),
                ErrorKind::MissingField,
                "device has no `name`",
            )
        })?;
        let name = yaml::string(file, name_node, "name")?;
        let settings = self
            .ctx
            .settings(map, &format_args!("device `{name}`"), true)?;
        let here = (
            name_node.span().line() as u32,
            name_node.span().column() as u32,
        );
        // An error ends the load: the name may go in before the checks.
        if let Some((l, c)) = self.seen.insert(&name, here.0, here.1) {
            return Err(err_at(
                file,
                name_node.span(),
                Some("name"),
                ErrorKind::DuplicateName,
                format!("duplicate device name `{name}` (first defined at line {l}:{c})"),
            ));
        }
        let host = match map.get_node("host") {
            Some(h) if !yaml::is_null(h) => yaml::string(file, h, "host")?,
            _ => {
                return Err(err_at(
                    file,
                    map.span(),
                    Some("host"),
                    ErrorKind::MissingField,
                    format!("device `{name}` has no `host`"),
                ))
            }
        };
        let group_names = match map.get_node("groups") {
            Some(g) if !yaml::is_null(g) => yaml::string_list(file, g, "groups")?,
            _ => Vec::new(),
        };
        // Only `name`, `host` and `groups`: the profile of its group list.
        let by_groups = self.origins.is_none() && settings.is_empty();
        if by_groups {
            if let Some((profile, port)) = self.profiles.get(&group_names) {
                self.count += 1;
                self.each.shared(SharedDevice {
                    name: &name,
                    host: &host,
                    port: *port,
                    profile,
                });
                return Ok(());
            }
        }
        let mut layers: Vec<&Settings> = Vec::with_capacity(group_names.len() + 2);
        layers.push(&settings);
        for g in &group_names {
            match self.groups.get(g) {
                Some(s) => layers.push(s),
                // With no `groups:` section at all, groups are plain labels;
                // with one, an undefined name is likely a typo.
                None if self.groups.is_empty() => {}
                None => self.secrets.warn_once(
                    format!("group:{g}"),
                    format!(
                        "{}: group `{g}` (used by device `{name}`) is not defined under `groups:`; it is only a label",
                        file.display()
                    ),
                ),
            }
        }
        layers.push(&self.defaults);
        let device_at = At::new(map.span(), "name");
        if let Some(all) = &mut self.origins {
            let host_at = map.get_node("host").map(|h| At::new(h.span(), "host"));
            all.insert(name.clone(), origins(file, host_at, &layers));
        }
        let groups_key = by_groups.then(|| group_names.clone());
        let mut device = resolve(
            file,
            name,
            host,
            group_names,
            &layers,
            device_at,
            &mut self.secrets,
            self.password_prompted,
        )?;
        if let Some(pw) = &self.become_password {
            let mut none = BTreeMap::new();
            let origins = self.origins.as_mut().unwrap_or(&mut none);
            crate::give_become_password(&mut device, pw, origins);
        }
        self.count += 1;
        let name = std::mem::take(&mut device.name);
        let host = std::mem::take(&mut device.host);
        let port = std::mem::replace(&mut device.port, 0);
        let profile = self.each.intern(device);
        self.each.shared(SharedDevice {
            name: &name,
            host: &host,
            port,
            profile: &profile,
        });
        if let Some(key) = groups_key {
            self.profiles.insert(key, (profile, port));
        }
        Ok(())
    }
}

/// Loads fleet YAML text read from `file`, handing each device to `each`
/// as soon as it is resolved (the returned inventory has no `devices`).
pub(crate) fn load(
    text: &str,
    file: &Path,
    opts: &LoadOptions,
    each: &mut crate::Sink<'_>,
) -> Result<Inventory, InventoryError> {
    if let Some(split) = fast::split(text) {
        let mut handed = 0usize;
        match load_parts(split.head, Some(&split), file, opts, each, &mut handed) {
            Ok(inv) => return Ok(inv),
            // Devices went out: the error is the one the slow path would
            // give at the same device.
            Err(e) if handed > 0 => return Err(e),
            // Before any device: the whole file through yaml-rust2 says
            // what is wrong with its context (an unclosed bracket, ...).
            Err(_) => {}
        }
    }
    load_parts(text, None, file, opts, each, &mut 0)
}

/// Loads `text`; with `fast`, `text` is the part before the `devices:`
/// line and the devices come from `fast`. `handed` counts the devices
/// handed to `each`.
fn load_parts(
    text: &str,
    fast: Option<&fast::Split<'_>>,
    file: &Path,
    opts: &LoadOptions,
    each: &mut crate::Sink<'_>,
    handed: &mut usize,
) -> Result<Inventory, InventoryError> {
    let base = file.parent().unwrap_or(Path::new("."));
    let ctx = Ctx { file, base };
    let stream = fast.is_none() && devices_come_last(text);
    let mut reader = Reader::new(file, text, false)?;
    let top_span = *reader.span();

    let mut known_hosts = None;
    let mut host_key_check = None;
    let mut defaults = Settings::default();
    let mut groups: HashMap<String, Settings> = HashMap::new();
    let mut builder: Option<Builder<'_, '_, '_>> = None;
    let mut each = Some(each);
    let mut devices_node: Option<Node> = None;
    let mut devices_seen = false;

    while let Some(key) = reader.next_key()? {
        let k = key.as_str();
        if !TOP_KEYS.contains(&k) {
            return Err(err_at(
                file,
                key.span(),
                Some(k),
                ErrorKind::UnknownField,
                format!(
                    "unknown field in the top level{}",
                    crate::suggest::did_you_mean(k, TOP_KEYS)
                ),
            ));
        }
        if k == "devices" && fast.is_some() {
            // A second (quoted) `devices` key: the slow path reports it.
            return Err(err_at(
                file,
                key.span(),
                Some(k),
                ErrorKind::Syntax,
                "duplicate key",
            ));
        }
        if k == "devices" {
            devices_seen = true;
            if stream {
                if builder.is_none() {
                    let (d, g) = (std::mem::take(&mut defaults), std::mem::take(&mut groups));
                    let sink = each.take().expect("one streamed `devices` key");
                    builder = Some(Builder::new(Ctx { file, base }, d, g, opts, 0, sink));
                }
                let b = builder.as_mut().expect("just set");
                devices_node = reader.value_streamed(|n| b.add(&n))?;
            } else {
                devices_node = Some(reader.value()?);
            }
            continue;
        }
        let node = reader.value()?;
        if yaml::is_null(&node) {
            continue;
        }
        if builder.is_some() && (k == "defaults" || k == "groups") {
            return Err(err_at(
                file,
                key.span(),
                Some(k),
                ErrorKind::InvalidValue,
                format!("`{k}` must come before `devices` in this file"),
            ));
        }
        match k {
            "version" => {
                let s = yaml::scalar(file, &node, "version")?;
                if s.as_str() != "1" {
                    return Err(err_at(
                        file,
                        s.span(),
                        Some("version"),
                        ErrorKind::InvalidValue,
                        format!(
                            "unsupported version `{}` (this fleet reads version 1)",
                            s.as_str()
                        ),
                    ));
                }
            }
            "known_hosts" => known_hosts = Some(ctx.path(&node, "known_hosts")?.v),
            "host_key_check" => {
                host_key_check = Some(ctx.enum_value(
                    &node,
                    "host_key_check",
                    &[
                        ("strict", HostKeyCheck::Strict),
                        ("accept-new", HostKeyCheck::AcceptNew),
                        ("off", HostKeyCheck::Off),
                    ],
                )?)
            }
            "defaults" => {
                defaults = ctx.settings(
                    yaml::mapping(file, &node, "defaults")?,
                    &"`defaults`",
                    false,
                )?
            }
            "groups" => {
                for (name, g) in yaml::mapping(file, &node, "groups")?.iter() {
                    let settings = if yaml::is_null(g) {
                        Settings::default()
                    } else {
                        let what = format!("group `{}`", name.as_str());
                        ctx.settings(yaml::mapping(file, g, name.as_str())?, &what, false)?
                    };
                    groups.insert(name.as_str().to_owned(), settings);
                }
            }
            _ => {}
        }
    }
    if let Some(split) = fast {
        devices_seen = true;
        let sink = each.take().expect("no `devices` key before the fast path");
        let b = builder.insert(Builder::new(
            Ctx { file, base },
            std::mem::take(&mut defaults),
            std::mem::take(&mut groups),
            opts,
            split.items(),
            sink,
        ));
        split.each(|n| {
            let r = b.add(&n);
            *handed = b.count;
            r
        })?;
    }
    if !devices_seen {
        return Err(err_at(
            file,
            &top_span,
            Some("devices"),
            ErrorKind::MissingField,
            "missing `devices` (a list of devices with at least `name` and `host`)",
        ));
    }
    let mut b = match builder {
        Some(b) => b,
        None => {
            let sink = each.take().expect("not streamed, so not taken");
            Builder::new(Ctx { file, base }, defaults, groups, opts, 0, sink)
        }
    };
    match &devices_node {
        None => {}
        Some(Node::Sequence(seq)) => {
            for item in seq.iter() {
                b.add(item)?;
            }
        }
        Some(n) if yaml::is_null(n) => {}
        Some(other) => {
            return Err(err_at(
                file,
                other.span(),
                Some("devices"),
                ErrorKind::InvalidValue,
                "expected a list of devices (`- name: ...`)",
            ))
        }
    }
    if b.count == 0 {
        b.secrets
            .warnings
            .push(format!("{}: `devices` is empty", file.display()));
    }
    Ok(Inventory {
        devices: Vec::new(),
        known_hosts,
        host_key_check,
        warnings: b.secrets.warnings,
        source: file.to_path_buf(),
        origins: b.origins.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{load_str, Format};

    /// Defaults, groups with data, devices in both fast shapes, vars.
    const INVENTORY: &str = "\
defaults:
  username: admin
  agent: true
  platform: cisco_ios
  commands: [show version]
groups:
  core: {data: {site: ams, role: core}, port: 2222}
  edge:
    username: edge
    data:
      site: fra
devices:
- {name: r1, host: 10.0.0.1, groups: [core]}
- {name: r2, host: 10.0.0.2, groups: [edge, core], data: {rack: r-7}}
- name: r3
  host: fe80::1
  groups: [edge]
  transport: noop
  connect_timeout: 3s
";

    /// The same inventory read three ways: the fast path, the streamed
    /// slow path (a key after the list), the whole tree (groups after it).
    fn three_ways(devices: &str) -> [String; 3] {
        let head = INVENTORY.split("devices:\n").next().unwrap();
        let fast = format!("{head}devices:\n{devices}");
        let streamed = format!("{fast}version: 1\n");
        let (defaults, groups) = head.split_at(head.find("groups:").unwrap());
        let tree = format!("{defaults}devices:\n{devices}{groups}");
        assert!(fast::split(&fast).is_some() && fast::split(&streamed).is_none());
        assert!(devices_come_last(&streamed) && !devices_come_last(&tree));
        [fast, streamed, tree]
    }

    fn load(text: &str) -> Result<Inventory, InventoryError> {
        load_str(text, Path::new("inv.yaml"), Format::Fleet)
    }

    #[test]
    fn the_fast_path_resolves_the_same_devices() {
        let devices = INVENTORY.split("devices:\n").nth(1).unwrap();
        let [fast, streamed, tree] = three_ways(devices);
        let got = load(&fast).unwrap();
        assert_eq!(got.devices.len(), 3);
        assert_eq!(got, load(&streamed).unwrap());
        let mut from_tree = load(&tree).unwrap();
        from_tree.warnings.clear();
        assert_eq!(got, from_tree);
        let r2 = &got.devices[1];
        assert_eq!((r2.username.as_str(), r2.port), ("edge", 2222));
        assert_eq!(r2.data["site"], "fra", "the first listed group wins");
        assert_eq!(r2.data["rack"], "r-7");
        assert_eq!(got.devices[2].host, "fe80::1");
        // load_each hands over the same devices, in order.
        let mut each = Vec::new();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inv.yaml");
        std::fs::write(&path, &fast).unwrap();
        let inv =
            crate::load_each(&path, &crate::LoadOptions::default(), &mut |d| each.push(d)).unwrap();
        assert!(inv.devices.is_empty());
        assert_eq!(each, got.devices);
    }

    #[test]
    fn the_fast_path_gives_the_same_errors() {
        for (bad, want) in [
            (
                "- {name: r1, host: h, prot: 22}\n",
                "inv.yaml:13:23: field `prot`: unknown field in device `r1`; did you mean `port`?",
            ),
            (
                "- {name: r1, host: h}\n- name: r2\n  port: 99999\n  host: h\n",
                "inv.yaml:15:9: field `port`: invalid port 99999 (expected 1-65535)",
            ),
            (
                "- {name: r1, host: h}\n- {name: r1, host: h}\n",
                "inv.yaml:14:10: field `name`: duplicate device name `r1` (first defined at line 13:10)",
            ),
            (
                "- {name: r1}\n",
                "inv.yaml:13:4: field `host`: device `r1` has no `host`",
            ),
        ] {
            let [fast, streamed, tree] = three_ways(bad);
            let e = load(&fast).unwrap_err();
            assert_eq!(e.to_string(), want, "{fast}");
            assert_eq!(load(&streamed).unwrap_err().to_string(), want);
            // Devices before groups: other lines, the same complaint.
            let t = load(&tree).unwrap_err();
            assert_eq!((t.kind, t.field), (e.kind, e.field), "{tree}");
        }
    }

    #[test]
    fn a_broken_head_is_reported_as_the_slow_path_reports_it() {
        let text = "defaults: {username: a\ndevices:\n- {name: r1, host: h}\n";
        let fast = load(text).unwrap_err();
        let path = Path::new("inv.yaml");
        let slow = load_parts(
            text,
            None,
            path,
            &LoadOptions::default(),
            &mut crate::Sink::Whole(&mut |_| {}),
            &mut 0,
        )
        .unwrap_err();
        assert_eq!(fast.to_string(), slow.to_string());
        assert!(fast.message.contains("opened at line 1"), "{fast}");
    }

    #[test]
    fn devices_with_only_name_host_and_groups_share_one_resolved_profile() {
        let fast = "defaults: {username: u, agent: true}\n\
            groups:\n  a: {port: 2200}\n  b: {data: {x: y}}\n\
            devices:\n\
            - {name: r1, host: h1, groups: [a]}\n\
            - {name: r2, host: h2, groups: [b]}\n\
            - {name: r3, host: h3, groups: [a]}\n\
            - {name: r4, host: h4, groups: [a], username: own}\n\
            - name: r5\n  host: h5\n  groups: [b]\n\
            - {name: r6, host: h6, groups: [b, a]}\n\
            - {name: r7, host: h7}\n\
            - {name: r8, host: h8, groups: [a], username: own}\n";
        let streamed = format!("{fast}version: 1\n");
        let dir = tempfile::tempdir().unwrap();
        for text in [fast, &streamed] {
            let path = dir.path().join("inv.yaml");
            std::fs::write(&path, text).unwrap();
            let opts = LoadOptions {
                become_password: Some(fleet_proto::Secret::new("en")),
                ..LoadOptions::default()
            };
            let mut shared = Vec::new();
            crate::load_shared(&path, &opts, &mut |d| {
                assert!(d.profile.name.is_empty() && d.profile.host.is_empty());
                assert_eq!(d.profile.port, 0);
                shared.push((d.to_device(), Arc::clone(d.profile)));
            })
            .unwrap();
            let mut whole = Vec::new();
            crate::load_each(&path, &opts, &mut |d| whole.push(d)).unwrap();
            let devices: Vec<Device> = shared.iter().map(|(d, _)| d.clone()).collect();
            assert_eq!(devices, whole, "{text}");
            let p = |i: usize| Arc::as_ptr(&shared[i].1);
            assert_eq!(p(0), p(2), "r1 and r3: groups [a] only");
            assert_eq!(p(1), p(4), "r2 and r5: groups [b] only, any style");
            assert!(p(3) != p(0) && p(5) != p(1) && p(5) != p(0) && p(6) != p(0));
            assert_eq!(
                p(3),
                p(7),
                "r4 and r8 resolve alike: one profile handed out"
            );
            let (r3, r4, r6) = (&devices[2], &devices[3], &devices[5]);
            assert_eq!(
                (r3.name.as_str(), r3.host.as_str(), r3.port),
                ("r3", "h3", 2200)
            );
            assert_eq!((r4.username.as_str(), r4.port), ("own", 2200));
            assert_eq!((r6.port, r6.data["x"].as_str()), (2200, "y"));
            assert_eq!(r3.enable_secret.as_ref().map(|s| s.expose()), Some("en"));
        }
    }

    #[test]
    fn past_the_kept_profiles_distinct_devices_still_come_whole() {
        let mut text = String::from("defaults: {username: u, agent: true}\ndevices:\n");
        for i in 0..(crate::MAX_KEPT_PROFILES + 2000) {
            text.push_str(&format!("- {{name: d{i}, host: h, data: {{k: v{i}}}}}\n"));
        }
        text.push_str("- {name: e1, host: h, port: 2}\n- {name: e2, host: h, port: 2}\n");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inv.yaml");
        std::fs::write(&path, &text).unwrap();
        let mut shared = Vec::new();
        crate::load_shared(&path, &LoadOptions::default(), &mut |d| {
            shared.push((d.to_device(), Arc::clone(d.profile)))
        })
        .unwrap();
        let mut whole = Vec::new();
        crate::load_each(&path, &LoadOptions::default(), &mut |d| whole.push(d)).unwrap();
        assert_eq!(shared.len(), whole.len());
        assert!(shared.iter().zip(&whole).all(|((s, _), w)| s == w));
        let n = shared.len();
        assert_eq!(shared[n - 1].0.data, BTreeMap::new());
        // Past the limit, equal profiles are no longer one `Arc`.
        assert!(!Arc::ptr_eq(&shared[n - 1].1, &shared[n - 2].1));
        assert_eq!(shared[n - 1].1, shared[n - 2].1);
    }

    #[test]
    fn a_shared_profile_still_fails_at_its_first_device() {
        let text = "groups:\n  a: {port: 2200}\ndevices:\n\
            - {name: r1, host: h1, groups: [a], username: x, agent: true}\n\
            - {name: r2, host: h2, groups: [a]}\n\
            - {name: r3, host: h3, groups: [a]}\n";
        let e = load(text).unwrap_err();
        assert_eq!(
            e.to_string(),
            "inv.yaml:5:4: field `username`: device `r2` has no username (set `username` on the device, one of its groups or `defaults`)"
        );
        let dup = "defaults: {username: u, agent: true}\ndevices:\n\
            - {name: r1, host: h1}\n- {name: r2, host: h2}\n- {name: r1, host: h3}\n";
        assert_eq!(
            load(dup).unwrap_err().to_string(),
            "inv.yaml:5:10: field `name`: duplicate device name `r1` (first defined at line 3:10)"
        );
    }

    #[test]
    fn detects_devices_last() {
        assert!(devices_come_last(
            "defaults: {}\ngroups: {}\ndevices:\n  - a\n"
        ));
        assert!(devices_come_last("\"devices\":\n  - a\nknown_hosts: x\n"));
        assert!(!devices_come_last("devices:\n  - a\ngroups: {}\n"));
        assert!(!devices_come_last("{devices: []}"));
    }
}
