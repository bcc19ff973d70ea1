//! The interactive CLI of one shell session: echo, prompts, `enable`,
//! paging with ` --More-- `, config mode editing the running config.
//!
//! It is a pure state machine (bytes in, events out) so it can be tested
//! without SSH; the server adds latency and sends the bytes.

use crate::flavour::Flavour;
use crate::outputs::{normalize, run_command, unknown_command_error};
use crate::running_config::RunningConfig;
use fleet_proto::Secret;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Lines per screen; with paging on, a longer output stops after
/// `PAGE_LINES - 1` lines at ` --More-- `.
pub const PAGE_LINES: usize = 24;

/// The pager prompt, as a client must match it.
pub const MORE_PROMPT: &str = " --More-- ";

/// What the session must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellEvent {
    /// Send these bytes now (echo, prompts, pager pages).
    Echo(Vec<u8>),
    /// A command ran: apply the command latency, then send these bytes.
    Output(Vec<u8>),
    /// The user logged out: close the channel.
    Close,
}

/// Where in the CLI the session is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CliMode {
    User,
    Enable,
    Config,
    ConfigIf(String),
}

/// One interactive session's state.
pub struct Shell {
    /// Device name (hostname until config changes it).
    name: String,
    /// Which CLI to imitate.
    flavour: Flavour,
    /// The device's running config, shared with its other sessions.
    config: Arc<Mutex<RunningConfig>>,
    /// What `enable` accepts.
    enable_secret: Secret,
    mode: CliMode,
    /// Paging on (default) until the paging-off command.
    paging: bool,
    /// The line being typed.
    line: Vec<u8>,
    /// Last byte was CR: a following LF is part of the same Enter.
    last_cr: bool,
    /// `enable` asked for the password; the next line is it (not echoed).
    awaiting_password: bool,
    /// Lines still to show after ` --More-- `.
    pager: Option<VecDeque<String>>,
    /// The `escapes` fault: hostile banner, outputs and error lines.
    escapes: bool,
}

impl Shell {
    /// A new session on device `name`; call [`Shell::greeting`] first.
    pub fn new(
        name: &str,
        flavour: Flavour,
        config: Arc<Mutex<RunningConfig>>,
        enable_secret: Secret,
    ) -> Self {
        let mode = if flavour == Flavour::CiscoNxos {
            CliMode::Enable
        } else {
            CliMode::User
        };
        Shell {
            name: name.to_string(),
            flavour,
            config,
            enable_secret,
            mode,
            paging: flavour.is_network_os(),
            line: Vec::new(),
            last_cr: false,
            awaiting_password: false,
            pager: None,
            escapes: false,
        }
    }

    /// With the `escapes` fault ([`crate::escapes`]) on or off.
    pub fn with_escapes(mut self, escapes: bool) -> Self {
        self.escapes = escapes;
        self
    }

    /// The banner and first prompt.
    pub fn greeting(&self) -> Vec<u8> {
        let banner = if self.flavour.is_network_os() {
            "\r\n"
        } else {
            "Linux lab shell (fleet lab simulation)\r\n"
        };
        let hostile = if self.escapes {
            crate::escapes::banner()
        } else {
            String::new()
        };
        format!("{hostile}{banner}{}", self.prompt()).into_bytes()
    }

    fn hostname(&self) -> String {
        self.config
            .lock()
            .ok()
            .and_then(|c| c.hostname().map(str::to_string))
            .unwrap_or_else(|| self.name.clone())
    }

    /// The prompt for the current mode.
    pub fn prompt(&self) -> String {
        let host = self.hostname();
        match self.flavour {
            Flavour::Linux => format!("admin@{host}:~$ "),
            Flavour::JuniperJunos => match self.mode {
                CliMode::User | CliMode::Enable => format!("admin@{host}> "),
                _ => format!("admin@{host}# "),
            },
            _ => match &self.mode {
                CliMode::User => format!("{host}>"),
                CliMode::Enable => format!("{host}#"),
                CliMode::Config => format!("{host}(config)#"),
                CliMode::ConfigIf(_) => format!("{host}(config-if)#"),
            },
        }
    }

    /// Feeds bytes the client typed.
    pub fn feed(&mut self, data: &[u8]) -> Vec<ShellEvent> {
        let mut events = Vec::new();
        for &b in data {
            let after_cr = std::mem::replace(&mut self.last_cr, b == b'\r');
            if b == b'\n' && after_cr {
                continue;
            }
            if self.pager.is_some() {
                self.pager_key(b, &mut events);
                continue;
            }
            match b {
                b'\r' | b'\n' => {
                    let line =
                        String::from_utf8_lossy(&std::mem::take(&mut self.line)).into_owned();
                    events.push(ShellEvent::Echo(b"\r\n".to_vec()));
                    self.enter(&line, &mut events);
                    if events.last() == Some(&ShellEvent::Close) {
                        return events;
                    }
                }
                0x7f | 0x08 => {
                    let erased = self.line.pop().is_some();
                    if erased && !self.awaiting_password {
                        events.push(ShellEvent::Echo(b"\x08 \x08".to_vec()));
                    }
                }
                0x03 => {
                    self.line.clear();
                    self.awaiting_password = false;
                    events.push(ShellEvent::Echo(
                        format!("^C\r\n{}", self.prompt()).into_bytes(),
                    ));
                }
                0x1a if matches!(self.mode, CliMode::Config | CliMode::ConfigIf(_)) => {
                    self.line.clear();
                    self.mode = CliMode::Enable;
                    events.push(ShellEvent::Echo(
                        format!("^Z\r\n{}", self.prompt()).into_bytes(),
                    ));
                }
                b if b >= 0x20 || b == b'\t' => {
                    self.line.push(b);
                    if !self.awaiting_password {
                        events.push(ShellEvent::Echo(vec![b]));
                    }
                }
                _ => {}
            }
        }
        events
    }

    fn pager_key(&mut self, key: u8, events: &mut Vec<ShellEvent>) {
        let Some(rest) = self.pager.as_mut() else {
            return;
        };
        let take = match key {
            b' ' => PAGE_LINES - 1,
            b'\r' | b'\n' => 1,
            _ => 0,
        };
        // Erase the pager prompt the way IOS does: back over it with spaces.
        let mut out = format!("\r{}\r", " ".repeat(MORE_PROMPT.len()));
        for _ in 0..take {
            match rest.pop_front() {
                Some(line) => {
                    out.push_str(&line);
                    out.push_str("\r\n");
                }
                None => break,
            }
        }
        if take == 0 || rest.is_empty() {
            self.pager = None;
            out.push_str(&self.prompt());
        } else {
            out.push_str(MORE_PROMPT);
        }
        events.push(ShellEvent::Echo(out.into_bytes()));
    }

    /// Shows `text` (lines ending in `\n`) with paging, then the prompt.
    fn show(&mut self, text: &str, events: &mut Vec<ShellEvent>) {
        let mut lines: VecDeque<String> = text.lines().map(str::to_string).collect();
        let mut out = String::new();
        let page = if self.paging && lines.len() >= PAGE_LINES {
            PAGE_LINES - 1
        } else {
            usize::MAX
        };
        for _ in 0..page {
            match lines.pop_front() {
                Some(line) => {
                    out.push_str(&line);
                    out.push_str("\r\n");
                }
                None => break,
            }
        }
        if lines.is_empty() {
            out.push_str(&self.prompt());
        } else {
            out.push_str(MORE_PROMPT);
            self.pager = Some(lines);
        }
        events.push(ShellEvent::Output(out.into_bytes()));
    }

    fn enter(&mut self, raw: &str, events: &mut Vec<ShellEvent>) {
        if self.awaiting_password {
            self.awaiting_password = false;
            if raw == self.enable_secret.expose() {
                self.mode = CliMode::Enable;
                events.push(ShellEvent::Output(self.prompt().into_bytes()));
            } else {
                let text = format!("% Access denied\r\n\r\n{}", self.prompt());
                events.push(ShellEvent::Output(text.into_bytes()));
            }
            return;
        }
        let line = normalize(raw);
        if line.is_empty() {
            events.push(ShellEvent::Echo(self.prompt().into_bytes()));
            return;
        }
        if let Some(text) = self.cli_command(&line, events) {
            self.show(&text, events);
        }
    }

    /// Handles mode-changing commands; returns text to show for the rest.
    fn cli_command(&mut self, line: &str, events: &mut Vec<ShellEvent>) -> Option<String> {
        let network = self.flavour.is_network_os();
        let junos = self.flavour == Flavour::JuniperJunos;
        match (&self.mode, line) {
            (CliMode::User | CliMode::Enable, "exit" | "quit" | "logout") => {
                events.push(ShellEvent::Close);
                None
            }
            _ if network && Some(line) == self.flavour.paging_off_command() => {
                self.paging = false;
                Some(String::new())
            }
            (CliMode::User, "enable") if network && !junos => {
                self.awaiting_password = true;
                events.push(ShellEvent::Output(b"Password: ".to_vec()));
                None
            }
            (CliMode::Enable, "disable") if network && !junos => {
                self.mode = CliMode::User;
                Some(String::new())
            }
            (CliMode::Enable, "configure terminal" | "conf t") if network && !junos => {
                self.mode = CliMode::Config;
                Some("Enter configuration commands, one per line.  End with CNTL/Z.\n".to_string())
            }
            (CliMode::User, "configure") if junos => {
                self.mode = CliMode::Config;
                Some("Entering configuration mode\n\n[edit]\n".to_string())
            }
            (CliMode::Enable, "write memory" | "copy running-config startup-config" | "wr")
                if network =>
            {
                Some("Building configuration...\n[OK]\n".to_string())
            }
            (CliMode::Config | CliMode::ConfigIf(_), "end") => {
                self.mode = if junos {
                    CliMode::User
                } else {
                    CliMode::Enable
                };
                Some(String::new())
            }
            (CliMode::ConfigIf(_), "exit") => {
                self.mode = CliMode::Config;
                Some(String::new())
            }
            (CliMode::Config, "exit" | "quit") => {
                self.mode = if junos {
                    CliMode::User
                } else {
                    CliMode::Enable
                };
                Some(String::new())
            }
            (CliMode::Config, "commit") if junos => Some("commit complete\n".to_string()),
            (CliMode::Config | CliMode::ConfigIf(_), _) => {
                let words: Vec<&str> = line.split_whitespace().collect();
                let mut config = self.config.lock().ok()?;
                if let (false, ["interface", rest @ ..]) = (junos, words.as_slice()) {
                    let iface = rest.join(" ");
                    if iface.is_empty() {
                        return Some(format!("{}\n", unknown_command_error(self.flavour, line)));
                    }
                    config.ensure_interface(&iface);
                    drop(config);
                    self.mode = CliMode::ConfigIf(iface);
                    return Some(String::new());
                }
                let context = match &self.mode {
                    CliMode::ConfigIf(iface) => Some(iface.clone()),
                    _ => None,
                };
                config.apply(context.as_deref(), line);
                Some(String::new())
            }
            _ => {
                let config = self.config.lock().ok()?.clone();
                let mut result = run_command(&self.name, self.flavour, line, &config);
                if self.escapes {
                    result = crate::escapes::command(result, self.flavour, line);
                }
                Some(format!("{}{}", result.stdout, result.stderr))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(flavour: Flavour) -> Shell {
        let config = Arc::new(Mutex::new(RunningConfig::initial("r1", flavour)));
        Shell::new("r1", flavour, config, Secret::new("s3cret"))
    }

    fn text(events: &[ShellEvent]) -> String {
        events
            .iter()
            .map(|e| match e {
                ShellEvent::Echo(b) | ShellEvent::Output(b) => {
                    String::from_utf8_lossy(b).into_owned()
                }
                ShellEvent::Close => "<close>".to_string(),
            })
            .collect()
    }

    #[test]
    fn enable_config_and_paging() {
        let mut s = shell(Flavour::CiscoIos);
        assert!(text(&s.feed(b"enable\r")).ends_with("Password: "));
        let out = text(&s.feed(b"s3cret\r"));
        assert!(!out.contains("s3cret"));
        assert!(out.ends_with("r1#"));
        assert!(text(&s.feed(b"show interfaces\r")).ends_with(MORE_PROMPT));
        assert!(text(&s.feed(b"q")).ends_with("r1#"));
        s.feed(b"terminal length 0\r");
        assert!(text(&s.feed(b"show interfaces\r")).ends_with("r1#"));
        assert!(text(&s.feed(b"conf t\r")).ends_with("r1(config)#"));
        assert!(text(&s.feed(b"interface GigabitEthernet0/3\r")).ends_with("r1(config-if)#"));
        s.feed(b"description changed\rend\r");
        assert!(text(&s.feed(b"show running-config\r")).contains(" description changed\r\n"));
        assert_eq!(s.feed(b"exit\r").last(), Some(&ShellEvent::Close));
    }

    #[test]
    fn wrong_enable_secret_is_denied() {
        let mut s = shell(Flavour::CiscoIos);
        s.feed(b"enable\r\n");
        assert!(text(&s.feed(b"nope\r\n")).ends_with("% Access denied\r\n\r\nr1>"));
    }
}
