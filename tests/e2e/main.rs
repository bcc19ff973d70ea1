//! End-to-end tests: they drive the real `fleet` binary against a real
//! OpenSSH sshd (and the fleet lab) on loopback.

mod bench;
mod common;
mod core;
mod faults;
mod inventory_errors;
mod lab;
mod logs;
mod outputs;
mod rundir;
mod shell;
