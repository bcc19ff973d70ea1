//! Turning a host's resolved Ansible variables into a fleet `Device`.

use super::model::Var;
use crate::error::{ErrorKind, InventoryError};
use crate::finish::fill_gaps;
use crate::secrets::{normalize_platform, resolve_path, Loc, Secrets};
use crate::values::parse_user_host_port;
use crate::yaml::parse_port;
use fleet_proto::{Auth, Device, JumpHost, Mode};
use std::collections::HashMap;
use std::path::Path;

/// Variables fleet maps to device fields (the rest become `data`).
const MAPPED: &[&str] = &[
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
    "ansible_become_password",
    "ansible_become_pass",
    "ansible_group_priority",
];

fn is_template(v: &str) -> bool {
    v.contains("{{") || v.contains("{%")
}

/// Builds the device for host `name` from its resolved variables.
pub(crate) fn device(
    file: &Path,
    name: &str,
    groups: Vec<String>,
    vars: &HashMap<&str, &Var>,
    secrets: &mut Secrets,
) -> Result<Device, InventoryError> {
    let get = |keys: &[&'static str]| -> Option<(&'static str, &Var)> {
        keys.iter().find_map(|k| vars.get(*k).map(|v| (*k, *v)))
    };
    let err = |field: &str, v: &Var, kind, msg: String| {
        InventoryError::at(file, v.line, v.column, Some(field), kind, msg)
    };
    for (k, v) in vars {
        if is_template(&v.value) && MAPPED.contains(k) {
            secrets.warn_once(
                format!("tmpl:{k}"),
                format!(
                    "{}:{}: field `{k}`: Jinja templates are not evaluated by fleet{}",
                    file.display(),
                    v.line.unwrap_or(0),
                    if k.contains("pass") {
                        "; the value is ignored"
                    } else {
                        "; the text is used as is"
                    }
                ),
            );
        }
    }

    let host = get(&["ansible_host", "ansible_ssh_host"])
        .map(|(_, v)| v.value.clone())
        .unwrap_or_else(|| name.to_owned());
    let port = match get(&["ansible_port", "ansible_ssh_port"]) {
        Some((k, v)) => parse_port(&v.value).map_err(|m| err(k, v, ErrorKind::InvalidValue, m))?,
        None => 22,
    };
    let mut d = Device::new(name, host, port);
    d.groups = groups;
    d.username = get(&["ansible_user", "ansible_ssh_user"])
        .map(|(_, v)| v.value.clone())
        .unwrap_or_default();
    if let Some((k, v)) = get(&["ansible_ssh_private_key_file", "ansible_private_key_file"]) {
        let base = file.parent().unwrap_or(Path::new("."));
        let path =
            resolve_path(base, &v.value).map_err(|m| err(k, v, ErrorKind::InvalidValue, m))?;
        let loc = Loc {
            file,
            line: v.line,
            column: v.column,
            field: k,
        };
        secrets.check_key_file(&path, loc)?;
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
        if !is_template(&v.value) && !v.value.is_empty() {
            d.auth
                .push(Auth::Password(secrets.plaintext(file, k, &v.value)));
        }
    }
    if let Some((k, v)) = get(&["ansible_become_password", "ansible_become_pass"]) {
        if !is_template(&v.value) && !v.value.is_empty() {
            d.enable_secret = Some(secrets.plaintext(file, k, &v.value));
        }
    }
    d.platform = get(&["ansible_network_os"]).map(|(_, v)| normalize_platform(&v.value));
    if let Some((_, v)) = get(&["ansible_connection"]) {
        let c = v.value.rsplit('.').next().unwrap_or("");
        if c == "network_cli" {
            d.mode = Some(Mode::Shell);
        }
    }
    for key in ["ansible_ssh_common_args", "ansible_ssh_extra_args"] {
        if let Some(v) = vars.get(key).copied() {
            let hops = proxy_jump(&v.value).map_err(|m| err(key, v, ErrorKind::InvalidValue, m))?;
            if !hops.is_empty() {
                d.jump = hops;
                break;
            }
        }
    }
    for (k, v) in vars {
        if !MAPPED.contains(k) {
            d.data.insert((*k).to_owned(), v.value.clone());
        }
    }
    fill_gaps(&mut d, secrets);
    Ok(d)
}

/// Hops from `-o ProxyJump=a,b`, `-J a,b` or
/// `-o ProxyCommand="ssh -W %h:%p [-p port] user@host"` in ssh arguments.
pub(crate) fn proxy_jump(args: &str) -> Result<Vec<JumpHost>, String> {
    let words =
        super::ini::split_words(args).map_err(|m| format!("cannot split ssh arguments: {m}"))?;
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
