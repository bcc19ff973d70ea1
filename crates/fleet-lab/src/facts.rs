//! Facts about a device (serial, uptime, addresses) derived from its
//! name: what `show version` prints and what a fresh running config holds.

use crate::flavour::Flavour;
use crate::hash::fnv1a64;

/// Facts about one device (serial, uptime, addresses), all derived from a
/// hash of its name so they are the same on every run and machine.
#[derive(Debug, Clone, Copy)]
pub struct DeviceFacts {
    /// FNV-1a of the name; every fact is a slice of it.
    hash: u64,
}

impl DeviceFacts {
    /// Facts for the device called `name`.
    pub fn new(name: &str) -> Self {
        DeviceFacts {
            hash: fnv1a64(name.as_bytes()),
        }
    }

    /// `modulo` possible values from the name's hash, starting at bit
    /// `shift`: how each output derives a number that is stable per device.
    pub(crate) fn bits(&self, shift: u32, modulo: u64) -> u64 {
        (self.hash >> shift) % modulo
    }

    /// A serial number like `FTX1234ABCD`.
    pub fn serial(&self) -> String {
        let letters: String = (0..4)
            .map(|i| char::from(b'A' + self.bits(20 + i * 5, 26) as u8))
            .collect();
        format!("FTX{:04}{letters}", self.bits(0, 10_000))
    }

    /// Uptime as (weeks, days, hours, minutes).
    pub fn uptime(&self) -> (u64, u64, u64, u64) {
        (
            self.bits(8, 52),
            self.bits(16, 7),
            self.bits(24, 24),
            self.bits(32, 60),
        )
    }

    /// Software minor release number.
    pub(crate) fn release(&self) -> u64 {
        self.bits(40, 9) + 1
    }

    /// Interface names for the flavour.
    pub fn interfaces(&self, flavour: Flavour) -> Vec<String> {
        let prefix = match flavour {
            Flavour::CiscoIos => "GigabitEthernet0/",
            Flavour::CiscoNxos => "Ethernet1/",
            Flavour::AristaEos => "Ethernet",
            Flavour::JuniperJunos => "ge-0/0/",
            Flavour::Linux => "eth",
        };
        let first = usize::from(matches!(flavour, Flavour::CiscoNxos | Flavour::AristaEos));
        (0..4).map(|i| format!("{prefix}{}", i + first)).collect()
    }

    /// Address and netmask of interface `i`, or `None` when it is unused.
    pub fn interface_address(&self, i: usize) -> Option<(String, &'static str)> {
        let second = self.bits(44, 256);
        let third = self.bits(52, 256);
        match i {
            0 => Some((format!("10.{second}.{third}.1"), "255.255.255.0")),
            1 => Some((
                format!("172.16.{}.{}", self.bits(12, 256), (i as u64) * 4 + 1),
                "255.255.255.252",
            )),
            _ => None,
        }
    }

    /// The NTP server in the running config.
    pub fn ntp_server(&self) -> String {
        format!("10.0.0.{}", self.bits(28, 250) + 1)
    }
}
