//! Helpers shared by the integration tests.
#![allow(dead_code)]

use fleet_proto::{Auth, Device, HostKeyCheck, Timeouts};
use fleet_ssh::{Context, SessionSettings};
use fleet_testkit::sshd::Sshd;
use std::path::Path;
use std::time::Duration;

pub fn timeouts(connect: u64, command: u64, session: u64) -> Timeouts {
    Timeouts {
        connect: Some(Duration::from_millis(connect)),
        command: Some(Duration::from_millis(command)),
        session: Some(Duration::from_millis(session)),
    }
}

pub fn settings(known_hosts: &Path, check: HostKeyCheck) -> SessionSettings {
    SessionSettings {
        timeouts: timeouts(5_000, 10_000, 30_000),
        max_output: 1 << 20,
        host_key_check: check,
        known_hosts: Some(known_hosts.to_path_buf()),
        known_hosts_extra: Vec::new(),
        default_mode: None,
    }
}

/// A context with its own known_hosts file in `dir`, accept-new.
pub fn context(dir: &Path) -> Context {
    Context::new(settings(&dir.join("known_hosts"), HostKeyCheck::AcceptNew)).unwrap()
}

/// A device on `sshd` using the test client key.
pub fn key_device(sshd: &Sshd, commands: &[&str]) -> Device {
    let mut d = Device::new("d1", "127.0.0.1", sshd.port());
    d.username = sshd.user().to_string();
    d.auth = vec![Auth::KeyFile {
        path: sshd.client_key(),
        passphrase: None,
    }];
    d.commands = commands.iter().map(|c| c.to_string()).collect();
    d
}
