//! Ansible inventories (INI and YAML) share one model: groups with hosts,
//! children and vars, resolved with Ansible's variable precedence
//! (all < parent groups < child groups < host; same depth by
//! `ansible_group_priority`, then name).

mod ini;
mod model;
mod range;
mod vars;
mod yaml;

pub(crate) use ini::load as load_ini;
pub(crate) use yaml::load as load_yaml;
