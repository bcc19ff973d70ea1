//! Device flavours: which CLI a simulated device imitates.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The kind of device a lab device imitates. It picks the prompts, the
/// paging command, the known commands and the unknown-command error, and is
/// written to the inventory as the device's `platform`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flavour {
    /// Cisco IOS-like router (`host>` / `host#`, `terminal length 0`).
    CiscoIos,
    /// Linux server (`bash`-like errors, exit status 127 for unknown commands).
    Linux,
    /// Cisco NX-OS-like switch.
    CiscoNxos,
    /// Arista EOS-like switch.
    AristaEos,
    /// Juniper Junos-like router (`admin@host>`, `set cli screen-length 0`).
    JuniperJunos,
}

impl Flavour {
    /// Every flavour, in a stable order.
    pub const ALL: [Flavour; 5] = [
        Flavour::CiscoIos,
        Flavour::Linux,
        Flavour::CiscoNxos,
        Flavour::AristaEos,
        Flavour::JuniperJunos,
    ];

    /// The fleet platform name (`cisco_ios`, `linux`, ...), as in inventories.
    pub fn platform(self) -> &'static str {
        match self {
            Flavour::CiscoIos => "cisco_ios",
            Flavour::Linux => "linux",
            Flavour::CiscoNxos => "cisco_nxos",
            Flavour::AristaEos => "arista_eos",
            Flavour::JuniperJunos => "juniper_junos",
        }
    }

    /// The short name used inside device names (`lab-ios-0001`).
    pub fn short(self) -> &'static str {
        match self {
            Flavour::CiscoIos => "ios",
            Flavour::Linux => "linux",
            Flavour::CiscoNxos => "nxos",
            Flavour::AristaEos => "eos",
            Flavour::JuniperJunos => "junos",
        }
    }

    /// Whether the device has a network-OS CLI (enable, config mode, paging).
    pub fn is_network_os(self) -> bool {
        self != Flavour::Linux
    }

    /// The command that turns paging off in an interactive session.
    pub fn paging_off_command(self) -> Option<&'static str> {
        match self {
            Flavour::Linux => None,
            Flavour::JuniperJunos => Some("set cli screen-length 0"),
            _ => Some("terminal length 0"),
        }
    }
}

impl fmt::Display for Flavour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.platform())
    }
}

/// A flavour name that is neither a platform name nor a short name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown flavour {0:?} (expected one of cisco_ios, linux, cisco_nxos, arista_eos, juniper_junos, or ios, nxos, eos, junos)")]
pub struct UnknownFlavour(pub String);

impl FromStr for Flavour {
    type Err = UnknownFlavour;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Flavour::ALL
            .into_iter()
            .find(|f| f.platform() == s || f.short() == s)
            .ok_or_else(|| UnknownFlavour(s.to_string()))
    }
}
