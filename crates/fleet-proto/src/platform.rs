//! Platform names: the canonical names fleet's platform table knows, and
//! the spellings other tools use for them (Netmiko, Scrapli, NAPALM,
//! Ansible FQCN and short names, CMDB/NetBox labels), so every inventory
//! format maps them the same way. It lives here, not in fleet-ssh, so the
//! inventory can use it without depending on the SSH stack.

/// Canonical platform names with an entry in fleet-ssh's platform table
/// (a fleet-ssh test checks the two lists agree).
pub const KNOWN: &[&str] = &[
    "cisco_ios",
    "cisco_nxos",
    "arista_eos",
    "juniper_junos",
    "linux",
];

/// `(alias, canonical)`; aliases are compared after lowercasing and turning
/// spaces, `-` and `.` into `_`.
const ALIASES: &[(&str, &str)] = &[
    // Cisco IOS / IOS-XE: Netmiko, Scrapli, NAPALM, Ansible, CMDB labels.
    ("cisco_ios", "cisco_ios"),
    ("ios", "cisco_ios"),
    ("cisco_xe", "cisco_ios"),
    ("cisco_iosxe", "cisco_ios"),
    ("iosxe", "cisco_ios"),
    ("ios_xe", "cisco_ios"),
    ("cisco_ios_ssh", "cisco_ios"),
    ("cisco_xe_ssh", "cisco_ios"),
    ("cisco_ios_xe", "cisco_ios"),
    ("cisco.ios.ios", "cisco_ios"),
    ("cisco_ios_ios", "cisco_ios"),
    ("cisco", "cisco_ios"),
    // Cisco NX-OS.
    ("cisco_nxos", "cisco_nxos"),
    ("nxos", "cisco_nxos"),
    ("nxos_ssh", "cisco_nxos"),
    ("cisco_nxos_ssh", "cisco_nxos"),
    ("nx_os", "cisco_nxos"),
    ("cisco_nx_os", "cisco_nxos"),
    ("cisco_nexus", "cisco_nxos"),
    ("cisco_nxos_nxos", "cisco_nxos"),
    // Cisco IOS-XR: its own CLI; fleet has no table entry for it (yet).
    ("cisco_xr", "cisco_xr"),
    ("iosxr", "cisco_xr"),
    ("ios_xr", "cisco_xr"),
    ("cisco_iosxr", "cisco_xr"),
    ("cisco_ios_xr", "cisco_xr"),
    ("cisco_iosxr_iosxr", "cisco_xr"),
    // Cisco ASA: its own CLI, no table entry.
    ("cisco_asa", "cisco_asa"),
    ("asa", "cisco_asa"),
    ("cisco_asa_asa", "cisco_asa"),
    // Arista EOS.
    ("arista_eos", "arista_eos"),
    ("eos", "arista_eos"),
    ("arista", "arista_eos"),
    ("arista_eos_eos", "arista_eos"),
    // Juniper Junos.
    ("juniper_junos", "juniper_junos"),
    ("junos", "juniper_junos"),
    ("juniper", "juniper_junos"),
    ("juniper_junos_junos", "juniper_junos"),
    ("junipernetworks.junos.junos", "juniper_junos"),
    // Linux hosts.
    ("linux", "linux"),
    ("linux_ssh", "linux"),
];

/// A platform name as the inventory wrote it, mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformName {
    /// A name fleet's platform table knows (prompts, paging, enable, errors).
    Known(&'static str),
    /// A known alias of a platform fleet has no table entry for
    /// (`cisco_xr`, `cisco_asa`): runs as generic exec.
    Unsupported(&'static str),
    /// Nothing fleet recognises: kept as written, runs as generic exec.
    Unknown(String),
}

impl PlatformName {
    /// The name to store on the device.
    pub fn as_str(&self) -> &str {
        match self {
            PlatformName::Known(s) | PlatformName::Unsupported(s) => s,
            PlatformName::Unknown(s) => s,
        }
    }
}

/// Maps any spelling of a platform (`cisco.ios.ios`, `Cisco IOS`,
/// `cisco_xe`, `nxos_ssh`, ...) to fleet's name.
pub fn normalize(raw: &str) -> PlatformName {
    let key: String = raw
        .trim()
        .chars()
        .map(|c| match c {
            ' ' | '-' | '.' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    // `Cisco IOS` -> `cisco_ios`; FQCNs like `cisco.ios.ios` -> `cisco_ios_ios`.
    // Compared byte by byte: the table is walked for every device of an
    // inventory, and a `replace` per alias was 50 allocations for `linux`.
    let same = |alias: &str| {
        alias.len() == key.len()
            && alias
                .bytes()
                .map(|b| if b == b'.' { b'_' } else { b })
                .eq(key.bytes())
    };
    match ALIASES.iter().find(|(a, _)| same(a)) {
        Some((_, canon)) if KNOWN.contains(canon) => PlatformName::Known(canon),
        Some((_, canon)) => PlatformName::Unsupported(canon),
        None => PlatformName::Unknown(raw.trim().to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_every_tool_spelling() {
        for (raw, want) in [
            ("cisco.ios.ios", "cisco_ios"),
            ("ios", "cisco_ios"),
            ("Cisco IOS", "cisco_ios"),
            ("cisco_xe", "cisco_ios"),
            ("cisco_iosxe", "cisco_ios"),
            ("IOS-XE", "cisco_ios"),
            ("nxos_ssh", "cisco_nxos"),
            ("cisco.nxos.nxos", "cisco_nxos"),
            ("arista.eos.eos", "arista_eos"),
            ("eos", "arista_eos"),
            ("junipernetworks.junos.junos", "juniper_junos"),
            ("junos", "juniper_junos"),
            ("linux", "linux"),
        ] {
            assert_eq!(normalize(raw).as_str(), want, "{raw}");
            assert!(matches!(normalize(raw), PlatformName::Known(_)), "{raw}");
        }
    }

    #[test]
    fn unsupported_and_unknown_are_told_apart() {
        assert_eq!(
            normalize("cisco.iosxr.iosxr"),
            PlatformName::Unsupported("cisco_xr")
        );
        assert_eq!(
            normalize("cisco.asa.asa"),
            PlatformName::Unsupported("cisco_asa")
        );
        assert_eq!(
            normalize("hp_procurve"),
            PlatformName::Unknown("hp_procurve".into())
        );
    }

    #[test]
    fn every_alias_points_at_a_lowercase_canonical_name() {
        for (a, c) in ALIASES {
            assert_eq!(*c, c.to_ascii_lowercase(), "{a}");
            assert!(
                ALIASES.iter().any(|(x, y)| x == c && y == c),
                "{c} maps to itself"
            );
        }
    }
}
