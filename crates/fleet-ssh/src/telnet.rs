//! Telnet transport, for equipment without SSH: TCP, minimal option
//! negotiation (only ECHO and SUPPRESS-GO-AHEAD are accepted), the
//! `Username:`/`Password:` login, then the same CLI engine as shell mode.

use crate::budget::{ms, Budget, Limit};
use crate::error::Failure;
use crate::platform::Platform;
use crate::shell::{Cli, Stop, LOGOUT};
use crate::tcp;
use crate::term::Terminal;
use crate::wait::{retry_io, wait_fd, write_all_retrying};
use fleet_proto::{Auth, CommandOutput, Device, Status, Timings};
use nix::poll::PollFlags;
use regex::bytes::Regex;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::OnceLock;
use std::time::Instant;

const IAC: u8 = 255;
const DONT: u8 = 254;
const DO: u8 = 253;
const WONT: u8 = 252;
const WILL: u8 = 251;
const SB: u8 = 250;
const SE: u8 = 240;
const ECHO: u8 = 1;
const SGA: u8 = 3;

/// Runs the device's commands over telnet.
pub(crate) fn run(
    device: &Device,
    platform: Option<&'static Platform>,
    budget: &Budget,
    max_output: usize,
    timings: &mut Timings,
    outputs: &mut Vec<CommandOutput>,
) -> Result<(), Failure> {
    let t0 = Instant::now();
    let stream = tcp::connect(&device.host, device.port, budget)?;
    stream
        .set_nonblocking(true)
        .map_err(|e| Failure::new(Status::ProtocolError, format!("telnet socket: {e}")))?;
    timings.connect = ms(t0.elapsed());
    log::debug!("connected in {:.1} ms", timings.connect);

    let term = TelnetTerm::new(stream);
    let mut cli = Cli::new(term, platform.unwrap_or_else(Platform::generic), max_output);
    let t1 = Instant::now();
    let login = login(&mut cli, device, budget);
    timings.auth = ms(t1.elapsed());
    login?;
    let t2 = Instant::now();
    let result = cli.session(device, budget, outputs);
    if result.is_ok() {
        // Let the device finish the logout it was asked for.
        cli.drain_to_eof(&budget.limit(Some(LOGOUT), "logout"));
    }
    timings.commands = ms(t2.elapsed());
    result
}

fn username_prompt() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)(user ?name|login): ?$")
            .unwrap_or_else(|_| Regex::new("$^").expect("trivial regex"))
    })
}

fn login_failed() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)(login invalid|authentication failed|login incorrect|access denied)")
            .unwrap_or_else(|_| Regex::new("$^").expect("trivial regex"))
    })
}

/// Answers the login prompts until the CLI prompt shows.
fn login(cli: &mut Cli<TelnetTerm>, device: &Device, budget: &Budget) -> Result<(), Failure> {
    let limit = budget.command();
    let during = "telnet login";
    let password = device.auth.iter().find_map(|a| match a {
        Auth::Password(p) => Some(p),
        _ => None,
    });
    let (mut sent_user, mut sent_password) = (false, false);
    loop {
        let stop = cli.read_until(&[username_prompt()], &limit, during)?;
        let text = String::from_utf8_lossy(cli.screen_text()).into_owned();
        let rejected = login_failed().is_match(text.as_bytes());
        match stop {
            Stop::Prompt => {
                cli.learn_prompt();
                log::info!(target: fleet_proto::event::DEVICE_LOG_TARGET, "auth ok (telnet login)");
                return Ok(());
            }
            Stop::Other(_) if sent_user || rejected => break,
            Stop::Other(_) => {
                sent_user = true;
                cli.send_line(&device.username, &limit, during)?;
            }
            Stop::Password if sent_password || rejected => break,
            Stop::Password => {
                let Some(pw) = password else {
                    return Err(Failure::new(
                        Status::AuthFailed,
                        "telnet login asks for a password and the device has no password credential",
                    ));
                };
                sent_password = true;
                cli.send_line(pw.expose(), &limit, during)?;
            }
        }
    }
    Err(Failure::new(
        Status::AuthFailed,
        format!("telnet login rejected for user '{}'", device.username),
    ))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Data,
    Iac,
    Opt(u8),
    Sub,
    SubIac,
}

/// A telnet connection: strips and answers option negotiation.
pub(crate) struct TelnetTerm {
    stream: TcpStream,
    state: State,
    raw: Vec<u8>,
    replies: Vec<u8>,
    agreed: [bool; 256],
}

impl TelnetTerm {
    fn new(stream: TcpStream) -> Self {
        TelnetTerm {
            stream,
            state: State::Data,
            raw: vec![0; 16 * 1024],
            replies: Vec::new(),
            agreed: [false; 256],
        }
    }

    /// Decodes raw bytes into `out`, queuing negotiation replies.
    fn decode(&mut self, n: usize, out: &mut [u8]) -> usize {
        let mut k = 0;
        for i in 0..n {
            let b = self.raw[i];
            self.state = match (self.state, b) {
                (State::Data, IAC) => State::Iac,
                (State::Data, _) => {
                    out[k] = b;
                    k += 1;
                    State::Data
                }
                (State::Iac, IAC) => {
                    out[k] = IAC;
                    k += 1;
                    State::Data
                }
                (State::Iac, WILL | WONT | DO | DONT) => State::Opt(b),
                (State::Iac, SB) => State::Sub,
                (State::Iac, _) => State::Data,
                (State::Opt(verb), opt) => {
                    self.answer(verb, opt);
                    State::Data
                }
                (State::Sub, IAC) => State::SubIac,
                (State::Sub, _) => State::Sub,
                (State::SubIac, SE) => State::Data,
                (State::SubIac, _) => State::Sub,
            };
        }
        k
    }

    /// Accept the server echoing and suppressing go-ahead; refuse the rest.
    fn answer(&mut self, verb: u8, opt: u8) {
        let reply = match verb {
            WILL if opt == ECHO || opt == SGA => DO,
            WILL => DONT,
            DO if opt == SGA => WILL,
            DO => WONT,
            _ => return,
        };
        let key = usize::from(opt);
        let agree = reply == DO || reply == WILL;
        // Answer each option once, so a chatty server cannot loop us.
        if self.agreed[key] && agree {
            return;
        }
        self.agreed[key] = agree;
        self.replies.extend_from_slice(&[IAC, reply, opt]);
    }

    fn write_raw(&mut self, data: &[u8], limit: &Limit, during: &str) -> Result<(), Failure> {
        let fd = self.stream.as_raw_fd();
        let stream = &mut self.stream;
        write_all_retrying(
            data,
            |d| stream.write(d),
            || wait_fd(fd, PollFlags::POLLOUT, limit, during),
            "connection",
            during,
        )
    }
}

impl Terminal for TelnetTerm {
    fn read(&mut self, buf: &mut [u8], limit: &Limit, during: &str) -> Result<usize, Failure> {
        let fd = self.stream.as_raw_fd();
        loop {
            let want = buf.len().min(self.raw.len());
            let mut raw = std::mem::take(&mut self.raw);
            let stream = &mut self.stream;
            let got = retry_io(
                || stream.read(&mut raw[..want]),
                || wait_fd(fd, PollFlags::POLLIN, limit, during),
                during,
            );
            self.raw = raw;
            let n = got?;
            if n == 0 {
                return Ok(0);
            }
            let k = self.decode(n, buf);
            if !self.replies.is_empty() {
                let replies = std::mem::take(&mut self.replies);
                self.write_raw(&replies, limit, during)?;
            }
            if k > 0 {
                return Ok(k);
            }
        }
    }

    fn write_all(&mut self, data: &[u8], limit: &Limit, during: &str) -> Result<(), Failure> {
        // A literal 0xff is doubled so it is not read as IAC.
        if data.contains(&IAC) {
            let mut escaped = Vec::with_capacity(data.len() + 4);
            for &b in data {
                escaped.push(b);
                if b == IAC {
                    escaped.push(IAC);
                }
            }
            return self.write_raw(&escaped, limit, during);
        }
        self.write_raw(data, limit, during)
    }

    fn newline(&self) -> &'static [u8] {
        b"\r\n"
    }
}
