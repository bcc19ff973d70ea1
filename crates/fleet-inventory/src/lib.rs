//! Loads inventories (fleet YAML, Nornir, Ansible, CSV) into resolved
//! devices, with errors that name file, line and field.
//!
//! - [`load`] / [`load_str`]: read an inventory in any [`Format`] into an
//!   [`Inventory`] of [`fleet_proto::Device`]s (secrets already read).
//! - [`InventoryError`]: where (file, line, column, field) and what.
//! - [`limit`]: Ansible-like `--limit` expressions ([`limit::Limit`]).
//! - [`summary`]: counts for `fleet inventory check`.
//!
//! ```
//! use fleet_inventory::{load_str, Format};
//! use std::path::Path;
//!
//! let text = "devices:\n  - {name: r1, host: 127.0.0.1, transport: noop}\n";
//! let inv = load_str(text, Path::new("inventory.yaml"), Format::Fleet).unwrap();
//! assert_eq!(inv.devices[0].name, "r1");
//!
//! let text = "devices:\n  - name: r1\n    host: h\n    port: 70000\n";
//! let err = load_str(text, Path::new("inventory.yaml"), Format::Fleet).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "inventory.yaml:4:11: field `port`: invalid port 70000 (expected 1-65535)"
//! );
//! ```
#![deny(missing_docs)]

mod ansible;
mod client_defaults;
mod csv_loader;
mod error;
mod fleet;
mod format;
mod hostport;
mod inventory;
pub mod limit;
mod names;
mod nornir;
mod secrets;
mod suggest;
mod vault;
mod vocab;
mod yaml;
mod ytree;

pub use csv_loader::{BadCsvColumns, CsvColumns};
pub use error::{ErrorKind, InventoryError};
pub use format::{Format, UnknownFormat};
pub use inventory::{summary, Inventory, Origins, Summary};
pub use vault::VaultPassword;

use fleet_proto::Device;
use std::path::Path;
use std::sync::Arc;

/// How to load an inventory, besides its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// The format; `None` detects it from the path and content.
    pub format: Option<Format>,
    /// A password was prompted for (`fleet run --ask-pass`) and the caller
    /// adds it to every device after loading: devices may then come without
    /// credentials of their own.
    pub password_prompted: bool,
    /// The Ansible Vault password, for vault-encrypted files and `!vault`
    /// values (`--vault-password-file`, else `ANSIBLE_VAULT_PASSWORD_FILE`).
    pub vault_password: VaultPassword,
    /// Record where each device field was set ([`Inventory::origins`]) for
    /// `fleet inventory show` and `list --long/--json`. Off for runs: 100k
    /// devices would pay for strings nobody reads.
    pub sources: bool,
    /// Which CSV column holds which field (`--csv-columns`); overrides a
    /// `# fleet-columns:` line in the file field by field.
    pub csv_columns: Option<CsvColumns>,
    /// The become (enable) password asked for on the terminal (`fleet run
    /// -K`). Ansible hosts take it when `ansible_become` is true and they
    /// set no `ansible_become_password` (as Ansible does); in the other
    /// formats every device without an enable secret takes it.
    pub become_password: Option<fleet_proto::Secret>,
}

impl Default for LoadOptions {
    /// Detected format, no prompted password, and the vault password file
    /// from `ANSIBLE_VAULT_PASSWORD_FILE` if set.
    fn default() -> Self {
        LoadOptions {
            format: None,
            password_prompted: false,
            vault_password: VaultPassword::from_flag_or_env(None),
            sources: false,
            csv_columns: None,
            become_password: None,
        }
    }
}

/// Loads the inventory at `path` (a file, a Nornir directory or an Ansible
/// inventory directory), detecting the format from the path and content
/// unless `format` is given. Vault passwords come from the environment
/// (see [`LoadOptions::default`]).
pub fn load(path: &Path, format: Option<Format>) -> Result<Inventory, InventoryError> {
    load_with(
        path,
        &LoadOptions {
            format,
            ..LoadOptions::default()
        },
    )
}

/// [`load`] with every option: the format, whether a prompted password
/// stands in for missing credentials, and the vault password.
pub fn load_with(path: &Path, opts: &LoadOptions) -> Result<Inventory, InventoryError> {
    let mut devices = Vec::new();
    let mut inv = load_each(path, opts, &mut |d| devices.push(d))?;
    inv.devices = devices;
    Ok(inv)
}

/// One resolved device as [`load_shared`] hands it over: what is its own
/// (name, address, port) and the profile it shares with every device
/// that resolved the same way (everything else; name and host empty,
/// port 0), so a million devices of a few profiles resolve a few times.
#[derive(Debug, Clone, Copy)]
pub struct SharedDevice<'a> {
    /// The device's name.
    pub name: &'a str,
    /// Its address as written.
    pub host: &'a str,
    /// Its port.
    pub port: u16,
    /// Everything else, shared: the same `Arc` for devices whose settings
    /// came from the same place (e.g. the same groups and nothing of their
    /// own) and for equal profiles, up to 16,384 distinct ones per load;
    /// past that, equal profiles may come in different `Arc`s.
    pub profile: &'a Arc<Device>,
}

impl SharedDevice<'_> {
    /// The whole device.
    pub fn to_device(&self) -> Device {
        let mut d = Device::clone(self.profile);
        d.name = self.name.to_owned();
        d.host = self.host.to_owned();
        d.port = self.port;
        d
    }
}

/// Distinct profiles [`load_shared`] keeps (and shares) per load; a
/// profile is a few hundred bytes.
const MAX_KEPT_PROFILES: usize = 16_384;

/// Where loaders put devices: whole, or split into their own part and a
/// shared profile.
pub(crate) enum Sink<'e> {
    Whole(&'e mut dyn FnMut(Device)),
    Shared {
        each: &'e mut dyn FnMut(SharedDevice<'_>),
        /// Every profile handed over, once: equal profiles go out in one
        /// `Arc`, alive until the load ends (callers may key on its
        /// address); at most [`MAX_KEPT_PROFILES`].
        profiles: rustc_hash::FxHashSet<Arc<Device>>,
    },
}

impl<'e> Sink<'e> {
    fn shared_to(each: &'e mut dyn FnMut(SharedDevice<'_>)) -> Sink<'e> {
        Sink::Shared {
            each,
            profiles: Default::default(),
        }
    }

    /// The profile `profile` (name and host empty, port 0) as handed out:
    /// the `Arc` of an equal earlier one if the sink shares them.
    pub(crate) fn intern(&mut self, profile: Device) -> Arc<Device> {
        match self {
            Sink::Whole(_) => Arc::new(profile),
            Sink::Shared { profiles, .. } => match profiles.get(&profile) {
                Some(p) => Arc::clone(p),
                // An inventory of (nearly) all-distinct devices: past this
                // many, new profiles go out alone instead of being kept.
                None if profiles.len() >= MAX_KEPT_PROFILES => Arc::new(profile),
                None => {
                    let p = Arc::new(profile);
                    profiles.insert(Arc::clone(&p));
                    p
                }
            },
        }
    }

    /// Hands over a device resolved on its own.
    pub(crate) fn device(&mut self, mut d: Device) {
        if let Sink::Whole(each) = self {
            return each(d);
        }
        let name = std::mem::take(&mut d.name);
        let host = std::mem::take(&mut d.host);
        let port = std::mem::replace(&mut d.port, 0);
        let profile = self.intern(d);
        self.shared(SharedDevice {
            name: &name,
            host: &host,
            port,
            profile: &profile,
        });
    }

    /// Hands over a device with a shared profile (from [`Sink::intern`]).
    pub(crate) fn shared(&mut self, d: SharedDevice<'_>) {
        match self {
            Sink::Whole(each) => each(d.to_device()),
            Sink::Shared { each, .. } => each(d),
        }
    }
}

/// [`load_with`], handing each resolved device to `each` in inventory
/// order instead of collecting them: the returned [`Inventory`] has no
/// `devices`. A fleet YAML file is resolved while it is read, one device
/// at a time, so a million devices never exist at once as [`Device`]s
/// (the caller packs them, e.g. into a [`fleet_proto::DeviceTable`]).
/// On an error, `each` may already have seen devices before the bad one.
pub fn load_each(
    path: &Path,
    opts: &LoadOptions,
    each: &mut dyn FnMut(Device),
) -> Result<Inventory, InventoryError> {
    load_into(path, opts, &mut Sink::Whole(each))
}

/// [`load_each`] without making whole devices: each comes as its name,
/// host and port with a shared profile ([`SharedDevice`]). A fleet YAML
/// device that sets nothing but `name`, `host` and `groups` is resolved
/// once per distinct group list; the others each get their own profile.
pub fn load_shared(
    path: &Path,
    opts: &LoadOptions,
    each: &mut dyn FnMut(SharedDevice<'_>),
) -> Result<Inventory, InventoryError> {
    load_into(path, opts, &mut Sink::shared_to(each))
}

fn load_into(
    path: &Path,
    opts: &LoadOptions,
    each: &mut Sink<'_>,
) -> Result<Inventory, InventoryError> {
    let mut vault = vault::Vault::new(opts.vault_password.clone());
    let unknown = || {
        InventoryError::file(
            path,
            ErrorKind::UnknownFormat,
            "failed to detect the inventory format; pass --inventory-format (fleet, nornir, ansible-ini, ansible-yaml, csv)",
        )
    };
    if path.is_dir() {
        let format = match opts.format {
            Some(f) => f,
            None => Format::detect(path, &[]).ok_or_else(unknown)?,
        };
        if matches!(format, Format::AnsibleIni | Format::AnsibleYaml) {
            let inv = ansible::load_dir(path, &mut vault, opts.become_password.as_ref())?;
            return Ok(hand_over(inv, each));
        }
        let file = ["hosts.yaml", "hosts.yml"]
            .iter()
            .map(|n| path.join(n))
            .find(|p| p.is_file())
            .unwrap_or_else(|| path.join("hosts.yaml"));
        let text = read_text(&file)?;
        let mut inv = load_str_each(&text, &file, format, opts, each)?;
        inv.source = path.to_path_buf();
        return Ok(inv);
    }
    let text = read_text(path)?;
    // A vault-encrypted inventory (any format) is decrypted first; its
    // format is then told from the plaintext.
    let (text, _) = vault.open_file(path, text)?;
    let format = match opts.format {
        Some(f) => f,
        None => {
            let head = &text.as_bytes()[..text.len().min(4096)];
            Format::detect(path, head).ok_or_else(unknown)?
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut inv = match format {
        Format::AnsibleIni | Format::AnsibleYaml => hand_over(
            ansible::load_file(
                text,
                path,
                format,
                &mut vault,
                opts.become_password.as_ref(),
            )?,
            each,
        ),
        _ => load_str_each(text, path, format, opts, each)?,
    };
    inv.source = path.to_path_buf();
    Ok(inv)
}

/// Moves the devices of an inventory loaded whole to `each`.
fn hand_over(mut inv: Inventory, each: &mut Sink<'_>) -> Inventory {
    for d in std::mem::take(&mut inv.devices) {
        each.device(d);
    }
    inv
}

/// Reads a UTF-8 text file, with errors naming the line of a bad byte.
pub(crate) fn read_text(file: &Path) -> Result<String, InventoryError> {
    let text = std::fs::read(file).map_err(|e| {
        InventoryError::file(
            file,
            ErrorKind::Io,
            format!("failed to read inventory: {e}"),
        )
    })?;
    String::from_utf8(text).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1;
        InventoryError::at(
            file,
            Some(line),
            None,
            None,
            ErrorKind::Syntax,
            format!("not valid UTF-8 (byte offset {at}); save the file as UTF-8"),
        )
    })
}

/// Parses inventory `text` as if read from `origin` (relative paths and
/// Nornir's `groups.yaml`/`defaults.yaml`, Ansible's `group_vars/` and
/// `host_vars/` resolve against its directory).
pub fn load_str(text: &str, origin: &Path, format: Format) -> Result<Inventory, InventoryError> {
    load_str_with(text, origin, format, &LoadOptions::default())
}

fn load_str_with(
    text: &str,
    origin: &Path,
    format: Format,
    opts: &LoadOptions,
) -> Result<Inventory, InventoryError> {
    let mut devices = Vec::new();
    let mut inv = load_str_each(
        text,
        origin,
        format,
        opts,
        &mut Sink::Whole(&mut |d| devices.push(d)),
    )?;
    inv.devices = devices;
    Ok(inv)
}

fn load_str_each(
    text: &str,
    origin: &Path,
    format: Format,
    opts: &LoadOptions,
    each: &mut Sink<'_>,
) -> Result<Inventory, InventoryError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut inv = match format {
        // Resolved while read: `-K` is applied device by device.
        Format::Fleet => return fleet::load(text, origin, opts, each),
        Format::Nornir => nornir::load(text, origin, opts)?,
        Format::AnsibleIni | Format::AnsibleYaml => {
            let mut vault = vault::Vault::new(opts.vault_password.clone());
            // Ansible decides per host (`ansible_become`).
            let inv = ansible::load_file(
                text,
                origin,
                format,
                &mut vault,
                opts.become_password.as_ref(),
            )?;
            return Ok(hand_over(inv, each));
        }
        Format::Csv => csv_loader::load(text, origin, opts)?,
    };
    if let Some(pw) = &opts.become_password {
        for d in &mut inv.devices {
            give_become_password(d, pw, &mut inv.origins);
        }
    }
    Ok(hand_over(inv, each))
}

/// `-K` for formats without a become switch: every device (noop aside)
/// without an enable secret of its own takes the prompted one (and its
/// origins, when tracked, say so).
pub(crate) fn give_become_password(
    d: &mut fleet_proto::Device,
    pw: &fleet_proto::Secret,
    origins: &mut std::collections::BTreeMap<String, Origins>,
) {
    if d.enable_secret.is_some() || d.transport == fleet_proto::Transport::Noop {
        return;
    }
    d.enable_secret = Some(pw.clone());
    if let Some(o) = origins.get_mut(&d.name) {
        o.insert(
            "enable_secret".to_owned(),
            "prompt (--ask-become-pass)".to_owned(),
        );
    }
}
