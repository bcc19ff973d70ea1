//! Signals to processes a test started (fleet masters, workers, labs),
//! through nix instead of hand-written `kill(2)` declarations.

use nix::errno::Errno;
pub use nix::sys::signal::Signal;
use nix::unistd::Pid;

/// Sends `sig` to process `pid`. A process that is already gone (`ESRCH`)
/// is fine: the test raced its exit, which is what it wanted. Any other
/// failure (a bad pid, no permission) fails the test.
pub fn send(pid: u32, sig: Signal) {
    let raw = i32::try_from(pid).unwrap_or_else(|_| panic!("pid {pid} does not fit in pid_t"));
    match nix::sys::signal::kill(Pid::from_raw(raw), sig) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(e) => panic!("failed to send {sig} to pid {pid}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn a_signal_ends_a_child_and_a_gone_one_is_no_error() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id();
        send(pid, Signal::SIGTERM);
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(Signal::SIGTERM as i32));
        // Reaped: the pid is gone now.
        send(pid, Signal::SIGTERM);
    }
}
