//! The per-process session context and the session driver.

use crate::budget::{ms, Budget};
use crate::error::{Failure, SshError};
use crate::known_hosts::KnownHosts;
use crate::outcome::Outcome;
use crate::platform::Platform;
use crate::settings::SessionSettings;
use crate::ssh::{authenticate, handshake, Connected, HostKeys};
use crate::{exec, jump, shell, tcp, telnet};
use fleet_proto::{CommandOutput, Device, Mode, Status, Timings, Transport};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::RwLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Shared by all threads of one worker process (`Send + Sync`): the
/// settings, the known_hosts store (loaded once), and pooled jump-host
/// sessions.
pub struct Context {
    settings: SessionSettings,
    known_hosts: RwLock<KnownHosts>,
    pub(crate) jumps: jump::Pool,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// Builds the context, loading known_hosts once (unless checking is off).
    pub fn new(settings: SessionSettings) -> Result<Context, SshError> {
        let path = settings.known_hosts.clone().or_else(default_known_hosts);
        let known_hosts = if settings.host_key_check == fleet_proto::HostKeyCheck::Off {
            KnownHosts::default()
        } else {
            KnownHosts::load_all(path.clone(), &settings.known_hosts_extra).map_err(|source| {
                SshError::KnownHosts {
                    path: path.clone().unwrap_or_default(),
                    source,
                }
            })?
        };
        Ok(Context {
            settings,
            known_hosts: RwLock::new(known_hosts),
            jumps: jump::Pool::default(),
        })
    }

    /// The settings this context was built with.
    pub fn settings(&self) -> &SessionSettings {
        &self.settings
    }

    /// Runs every command of `device` in one session. Never fails: every
    /// failure is an [`Outcome`] with its status and cause. A panic inside
    /// the session becomes `protocol_error` here only when no panic hook
    /// acts first: in worker processes the hook logs it and aborts the
    /// worker, and the master re-runs or marks the device `worker_lost`.
    ///
    /// | status | when |
    /// | --- | --- |
    /// | `connect_failed` | DNS failure, TCP refused/unreachable, a jump host cannot open the channel |
    /// | `timeout` | connect, command or session limit (handshake and auth count as commands) |
    /// | `auth_failed` | every credential rejected or unusable; telnet login or `enable` refused |
    /// | `host_key_mismatch` | key changed or `@revoked`; unknown under `strict` |
    /// | `command_failed` | non-zero exit or signal (exec), platform error marker (shell); stops the session |
    /// | `protocol_error` | bad banner, kex failure, connection lost mid-session, anything else |
    ///
    /// Outputs of the commands that ran are kept whatever the status.
    pub fn run(&self, device: &Device) -> Outcome {
        let started_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        let budget = Budget::new(device.timeouts.or(self.settings.timeouts));
        let mut timings = Timings::default();
        let mut outputs = Vec::new();
        let result = catch_unwind(AssertUnwindSafe(|| {
            self.dispatch(device, &budget, &mut timings, &mut outputs)
        }))
        .unwrap_or_else(|panic| {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(Failure::new(
                Status::ProtocolError,
                format!("internal error in session: {msg}"),
            ))
        });
        timings.total = budget.elapsed_ms();
        // A device may echo what it was sent (a config line with a
        // placeholder's value, a password typed at the wrong prompt):
        // nothing that leaves the session holds a secret of the device.
        let result = result.map_err(|mut f| {
            f.message = device.mask(std::mem::take(&mut f.message));
            f
        });
        for o in &mut outputs {
            o.stdout = device.mask(std::mem::take(&mut o.stdout));
            o.stderr = device.mask(std::mem::take(&mut o.stderr));
        }
        match result {
            Ok(()) => {
                // The worker logs the session's end with its status; this
                // is the session layer's own view, for debugging.
                log::debug!("session ok in {:.1} ms", timings.total);
                Outcome {
                    status: Status::Ok,
                    error: None,
                    outputs,
                    timings,
                    started_us,
                }
            }
            Err(f) => {
                log::debug!(
                    "session {}: {} ({:.1} ms)",
                    f.status,
                    f.message,
                    timings.total
                );
                Outcome {
                    status: f.status,
                    error: Some(f.message),
                    outputs,
                    timings,
                    started_us,
                }
            }
        }
    }

    fn dispatch(
        &self,
        device: &Device,
        budget: &Budget,
        timings: &mut Timings,
        outputs: &mut Vec<CommandOutput>,
    ) -> Result<(), Failure> {
        match device.transport {
            Transport::Noop => {
                outputs.extend(device.commands.iter().map(|c| CommandOutput {
                    command: c.clone(),
                    stdout: String::new(),
                    stderr: String::new(),
                    exit_status: Some(0),
                    truncated: false,
                }));
                Ok(())
            }
            Transport::Ssh => self.run_ssh(device, budget, timings, outputs),
            Transport::Telnet => {
                let platform = Platform::for_device(device.platform.as_deref());
                telnet::run(
                    device,
                    platform,
                    budget,
                    self.settings.max_output,
                    timings,
                    outputs,
                )
            }
        }
    }

    pub(crate) fn host_keys(&self) -> HostKeys<'_> {
        HostKeys {
            check: self.settings.host_key_check,
            store: &self.known_hosts,
        }
    }

    /// Connects (directly or through jump hosts), handshakes and checks
    /// the host key; records the connect timing.
    fn connect(
        &self,
        device: &Device,
        budget: &Budget,
        timings: &mut Timings,
    ) -> Result<Connected, Failure> {
        let t0 = Instant::now();
        let conn = if device.jump.is_empty() {
            let stream = tcp::connect(&device.host, device.port, budget)?;
            handshake(stream, &device.host, device.port, budget, &self.host_keys())?
        } else {
            let stream = jump::open_stream(self, &device.jump, &device.host, device.port, budget)?;
            handshake(stream, &device.host, device.port, budget, &self.host_keys())?
        };
        timings.connect = ms(t0.elapsed());
        log::debug!("connected in {:.1} ms", timings.connect);
        Ok(conn)
    }

    fn run_ssh(
        &self,
        device: &Device,
        budget: &Budget,
        timings: &mut Timings,
        outputs: &mut Vec<CommandOutput>,
    ) -> Result<(), Failure> {
        let conn = self.connect(device, budget, timings)?;
        let t1 = Instant::now();
        let auth = authenticate(&conn, &device.username, &device.auth, budget);
        timings.auth = ms(t1.elapsed());
        auth?;

        let platform = Platform::for_device(device.platform.as_deref());
        let mode = device
            .mode
            .or_else(|| platform.and_then(|p| p.default_mode))
            .or(self.settings.default_mode)
            .unwrap_or(Mode::Exec);
        let t2 = Instant::now();
        let result = match mode {
            Mode::Exec => exec::run_all(
                &conn,
                &device.commands,
                budget,
                self.settings.max_output,
                outputs,
            ),
            Mode::Shell => shell::run_ssh(
                &conn,
                device,
                platform,
                budget,
                self.settings.max_output,
                outputs,
            ),
        };
        timings.commands = ms(t2.elapsed());
        // Best effort: a polite goodbye (as OpenSSH's client says it),
        // bounded by a short timeout, and sent with the FIN when the
        // socket closes.
        tcp::hold_writes(conn.fd, true);
        conn.sess.set_blocking(true);
        conn.sess.set_timeout(200);
        let _ = conn.sess.disconnect(None, "fleet done", None);
        result
    }
}

fn default_known_hosts() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".ssh").join("known_hosts"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_is_shared_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Context>();
    }
}
