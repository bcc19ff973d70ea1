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
//! - [`escapes`]: what a device with the `escapes` fault sends (terminal
//!   control sequences in its banner, outputs and error lines).
//! - [`counters`]: the stats JSON schema.
//! - [`keys`]: host keys, client key, password.
//!
//! Every device accepts user [`USERNAME`] with the lab password or the
//! client key `<state-dir>/id_ed25519`; the lab password is also the
//! `enable` secret.
//!
//! # Use
//!
//! ```text
//! fleet lab --devices 200 --scenario fixtures/lab/faults.toml --state-dir ./lab
//! lab ready: 200 devices, inventory /abs/lab/inventory.yaml
//! ```
//!
//! The state directory then holds `password` (0600), `id_ed25519` (0600)
//! and `.pub`, `known_hosts` (every device's key), `inventory.yaml` (fleet
//! YAML, written atomically before the ready line) and, on SIGUSR1 and
//! exit, `stats.json` ([`Counters`]). SIGINT/SIGTERM stop the lab.
//!
//! From tests: `Lab::start(LabConfig::new(10, dir))`, then connect to
//! `lab.devices()[i].addr` and compare with [`expected_output`].
//!
//! # Devices
//!
//! Names are `lab-<flavour>-<nnnn>` (1-based, flavours round-robin); every
//! 10th device (index 0, 10, ...) is in group `core`, the rest in `access`
//! (a scenario rule's `group` overrides). Exec: output, exit status, EOF,
//! close; unknown commands print [`unknown_command_error`] (stdout and
//! status 1 on network flavours, stderr and 127 on `linux`). Shell (pty +
//! shell): echo, `host>` prompt, `enable` (asks `Password:`), paging at
//! [`PAGE_LINES`] with [`MORE_PROMPT`] (space: page, enter: line, other:
//! quit) until `terminal length 0`, `configure terminal` / `interface X` /
//! `end` / `exit` editing a running config that later sessions see,
//! `write memory`, `exit` to log out. Large outputs and mid-output
//! disconnects apply to exec commands.
#![deny(missing_docs)]

pub mod cli;
pub mod counters;
mod device;
pub mod error;
pub mod escapes;
mod facts;
mod files;
pub mod flavour;
mod hash;
mod inventory;
pub mod keys;
pub mod lab;
mod listen;
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
