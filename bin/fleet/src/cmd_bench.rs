//! `fleet bench`: the layout benchmark. The work is in the `fleet-bench`
//! crate; this maps flags, prints the table and writes the outputs.

use crate::cli::{BenchArgs, TransportArg};
use fleet_bench::{BenchConfig, Layout, Target};
use fleet_proto::ExitCode;
use std::time::Duration;

/// Exit code for bad flags or a benchmark that could not run.
const USAGE: i32 = ExitCode::Usage.code();
/// Exit code when some layout had sessions that were not ok.
const FLAGGED: i32 = ExitCode::SomeFailed.code();

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
        ExitCode::AllOk.code()
    } else {
        eprintln!("fleet bench: some layouts had sessions that were not ok (flagged above)");
        FLAGGED
    }
}
