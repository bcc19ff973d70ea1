//! Telnet transport.

use crate::budget::Budget;
use crate::error::Failure;
use crate::platform::Platform;
use fleet_proto::{CommandOutput, Device, Status, Timings};

/// Runs the device's commands over telnet.
pub(crate) fn run(
    _device: &Device,
    _platform: Option<&'static Platform>,
    _budget: &Budget,
    _max_output: usize,
    _timings: &mut Timings,
    _outputs: &mut Vec<CommandOutput>,
) -> Result<(), Failure> {
    Err(Failure::new(
        Status::ProtocolError,
        "telnet is not implemented yet",
    ))
}
