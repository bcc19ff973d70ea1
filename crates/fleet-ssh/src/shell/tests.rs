//! Shell mode against the lab's CLI state machine (no network).

use super::*;
use fleet_lab::running_config::RunningConfig;
use fleet_lab::shell::{Shell, ShellEvent};
use fleet_lab::{expected_output, Flavour};
use fleet_proto::Timeouts;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// A terminal wired to the lab's shell; hands out output in small chunks
/// to exercise split escapes and prompts. No data means a silent device.
struct LabTerm {
    shell: Shell,
    pending: VecDeque<u8>,
    closed: bool,
    typed: Vec<u8>,
}

impl LabTerm {
    fn new(name: &str, flavour: Flavour, secret: &str) -> Self {
        let config = Arc::new(Mutex::new(RunningConfig::initial(name, flavour)));
        Self::on(name, flavour, secret, config, false)
    }

    /// A session on a device whose configuration the test keeps.
    fn on(
        name: &str,
        flavour: Flavour,
        secret: &str,
        config: Arc<Mutex<RunningConfig>>,
        sticky_end: bool,
    ) -> Self {
        let shell =
            Shell::new(name, flavour, config, Secret::new(secret)).with_sticky_end(sticky_end);
        let pending = shell.greeting().into_iter().collect();
        LabTerm {
            shell,
            pending,
            closed: false,
            typed: Vec::new(),
        }
    }
}

impl Terminal for LabTerm {
    fn read(&mut self, buf: &mut [u8], limit: &Limit, during: &str) -> Result<usize, Failure> {
        if self.pending.is_empty() {
            return if self.closed {
                Ok(0)
            } else {
                Err(limit.expired(during))
            };
        }
        let n = buf.len().min(7).min(self.pending.len());
        for b in buf.iter_mut().take(n) {
            *b = self.pending.pop_front().unwrap_or(0);
        }
        Ok(n)
    }

    fn write_all(&mut self, data: &[u8], _limit: &Limit, _during: &str) -> Result<(), Failure> {
        self.typed.extend_from_slice(data);
        for ev in self.shell.feed(data) {
            match ev {
                ShellEvent::Echo(b) | ShellEvent::Output(b) => self.pending.extend(b),
                ShellEvent::Close => self.closed = true,
            }
        }
        Ok(())
    }
}

fn budget() -> Budget {
    Budget::new(Timeouts {
        connect: Some(Duration::from_secs(5)),
        command: Some(Duration::from_secs(5)),
        session: Some(Duration::from_secs(30)),
    })
}

fn device(commands: &[&str], secret: Option<&str>) -> Device {
    let mut d = Device::new("r1", "127.0.0.1", 22);
    d.commands = commands.iter().map(|c| c.to_string()).collect();
    d.enable_secret = secret.map(Secret::new);
    d
}

fn run(
    platform: &str,
    flavour: Flavour,
    d: &Device,
    secret: &str,
    cap: usize,
) -> (Result<(), Failure>, Vec<CommandOutput>, Vec<u8>) {
    let p = Platform::for_device(Some(platform)).unwrap_or_else(Platform::generic);
    let mut cli = Cli::new(LabTerm::new(&d.name, flavour, secret), p, cap);
    let mut outputs = Vec::new();
    let r = cli.run(d, &budget(), &mut outputs);
    (r, outputs, cli.term.typed)
}

#[test]
fn ios_enable_paging_off_and_exact_output() {
    let d = device(&["show version", "show interfaces"], Some("en-s3cret"));
    let (r, outs, typed) = run("cisco_ios", Flavour::CiscoIos, &d, "en-s3cret", 1 << 20);
    r.unwrap();
    let typed = String::from_utf8_lossy(&typed);
    assert!(
        typed.starts_with("terminal length 0\nenable\nen-s3cret\nshow version\n"),
        "{typed}"
    );
    assert_eq!(outs.len(), 2);
    assert_eq!(
        outs[0].stdout,
        expected_output("r1", Flavour::CiscoIos, "show version").unwrap()
    );
    assert_eq!(
        outs[1].stdout,
        expected_output("r1", Flavour::CiscoIos, "show interfaces").unwrap()
    );
    assert_eq!(outs[0].exit_status, None);
}

#[test]
fn pager_is_answered_and_its_marker_removed() {
    // The generic platform sends no paging-off command: the lab pages.
    let expected = expected_output("r1", Flavour::CiscoIos, "show interfaces").unwrap();
    assert!(expected.lines().count() > 30, "needs a long output");
    let d = device(&["show interfaces"], None);
    let (r, outs, typed) = run("generic", Flavour::CiscoIos, &d, "x", 1 << 20);
    r.unwrap();
    assert!(typed.contains(&b' '));
    assert_eq!(outs[0].stdout, expected);
}

#[test]
fn error_marker_is_command_failed_with_the_device_line() {
    let d = device(&["show bogus", "show version"], None);
    let (r, outs, _) = run("cisco_ios", Flavour::CiscoIos, &d, "x", 1 << 20);
    let f = r.unwrap_err();
    assert_eq!(f.status, Status::CommandFailed);
    assert!(
        f.message.contains("% Invalid input detected"),
        "{}",
        f.message
    );
    assert_eq!(outs.len(), 1);
}

#[test]
fn wrong_enable_secret_is_auth_failed_without_the_secret() {
    let d = device(&["show version"], Some("wrong-en"));
    let (r, outs, _) = run("cisco_ios", Flavour::CiscoIos, &d, "right-en", 1 << 20);
    let f = r.unwrap_err();
    assert_eq!(f.status, Status::AuthFailed, "{}", f.message);
    assert!(!f.message.contains("wrong-en") && !f.message.contains("right-en"));
    assert!(outs.is_empty());
}

#[test]
fn config_mode_prompts_are_followed() {
    let d = device(
        &[
            "configure terminal",
            "interface Gi0/9",
            "description uplink",
            "end",
            "show running-config",
        ],
        Some("s"),
    );
    let (r, outs, _) = run("cisco_ios", Flavour::CiscoIos, &d, "s", 1 << 20);
    r.unwrap();
    assert_eq!(outs.len(), 5);
    assert!(
        outs[4].stdout.contains("description uplink"),
        "{}",
        outs[4].stdout
    );
}

#[test]
fn junos_and_output_cap() {
    let d = device(&["show version"], None);
    let (r, outs, typed) = run("juniper_junos", Flavour::JuniperJunos, &d, "x", 20);
    r.unwrap();
    assert!(String::from_utf8_lossy(&typed).starts_with("set cli screen-length 0\n"));
    let full = expected_output("r1", Flavour::JuniperJunos, "show version").unwrap();
    if full.len() > 20 + 64 * 1024 + 4096 {
        assert!(outs[0].truncated);
    }
    assert!(outs[0].stdout.starts_with(&full[..20]));
}

#[test]
fn silent_device_times_out() {
    struct Mute;
    impl Terminal for Mute {
        fn read(&mut self, _: &mut [u8], limit: &Limit, during: &str) -> Result<usize, Failure> {
            Err(limit.expired(during))
        }
        fn write_all(&mut self, _: &[u8], _: &Limit, _: &str) -> Result<(), Failure> {
            Ok(())
        }
    }
    let b = Budget::new(Timeouts {
        connect: None,
        command: Some(Duration::from_millis(50)),
        session: None,
    });
    let mut cli = Cli::new(Mute, Platform::generic(), 100);
    let f = cli.first_prompt(&b).unwrap_err();
    assert_eq!(f.status, Status::Timeout);
}

/// A device that echoes the enable secret back and stays in user mode.
struct EchoingTerm {
    pending: VecDeque<u8>,
}

impl Terminal for EchoingTerm {
    fn read(&mut self, buf: &mut [u8], limit: &Limit, during: &str) -> Result<usize, Failure> {
        if self.pending.is_empty() {
            return Err(limit.expired(during));
        }
        let n = buf.len().min(self.pending.len());
        for b in buf.iter_mut().take(n) {
            *b = self.pending.pop_front().unwrap_or(0);
        }
        Ok(n)
    }

    fn write_all(&mut self, data: &[u8], _limit: &Limit, _during: &str) -> Result<(), Failure> {
        let line = String::from_utf8_lossy(data).trim_end().to_string();
        let answer = match line.as_str() {
            "enable" => "enable\r\nPassword: ".to_string(),
            // The typed secret comes back, and the prompt stays `>`.
            other => format!("{other}\r\nr1>"),
        };
        self.pending.extend(answer.into_bytes());
        Ok(())
    }
}

#[test]
fn enable_failure_never_quotes_the_secret_the_device_echoed() {
    let d = device(&["show version"], Some("Echo-S3cret-99"));
    let term = EchoingTerm {
        pending: b"r1>".iter().copied().collect(),
    };
    let p = Platform::for_device(Some("cisco_ios")).unwrap();
    let mut cli = Cli::new(term, p, 1 << 20);
    let mut outputs = Vec::new();
    let f = cli.run(&d, &budget(), &mut outputs).unwrap_err();
    assert_eq!(f.status, Status::AuthFailed, "{}", f.message);
    assert!(f.message.starts_with("enable failed"), "{}", f.message);
    assert!(!f.message.contains("Echo-S3cret-99"), "{}", f.message);
}

/// Runs `commands` on a device with `config`, as shell mode would.
fn run_on(
    platform: &str,
    flavour: Flavour,
    config: &Arc<Mutex<RunningConfig>>,
    sticky_end: bool,
    commands: &[&str],
) -> (Result<(), Failure>, Vec<CommandOutput>) {
    let d = device(commands, Some("s"));
    let p = Platform::for_device(Some(platform)).unwrap();
    let term = LabTerm::on("r1", flavour, "s", Arc::clone(config), sticky_end);
    let mut cli = Cli::new(term, p, 1 << 20);
    let mut outputs = Vec::new();
    let r = cli.run(&d, &budget(), &mut outputs);
    (r, outputs)
}

#[test]
fn device_questions_are_answered_from_the_platform_table() {
    let config = Arc::new(Mutex::new(RunningConfig::initial("r1", Flavour::CiscoIos)));
    let (r, outs) = run_on(
        "cisco_ios",
        Flavour::CiscoIos,
        &config,
        false,
        &[
            "configure terminal",
            "ntp server 192.0.2.44",
            "end",
            "copy running-config startup-config",
            "clear counters",
            "show startup-config",
        ],
    );
    r.unwrap();
    assert_eq!(
        outs[3].stdout,
        "Destination filename [startup-config]? \nBuilding configuration...\n[OK]\n"
    );
    assert!(
        outs[4].stdout.ends_with("[confirm]\n"),
        "{:?}",
        outs[4].stdout
    );
    assert!(outs[5].stdout.contains("ntp server 192.0.2.44\n"));
}

#[test]
fn junos_exit_with_uncommitted_changes_is_answered() {
    let config = Arc::new(Mutex::new(RunningConfig::initial(
        "r1",
        Flavour::JuniperJunos,
    )));
    let (r, outs) = run_on(
        "juniper_junos",
        Flavour::JuniperJunos,
        &config,
        false,
        &[
            "configure",
            "set system ntp server 192.0.2.8",
            "exit configuration-mode",
            "show configuration | display set",
        ],
    );
    r.unwrap();
    assert!(outs[2]
        .stdout
        .contains("Exit with uncommitted changes? [yes,no] (yes) yes\n"));
    assert!(
        !outs[3].stdout.contains("192.0.2.8"),
        "discarded, never committed"
    );
    let (r, outs) = run_on(
        "juniper_junos",
        Flavour::JuniperJunos,
        &config,
        false,
        &[
            "configure",
            "set system ntp server 192.0.2.8",
            "commit",
            "exit configuration-mode",
            "show configuration | display set",
        ],
    );
    r.unwrap();
    assert!(outs[2].stdout.starts_with("commit complete\n"));
    assert!(outs[4].stdout.contains("set system ntp server 192.0.2.8\n"));
}

#[test]
fn stuck_config_mode_is_left_with_exit() {
    let config = Arc::new(Mutex::new(RunningConfig::initial("r1", Flavour::CiscoIos)));
    let (r, outs) = run_on(
        "cisco_ios",
        Flavour::CiscoIos,
        &config,
        true,
        &[
            "configure terminal",
            "ntp server 192.0.2.9",
            "end",
            "show running-config",
        ],
    );
    r.unwrap();
    // `end` left the device in config mode; the session sent `exit`, so
    // `show running-config` ran in exec mode (in config mode it would be
    // taken as a config line and print nothing).
    assert!(outs
        .iter()
        .any(|o| o.command == "show running-config" && o.stdout.contains("ntp server 192.0.2.9")));
}
