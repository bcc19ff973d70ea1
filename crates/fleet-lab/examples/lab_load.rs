//! Load test of the lab: how many concurrent sessions it holds and how many
//! new sessions per second it serves, measured with libssh2 client threads
//! against an in-process lab on this machine.
//!
//! `cargo run --release -p fleet-lab --example lab_load -- [devices] [concurrent] [rate_sessions]`
//!
//! 1. Concurrency: opens `concurrent` (default 1000) authenticated sessions
//!    (one per thread, spread over the devices), keeps them all open, runs
//!    one command on each, and reports the lab's peak.
//! 2. Rate: `rate_sessions` (default 3000) short sessions (handshake +
//!    password auth + `show version` + close) from 32 threads, zero latency;
//!    reports sessions/s and the lab's best sliding 1 s window.
//!
//! Client and lab share the 2 cores, so the numbers are a lower bound for
//! the lab alone.

use fleet_lab::{Flavour, Lab, LabConfig};
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Instant;

fn session(addr: SocketAddr, password: &str) -> Result<ssh2::Session, String> {
    let tcp = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    let mut sess = ssh2::Session::new().map_err(|e| e.to_string())?;
    sess.set_tcp_stream(tcp);
    sess.set_timeout(60_000);
    sess.handshake().map_err(|e| format!("handshake: {e}"))?;
    sess.userauth_password("admin", password)
        .map_err(|e| format!("auth: {e}"))?;
    Ok(sess)
}

fn command(sess: &ssh2::Session) -> Result<usize, String> {
    let mut ch = sess.channel_session().map_err(|e| e.to_string())?;
    ch.exec("show version").map_err(|e| e.to_string())?;
    let mut out = String::new();
    ch.read_to_string(&mut out).map_err(|e| e.to_string())?;
    ch.wait_close().map_err(|e| e.to_string())?;
    Ok(out.len())
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let devices = args.first().copied().unwrap_or(1000);
    let concurrent = args.get(1).copied().unwrap_or(1000);
    let rate_sessions = args.get(2).copied().unwrap_or(3000);

    let dir = std::env::temp_dir().join(format!("fleet-lab-load-{}", std::process::id()));
    let mut config = LabConfig::new(devices, &dir);
    config.flavours = vec![Flavour::CiscoIos, Flavour::Linux];
    let started = Instant::now();
    let lab = match Lab::start(config) {
        Ok(lab) => lab,
        Err(e) => {
            eprintln!("lab failed to start: {e}");
            std::process::exit(fleet_proto::ExitCode::Usage.code());
        }
    };
    println!(
        "lab with {devices} devices started in {:?}",
        started.elapsed()
    );
    let addrs: Arc<Vec<SocketAddr>> = Arc::new(lab.devices().iter().map(|d| d.addr).collect());
    let password = lab.password().expose().to_string();

    // 1. Concurrent sessions.
    // `opened`: every session is up; `release`: the main thread has read the
    // lab's counters, so the threads may close their sessions.
    let opened = Arc::new(Barrier::new(concurrent + 1));
    let release = Arc::new(Barrier::new(concurrent + 1));
    let failures = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let handles: Vec<_> = (0..concurrent)
        .map(|i| {
            let addrs = Arc::clone(&addrs);
            let opened = Arc::clone(&opened);
            let release = Arc::clone(&release);
            let failures = Arc::clone(&failures);
            let password = password.clone();
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let result = session(addrs[i % addrs.len()], &password);
                    let ok = result.as_ref().map(|s| command(s).is_ok()).unwrap_or(false);
                    if !ok {
                        failures.fetch_add(1, Ordering::Relaxed);
                        if let Err(e) = &result {
                            eprintln!("session {i}: {e}");
                        }
                    }
                    opened.wait();
                    release.wait();
                    drop(result);
                })
                .expect("spawn client thread")
        })
        .collect();
    opened.wait();
    let open_time = t0.elapsed();
    let peak = lab.counters().current_sessions;
    release.wait();
    for h in handles {
        let _ = h.join();
    }
    println!(
        "concurrency: {concurrent} sessions opened+1 command each in {open_time:.2?}, \
         {} failed, lab current sessions at hold point = {peak}, lab peak = {}",
        failures.load(Ordering::Relaxed),
        lab.counters().peak_sessions
    );

    // 2. New sessions per second.
    let threads = 32;
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let addrs = Arc::clone(&addrs);
            let next = Arc::clone(&next);
            let failures = Arc::clone(&failures);
            let password = password.clone();
            std::thread::spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= rate_sessions {
                    return;
                }
                let ok = session(addrs[i % addrs.len()], &password)
                    .and_then(|s| command(&s))
                    .is_ok();
                if !ok {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    let elapsed = t0.elapsed();
    let counters = lab.counters();
    println!(
        "rate: {rate_sessions} sessions (handshake+auth+show version) from {threads} threads in {elapsed:.2?} = {:.0} sessions/s, {} failed; lab best 1 s window = {}",
        rate_sessions as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
        failures.load(Ordering::Relaxed),
        counters.max_new_sessions_per_1s_window
    );
    match lab.shutdown() {
        Ok(c) => println!(
            "lab totals: accepted {} handshakes {} auth_ok {} commands {} bytes {}",
            c.sessions_accepted, c.handshakes_completed, c.auth_ok, c.commands, c.bytes_sent
        ),
        Err(e) => eprintln!("shutdown: {e}"),
    }
    let peak_rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_string)
        });
    println!(
        "process peak RSS (lab + client threads): {}",
        peak_rss.as_deref().unwrap_or("unknown")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
