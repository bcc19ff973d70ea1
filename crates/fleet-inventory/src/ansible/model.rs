//! Groups, hosts and vars as an Ansible inventory declares them, and the
//! resolution of each host's variables.

use crate::error::{ErrorKind, InventoryError};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// A variable value with where it was written.
#[derive(Debug, Clone)]
pub(crate) struct Var {
    pub value: String,
    /// The file that set it (the inventory, or a `group_vars`/`host_vars` file).
    pub file: Arc<Path>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// Decrypted from Ansible Vault: a secret, never `data`, never warned
    /// about as plaintext.
    pub vault: bool,
}

pub(crate) type Vars = Vec<(String, Var)>;

#[derive(Debug, Default)]
pub(crate) struct Group {
    pub name: String,
    pub children: Vec<usize>,
    pub parents: Vec<usize>,
    /// Vars from the inventory source itself.
    pub vars: Vars,
    /// Vars from `group_vars/<name>` files, applied after every group's
    /// inventory vars (Ansible's `groups_plugins_inventory` stage).
    pub file_vars: Vars,
}

#[derive(Debug, Default)]
pub(crate) struct Host {
    pub name: String,
    /// Groups the host is listed in directly, in order of appearance.
    pub groups: Vec<usize>,
    /// Host vars; a later definition of the same var wins.
    pub vars: Vars,
    /// Vars from `host_vars/<name>` files, applied last.
    pub file_vars: Vars,
}

/// The whole inventory as declared.
#[derive(Debug, Default)]
pub(crate) struct Model {
    pub groups: Vec<Group>,
    group_index: HashMap<String, usize>,
    pub hosts: Vec<Host>,
    host_index: HashMap<String, usize>,
    /// Hosts produced by `[a:b]` ranges so far, for the inventory-wide cap.
    expanded: usize,
}

pub(crate) const ALL: usize = 0;
pub(crate) const UNGROUPED: usize = 1;

impl Model {
    pub(crate) fn new() -> Self {
        let mut m = Model::default();
        m.group("all");
        m.group("ungrouped");
        m
    }

    /// The index of group `name`, creating it.
    pub(crate) fn group(&mut self, name: &str) -> usize {
        if let Some(&i) = self.group_index.get(name) {
            return i;
        }
        self.groups.push(Group {
            name: name.to_owned(),
            ..Group::default()
        });
        self.group_index
            .insert(name.to_owned(), self.groups.len() - 1);
        self.groups.len() - 1
    }

    /// The index of host `name`, if declared.
    pub(crate) fn host_index(&self, name: &str) -> Option<usize> {
        self.host_index.get(name).copied()
    }

    /// The index of group `name`, if declared.
    pub(crate) fn group_index(&self, name: &str) -> Option<usize> {
        self.group_index.get(name).copied()
    }

    /// Adds (or extends) host `name` as a member of `group`.
    pub(crate) fn add_host(&mut self, name: &str, group: usize, vars: Vars) {
        let i = match self.host_index.get(name) {
            Some(&i) => i,
            None => {
                self.hosts.push(Host {
                    name: name.to_owned(),
                    ..Host::default()
                });
                self.host_index
                    .insert(name.to_owned(), self.hosts.len() - 1);
                self.hosts.len() - 1
            }
        };
        let h = &mut self.hosts[i];
        if group != ALL && !h.groups.contains(&group) {
            h.groups.push(group);
        }
        h.vars.extend(vars);
    }

    /// Counts `n` hosts produced by a range pattern, failing once the
    /// whole inventory's ranges exceed [`super::range::MAX_EXPANSION`].
    /// The `String` error is a message the caller wraps at once with the
    /// file, line and host pattern at fault.
    pub(crate) fn count_expanded(&mut self, n: usize) -> Result<(), String> {
        if n > 1 {
            self.expanded = self.expanded.saturating_add(n);
        }
        if self.expanded > super::range::MAX_EXPANSION {
            return Err(format!(
                "host ranges in this inventory expand to more than {} hosts in total",
                super::range::MAX_EXPANSION
            ));
        }
        Ok(())
    }

    pub(crate) fn add_child(&mut self, parent: usize, child: usize) {
        if parent != child && !self.groups[parent].children.contains(&child) {
            self.groups[parent].children.push(child);
            self.groups[child].parents.push(parent);
        }
    }

    /// Depth of every group (longest path from `all`), failing on cycles.
    pub(crate) fn depths(&self, file: &Path) -> Result<Vec<usize>, InventoryError> {
        let mut depth = vec![usize::MAX; self.groups.len()];
        let mut state = vec![0u8; self.groups.len()]; // 0 new, 1 visiting, 2 done
        for g in 0..self.groups.len() {
            self.depth_of(g, &mut depth, &mut state, file)?;
        }
        Ok(depth)
    }

    fn depth_of(
        &self,
        g: usize,
        depth: &mut [usize],
        state: &mut [u8],
        file: &Path,
    ) -> Result<usize, InventoryError> {
        match state[g] {
            2 => return Ok(depth[g]),
            1 => {
                return Err(InventoryError::file(
                    file,
                    ErrorKind::InvalidValue,
                    format!(
                        "group `{}` is its own ancestor (children cycle)",
                        self.groups[g].name
                    ),
                ))
            }
            _ => {}
        }
        state[g] = 1;
        let d = if g == ALL {
            0
        } else {
            let mut d = 1;
            for &p in &self.groups[g].parents {
                d = d.max(self.depth_of(p, depth, state, file)? + 1);
            }
            d
        };
        state[g] = 2;
        depth[g] = d;
        Ok(d)
    }

    /// Every ancestor of `g` (not `all`), nearest first.
    pub(crate) fn ancestors(&self, g: usize, out: &mut Vec<usize>) {
        for &p in &self.groups[g].parents {
            if p != ALL && !out.contains(&p) {
                out.push(p);
                self.ancestors(p, out);
            }
        }
    }
}

/// Resolves every host in order and hands `(name, groups, vars)` to `f`,
/// where groups are direct groups then ancestors (without `all` and
/// `ungrouped`) and vars borrow from the model. Each host's own vars are
/// freed once it is resolved, so the model shrinks as devices grow.
pub(crate) fn resolve(
    mut model: Model,
    file: &Path,
    mut f: impl FnMut(&str, Vec<String>, &HashMap<&str, &Var>) -> Result<(), InventoryError>,
) -> Result<(), InventoryError> {
    let depth = model.depths(file)?;
    let priority: Vec<i64> = model
        .groups
        .iter()
        .map(|g| {
            g.vars
                .iter()
                .rev()
                .find(|(k, _)| k == "ansible_group_priority")
                .and_then(|(_, v)| v.value.trim().parse().ok())
                .unwrap_or(1)
        })
        .collect();
    let mut ancestors_memo: HashMap<usize, Vec<usize>> = HashMap::new();
    let hosts = std::mem::take(&mut model.hosts);
    for mut h in hosts {
        let mut groups: Vec<usize> = std::mem::take(&mut h.groups);
        if groups.is_empty() {
            groups.push(UNGROUPED);
        }
        let direct = groups.len();
        for i in 0..direct {
            let anc = ancestors_memo.entry(groups[i]).or_insert_with(|| {
                let mut v = Vec::new();
                model.ancestors(groups[i], &mut v);
                v
            });
            for &a in anc.iter() {
                if !groups.contains(&a) {
                    groups.push(a);
                }
            }
        }
        let mut order = groups.clone();
        order.sort_by(|&a, &b| {
            (depth[a], priority[a], &model.groups[a].name).cmp(&(
                depth[b],
                priority[b],
                &model.groups[b].name,
            ))
        });
        // Ansible's order (VARIABLE_PRECEDENCE, then host vars): inventory
        // `all` vars, inventory group vars, group_vars/all, group_vars/<g>,
        // inventory host vars, host_vars/<host>; groups by depth, then
        // ansible_group_priority, then name; later wins.
        let mut vars: HashMap<&str, &Var> = HashMap::with_capacity(16);
        let sorted = || std::iter::once(&ALL).chain(order.iter());
        for &g in sorted() {
            for (k, v) in &model.groups[g].vars {
                vars.insert(k.as_str(), v);
            }
        }
        for &g in sorted() {
            for (k, v) in &model.groups[g].file_vars {
                vars.insert(k.as_str(), v);
            }
        }
        for (k, v) in h.vars.iter().chain(&h.file_vars) {
            vars.insert(k.as_str(), v);
        }
        let names = groups
            .iter()
            .filter(|&&g| g != ALL && g != UNGROUPED)
            .map(|&g| model.groups[g].name.clone())
            .collect();
        f(&h.name, names, &vars)?;
    }
    Ok(())
}
