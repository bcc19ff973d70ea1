//! The fleet YAML inventory the lab writes for its devices.

use crate::device::LabDevice;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;

/// A double-quoted YAML scalar.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Where the inventory's files live (absolute paths).
pub(crate) struct InventoryPaths<'a> {
    pub known_hosts: &'a Path,
    pub password: &'a Path,
    pub client_key: &'a Path,
}

/// Renders the inventory: run-level settings, defaults, one entry per device.
pub(crate) fn render(
    devices: &[LabDevice],
    paths: &InventoryPaths<'_>,
    jump: Option<SocketAddr>,
) -> String {
    let mut y = String::new();
    y.push_str("# Written by `fleet lab`: simulated devices on loopback.\n");
    y.push_str("# data.flavour is the CLI a device imitates; data.scenario the scripted\n");
    y.push_str("# behaviour (`normal` unless a scenario rule matched).\n");
    let _ = writeln!(
        y,
        "# Public-key auth also works: key_file: {}",
        quoted(&paths.client_key.display().to_string())
    );
    if let Some(jump) = jump {
        let _ = writeln!(
            y,
            "# Jump host (direct-tcpip to lab ports only): jump_host: \"admin@{jump}\" (same password)"
        );
    }
    let _ = writeln!(
        y,
        "known_hosts: {}",
        quoted(&paths.known_hosts.display().to_string())
    );
    y.push_str("host_key_check: accept-new\n");
    y.push_str("defaults:\n");
    y.push_str("  username: admin\n");
    let password = quoted(&paths.password.display().to_string());
    let _ = writeln!(y, "  password_file: {password}");
    let _ = writeln!(y, "  enable_secret_file: {password}");
    y.push_str("  commands: [\"show version\"]\n");
    y.push_str("devices:\n");
    for d in devices {
        let _ = writeln!(y, "  - name: {}", quoted(&d.name));
        let _ = writeln!(y, "    host: {}", quoted(&d.host));
        let _ = writeln!(y, "    port: {}", d.addr.port());
        let _ = writeln!(y, "    platform: {}", d.flavour.platform());
        if d.behaviour.telnet {
            y.push_str("    transport: telnet\n");
        }
        let groups: Vec<String> = d.groups.iter().map(|g| quoted(g)).collect();
        let _ = writeln!(y, "    groups: [{}]", groups.join(", "));
        let _ = writeln!(
            y,
            "    data: {{flavour: {}, scenario: {}}}",
            d.flavour.platform(),
            quoted(&d.behaviour.name)
        );
    }
    y
}
