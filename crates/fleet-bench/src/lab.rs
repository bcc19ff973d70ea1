//! The lab as a child `fleet lab` process, so that its CPU (the simulated
//! devices' side of every handshake) is not counted as the master's, and
//! can be read apart from /proc.

use crate::error::BenchError;
use crate::procfs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long the lab gets to bind its devices and write its inventory.
const READY_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the lab gets to write its stats and exit after SIGINT.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `fleet lab`. Dropping it without [`LabProcess::stop`] kills it.
pub struct LabProcess {
    child: Option<Child>,
    pid: u32,
    state_dir: PathBuf,
}

impl LabProcess {
    /// Starts `fleet lab` in `state_dir` and waits for its `lab ready:` line.
    pub fn start(
        fleet_exe: &Path,
        devices: usize,
        latency: Duration,
        threads: Option<usize>,
        extra_args: &[String],
        state_dir: &Path,
    ) -> Result<LabProcess, BenchError> {
        std::fs::create_dir_all(state_dir)
            .map_err(BenchError::io("cannot create the lab directory", state_dir))?;
        let err_path = state_dir.join("lab.err");
        let err_file =
            std::fs::File::create(&err_path).map_err(BenchError::io("cannot create", &err_path))?;
        let mut cmd = Command::new(fleet_exe);
        cmd.arg("lab")
            .arg("--devices")
            .arg(devices.to_string())
            .arg("--latency")
            .arg(format!("{}ms", latency.as_millis()))
            .arg("--state-dir")
            .arg(state_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err_file);
        if let Some(t) = threads {
            cmd.arg("--threads").arg(t.to_string());
        }
        cmd.args(extra_args);
        let mut child = cmd.spawn().map_err(|source| BenchError::Spawn {
            action: "start",
            program: fleet_exe.to_path_buf(),
            source,
        })?;
        let pid = child.id();
        let stdout = child.stdout.take();
        let mut lab = LabProcess {
            child: Some(child),
            pid,
            state_dir: state_dir.to_path_buf(),
        };
        let Some(stdout) = stdout else {
            return Err(BenchError::Lab("no stdout pipe".into()));
        };
        // Read lines on a thread so the wait has a deadline; the thread then
        // keeps draining stdout so the lab never blocks on a full pipe.
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("bench-lab-out".into())
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if line.starts_with("lab ready:") {
                        let _ = tx.send(line);
                    }
                }
            })
            .map_err(|source| BenchError::Spawn {
                action: "read the output of",
                program: fleet_exe.to_path_buf(),
                source,
            })?;
        match rx.recv_timeout(READY_TIMEOUT) {
            Ok(_) => Ok(lab),
            Err(_) => {
                lab.kill();
                let err = std::fs::read_to_string(&err_path).unwrap_or_default();
                Err(BenchError::Lab(format!(
                    "no `lab ready:` line; stderr: {}",
                    err.trim()
                )))
            }
        }
    }

    /// The inventory the lab wrote.
    pub fn inventory(&self) -> PathBuf {
        self.state_dir.join("inventory.yaml")
    }

    /// The lab's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// CPU time (user + system, all threads) the lab has used so far, ms.
    pub fn cpu_ms(&self) -> Option<f64> {
        procfs::cpu_ms(self.pid)
    }

    /// Stops the lab (SIGINT, so it writes `stats.json`) and returns its
    /// stats, if it wrote them.
    pub fn stop(mut self) -> Option<serde_json::Value> {
        let mut child = self.child.take()?;
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid as i32),
            nix::sys::signal::Signal::SIGINT,
        );
        let deadline = std::time::Instant::now() + STOP_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
            }
        }
        let text = std::fs::read_to_string(self.state_dir.join("stats.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for LabProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
