//! `fleet`: run SSH sessions against a large inventory, fast, across
//! P worker processes × T threads. This binary only parses arguments and
//! calls the engine crates; see `cli` for the flags.

mod adhoc;
mod cli;
mod cmd_bench;
mod cmd_inventory;
mod cmd_logs;
mod cmd_merge;
mod cmd_report;
mod cmd_run;
mod shard;
mod units;

use clap::Parser;
use cli::{Cli, Command};

/// The master allocates per device (jobs, results, log lines) at 100k+ devices a second;
/// glibc malloc spent a third of its CPU there (perf, noop run of 100k devices).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    no_huge_pages();
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Run(args) => cmd_run::run(*args),
        Command::Inventory(args) => cmd_inventory::run(args),
        Command::Lab(args) => match fleet_lab::run_cli(args) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("fleet lab: error: {:#}", anyhow::Error::from(e));
                fleet_proto::ExitCode::Usage.code()
            }
        },
        Command::Logs(args) => cmd_logs::logs(args),
        Command::Bench(args) => cmd_bench::bench(args),
        Command::BarePool(args) => cmd_bench::bare_pool(args),
        Command::Runs(args) => cmd_logs::runs(args),
        Command::Report(args) => cmd_report::report(args),
        Command::Merge(args) => cmd_merge::merge(args),
        Command::Worker(args) => fleet_worker::worker_main(fleet_worker::WorkerArgs {
            id: args.id,
            ipc: args.ipc,
            master_pid: args.master_pid,
        }),
    };
    std::process::exit(code);
}

/// Turns transparent huge pages off for this process and the workers it
/// starts (the flag survives fork and exec).
///
/// mimalloc asks for huge pages on its arenas: each thread's first
/// allocations of a size then fault in and zero a whole 2 MiB page. With a
/// hundred session threads that was a third of the client's CPU on a
/// zero-latency run (`clear_page_erms` under `do_huge_pmd_anonymous_page`
/// in `perf record`: 76 huge-page faults per 2,000 sessions at `-p 0 -t 100`,
/// 180 MiB resident against 60 MiB for the bare pool). fleet's heap is
/// small and short-lived; it gains nothing from fewer TLB misses.
fn no_huge_pages() {
    // A failure only leaves fleet slower, never wrong: nothing to report.
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_thp_disable(true);
}
