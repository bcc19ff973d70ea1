//! A simulated network of SSH devices on loopback, for the quick start,
//! tests and benchmarks.
#![deny(missing_docs)]

pub mod counters;
pub mod error;
mod files;
pub mod flavour;
mod hash;
pub mod keys;
pub mod outputs;
pub mod running_config;
pub mod scenario;
pub mod shell;

pub use counters::Counters;
pub use error::LabError;
pub use flavour::Flavour;
pub use outputs::{expected_output, unknown_command_error, unknown_command_status};
pub use scenario::{Behaviour, Scenario};
