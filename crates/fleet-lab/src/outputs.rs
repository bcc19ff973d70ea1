//! What each command prints: deterministic facts derived from the device
//! name, so tests can compute the exact expected output with
//! [`expected_output`] and compare byte for byte.

pub use crate::facts::DeviceFacts;
use crate::flavour::Flavour;
use crate::running_config::RunningConfig;

/// Result of running one command on a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandResult {
    /// Bytes for the exec channel's stdout (and the shell's screen).
    pub stdout: String,
    /// Bytes for the exec channel's stderr.
    pub stderr: String,
    /// Exit status for the exec channel.
    pub exit_status: u32,
}

/// The exact stdout of `command` on a freshly started lab device called
/// `device_name`, or `None` when the command is unknown to that flavour
/// (see [`unknown_command_error`]). Lines end with `\n` (exec channel); the
/// interactive shell prints the same text with `\r\n`.
pub fn expected_output(device_name: &str, flavour: Flavour, command: &str) -> Option<String> {
    let config = RunningConfig::initial(device_name, flavour);
    known_command(device_name, flavour, command, &config)
}

/// The error line (without newline) a device prints for an unknown command:
/// on network flavours on stdout with exit status 1, on `linux` on stderr
/// with exit status 127.
pub fn unknown_command_error(flavour: Flavour, command: &str) -> String {
    let command = normalize(command);
    match flavour {
        Flavour::CiscoIos => "% Invalid input detected at '^' marker.".to_string(),
        Flavour::CiscoNxos => "% Invalid command at '^' marker.".to_string(),
        Flavour::AristaEos => "% Invalid input".to_string(),
        Flavour::JuniperJunos => "syntax error.".to_string(),
        Flavour::Linux => {
            let word = command.split_whitespace().next().unwrap_or("");
            format!("bash: {word}: command not found")
        }
    }
}

/// Exit status for an unknown command on the exec channel.
pub fn unknown_command_status(flavour: Flavour) -> u32 {
    if flavour == Flavour::Linux {
        127
    } else {
        1
    }
}

/// The answer to a terminal setting a client sends to prepare its session
/// (Netmiko, Scrapli and Ansible `network_cli` send these before the first
/// command), and whether it turns paging on or off. `None`: not one.
pub(crate) fn terminal_setting(flavour: Flavour, command: &str) -> Option<(String, Option<bool>)> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let number = |w: &str| w.parse::<u32>().ok().filter(|n| *n <= 65535);
    match (flavour, words.as_slice()) {
        (Flavour::Linux, _) => None,
        (Flavour::JuniperJunos, ["set", "cli", "screen-width", n]) => {
            number(n).map(|n| (format!("Screen width set to {n}\n"), None))
        }
        (Flavour::JuniperJunos, ["set", "cli", "screen-length", n]) => {
            number(n).map(|n| (format!("Screen length set to {n}\n"), Some(n != 0)))
        }
        (Flavour::JuniperJunos, ["set", "cli", "complete-on-space", "off"]) => {
            Some(("Disabling complete-on-space\n".to_string(), None))
        }
        (Flavour::JuniperJunos, ["set", "cli", "complete-on-space", "on"]) => {
            Some(("Enabling complete-on-space\n".to_string(), None))
        }
        (Flavour::JuniperJunos, ["set", "cli", "timestamp", "disable"]) => {
            Some((String::new(), None))
        }
        (Flavour::JuniperJunos, _) => None,
        (Flavour::AristaEos, ["terminal", "width", n]) => {
            number(n).map(|n| (format!("Width set to {n} columns.\n"), None))
        }
        (Flavour::AristaEos, ["terminal", "length", "0"]) => {
            Some(("Pagination disabled.\n".to_string(), Some(false)))
        }
        (Flavour::AristaEos, ["terminal", "length", n]) => {
            number(n).map(|n| (format!("Pagination set to {n} lines.\n"), Some(true)))
        }
        (_, ["terminal", "width", n]) => number(n).map(|_| (String::new(), None)),
        (_, ["terminal", "length", n]) => number(n).map(|n| (String::new(), Some(n != 0))),
        _ => None,
    }
}

/// Collapses whitespace so `show  version ` and `show version` are the same.
pub(crate) fn normalize(command: &str) -> String {
    command.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Runs `command` against a device's current state.
pub(crate) fn run_command(
    name: &str,
    flavour: Flavour,
    command: &str,
    config: &RunningConfig,
) -> CommandResult {
    match known_command(name, flavour, command, config) {
        Some(stdout) => CommandResult {
            stdout,
            stderr: String::new(),
            exit_status: 0,
        },
        None => {
            let line = format!("{}\n", unknown_command_error(flavour, command));
            let (stdout, stderr) = if flavour == Flavour::Linux {
                (String::new(), line)
            } else {
                (line, String::new())
            };
            CommandResult {
                stdout,
                stderr,
                exit_status: unknown_command_status(flavour),
            }
        }
    }
}

fn known_command(
    name: &str,
    flavour: Flavour,
    raw: &str,
    config: &RunningConfig,
) -> Option<String> {
    let facts = DeviceFacts::new(name);
    let host = config.hostname().unwrap_or(name);
    let command = normalize(raw);
    let command = command.as_str();
    if flavour == Flavour::Linux {
        return linux_command(host, &facts, raw.trim(), command);
    }
    if command.is_empty() {
        return Some(String::new());
    }
    if let Some((answer, _)) = terminal_setting(flavour, command) {
        return Some(answer);
    }
    match (flavour, command) {
        (_, "show version") => Some(show_version(host, flavour, &facts)),
        (Flavour::JuniperJunos, "show configuration") => Some(config.render(flavour)),
        (Flavour::JuniperJunos, "show configuration | display set") => Some(config.render_set()),
        (Flavour::JuniperJunos, "show interfaces terse") => Some(junos_terse(flavour, &facts)),
        (Flavour::JuniperJunos, _) => None,
        (_, "show running-config") => Some(config.render(flavour)),
        (_, "show startup-config") => Some(config.render_startup(flavour)),
        (_, "show interfaces") => Some(show_interfaces(flavour, &facts)),
        (_, "show ip interface brief") => Some(ip_brief(flavour, &facts)),
        _ => None,
    }
}

fn show_version(host: &str, flavour: Flavour, facts: &DeviceFacts) -> String {
    let (w, d, h, m) = facts.uptime();
    let r = facts.release();
    let serial = facts.serial();
    match flavour {
        Flavour::CiscoIos | Flavour::Linux => format!(
            "Cisco IOS Software, C2900 Software (C2900-UNIVERSALK9-M), Version 15.7(3)M{r}, RELEASE SOFTWARE (fc1)\n\
             Technical Support: http://www.cisco.com/techsupport\n\
             Copyright (c) 1986-2026 by Cisco Systems, Inc. (fleet lab simulation)\n\
             \n\
             ROM: System Bootstrap, Version 15.0(1r)M16, RELEASE SOFTWARE (fc1)\n\
             \n\
             {host} uptime is {w} weeks, {d} days, {h} hours, {m} minutes\n\
             System returned to ROM by power-on\n\
             System image file is \"flash0:c2900-universalk9-mz.SPA.157-3.M{r}.bin\"\n\
             \n\
             Cisco CISCO2911/K9 (revision 1.0) with 491520K/32768K bytes of memory.\n\
             Processor board ID {serial}\n\
             4 Gigabit Ethernet interfaces\n\
             Configuration register is 0x2102\n"
        ),
        Flavour::CiscoNxos => format!(
            "Cisco Nexus Operating System (NX-OS) Software (fleet lab simulation)\n\
             Software\n  NXOS: version 9.3({r})\n\
             Hardware\n  cisco Nexus9000 C93180YC-EX chassis\n  Processor Board ID {serial}\n\n  Device name: {host}\n\
             Kernel uptime is {d} day(s), {h} hour(s), {m} minute(s), 0 second(s)\n"
        ),
        Flavour::AristaEos => format!(
            "Arista DCS-7050SX3-48YC8 (fleet lab simulation)\n\
             Hardware version: 11.00\n\
             Serial number: {serial}\n\
             System MAC address: 001c.73{:02x}.{:04x}\n\n\
             Software image version: 4.28.{r}F\n\
             Uptime: {w} weeks, {d} days, {h} hours and {m} minutes\n",
            facts.bits(4, 256),
            facts.bits(36, 65536)
        ),
        Flavour::JuniperJunos => format!(
            "Hostname: {host}\n\
             Model: mx204\n\
             Junos: 22.4R{r}.10\n\
             JUNOS OS Kernel 64-bit  [20260101.lab]\n\
             Chassis serial number: {serial}\n"
        ),
    }
}

fn show_interfaces(flavour: Flavour, facts: &DeviceFacts) -> String {
    let mut out = String::new();
    for (i, iface) in facts.interfaces(flavour).iter().enumerate() {
        let up = facts.interface_address(i).is_some();
        let state = if up { "up" } else { "administratively down" };
        let proto = if up { "up" } else { "down" };
        out.push_str(&format!(
            "{iface} is {state}, line protocol is {proto}\n\
             \x20 Hardware is iGbE, address is 5254.00{:02x}.{:04x}\n",
            i,
            facts.bits(i as u32 * 8, 65536)
        ));
        if let Some((ip, mask)) = facts.interface_address(i) {
            let prefix: u32 = mask
                .split('.')
                .filter_map(|o| o.parse::<u8>().ok())
                .map(u8::count_ones)
                .sum();
            out.push_str(&format!("  Internet address is {ip}/{prefix}\n"));
        }
        let packets = facts.bits(i as u32 * 4, 1_000_000);
        out.push_str(&format!(
            "  MTU 1500 bytes, BW 1000000 Kbit/sec, DLY 10 usec,\n\
             \x20    reliability 255/255, txload 1/255, rxload 1/255\n\
             \x20 Encapsulation ARPA, loopback not set\n\
             \x20 Full Duplex, 1Gbps, media type is RJ45\n\
             \x20 5 minute input rate 0 bits/sec, 0 packets/sec\n\
             \x20    {packets} packets input, {} bytes, 0 no buffer\n\
             \x20    {} packets output, {} bytes, 0 underruns\n",
            packets * 64,
            packets / 2,
            packets * 32
        ));
    }
    out
}

fn ip_brief(flavour: Flavour, facts: &DeviceFacts) -> String {
    let mut out = String::from(
        "Interface              IP-Address      OK? Method Status                Protocol\n",
    );
    for (i, iface) in facts.interfaces(flavour).iter().enumerate() {
        let (ip, status, proto) = match facts.interface_address(i) {
            Some((ip, _)) => (ip, "up", "up"),
            None => ("unassigned".to_string(), "administratively down", "down"),
        };
        out.push_str(&format!(
            "{iface:<22} {ip:<15} YES manual {status:<21} {proto}\n"
        ));
    }
    out
}

fn junos_terse(flavour: Flavour, facts: &DeviceFacts) -> String {
    let mut out =
        String::from("Interface               Admin Link Proto    Local                 Remote\n");
    for (i, iface) in facts.interfaces(flavour).iter().enumerate() {
        match facts.interface_address(i) {
            Some((ip, _)) => out.push_str(&format!("{iface:<23} up    up   inet     {ip}\n")),
            None => out.push_str(&format!("{iface:<23} down  down\n")),
        }
    }
    out
}

fn linux_command(host: &str, facts: &DeviceFacts, raw: &str, command: &str) -> Option<String> {
    let (w, d, h, m) = facts.uptime();
    let r = facts.release();
    let uname = format!(
        "Linux {host} 6.1.0-{r}-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.1{r}-1 (2026-01-01) x86_64 GNU/Linux\n"
    );
    if command == "echo" {
        return Some("\n".to_string());
    }
    if let Some(args) = raw.strip_prefix("echo ") {
        return Some(format!("{}\n", shell_words(args).join(" ")));
    }
    match command {
        "" => Some(String::new()),
        // The quick start sends `show version` everywhere: answer with uname.
        "uname -a" | "show version" => Some(uname),
        "hostname" => Some(format!("{host}\n")),
        "uptime" => Some(format!(
            " 12:00:00 up {} days, {h:2}:{m:02},  1 user,  load average: 0.{:02}, 0.{:02}, 0.{:02}\n",
            w * 7 + d,
            facts.bits(3, 100),
            facts.bits(9, 100),
            facts.bits(15, 100)
        )),
        "cat /etc/os-release" => Some(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n\
             NAME=\"Debian GNU/Linux\"\n\
             VERSION_ID=\"12\"\n\
             VERSION=\"12 (bookworm)\"\n\
             VERSION_CODENAME=bookworm\n\
             ID=debian\n\
             HOME_URL=\"https://www.debian.org/\"\n"
                .to_string(),
        ),
        "true" => Some(String::new()),
        _ => None,
    }
}

/// Splits `echo` arguments like a shell would for simple quoting.
fn shell_words(args: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in args.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            (None, c) => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(current);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_deterministic_and_name_dependent() {
        let a = expected_output("lab-ios-0001", Flavour::CiscoIos, "show version");
        let b = expected_output("lab-ios-0001", Flavour::CiscoIos, "show  version ");
        let c = expected_output("lab-ios-0002", Flavour::CiscoIos, "show version");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.unwrap_or_default().contains("lab-ios-0001 uptime is"));
    }

    #[test]
    fn unknown_commands() {
        assert_eq!(expected_output("x", Flavour::CiscoIos, "show bogus"), None);
        let r = run_command(
            "x",
            Flavour::Linux,
            "frobnicate --now",
            &RunningConfig::initial("x", Flavour::Linux),
        );
        assert_eq!(r.stderr, "bash: frobnicate: command not found\n");
        assert_eq!(r.exit_status, 127);
    }

    #[test]
    fn echo_strips_quotes() {
        assert_eq!(
            expected_output("x", Flavour::Linux, "echo 'a  b' \"c\" d").as_deref(),
            Some("a  b c d\n")
        );
    }

    #[test]
    fn show_interfaces_needs_paging() {
        let out = expected_output("x", Flavour::CiscoIos, "show interfaces").unwrap_or_default();
        assert!(out.lines().count() > 24);
    }
}
