//! fleet's own YAML format (see `docs/inventory.md`), walked by hand so
//! every error names file, line, column and field.
//!
//! - [`settings`]: one block of settings as written, with positions.
//! - [`resolve`]: device > groups (listed order) > defaults, secrets read.

mod resolve;
mod settings;

use crate::error::{ErrorKind, InventoryError};
use crate::inventory::{Inventory, Origins};
use crate::secrets::Secrets;
use crate::yaml::{self, err_at, pos};
use crate::ytree::{Node, Reader};
use crate::LoadOptions;
use fleet_proto::{Device, HostKeyCheck};
use resolve::{origins, resolve};
use settings::{At, Ctx, Settings, TOP_KEYS};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

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

/// Resolves devices one at a time once `defaults` and `groups` are known.
struct Builder<'a> {
    ctx: Ctx<'a>,
    defaults: Settings,
    groups: HashMap<String, Settings>,
    secrets: Secrets,
    seen: HashMap<String, (Option<usize>, Option<usize>)>,
    devices: Vec<Device>,
    /// `--ask-pass`: devices without credentials get the prompted password.
    password_prompted: bool,
    /// Where each device's fields were set, when the caller asked
    /// ([`LoadOptions::sources`]); empty otherwise.
    origins: Option<BTreeMap<String, Origins>>,
}

impl<'a> Builder<'a> {
    fn new(
        ctx: Ctx<'a>,
        defaults: Settings,
        groups: HashMap<String, Settings>,
        opts: &LoadOptions,
    ) -> Self {
        Builder {
            ctx,
            defaults,
            groups,
            secrets: Secrets::default(),
            seen: HashMap::new(),
            devices: Vec::new(),
            password_prompted: opts.password_prompted,
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
        let here = pos(name_node.span());
        if let Some((l, c)) = self.seen.get(&name) {
            return Err(err_at(
                file,
                name_node.span(),
                Some("name"),
                ErrorKind::DuplicateName,
                format!(
                    "duplicate device name `{name}` (first defined at line {}:{})",
                    l.unwrap_or(0),
                    c.unwrap_or(0)
                ),
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
        let device = resolve(
            file,
            name.clone(),
            host,
            group_names,
            &layers,
            device_at,
            &mut self.secrets,
            self.password_prompted,
        )?;
        self.seen.insert(name, here);
        self.devices.push(device);
        Ok(())
    }
}

/// Loads fleet YAML text read from `file`.
pub(crate) fn load(
    text: &str,
    file: &Path,
    opts: &LoadOptions,
) -> Result<Inventory, InventoryError> {
    let base = file.parent().unwrap_or(Path::new("."));
    let ctx = Ctx { file, base };
    let stream = devices_come_last(text);
    let mut reader = Reader::new(file, text, false)?;
    let top_span = *reader.span();

    let mut known_hosts = None;
    let mut host_key_check = None;
    let mut defaults = Settings::default();
    let mut groups: HashMap<String, Settings> = HashMap::new();
    let mut builder: Option<Builder<'_>> = None;
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
        if k == "devices" {
            devices_seen = true;
            if stream {
                let b = builder.get_or_insert_with(|| {
                    let (d, g) = (std::mem::take(&mut defaults), std::mem::take(&mut groups));
                    Builder::new(Ctx { file, base }, d, g, opts)
                });
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
    if !devices_seen {
        return Err(err_at(
            file,
            &top_span,
            Some("devices"),
            ErrorKind::MissingField,
            "missing `devices` (a list of devices with at least `name` and `host`)",
        ));
    }
    let mut b = builder.unwrap_or_else(|| Builder::new(Ctx { file, base }, defaults, groups, opts));
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
    if b.devices.is_empty() {
        b.secrets
            .warnings
            .push(format!("{}: `devices` is empty", file.display()));
    }
    Ok(Inventory {
        devices: b.devices,
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
