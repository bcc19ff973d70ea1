//! End-to-end tests: they drive the real `fleet` binary against a real
//! OpenSSH sshd (and the fleet lab) on loopback.

mod adhoc;
mod ansible_repo;
mod autotune;
mod bench;
mod common;
mod core;
mod escape;
mod faults;
mod inventory_errors;
mod inventory_show;
mod lab;
mod logs;
mod outputs;
mod report;
mod rundir;
mod scale;
mod shard;
mod shell;
