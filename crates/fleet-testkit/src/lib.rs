//! Test harness: a real OpenSSH sshd on loopback, temp dirs, and a builder for the fleet binary.
//!
//! - [`fleet`]: run the real binary ([`fleet::run`], or [`fleet::spawn`] to
//!   signal it mid-run), build its arguments ([`fleet::RunArgs`]), read what
//!   it left through the run-directory types, poll with [`fleet::wait_for`].
//! - [`lab`]: a `fleet lab` child process ([`lab::LabProc`]).
//! - [`signal`]: signals to processes a test started.
//! - [`sshd`]: a real OpenSSH sshd on loopback.
#![deny(missing_docs)]

pub mod fleet;
pub mod lab;
pub mod signal;
pub mod sshd;
