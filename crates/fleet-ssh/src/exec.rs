//! Exec mode: one SSH exec channel per command, stdout and stderr read
//! together without blocking (so neither stream's window can stall the
//! other), capped at `max_output`, then the exit status.

use crate::budget::{ms, Budget, Limit};
use crate::error::{ssh_failure, Failure};
use crate::ssh::Connected;
use crate::tcp::hold_writes;
use crate::wait::wait_socket;
use fleet_proto::{CommandOutput, Status};
use std::io::{self, Read};
use std::time::Instant;

/// libssh2 timeout while abandoning a failed channel, milliseconds.
const ABANDON_MS: u32 = 100;

/// Captured bytes of one stream, capped; the rest is counted and dropped.
pub(crate) struct Capture {
    pub buf: Vec<u8>,
    cap: usize,
    pub truncated: bool,
    pub total: usize,
}

impl Capture {
    pub fn new(cap: usize) -> Self {
        Capture {
            buf: Vec::new(),
            cap,
            truncated: false,
            total: 0,
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        self.total += data.len();
        let room = self.cap.saturating_sub(self.buf.len());
        if data.len() > room {
            self.truncated = true;
        }
        self.buf.extend_from_slice(&data[..data.len().min(room)]);
    }
}

/// Runs every command in order, stopping at the first failure (a command
/// that fails can leave a device in a state later commands should not act
/// on). Outputs of the commands that ran are pushed to `outputs`.
pub(crate) fn run_all(
    conn: &Connected,
    commands: &[String],
    budget: &Budget,
    max_output: usize,
    outputs: &mut Vec<CommandOutput>,
) -> Result<(), Failure> {
    for (i, cmd) in commands.iter().enumerate() {
        if i > 0 {
            // The previous command's goodbye was held (see run_one).
            hold_writes(conn.fd, false);
        }
        let out = run_one(conn, cmd, budget, max_output)?;
        let code = out.exit_status;
        outputs.push(out);
        match code {
            Some(0) => {}
            Some(code) => {
                return Err(Failure::new(
                    Status::CommandFailed,
                    format!("command '{cmd}' exited with status {code}"),
                ))
            }
            None => {
                return Err(Failure::new(
                    Status::CommandFailed,
                    format!("command '{cmd}' ended without an exit status"),
                ))
            }
        }
    }
    Ok(())
}

fn run_one(
    conn: &Connected,
    cmd: &str,
    budget: &Budget,
    max_output: usize,
) -> Result<CommandOutput, Failure> {
    let sess = &conn.sess;
    let t0 = Instant::now();
    let limit = budget.command();
    let during = format!("command '{cmd}'");
    let fail = |e: ssh2::Error, what: &str| -> Failure {
        let f = ssh_failure(&e, &format!("{what} for {during}"));
        if f.status == Status::Timeout {
            limit.expired(&during)
        } else {
            f
        }
    };
    sess.set_blocking(true);
    sess.set_timeout(limit.libssh2_ms(&during)?);
    let mut ch = sess
        .channel_session()
        .map_err(|e| fail(e, "open channel"))?;
    ch.exec(cmd).map_err(|e| fail(e, "exec"))?;

    let mut stdout = Capture::new(max_output);
    let mut stderr = Capture::new(max_output);
    sess.set_blocking(false);
    let drained = drain(conn, &mut ch, &mut stdout, &mut stderr, &limit, &during);
    sess.set_blocking(true);
    if let Err(f) = drained {
        // Dropping a channel that is still open waits for the peer's close
        // under the session timeout: keep that short after a failure.
        sess.set_timeout(ABANDON_MS);
        return Err(f);
    }

    sess.set_timeout(limit.libssh2_ms(&during)?);
    ch.wait_close().map_err(|e| fail(e, "close channel"))?;
    // The device has closed the channel: freeing it below sends our EOF and
    // CLOSE without waiting for anything, so they can leave together with
    // whatever follows (the next command's open, or the session's goodbye).
    hold_writes(conn.fd, true);
    let code = ch.exit_status().map_err(|e| fail(e, "exit status"))?;
    if code == 0 {
        // A command killed by a signal has no exit status (libssh2 says 0).
        if let Ok(sig) = ch.exit_signal() {
            if let Some(name) = sig.exit_signal {
                return Err(Failure::new(
                    Status::CommandFailed,
                    format!("{during} killed by signal {name}"),
                ));
            }
        }
    }
    log::debug!(
        "command '{cmd}' exit {code}, {} bytes ({} stderr) in {:.1} ms",
        stdout.total,
        stderr.total,
        ms(t0.elapsed())
    );
    Ok(CommandOutput {
        command: cmd.to_string(),
        truncated: stdout.truncated || stderr.truncated,
        stdout: text(stdout.buf),
        stderr: text(stderr.buf),
        exit_status: Some(code),
    })
}

/// The captured bytes as text: moved when they are UTF-8 (the usual case,
/// and outputs can be megabytes), invalid sequences replaced otherwise.
fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Reads both streams to EOF with the session non-blocking.
fn drain(
    conn: &Connected,
    ch: &mut ssh2::Channel,
    stdout: &mut Capture,
    stderr: &mut Capture,
    limit: &Limit,
    during: &str,
) -> Result<(), Failure> {
    // Not re-entered: nothing below calls back into drain.
    DRAIN_BUF.with_borrow_mut(|buf| drain_with(conn, ch, buf, stdout, stderr, limit, during))
}

/// Bytes read from a channel per call.
const DRAIN_BUF_LEN: usize = 32 * 1024;

thread_local! {
    /// The read buffer of [`drain`], one per session thread for the
    /// thread's life: a fresh heap buffer per command gave each of a
    /// hundred session threads allocator pages to fault in (huge pages,
    /// see docs/performance.md), and one on the stack was 32 KiB zeroed
    /// per command (0.4% of a zero-latency session's CPU).
    static DRAIN_BUF: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0u8; DRAIN_BUF_LEN].into_boxed_slice());
}

fn drain_with(
    conn: &Connected,
    ch: &mut ssh2::Channel,
    buf: &mut [u8],
    stdout: &mut Capture,
    stderr: &mut Capture,
    limit: &Limit,
    during: &str,
) -> Result<(), Failure> {
    let (mut out_done, mut err_done) = (false, false);
    let mut err_stream = ch.stderr();
    while !(out_done && err_done) {
        // Each read drains the whole socket into libssh2's packet queue,
        // so one stream's read can queue the other stream's data or the
        // end of the channel. Only when neither read changed anything (no
        // bytes, no end, nothing newly queued) is the socket the place to
        // wait; otherwise the wait can last until the command's limit
        // while the answer sits in the queue.
        let queued_before = ch.read_window().available;
        let mut progressed = false;
        if !out_done {
            match step(ch, buf, stdout, during)? {
                Some(0) => (out_done, progressed) = (true, true),
                Some(_) => progressed = true,
                None => {}
            }
        }
        if !err_done {
            match step(&mut err_stream, buf, stderr, during)? {
                Some(0) => (err_done, progressed) = (true, true),
                Some(_) => progressed = true,
                None => {}
            }
        }
        if !progressed && ch.read_window().available == queued_before {
            wait_socket(&conn.sess, conn.fd, limit, during)?;
        }
    }
    Ok(())
}

/// One read: `Some(n)` bytes (0 = EOF), `None` if it would block.
fn step(
    r: &mut impl Read,
    buf: &mut [u8],
    cap: &mut Capture,
    during: &str,
) -> Result<Option<usize>, Failure> {
    match r.read(buf) {
        Ok(n) => {
            cap.push(&buf[..n]);
            Ok(Some(n))
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
        Err(e) => Err(Failure::new(
            Status::ProtocolError,
            format!("connection lost during {during}: {e}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_bytes_become_text_without_a_copy_when_they_are_utf8() {
        let bytes = "switch# show version\n\u{e9}t\u{e9}\n".as_bytes().to_vec();
        let at = bytes.as_ptr();
        let t = text(bytes);
        assert_eq!(t, "switch# show version\n\u{e9}t\u{e9}\n");
        assert_eq!(t.as_ptr(), at, "moved, not copied");
        // A device's Latin-1 byte: replaced, the rest kept.
        assert_eq!(text(b"caf\xe9 ok\n".to_vec()), "caf\u{fffd} ok\n");
    }
}
