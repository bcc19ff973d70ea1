//! The sweep: start the target, calibrate, run every layout `repeat` times
//! interleaved (A B C A B C), summarise, write the outputs.

use crate::artifacts;
use crate::bare::{self, BareSpec};
use crate::chart;
use crate::config::{BenchConfig, Target};
use crate::error::BenchError;
use crate::lab::LabProcess;
use crate::layout::{FleetLayout, Layout};
use crate::procfs;
use crate::report::{self, BenchReport, LabReport, SCHEMA};
use crate::runner::{self, RunRecord, RunSpec};
use crate::summary::{self, SweepFacts};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The files [`write_outputs`] wrote.
#[derive(Debug, Clone)]
pub struct Outputs {
    /// bench.json.
    pub json: PathBuf,
    /// bench.csv.
    pub csv: PathBuf,
    /// bench.svg.
    pub svg: PathBuf,
    /// bench.html.
    pub html: PathBuf,
    /// bench.md: the short table `make bench` collects.
    pub md: PathBuf,
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// Runs the whole benchmark. `progress` gets one line per step (for stderr).
pub fn run(cfg: &BenchConfig, progress: &mut dyn FnMut(&str)) -> Result<BenchReport, BenchError> {
    if cfg.layouts.is_empty() {
        return Err(BenchError::Config("no layouts to run".into()));
    }
    if cfg.repeat == 0 {
        return Err(BenchError::Config("--repeat must be at least 1".into()));
    }
    if matches!(cfg.target, Target::Synthetic(_)) && !cfg.noop {
        return Err(BenchError::Config(
            "generated devices only exist with --transport noop; give --inventory or use the lab"
                .into(),
        ));
    }
    let started_at = now_rfc3339();
    let load_before = procfs::loadavg();
    // Each benchmark works in its own fresh directory: nothing is deleted.
    let stamp = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    // Absolute, so the paths in bench.json hold from any directory.
    let out = std::path::absolute(&cfg.out).map_err(BenchError::io("cannot resolve", &cfg.out))?;
    let work = out.join("work").join(format!("{stamp}"));
    std::fs::create_dir_all(&work).map_err(BenchError::io("cannot create", &work))?;

    let mut lab = None;
    let (target, inventory) = match &cfg.target {
        Target::Lab {
            devices,
            threads,
            args,
        } => {
            progress(&format!(
                "starting a lab of {devices} devices (latency {} ms)",
                cfg.latency.as_millis()
            ));
            let l = LabProcess::start(
                &cfg.fleet_exe,
                *devices,
                cfg.latency,
                *threads,
                args,
                &work.join("lab"),
            )?;
            let inv = l.inventory();
            lab = Some(l);
            ("lab", inv)
        }
        Target::Inventory(path) => ("inventory", path.clone()),
        Target::Synthetic(n) => ("synthetic", write_synthetic_inventory(&work, *n)?),
    };
    let lab_cpu_start = lab.as_ref().and_then(LabProcess::cpu_ms);
    let names = device_names(&inventory)?;
    let devices = names.len() as u64;
    // The noop transport never waits on a device: no latency to add.
    let latency_ms = if cfg.noop {
        0.0
    } else {
        cfg.latency.as_secs_f64() * 1e3
    };

    let spec = RunSpec {
        fleet_exe: &cfg.fleet_exe,
        inventory: &inventory,
        command: &cfg.command,
        noop: cfg.noop,
        limit: None,
        batch_size: cfg.batch_size,
        timeout: cfg.run_timeout,
        lab_pid: lab.as_ref().map(LabProcess::pid),
        run_args: &cfg.run_args,
    };

    if cfg.noop && cfg.layouts.iter().any(|l| matches!(l, Layout::Bare(_))) {
        return Err(BenchError::Config(
            "the bare pool makes real SSH sessions: it cannot run with --transport noop".into(),
        ));
    }
    let bare_spec = BareSpec {
        fleet_exe: &cfg.fleet_exe,
        inventory: &inventory,
        command: &cfg.command,
        session_timeout: cfg.bare_session_timeout,
        timeout: cfg.run_timeout,
        lab_pid: lab.as_ref().map(LabProcess::pid),
    };

    let costs = if cfg.noop || cfg.calibration_devices == 0 {
        None
    } else {
        calibrate(&spec, &names, cfg.calibration_devices, &work, progress)?
    };
    let handshake_ms = costs.map(|c| c.handshake_ms).unwrap_or(0.0);
    // One wave of the ideal makespan: the uncontended session as measured
    // (handshake + each command's latency + close), else the bare latency.
    let session_ms = costs.map(|c| c.session_ms).unwrap_or(latency_ms);

    let mut runs: Vec<Vec<RunRecord>> = vec![Vec::new(); cfg.layouts.len()];
    let mut order = 0;
    for repeat in 0..cfg.repeat {
        for (i, layout) in cfg.layouts.iter().enumerate() {
            let dir = work
                .join("runs")
                .join(format!("{order:03}-{}", layout.dir_name()));
            let rec = match layout {
                Layout::Fleet(f) => runner::run_once(&spec, *f, &dir, repeat, order)?,
                Layout::Bare(b) => bare::run_once(&bare_spec, *b, &dir, repeat, order)?,
            };
            progress(&format!(
                "run {}/{}: {layout} #{}: {:.2} s, cpu {:.0} ms, {} not ok{}",
                order + 1,
                cfg.layouts.len() * cfg.repeat,
                repeat + 1,
                rec.wall_ms / 1e3,
                rec.cpu_ms,
                rec.failures(),
                if rec.timed_out { ", TIMED OUT" } else { "" }
            ));
            runs[i].push(rec);
            order += 1;
        }
    }

    let lab_report = lab.map(|l| {
        let pid = l.pid();
        let cpu_ms_total = match (lab_cpu_start, l.cpu_ms()) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        LabReport {
            pid,
            cpu_ms_total,
            stats: l.stop(),
        }
    });
    let cores = procfs::cores();
    let facts = SweepFacts {
        devices,
        session_ms,
        cores,
    };
    let program = cfg.fleet_exe.display().to_string();
    let mut layouts: Vec<_> = cfg
        .layouts
        .iter()
        .zip(runs)
        .map(|(l, r)| {
            let mut command = vec![program.clone()];
            command.extend(match l {
                Layout::Fleet(f) => runner::args(&spec, *f, "<out>"),
                Layout::Bare(b) => bare::args(&bare_spec, *b),
            });
            summary::summarise(*l, r, facts, command)
        })
        .collect();
    let baseline = summary::fill_speedups(&mut layouts);
    summary::fill_bare_ratios(&mut layouts);
    Ok(BenchReport {
        schema: SCHEMA,
        fleet_version: env!("CARGO_PKG_VERSION"),
        started_at,
        ended_at: now_rfc3339(),
        host: nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default(),
        cores,
        load_before,
        load_after: procfs::loadavg(),
        command_line: cfg.command_line.clone(),
        target,
        inventory,
        devices,
        latency_ms,
        transport: if cfg.noop { "noop" } else { "inventory" },
        command: cfg.command.clone(),
        run_args: cfg.run_args.clone(),
        repeat: cfg.repeat,
        handshake_ms,
        session_ms,
        baseline,
        lab: lab_report,
        layouts,
    })
}

/// Measures the uncontended session (handshake, and the whole session):
/// the first `k` devices, one at a time inside the master (`-p 0 -t 1`).
fn calibrate(
    spec: &RunSpec<'_>,
    names: &[String],
    k: usize,
    work: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<Option<artifacts::SessionCosts>, BenchError> {
    let k = k.min(names.len());
    let limit = names[..k]
        .iter()
        .map(|n| format!("name:{}", glob_escape(n)))
        .collect::<Vec<_>>()
        .join(",");
    let spec = RunSpec {
        limit: Some(&limit),
        ..spec.clone()
    };
    let layout = FleetLayout {
        p: 0,
        t: 1,
        batch: None,
        auto: false,
    };
    let rec = runner::run_once(&spec, layout, &work.join("calibration"), 0, 0)?;
    let costs = match rec.run_dir.as_deref() {
        Some(dir) => artifacts::session_costs(dir).map_err(|source| BenchError::RunDir {
            layout: layout.to_string(),
            repeat: 0,
            dir: dir.to_path_buf(),
            source,
        })?,
        None => None,
    };
    progress(&format!(
        "calibration: {k} devices one at a time: handshake (connect + auth) median {:.1} ms, session median {:.1} ms, {} not ok",
        costs.map(|c| c.handshake_ms).unwrap_or(0.0),
        costs.map(|c| c.session_ms).unwrap_or(0.0),
        rec.failures()
    ));
    Ok(costs)
}

/// Escapes glob metacharacters so `name:GLOB` matches exactly one name.
fn glob_escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(
            c,
            '*' | '?' | '[' | ']' | '{' | '}' | '\\' | ',' | '!' | '&'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Device names of an inventory, in order.
fn device_names(path: &Path) -> Result<Vec<String>, BenchError> {
    let inv = fleet_inventory::load(path, None).map_err(|e| BenchError::Inventory {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(inv.devices.into_iter().map(|d| d.name).collect())
}

/// Writes a fleet YAML inventory of `n` devices that are never contacted
/// (noop transport): `bench-0000001` ... on 127.0.0.1 port 9.
pub fn write_synthetic_inventory(dir: &Path, n: usize) -> Result<PathBuf, BenchError> {
    let mut y = String::with_capacity(64 + n * 48);
    y.push_str("# generated by fleet bench for --transport noop: never contacted\n");
    y.push_str("defaults:\n  username: bench\n  agent: true\n  port: 9\ndevices:\n");
    for i in 1..=n {
        let _ = write!(y, "  - name: bench-{i:07}\n    host: 127.0.0.1\n");
    }
    let path = dir.join("noop-inventory.yaml");
    std::fs::write(&path, y).map_err(BenchError::io("cannot write", &path))?;
    Ok(path)
}

/// Writes bench.json, bench.csv, bench.svg, bench.html and bench.md into `out`.
pub fn write_outputs(report: &BenchReport, out: &Path) -> Result<Outputs, BenchError> {
    std::fs::create_dir_all(out).map_err(BenchError::io("cannot create", out))?;
    let outputs = Outputs {
        json: out.join("bench.json"),
        csv: out.join("bench.csv"),
        svg: out.join("bench.svg"),
        html: out.join("bench.html"),
        md: out.join("bench.md"),
    };
    let json = serde_json::to_vec_pretty(report)
        .map_err(|e| BenchError::Config(format!("cannot encode bench.json: {e}")))?;
    std::fs::write(&outputs.json, json).map_err(BenchError::io("cannot write", &outputs.json))?;
    std::fs::write(&outputs.csv, report::csv(report))
        .map_err(BenchError::io("cannot write", &outputs.csv))?;
    let title = format!(
        "fleet bench: {} devices, latency {} ms, {} ({} cores)",
        report.devices, report.latency_ms, report.transport, report.cores
    );
    let svg = chart::svg(&title, &report.layouts)?;
    std::fs::write(&outputs.svg, svg).map_err(BenchError::io("cannot write", &outputs.svg))?;
    let html = crate::html::render(report)
        .map_err(|e| BenchError::Config(format!("cannot encode bench.html's data: {e}")))?;
    std::fs::write(&outputs.html, html).map_err(BenchError::io("cannot write", &outputs.html))?;
    std::fs::write(&outputs.md, report::summary_table(report))
        .map_err(BenchError::io("cannot write", &outputs.md))?;
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_inventory_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_synthetic_inventory(dir.path(), 25).unwrap();
        let names = device_names(&path).unwrap();
        assert_eq!(names.len(), 25);
        assert_eq!(names[0], "bench-0000001");
    }

    #[test]
    fn glob_escape_keeps_names_literal() {
        assert_eq!(glob_escape("a*b[1]"), "a\\*b\\[1\\]");
        assert_eq!(glob_escape("lab-ios-0001"), "lab-ios-0001");
    }
}
