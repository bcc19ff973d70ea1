//! Telnet devices: plain TCP with minimal option negotiation (the server
//! WILL ECHO and SUPPRESS-GO-AHEAD), `Username:`/`Password:`, then the same
//! CLI as the SSH shell.

use crate::server::{new_shell, play_shell_events, DeviceRuntime, Shared, ShellSink, USERNAME};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const IAC: u8 = 255;
const WILL: u8 = 251;
const SB: u8 = 250;
const SE: u8 = 240;
const ECHO: u8 = 1;
const SGA: u8 = 3;

/// Strips telnet commands from the byte stream, keeping state across reads.
#[derive(Default)]
struct IacFilter {
    /// Where in a command sequence the previous byte left us.
    state: IacState,
}

/// Position in the telnet command grammar (RFC 854).
#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum IacState {
    #[default]
    Data,
    Iac,
    Option,
    Sub,
    SubIac,
}

impl IacFilter {
    fn filter(&mut self, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            self.state = match (self.state, b) {
                (IacState::Data, IAC) => IacState::Iac,
                (IacState::Data, b) => {
                    out.push(b);
                    IacState::Data
                }
                (IacState::Iac, IAC) => {
                    out.push(IAC);
                    IacState::Data
                }
                (IacState::Iac, SB) => IacState::Sub,
                (IacState::Iac, 251..=254) => IacState::Option,
                (IacState::Iac, _) | (IacState::Option, _) => IacState::Data,
                (IacState::Sub, IAC) => IacState::SubIac,
                (IacState::Sub, _) => IacState::Sub,
                (IacState::SubIac, SE) => IacState::Data,
                (IacState::SubIac, _) => IacState::Sub,
            };
        }
        out
    }
}

/// Reads one line (echoing it unless `secret`); `None` when the peer left.
async fn read_line(
    stream: &mut TcpStream,
    filter: &mut IacFilter,
    pending: &mut Vec<u8>,
    secret: bool,
) -> Option<String> {
    let mut line = Vec::new();
    loop {
        while !pending.is_empty() {
            let b = pending.remove(0);
            match b {
                b'\r' | b'\n' => {
                    // Swallow the LF or NUL of CR LF / CR NUL.
                    if pending.first().is_some_and(|n| *n == b'\n' || *n == 0) {
                        pending.remove(0);
                    }
                    stream.write_all(b"\r\n").await.ok()?;
                    return Some(String::from_utf8_lossy(&line).into_owned());
                }
                0x7f | 0x08 => {
                    line.pop();
                }
                b if b >= 0x20 => {
                    line.push(b);
                    if !secret {
                        stream.write_all(&[b]).await.ok()?;
                    }
                }
                _ => {}
            }
        }
        let mut buf = [0u8; 512];
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        pending.extend(filter.filter(&buf[..n]));
    }
}

/// Serves one telnet connection: login, then the CLI until logout.
pub(crate) async fn session(
    shared: &Shared,
    dev: &DeviceRuntime,
    mut stream: TcpStream,
    mut rng: rand::rngs::StdRng,
) {
    shared.counters.handshake();
    let mut filter = IacFilter::default();
    let mut pending = Vec::new();
    let hello = [IAC, WILL, ECHO, IAC, WILL, SGA];
    if stream.write_all(&hello).await.is_err()
        || stream
            .write_all(b"\r\nUser Access Verification\r\n\r\nUsername: ")
            .await
            .is_err()
    {
        return;
    }
    let Some(user) = read_line(&mut stream, &mut filter, &mut pending, false).await else {
        return;
    };
    if stream.write_all(b"Password: ").await.is_err() {
        return;
    }
    let Some(password) = read_line(&mut stream, &mut filter, &mut pending, true).await else {
        return;
    };
    let ok =
        !dev.behaviour.auth_fail && user.trim() == USERNAME && password == shared.password.expose();
    shared.counters.auth(ok);
    if !ok {
        let _ = stream.write_all(b"% Login invalid\r\n").await;
        return;
    }
    let mut cli = new_shell(shared, dev);
    let (mut read, mut write) = stream.into_split();
    let mut sink = ShellSink::Telnet(&mut write);
    if !sink.write(shared, cli.greeting()).await {
        return;
    }
    if !pending.is_empty() {
        let events = cli.feed(&std::mem::take(&mut pending));
        if !play_shell_events(shared, dev, &mut rng, events, &mut sink).await {
            return;
        }
    }
    let mut buf = [0u8; 4096];
    loop {
        let n = match read.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let events = cli.feed(&filter.filter(&buf[..n]));
        if !play_shell_events(shared, dev, &mut rng, events, &mut sink).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iac_commands_are_stripped_across_reads() {
        let mut f = IacFilter::default();
        assert_eq!(f.filter(&[b'a', IAC, 253]), b"a");
        assert_eq!(
            f.filter(&[ECHO, b'b', IAC, IAC, IAC, SB, 24, 0, IAC, SE, b'c']),
            [b'b', IAC, b'c']
        );
    }
}
