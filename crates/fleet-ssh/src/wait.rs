//! Waiting on a non-blocking libssh2 session's socket with a deadline.

use crate::budget::Limit;
use crate::error::Failure;
use fleet_proto::Status;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use ssh2::{BlockDirections, Session};
use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::time::Duration;

/// Longest single poll when libssh2 names no direction to wait for (and
/// for plain sockets): bounds how late a deadline is noticed.
const MAX_POLL: Duration = Duration::from_millis(100);

/// Longest single poll when libssh2 names the direction it is blocked on:
/// the socket is then the only thing that can move the session, so the
/// wait lasts until the limit. Polling in 100 ms rounds instead cost 20
/// wake-ups, each with two channel reads, per 2 s command: about 2x the
/// bare pool's CPU per session at 2 s latency (`strace -c`: 21 polls and
/// 88 `recvfrom` per session against 2.4 and 53).
const LONG_POLL: Duration = Duration::from_secs(60);

/// Whether a non-blocking I/O error only means "not now".
pub(crate) fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// One non-blocking I/O step (a read or a write on a channel or socket),
/// retried until it makes progress: when it would block, `wait` (which
/// fails with a Timeout naming `during` once the limit runs out); any
/// other error is the connection lost during `during`.
pub(crate) fn retry_io<T>(
    mut step: impl FnMut() -> io::Result<T>,
    mut wait: impl FnMut() -> Result<(), Failure>,
    during: &str,
) -> Result<T, Failure> {
    loop {
        match step() {
            Ok(v) => return Ok(v),
            Err(e) if would_block(&e) => wait()?,
            Err(e) => {
                return Err(Failure::new(
                    Status::ProtocolError,
                    format!("connection lost during {during}: {e}"),
                ))
            }
        }
    }
}

/// Writes all of `data` in non-blocking `write` steps ([`retry_io`]). A
/// write of 0 bytes means the peer closed: `closed` names what (`channel`,
/// `connection`) in the error.
pub(crate) fn write_all_retrying(
    mut data: &[u8],
    mut write: impl FnMut(&[u8]) -> io::Result<usize>,
    mut wait: impl FnMut() -> Result<(), Failure>,
    closed: &str,
    during: &str,
) -> Result<(), Failure> {
    while !data.is_empty() {
        let n = retry_io(|| write(data), &mut wait, during)?;
        if n == 0 {
            return Err(Failure::new(
                Status::ProtocolError,
                format!("{closed} closed during {during}"),
            ));
        }
        data = &data[n..];
    }
    Ok(())
}

/// Blocks until the session's socket is ready in the direction libssh2 is
/// waiting for, or the limit runs out (a Timeout naming `during`).
///
/// Only right after a call that returned "would block" for want of socket
/// data: libssh2 reads the whole socket into its packet queue on every
/// channel call, so a caller reading two streams must first check that
/// neither read queued something the other is waiting for (see
/// `exec::drain`).
pub(crate) fn wait_socket(
    sess: &Session,
    fd: RawFd,
    limit: &Limit,
    during: &str,
) -> Result<(), Failure> {
    let (flags, longest) = match sess.block_directions() {
        BlockDirections::Inbound => (PollFlags::POLLIN, LONG_POLL),
        BlockDirections::Outbound => (PollFlags::POLLOUT, LONG_POLL),
        BlockDirections::Both => (PollFlags::POLLIN | PollFlags::POLLOUT, LONG_POLL),
        BlockDirections::None => (PollFlags::POLLIN, MAX_POLL),
    };
    wait_fd_at_most(fd, flags, limit, during, longest)
}

/// Blocks until `fd` is ready for `flags` or the limit runs out.
pub(crate) fn wait_fd(
    fd: RawFd,
    flags: PollFlags,
    limit: &Limit,
    during: &str,
) -> Result<(), Failure> {
    wait_fd_at_most(fd, flags, limit, during, MAX_POLL)
}

/// Blocks until `fd` is ready for `flags`, the limit runs out, or `longest`
/// has passed.
fn wait_fd_at_most(
    fd: RawFd,
    flags: PollFlags,
    limit: &Limit,
    during: &str,
    longest: Duration,
) -> Result<(), Failure> {
    let left = limit.remaining(during)?.map_or(longest, |l| l.min(longest));
    let millis = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
    // SAFETY: the caller owns the descriptor (the session's socket) for
    // the whole call; BorrowedFd does not close it.
    let bfd = unsafe { BorrowedFd::borrow_raw(fd) };
    let mut fds = [PollFd::new(bfd, flags)];
    match poll(&mut fds, PollTimeout::from(millis)) {
        Ok(_) => Ok(()),
        Err(nix::errno::Errno::EINTR) => Ok(()),
        Err(e) => Err(Failure::new(
            Status::ProtocolError,
            format!("poll socket during {during}: {e}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked() -> io::Error {
        io::Error::from(io::ErrorKind::WouldBlock)
    }

    #[test]
    fn retry_io_waits_while_blocked_and_names_a_lost_connection() {
        let mut results = vec![
            Ok(5),
            Err(blocked()),
            Err(io::ErrorKind::Interrupted.into()),
        ];
        let mut waits = 0;
        let got = retry_io(
            || results.pop().expect("a step"),
            || {
                waits += 1;
                Ok(())
            },
            "reading",
        );
        assert_eq!(got.unwrap(), 5);
        assert_eq!(waits, 2);

        let lost = retry_io(
            || Err::<usize, _>(io::Error::from(io::ErrorKind::ConnectionReset)),
            || Ok(()),
            "reading",
        )
        .unwrap_err();
        assert_eq!(lost.status, Status::ProtocolError);
        assert!(
            lost.message.starts_with("connection lost during reading: "),
            "{}",
            lost.message
        );

        let timed_out = retry_io(
            || Err::<usize, _>(blocked()),
            || Err(Failure::new(Status::Timeout, "limit")),
            "reading",
        )
        .unwrap_err();
        assert_eq!(timed_out.status, Status::Timeout, "the wait's failure wins");
    }

    #[test]
    fn write_all_retrying_writes_everything_or_says_the_peer_closed() {
        let mut written = Vec::new();
        let mut calls = 0;
        write_all_retrying(
            b"hello world",
            |d| {
                calls += 1;
                if calls % 2 == 0 {
                    return Err(blocked());
                }
                let n = d.len().min(4);
                written.extend_from_slice(&d[..n]);
                Ok(n)
            },
            || Ok(()),
            "channel",
            "typing",
        )
        .unwrap();
        assert_eq!(written, b"hello world");

        let closed =
            write_all_retrying(b"x", |_| Ok(0), || Ok(()), "connection", "typing").unwrap_err();
        assert_eq!(closed.message, "connection closed during typing");
        assert_eq!(closed.status, Status::ProtocolError);
    }
}
