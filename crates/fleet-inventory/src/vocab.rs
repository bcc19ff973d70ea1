//! The one inventory vocabulary every format shares: field names, and how
//! a transport, a mode, a boolean and a timeout are spelled.
//!
//! fleet YAML checks its keys against [`SETTING_KEYS`] / [`DEVICE_KEYS`];
//! the CSV loader's columns are the same names; Ansible and Nornir keep
//! their own names but parse values with the same functions, so `yes`
//! means the same thing and `5s` the same timeout in every format.

use fleet_proto::{Mode, Timeouts, Transport};
use std::time::Duration;

/// Keys only a device has (not `defaults` or a group).
pub(crate) const DEVICE_OWN_KEYS: [&str; 3] = ["name", "host", "groups"];

/// Keys allowed in fleet YAML `defaults`, in each group and on each
/// device (and, except the `_file` forms and `data`, as CSV columns).
pub(crate) const SETTING_KEYS: [&str; 19] = [
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
    TimeoutKind::Connect.field(),
    TimeoutKind::Command.field(),
    TimeoutKind::Session.field(),
    "enable_secret_env",
    "enable_secret_file",
    "jump_host",
    "data",
];

/// Every key a fleet YAML device may have: its own, then the settings.
pub(crate) const DEVICE_KEYS: [&str; 22] = concat(DEVICE_OWN_KEYS, SETTING_KEYS);

/// Keys of a jump host written as a mapping.
pub(crate) const JUMP_KEYS: [&str; 9] = [
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

/// CSV columns with a meaning: the device keys minus what a cell cannot
/// hold (`data` is every other column; a `_file` passphrase or enable
/// secret would be a second file per row), plus a plaintext `password`.
pub(crate) fn is_csv_column(name: &str) -> bool {
    name == "password"
        || (DEVICE_KEYS.contains(&name)
            && !matches!(name, "data" | "key_passphrase_file" | "enable_secret_file"))
}

/// `a` then `b`, at compile time (`N` must be `A + B`).
const fn concat<const A: usize, const B: usize, const N: usize>(
    a: [&'static str; A],
    b: [&'static str; B],
) -> [&'static str; N] {
    assert!(A + B == N, "concat: N must be A + B");
    let mut out = [""; N];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    while i < N {
        out[i] = b[i - A];
        i += 1;
    }
    out
}

/// The three per-device timeouts, by field name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeoutKind {
    /// TCP connect and SSH handshake.
    Connect,
    /// Each command.
    Command,
    /// The whole session.
    Session,
}

impl TimeoutKind {
    /// All kinds, in the order fleet prints them.
    pub(crate) const ALL: [TimeoutKind; 3] = [
        TimeoutKind::Connect,
        TimeoutKind::Command,
        TimeoutKind::Session,
    ];

    /// The inventory field (`connect_timeout`, ...).
    pub(crate) const fn field(self) -> &'static str {
        match self {
            TimeoutKind::Connect => "connect_timeout",
            TimeoutKind::Command => "command_timeout",
            TimeoutKind::Session => "session_timeout",
        }
    }

    /// The device's slot for this timeout.
    pub(crate) fn slot(self, t: &mut Timeouts) -> &mut Option<Duration> {
        match self {
            TimeoutKind::Connect => &mut t.connect,
            TimeoutKind::Command => &mut t.command,
            TimeoutKind::Session => &mut t.session,
        }
    }
}

/// Reads the three timeouts through `get` (field name -> raw value); an
/// error names the field.
pub(crate) fn parse_timeouts<'a>(
    mut get: impl FnMut(&'static str) -> Option<&'a str>,
) -> Result<Timeouts, (&'static str, String)> {
    let mut t = Timeouts::default();
    for kind in TimeoutKind::ALL {
        if let Some(raw) = get(kind.field()) {
            *kind.slot(&mut t) = Some(parse_duration(raw).map_err(|m| (kind.field(), m))?);
        }
    }
    Ok(t)
}

/// A timeout from an inventory, by fleet's one duration rule
/// ([`fleet_proto::duration`]): a bare number is seconds, else humantime;
/// zero is refused.
///
/// Crate-private: the `String` error is a message fragment that the caller
/// wraps at once in an [`InventoryError`](crate::InventoryError) with file, line and field.
pub(crate) fn parse_duration(raw: &str) -> Result<Duration, String> {
    fleet_proto::duration::parse_timeout(raw).map_err(|e| e.to_string())
}

/// `ssh`, `telnet` or `noop`, any case. (Wrapped with position like
/// [`parse_duration`]'s message.)
pub(crate) fn parse_transport(raw: &str) -> Result<Transport, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "ssh" => Ok(Transport::Ssh),
        "telnet" => Ok(Transport::Telnet),
        "noop" => Ok(Transport::Noop),
        _ => Err(format!(
            "invalid value `{raw}` (expected ssh, telnet, noop)"
        )),
    }
}

/// The transport's inventory name (the inverse of [`parse_transport`]).
pub(crate) fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::Ssh => "ssh",
        Transport::Telnet => "telnet",
        Transport::Noop => "noop",
    }
}

/// The port a transport listens on when the inventory names none.
pub(crate) fn default_port(t: Transport) -> u16 {
    if t == Transport::Telnet {
        23
    } else {
        22
    }
}

/// `exec` or `shell`, any case. (Wrapped with position like
/// [`parse_duration`]'s message.)
pub(crate) fn parse_mode(raw: &str) -> Result<Mode, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "exec" => Ok(Mode::Exec),
        "shell" => Ok(Mode::Shell),
        _ => Err(format!("invalid value `{raw}` (expected exec, shell)")),
    }
}

/// A boolean as YAML 1.1 and Ansible spell it: `true`/`false`,
/// `yes`/`no`, `on`/`off`, `1`/`0`, `y`/`n`, `t`/`f`, any case.
/// (Wrapped with position like [`parse_duration`]'s message.)
pub(crate) fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" | "y" | "t" => Ok(true),
        "false" | "no" | "off" | "0" | "n" | "f" => Ok(false),
        _ => Err(format!(
            "invalid boolean `{raw}` (expected true/false or yes/no)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_keys_are_own_keys_then_settings() {
        assert_eq!(&DEVICE_KEYS[..3], &DEVICE_OWN_KEYS);
        assert_eq!(&DEVICE_KEYS[3..], &SETTING_KEYS);
        let mut sorted = DEVICE_KEYS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), DEVICE_KEYS.len(), "a key is listed twice");
    }

    #[test]
    fn csv_columns_are_device_keys_that_fit_a_cell() {
        for c in ["name", "host", "groups", "port", "password", "agent"] {
            assert!(is_csv_column(c), "{c}");
        }
        for c in ["data", "enable_secret_file", "key_passphrase_file", "site"] {
            assert!(!is_csv_column(c), "{c}");
        }
        for t in TimeoutKind::ALL {
            assert!(is_csv_column(t.field()));
        }
    }

    #[test]
    fn parses_transports_in_any_case_and_names_them_back() {
        for t in [Transport::Ssh, Transport::Telnet, Transport::Noop] {
            assert_eq!(parse_transport(transport_name(t)), Ok(t));
        }
        assert_eq!(parse_transport("SSH"), Ok(Transport::Ssh));
        assert_eq!(
            parse_transport("netconf").unwrap_err(),
            "invalid value `netconf` (expected ssh, telnet, noop)"
        );
        assert_eq!(default_port(Transport::Telnet), 23);
        assert_eq!(default_port(Transport::Ssh), 22);
    }

    #[test]
    fn parses_modes() {
        assert_eq!(parse_mode("exec"), Ok(Mode::Exec));
        assert_eq!(parse_mode("Shell"), Ok(Mode::Shell));
        assert_eq!(
            parse_mode("cli").unwrap_err(),
            "invalid value `cli` (expected exec, shell)"
        );
    }

    #[test]
    fn parses_every_spelling_of_a_boolean() {
        for t in ["true", "True", "yes", "on", "1", "y", "T"] {
            assert_eq!(parse_bool(t), Ok(true), "{t}");
        }
        for f in ["false", "NO", "off", "0", "n", "f"] {
            assert_eq!(parse_bool(f), Ok(false), "{f}");
        }
        assert_eq!(
            parse_bool("maybe").unwrap_err(),
            "invalid boolean `maybe` (expected true/false or yes/no)"
        );
        assert!(parse_bool("").is_err());
    }

    #[test]
    fn parses_durations_by_the_one_rule() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("1m 30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn reads_timeouts_by_field_name() {
        let t = parse_timeouts(|f| match f {
            "connect_timeout" => Some("5"),
            "session_timeout" => Some("2m"),
            _ => None,
        })
        .unwrap();
        assert_eq!(t.connect, Some(Duration::from_secs(5)));
        assert_eq!(t.command, None);
        assert_eq!(t.session, Some(Duration::from_secs(120)));
        let e = parse_timeouts(|f| (f == "command_timeout").then_some("0")).unwrap_err();
        assert_eq!(e.0, "command_timeout");
    }
}
