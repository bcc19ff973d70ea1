//! Runs one device session: TCP, SSH handshake, host-key check, auth, commands, timings.
//!
//! The worker pool builds one [`Context`] per worker process from the run's
//! [`SessionSettings`] and calls [`Context::run`] from each of its threads,
//! one device at a time. `run` never fails: every outcome, good or bad, is an
//! [`Outcome`] with a [`fleet_proto::Status`] (a panic is caught, unless a
//! process-wide panic hook aborts first, as the worker's does).
//!
//! - [`settings`]: run-wide session settings.
//! - [`context`]: the shared per-process state and the session driver.
//! - [`outcome`]: what one session produced.
//! - [`error`]: errors building a context, and the internal failure type.
//! - [`known_hosts`]: OpenSSH `known_hosts` parsing, checking and appending.
//! - [`identity`]: the agent and default identity files, as ssh tries them.
//! - [`platform`]: the platform table (prompts, paging, error markers).
//! - Internals: `budget` (time limits), `tcp` (connect), `ssh` (handshake,
//!   host key, auth), `exec` (exec-mode commands), `shell` (interactive
//!   CLI engine), `screen` (terminal text model), `term` (terminal over an SSH channel), `jump` (ProxyJump),
//!   `telnet`.
#![deny(missing_docs)]

mod budget;
pub mod context;
pub mod error;
mod exec;
pub mod identity;
mod jump;
pub mod known_hosts;
pub mod outcome;
pub mod platform;
mod screen;
pub mod settings;
mod shell;
mod ssh;
mod tcp;
mod telnet;
mod term;
mod wait;

pub use context::Context;
pub use error::SshError;
pub use outcome::Outcome;
pub use settings::SessionSettings;
