//! A simulated network of SSH devices on loopback, for the quick start,
//! tests and benchmarks.
//!
//! One process serves thousands of devices over real SSH (russh): each
//! device has its own port, deterministic host key and outputs derived
//! from its name, so a test can compute exactly what a device must answer
//! ([`expected_output`]). Scenario files ([`scenario`]) make chosen devices
//! slow, refuse, hang, fail auth, drop mid-output, send huge outputs or
//! change host keys. Counters ([`Counters`]) say what the lab saw.
//!
//! - [`cli`]: `fleet lab` flags ([`LabArgs`]) and [`run_cli`].
//! - [`lab`]: [`Lab::start`] / [`Lab::shutdown`], usable from sync tests.
//! - [`flavour`], [`outputs`], [`running_config`], [`shell`]: what devices say.
//! - [`scenario`]: the TOML scenario format and per-device [`Behaviour`].
//! - [`counters`]: the stats JSON schema.
//! - [`keys`]: host keys, client key, password.
//!
//! Every device accepts user [`USERNAME`] with the lab password or the
//! client key `<state-dir>/id_ed25519`.
#![deny(missing_docs)]

pub mod cli;
pub mod counters;
pub mod error;
mod files;
pub mod flavour;
mod hash;
mod inventory;
pub mod keys;
pub mod lab;
pub mod outputs;
pub mod running_config;
pub mod scenario;
mod server;
pub mod shell;
mod telnet;

pub use cli::{run_cli, LabArgs};
pub use counters::Counters;
pub use error::LabError;
pub use flavour::Flavour;
pub use lab::{Lab, LabConfig, LabDevice};
pub use outputs::{expected_output, unknown_command_error, unknown_command_status};
pub use scenario::{Behaviour, Scenario};
pub use server::{large_output_line, USERNAME};
pub use shell::{MORE_PROMPT, PAGE_LINES};
