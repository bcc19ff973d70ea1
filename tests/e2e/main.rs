//! End-to-end tests: they drive the real `fleet` binary against a real
//! OpenSSH sshd (and the fleet lab) on loopback.

mod adhoc;
mod ansible_repo;
mod bench;
mod common;
mod core;
mod escape;
mod faults;
mod inventory_errors;
mod lab;
mod logs;
mod outputs;
mod report;
mod rundir;
mod shard;
mod shell;
