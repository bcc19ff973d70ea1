//! Test harness: a real OpenSSH sshd on loopback, temp dirs, and a builder for the fleet binary.
#![deny(missing_docs)]

pub mod fleet;
pub mod sshd;
