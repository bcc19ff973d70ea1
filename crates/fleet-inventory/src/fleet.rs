//! fleet's own YAML format (see `docs/inventory.md`), walked by hand over
//! `marked_yaml` nodes so every error names file, line, column and field.

use crate::error::{ErrorKind, InventoryError};
use crate::inventory::Inventory;
use crate::secrets::{resolve_path, Loc, SecretSource, Secrets};
use crate::yaml::{self, err_at, pos};
use crate::ytree::Mapping as MarkedMappingNode;
use crate::ytree::{Node, Reader, Span};
use fleet_proto::{Auth, Device, HostKeyCheck, JumpHost, Mode, Timeouts, Transport};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

const TOP_KEYS: &[&str] = &[
    "version",
    "known_hosts",
    "host_key_check",
    "defaults",
    "groups",
    "devices",
];

/// Keys allowed in `defaults`, in each group and on each device.
const SETTING_KEYS: &[&str] = &[
    "username",
    "password_env",
    "password_file",
    "key_file",
    "key_passphrase_env",
    "key_passphrase_file",
    "agent",
    "port",
    "platform",
    "commands",
    "transport",
    "mode",
    "connect_timeout",
    "command_timeout",
    "session_timeout",
    "enable_secret_env",
    "enable_secret_file",
    "jump_host",
    "data",
];

/// Keys a device may have: its own (`name`, `host`, `groups`), then the
/// settings keys.
const DEVICE_ALL_KEYS: &[&str] = &[
    "name",
    "host",
    "groups",
    "username",
    "password_env",
    "password_file",
    "key_file",
    "key_passphrase_env",
    "key_passphrase_file",
    "agent",
    "port",
    "platform",
    "commands",
    "transport",
    "mode",
    "connect_timeout",
    "command_timeout",
    "session_timeout",
    "enable_secret_env",
    "enable_secret_file",
    "jump_host",
    "data",
];

const JUMP_KEYS: &[&str] = &[
    "host",
    "port",
    "username",
    "password_env",
    "password_file",
    "key_file",
    "key_passphrase_env",
    "key_passphrase_file",
    "agent",
];

/// Where a value was written: for errors raised after parsing (secrets,
/// key files, validation).
#[derive(Debug, Clone, Copy)]
struct At {
    line: Option<usize>,
    column: Option<usize>,
    field: &'static str,
}

impl At {
    fn new(span: &Span, field: &'static str) -> Self {
        let (line, column) = pos(span);
        At {
            line,
            column,
            field,
        }
    }

    fn loc<'a>(&self, file: &'a Path) -> Loc<'a> {
        Loc {
            file,
            line: self.line,
            column: self.column,
            field: self.field,
        }
    }
}

#[derive(Debug, Clone)]
struct Val<T> {
    v: T,
    at: At,
}

/// A jump host as written, before secrets are read.
#[derive(Debug, Clone)]
struct JumpSpec {
    host: String,
    port: u16,
    username: Option<String>,
    creds: Creds,
}

/// Credential fields as written in one block.
#[derive(Debug, Clone, Default)]
struct Creds {
    password: Option<Val<SecretSource>>,
    key_file: Option<Val<PathBuf>>,
    key_passphrase: Option<Val<SecretSource>>,
    agent: Option<Val<bool>>,
}

/// One block of settings (`defaults`, a group or a device).
#[derive(Debug, Clone, Default)]
struct Settings {
    username: Option<Val<String>>,
    creds: Creds,
    port: Option<Val<u16>>,
    platform: Option<Val<String>>,
    commands: Option<Val<Vec<String>>>,
    transport: Option<Val<Transport>>,
    mode: Option<Val<Mode>>,
    connect_timeout: Option<Val<Duration>>,
    command_timeout: Option<Val<Duration>>,
    session_timeout: Option<Val<Duration>>,
    enable_secret: Option<Val<SecretSource>>,
    jump: Option<Val<Vec<JumpSpec>>>,
    data: Vec<(String, String)>,
}

struct Ctx<'a> {
    file: &'a Path,
    base: &'a Path,
}

impl Ctx<'_> {
    fn path(&self, node: &Node, field: &'static str) -> Result<Val<PathBuf>, InventoryError> {
        let s = yaml::scalar(self.file, node, field)?;
        let p = resolve_path(self.base, s.as_str())
            .map_err(|m| err_at(self.file, s.span(), Some(field), ErrorKind::InvalidValue, m))?;
        Ok(Val {
            v: p,
            at: At::new(s.span(), field),
        })
    }

    fn secret(
        &self,
        node: &Node,
        field: &'static str,
        slot: &mut Option<Val<SecretSource>>,
        other: &'static str,
    ) -> Result<(), InventoryError> {
        if slot.is_some() {
            return Err(err_at(
                self.file,
                node.span(),
                Some(field),
                ErrorKind::InvalidValue,
                format!("`{field}` and `{other}` are mutually exclusive"),
            ));
        }
        let src = if field.ends_with("_env") {
            SecretSource::Env(yaml::string(self.file, node, field)?)
        } else {
            SecretSource::File(self.path(node, field)?.v)
        };
        *slot = Some(Val {
            v: src,
            at: At::new(node.span(), field),
        });
        Ok(())
    }

    /// Parses a credential key into `creds`; false if `key` is not one.
    fn cred(&self, key: &str, node: &Node, creds: &mut Creds) -> Result<bool, InventoryError> {
        match key {
            "password_env" => {
                self.secret(node, "password_env", &mut creds.password, "password_file")?
            }
            "password_file" => {
                self.secret(node, "password_file", &mut creds.password, "password_env")?
            }
            "key_passphrase_env" => self.secret(
                node,
                "key_passphrase_env",
                &mut creds.key_passphrase,
                "key_passphrase_file",
            )?,
            "key_passphrase_file" => self.secret(
                node,
                "key_passphrase_file",
                &mut creds.key_passphrase,
                "key_passphrase_env",
            )?,
            "key_file" => creds.key_file = Some(self.path(node, "key_file")?),
            "agent" => {
                creds.agent = Some(Val {
                    v: yaml::boolean(self.file, node, "agent")?,
                    at: At::new(node.span(), "agent"),
                })
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn settings(
        &self,
        map: &MarkedMappingNode,
        what: &dyn std::fmt::Display,
        device: bool,
    ) -> Result<Settings, InventoryError> {
        for key in map.keys() {
            let k = key.as_str();
            if k == "password" || k == "enable_secret" || k == "key_passphrase" {
                return Err(err_at(
                    self.file,
                    key.span(),
                    Some(k),
                    ErrorKind::UnknownField,
                    format!("plaintext secrets are not accepted in fleet YAML; use `{k}_env` or `{k}_file`"),
                ));
            }
        }
        let allowed = if device {
            DEVICE_ALL_KEYS
        } else {
            SETTING_KEYS
        };
        yaml::check_keys(self.file, map, allowed, what)?;
        let mut s = Settings::default();
        for (key, node) in map.iter() {
            if yaml::is_null(node) {
                continue;
            }
            let k = key.as_str();
            if self.cred(k, node, &mut s.creds)? {
                continue;
            }
            let at = |field| At::new(node.span(), field);
            match k {
                "username" => {
                    s.username = Some(Val {
                        v: yaml::string(self.file, node, "username")?,
                        at: at("username"),
                    })
                }
                "port" => {
                    s.port = Some(Val {
                        v: yaml::port(self.file, node, "port")?,
                        at: at("port"),
                    })
                }
                "platform" => {
                    s.platform = Some(Val {
                        v: yaml::string(self.file, node, "platform")?,
                        at: at("platform"),
                    })
                }
                "commands" => {
                    s.commands = Some(Val {
                        v: yaml::string_list(self.file, node, "commands")?,
                        at: at("commands"),
                    })
                }
                "transport" => {
                    s.transport = Some(Val {
                        v: self.transport(node)?,
                        at: at("transport"),
                    })
                }
                "mode" => {
                    s.mode = Some(Val {
                        v: self.mode(node)?,
                        at: at("mode"),
                    })
                }
                "connect_timeout" => {
                    s.connect_timeout = Some(self.duration(node, "connect_timeout")?)
                }
                "command_timeout" => {
                    s.command_timeout = Some(self.duration(node, "command_timeout")?)
                }
                "session_timeout" => {
                    s.session_timeout = Some(self.duration(node, "session_timeout")?)
                }
                "enable_secret_env" => self.secret(
                    node,
                    "enable_secret_env",
                    &mut s.enable_secret,
                    "enable_secret_file",
                )?,
                "enable_secret_file" => self.secret(
                    node,
                    "enable_secret_file",
                    &mut s.enable_secret,
                    "enable_secret_env",
                )?,
                "jump_host" => {
                    s.jump = Some(Val {
                        v: self.jumps(node)?,
                        at: at("jump_host"),
                    })
                }
                "data" => s.data = self.data(node)?,
                _ => {} // device-only keys, handled by the caller
            }
        }
        Ok(s)
    }

    fn enum_value<T: Copy>(
        &self,
        node: &Node,
        field: &str,
        choices: &[(&str, T)],
    ) -> Result<T, InventoryError> {
        let s = yaml::scalar(self.file, node, field)?;
        let v = s.as_str().to_ascii_lowercase().replace('_', "-");
        choices
            .iter()
            .find(|(n, _)| *n == v)
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
                err_at(
                    self.file,
                    s.span(),
                    Some(field),
                    ErrorKind::InvalidValue,
                    format!(
                        "invalid value `{}` (expected {})",
                        s.as_str(),
                        names.join(", ")
                    ),
                )
            })
    }

    fn transport(&self, node: &Node) -> Result<Transport, InventoryError> {
        self.enum_value(
            node,
            "transport",
            &[
                ("ssh", Transport::Ssh),
                ("telnet", Transport::Telnet),
                ("noop", Transport::Noop),
            ],
        )
    }

    fn mode(&self, node: &Node) -> Result<Mode, InventoryError> {
        self.enum_value(
            node,
            "mode",
            &[("exec", Mode::Exec), ("shell", Mode::Shell)],
        )
    }

    fn duration(&self, node: &Node, field: &'static str) -> Result<Val<Duration>, InventoryError> {
        let s = yaml::scalar(self.file, node, field)?;
        let d = parse_duration(s.as_str())
            .map_err(|m| err_at(self.file, s.span(), Some(field), ErrorKind::InvalidValue, m))?;
        Ok(Val {
            v: d,
            at: At::new(s.span(), field),
        })
    }

    fn data(&self, node: &Node) -> Result<Vec<(String, String)>, InventoryError> {
        let map = yaml::mapping(self.file, node, "data")?;
        let mut out = Vec::with_capacity(map.len());
        for (k, v) in map.iter() {
            let v = match v {
                Node::Scalar(s) => s.as_str().to_owned(),
                other => {
                    return Err(err_at(
                        self.file,
                        other.span(),
                        Some(&format!("data.{}", k.as_str())),
                        ErrorKind::InvalidValue,
                        "data values must be strings, numbers or booleans",
                    ))
                }
            };
            out.push((k.as_str().to_owned(), v));
        }
        Ok(out)
    }

    fn jumps(&self, node: &Node) -> Result<Vec<JumpSpec>, InventoryError> {
        match node {
            Node::Sequence(seq) => {
                if seq.is_empty() {
                    return Err(err_at(
                        self.file,
                        seq.span(),
                        Some("jump_host"),
                        ErrorKind::InvalidValue,
                        "empty list of jump hosts",
                    ));
                }
                seq.iter().map(|n| self.jump(n)).collect()
            }
            other => Ok(vec![self.jump(other)?]),
        }
    }

    fn jump(&self, node: &Node) -> Result<JumpSpec, InventoryError> {
        match node {
            Node::Scalar(s) => parse_jump_str(s.as_str()).map_err(|m| {
                err_at(
                    self.file,
                    s.span(),
                    Some("jump_host"),
                    ErrorKind::InvalidValue,
                    m,
                )
            }),
            Node::Sequence(seq) => Err(err_at(
                self.file,
                seq.span(),
                Some("jump_host"),
                ErrorKind::InvalidValue,
                "nested lists are not allowed; list the hops first to last",
            )),
            Node::Mapping(map) => {
                yaml::check_keys(self.file, map, JUMP_KEYS, &"jump_host")?;
                let mut spec = JumpSpec {
                    host: String::new(),
                    port: 22,
                    username: None,
                    creds: Creds::default(),
                };
                for (key, v) in map.iter() {
                    if yaml::is_null(v) {
                        continue;
                    }
                    match key.as_str() {
                        "host" => spec.host = yaml::string(self.file, v, "jump_host.host")?,
                        "port" => spec.port = yaml::port(self.file, v, "jump_host.port")?,
                        "username" => {
                            spec.username = Some(yaml::string(self.file, v, "jump_host.username")?)
                        }
                        k => {
                            self.cred(k, v, &mut spec.creds)?;
                        }
                    }
                }
                if spec.host.is_empty() {
                    return Err(err_at(
                        self.file,
                        map.span(),
                        Some("jump_host.host"),
                        ErrorKind::MissingField,
                        "a jump host needs a `host`",
                    ));
                }
                Ok(spec)
            }
        }
    }
}

/// `5s`, `1m 30s`, `250ms` (humantime), or a bare number of seconds.
pub(crate) fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let d = match raw.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => humantime::parse_duration(raw)
            .map_err(|e| format!("invalid duration `{raw}`: {e} (examples: 5s, 1m30s, 250ms)"))?,
    };
    if d.is_zero() {
        return Err(format!(
            "invalid duration `{raw}`: must be greater than zero"
        ));
    }
    Ok(d)
}

/// `[user@]host[:port]`, with `[v6addr]:port` for IPv6.
fn parse_jump_str(raw: &str) -> Result<JumpSpec, String> {
    let (username, host, port) = parse_user_host_port(raw)?;
    Ok(JumpSpec {
        host,
        port: port.unwrap_or(22),
        username,
        creds: Creds::default(),
    })
}

/// Splits `[user@]host[:port]` (`[v6addr]:port` for IPv6).
pub(crate) fn parse_user_host_port(
    raw: &str,
) -> Result<(Option<String>, String, Option<u16>), String> {
    let (user, rest) = match raw.rsplit_once('@') {
        Some((u, r)) if !u.is_empty() => (Some(u.to_owned()), r),
        Some(_) => return Err(format!("invalid jump host `{raw}`: empty user name")),
        None => (None, raw),
    };
    let (host, port) =
        split_host_port(rest).map_err(|m| format!("invalid jump host `{raw}`: {m}"))?;
    Ok((user, host, port))
}

/// Splits `host[:port]` / `[v6]:port`.
pub(crate) fn split_host_port(rest: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or("unclosed `[`")?;
        match after.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if after.is_empty() => (h, None),
            None => return Err(format!("unexpected `{after}` after `]`")),
        }
    } else if rest.matches(':').count() == 1 {
        let (h, p) = rest.split_once(':').ok_or("missing port")?;
        (h, Some(p))
    } else {
        (rest, None)
    };
    if host.is_empty() {
        return Err("empty host".to_owned());
    }
    let port = port.map(crate::yaml::parse_port).transpose()?;
    Ok((host.to_owned(), port))
}

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
}

impl Builder<'_> {
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
        let device = resolve(
            file,
            name.clone(),
            host,
            group_names,
            &layers,
            device_at,
            &mut self.secrets,
        )?;
        self.seen.insert(name, here);
        self.devices.push(device);
        Ok(())
    }
}

/// Loads fleet YAML text read from `file`.
pub(crate) fn load(text: &str, file: &Path) -> Result<Inventory, InventoryError> {
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
                let b = builder.get_or_insert_with(|| Builder {
                    ctx: Ctx { file, base },
                    defaults: std::mem::take(&mut defaults),
                    groups: std::mem::take(&mut groups),
                    secrets: Secrets::default(),
                    seen: HashMap::new(),
                    devices: Vec::new(),
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
    let mut b = builder.unwrap_or_else(|| Builder {
        ctx: Ctx { file, base },
        defaults,
        groups,
        secrets: Secrets::default(),
        seen: HashMap::new(),
        devices: Vec::new(),
    });
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
    })
}

fn first<'a, T>(
    layers: &[&'a Settings],
    f: impl Fn(&'a Settings) -> Option<&'a T>,
) -> Option<&'a T> {
    layers.iter().find_map(|l| f(l))
}

fn auth_from(
    file: &Path,
    creds: &[&Creds],
    secrets: &mut Secrets,
) -> Result<Vec<Auth>, InventoryError> {
    let mut auth = Vec::new();
    if let Some(k) = creds.iter().find_map(|c| c.key_file.as_ref()) {
        secrets.check_key_file(&k.v, k.at.loc(file))?;
        let passphrase = match creds.iter().find_map(|c| c.key_passphrase.as_ref()) {
            Some(p) => Some(secrets.read(&p.v, p.at.loc(file))?),
            None => None,
        };
        auth.push(Auth::KeyFile {
            path: k.v.clone(),
            passphrase,
        });
    }
    if creds
        .iter()
        .find_map(|c| c.agent.as_ref())
        .is_some_and(|a| a.v)
    {
        auth.push(Auth::Agent);
    }
    if let Some(p) = creds.iter().find_map(|c| c.password.as_ref()) {
        auth.push(Auth::Password(secrets.read(&p.v, p.at.loc(file))?));
    }
    Ok(auth)
}

fn resolve(
    file: &Path,
    name: String,
    host: String,
    groups: Vec<String>,
    layers: &[&Settings],
    device_at: At,
    secrets: &mut Secrets,
) -> Result<Device, InventoryError> {
    let transport = first(layers, |l| l.transport.as_ref()).map_or(Transport::Ssh, |v| v.v);
    let default_port = if transport == Transport::Telnet {
        23
    } else {
        22
    };
    let creds: Vec<&Creds> = layers.iter().map(|l| &l.creds).collect();
    let auth = auth_from(file, &creds, secrets)?;
    let username = first(layers, |l| l.username.as_ref()).map(|v| v.v.clone());
    let device_err = |field: &str, kind, msg: String| {
        InventoryError::at(
            file,
            device_at.line,
            device_at.column,
            Some(field),
            kind,
            msg,
        )
    };
    if transport != Transport::Noop {
        if username.is_none() {
            return Err(device_err(
                "username",
                ErrorKind::MissingField,
                format!("device `{name}` has no username (set `username` on the device, one of its groups or `defaults`)"),
            ));
        }
        if auth.is_empty() && transport == Transport::Ssh {
            return Err(device_err(
                "credentials",
                ErrorKind::MissingCredentials,
                format!("device `{name}` has no credentials (set `password_env`, `password_file`, `key_file` or `agent: true` on the device, one of its groups or `defaults`)"),
            ));
        }
    }
    let username = username.unwrap_or_default();
    let mut jump = Vec::new();
    if let Some(hops) = first(layers, |l| l.jump.as_ref()) {
        for hop in &hops.v {
            let own = auth_from(file, &[&hop.creds], secrets)?;
            jump.push(JumpHost {
                host: hop.host.clone(),
                port: hop.port,
                username: hop.username.clone().unwrap_or_else(|| username.clone()),
                auth: if own.is_empty() { auth.clone() } else { own },
            });
        }
    }
    let enable_secret = match first(layers, |l| l.enable_secret.as_ref()) {
        Some(s) => Some(secrets.read(&s.v, s.at.loc(file))?),
        None => None,
    };
    let mut data = BTreeMap::new();
    for l in layers.iter().rev() {
        for (k, v) in &l.data {
            data.insert(k.clone(), v.clone());
        }
    }
    Ok(Device {
        name,
        host,
        port: first(layers, |l| l.port.as_ref()).map_or(default_port, |v| v.v),
        username,
        auth,
        platform: first(layers, |l| l.platform.as_ref()).map(|v| v.v.clone()),
        commands: first(layers, |l| l.commands.as_ref())
            .map(|v| v.v.clone())
            .unwrap_or_default(),
        groups,
        data,
        transport,
        mode: first(layers, |l| l.mode.as_ref()).map(|v| v.v),
        jump,
        timeouts: Timeouts {
            connect: first(layers, |l| l.connect_timeout.as_ref()).map(|v| v.v),
            command: first(layers, |l| l.command_timeout.as_ref()).map(|v| v.v),
            session: first(layers, |l| l.session_timeout.as_ref()).map(|v| v.v),
        },
        enable_secret,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_keys_are_device_only_keys_plus_settings() {
        assert_eq!(&DEVICE_ALL_KEYS[3..], SETTING_KEYS);
    }

    #[test]
    fn detects_devices_last() {
        assert!(devices_come_last(
            "defaults: {}\ngroups: {}\ndevices:\n  - a\n"
        ));
        assert!(devices_come_last("\"devices\":\n  - a\nknown_hosts: x\n"));
        assert!(!devices_come_last("devices:\n  - a\ngroups: {}\n"));
        assert!(!devices_come_last("{devices: []}"));
    }

    #[test]
    fn parses_jump_strings() {
        let j = parse_jump_str("admin@127.0.0.1:2222").unwrap();
        assert_eq!(
            (j.username.as_deref(), j.host.as_str(), j.port),
            (Some("admin"), "127.0.0.1", 2222)
        );
        let j = parse_jump_str("[::1]:2200").unwrap();
        assert_eq!((j.host.as_str(), j.port), ("::1", 2200));
        let j = parse_jump_str("bastion").unwrap();
        assert_eq!((j.host.as_str(), j.port, j.username), ("bastion", 22, None));
        assert!(parse_jump_str("a@h:99999").is_err());
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("1m 30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("0s").is_err());
    }
}
