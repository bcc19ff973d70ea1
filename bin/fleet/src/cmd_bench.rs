//! `fleet bench`: the layout benchmark. The work is in the `fleet-bench`
//! crate; this maps flags, prints the table and writes the outputs.

use crate::cli::TransportArg;
use clap::Args;
use fleet_bench::{BenchConfig, Layout, Target};
use std::path::PathBuf;
use std::time::Duration;

/// Exit code for bad flags or a benchmark that could not run.
const USAGE: i32 = 2;
/// Exit code when some layout had sessions that were not ok.
const FLAGGED: i32 = 1;

/// Flags of `fleet bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Simulated lab devices (ignored with --inventory).
    #[arg(long, default_value_t = 200)]
    pub devices: usize,

    /// Lab latency per command.
    #[arg(long, default_value = "500ms", value_parser = crate::units::duration,
          conflicts_with = "zero_latency")]
    pub latency: Duration,

    /// Latency 0: shows the orchestration's own overhead.
    #[arg(long)]
    pub zero_latency: bool,

    /// Layouts PxT (0xT: threads inside the master), optionally @BATCH.
    #[arg(long, default_value = "1x1,0x50,4x1,2x50,4x50")]
    pub layouts: String,

    /// Runs per layout, interleaved (A B C A B C).
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,

    /// Output directory: bench.json, bench.csv, bench.svg, and work/ with every run.
    #[arg(long, default_value = "bench")]
    pub out: PathBuf,

    /// Run against this inventory (real devices) instead of a lab.
    #[arg(short, long)]
    pub inventory: Option<PathBuf>,

    /// `noop` passes through to `fleet run --transport noop` (no SSH at all;
    /// without --inventory, --devices generated devices are used, no lab).
    #[arg(long, value_enum, default_value_t = TransportArg::Inventory)]
    pub transport: TransportArg,

    /// Command run on every device.
    #[arg(short, long, default_value = "show version")]
    pub command: String,

    /// --batch-size for layouts without @BATCH [default: fleet's, T/2].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch_size: Option<u32>,

    /// Tokio threads of the lab [default: one per core].
    #[arg(long)]
    pub lab_threads: Option<usize>,

    /// Interrupt (and flag) a run that takes longer than this.
    #[arg(long, default_value = "30m", value_parser = crate::units::duration)]
    pub run_timeout: Duration,

    /// Extra argument for the lab, repeatable (e.g. `--lab-arg=--flavours=linux`:
    /// exec sessions with one command, so one latency per session).
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    pub lab_arg: Vec<String>,

    /// Extra argument for every `fleet run`, repeatable (e.g. `--run-arg=--log-level=warn`).
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    pub run_arg: Vec<String>,

    /// Devices in the one-at-a-time calibration run measuring the handshake (0: skip).
    #[arg(long, default_value_t = 10)]
    pub calibration_devices: usize,
}

/// Runs `fleet bench` and returns the exit code.
pub fn bench(args: BenchArgs) -> i32 {
    let layouts = match Layout::parse_list(&args.layouts) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("fleet bench: error: {e}");
            return USAGE;
        }
    };
    let fleet_exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("fleet bench: error: cannot find the fleet executable: {e}");
            return USAGE;
        }
    };
    let noop = args.transport == TransportArg::Noop;
    let target = match (&args.inventory, noop) {
        (Some(p), _) => Target::Inventory(p.clone()),
        (None, true) => Target::Synthetic(args.devices),
        (None, false) => Target::Lab {
            devices: args.devices,
            threads: args.lab_threads,
            args: args.lab_arg.clone(),
        },
    };
    let cfg = BenchConfig {
        fleet_exe,
        target,
        latency: if args.zero_latency {
            Duration::ZERO
        } else {
            args.latency
        },
        layouts,
        repeat: args.repeat,
        out: args.out.clone(),
        noop,
        command: args.command.clone(),
        batch_size: args.batch_size,
        run_timeout: args.run_timeout,
        calibration_devices: args.calibration_devices,
        run_args: args.run_arg.clone(),
        command_line: std::env::args().collect(),
    };
    let report = match fleet_bench::bench::run(&cfg, &mut |line| eprintln!("fleet bench: {line}")) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("fleet bench: error: {:#}", anyhow::Error::from(e));
            return USAGE;
        }
    };
    print!("{}", fleet_bench::report::table(&report));
    match fleet_bench::bench::write_outputs(&report, &args.out) {
        Ok(o) => eprintln!(
            "fleet bench: wrote {}, {}, {}",
            o.json.display(),
            o.csv.display(),
            o.svg.display()
        ),
        Err(e) => {
            eprintln!("fleet bench: error: {:#}", anyhow::Error::from(e));
            return USAGE;
        }
    }
    if report.all_ok() {
        0
    } else {
        eprintln!("fleet bench: some layouts had sessions that were not ok (flagged above)");
        FLAGGED
    }
}
