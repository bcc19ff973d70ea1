//! CSV inventories: one device per row, a header row naming the columns;
//! unknown columns become `data`.

use crate::client_defaults::fill_gaps;
use crate::error::{ErrorKind, InventoryError};
use crate::hostport::parse_user_host_port;
use crate::inventory::Inventory;
use crate::secrets::{normalize_platform, resolve_path, Loc, SecretSource, Secrets};
use crate::vocab::parse_duration;
use crate::yaml::parse_port;
use fleet_proto::{Auth, Device, JumpHost, Mode, Transport};
use std::collections::HashMap;
use std::path::Path;

/// Columns with a meaning; any other column is free-form data.
const COLUMNS: &[&str] = &[
    "name",
    "host",
    "port",
    "username",
    "platform",
    "groups",
    "password_env",
    "password_file",
    "password",
    "key_file",
    "key_passphrase_env",
    "agent",
    "enable_secret_env",
    "commands",
    "transport",
    "mode",
    "jump_host",
    "connect_timeout",
    "command_timeout",
    "session_timeout",
];

fn delimiter(path: &Path, text: &str) -> u8 {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tsv"))
    {
        return b'\t';
    }
    let header = text
        .lines()
        .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    let count = |c| header.matches(c).count();
    if count(';') > count(',') {
        b';'
    } else if count('\t') > count(',') {
        b'\t'
    } else {
        b','
    }
}

fn split_list(v: &str, seps: &[char]) -> Vec<String> {
    v.split(seps)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Loads CSV text read from `file`.
pub(crate) fn load(text: &str, file: &Path) -> Result<Inventory, InventoryError> {
    let base = file.parent().unwrap_or(Path::new("."));
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter(file, text))
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let csv_err = |e: csv::Error| {
        let line = e.position().map(|p| p.line() as usize);
        let msg = match e.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => {
                format!("row has {len} fields but the header has {expected_len}")
            }
            csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".to_owned(),
            _ => format!("invalid CSV: {e}"),
        };
        InventoryError::at(file, line, None, None, ErrorKind::Syntax, msg)
    };
    let headers: Vec<String> = reader
        .headers()
        .map_err(csv_err)?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    // The header is the first line that is neither blank nor a comment.
    let header_line = text
        .lines()
        .position(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map_or(1, |i| i + 1);
    let mut col: HashMap<&str, usize> = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        if h.is_empty() {
            return Err(InventoryError::at(
                file,
                Some(header_line),
                Some(i + 1),
                None,
                ErrorKind::Syntax,
                format!("column {} has an empty header", i + 1),
            ));
        }
        if col.insert(h.as_str(), i).is_some() {
            return Err(InventoryError::at(
                file,
                Some(header_line),
                Some(i + 1),
                Some(h),
                ErrorKind::Syntax,
                "duplicate column",
            ));
        }
    }
    if !col.contains_key("name") {
        return Err(InventoryError::at(
            file,
            Some(header_line),
            None,
            Some("name"),
            ErrorKind::MissingField,
            format!(
                "the header has no `name` column (found: {})",
                headers.join(", ")
            ),
        ));
    }
    let data_cols: Vec<usize> = (0..headers.len())
        .filter(|i| !COLUMNS.contains(&headers[*i].as_str()))
        .collect();

    let mut secrets = Secrets::default();
    let mut devices = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for rec in reader.records() {
        let rec = rec.map_err(csv_err)?;
        let line = rec.position().map_or(0, |p| p.line() as usize);
        let cell = |name: &str| {
            col.get(name)
                .and_then(|&i| rec.get(i))
                .filter(|v| !v.is_empty())
        };
        let err = |name: &'static str, kind, msg: String| {
            InventoryError::at(
                file,
                Some(line),
                col.get(name).map(|i| i + 1),
                Some(name),
                kind,
                msg,
            )
        };
        let loc = |name: &'static str| Loc {
            file,
            line: Some(line),
            column: col.get(name).map(|i| i + 1),
            field: name,
        };

        let name = cell("name").ok_or_else(|| {
            err(
                "name",
                ErrorKind::MissingField,
                "empty device name".to_owned(),
            )
        })?;
        if let Some(first) = seen.get(name) {
            return Err(err(
                "name",
                ErrorKind::DuplicateName,
                format!("duplicate device name `{name}` (first defined at line {first})"),
            ));
        }
        seen.insert(name.to_owned(), line);
        let transport = match cell("transport") {
            None => Transport::Ssh,
            Some(t) => match t.to_ascii_lowercase().as_str() {
                "ssh" => Transport::Ssh,
                "telnet" => Transport::Telnet,
                "noop" => Transport::Noop,
                _ => {
                    return Err(err(
                        "transport",
                        ErrorKind::InvalidValue,
                        format!("invalid value `{t}` (expected ssh, telnet, noop)"),
                    ))
                }
            },
        };
        let port = match cell("port") {
            Some(p) => parse_port(p).map_err(|m| err("port", ErrorKind::InvalidValue, m))?,
            None if transport == Transport::Telnet => 23,
            None => 22,
        };
        let mut d = Device::new(name, cell("host").unwrap_or(name), port);
        d.transport = transport;
        d.username = cell("username").unwrap_or_default().to_owned();
        d.platform = cell("platform").map(|p| normalize_platform(p, &mut secrets));
        d.groups = cell("groups")
            .map(|g| split_list(g, &[';', '|']))
            .unwrap_or_default();
        d.commands = cell("commands")
            .map(|c| split_list(c, &[';']))
            .unwrap_or_default();
        if let Some(m) = cell("mode") {
            d.mode = Some(match m.to_ascii_lowercase().as_str() {
                "exec" => Mode::Exec,
                "shell" => Mode::Shell,
                _ => {
                    return Err(err(
                        "mode",
                        ErrorKind::InvalidValue,
                        format!("invalid value `{m}` (expected exec, shell)"),
                    ))
                }
            });
        }
        if let Some(k) = cell("key_file") {
            let path =
                resolve_path(base, k).map_err(|m| err("key_file", ErrorKind::InvalidValue, m))?;
            secrets.check_key_file(&path, loc("key_file"))?;
            let passphrase = match cell("key_passphrase_env") {
                Some(v) => Some(
                    secrets.read(&SecretSource::Env(v.to_owned()), loc("key_passphrase_env"))?,
                ),
                None => None,
            };
            d.auth.push(Auth::KeyFile { path, passphrase });
        }
        if let Some(a) = cell("agent") {
            match a.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => d.auth.push(Auth::Agent),
                "false" | "no" | "0" => {}
                _ => {
                    return Err(err(
                        "agent",
                        ErrorKind::InvalidValue,
                        format!("invalid boolean `{a}` (expected true or false)"),
                    ))
                }
            }
        }
        match (
            cell("password_env"),
            cell("password_file"),
            cell("password"),
        ) {
            (Some(v), _, _) => d.auth.push(Auth::Password(
                secrets.read(&SecretSource::Env(v.to_owned()), loc("password_env"))?,
            )),
            (None, Some(f), _) => {
                let path = resolve_path(base, f)
                    .map_err(|m| err("password_file", ErrorKind::InvalidValue, m))?;
                d.auth.push(Auth::Password(
                    secrets.read(&SecretSource::File(path), loc("password_file"))?,
                ));
            }
            (None, None, Some(p)) => d
                .auth
                .push(Auth::Password(secrets.plaintext(file, "password", p))),
            (None, None, None) => {}
        }
        if let Some(v) = cell("enable_secret_env") {
            d.enable_secret =
                Some(secrets.read(&SecretSource::Env(v.to_owned()), loc("enable_secret_env"))?);
        }
        if let Some(j) = cell("jump_host") {
            for hop in split_list(j, &[';', '|']) {
                let (user, host, port) = parse_user_host_port(&hop)
                    .map_err(|m| err("jump_host", ErrorKind::InvalidValue, m))?;
                d.jump.push(JumpHost {
                    host,
                    port: port.unwrap_or(22),
                    username: user.unwrap_or_default(),
                    auth: Vec::new(),
                });
            }
        }
        for (field, slot) in [
            ("connect_timeout", &mut d.timeouts.connect),
            ("command_timeout", &mut d.timeouts.command),
            ("session_timeout", &mut d.timeouts.session),
        ] {
            if let Some(v) = cell(field) {
                *slot =
                    Some(parse_duration(v).map_err(|m| err(field, ErrorKind::InvalidValue, m))?);
            }
        }
        for &i in &data_cols {
            if let Some(v) = rec.get(i).filter(|v| !v.is_empty()) {
                d.data.insert(headers[i].clone(), v.to_owned());
            }
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
        origins: Default::default(),
    })
}
