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
mod error;
mod finish;
mod fleet;
mod format;
mod inventory;
pub mod limit;
mod nornir;
mod secrets;
mod suggest;
mod table;
mod values;
mod yaml;
mod ytree;

pub use error::{ErrorKind, InventoryError};
pub use format::{Format, UnknownFormat};
pub use inventory::{summary, Inventory, Summary};

use std::path::Path;

/// How to load an inventory, besides its path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// The format; `None` detects it from the path and content.
    pub format: Option<Format>,
    /// A password was prompted for (`fleet run --ask-pass`) and the caller
    /// adds it to every device after loading: devices may then come without
    /// credentials of their own.
    pub password_prompted: bool,
}

/// Loads the inventory at `path` (a file, or a Nornir directory), detecting
/// the format from the path and content unless `format` is given.
pub fn load(path: &Path, format: Option<Format>) -> Result<Inventory, InventoryError> {
    load_with(
        path,
        &LoadOptions {
            format,
            ..LoadOptions::default()
        },
    )
}

/// [`load`] with every option: the format, and whether a prompted password
/// stands in for missing credentials.
pub fn load_with(path: &Path, options: &LoadOptions) -> Result<Inventory, InventoryError> {
    let format = match options.format {
        Some(f) => f,
        None => {
            let head = if path.is_dir() {
                Vec::new()
            } else {
                read_head(path)?
            };
            Format::detect(path, &head).ok_or_else(|| {
                InventoryError::file(
                    path,
                    ErrorKind::UnknownFormat,
                    "cannot tell the inventory format; pass --inventory-format (fleet, nornir, ansible-ini, ansible-yaml, csv)",
                )
            })?
        }
    };
    let file = match format {
        Format::Nornir if path.is_dir() => ["hosts.yaml", "hosts.yml"]
            .iter()
            .map(|n| path.join(n))
            .find(|p| p.is_file())
            .unwrap_or_else(|| path.join("hosts.yaml")),
        _ => path.to_path_buf(),
    };
    let text = std::fs::read(&file).map_err(|e| {
        InventoryError::file(&file, ErrorKind::Io, format!("cannot read inventory: {e}"))
    })?;
    let text = String::from_utf8(text).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1;
        InventoryError::at(
            &file,
            Some(line),
            None,
            None,
            ErrorKind::Syntax,
            format!("not valid UTF-8 (byte offset {at}); save the file as UTF-8"),
        )
    })?;
    let mut inv = load_str_with(&text, &file, format, options.password_prompted)?;
    inv.source = path.to_path_buf();
    Ok(inv)
}

/// Parses inventory `text` as if read from `origin` (relative paths and
/// Nornir's `groups.yaml`/`defaults.yaml` resolve against its directory).
pub fn load_str(text: &str, origin: &Path, format: Format) -> Result<Inventory, InventoryError> {
    load_str_with(text, origin, format, false)
}

fn load_str_with(
    text: &str,
    origin: &Path,
    format: Format,
    password_prompted: bool,
) -> Result<Inventory, InventoryError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match format {
        Format::Fleet => fleet::load(text, origin, password_prompted),
        Format::Nornir => nornir::load(text, origin),
        Format::AnsibleIni => ansible::load_ini(text, origin),
        Format::AnsibleYaml => ansible::load_yaml(text, origin),
        Format::Csv => table::load(text, origin),
    }
}

fn read_head(path: &Path) -> Result<Vec<u8>, InventoryError> {
    use std::io::Read;
    let mut buf = Vec::with_capacity(4096);
    std::fs::File::open(path)
        .and_then(|f| f.take(4096).read_to_end(&mut buf))
        .map_err(|e| {
            InventoryError::file(path, ErrorKind::Io, format!("cannot read inventory: {e}"))
        })?;
    Ok(buf)
}
