//! `fleet bench`: the layout benchmark. The work is in the `fleet-bench`
//! crate; this maps flags, prints the table and writes the outputs.

use crate::cli::{BarePoolArgs, BenchArgs, TransportArg};
use fleet_bench::{BenchConfig, Layout, Target};
use fleet_proto::ExitCode;
use std::time::Duration;

/// Exit code for bad flags or a benchmark that could not run.
const USAGE: i32 = ExitCode::Usage.code();
/// Exit code when some layout had sessions that were not ok.
const FLAGGED: i32 = ExitCode::SomeFailed.code();

/// libssh2 timeout of each session of the bare pool.
const BARE_SESSION_TIMEOUT: Duration = Duration::from_secs(60);

/// `fleet __bare-pool`: runs the pool, prints its outcome as JSON on
/// stdout; exit 0 when every session was ok, 1 otherwise, 2 when it could
/// not run.
pub fn bare_pool(args: BarePoolArgs) -> i32 {
    let outcome = match fleet_bench::bare::pool_main(
        &args.inventory,
        args.threads,
        &args.command,
        Duration::from_millis(args.session_timeout_ms),
    ) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("fleet __bare-pool: error: {:#}", anyhow::Error::from(e));
            return USAGE;
        }
    };
    match serde_json::to_string(&outcome) {
        Ok(json) => println!("{json}"),
        Err(e) => {
            eprintln!("fleet __bare-pool: error: cannot encode the outcome: {e}");
            return USAGE;
        }
    }
    let ok = outcome.statuses.get("ok").copied().unwrap_or(0);
    if ok == outcome.devices {
        ExitCode::AllOk.code()
    } else {
        FLAGGED
    }
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
        bare_session_timeout: BARE_SESSION_TIMEOUT,
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
    println!();
    print!("{}", fleet_bench::report::summary_table(&report));
    match fleet_bench::bench::write_outputs(&report, &args.out) {
        Ok(o) => eprintln!(
            "fleet bench: wrote {}, {}, {}, {}, {}",
            o.json.display(),
            o.csv.display(),
            o.svg.display(),
            o.html.display(),
            o.md.display()
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
