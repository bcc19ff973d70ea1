//! The yardstick: the simplest competent ssh2 thread pool.
//!
//! N std threads pull device indices from one `AtomicUsize`; each session
//! is connect, handshake, auth, one exec channel, read stdout to the end,
//! close. No logs, no IPC, no trace, no results file, no host-key check:
//! whatever fleet spends beyond this is its own cost. `fleet bench` runs
//! it as a child process (`fleet __bare-pool`, see [`pool_main`]) exactly
//! like a `fleet run`, so both are timed and measured the same way
//! ([`run_once`]): process start (inventory parse included) to exit.
//!
//! Keep it simple: it must not grow features, or it stops measuring fleet.

use crate::child;
use crate::error::BenchError;
use crate::layout::BareLayout;
use crate::runner::RunRecord;
use fleet_proto::{Auth, Device};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// What one pool run did: devices per outcome, printed as JSON by
/// `fleet __bare-pool` and read back by [`run_once`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BareOutcome {
    /// Devices in the inventory.
    pub devices: u64,
    /// Sessions per outcome, named like fleet's statuses (`ok`,
    /// `connect_failed`, `auth_failed`, `command_failed`, `protocol_error`).
    pub statuses: BTreeMap<String, u64>,
}

/// How one session ended (the status names fleet uses, so a sweep's flags
/// read the same for both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    ConnectFailed,
    AuthFailed,
    CommandFailed,
    ProtocolError,
}

impl Outcome {
    fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ConnectFailed => "connect_failed",
            Outcome::AuthFailed => "auth_failed",
            Outcome::CommandFailed => "command_failed",
            Outcome::ProtocolError => "protocol_error",
        }
    }
}

/// One session: connect, handshake, auth, exec `command`, read to EOF.
fn session(d: &Device, command: &str, timeout: Duration) -> Outcome {
    let Ok(tcp) = TcpStream::connect((d.host.as_str(), d.port)) else {
        return Outcome::ConnectFailed;
    };
    let Ok(mut s) = ssh2::Session::new() else {
        return Outcome::ProtocolError;
    };
    s.set_tcp_stream(tcp);
    s.set_timeout(u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX));
    if s.handshake().is_err() {
        return Outcome::ProtocolError;
    }
    let authed = d.auth.iter().any(|a| match a {
        Auth::Password(p) => s.userauth_password(&d.username, p.expose()).is_ok(),
        Auth::KeyFile { path, passphrase } => s
            .userauth_pubkey_file(
                &d.username,
                None,
                path,
                passphrase.as_ref().map(|p| p.expose()),
            )
            .is_ok(),
        Auth::Agent => s.userauth_agent(&d.username).is_ok(),
    });
    if !authed {
        return Outcome::AuthFailed;
    }
    let run = || -> Option<i32> {
        let mut ch = s.channel_session().ok()?;
        ch.exec(command).ok()?;
        let mut out = Vec::new();
        ch.read_to_end(&mut out).ok()?;
        ch.wait_close().ok()?;
        ch.exit_status().ok()
    };
    match run() {
        Some(0) => Outcome::Ok,
        Some(_) => Outcome::CommandFailed,
        None => Outcome::ProtocolError,
    }
}

/// Runs every device once on `threads` threads and counts the outcomes.
pub fn pool(devices: &[Device], threads: u32, command: &str, timeout: Duration) -> BareOutcome {
    let next = AtomicUsize::new(0);
    let counts = Mutex::new(BTreeMap::<String, u64>::new());
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                let mut mine: BTreeMap<&'static str, u64> = BTreeMap::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(d) = devices.get(i) else { break };
                    *mine.entry(session(d, command, timeout).name()).or_default() += 1;
                }
                // One lock per thread, at the end: nothing shared per session.
                let mut all = counts.lock().unwrap_or_else(|e| e.into_inner());
                for (k, n) in mine {
                    *all.entry(k.to_string()).or_default() += n;
                }
            });
        }
    });
    BareOutcome {
        devices: devices.len() as u64,
        statuses: counts.into_inner().unwrap_or_else(|e| e.into_inner()),
    }
}

/// `fleet __bare-pool`: loads the inventory (as `fleet run` does, so both
/// pay for it) and runs the pool.
pub fn pool_main(
    inventory: &Path,
    threads: u32,
    command: &str,
    timeout: Duration,
) -> Result<BareOutcome, BenchError> {
    let inv = fleet_inventory::load(inventory, None).map_err(|e| BenchError::Inventory {
        path: inventory.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(pool(&inv.devices, threads, command, timeout))
}

/// What [`run_once`] needs.
#[derive(Debug, Clone)]
pub struct BareSpec<'a> {
    /// The `fleet` executable (it carries the hidden `__bare-pool`).
    pub fleet_exe: &'a Path,
    /// Inventory file.
    pub inventory: &'a Path,
    /// Command for every device.
    pub command: &'a str,
    /// Per-session libssh2 timeout.
    pub session_timeout: Duration,
    /// Interrupt the pool after this long.
    pub timeout: Duration,
    /// Pid of a lab child whose CPU to measure.
    pub lab_pid: Option<u32>,
}

/// The child's command line (without the program): what bench.html shows.
pub fn args(spec: &BareSpec<'_>, layout: BareLayout) -> Vec<String> {
    vec![
        "__bare-pool".into(),
        "--inventory".into(),
        spec.inventory.display().to_string(),
        "--threads".into(),
        layout.threads.to_string(),
        "--command".into(),
        spec.command.to_string(),
        "--session-timeout-ms".into(),
        spec.session_timeout.as_millis().to_string(),
    ]
}

/// Runs the pool as a child process into `dir` (bare.json, bare.err) and
/// measures it like a `fleet run`.
pub fn run_once(
    spec: &BareSpec<'_>,
    layout: BareLayout,
    dir: &Path,
    repeat: usize,
    order: usize,
) -> Result<RunRecord, BenchError> {
    std::fs::create_dir_all(dir).map_err(BenchError::io("cannot create", dir))?;
    let out_path = dir.join("bare.json");
    let err_path = dir.join("bare.err");
    let stdout =
        std::fs::File::create(&out_path).map_err(BenchError::io("cannot create", &out_path))?;
    let stderr =
        std::fs::File::create(&err_path).map_err(BenchError::io("cannot create", &err_path))?;
    let mut cmd = Command::new(spec.fleet_exe);
    cmd.args(args(spec, layout))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    let m = child::measure(&mut cmd, spec.fleet_exe, spec.timeout, spec.lab_pid)?;
    let fail = |why: String| BenchError::Run {
        layout: crate::layout::Layout::Bare(layout).to_string(),
        repeat,
        why,
        dir: dir.to_path_buf(),
    };
    let text = std::fs::read_to_string(&out_path)
        .map_err(|e| fail(format!("{}: {e} (exit {})", out_path.display(), m.status)))?;
    let outcome: BareOutcome = serde_json::from_str(&text)
        .map_err(|e| fail(format!("{}: {e} (exit {})", out_path.display(), m.status)))?;
    Ok(RunRecord {
        repeat,
        order,
        run_dir: None::<PathBuf>,
        exit_code: m.status.code(),
        timed_out: m.timed_out,
        wall_ms: m.wall_ms,
        run_wall_ms: None,
        devices: outcome.devices,
        cpu_ms: m.cpu_ms,
        master_cpu_ms: m.cpu_ms,
        workers_cpu_ms: None,
        lab_cpu_ms: m.lab_cpu_ms,
        master_peak_rss_kib: m.peak_rss_kib,
        worker_peak_rss_kib: Vec::new(),
        ipc_messages: 0,
        ipc_bytes: 0,
        spawn_ms: None,
        spawn_all_ms: None,
        statuses: outcome.statuses,
        load_1m: m.load_1m,
    })
}
