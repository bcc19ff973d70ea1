//! Micro-benchmarks (divan): `cargo bench -p fleet-bench`.
//!
//! - IPC round trip of a small message and a 1 MiB result, over
//!   ipc-channel with the worker link's bincode framing (the same bytes a
//!   worker and the master exchange; both ends in one process here, so the
//!   figure is the channel + codec cost without process scheduling noise).
//! - Inventory parse of 100,000 devices (`fleet_inventory::load_str`).
//! - Dispatch overhead: `fleet run --transport noop -p 2 -t 8` over
//!   100,000 generated devices, end to end. Needs a built `fleet`: set
//!   `FLEET_BIN`, else `$CARGO_TARGET_DIR/release/fleet` or
//!   `target/release/fleet` is used; skipped when none exists.

use divan::Bencher;
use fleet_proto::{
    CommandOutput, Device, DeviceResult, MasterToWorker, Status, WorkerEvent, WorkerToMaster,
};
use fleet_worker::link::{decode, encode, Frame};
use ipc_channel::ipc;
use std::path::PathBuf;

fn main() {
    divan::main();
}

/// An echo peer: decodes each frame as a worker message and answers with a
/// small master message, like a worker heartbeat and the master's answer.
fn echo_peer() -> (ipc::IpcSender<Frame>, ipc::IpcReceiver<Frame>) {
    let (to_peer, peer_rx) = ipc::channel::<Frame>().expect("ipc channel");
    let (peer_tx, from_peer) = ipc::channel::<Frame>().expect("ipc channel");
    std::thread::spawn(move || {
        while let Ok(frame) = peer_rx.recv() {
            let msg: WorkerToMaster = decode(&frame).expect("decode");
            drop(msg);
            let reply = encode(&MasterToWorker::Drain).expect("encode");
            if peer_tx.send(reply).is_err() {
                break;
            }
        }
    });
    (to_peer, from_peer)
}

#[divan::bench(sample_count = 200, sample_size = 10)]
fn ipc_round_trip_small(b: Bencher) {
    let (tx, rx) = echo_peer();
    b.bench_local(|| {
        tx.send(encode(&WorkerToMaster::Heartbeat(Vec::new())).expect("encode"))
            .expect("send");
        let reply: MasterToWorker = decode(&rx.recv().expect("recv")).expect("decode");
        reply
    });
}

fn big_result() -> WorkerToMaster {
    let device = Device::new("bench-0000001", "127.0.0.1", 22);
    let mut result = DeviceResult::without_session(&device, Status::Ok, "", 1);
    result.error = None;
    result.outputs = vec![CommandOutput {
        command: "show running-config".into(),
        stdout: "interface GigabitEthernet0/1\n description bench\n".repeat((1 << 20) / 48 + 1)
            [..(1 << 20)]
            .to_string(),
        stderr: String::new(),
        exit_status: Some(0),
        truncated: false,
    }];
    WorkerToMaster::Events(vec![WorkerEvent::Finished { seq: 1, result }])
}

/// A 1 MiB result worker → master (encode, send, receive, decode) and the
/// small answer back.
#[divan::bench(sample_count = 30, sample_size = 3)]
fn ipc_result_1mib(b: Bencher) {
    let (tx, rx) = echo_peer();
    let msg = big_result();
    b.counter(divan::counter::BytesCount::new(1usize << 20))
        .bench_local(|| {
            tx.send(encode(&msg).expect("encode")).expect("send");
            let reply: MasterToWorker = decode(&rx.recv().expect("recv")).expect("decode");
            reply
        });
}

fn inventory_text(n: usize) -> String {
    use std::fmt::Write as _;
    let mut y = String::from("defaults:\n  username: bench\n  agent: true\n  port: 22\n  platform: cisco_ios\ndevices:\n");
    for i in 1..=n {
        let _ = write!(
            y,
            "  - name: bench-{i:07}\n    host: 10.{}.{}.{}\n    groups: [g{}]\n",
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255,
            i % 16
        );
    }
    y
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn inventory_parse_100k(b: Bencher) {
    let text = inventory_text(100_000);
    let origin = PathBuf::from("bench.yaml");
    b.counter(divan::counter::ItemsCount::new(100_000usize))
        .bench_local(|| {
            let inv = fleet_inventory::load_str(&text, &origin, fleet_inventory::Format::Fleet)
                .expect("inventory parses");
            assert_eq!(inv.devices.len(), 100_000);
            inv
        });
}

fn fleet_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FLEET_BIN") {
        return Some(PathBuf::from(p));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    Some(target.join("release/fleet")).filter(|p| p.is_file())
}

/// `fleet run --transport noop -p 2 -t 8` over 100,000 devices, end to end
/// (process start, inventory parse, spawn, dispatch, results.jsonl).
#[divan::bench(sample_count = 3, sample_size = 1)]
fn dispatch_noop_100k(b: Bencher) {
    // A benchmark that measured nothing must not look like one that ran.
    let bin = fleet_bin().expect(
        "dispatch_noop_100k needs the fleet binary: run `cargo build --release` first \
         or set FLEET_BIN",
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let inv = fleet_bench::bench::write_synthetic_inventory(dir.path(), 100_000)
        .expect("inventory written");
    b.counter(divan::counter::ItemsCount::new(100_000usize))
        .bench_local(|| {
            let status = std::process::Command::new(&bin)
                .arg("run")
                .arg("-i")
                .arg(&inv)
                .args(["-p", "2", "-t", "8", "--transport", "noop", "-c", "x"])
                .args(["--format", "none", "--progress", "never", "--out"])
                .arg(dir.path().join("runs"))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .expect("fleet runs");
            assert!(status.success(), "fleet run failed: {status}");
        });
}
