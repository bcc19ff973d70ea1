//! Turning the layers of settings that apply to a device (device, its
//! groups, defaults) into a `Device`, reading secrets on the way.

use super::settings::{At, Creds, Settings, Val};
use crate::error::{ErrorKind, InventoryError};
use crate::inventory::Origins;
use crate::secrets::Secrets;
use fleet_proto::{Auth, Device, JumpHost, Timeouts, Transport};
use std::collections::BTreeMap;
use std::path::Path;

/// The first layer's value, in precedence order.
fn first<'a, T>(
    layers: &[&'a Settings],
    f: impl Fn(&'a Settings) -> Option<&'a T>,
) -> Option<&'a T> {
    layers.iter().find_map(|l| f(l))
}

/// Credentials in the order they are offered: key file, agent, password;
/// each slot from the first layer that sets it.
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

/// Builds the device from its layers (device, groups in listed order,
/// defaults); fails if it ends without username or credentials.
// Each argument is one resolved piece of the device; a struct would only
// rename them at the single call site.
#[allow(clippy::too_many_arguments)]
pub(super) fn resolve(
    file: &Path,
    name: String,
    host: String,
    groups: Vec<String>,
    layers: &[&Settings],
    device_at: At,
    secrets: &mut Secrets,
    password_prompted: bool,
) -> Result<Device, InventoryError> {
    let transport = first(layers, |l| l.transport.as_ref()).map_or(Transport::Ssh, |v| v.v);
    let default_port = crate::vocab::default_port(transport);
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
        if auth.is_empty() && transport == Transport::Ssh && !password_prompted {
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
            data.insert(k.clone(), v.v.clone());
        }
    }
    Ok(Device {
        name,
        host,
        port: first(layers, |l| l.port.as_ref()).map_or(default_port, |v| v.v),
        username,
        auth,
        platform: first(layers, |l| l.platform.as_ref())
            .map(|v| crate::secrets::normalize_platform(&v.v, secrets)),
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
        placeholders: Default::default(),
    })
}

/// Where each field of a device came from (`file:line` of the layer that
/// set it); fields left to their defaults are absent. Secrets appear only
/// as the place that names them (`password` -> where `password_env` is).
pub(super) fn origins(file: &Path, host: Option<At>, layers: &[&Settings]) -> Origins {
    let mut o = Origins::new();
    let mut note = |field: &str, at: Option<At>| {
        if let Some(at) = at {
            o.insert(
                field.to_owned(),
                format!("{}:{}", file.display(), at.line.unwrap_or(0)),
            );
        }
    };
    fn at<T>(v: Option<&Val<T>>) -> Option<At> {
        v.map(|v| v.at)
    }
    note("host", host);
    note("port", at(first(layers, |l| l.port.as_ref())));
    note("transport", at(first(layers, |l| l.transport.as_ref())));
    note("username", at(first(layers, |l| l.username.as_ref())));
    note("password", at(first(layers, |l| l.creds.password.as_ref())));
    note("key_file", at(first(layers, |l| l.creds.key_file.as_ref())));
    note("agent", at(first(layers, |l| l.creds.agent.as_ref())));
    note(
        "enable_secret",
        at(first(layers, |l| l.enable_secret.as_ref())),
    );
    note("platform", at(first(layers, |l| l.platform.as_ref())));
    note("mode", at(first(layers, |l| l.mode.as_ref())));
    note("jump", at(first(layers, |l| l.jump.as_ref())));
    note("commands", at(first(layers, |l| l.commands.as_ref())));
    note(
        "connect_timeout",
        at(first(layers, |l| l.connect_timeout.as_ref())),
    );
    note(
        "command_timeout",
        at(first(layers, |l| l.command_timeout.as_ref())),
    );
    note(
        "session_timeout",
        at(first(layers, |l| l.session_timeout.as_ref())),
    );
    // Data merges key by key, device winning: the first layer per key.
    for l in layers.iter().rev() {
        for (k, v) in &l.data {
            note(&format!("data.{k}"), Some(v.at));
        }
    }
    o
}
