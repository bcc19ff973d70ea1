//! Entry point of a worker process: `fleet __worker --id N --ipc NAME`.

use crate::link;
use crate::pool;
use std::os::fd::AsFd;

/// Arguments the master passes on the worker's command line. Nothing
/// secret travels here: credentials arrive over IPC with each device.
#[derive(Debug, Clone)]
pub struct WorkerArgs {
    /// Worker slot id.
    pub id: u32,
    /// Name of the master's one-shot IPC server.
    pub ipc: String,
    /// The master's pid, to detect a master that died before we started.
    pub master_pid: u32,
}

/// Runs a worker process to completion and returns its exit code.
///
/// The master points the worker's stderr at `worker-<id>.log`, so log
/// lines, panic messages and backtraces all land in that one file.
pub fn worker_main(args: WorkerArgs) -> i32 {
    // Die with the master, even when it is SIGKILLed.
    if let Err(e) = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL) {
        eprintln!("failed to set the parent-death signal: {e}");
        return 3;
    }
    if nix::unistd::getppid().as_raw() as u32 != args.master_pid {
        eprintln!("master {} is already gone", args.master_pid);
        return 3;
    }
    let level = std::env::var("FLEET_LOG_LEVEL")
        .ok()
        .and_then(|l| l.parse().ok())
        .unwrap_or(log::LevelFilter::Info);
    // Routine per-device lines, as the master's `--device-logs` decided.
    let device_lines = std::env::var("FLEET_DEVICE_LOGS").map_or(true, |v| v != "off");
    // Log through a buffered duplicate of stderr (the worker's log file).
    let log_file = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from);
    match log_file {
        Ok(f) => fleet_logs::init_with(&format!("w{}", args.id), level, device_lines, f),
        Err(e) => eprintln!("failed to open the log: {e}"),
    }
    install_panic_hook();
    // Ctrl-C goes to the master, which decides how workers stop.
    // SAFETY: SIG_IGN installs no Rust code as a handler.
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGINT,
            nix::sys::signal::SigHandler::SigIgn,
        );
    }
    log::info!(
        "worker {} starting, master pid {}",
        args.id,
        args.master_pid
    );
    let (to_master, from_master) = match link::connect(&args.ipc) {
        Ok(l) => l,
        Err(e) => {
            log::error!(
                "failed to connect to the master: {}",
                fleet_proto::chain::Chain(&e)
            );
            return 3;
        }
    };
    let code = match pool::serve(args.id, Box::new(to_master), Box::new(from_master), false) {
        Ok(stats) => {
            log::info!(
                "worker {} exiting: {} devices, cpu {:.0}+{:.0} ms, max rss {} KiB, {} ipc messages",
                args.id,
                stats.devices,
                stats.cpu_user_ms,
                stats.cpu_sys_ms,
                stats.max_rss_kib,
                stats.ipc_messages
            );
            0
        }
        Err(e) => {
            log::error!(
                "worker {} failed: {}",
                args.id,
                fleet_proto::chain::Chain(&e)
            );
            3
        }
    };
    fleet_logs::flush();
    code
}

/// A panic in any thread of a worker is logged with its backtrace (in the
/// worker's own log format) and then aborts the process: the master sees
/// the crash at once and re-queues the worker's devices, instead of a
/// worker limping on with a dead thread (see the crate's panic policy).
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let backtrace = std::backtrace::Backtrace::force_capture();
        log::error!("panic: {info}\nbacktrace:\n{backtrace}");
        fleet_logs::flush();
        std::process::abort();
    }));
}
