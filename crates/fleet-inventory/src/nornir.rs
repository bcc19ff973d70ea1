//! Nornir SimpleInventory: `hosts.yaml`, with `groups.yaml` and
//! `defaults.yaml` beside it, resolved with Nornir's inheritance (host, then
//! each group depth-first through its own groups, then defaults).

use crate::client_defaults::fill_gaps;
use crate::error::{ErrorKind, InventoryError};
use crate::hostport::parse_user_host_port;
use crate::inventory::{Inventory, Origins};
use crate::secrets::{normalize_platform, Secrets};
use crate::suggest::did_you_mean;
use crate::yaml::{self, err_at, pos};
use crate::ytree::Mapping;
use crate::ytree::{Node, Reader};
use fleet_proto::{Auth, Device, JumpHost, Secret};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

const KEYS: &[&str] = &[
    "hostname",
    "port",
    "username",
    "password",
    "platform",
    "groups",
    "data",
    "connection_options",
];
const CONN_KEYS: &[&str] = &[
    "hostname", "port", "username", "password", "platform", "extras",
];
/// CLI connection plugins whose options fleet honours, in order of
/// preference. `netconf` (and any other) options are not for the CLI
/// session fleet opens: their port or username never apply.
const PLUGINS: &[&str] = &["netmiko", "scrapli", "napalm", "paramiko"];
const JUMP_EXTRAS: &[&str] = &["jump_host", "proxy_jump", "ProxyJump", "jump_hosts"];

/// Base attributes shared by hosts, groups, defaults and connection options.
#[derive(Debug, Clone, Default)]
struct Attrs {
    hostname: Option<String>,
    port: Option<u16>,
    username: Option<String>,
    password: Option<Secret>,
    platform: Option<String>,
    /// `file:line` of each field set here, when sources are tracked.
    src: Vec<(&'static str, String)>,
}

impl Attrs {
    fn src(&self, field: &str) -> Option<&String> {
        self.src.iter().find(|(f, _)| *f == field).map(|(_, at)| at)
    }
}

#[derive(Debug, Clone, Default)]
struct ConnOpts {
    attrs: Attrs,
    jump: Option<Vec<JumpHost>>,
    /// The enable secret: netmiko `extras.secret`, scrapli
    /// `extras.auth_secondary`, napalm `extras.optional_args.secret`.
    secret: Option<Secret>,
    /// `file:line` of the secret and of the jump hosts (when tracked).
    secret_src: Option<String>,
    jump_src: Option<String>,
}

/// `(line, column)` of a value, for errors raised after parsing.
type LineCol = (Option<usize>, Option<usize>);

/// A host, a group or the defaults, as written.
#[derive(Debug, Clone, Default)]
struct Entity {
    attrs: Attrs,
    groups: Vec<(String, LineCol)>,
    data: Vec<(String, String)>,
    /// `file:line` of each `data` value, same order (when tracked).
    data_src: Vec<String>,
    conn: Vec<(String, ConnOpts)>,
}

struct Parser<'a> {
    file: &'a Path,
    secrets: &'a mut Secrets,
    /// Record `file:line` of every value ([`crate::LoadOptions::sources`]).
    sources: bool,
}

impl Parser<'_> {
    /// `file:line` of `node`, if sources are tracked.
    fn at(&self, node: &Node) -> Option<String> {
        self.sources.then(|| {
            format!(
                "{}:{}",
                self.file.display(),
                pos(node.span()).0.unwrap_or(0)
            )
        })
    }

    fn entity(
        &mut self,
        map: &Mapping,
        what: &str,
        groups_ok: bool,
    ) -> Result<Entity, InventoryError> {
        let mut e = Entity::default();
        for (key, node) in map.iter() {
            let k = key.as_str();
            if yaml::is_null(node) {
                continue;
            }
            match k {
                "groups" if groups_ok => {
                    let list = match node {
                        Node::Sequence(seq) => seq.iter().collect::<Vec<_>>(),
                        other => vec![other],
                    };
                    for g in list {
                        let name = yaml::string(self.file, g, "groups")?;
                        e.groups.push((name, pos(g.span())));
                    }
                }
                "data" => {
                    let m = yaml::mapping(self.file, node, "data")?;
                    for (k, v) in m.iter().filter(|(_, v)| !yaml::is_null(v)) {
                        e.data.push((k.as_str().to_owned(), yaml::stringify(v)));
                        if let Some(at) = self.at(v) {
                            e.data_src.push(at);
                        }
                    }
                }
                "connection_options" => {
                    let m = yaml::mapping(self.file, node, "connection_options")?;
                    for (plugin, opts) in m.iter() {
                        if yaml::is_null(opts) {
                            continue;
                        }
                        let om = yaml::mapping(self.file, opts, plugin.as_str())?;
                        e.conn.push((
                            plugin.as_str().to_owned(),
                            self.conn_opts(om, plugin.as_str())?,
                        ));
                    }
                }
                _ if KEYS.contains(&k) && k != "groups" => self.attr(k, node, &mut e.attrs)?,
                _ => self.secrets.warn_once(
                    format!("nornir-key:{k}"),
                    format!(
                        "{}:{}: field `{k}`: ignored (Nornir ignores it too) in {what}{}",
                        self.file.display(),
                        pos(key.span()).0.unwrap_or(0),
                        did_you_mean(k, KEYS)
                    ),
                ),
            }
        }
        Ok(e)
    }

    fn attr(&mut self, k: &str, node: &Node, a: &mut Attrs) -> Result<(), InventoryError> {
        if let Some(at) = self.at(node) {
            if let Some(f) = KEYS.iter().find(|f| **f == k) {
                a.src.push((f, at));
            }
        }
        match k {
            "hostname" => a.hostname = Some(yaml::string(self.file, node, "hostname")?),
            "port" => a.port = Some(yaml::port(self.file, node, "port")?),
            "username" => a.username = Some(yaml::string(self.file, node, "username")?),
            "platform" => {
                let raw = yaml::string(self.file, node, "platform")?;
                a.platform = Some(normalize_platform(&raw, self.secrets))
            }
            "password" => {
                let s = yaml::scalar(self.file, node, "password")?;
                a.password = Some(self.secrets.plaintext(self.file, "password", s.as_str()));
            }
            _ => {}
        }
        Ok(())
    }

    fn conn_opts(&mut self, map: &Mapping, plugin: &str) -> Result<ConnOpts, InventoryError> {
        yaml::check_keys(
            self.file,
            map,
            CONN_KEYS,
            &format!("connection_options.{plugin}"),
        )?;
        let mut c = ConnOpts::default();
        for (key, node) in map.iter() {
            if yaml::is_null(node) {
                continue;
            }
            match key.as_str() {
                "extras" => {
                    let extras = yaml::mapping(self.file, node, "extras")?;
                    let napalm = extras
                        .get_node("optional_args")
                        .filter(|n| !yaml::is_null(n))
                        .map(|n| yaml::mapping(self.file, n, "optional_args"))
                        .transpose()?
                        .and_then(|m| m.get_node("secret"));
                    let secret = [
                        ("secret", extras.get_node("secret")),
                        ("auth_secondary", extras.get_node("auth_secondary")),
                        ("optional_args.secret", napalm),
                    ]
                    .into_iter()
                    .find_map(|(k, n)| n.filter(|n| !yaml::is_null(n)).map(|n| (k, n)));
                    if let Some((k, n)) = secret {
                        let s = yaml::scalar(self.file, n, k)?;
                        let field = format!("connection_options.{plugin}.extras.{k}");
                        c.secret = Some(self.secrets.plaintext(self.file, &field, s.as_str()));
                        c.secret_src = self.at(n);
                    }
                    for name in JUMP_EXTRAS {
                        if let Some(j) = extras.get_node(name).filter(|n| !yaml::is_null(n)) {
                            c.jump = Some(self.jumps(j, name)?);
                            c.jump_src = self.at(j);
                        }
                    }
                }
                k => self.attr(k, node, &mut c.attrs)?,
            }
        }
        Ok(c)
    }

    fn jumps(&mut self, node: &Node, field: &str) -> Result<Vec<JumpHost>, InventoryError> {
        match node {
            Node::Sequence(seq) => seq.iter().map(|n| self.jump(n, field)).collect(),
            other => Ok(vec![self.jump(other, field)?]),
        }
    }

    fn jump(&mut self, node: &Node, field: &str) -> Result<JumpHost, InventoryError> {
        let bad = |m: String| {
            err_at(
                self.file,
                node.span(),
                Some(field),
                ErrorKind::InvalidValue,
                m,
            )
        };
        match node {
            Node::Scalar(s) => {
                let (user, host, port) = parse_user_host_port(s.as_str()).map_err(bad)?;
                Ok(JumpHost {
                    host,
                    port: port.unwrap_or(22),
                    username: user.unwrap_or_default(),
                    auth: Vec::new(),
                })
            }
            Node::Mapping(m) => {
                yaml::check_keys(
                    self.file,
                    m,
                    &["hostname", "host", "port", "username", "password"],
                    &field,
                )?;
                let mut a = Attrs::default();
                let mut host = None;
                for (k, v) in m.iter() {
                    match k.as_str() {
                        "host" | "hostname" => host = Some(yaml::string(self.file, v, field)?),
                        other => self.attr(other, v, &mut a)?,
                    }
                }
                Ok(JumpHost {
                    host: host.ok_or_else(|| bad("a jump host needs a `hostname`".to_owned()))?,
                    port: a.port.unwrap_or(22),
                    username: a.username.unwrap_or_default(),
                    auth: a.password.map(Auth::Password).into_iter().collect(),
                })
            }
            Node::Sequence(_) => Err(bad("nested lists are not allowed".to_owned())),
        }
    }
}

/// `groups.yaml` / `groups.yml` beside the hosts file, if present.
fn sibling(dir: &Path, stem: &str) -> Option<PathBuf> {
    ["yaml", "yml"]
        .iter()
        .map(|ext| dir.join(format!("{stem}.{ext}")))
        .find(|p| p.is_file())
}

fn read_yaml(path: &Path) -> Result<Mapping, InventoryError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InventoryError::file(path, ErrorKind::Io, format!("failed to read: {e}")))?;
    yaml::parse(path, text.strip_prefix('\u{feff}').unwrap_or(&text))
}

/// Loads a Nornir `hosts.yaml` text read from `file`.
pub(crate) fn load(
    text: &str,
    file: &Path,
    opts: &crate::LoadOptions,
) -> Result<Inventory, InventoryError> {
    let dir = file.parent().unwrap_or(Path::new("."));
    let mut secrets = Secrets::default();

    // Syntax errors in hosts.yaml are reported before anything else.
    let mut reader = Reader::new(file, text, false)?;
    let groups_file = sibling(dir, "groups");
    let mut groups: Vec<(String, Entity)> = Vec::new();
    if let Some(gf) = &groups_file {
        let gm = read_yaml(gf)?;
        let mut p = Parser {
            file: gf,
            secrets: &mut secrets,
            sources: opts.sources,
        };
        for (name, node) in gm.iter() {
            let e = if yaml::is_null(node) {
                Entity::default()
            } else {
                let what = format!("group `{}`", name.as_str());
                p.entity(yaml::mapping(gf, node, name.as_str())?, &what, true)?
            };
            groups.push((name.as_str().to_owned(), e));
        }
    }
    let defaults = match sibling(dir, "defaults") {
        Some(df) => {
            let dm = read_yaml(&df)?;
            let mut p = Parser {
                file: &df,
                secrets: &mut secrets,
                sources: opts.sources,
            };
            p.entity(&dm, "defaults", false)?
        }
        None => Entity::default(),
    };

    let index: HashMap<&str, usize> = groups
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (n.as_str(), i))
        .collect();
    let groups_path = groups_file
        .clone()
        .unwrap_or_else(|| dir.join("groups.yaml"));
    // Depth-first lineage of every group (itself, then its groups' lineages).
    let mut lineage: Vec<Option<Vec<usize>>> = vec![None; groups.len()];
    for i in 0..groups.len() {
        let mut stack = Vec::new();
        compute_lineage(i, &groups, &index, &mut lineage, &mut stack, &groups_path)?;
    }

    // Hosts are resolved as they are read: a 100k-host file is never held
    // as a tree.
    let mut devices = Vec::new();
    let mut origins = BTreeMap::new();
    while let Some(name) = reader.next_key()? {
        let node = reader.value()?;
        let host = if yaml::is_null(&node) {
            Entity::default()
        } else {
            let what = format!("host `{}`", name.as_str());
            let mut p = Parser {
                file,
                secrets: &mut secrets,
                sources: opts.sources,
            };
            p.entity(yaml::mapping(file, &node, name.as_str())?, &what, true)?
        };
        let name = name.as_str();
        let mut layers: Vec<&Entity> = vec![&host];
        let mut all_groups: Vec<String> = host.groups.iter().map(|(g, _)| g.clone()).collect();
        for (g, (line, column)) in &host.groups {
            let gi = index.get(g.as_str()).ok_or_else(|| {
                InventoryError::at(
                    file,
                    *line,
                    *column,
                    Some("groups"),
                    ErrorKind::InvalidValue,
                    format!(
                        "host `{name}` is in group `{g}`, which {} does not define",
                        groups_path.display()
                    ),
                )
            })?;
            for &j in lineage[*gi].iter().flatten() {
                layers.push(&groups[j].1);
                if !all_groups.contains(&groups[j].0) {
                    all_groups.push(groups[j].0.clone());
                }
            }
        }
        layers.push(&defaults);
        let (mut d, o) = resolve(name, &layers, all_groups, opts.sources);
        if let Some(o) = o {
            origins.insert(d.name.clone(), o);
        }
        fill_gaps(&mut d, &mut secrets);
        devices.push(d);
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

fn compute_lineage(
    i: usize,
    groups: &[(String, Entity)],
    index: &HashMap<&str, usize>,
    memo: &mut Vec<Option<Vec<usize>>>,
    stack: &mut Vec<usize>,
    file: &Path,
) -> Result<Vec<usize>, InventoryError> {
    if let Some(l) = &memo[i] {
        return Ok(l.clone());
    }
    if stack.contains(&i) {
        let cycle: Vec<&str> = stack
            .iter()
            .chain([&i])
            .map(|&k| groups[k].0.as_str())
            .collect();
        return Err(InventoryError::file(
            file,
            ErrorKind::InvalidValue,
            format!("group cycle: {}", cycle.join(" -> ")),
        ));
    }
    stack.push(i);
    let mut out = vec![i];
    for (g, (line, column)) in &groups[i].1.groups {
        let j = *index.get(g.as_str()).ok_or_else(|| {
            InventoryError::at(
                file,
                *line,
                *column,
                Some("groups"),
                ErrorKind::InvalidValue,
                format!(
                    "group `{}` is in group `{g}`, which is not defined",
                    groups[i].0
                ),
            )
        })?;
        out.extend(compute_lineage(j, groups, index, memo, stack, file)?);
    }
    stack.pop();
    memo[i] = Some(out.clone());
    Ok(out)
}

/// `groups`: the host's groups then their parent groups (each once), so
/// `--limit group:<parent>` selects it. With `sources`, also where each
/// field came from.
fn resolve(
    name: &str,
    layers: &[&Entity],
    groups: Vec<String>,
    sources: bool,
) -> (Device, Option<Origins>) {
    // The nearest layer that configures a known plugin picks it (netmiko
    // preferred over scrapli, ... within one layer); its options then
    // inherit through all layers like any attribute.
    let plugin = layers
        .iter()
        .find_map(|l| PLUGINS.iter().find(|p| l.conn.iter().any(|(n, _)| n == *p)));
    let conns: Vec<&ConnOpts> = match plugin {
        Some(p) => layers
            .iter()
            .filter_map(|l| l.conn.iter().find(|(n, _)| n == *p).map(|(_, c)| c))
            .collect(),
        None => Vec::new(),
    };
    // The plugin's options first, then the base attributes; with the
    // attributes block that set the value (for its source).
    let pick = |f: &dyn Fn(&Attrs) -> bool| -> Option<&Attrs> {
        conns
            .iter()
            .map(|c| &c.attrs)
            .chain(layers.iter().map(|l| &l.attrs))
            .find(|a| f(a))
    };
    let hostname = pick(&|a| a.hostname.is_some());
    let port = pick(&|a| a.port.is_some());
    let username = pick(&|a| a.username.is_some());
    let password = pick(&|a| a.password.is_some());
    let platform = pick(&|a| a.platform.is_some());
    let mut d = Device::new(
        name,
        hostname
            .and_then(|a| a.hostname.clone())
            .unwrap_or_else(|| name.to_owned()),
        port.and_then(|a| a.port).unwrap_or(22),
    );
    d.username = username
        .and_then(|a| a.username.clone())
        .unwrap_or_default();
    if let Some(pw) = password.and_then(|a| a.password.clone()) {
        d.auth.push(Auth::Password(pw));
    }
    d.platform = platform.and_then(|a| a.platform.clone());
    let secret = conns.iter().find(|c| c.secret.is_some());
    d.enable_secret = secret.and_then(|c| c.secret.clone());
    d.groups = groups;
    let mut data = BTreeMap::new();
    for l in layers.iter().rev() {
        for (k, v) in &l.data {
            data.insert(k.clone(), v.clone());
        }
    }
    d.data = data;
    let jump = conns.iter().find(|c| c.jump.is_some());
    if let Some(hops) = jump.and_then(|c| c.jump.as_ref()) {
        d.jump = hops.clone();
    }
    if !sources {
        return (d, None);
    }
    let mut o = Origins::new();
    for (field, key, attrs) in [
        ("host", "hostname", hostname),
        ("port", "port", port),
        ("username", "username", username),
        ("password", "password", password),
        ("platform", "platform", platform),
    ] {
        if let Some(at) = attrs.and_then(|a| a.src(key)) {
            o.insert(field.to_owned(), at.clone());
        }
    }
    if let Some(at) = secret.and_then(|c| c.secret_src.clone()) {
        o.insert("enable_secret".to_owned(), at);
    }
    if let Some(at) = jump.and_then(|c| c.jump_src.clone()) {
        o.insert("jump".to_owned(), at);
    }
    for l in layers.iter().rev() {
        for ((k, _), at) in l.data.iter().zip(&l.data_src) {
            o.insert(format!("data.{k}"), at.clone());
        }
    }
    (d, Some(o))
}
