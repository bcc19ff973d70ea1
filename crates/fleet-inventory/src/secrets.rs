//! Reading secrets (env vars, files) and checking key files at load time,
//! once per source, with errors that never contain the secret.

use crate::error::{ErrorKind, InventoryError};
use fleet_proto::Secret;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Where a secret value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum SecretSource {
    /// An environment variable of the master.
    Env(String),
    /// The first line of a file.
    File(PathBuf),
}

/// The position of the field that named a secret or file, for errors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Loc<'a> {
    pub file: &'a Path,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub field: &'a str,
}

impl Loc<'_> {
    pub(crate) fn error(&self, kind: ErrorKind, message: impl Into<String>) -> InventoryError {
        InventoryError::at(
            self.file,
            self.line,
            self.column,
            Some(self.field),
            kind,
            message,
        )
    }
}

/// Reads each secret source once (100k devices sharing one password read
/// one env var) and collects warnings about how secrets are stored.
#[derive(Default)]
pub(crate) struct Secrets {
    cache: HashMap<SecretSource, Secret>,
    checked_keys: HashSet<PathBuf>,
    warned: HashSet<String>,
    plaintext_seen: Vec<(PathBuf, String)>,
    pub warnings: Vec<String>,
}

impl Secrets {
    /// The secret named by `src`; `loc` is where the inventory named it.
    pub(crate) fn read(
        &mut self,
        src: &SecretSource,
        loc: Loc<'_>,
    ) -> Result<Secret, InventoryError> {
        if let Some(s) = self.cache.get(src) {
            return Ok(s.clone());
        }
        let secret = match src {
            SecretSource::Env(name) => read_env(name, loc)?,
            SecretSource::File(path) => {
                let s = read_file(path, loc)?;
                if let Some(w) = loose_mode_warning(path) {
                    self.warn_once(format!("mode:{}", path.display()), w);
                }
                s
            }
        };
        self.cache.insert(src.clone(), secret.clone());
        Ok(secret)
    }

    /// Checks that a private key file can be opened, once per path.
    pub(crate) fn check_key_file(
        &mut self,
        path: &Path,
        loc: Loc<'_>,
    ) -> Result<(), InventoryError> {
        if self.checked_keys.contains(path) {
            return Ok(());
        }
        match std::fs::File::open(path) {
            Ok(f) => {
                if f.metadata().is_ok_and(|m| m.is_dir()) {
                    return Err(loc.error(
                        ErrorKind::Io,
                        format!("key file {} is a directory", path.display()),
                    ));
                }
            }
            Err(e) => {
                return Err(loc.error(
                    ErrorKind::Io,
                    format!("failed to read key file {}: {e}", path.display()),
                ))
            }
        }
        self.checked_keys.insert(path.to_path_buf());
        Ok(())
    }

    /// Accepts a plaintext password found in `file` (Nornir, Ansible, CSV
    /// allow them) and warns once per file and field.
    pub(crate) fn plaintext(&mut self, file: &Path, field: &str, value: &str) -> Secret {
        // Called once per device: check cheaply before formatting anything.
        let known = self
            .plaintext_seen
            .iter()
            .any(|(f, k)| f == file && k == field);
        if !known {
            self.plaintext_seen
                .push((file.to_path_buf(), field.to_owned()));
            self.warnings.push(format!(
                "{}: plaintext secret in field `{field}`; prefer an environment variable or a 0600 file",
                file.display()
            ));
        }
        Secret::new(value)
    }

    /// Adds a warning unless one with the same key was already added.
    pub(crate) fn warn_once(&mut self, key: String, warning: String) {
        if self.warned.insert(key) {
            self.warnings.push(warning);
        }
    }
}

fn read_env(name: &str, loc: Loc<'_>) -> Result<Secret, InventoryError> {
    if name.is_empty() || name.contains(['=', '\0']) {
        return Err(loc.error(
            ErrorKind::InvalidValue,
            format!(
                "`{}` is not a valid environment variable name",
                name.escape_debug()
            ),
        ));
    }
    match std::env::var_os(name) {
        None => Err(loc.error(
            ErrorKind::Secret,
            format!("environment variable `{name}` is not set"),
        )),
        Some(v) => match v.into_string() {
            Ok(v) if v.is_empty() => Err(loc.error(
                ErrorKind::Secret,
                format!("environment variable `{name}` is set but empty"),
            )),
            Ok(v) => Ok(Secret::new(v)),
            Err(_) => Err(loc.error(
                ErrorKind::Secret,
                format!("environment variable `{name}` is not valid UTF-8"),
            )),
        },
    }
}

fn read_file(path: &Path, loc: Loc<'_>) -> Result<Secret, InventoryError> {
    let bytes = std::fs::read(path).map_err(|e| {
        loc.error(
            ErrorKind::Secret,
            format!("failed to read secret file {}: {e}", path.display()),
        )
    })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        loc.error(
            ErrorKind::Secret,
            format!("secret file {} is not valid UTF-8", path.display()),
        )
    })?;
    let first = text.lines().next().unwrap_or("").trim_end_matches('\r');
    if first.is_empty() {
        return Err(loc.error(
            ErrorKind::Secret,
            format!("secret file {} is empty", path.display()),
        ));
    }
    Ok(Secret::new(first))
}

#[cfg(unix)]
fn loose_mode_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "secret file {} has mode {mode:04o}; it should be 0600 (chmod 600 {})",
            path.display(),
            path.display()
        )
    })
}

#[cfg(not(unix))]
fn loose_mode_warning(_path: &Path) -> Option<String> {
    None
}

/// Why a path in an inventory cannot be resolved ([`resolve_path`]); the
/// loaders add the file, line and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PathError {
    /// `~` with no home directory to expand it to.
    #[error("failed to expand `~` in `{raw}`: $HOME is not set")]
    HomeUnset {
        /// The path as written.
        raw: String,
    },
    /// An empty string where a path belongs.
    #[error("empty path")]
    Empty,
}

/// Resolves a path from an inventory: `~` expands to `$HOME`, relative paths
/// are taken from the inventory file's directory.
pub(crate) fn resolve_path(base_dir: &Path, raw: &str) -> Result<PathBuf, PathError> {
    let rest = if raw == "~" {
        Some("")
    } else {
        raw.strip_prefix("~/")
    };
    if let Some(rest) = rest {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .ok_or_else(|| PathError::HomeUnset {
                raw: raw.to_owned(),
            })?;
        return Ok(PathBuf::from(home).join(rest));
    }
    if raw.is_empty() {
        return Err(PathError::Empty);
    }
    Ok(base_dir.join(raw))
}

/// Maps a platform as written (Netmiko, Scrapli, NAPALM, Ansible, CMDB
/// spellings) to fleet's name ([`fleet_proto::platform`]), warning once
/// per name that fleet has no platform entry for.
pub(crate) fn normalize_platform(raw: &str, secrets: &mut Secrets) -> String {
    use fleet_proto::platform::{normalize, PlatformName};
    let p = normalize(raw);
    if !matches!(p, PlatformName::Known(_)) {
        let name = p.as_str();
        {
            secrets.warn_once(
                format!("platform:{name}"),
                format!("unknown platform {name}: generic exec, no enable, no error markers"),
            );
        }
    }
    p.as_str().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_platforms_and_warns_once_per_unknown_name() {
        let mut s = Secrets::default();
        assert_eq!(normalize_platform("cisco.ios.ios", &mut s), "cisco_ios");
        assert_eq!(normalize_platform("Cisco IOS", &mut s), "cisco_ios");
        assert_eq!(normalize_platform("nxos_ssh", &mut s), "cisco_nxos");
        assert!(s.warnings.is_empty());
        assert_eq!(normalize_platform("cisco.iosxr.iosxr", &mut s), "cisco_xr");
        assert_eq!(normalize_platform("iosxr", &mut s), "cisco_xr");
        assert_eq!(normalize_platform("hp_procurve", &mut s), "hp_procurve");
        assert_eq!(
            s.warnings,
            [
                "unknown platform cisco_xr: generic exec, no enable, no error markers",
                "unknown platform hp_procurve: generic exec, no enable, no error markers"
            ]
        );
    }

    #[test]
    fn resolves_relative_paths_against_the_inventory() {
        let p = resolve_path(Path::new("/inv"), "keys/id").unwrap();
        assert_eq!(p, PathBuf::from("/inv/keys/id"));
        assert_eq!(
            resolve_path(Path::new("/inv"), "/abs").unwrap(),
            PathBuf::from("/abs")
        );
        assert_eq!(resolve_path(Path::new("/inv"), ""), Err(PathError::Empty));
        assert_eq!(PathError::Empty.to_string(), "empty path");
        let unset = PathError::HomeUnset { raw: "~/k".into() };
        assert_eq!(
            unset.to_string(),
            "failed to expand `~` in `~/k`: $HOME is not set"
        );
    }
}
