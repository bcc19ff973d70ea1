//! Shell mode (interactive CLI).

use crate::budget::Budget;
use crate::error::Failure;
use crate::platform::Platform;
use crate::ssh::Connected;
use fleet_proto::{CommandOutput, Device, Status};

/// Runs the device's commands in an interactive shell over SSH.
pub(crate) fn run_ssh(
    _conn: &Connected,
    _device: &Device,
    _platform: Option<&'static Platform>,
    _budget: &Budget,
    _max_output: usize,
    _outputs: &mut Vec<CommandOutput>,
) -> Result<(), Failure> {
    Err(Failure::new(
        Status::ProtocolError,
        "shell mode is not implemented yet",
    ))
}
