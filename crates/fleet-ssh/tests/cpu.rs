//! Client CPU per session (kex + auth + one exec) against OpenSSH.
//! Run: `cargo test --release -p fleet-ssh --test cpu -- --ignored --nocapture`.

mod common;

use common::*;
use fleet_proto::Status;
use fleet_testkit::sshd::Sshd;
use nix::sys::resource::{getrusage, UsageWho};
use std::time::{Duration, Instant};

fn thread_cpu() -> Duration {
    let u = getrusage(UsageWho::RUSAGE_THREAD).unwrap();
    let us =
        |t: nix::sys::time::TimeVal| Duration::new(t.tv_sec() as u64, t.tv_usec() as u32 * 1000);
    us(u.user_time()) + us(u.system_time())
}

#[test]
#[ignore = "measurement, not a test: prints client CPU per session"]
fn client_cpu_per_session() {
    let sshd = Sshd::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let ctx = context(tmp.path());
    let d = key_device(&sshd, &["true"]);
    // Warm up: libssh2/OpenSSL init, host key stored.
    assert_eq!(ctx.run(&d).status, Status::Ok);
    let n = 40;
    let (cpu0, t0) = (thread_cpu(), Instant::now());
    for _ in 0..n {
        let out = ctx.run(&d);
        assert_eq!(out.status, Status::Ok, "{:?}", out.error);
    }
    let cpu = thread_cpu() - cpu0;
    let wall = t0.elapsed();
    println!(
        "sessions: {n}, client CPU per session: {:.2} ms, wall per session: {:.1} ms",
        cpu.as_secs_f64() * 1000.0 / n as f64,
        wall.as_secs_f64() * 1000.0 / n as f64
    );
}
