//! Loads 100,000 devices in every inventory format and prints, per format,
//! wall time, CPU time and peak RSS of a fresh process that only loads.
//!
//! `cargo run -p fleet-inventory --release --example bench_100k [-- N [FORMAT]]`

mod gen;

use fleet_inventory::{load, Format};
use std::process::Command;
use std::time::Instant;

/// A `/proc/self/status` value in KiB (`VmHWM` = peak RSS).
fn status_kib(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User + system CPU seconds of this process so far (from `/proc/self/stat`,
/// assuming the usual 100 ticks per second).
fn cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = match args.get(1) {
        Some(a) => a.parse()?,
        None => 100_000,
    };
    std::env::set_var("FLEET_BENCH_PW", "bench");
    if let (Some(format), Some(path)) = (args.get(2), args.get(3)) {
        // Child: load one file and report.
        let format: Format = format.parse()?;
        let rss0 = status_kib("VmRSS:").unwrap_or(0) as f64 / 1024.0;
        let cpu0 = cpu_secs().unwrap_or(0.0);
        let start = Instant::now();
        let inv = load(std::path::Path::new(path), Some(format))?;
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        let cpu = (cpu_secs().unwrap_or(0.0) - cpu0) * 1000.0;
        let peak = status_kib("VmHWM:").unwrap_or(0) as f64 / 1024.0;
        assert_eq!(inv.devices.len(), n);
        println!(
            "{:<13} {:>8} {:>10.0} {:>10.0} {:>14.1} {:>10.1}",
            format.name(),
            inv.devices.len(),
            ms,
            cpu,
            peak,
            rss0
        );
        return Ok(());
    }
    println!(
        "{:<13} {:>8} {:>10} {:>10} {:>14} {:>10} {:>9}",
        "format", "devices", "wall ms", "cpu ms", "peak RSS MiB", "base MiB", "file MiB"
    );
    let only = args.get(2).map(|f| f.parse::<Format>()).transpose()?;
    let exe = std::env::current_exe()?;
    for format in Format::ALL
        .into_iter()
        .filter(|f| only.is_none_or(|o| o == *f))
    {
        let dir = tempfile::tempdir()?;
        let path = gen::write(dir.path(), format, n)?;
        let size = std::fs::metadata(&path)?.len() as f64 / (1024.0 * 1024.0);
        let out = Command::new(&exe)
            .arg(n.to_string())
            .arg(format.name())
            .arg(&path)
            .output()?;
        let line = String::from_utf8_lossy(&out.stdout);
        println!("{} {:>9.1}", line.trim_end(), size);
        if !out.status.success() {
            eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        }
    }
    Ok(())
}
