//! A fully resolved target, as the inventory produced it.

use crate::Secret;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// One device to run against, with everything a worker needs and nothing it
/// must look up (environment variables and secret files are read by the
/// master when it loads the inventory, so workers need no environment).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Device {
    /// Unique name within the inventory; the key of every result and log line.
    pub name: String,
    /// Address or DNS name to connect to.
    pub host: String,
    /// TCP port (22 for SSH, 23 for telnet unless set).
    pub port: u16,
    /// Login user.
    pub username: String,
    /// Credentials, tried in order until one is accepted.
    pub auth: Vec<Auth>,
    /// Platform name (`cisco_ios`, `linux`, ...): picks prompt patterns,
    /// paging commands and the default mode.
    pub platform: Option<String>,
    /// Commands to run, in order, in one session.
    pub commands: Vec<String>,
    /// Groups the device belongs to, for `--limit` and per-group caps.
    pub groups: Vec<String>,
    /// Free-form inventory data, for `--limit data.key=value` and reports.
    pub data: BTreeMap<String, String>,
    /// How to reach the device.
    pub transport: Transport,
    /// Exec channel or interactive shell; `None` means "platform default".
    pub mode: Option<Mode>,
    /// Hops to go through, first to last, before reaching the device.
    pub jump: Vec<JumpHost>,
    /// Per-device timeouts; `None` fields fall back to the run's.
    pub timeouts: Timeouts,
    /// Secret for `enable` on network CLIs.
    pub enable_secret: Option<Secret>,
    /// Values of the `{{ env:NAME }}` / `{{ file:PATH }}` placeholders in
    /// `commands`, keyed by the placeholder as written. The master reads
    /// them; the session puts them on the wire only ([`expand`]) and masks
    /// them in everything it returns ([`Device::mask`]), so results, logs
    /// and run.json only ever show the placeholder.
    #[serde(default)]
    pub placeholders: BTreeMap<String, Secret>,
}

/// What a masked secret looks like in outputs and errors.
pub const MASK: &str = "********";

/// `cmd` with each placeholder replaced by its value: the text to send to
/// the device, never to store or log.
pub fn expand<'a>(cmd: &'a str, placeholders: &BTreeMap<String, Secret>) -> Cow<'a, str> {
    if !cmd.contains("{{") {
        return Cow::Borrowed(cmd);
    }
    let mut out = cmd.to_string();
    for (placeholder, value) in placeholders {
        out = out.replace(placeholder.as_str(), value.expose());
    }
    Cow::Owned(out)
}

impl Device {
    /// The secret values that travel inside the session's text, where a
    /// device may echo them back: the enable secret, placeholder values,
    /// and the password typed at a telnet login. (SSH passwords and key
    /// passphrases never enter the channel, so ordinary output that happens
    /// to contain the same word is left alone.)
    pub fn in_band_secrets(&self) -> Vec<&str> {
        let mut all: Vec<&Secret> = Vec::new();
        if self.transport == Transport::Telnet {
            all.extend(self.auth.iter().filter_map(|a| match a {
                Auth::Password(s) => Some(s),
                _ => None,
            }));
        }
        all.extend(self.enable_secret.iter());
        all.extend(self.placeholders.values());
        all.into_iter().map(Secret::expose).collect()
    }

    /// `text` with every in-band secret of the device (of at least 4
    /// characters: shorter ones would mangle ordinary text) replaced by
    /// [`MASK`]: a device may echo what it was sent. Given a `String`, it
    /// is returned as it is when it holds no secret: a command's output can
    /// be megabytes, and most hold none.
    pub fn mask(&self, text: impl Into<String>) -> String {
        let mut out = text.into();
        let mut values = self.in_band_secrets();
        // Longest first, so a secret containing another is masked whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        for v in values.into_iter().filter(|v| v.chars().count() >= 4) {
            if out.contains(v) {
                out = out.replace(v, MASK);
            }
        }
        out
    }
}

impl Device {
    /// A device with the given name and address and no credentials; the
    /// remaining fields take their defaults. Handy for tests and generators.
    pub fn new(name: impl Into<String>, host: impl Into<String>, port: u16) -> Self {
        Device {
            name: name.into(),
            host: host.into(),
            port,
            username: String::new(),
            auth: Vec::new(),
            platform: None,
            commands: Vec::new(),
            groups: Vec::new(),
            data: BTreeMap::new(),
            transport: Transport::Ssh,
            mode: None,
            jump: Vec::new(),
            timeouts: Timeouts::default(),
            enable_secret: None,
            placeholders: BTreeMap::new(),
        }
    }

    /// `host:port` as fleet prints it ([`host_port`]).
    pub fn address(&self) -> String {
        host_port(&self.host, self.port)
    }
}

/// `host:port` for people and logs, with brackets around an IPv6 address
/// (`[2001:db8::1]:22`) so the port cannot be read as part of it.
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// One way to authenticate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Auth {
    /// Password authentication (and keyboard-interactive with one prompt).
    Password(Secret),
    /// A private key file, optionally encrypted.
    KeyFile {
        /// Path to the private key.
        path: PathBuf,
        /// Passphrase for an encrypted key.
        passphrase: Option<Secret>,
    },
    /// Keys held by a running ssh-agent (`SSH_AUTH_SOCK`).
    Agent,
}

/// How bytes reach the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// SSH through libssh2.
    #[default]
    Ssh,
    /// Plain telnet, for equipment that has no SSH.
    Telnet,
    /// Answers at once without touching the network: measures fleet's own
    /// orchestration cost in benchmarks.
    Noop,
}

/// How commands are sent once connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// One SSH exec channel per command (servers, modern devices).
    Exec,
    /// One interactive shell with a PTY: read to the prompt, send, read back.
    Shell,
}

/// A hop on the way to a device (`ProxyJump`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct JumpHost {
    /// Address of the jump host.
    pub host: String,
    /// Its SSH port.
    pub port: u16,
    /// Login user on the jump host.
    pub username: String,
    /// Credentials for the jump host.
    pub auth: Vec<Auth>,
}

/// Time limits for one session. `None` means "use the run's setting".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Timeouts {
    /// TCP connect.
    pub connect: Option<Duration>,
    /// Each command, from send to complete output.
    pub command: Option<Duration>,
    /// The whole session, connect to close.
    pub session: Option<Duration>,
}

impl Timeouts {
    /// Fills the unset fields from `fallback`.
    pub fn or(self, fallback: Timeouts) -> Timeouts {
        Timeouts {
            connect: self.connect.or(fallback.connect),
            command: self.command.or(fallback.command),
            session: self.session.or(fallback.session),
        }
    }
}

/// What to do with a host key the client has not seen before or that changed,
/// with OpenSSH's `StrictHostKeyChecking` meanings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyCheck {
    /// Unknown and changed keys both fail.
    Strict,
    /// Unknown keys are stored; changed keys fail.
    #[default]
    AcceptNew,
    /// No checking at all (labs only).
    Off,
}

#[cfg(test)]
mod placeholder_tests {
    use super::*;

    #[test]
    fn expand_puts_values_in_and_mask_takes_them_out() {
        let mut d = Device::new("r1", "h", 22);
        d.placeholders
            .insert("{{ env:PW }}".into(), Secret::new("Sup3r-Secret"));
        d.enable_secret = Some(Secret::new("en-secret"));
        d.auth.push(Auth::Password(Secret::new("ssh-pass")));
        let wire = expand("username a secret {{ env:PW }}", &d.placeholders);
        assert_eq!(wire, "username a secret Sup3r-Secret");
        assert_eq!(expand("show version", &d.placeholders), "show version");
        assert_eq!(
            d.mask("a Sup3r-Secret b en-secret c ssh-pass d abc"),
            "a ******** b ******** c ssh-pass d abc",
            "an SSH password never enters the channel"
        );
        d.transport = Transport::Telnet;
        assert_eq!(d.mask("login: ssh-pass"), "login: ********");
    }

    #[test]
    fn text_without_a_secret_comes_back_as_it_was_given() {
        let mut d = Device::new("r1", "h", 22);
        d.enable_secret = Some(Secret::new("en-secret"));
        let output = "x".repeat(1 << 20);
        let at = output.as_ptr();
        let back = d.mask(output);
        assert_eq!(back.as_ptr(), at, "not copied");
        assert_eq!(back.len(), 1 << 20);
        let echoed = d.mask(String::from("enable\nen-secret\n"));
        assert_eq!(echoed, "enable\n********\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_bracket_ipv6() {
        assert_eq!(host_port("10.0.0.1", 22), "10.0.0.1:22");
        assert_eq!(host_port("r1.lab", 2201), "r1.lab:2201");
        assert_eq!(host_port("2001:db8::1", 22), "[2001:db8::1]:22");
        assert_eq!(host_port("::1", 830), "[::1]:830");
        assert_eq!(Device::new("a", "::1", 2222).address(), "[::1]:2222");
    }
}
