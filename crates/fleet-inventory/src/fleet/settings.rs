//! Parsing one block of settings (`defaults`, a group, a device) from
//! YAML nodes, keeping where each value was written.

use crate::error::{chain, ErrorKind, InventoryError};
use crate::hostport::parse_user_host_port;
use crate::secrets::{resolve_path, Loc, SecretSource};
use crate::vocab::{self, DEVICE_KEYS, JUMP_KEYS, SETTING_KEYS};
use crate::yaml::{self, err_at, pos};
use crate::ytree::Mapping;
use crate::ytree::{Node, Span};
use fleet_proto::{Mode, Transport};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(super) const TOP_KEYS: &[&str] = &[
    "version",
    "known_hosts",
    "host_key_check",
    "defaults",
    "groups",
    "devices",
];

/// Where a value was written: for errors raised after parsing (secrets,
/// key files, validation).
#[derive(Debug, Clone, Copy)]
pub(super) struct At {
    pub(super) line: Option<usize>,
    pub(super) column: Option<usize>,
    pub(super) field: &'static str,
}

impl At {
    pub(super) fn new(span: &Span, field: &'static str) -> Self {
        let (line, column) = pos(span);
        At {
            line,
            column,
            field,
        }
    }

    pub(super) fn loc<'a>(&self, file: &'a Path) -> Loc<'a> {
        Loc {
            file,
            line: self.line,
            column: self.column,
            field: self.field,
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Val<T> {
    pub(super) v: T,
    pub(super) at: At,
}

/// A jump host as written, before secrets are read.
#[derive(Debug, Clone)]
pub(super) struct JumpSpec {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) username: Option<String>,
    pub(super) creds: Creds,
}

/// Credential fields as written in one block.
#[derive(Debug, Clone, Default)]
pub(super) struct Creds {
    pub(super) password: Option<Val<SecretSource>>,
    pub(super) key_file: Option<Val<PathBuf>>,
    pub(super) key_passphrase: Option<Val<SecretSource>>,
    pub(super) agent: Option<Val<bool>>,
}

impl Creds {
    fn is_empty(&self) -> bool {
        self.password.is_none()
            && self.key_file.is_none()
            && self.key_passphrase.is_none()
            && self.agent.is_none()
    }
}

/// One block of settings (`defaults`, a group or a device).
#[derive(Debug, Clone, Default)]
pub(super) struct Settings {
    pub(super) username: Option<Val<String>>,
    pub(super) creds: Creds,
    pub(super) port: Option<Val<u16>>,
    pub(super) platform: Option<Val<String>>,
    pub(super) commands: Option<Val<Vec<String>>>,
    pub(super) transport: Option<Val<Transport>>,
    pub(super) mode: Option<Val<Mode>>,
    pub(super) connect_timeout: Option<Val<Duration>>,
    pub(super) command_timeout: Option<Val<Duration>>,
    pub(super) session_timeout: Option<Val<Duration>>,
    pub(super) enable_secret: Option<Val<SecretSource>>,
    pub(super) jump: Option<Val<Vec<JumpSpec>>>,
    /// Free-form `data` keys, each with where it was written.
    pub(super) data: Vec<(String, Val<String>)>,
}

impl Settings {
    /// Sets nothing: a device with such settings resolves from its groups
    /// and the defaults alone.
    pub(super) fn is_empty(&self) -> bool {
        // Destructured so that a new field cannot be forgotten here.
        let Settings {
            username,
            creds,
            port,
            platform,
            commands,
            transport,
            mode,
            connect_timeout,
            command_timeout,
            session_timeout,
            enable_secret,
            jump,
            data,
        } = self;
        username.is_none()
            && creds.is_empty()
            && port.is_none()
            && platform.is_none()
            && commands.is_none()
            && transport.is_none()
            && mode.is_none()
            && connect_timeout.is_none()
            && command_timeout.is_none()
            && session_timeout.is_none()
            && enable_secret.is_none()
            && jump.is_none()
            && data.is_empty()
    }
}

pub(super) struct Ctx<'a> {
    pub(super) file: &'a Path,
    pub(super) base: &'a Path,
}

impl Ctx<'_> {
    pub(super) fn path(
        &self,
        node: &Node,
        field: &'static str,
    ) -> Result<Val<PathBuf>, InventoryError> {
        let s = yaml::scalar(self.file, node, field)?;
        let p = resolve_path(self.base, s.as_str()).map_err(|e| {
            err_at(
                self.file,
                s.span(),
                Some(field),
                ErrorKind::InvalidValue,
                chain(&e),
            )
        })?;
        Ok(Val {
            v: p,
            at: At::new(s.span(), field),
        })
    }

    pub(super) fn secret(
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
    pub(super) fn cred(
        &self,
        key: &str,
        node: &Node,
        creds: &mut Creds,
    ) -> Result<bool, InventoryError> {
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
            "agent" => creds.agent = Some(self.parsed(node, "agent", vocab::parse_bool)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    pub(super) fn settings(
        &self,
        map: &Mapping,
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
        let allowed: &[&str] = if device { &DEVICE_KEYS } else { &SETTING_KEYS };
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
                    s.transport = Some(self.parsed(node, "transport", vocab::parse_transport)?)
                }
                "mode" => s.mode = Some(self.parsed(node, "mode", vocab::parse_mode)?),
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

    pub(super) fn enum_value<T: Copy>(
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

    /// A scalar parsed by one of [`vocab`]'s parsers, errors at its span.
    fn parsed<T>(
        &self,
        node: &Node,
        field: &'static str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Val<T>, InventoryError> {
        let s = yaml::scalar(self.file, node, field)?;
        let v = parse(s.as_str())
            .map_err(|m| err_at(self.file, s.span(), Some(field), ErrorKind::InvalidValue, m))?;
        Ok(Val {
            v,
            at: At::new(s.span(), field),
        })
    }

    pub(super) fn duration(
        &self,
        node: &Node,
        field: &'static str,
    ) -> Result<Val<Duration>, InventoryError> {
        self.parsed(node, field, vocab::parse_duration)
    }

    pub(super) fn data(&self, node: &Node) -> Result<Vec<(String, Val<String>)>, InventoryError> {
        let map = yaml::mapping(self.file, node, "data")?;
        let mut out = Vec::with_capacity(map.len());
        for (k, v) in map.iter() {
            let v = match v {
                Node::Scalar(s) => Val {
                    v: s.as_str().to_owned(),
                    at: At::new(s.span(), "data"),
                },
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

    pub(super) fn jumps(&self, node: &Node) -> Result<Vec<JumpSpec>, InventoryError> {
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

    pub(super) fn jump(&self, node: &Node) -> Result<JumpSpec, InventoryError> {
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
                yaml::check_keys(self.file, map, &JUMP_KEYS, &"jump_host")?;
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

/// `[user@]host[:port]`, with `[v6addr]:port` for IPv6.
///
/// Crate-private: the `String` error is a message fragment that the caller
/// wraps at once in an [`InventoryError`](crate::InventoryError) with file, line and field.
pub(super) fn parse_jump_str(raw: &str) -> Result<JumpSpec, String> {
    let (username, host, port) = parse_user_host_port(raw)?;
    Ok(JumpSpec {
        host,
        port: port.unwrap_or(22),
        username,
        creds: Creds::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
