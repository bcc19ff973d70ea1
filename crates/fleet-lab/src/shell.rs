//! The interactive CLI of one shell session: echo, prompts, `enable`,
//! paging with ` --More-- `, the session preparation clients send
//! (terminal width/length, `set cli ...`), config mode editing the running
//! config, Junos candidate configuration and commits, EOS configuration
//! sessions, and the questions devices ask (`[confirm]`,
//! `Destination filename [startup-config]?`, `[yes,no]`).
//!
//! It is a pure state machine (bytes in, events out) so it can be tested
//! without SSH; the server adds latency and sends the bytes.

use crate::flavour::Flavour;
use crate::outputs::{normalize, run_command, terminal_setting, unknown_command_error};
use crate::running_config::RunningConfig;
use fleet_proto::Secret;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// An action an IOS `[confirm]` question guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Confirmable {
    ClearCounters,
    ClearLogging,
}

/// A question the device asked; the next line answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Question {
    /// `enable` asked `Password:` (the answer is not echoed).
    EnableSecret,
    /// `... [confirm]`: Enter or `y` goes ahead.
    Confirm(Confirmable),
    /// IOS `copy running-config startup-config`: `Destination filename [startup-config]?`.
    Destination,
    /// Junos exit with uncommitted changes: `[yes,no] (yes)`.
    ExitUncommitted,
}

/// An edit not yet applied to the device: a Junos candidate
/// configuration, or an EOS configuration session.
#[derive(Debug, Clone)]
struct Candidate {
    /// The configuration being edited.
    edit: RunningConfig,
    /// The committed configuration when editing began.
    base: RunningConfig,
    /// The EOS session name; `None` on Junos.
    session: Option<String>,
}

/// Junos `commit` options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct CommitArgs {
    check: bool,
    and_quit: bool,
    confirmed: Option<u64>,
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
    /// A question waits for its answer (the next line).
    question: Option<Question>,
    /// Lines still to show after ` --More-- `.
    pager: Option<VecDeque<String>>,
    /// The `escapes` fault: hostile banner, outputs and error lines.
    escapes: bool,
    /// Uncommitted edits (Junos configure, EOS configure session).
    candidate: Option<Candidate>,
    /// `end` does not leave config mode (scenario `sticky_config_mode`).
    sticky_end: bool,
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
            question: None,
            pager: None,
            escapes: false,
            candidate: None,
            sticky_end: false,
        }
    }

    /// With the `escapes` fault ([`crate::escapes`]) on or off.
    pub fn with_escapes(mut self, escapes: bool) -> Self {
        self.escapes = escapes;
        self
    }

    /// Makes `end` leave the session in config mode (scenario
    /// `sticky_config_mode`), so clients must notice and recover.
    pub fn with_sticky_end(mut self, sticky: bool) -> Self {
        self.sticky_end = sticky;
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

    /// The prompt for the current mode (on Junos in config mode, with the
    /// `[edit]` banner line before it).
    pub fn prompt(&self) -> String {
        let host = self.hostname();
        let session = self.candidate.as_ref().and_then(|c| c.session.as_deref());
        match self.flavour {
            Flavour::Linux => format!("admin@{host}:~$ "),
            Flavour::JuniperJunos => match self.mode {
                CliMode::User | CliMode::Enable => format!("admin@{host}> "),
                _ => format!("\r\n[edit]\r\nadmin@{host}# "),
            },
            _ => match (&self.mode, session) {
                (CliMode::User, _) => format!("{host}>"),
                (CliMode::Enable, _) => format!("{host}#"),
                (CliMode::Config, None) => format!("{host}(config)#"),
                (CliMode::Config, Some(s)) => format!("{host}(config-s-{s})#"),
                (CliMode::ConfigIf(_), None) => format!("{host}(config-if)#"),
                (CliMode::ConfigIf(_), Some(s)) => format!("{host}(config-s-{s}-if)#"),
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
            let secret = self.question == Some(Question::EnableSecret);
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
                    if erased && !secret {
                        events.push(ShellEvent::Echo(b"\x08 \x08".to_vec()));
                    }
                }
                0x03 => {
                    self.line.clear();
                    self.question = None;
                    events.push(ShellEvent::Echo(
                        format!("^C\r\n{}", self.prompt()).into_bytes(),
                    ));
                }
                0x1a if self.flavour != Flavour::JuniperJunos
                    && matches!(self.mode, CliMode::Config | CliMode::ConfigIf(_)) =>
                {
                    self.line.clear();
                    self.mode = CliMode::Enable;
                    self.candidate = None;
                    events.push(ShellEvent::Echo(
                        format!("^Z\r\n{}", self.prompt()).into_bytes(),
                    ));
                }
                b if b >= 0x20 || b == b'\t' => {
                    self.line.push(b);
                    if !secret {
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

    /// Asks `question` with `text` (no newline: the answer follows on the line).
    fn ask(&mut self, question: Question, text: &str, events: &mut Vec<ShellEvent>) {
        self.question = Some(question);
        events.push(ShellEvent::Output(text.replace('\n', "\r\n").into_bytes()));
    }

    fn enter(&mut self, raw: &str, events: &mut Vec<ShellEvent>) {
        if let Some(question) = self.question.take() {
            self.answer(question, raw.trim(), events);
            return;
        }
        if let Ok(mut config) = self.config.lock() {
            config.settle(Instant::now());
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

    /// The line after a question.
    fn answer(&mut self, question: Question, text: &str, events: &mut Vec<ShellEvent>) {
        let yes = text.is_empty() || text.eq_ignore_ascii_case("y") || text == "yes";
        let out = match question {
            Question::EnableSecret => {
                if text == self.enable_secret.expose() {
                    self.mode = CliMode::Enable;
                    String::new()
                } else {
                    "% Access denied\n\n".to_string()
                }
            }
            // The cleared counters and log are not modelled: going ahead
            // and declining both print nothing.
            Question::Confirm(_) => String::new(),
            Question::Destination if text.is_empty() || text == "startup-config" => {
                self.with_config(RunningConfig::save);
                "Building configuration...\n[OK]\n".to_string()
            }
            Question::Destination => {
                format!("%Error opening nvram:{text} (No such file or directory)\n")
            }
            Question::ExitUncommitted if yes => {
                self.candidate = None;
                self.mode = CliMode::User;
                "Exiting configuration mode\n\n".to_string()
            }
            Question::ExitUncommitted => String::new(),
        };
        self.show(&out, events);
    }

    fn with_config(&self, f: impl FnOnce(&mut RunningConfig)) {
        if let Ok(mut config) = self.config.lock() {
            f(&mut config);
        }
    }

    /// The committed configuration now.
    fn committed(&self) -> RunningConfig {
        match self.config.lock() {
            Ok(c) => c.clone(),
            Err(_) => RunningConfig::initial(&self.name, self.flavour),
        }
    }

    /// Handles mode-changing commands; returns text to show for the rest.
    fn cli_command(&mut self, line: &str, events: &mut Vec<ShellEvent>) -> Option<String> {
        if matches!(self.mode, CliMode::User | CliMode::Enable)
            && matches!(line, "exit" | "quit" | "logout")
        {
            events.push(ShellEvent::Close);
            return None;
        }
        if let Some((answer, paging)) = terminal_setting(self.flavour, line) {
            if let Some(on) = paging {
                self.paging = on;
            }
            return Some(answer);
        }
        match self.flavour {
            Flavour::Linux => Some(self.operational(line)),
            Flavour::JuniperJunos => self.junos_command(line, events),
            _ => self.ios_command(line, events),
        }
    }

    /// A command that only reads state: the device's answer.
    fn operational(&self, line: &str) -> String {
        let mut result = run_command(&self.name, self.flavour, line, &self.committed());
        if self.escapes {
            result = crate::escapes::command(result, self.flavour, line);
        }
        format!("{}{}", result.stdout, result.stderr)
    }

    /// IOS, NX-OS and EOS.
    fn ios_command(&mut self, line: &str, events: &mut Vec<ShellEvent>) -> Option<String> {
        let flavour = self.flavour;
        let in_session = self.candidate.as_ref().is_some_and(|c| c.session.is_some());
        match (&self.mode, line) {
            (CliMode::User, "enable") => {
                self.ask(Question::EnableSecret, "Password: ", events);
                None
            }
            (CliMode::Enable, "disable") => {
                self.mode = CliMode::User;
                Some(String::new())
            }
            (CliMode::Enable, "configure terminal" | "conf t" | "config t" | "configure") => {
                self.mode = CliMode::Config;
                Some(
                    match flavour {
                        Flavour::CiscoIos => {
                            "Enter configuration commands, one per line.  End with CNTL/Z.\n"
                        }
                        Flavour::CiscoNxos => {
                            "Enter configuration commands, one per line. End with CNTL/Z.\n"
                        }
                        _ => "",
                    }
                    .to_string(),
                )
            }
            (CliMode::Enable, l)
                if flavour == Flavour::AristaEos && l.starts_with("configure session ") =>
            {
                let rest = l.strip_prefix("configure session ").unwrap_or(l);
                match rest.split_once(' ') {
                    Some((_, "commit")) => {
                        self.with_config(|c| {
                            c.confirm();
                        });
                        Some(String::new())
                    }
                    Some(_) => Some(format!("{}\n", unknown_command_error(flavour, l))),
                    None => {
                        let committed = self.committed();
                        self.candidate = Some(Candidate {
                            edit: committed.clone(),
                            base: committed,
                            session: Some(rest.to_string()),
                        });
                        self.mode = CliMode::Config;
                        Some(String::new())
                    }
                }
            }
            (CliMode::Enable, "write memory" | "write mem" | "write" | "wr" | "wr mem")
                if flavour != Flavour::CiscoNxos =>
            {
                self.with_config(RunningConfig::save);
                Some(if flavour == Flavour::AristaEos {
                    "Copy completed successfully.\n".to_string()
                } else {
                    "Building configuration...\n[OK]\n".to_string()
                })
            }
            (CliMode::Enable, "copy running-config startup-config" | "copy run start") => {
                match flavour {
                    Flavour::CiscoIos => {
                        self.ask(
                            Question::Destination,
                            "Destination filename [startup-config]? ",
                            events,
                        );
                        None
                    }
                    Flavour::CiscoNxos => {
                        self.with_config(RunningConfig::save);
                        Some("[########################################] 100%\nCopy complete, now saving to disk (please wait)...\nCopy complete.\n".to_string())
                    }
                    _ => {
                        self.with_config(RunningConfig::save);
                        Some("Copy completed successfully.\n".to_string())
                    }
                }
            }
            (CliMode::Enable, "clear counters") if flavour == Flavour::CiscoIos => {
                self.ask(
                    Question::Confirm(Confirmable::ClearCounters),
                    "Clear \"show interface\" counters on all interfaces [confirm]",
                    events,
                );
                None
            }
            (CliMode::Enable, "clear logging") if flavour == Flavour::CiscoIos => {
                self.ask(
                    Question::Confirm(Confirmable::ClearLogging),
                    "Clear logging buffer [confirm]",
                    events,
                );
                None
            }
            (CliMode::Config | CliMode::ConfigIf(_), "end") => {
                if !self.sticky_end {
                    // An EOS session left with `end` stays uncommitted; the
                    // lab drops it.
                    self.candidate = None;
                    self.mode = CliMode::Enable;
                }
                Some(String::new())
            }
            (CliMode::ConfigIf(_), "exit") => {
                self.mode = CliMode::Config;
                Some(String::new())
            }
            (CliMode::Config, "exit") => {
                self.candidate = None;
                self.mode = CliMode::Enable;
                Some(String::new())
            }
            (CliMode::Config | CliMode::ConfigIf(_), "commit") if in_session => {
                self.eos_commit(None);
                Some(String::new())
            }
            (CliMode::Config | CliMode::ConfigIf(_), l)
                if in_session && l.starts_with("commit timer ") =>
            {
                match parse_hms(l.strip_prefix("commit timer ").unwrap_or(l)) {
                    Some(d) => {
                        self.eos_commit(Some(d));
                        Some(String::new())
                    }
                    None => Some(format!("{}\n", unknown_command_error(flavour, l))),
                }
            }
            (CliMode::Config | CliMode::ConfigIf(_), "abort") if in_session => {
                self.candidate = None;
                self.mode = CliMode::Enable;
                Some(String::new())
            }
            (CliMode::Config | CliMode::ConfigIf(_), l) if l.starts_with("do ") => {
                Some(self.operational(l.strip_prefix("do ").unwrap_or(l)))
            }
            (CliMode::Config | CliMode::ConfigIf(_), l) if l.starts_with("show ") => {
                Some(format!("{}\n", unknown_command_error(flavour, l)))
            }
            (CliMode::Config | CliMode::ConfigIf(_), _) => {
                let words: Vec<&str> = line.split_whitespace().collect();
                let context = match &self.mode {
                    CliMode::ConfigIf(iface) => Some(iface.clone()),
                    _ => None,
                };
                let mut shared = self.config.lock().ok()?;
                let target: &mut RunningConfig = match self.candidate.as_mut() {
                    Some(c) => &mut c.edit,
                    None => &mut shared,
                };
                if let ["interface", rest @ ..] = words.as_slice() {
                    let iface = rest.join(" ");
                    if iface.is_empty() {
                        return Some(format!("{}\n", unknown_command_error(flavour, line)));
                    }
                    target.ensure_interface(&iface);
                    drop(shared);
                    self.mode = CliMode::ConfigIf(iface);
                    return Some(String::new());
                }
                target.apply(context.as_deref(), line);
                Some(String::new())
            }
            _ => Some(self.operational(line)),
        }
    }

    /// EOS `commit` / `commit timer` in a configuration session.
    fn eos_commit(&mut self, timer: Option<Duration>) {
        if let Some(c) = self.candidate.take() {
            self.with_config(|shared| shared.commit(&c.edit, timer, Instant::now()));
        }
        self.mode = CliMode::Enable;
    }

    /// Junos operational and configuration mode.
    fn junos_command(&mut self, line: &str, events: &mut Vec<ShellEvent>) -> Option<String> {
        if matches!(self.mode, CliMode::User | CliMode::Enable) {
            return match line {
                "configure" | "configure private" | "configure exclusive" | "edit" => {
                    let committed = self.committed();
                    self.candidate = Some(Candidate {
                        edit: committed.clone(),
                        base: committed,
                        session: None,
                    });
                    self.mode = CliMode::Config;
                    let warning = if line == "configure private" {
                        "warning: uncommitted changes will be discarded on exit\n"
                    } else {
                        ""
                    };
                    Some(format!("{warning}Entering configuration mode\n"))
                }
                _ => Some(self.operational(line)),
            };
        }
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        let unknown = "unknown command.\n".to_string();
        let syntax = format!("{}\n", unknown_command_error(self.flavour, line));
        match (verb, rest) {
            ("set", "") | ("delete", "") => Some(syntax),
            ("set", statement) => {
                let ok = self
                    .candidate
                    .as_mut()
                    .is_some_and(|c| c.edit.set(statement));
                Some(if ok { String::new() } else { syntax })
            }
            ("delete", path) => {
                let found = self.candidate.as_mut().is_some_and(|c| c.edit.delete(path));
                Some(if found {
                    String::new()
                } else {
                    "warning: statement not found\n".to_string()
                })
            }
            ("show", what) => {
                let committed = self.committed();
                let edit = self
                    .candidate
                    .as_ref()
                    .map(|c| &c.edit)
                    .unwrap_or(&committed);
                Some(match what {
                    "" => edit.render(self.flavour),
                    "| compare" => edit.compare(&committed),
                    "| display set" => edit.render_set(),
                    _ => syntax,
                })
            }
            ("commit", args) => match parse_commit(args) {
                Some(args) => Some(self.junos_commit(args)),
                None => Some(syntax),
            },
            ("rollback", n) => {
                let n = if n.is_empty() {
                    Some(0)
                } else {
                    n.parse().ok()
                };
                let loaded = n.and_then(|n| self.committed().rollback(n));
                match (loaded, self.candidate.as_mut()) {
                    (Some(config), Some(c)) => {
                        c.edit = config;
                        Some("load complete\n".to_string())
                    }
                    _ => Some("error: rollback configuration does not exist\n".to_string()),
                }
            }
            ("exit" | "quit", "" | "configuration-mode") => {
                let changed = self
                    .candidate
                    .as_ref()
                    .is_some_and(|c| !c.edit.same_as(&c.base));
                if changed {
                    self.ask(
                        Question::ExitUncommitted,
                        "The configuration has been changed but not committed\nExit with uncommitted changes? [yes,no] (yes) ",
                        events,
                    );
                    return None;
                }
                self.candidate = None;
                self.mode = CliMode::User;
                Some("Exiting configuration mode\n\n".to_string())
            }
            ("top" | "up", "") => Some(String::new()),
            ("run", command) => Some(self.operational(command)),
            _ => Some(unknown),
        }
    }

    /// Junos `commit [check] [confirmed [N]] [and-quit]`.
    fn junos_commit(&mut self, args: CommitArgs) -> String {
        if args.check {
            return "configuration check succeeds\n".to_string();
        }
        let Some(candidate) = self.candidate.as_mut() else {
            return String::new();
        };
        let confirm = args.confirmed.map(|m| Duration::from_secs(m * 60));
        let edit = candidate.edit.clone();
        let committed = match self.config.lock() {
            Ok(mut shared) => {
                shared.commit(&edit, confirm, Instant::now());
                shared.clone()
            }
            Err(_) => return "error: configuration database locked\n".to_string(),
        };
        candidate.base = committed;
        let mut out = String::new();
        if let Some(m) = args.confirmed {
            out.push_str(&format!(
                "configuration check succeeds\ncommit confirmed will be automatically rolled back in {m} minutes unless confirmed\ncommit complete\n\n# commit confirmed will be rolled back in {m} minutes\n"
            ));
        } else {
            out.push_str("commit complete\n");
        }
        if args.and_quit {
            self.candidate = None;
            self.mode = CliMode::User;
            out.push_str("Exiting configuration mode\n\n");
        }
        out
    }
}

/// Parses Junos `commit` arguments (`check`, `confirmed [N]`, `and-quit`,
/// `comment "..."`); `None` on anything else.
fn parse_commit(args: &str) -> Option<CommitArgs> {
    let words = crate::running_config::junos_words(args);
    let mut out = CommitArgs::default();
    let mut i = 0;
    while i < words.len() {
        match words[i].as_str() {
            "check" => out.check = true,
            "and-quit" => out.and_quit = true,
            "confirmed" => {
                let minutes = words.get(i + 1).and_then(|w| w.parse::<u64>().ok());
                if minutes.is_some() {
                    i += 1;
                }
                let minutes = minutes.unwrap_or(10);
                if !(1..=65535).contains(&minutes) {
                    return None;
                }
                out.confirmed = Some(minutes);
            }
            "comment" => i += 1,
            _ => return None,
        }
        i += 1;
    }
    (!(out.check && (out.confirmed.is_some() || out.and_quit))).then_some(out)
}

/// Parses EOS `commit timer hh:mm:ss`.
fn parse_hms(text: &str) -> Option<Duration> {
    let parts: Vec<u64> = text
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    match parts.as_slice() {
        [h, m, s] if *m < 60 && *s < 60 && h * 3600 + m * 60 + s > 0 => {
            Some(Duration::from_secs(h * 3600 + m * 60 + s))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(flavour: Flavour) -> Arc<Mutex<RunningConfig>> {
        Arc::new(Mutex::new(RunningConfig::initial("r1", flavour)))
    }

    fn session(config: &Arc<Mutex<RunningConfig>>, flavour: Flavour) -> Shell {
        Shell::new("r1", flavour, Arc::clone(config), Secret::new("s3cret"))
    }

    fn shell(flavour: Flavour) -> Shell {
        session(&shared(flavour), flavour)
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

    /// What Netmiko, Scrapli and Ansible send before the first command,
    /// and what each device answers (Netmiko waits for these patterns).
    #[test]
    fn session_preparation_answers_like_devices() {
        let cases: &[(Flavour, &str, &str)] = &[
            (
                Flavour::AristaEos,
                "terminal width 511",
                "Width set to 511 columns.\r\nr1>",
            ),
            (
                Flavour::AristaEos,
                "terminal width 32767",
                "Width set to 32767 columns.\r\nr1>",
            ),
            (
                Flavour::AristaEos,
                "terminal length 0",
                "Pagination disabled.\r\nr1>",
            ),
            (
                Flavour::CiscoIos,
                "terminal width 511",
                "terminal width 511\r\nr1>",
            ),
            (
                Flavour::CiscoIos,
                "terminal width 512",
                "terminal width 512\r\nr1>",
            ),
            (
                Flavour::CiscoNxos,
                "terminal width 511",
                "terminal width 511\r\nr1#",
            ),
            (
                Flavour::JuniperJunos,
                "set cli screen-width 511",
                "Screen width set to 511\r\nadmin@r1> ",
            ),
            (
                Flavour::JuniperJunos,
                "set cli screen-width 1024",
                "Screen width set to 1024\r\nadmin@r1> ",
            ),
            (
                Flavour::JuniperJunos,
                "set cli complete-on-space off",
                "Disabling complete-on-space\r\nadmin@r1> ",
            ),
            (
                Flavour::JuniperJunos,
                "set cli screen-length 0",
                "Screen length set to 0\r\nadmin@r1> ",
            ),
            (
                Flavour::JuniperJunos,
                "set cli timestamp disable",
                "\r\nadmin@r1> ",
            ),
        ];
        for (flavour, cmd, want) in cases {
            let mut s = shell(*flavour);
            let out = text(&s.feed(format!("{cmd}\n").as_bytes()));
            assert!(out.ends_with(want), "{flavour} {cmd}: {out:?}");
        }
        // The paging answers also turn paging off.
        let mut s = shell(Flavour::AristaEos);
        s.feed(b"terminal length 0\n");
        assert!(!text(&s.feed(b"show interfaces\n")).contains(MORE_PROMPT));
        let mut s = shell(Flavour::JuniperJunos);
        s.feed(b"set cli screen-length 0\n");
        assert!(!text(&s.feed(b"show configuration\n")).contains(MORE_PROMPT));
    }

    #[test]
    fn junos_commit_flow() {
        let config = shared(Flavour::JuniperJunos);
        let mut a = session(&config, Flavour::JuniperJunos);
        assert_eq!(
            text(&a.feed(b"configure\n")),
            "configure\r\nEntering configuration mode\r\n\r\n[edit]\r\nadmin@r1# "
        );
        assert_eq!(
            text(&a.feed(b"set system ntp server 192.0.2.7\n")),
            "set system ntp server 192.0.2.7\r\n\r\n[edit]\r\nadmin@r1# "
        );
        assert!(
            text(&a.feed(b"delete interfaces ge-0/0/9\n")).contains("warning: statement not found")
        );
        assert!(text(&a.feed(b"frobnicate\n")).contains("unknown command."));
        assert!(text(&a.feed(b"show | compare\n"))
            .contains("[edit system ntp]\r\n+  server 192.0.2.7;\r\n"));
        // Uncommitted: invisible to a new session.
        let mut b = session(&config, Flavour::JuniperJunos);
        b.feed(b"set cli screen-length 0\n");
        assert!(!text(&b.feed(b"show configuration\n")).contains("192.0.2.7"));
        assert!(text(&a.feed(b"commit check\n")).contains("configuration check succeeds"));
        assert!(!text(&b.feed(b"show configuration | display set\n")).contains("192.0.2.7"));
        assert!(
            text(&a.feed(b"commit\n")).starts_with("commit\r\ncommit complete\r\n\r\n[edit]\r\n")
        );
        let shown = text(&b.feed(b"show configuration | display set\n"));
        assert!(
            shown.contains("set system ntp server 192.0.2.7\r\n"),
            "{shown}"
        );
        // Exit with uncommitted changes asks; `no` stays, `yes` discards.
        a.feed(b"set system host-name r9\n");
        assert!(text(&a.feed(b"exit\n"))
            .ends_with("The configuration has been changed but not committed\r\nExit with uncommitted changes? [yes,no] (yes) "));
        assert!(text(&a.feed(b"no\n")).ends_with("[edit]\r\nadmin@r1# "));
        a.feed(b"exit configuration-mode\n");
        assert!(text(&a.feed(b"yes\n")).ends_with("Exiting configuration mode\r\n\r\nadmin@r1> "));
        assert!(!text(&b.feed(b"show configuration\n")).contains("r9"));
        // Nothing changed: exit without a question; and-quit leaves too.
        a.feed(b"configure private\n");
        assert!(text(&a.feed(b"exit\n")).ends_with("Exiting configuration mode\r\n\r\nadmin@r1> "));
        a.feed(b"configure\nset system host-name r2\n");
        let out = text(&a.feed(b"commit and-quit\n"));
        assert!(
            out.ends_with("commit complete\r\nExiting configuration mode\r\n\r\nadmin@r2> "),
            "{out:?}"
        );
        // rollback 1 loads the configuration before that commit.
        a.feed(b"configure\n");
        assert!(text(&a.feed(b"rollback 1\n")).contains("load complete"));
        assert!(text(&a.feed(b"show | compare\n")).contains("+  host-name r1;"));
    }

    #[test]
    fn junos_commit_confirmed_is_pending_until_confirmed() {
        let config = shared(Flavour::JuniperJunos);
        let mut a = session(&config, Flavour::JuniperJunos);
        a.feed(b"configure\nset system host-name r2\n");
        let out = text(&a.feed(b"commit confirmed 5\n"));
        assert!(out.contains("commit confirmed will be automatically rolled back in 5 minutes unless confirmed\r\ncommit complete"), "{out}");
        assert!(config.lock().unwrap().pending_confirm());
        a.feed(b"commit\n");
        assert!(!config.lock().unwrap().pending_confirm());
    }

    #[test]
    fn ios_questions_are_answered_on_the_next_line() {
        let config = shared(Flavour::CiscoIos);
        let mut s = session(&config, Flavour::CiscoIos);
        s.feed(b"enable\ns3cret\nconf t\nntp server 192.0.2.1\nend\n");
        assert!(!config
            .lock()
            .unwrap()
            .render_startup(Flavour::CiscoIos)
            .contains("192.0.2.1"));
        assert_eq!(
            text(&s.feed(b"copy running-config startup-config\n")),
            "copy running-config startup-config\r\nDestination filename [startup-config]? "
        );
        assert_eq!(
            text(&s.feed(b"\n")),
            "\r\nBuilding configuration...\r\n[OK]\r\nr1#"
        );
        assert!(text(&s.feed(b"show startup-config\n")).contains("ntp server 192.0.2.1\r\n"));
        assert!(text(&s.feed(b"clear counters\n"))
            .ends_with("Clear \"show interface\" counters on all interfaces [confirm]"));
        assert_eq!(text(&s.feed(b"\n")), "\r\nr1#");
        assert!(text(&s.feed(b"clear logging\n")).ends_with("Clear logging buffer [confirm]"));
        assert_eq!(text(&s.feed(b"y\n")), "y\r\nr1#");
        assert_eq!(
            text(&s.feed(b"write mem\n")),
            "write mem\r\nBuilding configuration...\r\n[OK]\r\nr1#"
        );
    }

    #[test]
    fn eos_configuration_session_commits_or_aborts() {
        let config = shared(Flavour::AristaEos);
        let mut a = session(&config, Flavour::AristaEos);
        let mut b = session(&config, Flavour::AristaEos);
        a.feed(b"enable\ns3cret\n");
        b.feed(b"enable\ns3cret\nterminal length 0\n");
        assert!(text(&a.feed(b"configure session fleet\n")).ends_with("r1(config-s-fleet)#"));
        a.feed(b"ntp server 192.0.2.5\n");
        assert!(!text(&b.feed(b"show running-config\n")).contains("192.0.2.5"));
        assert!(text(&a.feed(b"commit timer 00:05:00\n")).ends_with("r1#"));
        assert!(text(&b.feed(b"show running-config\n")).contains("ntp server 192.0.2.5"));
        assert!(config.lock().unwrap().pending_confirm());
        a.feed(b"configure session fleet commit\n");
        assert!(!config.lock().unwrap().pending_confirm());
        a.feed(b"configure session other\nntp server 192.0.2.6\nabort\n");
        assert!(!text(&b.feed(b"show running-config\n")).contains("192.0.2.6"));
        assert_eq!(
            text(&a.feed(b"write memory\n")),
            "write memory\r\nCopy completed successfully.\r\nr1#"
        );
    }

    #[test]
    fn sticky_end_stays_in_config_mode_until_exit() {
        let mut s = shell(Flavour::CiscoIos).with_sticky_end(true);
        s.feed(b"enable\ns3cret\nconf t\n");
        assert!(text(&s.feed(b"end\n")).ends_with("r1(config)#"));
        assert!(text(&s.feed(b"exit\n")).ends_with("r1#"));
    }
}
