//! Run-wide session settings.

use fleet_proto::{HostKeyCheck, Mode, Timeouts, WorkerConfig};
use std::path::PathBuf;

/// Run-wide session settings (the worker fills every timeout); devices may
/// override the timeouts with their own.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSettings {
    /// Connect, command and session limits; `None` fields mean "no limit".
    pub timeouts: Timeouts,
    /// Cap on captured bytes of each of stdout and stderr per command;
    /// output beyond it is drained and dropped (`truncated: true`).
    pub max_output: usize,
    /// Host-key policy.
    pub host_key_check: HostKeyCheck,
    /// `known_hosts` file; `None` means `~/.ssh/known_hosts`.
    pub known_hosts: Option<PathBuf>,
    /// Further known_hosts files, read but never written (more
    /// `UserKnownHostsFile`s, `/etc/ssh/ssh_known_hosts`).
    pub known_hosts_extra: Vec<PathBuf>,
    /// Mode when neither the device nor its platform says.
    pub default_mode: Option<Mode>,
}

impl SessionSettings {
    /// The session settings carried in a worker's configuration.
    pub fn from_worker_config(cfg: &WorkerConfig) -> Self {
        SessionSettings {
            timeouts: cfg.timeouts,
            max_output: cfg.max_output,
            host_key_check: cfg.host_key_check,
            known_hosts: cfg.known_hosts.clone(),
            known_hosts_extra: cfg.known_hosts_extra.clone(),
            default_mode: cfg.default_mode,
        }
    }
}
