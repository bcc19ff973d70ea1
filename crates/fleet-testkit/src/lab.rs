//! A `fleet lab` child process for tests: started, waited for until it
//! says `lab ready:`, stopped with SIGINT so it writes its counters.

use crate::signal::{self, Signal};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

/// How long a lab may take to get ready (key generation for many
/// devices on a loaded 2-core machine).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `fleet lab`; killed on drop if the test did not stop it.
pub struct LabProc {
    /// The child; `None` once stopped.
    child: Option<Child>,
    /// The lab's `--state-dir` (`<dir>/lab`): password, keys, stats.
    pub state: PathBuf,
    /// The fleet inventory the lab wrote for its devices.
    pub inventory: PathBuf,
}

impl LabProc {
    /// Runs `BIN lab --state-dir <dir>/lab ARGS...` in `dir` and waits for
    /// its ready line; panics if it does not get ready.
    pub fn start(bin: &str, dir: &Path, args: &[&str]) -> LabProc {
        let state = dir.join("lab");
        let mut cmd = crate::fleet::command(bin, dir);
        cmd.arg("lab")
            .arg("--state-dir")
            .arg(&state)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("failed to spawn {bin} lab: {e}"));
        let stdout = child.stdout.take().expect("lab stdout is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Keep reading to the end so the lab never blocks on a full pipe.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("lab ready:") {
                    let _ = tx.send(line);
                }
            }
        });
        let lab = LabProc {
            child: Some(child),
            inventory: state.join("inventory.yaml"),
            state,
        };
        // On failure the panic drops `lab`, which kills the child.
        assert!(
            rx.recv_timeout(READY_TIMEOUT).is_ok(),
            "fleet lab {} did not print `lab ready:` within {READY_TIMEOUT:?}",
            args.join(" ")
        );
        lab
    }

    /// The `user@host:port` jump host a `--jump-host` lab writes into its
    /// inventory (panics when the lab has none).
    pub fn jump_host(&self) -> String {
        let text = std::fs::read_to_string(&self.inventory).expect("the lab's inventory");
        text.lines()
            .find_map(|l| {
                l.split_once("jump_host: ")
                    .map(|(_, j)| j.split_whitespace().next().unwrap().to_string())
            })
            .expect("the lab names its jump host")
    }

    /// `fleet run -i <the lab's inventory>`, to add the test's flags to.
    pub fn run_args(&self) -> crate::fleet::RunArgs {
        crate::fleet::RunArgs::new(&self.inventory)
    }

    /// The lab's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Stops the lab (SIGINT) and returns the counters it wrote on exit
    /// (`stats.json`: the lab's `Counters` as JSON).
    pub fn stop(mut self) -> serde_json::Value {
        let mut child = self.child.take().expect("the lab is running");
        signal::send(child.id(), Signal::SIGINT);
        let _ = child.wait();
        let path = self.state.join("stats.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("failed to read {}: {e}", path.display()));
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("failed to parse {}: {e}", path.display()))
    }
}

impl Drop for LabProc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
