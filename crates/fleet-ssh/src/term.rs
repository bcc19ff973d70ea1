//! The byte pipe under shell mode: an SSH channel with a PTY (here) or a
//! telnet connection (in `telnet`), behind one small trait.

use crate::budget::{Budget, Limit};
use crate::error::{ssh_failure, Failure};
use crate::ssh::Connected;
use crate::wait::{retry_io, wait_socket, write_all_retrying};
use fleet_proto::Status;
use ssh2::{Channel, ExtendedData};
use std::io::{Read, Write};

/// Where shell mode reads and writes bytes.
pub(crate) trait Terminal {
    /// Reads what is available, waiting until the limit; `Ok(0)` is EOF.
    fn read(&mut self, buf: &mut [u8], limit: &Limit, during: &str) -> Result<usize, Failure>;
    /// Writes everything, waiting until the limit.
    fn write_all(&mut self, data: &[u8], limit: &Limit, during: &str) -> Result<(), Failure>;
    /// The end-of-line sequence to type.
    fn newline(&self) -> &'static [u8] {
        b"\n"
    }
}

/// A shell channel with a PTY on an SSH session (non-blocking).
pub(crate) struct SshTerm<'a> {
    conn: &'a Connected,
    ch: Channel,
}

/// PTY size: wide, so devices do not wrap long lines.
const PTY_COLS: u32 = 511;
const PTY_ROWS: u32 = 24;

impl<'a> SshTerm<'a> {
    /// Opens a session channel with a vt100 PTY and starts the shell.
    pub fn open(conn: &'a Connected, budget: &Budget) -> Result<Self, Failure> {
        let limit = budget.command();
        let during = "opening shell";
        let sess = &conn.sess;
        sess.set_blocking(true);
        sess.set_timeout(limit.libssh2_ms(during)?);
        let timed = |e: ssh2::Error, what: &str| {
            let f = ssh_failure(&e, what);
            if f.status == Status::Timeout {
                limit.expired(during)
            } else {
                f
            }
        };
        let mut ch = sess
            .channel_session()
            .map_err(|e| timed(e, "open channel"))?;
        ch.request_pty("vt100", None, Some((PTY_COLS, PTY_ROWS, 0, 0)))
            .map_err(|e| timed(e, "request pty"))?;
        ch.handle_extended_data(ExtendedData::Merge)
            .map_err(|e| timed(e, "merge stderr"))?;
        ch.shell().map_err(|e| timed(e, "start shell"))?;
        sess.set_blocking(false);
        Ok(SshTerm { conn, ch })
    }

    /// Closes the channel cleanly (best effort, bounded by `limit`): reads
    /// what the device still sends until EOF, then closes. A channel left
    /// half-open makes libssh2 block when the session is freed.
    pub fn close(mut self, limit: &Limit) {
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.read(&mut buf, limit, "logout") {
            if n == 0 {
                break;
            }
        }
        let sess = &self.conn.sess;
        sess.set_blocking(true);
        sess.set_timeout(limit.libssh2_ms("logout").unwrap_or(1));
        let _ = self.ch.close();
        let _ = self.ch.wait_close();
    }
}

impl Terminal for SshTerm<'_> {
    fn read(&mut self, buf: &mut [u8], limit: &Limit, during: &str) -> Result<usize, Failure> {
        let (ch, conn) = (&mut self.ch, self.conn);
        retry_io(
            || ch.read(buf),
            || wait_socket(&conn.sess, conn.fd, limit, during),
            during,
        )
    }

    fn write_all(&mut self, data: &[u8], limit: &Limit, during: &str) -> Result<(), Failure> {
        let (ch, conn) = (&mut self.ch, self.conn);
        write_all_retrying(
            data,
            |d| ch.write(d),
            || wait_socket(&conn.sess, conn.fd, limit, during),
            "channel",
            during,
        )
    }
}
