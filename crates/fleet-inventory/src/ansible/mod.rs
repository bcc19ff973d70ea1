//! Ansible inventories (INI and YAML files, or an inventory directory)
//! share one model: groups with hosts, children and vars, plus
//! `group_vars/` and `host_vars/` beside the inventory, resolved with
//! Ansible's variable precedence:
//!
//! 1. inventory `all` vars, then inventory group vars (parents before
//!    children: by depth, then `ansible_group_priority`, then name);
//! 2. `group_vars/all`, then `group_vars/<group>` in the same group order;
//! 3. inventory host vars, then `host_vars/<host>`.
//!
//! Later wins. As in Ansible, `ansible_group_priority` counts only when set
//! in the inventory source, not in `group_vars/`.

mod files;
mod ini;
mod model;
mod range;
mod vars;
mod yaml;

use crate::error::{chain, ErrorKind, InventoryError};
use crate::format::Format;
use crate::inventory::Inventory;
use crate::secrets::Secrets;
use crate::vault::Vault;
use fleet_proto::Secret;
use model::{resolve, Model};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Loads one Ansible inventory file (INI or YAML text already read), with
/// the `group_vars/`/`host_vars/` beside it.
pub(crate) fn load_file(
    text: &str,
    file: &Path,
    format: Format,
    vault: &mut Vault,
    become_password: Option<&Secret>,
) -> Result<Inventory, InventoryError> {
    let mut model = Model::new();
    let mut warnings = Vec::new();
    let f: Arc<Path> = Arc::from(file);
    add_source(text, &f, format, &mut model, vault, &mut warnings)?;
    let dir = file.parent().unwrap_or(Path::new("."));
    files::attach(&mut model, dir, vault, &mut warnings)?;
    finish(model, file, warnings, become_password)
}

fn add_source(
    text: &str,
    file: &Arc<Path>,
    format: Format,
    model: &mut Model,
    vault: &mut Vault,
    warnings: &mut Vec<String>,
) -> Result<(), InventoryError> {
    if crate::vault::is_vault(text) {
        let plain = vault
            .decrypt(text)
            .map_err(|e| InventoryError::file(file, ErrorKind::Secret, chain(&e)))?;
        let plain = plain.expose().to_owned();
        let format = match format {
            Format::AnsibleIni | Format::AnsibleYaml => Format::detect(file, plain.as_bytes())
                .filter(|f| matches!(f, Format::AnsibleIni | Format::AnsibleYaml))
                .unwrap_or(format),
            other => other,
        };
        return add_source(&plain, file, format, model, vault, warnings);
    }
    match format {
        Format::AnsibleYaml => yaml::parse(text, file, model, vault, warnings),
        _ => ini::parse(text, file, model),
    }
}

/// Files of an inventory directory that are inventory sources, as Ansible
/// picks them: every regular file, sorted, except hidden ones, backups and
/// non-inventory extensions (`.cfg`, `.retry`, `.md`, ...). Executable
/// (dynamic) inventories are refused.
fn sources(dir: &Path) -> Result<Vec<(PathBuf, Format)>, InventoryError> {
    const SKIP: &[&str] = &[
        ".orig", ".bak", ".cfg", ".retry", ".pyc", ".pyo", ".md", ".txt", ".rst", ".j2", ".swp",
    ];
    let rd = std::fs::read_dir(dir).map_err(|e| {
        InventoryError::file(
            dir,
            ErrorKind::Io,
            format!("failed to read inventory directory: {e}"),
        )
    })?;
    let mut out = Vec::new();
    let mut paths: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    for p in paths {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') || name.ends_with('~') || SKIP.iter().any(|s| name.ends_with(s)) {
            continue;
        }
        let head = std::fs::read(&p).map_err(|e| {
            InventoryError::file(&p, ErrorKind::Io, format!("failed to read inventory: {e}"))
        })?;
        let head = &head[..head.len().min(4096)];
        if head.starts_with(b"#!") {
            return Err(InventoryError::file(
                &p,
                ErrorKind::UnknownFormat,
                "dynamic (script) inventories are not supported; run it and save its output as YAML",
            ));
        }
        let format = if crate::vault::is_vault(&String::from_utf8_lossy(head)) {
            Format::AnsibleIni // decided again after decryption
        } else {
            match Format::detect(&p, head) {
                Some(f @ (Format::AnsibleIni | Format::AnsibleYaml)) => f,
                _ => continue,
            }
        };
        out.push((p, format));
    }
    Ok(out)
}

/// True when `dir` looks like an Ansible inventory directory rather than a
/// Nornir one: it has `group_vars/` or `host_vars/`, or no Nornir
/// `hosts.yaml` + `groups.yaml`/`defaults.yaml` pair.
pub(crate) fn is_ansible_dir(dir: &Path) -> bool {
    if dir.join("group_vars").is_dir() || dir.join("host_vars").is_dir() {
        return true;
    }
    let any = |names: &[&str]| names.iter().any(|n| dir.join(n).is_file());
    !(any(&["hosts.yaml", "hosts.yml"])
        && any(&["groups.yaml", "groups.yml", "defaults.yaml", "defaults.yml"]))
}

/// Loads an Ansible inventory directory: every source file into one model,
/// then `group_vars/` and `host_vars/` of the directory.
pub(crate) fn load_dir(
    dir: &Path,
    vault: &mut Vault,
    become_password: Option<&Secret>,
) -> Result<Inventory, InventoryError> {
    let srcs = sources(dir)?;
    if srcs.is_empty() {
        return Err(InventoryError::file(
            dir,
            ErrorKind::UnknownFormat,
            "no inventory file in this directory (expected `hosts`, `*.ini` or `*.yml`)",
        ));
    }
    let mut model = Model::new();
    let mut warnings = Vec::new();
    for (p, format) in &srcs {
        let text = crate::read_text(p)?;
        let f: Arc<Path> = Arc::from(p.as_path());
        add_source(&text, &f, *format, &mut model, vault, &mut warnings)?;
    }
    files::attach(&mut model, dir, vault, &mut warnings)?;
    let mut inv = finish(model, &srcs[0].0, warnings, become_password)?;
    inv.source = dir.to_path_buf();
    Ok(inv)
}

/// Resolves the model into devices.
/// Resolves the model into devices; `become_password` (`-K`) is the enable
/// secret of hosts with `ansible_become` true and no password of their own.
fn finish(
    model: Model,
    file: &Path,
    warnings: Vec<String>,
    become_password: Option<&Secret>,
) -> Result<Inventory, InventoryError> {
    let mut secrets = Secrets::default();
    secrets.warnings = warnings;
    let mut devices = Vec::with_capacity(model.hosts.len());
    let mut origins = std::collections::BTreeMap::new();
    // connection -> (count, first host, where)
    let mut skipped: std::collections::BTreeMap<String, (usize, String, String)> =
        std::collections::BTreeMap::new();
    resolve(model, file, |name, groups, vars| {
        match vars::device(name, groups, vars, &mut secrets, become_password)? {
            Ok((d, o)) => {
                origins.insert(d.name.clone(), o);
                devices.push(d)
            }
            Err(u) => {
                let e = skipped
                    .entry(u.connection)
                    .or_insert_with(|| (0, name.to_owned(), u.at));
                e.0 += 1;
            }
        }
        Ok(())
    })?;
    for (conn, (n, first, at)) in skipped {
        secrets.warnings.push(format!(
            "{at}: field `ansible_connection`: {n} host(s) (first: `{first}`) use `{conn}`, which fleet cannot serve (CLI over SSH only); left out of the run"
        ));
    }
    Ok(Inventory {
        devices,
        known_hosts: None,
        host_key_check: None,
        warnings: secrets.warnings,
        source: file.to_path_buf(),
        origins,
    })
}
