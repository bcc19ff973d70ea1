//! `run_cli` in-process: signals, stats file, exit code. Its own test
//! binary, because it installs process-wide signal handlers.

use clap::Parser;
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: fleet_lab::LabArgs,
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigusr1_writes_stats_and_sigterm_exits_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let stats = dir.path().join("stats.json");
    let inventory = dir.path().join("inv.yaml");
    let cli = Cli::parse_from([
        "lab",
        "--devices",
        "3",
        "--state-dir",
        state.to_str().expect("utf8"),
        "--stats-file",
        stats.to_str().expect("utf8"),
        "--write-inventory",
        inventory.to_str().expect("utf8"),
        "--flavours",
        "ios,linux,junos",
        "--latency",
        "1ms",
    ]);
    assert_eq!(cli.args.devices, 3);
    assert_eq!(cli.args.flavours.len(), 3);
    // A SIGUSR1 that arrives before run_cli installs its handler must not
    // kill the test process: ignore it until then (tokio's handler replaces this).
    // SAFETY: SIG_IGN installs no code; nothing else in this binary handles SIGUSR1.
    unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGUSR1,
            nix::sys::signal::SigHandler::SigIgn,
        )
    }
    .expect("ignore SIGUSR1");
    let lab = std::thread::spawn(move || fleet_lab::run_cli(cli.args));
    // The inventory is written before the ready line, and the handlers
    // are installed before it too; the stats file appears only on SIGUSR1.
    wait_for("inventory", || inventory.exists());
    assert!(!stats.exists());
    let pid = nix::unistd::Pid::this();
    wait_for("stats after SIGUSR1", || {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGUSR1);
        std::thread::sleep(Duration::from_millis(100));
        stats.exists()
    });
    let text = std::fs::read_to_string(&stats).expect("stats");
    assert!(text.contains("\"sessions_accepted\": 0"), "{text}");
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let code = lab.join().expect("lab thread").expect("run_cli");
    assert_eq!(code, 0);
}
