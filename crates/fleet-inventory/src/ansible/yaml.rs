//! Ansible's YAML inventory: `all: {hosts, vars, children}`, recursively.

use super::model::{Model, Var, Vars, ALL};
use super::range;
use crate::error::{chain, ErrorKind, InventoryError};
use crate::suggest::did_you_mean;
use crate::vault::Vault;
use crate::yaml::{self, err_at, pos};
use crate::ytree::Mapping;
use crate::ytree::{Node, Reader};
use std::path::Path;
use std::sync::Arc;

const GROUP_KEYS: &[&str] = &["hosts", "vars", "children"];

struct Walker<'a> {
    file: &'a Arc<Path>,
    model: &'a mut Model,
    vault: &'a mut Vault,
    warnings: &'a mut Vec<String>,
}

/// The variables of one YAML mapping (inventory `vars:`, a host entry, or a
/// whole `group_vars`/`host_vars` file), `!vault` values decrypted.
pub(crate) fn vars_of(
    file: &Arc<Path>,
    node: &Node,
    field: &str,
    vault: &mut Vault,
) -> Result<Vars, InventoryError> {
    if yaml::is_null(node) {
        return Ok(Vec::new());
    }
    let m = yaml::mapping(file, node, field)?;
    let mut vars = Vec::with_capacity(m.len());
    for (k, v) in m.iter() {
        let (line, column) = pos(v.span());
        let (value, is_vault) = match v {
            Node::Scalar(s) if s.is_vault() || crate::vault::is_vault(s.as_str()) => {
                let plain = vault.decrypt(s.as_str()).map_err(|e| {
                    err_at(
                        file,
                        k.span(),
                        Some(k.as_str()),
                        ErrorKind::Secret,
                        chain(&e),
                    )
                })?;
                (plain.expose().to_owned(), true)
            }
            v if yaml::is_null(v) => (String::new(), false),
            v => (yaml::stringify(v), false),
        };
        vars.push((
            k.as_str().to_owned(),
            Var {
                value,
                file: file.clone(),
                line,
                column,
                vault: is_vault,
            },
        ));
    }
    Ok(vars)
}

impl Walker<'_> {
    fn vars(&mut self, node: &Node, field: &str) -> Result<Vars, InventoryError> {
        vars_of(self.file, node, field, self.vault)
    }

    fn group(&mut self, name: &str, node: &Node, depth: usize) -> Result<usize, InventoryError> {
        let g = self.model.group(name);
        if yaml::is_null(node) {
            return Ok(g);
        }
        if depth > 64 {
            return Err(err_at(
                self.file,
                node.span(),
                Some(name),
                ErrorKind::InvalidValue,
                "groups nested too deeply",
            ));
        }
        let map: &Mapping = yaml::mapping(self.file, node, name)?;
        for key in map.keys() {
            if !GROUP_KEYS.contains(&key.as_str()) {
                let line = pos(key.span()).0.unwrap_or(0);
                self.warnings.push(format!(
                    "{}:{line}: field `{}`: ignored in group `{name}` (Ansible ignores it too){}",
                    self.file.display(),
                    key.as_str(),
                    did_you_mean(key.as_str(), GROUP_KEYS)
                ));
            }
        }
        if let Some(v) = map.get_node("vars") {
            let vars = self.vars(v, "vars")?;
            self.model.groups[g].vars.extend(vars);
        }
        if let Some(h) = map.get_node("hosts").filter(|n| !yaml::is_null(n)) {
            let hosts = yaml::mapping(self.file, h, "hosts")?;
            for (hk, hv) in hosts.iter() {
                let mut vars = self.vars(hv, hk.as_str())?;
                let pattern = hk.as_str();
                let (pattern, port) = match pattern.rsplit_once(':') {
                    Some((h, p))
                        if !h.contains(':')
                            && !p.is_empty()
                            && p.chars().all(|c| c.is_ascii_digit()) =>
                    {
                        (h, Some(p))
                    }
                    _ => (pattern, None),
                };
                if let Some(p) = port {
                    let (line, column) = pos(hk.span());
                    vars.insert(
                        0,
                        (
                            "ansible_port".to_owned(),
                            Var {
                                value: p.to_owned(),
                                file: self.file.clone(),
                                line,
                                column,
                                vault: false,
                            },
                        ),
                    );
                }
                let names = range::expand(pattern)
                    .and_then(|names| self.model.count_expanded(names.len()).map(|()| names))
                    .map_err(|m| {
                        err_at(
                            self.file,
                            hk.span(),
                            Some("hosts"),
                            ErrorKind::InvalidValue,
                            m,
                        )
                    })?;
                for n in names {
                    self.model.add_host(&n, g, vars.clone());
                }
            }
        }
        if let Some(c) = map.get_node("children").filter(|n| !yaml::is_null(n)) {
            let children = yaml::mapping(self.file, c, "children")?;
            for (ck, cv) in children.iter() {
                if ck.as_str() == "all" || ck.as_str() == name {
                    return Err(err_at(
                        self.file,
                        ck.span(),
                        Some("children"),
                        ErrorKind::InvalidValue,
                        format!("group `{}` cannot be a child of `{name}`", ck.as_str()),
                    ));
                }
                let child = self.group(ck.as_str(), cv, depth + 1)?;
                if g != ALL {
                    self.model.add_child(g, child);
                }
            }
        }
        Ok(g)
    }
}

/// Adds an Ansible YAML inventory text read from `file` to `model`.
pub(crate) fn parse(
    text: &str,
    file: &Arc<Path>,
    model: &mut Model,
    vault: &mut Vault,
    warnings: &mut Vec<String>,
) -> Result<(), InventoryError> {
    // Tags are allowed: `!vault` values are decrypted, `!unsafe` ones kept.
    let top = Reader::new(file, text, true)?.into_mapping()?;
    let mut w = Walker {
        file,
        model,
        vault,
        warnings,
    };
    for (name, node) in top.iter() {
        w.group(name.as_str(), node, 0)?;
    }
    Ok(())
}
