//! Turning a host's resolved Ansible variables into a fleet `Device`.

use super::model::Var;
use crate::client_defaults::fill_gaps;
use crate::error::{chain, ErrorKind, InventoryError};
use crate::hostport::parse_user_host_port;
use crate::secrets::{normalize_platform, resolve_path, Loc, SecretSource, Secrets};
use crate::yaml::parse_port;
use fleet_proto::{Auth, Device, JumpHost, Mode, Secret};
use std::collections::HashMap;
use std::path::Path;

/// Variables fleet maps to device fields (the rest become `data`).
pub(crate) const MAPPED: &[&str] = &[
    "ansible_host",
    "ansible_ssh_host",
    "ansible_port",
    "ansible_ssh_port",
    "ansible_user",
    "ansible_ssh_user",
    "ansible_password",
    "ansible_ssh_pass",
    "ansible_ssh_password",
    "ansible_ssh_private_key_file",
    "ansible_private_key_file",
    "ansible_network_os",
    "ansible_connection",
    "ansible_ssh_common_args",
    "ansible_ssh_extra_args",
    "ansible_become",
    "ansible_become_method",
    "ansible_become_password",
    "ansible_become_pass",
    "ansible_group_priority",
];

/// `ansible_connection` values fleet serves (CLI over SSH).
const SSH_CONNECTIONS: &[&str] = &[
    "ssh",
    "smart",
    "paramiko",
    "paramiko_ssh",
    "network_cli",
    "libssh",
];

/// What a variable's value turned out to be once templates are looked at.
enum Value<'a> {
    /// Plain text as written.
    Text(&'a str),
    /// `{{ lookup('env', 'NAME') }}`: the master's environment variable.
    Env(String),
}

/// Recognises `{{ lookup('env', 'NAME') }}` (also `ansible.builtin.env`,
/// either quote); any other `{{ }}` / `{% %}` is an error naming file and
/// line, because fleet does not evaluate Jinja.
fn value<'a>(key: &str, v: &'a Var) -> Result<Value<'a>, InventoryError> {
    let raw = v.value.trim();
    if !(raw.contains("{{") || raw.contains("{%")) {
        return Ok(Value::Text(&v.value));
    }
    let env = raw
        .strip_prefix("{{")
        .and_then(|r| r.strip_suffix("}}"))
        .map(str::trim)
        .and_then(|r| r.strip_prefix("lookup("))
        .and_then(|r| r.strip_suffix(')'))
        .and_then(|args| {
            let parts: Vec<&str> = args.split(',').map(str::trim).collect();
            let unq = |s: &str| {
                s.strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| s.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
                    .map(str::to_owned)
            };
            match parts.as_slice() {
                [plugin, name] => {
                    let plugin = unq(plugin)?;
                    let name = unq(name)?;
                    let ok = (plugin == "env" || plugin == "ansible.builtin.env")
                        && !name.is_empty()
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                    ok.then_some(name)
                }
                _ => None,
            }
        });
    match env {
        Some(name) => Ok(Value::Env(name)),
        None => Err(InventoryError::at(
            &v.file,
            v.line,
            v.column,
            Some(key),
            ErrorKind::InvalidValue,
            "fleet does not evaluate Jinja templates; the one form it reads is `{{ lookup('env', 'NAME') }}`",
        )),
    }
}

/// Ansible's booleans ([`crate::vocab::parse_bool`]); an empty value is
/// false, as in Ansible.
fn boolean(key: &str, v: &Var) -> Result<bool, InventoryError> {
    if v.value.trim().is_empty() {
        return Ok(false);
    }
    crate::vocab::parse_bool(&v.value).map_err(|m| {
        InventoryError::at(
            &v.file,
            v.line,
            v.column,
            Some(key),
            ErrorKind::InvalidValue,
            m,
        )
    })
}

/// A device Ansible would reach by other means than CLI over SSH: fleet
/// leaves it out of the run and says so.
#[derive(Debug)]
pub(crate) struct Unsupported {
    /// `ansible_connection` as written.
    pub connection: String,
    /// Where it was set, `file:line`.
    pub at: String,
}

pub(crate) use crate::inventory::Origins;

/// Builds the device for host `name` from its resolved variables, with
/// where each field came from; `Ok(Err)` for a host whose
/// `ansible_connection` fleet cannot serve.
pub(crate) fn device(
    name: &str,
    groups: Vec<String>,
    vars: &HashMap<&str, &Var>,
    secrets: &mut Secrets,
    become_password: Option<&Secret>,
) -> Result<Result<(Device, Origins), Unsupported>, InventoryError> {
    let mut origins = Origins::new();
    let mut note = |field: &str, v: &Var| {
        let how = if v.vault { " (vault)" } else { "" };
        origins.insert(
            field.to_owned(),
            format!("{}:{}{how}", v.file.display(), v.line.unwrap_or(0)),
        );
    };
    let get = |keys: &[&'static str]| -> Option<(&'static str, &Var)> {
        keys.iter().find_map(|k| vars.get(*k).map(|v| (*k, *v)))
    };
    let err = |field: &str, v: &Var, kind, msg: String| {
        InventoryError::at(&v.file, v.line, v.column, Some(field), kind, msg)
    };
    let loc = |k: &'static str,
               v: &Var|
     -> (
        std::path::PathBuf,
        Option<usize>,
        Option<usize>,
        &'static str,
    ) { (v.file.to_path_buf(), v.line, v.column, k) };
    // A plain (non-secret) value: text, or an env lookup read as text.
    let text = |k: &'static str, v: &Var| -> Result<String, InventoryError> {
        match value(k, v)? {
            Value::Text(t) => Ok(t.to_owned()),
            Value::Env(n) => std::env::var(&n).map_err(|_| {
                err(
                    k,
                    v,
                    ErrorKind::Secret,
                    format!("environment variable `{n}` is not set"),
                )
            }),
        }
    };
    // A secret value: vault, env lookup, or plaintext (warned about).
    let secret = |k: &'static str,
                  v: &Var,
                  secrets: &mut Secrets|
     -> Result<Option<Secret>, InventoryError> {
        if v.vault {
            return Ok(Some(Secret::new(v.value.clone())));
        }
        match value(k, v)? {
            Value::Text("") => Ok(None),
            Value::Text(t) => Ok(Some(secrets.plaintext(&v.file, k, t))),
            Value::Env(n) => {
                let (file, line, column, field) = loc(k, v);
                let l = Loc {
                    file: &file,
                    line,
                    column,
                    field,
                };
                secrets.read(&SecretSource::Env(n), l).map(Some)
            }
        }
    };

    if let Some((k, v)) = get(&["ansible_connection"]) {
        let c = text(k, v)?;
        let short = c.rsplit('.').next().unwrap_or("").to_owned();
        if !SSH_CONNECTIONS.contains(&short.as_str()) {
            return Ok(Err(Unsupported {
                connection: c,
                at: format!("{}:{}", v.file.display(), v.line.unwrap_or(0)),
            }));
        }
    }
    let host = match get(&["ansible_host", "ansible_ssh_host"]) {
        Some((k, v)) => {
            note("host", v);
            text(k, v)?
        }
        None => name.to_owned(),
    };
    let port = match get(&["ansible_port", "ansible_ssh_port"]) {
        Some((k, v)) => {
            note("port", v);
            parse_port(&text(k, v)?).map_err(|m| err(k, v, ErrorKind::InvalidValue, m))?
        }
        None => 22,
    };
    let mut d = Device::new(name, host, port);
    d.groups = groups;
    d.username = match get(&["ansible_user", "ansible_ssh_user"]) {
        Some((k, v)) => {
            note("username", v);
            text(k, v)?
        }
        None => String::new(),
    };
    if let Some((k, v)) = get(&["ansible_ssh_private_key_file", "ansible_private_key_file"]) {
        note("key_file", v);
        let base = v.file.parent().unwrap_or(Path::new("."));
        let raw = text(k, v)?;
        let path =
            resolve_path(base, &raw).map_err(|e| err(k, v, ErrorKind::InvalidValue, chain(&e)))?;
        let (file, line, column, field) = loc(k, v);
        secrets.check_key_file(
            &path,
            Loc {
                file: &file,
                line,
                column,
                field,
            },
        )?;
        d.auth.push(Auth::KeyFile {
            path,
            passphrase: None,
        });
    }
    if let Some((k, v)) = get(&[
        "ansible_password",
        "ansible_ssh_pass",
        "ansible_ssh_password",
    ]) {
        if let Some(s) = secret(k, v, secrets)? {
            note("password", v);
            d.auth.push(Auth::Password(s));
        }
    }
    // Become: `enable` only when ansible_become is true, as Ansible does.
    let become_on = match get(&["ansible_become"]) {
        Some((k, v)) => boolean(k, v)?,
        None => false,
    };
    if let Some((k, v)) = get(&["ansible_become_method"]) {
        let m = text(k, v)?;
        let short = m.rsplit('.').next().unwrap_or("");
        if become_on && short != "enable" {
            return Err(err(
                k,
                v,
                ErrorKind::InvalidValue,
                format!("become method `{m}` is not supported (fleet's network CLIs use `enable`)"),
            ));
        }
    }
    let become_pw = get(&["ansible_become_password", "ansible_become_pass"]);
    let mut from_prompt = false;
    match (become_on, become_pw) {
        (true, Some((k, v))) => {
            note("enable_secret", v);
            if let Some((_, b)) = get(&["ansible_become"]) {
                note("become", b);
            }
            d.enable_secret = secret(k, v, secrets)?
        }
        (true, None) if become_password.is_some() => {
            if let Some((_, b)) = get(&["ansible_become"]) {
                note("become", b);
            }
            from_prompt = true;
            d.enable_secret = become_password.cloned();
        }
        (true, None) => secrets.warn_once(
            format!("become-nopw:{}", d.name),
            format!("host `{}`: ansible_become is true but no ansible_become_password is set; fleet sends `enable` only with a secret", d.name),
        ),
        (false, Some((k, v))) => secrets.warn_once(
            "become-off".to_owned(),
            format!(
                "{}:{}: field `{k}`: set, but ansible_become is not true for some hosts (first: `{}`); no `enable` for them, as in Ansible",
                v.file.display(),
                v.line.unwrap_or(0),
                d.name
            ),
        ),
        (false, None) => {}
    }
    if let Some((k, v)) = get(&["ansible_network_os"]) {
        note("platform", v);
        d.platform = Some(normalize_platform(&text(k, v)?, secrets));
    }
    if let Some((k, v)) = get(&["ansible_connection"]) {
        if text(k, v)?.rsplit('.').next() == Some("network_cli") {
            note("mode", v);
            d.mode = Some(Mode::Shell);
        }
    }
    for key in ["ansible_ssh_common_args", "ansible_ssh_extra_args"] {
        if let Some(v) = vars.get(key).copied() {
            let args = text(key, v)?;
            let hops = proxy_jump(&args).map_err(|m| err(key, v, ErrorKind::InvalidValue, m))?;
            if !hops.is_empty() {
                note("jump", v);
                d.jump = hops;
                break;
            }
        }
    }
    for (k, v) in vars {
        // Secrets from a vault never become data (data is printed).
        if !MAPPED.contains(k) && !v.vault {
            note(&format!("data.{k}"), v);
            d.data.insert((*k).to_owned(), v.value.clone());
        }
    }
    if from_prompt {
        origins.insert(
            "enable_secret".to_owned(),
            "prompt (--ask-become-pass)".to_owned(),
        );
    }
    fill_gaps(&mut d, secrets);
    Ok(Ok((d, origins)))
}

/// Hops from `-o ProxyJump=a,b`, `-J a,b` or
/// `-o ProxyCommand="ssh -W %h:%p [-p port] user@host"` in ssh arguments.
/// (Crate-private: `Err` is a message the caller wraps at once with file,
/// line and field.)
pub(crate) fn proxy_jump(args: &str) -> Result<Vec<JumpHost>, String> {
    let words =
        super::ini::split_words(args).map_err(|m| format!("failed to split ssh arguments: {m}"))?;
    let mut spec: Option<String> = None;
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        let next = words.get(i + 1);
        let opt = if w == "-o" {
            i += 1;
            next.cloned()
        } else {
            w.strip_prefix("-o")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        if let Some(opt) = opt {
            let (k, v) = opt
                .split_once('=')
                .or_else(|| opt.split_once(' '))
                .unwrap_or((&opt, ""));
            if k.eq_ignore_ascii_case("ProxyJump") {
                spec = Some(v.trim().to_owned());
            } else if k.eq_ignore_ascii_case("ProxyCommand") {
                spec = proxy_command(v).or(spec);
            }
        } else if w == "-J" {
            spec = next.cloned();
            i += 1;
        } else if let Some(v) = w.strip_prefix("-J") {
            spec = Some(v.to_owned());
        }
        i += 1;
    }
    let Some(spec) = spec else {
        return Ok(Vec::new());
    };
    if spec.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    spec.split(',')
        .map(|hop| {
            let (user, host, port) = parse_user_host_port(hop.trim())?;
            Ok(JumpHost {
                host,
                port: port.unwrap_or(22),
                username: user.unwrap_or_default(),
                auth: Vec::new(),
            })
        })
        .collect()
}

/// `ssh -W %h:%p [-p port] [-q] user@host` as a `user@host:port` spec.
fn proxy_command(cmd: &str) -> Option<String> {
    let words = super::ini::split_words(cmd).ok()?;
    if words.first().map(String::as_str) != Some("ssh") || !words.iter().any(|w| w == "-W") {
        return None;
    }
    let mut port = None;
    let mut target = None;
    let mut i = 1;
    while i < words.len() {
        match words[i].as_str() {
            "-p" => {
                port = words.get(i + 1).cloned();
                i += 1;
            }
            "-W" | "-i" | "-l" | "-o" | "-F" => i += 1,
            w if w.starts_with('-') => {}
            w => target = Some(w.to_owned()),
        }
        i += 1;
    }
    let target = target?;
    Some(match port {
        Some(p) => format!("{target}:{p}"),
        None => target,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proxy_jump_forms() {
        let j = proxy_jump("-o ProxyJump=jump@127.0.0.1:2222").unwrap();
        assert_eq!(
            (j[0].username.as_str(), j[0].host.as_str(), j[0].port),
            ("jump", "127.0.0.1", 2222)
        );
        let j = proxy_jump("-o StrictHostKeyChecking=no -J a@h1,b@h2:2200").unwrap();
        assert_eq!(j.len(), 2);
        assert_eq!((j[1].host.as_str(), j[1].port), ("h2", 2200));
        let j = proxy_jump("-o ProxyCommand=\"ssh -W %h:%p -q -p 2022 ops@bastion\"").unwrap();
        assert_eq!(
            (j[0].username.as_str(), j[0].host.as_str(), j[0].port),
            ("ops", "bastion", 2022)
        );
        assert!(proxy_jump("-o Compression=yes").unwrap().is_empty());
        assert!(proxy_jump("-o ProxyJump=u@h:0").is_err());
    }
}
