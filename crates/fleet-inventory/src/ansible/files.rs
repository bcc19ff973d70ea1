//! `group_vars/` and `host_vars/` beside an Ansible inventory, found the
//! way Ansible's `host_group_vars` plugin finds them: for a group or host
//! `NAME`, the first of `NAME`, `NAME.yml`, `NAME.yaml`, `NAME.json` that
//! exists; if that is a directory, every file in it (recursively, sorted by
//! path, hidden files and `~` backups skipped, extensions as above), later
//! files overriding earlier ones.

use super::model::{Model, Vars};
use super::yaml::vars_of;
use crate::error::{ErrorKind, InventoryError};
use crate::vault::Vault;
use crate::ytree::{Node, Reader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Extensions Ansible reads vars files with (`""` = no extension).
const EXTS: &[&str] = &["", ".yml", ".yaml", ".json"];

/// Attaches `dir/group_vars/*` to the model's groups and `dir/host_vars/*`
/// to its hosts; warns about files that name no group or host.
pub(crate) fn attach(
    model: &mut Model,
    dir: &Path,
    vault: &mut Vault,
    warnings: &mut Vec<String>,
) -> Result<(), InventoryError> {
    let gdir = dir.join("group_vars");
    if gdir.is_dir() {
        for g in 0..model.groups.len() {
            let name = model.groups[g].name.clone();
            for f in find(&gdir, &name) {
                let vars = read_vars(&f, vault)?;
                model.groups[g].file_vars.extend(vars);
            }
        }
        for stray in strays(&gdir, |n| model.group_index(n).is_some()) {
            warnings.push(format!(
                "{}: no group `{}` in the inventory; ignored",
                stray.display(),
                name_of(&stray)
            ));
        }
    }
    let hdir = dir.join("host_vars");
    if hdir.is_dir() {
        for h in 0..model.hosts.len() {
            let name = model.hosts[h].name.clone();
            for f in find(&hdir, &name) {
                let vars = read_vars(&f, vault)?;
                model.hosts[h].file_vars.extend(vars);
            }
        }
        for stray in strays(&hdir, |n| model.host_index(n).is_some()) {
            warnings.push(format!(
                "{}: no host `{}` in the inventory; ignored",
                stray.display(),
                name_of(&stray)
            ));
        }
    }
    Ok(())
}

fn has_ext(name: &str) -> bool {
    EXTS.iter().any(|e| !e.is_empty() && name.ends_with(e)) || !name.contains('.')
}

fn skipped(name: &str) -> bool {
    name.starts_with('.') || name.ends_with('~')
}

/// `NAME` with a vars extension removed.
fn name_of(p: &Path) -> String {
    let n = p
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    EXTS.iter()
        .filter(|e| !e.is_empty())
        .find_map(|e| n.strip_suffix(e))
        .unwrap_or(&n)
        .to_owned()
}

/// The vars files for `name` under `base`, in the order they apply.
fn find(base: &Path, name: &str) -> Vec<PathBuf> {
    for ext in EXTS {
        let p = base.join(format!("{name}{ext}"));
        if p.is_dir() {
            let mut out = Vec::new();
            walk(&p, &mut out);
            out.sort();
            return out;
        }
        if p.is_file() {
            return vec![p];
        }
    }
    Vec::new()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let n = e.file_name().to_string_lossy().into_owned();
        if skipped(&n) {
            continue;
        }
        if p.is_dir() {
            walk(&p, out);
        } else if has_ext(&n) {
            out.push(p);
        }
    }
}

/// Top-level entries of `base` whose name matches nothing in the model.
fn strays(base: &Path, known: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(base) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            !skipped(&n) && (p.is_dir() || has_ext(&n)) && !known(&name_of(p))
        })
        .collect();
    out.sort();
    out
}

/// Reads one vars file: a whole-file vault is decrypted first; an empty
/// file has no vars.
pub(crate) fn read_vars(path: &Path, vault: &mut Vault) -> Result<Vars, InventoryError> {
    let file: Arc<Path> = Arc::from(path);
    let text = std::fs::read_to_string(path).map_err(|e| {
        InventoryError::file(
            path,
            ErrorKind::Io,
            format!("failed to read vars file: {e}"),
        )
    })?;
    let (text, whole_vault) = vault.open_file(path, text)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let blank = text
        .lines()
        .map(str::trim)
        .all(|l| l.is_empty() || l.starts_with('#') || l == "---" || l == "...");
    if blank {
        return Ok(Vec::new());
    }
    let top = Reader::new(&file, text, true)?.into_mapping()?;
    let node = Node::Mapping(top);
    let mut vars = vars_of(&file, &node, "vars", vault)?;
    if whole_vault {
        for (_, v) in &mut vars {
            v.vault = true;
        }
    }
    Ok(vars)
}
