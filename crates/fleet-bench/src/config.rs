//! What to benchmark: the sweep, the devices and where outputs go.

use crate::layout::Layout;
use std::path::PathBuf;
use std::time::Duration;

/// Where the devices come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A `fleet lab` child process with this many devices (its CPU is
    /// measured apart from the master's and the workers').
    Lab {
        /// Simulated devices.
        devices: usize,
        /// Tokio threads of the lab (`None`: one per core).
        threads: Option<usize>,
        /// Extra `fleet lab` arguments (e.g. `--flavours=linux`).
        args: Vec<String>,
    },
    /// An existing inventory (real devices, or anything `fleet run` reads).
    Inventory(PathBuf),
    /// A generated inventory of this many devices that are never contacted:
    /// only with the noop transport.
    Synthetic(usize),
}

/// One benchmark: every layout `repeat` times, interleaved.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The `fleet` executable to run (`fleet run`, `fleet lab`).
    pub fleet_exe: PathBuf,
    /// Devices to run against.
    pub target: Target,
    /// Lab per-command latency (zero for `--zero-latency`).
    pub latency: Duration,
    /// Layouts, in the order runs are interleaved.
    pub layouts: Vec<Layout>,
    /// Runs per layout (A B C A B C ...).
    pub repeat: usize,
    /// Output directory (bench.json, bench.csv, bench.svg, runs/, lab/).
    pub out: PathBuf,
    /// `--transport noop` for every run: fleet's own dispatch cost, no SSH.
    pub noop: bool,
    /// Command run on each device.
    pub command: String,
    /// Batch size for layouts that do not name one (`None`: fleet's default).
    pub batch_size: Option<u32>,
    /// A run taking longer than this is interrupted (and flagged).
    pub run_timeout: Duration,
    /// Devices in the uncontended calibration run that measures the
    /// per-session handshake cost (0: skip).
    pub calibration_devices: usize,
    /// libssh2 timeout of each bare-pool session (a hung device fails its
    /// session instead of the pool).
    pub bare_session_timeout: Duration,
    /// Extra arguments for every `fleet run` (e.g. `--log-level=warn`).
    pub run_args: Vec<String>,
    /// The command line, for bench.json.
    pub command_line: Vec<String>,
}
