//! Waiting on a non-blocking libssh2 session's socket with a deadline.

use crate::budget::Limit;
use crate::error::Failure;
use fleet_proto::Status;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use ssh2::{BlockDirections, Session};
use std::os::fd::{BorrowedFd, RawFd};
use std::time::Duration;

/// Longest single poll: bounds how late a deadline is noticed if libssh2
/// reports no direction to wait for.
const MAX_POLL: Duration = Duration::from_millis(100);

/// Blocks until the session's socket is ready in the direction libssh2 is
/// waiting for, or the limit runs out (a Timeout naming `during`).
pub(crate) fn wait_socket(
    sess: &Session,
    fd: RawFd,
    limit: &Limit,
    during: &str,
) -> Result<(), Failure> {
    let flags = match sess.block_directions() {
        BlockDirections::Inbound => PollFlags::POLLIN,
        BlockDirections::Outbound => PollFlags::POLLOUT,
        BlockDirections::Both => PollFlags::POLLIN | PollFlags::POLLOUT,
        BlockDirections::None => PollFlags::POLLIN,
    };
    wait_fd(fd, flags, limit, during)
}

/// Blocks until `fd` is ready for `flags` or the limit runs out.
pub(crate) fn wait_fd(
    fd: RawFd,
    flags: PollFlags,
    limit: &Limit,
    during: &str,
) -> Result<(), Failure> {
    let left = limit
        .remaining(during)?
        .map_or(MAX_POLL, |l| l.min(MAX_POLL));
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
