//! Running the real `fleet` binary from tests and reading what it left.
//!
//! Every helper panics with the command line, the working directory and
//! both output streams, so a failing end-to-end test explains itself.

use crate::signal::Signal;
use fleet_proto::rundir::{ResultLine, ResultsReader, RunJson, WorkerRecord, RESULTS_FILE};
use std::collections::BTreeMap;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A finished `fleet` invocation.
#[derive(Debug)]
pub struct FleetRun {
    /// What was run, for failure messages.
    pub command: String,
    /// The working directory.
    pub dir: PathBuf,
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl FleetRun {
    /// Wraps a finished process.
    pub fn from_output(command: String, dir: &Path, out: Output) -> FleetRun {
        FleetRun {
            command,
            dir: dir.to_path_buf(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Everything about the run, for assertion messages.
    pub fn explain(&self) -> String {
        format!(
            "command: {}\ndir: {}\nexit: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command,
            self.dir.display(),
            self.code,
            truncate(&self.stdout),
            truncate(&self.stderr)
        )
    }

    /// Panics unless the exit code is `code`.
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "unexpected exit code\n{}",
            self.explain()
        );
        self
    }

    /// The run directory this run reported in its summary (`run ID: PATH`),
    /// else the newest one under `<dir>/<out>`.
    pub fn run_dir(&self, out: &str) -> PathBuf {
        let reported = self.stderr.lines().find_map(|l| {
            let rest = l.trim().strip_prefix("run ")?;
            let (_, path) = rest.split_once(": ")?;
            Some(self.dir.join(path.trim()))
        });
        reported
            .filter(|p| p.is_dir())
            .or_else(|| newest_run_dir(&self.dir.join(out)))
            .unwrap_or_else(|| panic!("no run directory under {out}\n{}", self.explain()))
    }

    /// The result lines of this run's directory under `out` ([`results`]
    /// of [`FleetRun::run_dir`]).
    pub fn results(&self, out: &str) -> Vec<serde_json::Value> {
        results(&self.run_dir(out))
    }

    /// The same, keyed by device ([`by_device`]).
    pub fn results_by_device(&self, out: &str) -> BTreeMap<String, serde_json::Value> {
        by_device(&self.results(out))
    }
}

fn truncate(s: &str) -> String {
    const MAX: usize = 8000;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut cut = MAX;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}\n... ({} more bytes)", &s[..cut], s.len() - cut)
}

/// The most recently created run directory in `out`.
pub fn newest_run_dir(out: &Path) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs.pop()
}

/// A `fleet` command in `dir`, with a clean, test-friendly environment
/// (no progress bar, no inherited FLEET_* settings).
pub fn command(bin: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.current_dir(dir)
        .env_remove("FLEET_PROCESSES")
        .env_remove("FLEET_THREADS")
        .env_remove("FLEET_INVENTORY")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    cmd
}

/// Runs `fleet ARGS...` in `dir` to completion.
pub fn run(bin: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> FleetRun {
    let mut cmd = command(bin, dir);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
    FleetRun::from_output(format!("fleet {}", args.join(" ")), dir, out)
}

/// Every line of `results.jsonl` of a finished run, typed: a line that
/// does not match the run-directory contract, or a torn last line (a
/// finished run has none), fails the test.
pub fn result_lines(run_dir: &Path) -> Vec<ResultLine> {
    let mut reader = ResultsReader::open(run_dir).unwrap_or_else(|e| panic!("{}", chain(&e)));
    let lines: Vec<ResultLine> = (&mut reader)
        .map(|r| r.unwrap_or_else(|e| panic!("{}", chain(&e))))
        .collect();
    assert_eq!(
        reader.torn(),
        0,
        "torn last line in {}",
        run_dir.join(RESULTS_FILE).display()
    );
    lines
}

/// Every line of `results.jsonl` as a JSON value, for tests that look at
/// fields by name. Each line is first checked against the contract
/// ([`result_lines`]); the values keep fields the type does not know (the
/// `shard` of a merged run's lines).
pub fn results(run_dir: &Path) -> Vec<serde_json::Value> {
    let typed = result_lines(run_dir);
    let path = run_dir.join(RESULTS_FILE);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("failed to read {}: {e}", path.display()));
    let values: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a checked line is JSON"))
        .collect();
    assert_eq!(values.len(), typed.len(), "{}", path.display());
    values
}

/// Result lines keyed by device name (a later line of a device, a retry
/// after `--resume`, replaces an earlier one).
pub fn by_device(results: &[serde_json::Value]) -> BTreeMap<String, serde_json::Value> {
    results
        .iter()
        .map(|r| {
            let name = r["device"]
                .as_str()
                .expect("a result line names its device");
            (name.to_string(), r.clone())
        })
        .collect()
}

/// The `status` of a result line (`?` when it has none).
pub fn status(r: &serde_json::Value) -> &str {
    r["status"].as_str().unwrap_or("?")
}

/// A JSON file a run or a command wrote (fails the test, naming the file,
/// when it is missing or not JSON).
pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("failed to read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// `run.json` of a run, typed (fails the test if it does not match).
pub fn run_json(run_dir: &Path) -> RunJson {
    RunJson::read(run_dir).unwrap_or_else(|e| panic!("{}", chain(&e)))
}

/// `workers.json` of a finished run, typed.
pub fn workers_json(run_dir: &Path) -> Vec<WorkerRecord> {
    WorkerRecord::read_all(run_dir).unwrap_or_else(|e| panic!("{}", chain(&e)))
}

/// An error with its causes, for panics.
fn chain(e: &dyn std::error::Error) -> String {
    fleet_proto::chain::Chain(e).to_string()
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// Pids of the direct children of `pid` (from /proc).
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        if let Ok(s) = std::fs::read_to_string(t.path().join("children")) {
            out.extend(s.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
        }
    }
    out
}

/// Whether a process exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .map(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// A `fleet` process running in the background, for tests that signal it
/// or watch its run directory while it works. Killed on drop unless the
/// test waited for it.
pub struct FleetChild {
    /// The process; `None` once waited for.
    child: Option<Child>,
    /// What was run, for failure messages.
    command: String,
    /// The working directory.
    dir: PathBuf,
}

/// Starts `fleet ARGS...` in `dir` without waiting (stdout and stderr are
/// captured for [`FleetChild::finish`]).
pub fn spawn(bin: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> FleetChild {
    let mut cmd = command(bin, dir);
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("failed to spawn {bin}: {e}"));
    FleetChild {
        child: Some(child),
        command: format!("fleet {}", args.join(" ")),
        dir: dir.to_path_buf(),
    }
}

impl FleetChild {
    /// The master's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends `sig` to the master.
    pub fn signal(&self, sig: Signal) {
        crate::signal::send(self.pid(), sig);
    }

    /// Waits for the process to end and returns what it printed.
    pub fn finish(mut self) -> FleetRun {
        let child = self.child.take().expect("the process was not waited for");
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("failed to wait for {}: {e}", self.command));
        FleetRun::from_output(std::mem::take(&mut self.command), &self.dir, out)
    }
}

impl Drop for FleetChild {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The arguments of a `fleet run`, so tests say what differs and not the
/// same `["run", "-i", INV, "-p", "2", "-t", "2", ...]` every time.
///
/// ```
/// use fleet_testkit::fleet::RunArgs;
/// let args = RunArgs::new("inv.yaml").layout(2, 4).command("show version").format("none");
/// assert_eq!(
///     args.build(),
///     ["run", "-i", "inv.yaml", "-p", "2", "-t", "4", "-c", "show version", "--format", "none"]
/// );
/// assert_eq!(RunArgs::resume("runs/r1").build(), ["run", "--resume", "runs/r1"]);
/// assert_eq!(RunArgs::new("i").layout("auto", "auto").build()[3..], ["-p", "auto", "-t", "auto"]);
/// ```
#[derive(Debug, Clone)]
pub struct RunArgs(Vec<String>);

impl RunArgs {
    /// `run -i INVENTORY`.
    pub fn new(inventory: impl AsRef<Path>) -> RunArgs {
        let inv = inventory.as_ref().to_string_lossy().into_owned();
        RunArgs(vec!["run".into(), "-i".into(), inv])
    }

    /// `run --resume RUN_DIR`: the inventory and flags come from the run.
    pub fn resume(run_dir: impl AsRef<Path>) -> RunArgs {
        let rd = run_dir.as_ref().to_string_lossy().into_owned();
        RunArgs(vec!["run".into(), "--resume".into(), rd])
    }

    /// `run -w TARGETS`: ad-hoc targets instead of an inventory.
    pub fn targets(targets: &str) -> RunArgs {
        RunArgs(vec!["run".into(), "-w".into(), targets.into()])
    }

    /// Bare `run`, for tests of what happens without an inventory.
    pub fn bare() -> RunArgs {
        RunArgs(vec!["run".into()])
    }

    /// `-p PROCESSES -t THREADS` (numbers, or `auto`).
    pub fn layout(self, processes: impl Display, threads: impl Display) -> RunArgs {
        self.processes(processes).threads(threads)
    }

    /// `-p PROCESSES` alone.
    pub fn processes(self, processes: impl Display) -> RunArgs {
        self.arg("-p").arg(processes.to_string())
    }

    /// `-t THREADS` alone.
    pub fn threads(self, threads: impl Display) -> RunArgs {
        self.arg("-t").arg(threads.to_string())
    }

    /// `-c COMMAND` (repeat for several commands).
    pub fn command(self, command: &str) -> RunArgs {
        self.arg("-c").arg(command)
    }

    /// `-c C1 -c C2 ...`, in order.
    pub fn commands<'a>(self, commands: impl IntoIterator<Item = &'a str>) -> RunArgs {
        commands.into_iter().fold(self, RunArgs::command)
    }

    /// `--format FORMAT` (`none` when the test reads results.jsonl only).
    pub fn format(self, format: &str) -> RunArgs {
        self.arg("--format").arg(format)
    }

    /// `--out DIR`: where the run directory goes (default `runs`).
    pub fn out(self, dir: impl AsRef<Path>) -> RunArgs {
        self.arg("--out")
            .arg(dir.as_ref().to_string_lossy().into_owned())
    }

    /// `--progress WHEN` (`never`, `always`).
    pub fn progress(self, when: &str) -> RunArgs {
        self.arg("--progress").arg(when)
    }

    /// `--transport TRANSPORT` (`noop` runs no session at all).
    pub fn transport(self, transport: &str) -> RunArgs {
        self.arg("--transport").arg(transport)
    }

    /// `--config-line LINE` (repeat for several lines).
    pub fn config_line(self, line: &str) -> RunArgs {
        self.arg("--config-line").arg(line)
    }

    /// `--commit`: push the config lines (without it, a dry run).
    pub fn commit(self) -> RunArgs {
        self.arg("--commit")
    }

    /// Any other argument.
    pub fn arg(mut self, arg: impl Into<String>) -> RunArgs {
        self.0.push(arg.into());
        self
    }

    /// Several other arguments.
    pub fn args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> RunArgs {
        self.0.extend(args.into_iter().map(Into::into));
        self
    }

    /// The argument list, for [`run`] and [`spawn`].
    pub fn build(&self) -> Vec<&str> {
        self.0.iter().map(String::as_str).collect()
    }
}
