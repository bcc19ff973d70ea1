//! Shell mode: drive an interactive CLI like a person would. Wait for the
//! first prompt and learn it, turn paging off, `enable` if asked, then
//! send each command and read until the prompt returns; strip the echo
//! and the prompt, and look for the platform's error markers.

use crate::budget::{ms, Budget, Limit};
use crate::error::Failure;
use crate::platform::Platform;
use crate::screen::Screen;
use crate::ssh::Connected;
use crate::term::{SshTerm, Terminal};
use fleet_proto::{CommandOutput, Device, Secret, Status};
use regex::bytes::Regex;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long logging out may take.
pub(crate) const LOGOUT: Duration = Duration::from_millis(500);

/// If no prompt shows this long after connecting, press Enter once.
const NUDGE_AFTER: Duration = Duration::from_secs(2);

/// Questions answered within one command before giving up (a device that
/// asks again after every answer would otherwise loop).
const MAX_ANSWERS: usize = 8;

/// `exit`s sent to leave configuration mode when `config_exit` did not.
const MAX_CONFIG_EXITS: usize = 4;

/// Runs the device's commands in an interactive shell over SSH.
pub(crate) fn run_ssh(
    conn: &Connected,
    device: &Device,
    platform: Option<&'static Platform>,
    budget: &Budget,
    max_output: usize,
    outputs: &mut Vec<CommandOutput>,
) -> Result<(), Failure> {
    let term = SshTerm::open(conn, budget)?;
    let mut cli = Cli::new(term, platform.unwrap_or_else(Platform::generic), max_output);
    let result = cli.run(device, budget, outputs);
    cli.term.close(&budget.limit(Some(LOGOUT), "logout"));
    result
}

/// Patterns every CLI shares.
fn password_prompt() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)password: ?$").unwrap_or_else(|_| Regex::new("$^").expect("trivial regex"))
    })
}

fn leftover_more() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i) ?--more-- ?|---\(more[^)\n]*\)---")
            .unwrap_or_else(|_| Regex::new("$^").expect("trivial regex"))
    })
}

/// An interactive CLI session over any terminal.
pub(crate) struct Cli<T: Terminal> {
    pub term: T,
    platform: &'static Platform,
    screen: Screen,
    prompt: Option<Regex>,
    /// Text before this index has been answered for pager markers.
    more_floor: usize,
    /// The prompt line seen last (tells user from privileged mode).
    last_prompt: String,
    /// The device's placeholder values: filled into a line as it is sent,
    /// nowhere else.
    placeholders: std::collections::BTreeMap<String, fleet_proto::Secret>,
}

/// What `read_until` stopped at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    Prompt,
    Password,
    Other(usize),
}

impl<T: Terminal> Cli<T> {
    pub fn new(term: T, platform: &'static Platform, max_output: usize) -> Self {
        Cli {
            term,
            platform,
            screen: Screen::new(max_output),
            prompt: None,
            more_floor: 0,
            last_prompt: String::new(),
            placeholders: Default::default(),
        }
    }

    /// The whole conversation: prompt, paging off, enable, commands.
    pub fn run(
        &mut self,
        device: &Device,
        budget: &Budget,
        outputs: &mut Vec<CommandOutput>,
    ) -> Result<(), Failure> {
        self.first_prompt(budget)?;
        self.session(device, budget, outputs)
    }

    /// Everything after the first prompt: paging off, enable, commands, logout.
    pub fn session(
        &mut self,
        device: &Device,
        budget: &Budget,
        outputs: &mut Vec<CommandOutput>,
    ) -> Result<(), Failure> {
        self.placeholders = device.placeholders.clone();
        let spec = self.platform.spec;
        if let Some(cmd) = spec.paging_off {
            self.command(cmd, budget)?;
        }
        if let (Some(secret), Some(cmd)) = (&device.enable_secret, spec.enable) {
            self.enable(cmd, secret, budget)?;
        }
        for cmd in &device.commands {
            let t0 = Instant::now();
            let (out, bad) = self.command(cmd, budget)?;
            log::debug!(
                "command '{cmd}' done, {} bytes in {:.1} ms",
                out.stdout.len(),
                ms(t0.elapsed())
            );
            outputs.push(out);
            if let Some(line) = bad {
                return Err(Failure::new(
                    Status::CommandFailed,
                    format!("command '{cmd}' failed: {line}"),
                ));
            }
            if Some(cmd.as_str()) == spec.config_exit {
                self.leave_config_mode(cmd, budget)?;
            }
        }
        let limit = budget.limit(Some(LOGOUT), "logout");
        let mut bye = b"exit".to_vec();
        bye.extend_from_slice(self.term.newline());
        let _ = self.term.write_all(&bye, &limit, "logout");
        Ok(())
    }

    /// Waits for the first prompt (pressing Enter once if the device is
    /// quiet) and learns its exact form.
    pub fn first_prompt(&mut self, budget: &Budget) -> Result<(), Failure> {
        let limit = budget.command();
        let during = "waiting for the first prompt";
        let nudge = Limit {
            end: Some(match limit.end {
                Some(end) => end.min(Instant::now() + NUDGE_AFTER),
                None => Instant::now() + NUDGE_AFTER,
            }),
            ..limit
        };
        let stop = match self.read_until(&[], &nudge, during) {
            Err(f) if f.status == Status::Timeout && limit.remaining(during).is_ok() => {
                self.term.write_all(self.term.newline(), &limit, during)?;
                self.read_until(&[], &limit, during)?
            }
            other => other?,
        };
        if stop != Stop::Prompt {
            return Err(Failure::new(
                Status::ProtocolError,
                "device asked for a password before its first prompt",
            ));
        }
        self.learn_prompt();
        Ok(())
    }

    /// Learns the exact prompt from the prompt line just seen.
    pub fn learn_prompt(&mut self) {
        let line = self.last_prompt.clone();
        log::debug!("first prompt {:?}", line.trim());
        self.prompt = Some(self.platform.learned_prompt(&line));
        self.screen.take_body();
    }

    /// Reads and discards until the device closes or the limit passes.
    pub fn drain_to_eof(&mut self, limit: &Limit) {
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.term.read(&mut buf, limit, "logout") {
            if n == 0 {
                break;
            }
        }
    }

    /// The text received since the last prompt (for login checks).
    pub fn screen_text(&self) -> &[u8] {
        self.screen.text()
    }

    /// Types one line (the text and the terminal's newline).
    pub fn send_line(&mut self, text: &str, limit: &Limit, during: &str) -> Result<(), Failure> {
        self.screen.take_body();
        let mut line = text.as_bytes().to_vec();
        line.extend_from_slice(self.term.newline());
        self.term.write_all(&line, limit, during)
    }

    /// Reads until the prompt (or a password prompt, or one of `extra`),
    /// answering pager markers with a space.
    pub fn read_until(
        &mut self,
        extra: &[&Regex],
        limit: &Limit,
        during: &str,
    ) -> Result<Stop, Failure> {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let line = self.screen.last_line();
            let prompt = self.prompt.as_ref().unwrap_or(&self.platform.prompt);
            if prompt.is_match(line) {
                self.last_prompt = String::from_utf8_lossy(line).into_owned();
                return Ok(Stop::Prompt);
            }
            if password_prompt().is_match(line) {
                return Ok(Stop::Password);
            }
            if let Some(i) = extra.iter().position(|re| re.is_match(line)) {
                return Ok(Stop::Other(i));
            }
            let text = self.screen.text();
            self.more_floor = self.more_floor.min(text.len());
            if self.platform.more.is_match(&text[self.more_floor..]) {
                self.more_floor = text.len();
                self.term.write_all(b" ", limit, during)?;
            }
            self.read_more(&mut buf, limit, during)?;
        }
    }

    /// Sends one command and reads its output up to the prompt; returns
    /// the output and the first line with an error marker, if any.
    pub fn command(
        &mut self,
        cmd: &str,
        budget: &Budget,
    ) -> Result<(CommandOutput, Option<String>), Failure> {
        let limit = budget.command();
        let during = format!("command '{cmd}'");
        // Placeholders get their values on the wire only; the echo of that
        // text is what comes back (and is masked by the session later).
        let wire = fleet_proto::device::expand(cmd, &self.placeholders);
        let mut line = wire.as_bytes().to_vec();
        line.extend_from_slice(self.term.newline());
        self.term.write_all(&line, &limit, &during)?;
        let questions: Vec<&Regex> = self.platform.answers.iter().map(|(re, _)| re).collect();
        let mut answered = 0;
        loop {
            match self.read_until(&questions, &limit, &during)? {
                Stop::Prompt => break,
                Stop::Other(i) if answered < MAX_ANSWERS => {
                    let answer = self.platform.answers[i].1;
                    log::debug!(
                        "{during}: device asked {:?}, answering {answer:?}",
                        String::from_utf8_lossy(self.screen.last_line()).trim()
                    );
                    answered += 1;
                    let mut reply = answer.as_bytes().to_vec();
                    reply.extend_from_slice(self.term.newline());
                    self.term.write_all(&reply, &limit, &during)?;
                    let asked = self.platform.answers[i].0.clone();
                    self.read_past(&asked, &limit, &during)?;
                }
                Stop::Other(_) => {
                    return Err(Failure::new(
                        Status::ProtocolError,
                        format!("{during}: device kept asking questions"),
                    ))
                }
                Stop::Password => {
                    return Err(Failure::new(
                        Status::ProtocolError,
                        format!("{during}: device asked for a password"),
                    ))
                }
            }
        }
        let (body, truncated) = self.screen.take_body();
        self.more_floor = 0;
        let text = String::from_utf8_lossy(&body);
        let text = leftover_more().replace_all(text.as_bytes(), &b""[..]);
        let text = String::from_utf8_lossy(&text);
        let stdout = strip_echo(&text, &wire).to_string();
        let bad = stdout
            .lines()
            .find(|l| {
                self.platform
                    .spec
                    .error_markers
                    .iter()
                    .any(|m| l.contains(m))
            })
            .map(|l| l.trim().to_string());
        Ok((
            CommandOutput {
                command: cmd.to_string(),
                stdout,
                stderr: String::new(),
                exit_status: None,
                truncated,
            },
            bad,
        ))
    }

    /// Reads what the device sent next onto the screen; EOF here is an
    /// error, as the caller is waiting for more.
    fn read_more(&mut self, buf: &mut [u8], limit: &Limit, during: &str) -> Result<(), Failure> {
        let n = self.term.read(buf, limit, during)?;
        if n == 0 {
            return Err(Failure::new(
                Status::ProtocolError,
                format!("connection closed during {during}"),
            ));
        }
        self.screen.feed(&buf[..n]);
        Ok(())
    }

    /// Reads until the last line no longer matches `question` (the device
    /// echoed the answer), so the same question is not answered twice.
    fn read_past(&mut self, question: &Regex, limit: &Limit, during: &str) -> Result<(), Failure> {
        let mut buf = [0u8; 4096];
        while question.is_match(self.screen.last_line()) {
            self.read_more(&mut buf, limit, during)?;
        }
        Ok(())
    }

    /// Whether the last prompt is a configuration-mode prompt.
    fn in_config_mode(&self) -> bool {
        self.platform
            .config_prompt
            .as_ref()
            .is_some_and(|re| re.is_match(self.last_prompt.as_bytes()))
    }

    /// After `config_exit`, makes sure the prompt left configuration mode;
    /// if not, sends `exit` (one level each) as Netmiko does, and fails
    /// with the prompt seen if the device stays there.
    fn leave_config_mode(&mut self, exit_cmd: &str, budget: &Budget) -> Result<(), Failure> {
        for _ in 0..MAX_CONFIG_EXITS {
            if !self.in_config_mode() {
                return Ok(());
            }
            log::debug!(
                "still in configuration mode after '{exit_cmd}' ({:?}): sending exit",
                self.last_prompt.trim()
            );
            self.command("exit", budget)?;
        }
        if self.in_config_mode() {
            return Err(Failure::new(
                Status::CommandFailed,
                format!(
                    "still in configuration mode after '{exit_cmd}' and {MAX_CONFIG_EXITS} exits (prompt {:?})",
                    self.last_prompt.trim()
                ),
            ));
        }
        Ok(())
    }

    /// `enable` with the secret; fails with AuthFailed if refused.
    fn enable(&mut self, cmd: &str, secret: &Secret, budget: &Budget) -> Result<(), Failure> {
        if self.last_prompt.trim_end().ends_with('#') {
            return Ok(());
        }
        let limit = budget.command();
        let during = "enable";
        let mut line = cmd.as_bytes().to_vec();
        line.extend_from_slice(self.term.newline());
        self.term.write_all(&line, &limit, during)?;
        if self.read_until(&[], &limit, during)? == Stop::Password {
            let mut answer = secret.expose().as_bytes().to_vec();
            answer.extend_from_slice(self.term.newline());
            self.screen.take_body();
            self.term.write_all(&answer, &limit, during)?;
            if self.read_until(&[], &limit, during)? == Stop::Password {
                return Err(Failure::new(Status::AuthFailed, "enable: secret rejected"));
            }
        }
        let privileged = self.last_prompt.trim_end().ends_with('#');
        let (body, _) = self.screen.take_body();
        if !privileged {
            let why = String::from_utf8_lossy(&body);
            let why = why
                .lines()
                .map(str::trim)
                .rfind(|l| !l.is_empty() && *l != cmd)
                .unwrap_or("still in user mode");
            // The device may echo what was typed: never quote the secret.
            let why = why.replace(secret.expose(), "********");
            return Err(Failure::new(
                Status::AuthFailed,
                format!("enable failed: {why}"),
            ));
        }
        log::debug!("enable ok");
        Ok(())
    }
}

/// Drops the echoed command line at the start of the output.
fn strip_echo<'a>(text: &'a str, cmd: &str) -> &'a str {
    let (first, rest) = match text.find('\n') {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (text, ""),
    };
    if first.trim_end().ends_with(cmd.trim()) {
        rest
    } else {
        text
    }
}

#[cfg(test)]
mod tests;
