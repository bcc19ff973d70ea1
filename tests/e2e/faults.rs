//! Nothing lost, nothing leaked: crashes, signals, resume, secrets, host keys.

use crate::common::*;
use fleet_testkit::fleet::{alive, children_of, newest_run_dir, results, wait_for, FleetRun};
use fleet_testkit::signal::{self, Signal};
use fleet_testkit::sshd::{Sshd, SshdOptions};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

fn result_lines(out: &Path) -> usize {
    newest_run_dir(out)
        .and_then(|d| std::fs::read_to_string(d.join("results.jsonl")).ok())
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

fn slow_inventory(dir: &Path, sshd: &Sshd, n: usize, cmd: &str) -> std::path::PathBuf {
    let devices: Vec<Dev> = (0..n)
        .map(|i| Dev::new(format!("d{i:03}"), sshd.port()))
        .collect();
    inventory(dir, sshd, &format!("  commands: [\"{cmd}\"]\n"), &devices)
}

/// Whether a worker of the newest run under `out` has started a session.
fn sessions_started(out: &Path) -> bool {
    newest_run_dir(out).is_some_and(|d| {
        (0..4).any(|i| {
            std::fs::read_to_string(d.join(format!("worker-{i}.log")))
                .is_ok_and(|l| l.contains("session_start:"))
        })
    })
}

fn counts_by_device(res: &[serde_json::Value]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in res {
        *m.entry(r["device"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    m
}

#[test]
fn sigkilled_workers_lose_no_device() {
    let sshd = Sshd::start().unwrap();
    let dir = scratch();
    let inv = slow_inventory(dir.path(), &sshd, 48, "sleep 0.3; echo done");
    let child = spawn_fleet(
        dir.path(),
        &RunArgs::new(inv.to_str().unwrap())
            .layout(3, 2)
            .args([
                "--retries",
                "5",
                "--max-worker-restarts",
                "10",
                "--format",
                "none",
            ])
            .build(),
        &[],
    );
    let master = child.pid();
    let out = dir.path().join("runs");
    let mut killed = BTreeSet::new();
    // Kill a worker at three different moments of the run.
    for threshold in [3usize, 15, 30] {
        assert!(
            wait_for(Duration::from_secs(60), || result_lines(&out) >= threshold),
            "run did not progress to {threshold} results"
        );
        let workers = children_of(master);
        let pid = workers
            .iter()
            .copied()
            .find(|p| !killed.contains(p))
            .unwrap_or_else(|| {
                panic!("no live worker to kill at {threshold} results: {workers:?}")
            });
        signal::send(pid, Signal::SIGKILL);
        killed.insert(pid);
    }
    assert_eq!(killed.len(), 3);
    let run = child.finish();
    assert!(matches!(run.code, Some(0) | Some(1)), "{}", run.explain());
    let rd = run.run_dir("runs");
    let res = results(&rd);
    let per = counts_by_device(&res);
    assert_eq!(
        per.len(),
        48,
        "every device must have a result\n{}",
        run.explain()
    );
    assert!(
        per.values().all(|&n| n == 1),
        "each device exactly once: {per:?}"
    );
    for r in &res {
        assert!(
            matches!(status(r), "ok" | "worker_lost"),
            "unexpected status {r}"
        );
    }
    let master_log = std::fs::read_to_string(rd.join("master.log")).unwrap();
    assert!(
        master_log.contains("worker_crashed"),
        "master.log must record the crashes"
    );
    assert!(master_log.contains("signal 9"), "exit signal recorded");
    let workers: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(rd.join("workers.json")).unwrap()).unwrap();
    let crashed = workers
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["crashed"] == true)
        .count();
    assert!(
        crashed >= killed.len(),
        "each of the {} killed workers is a crash in workers.json: {workers}",
        killed.len()
    );
}

#[test]
fn workers_die_with_a_sigkilled_master() {
    let sshd = Sshd::start().unwrap();
    let dir = scratch();
    let inv = slow_inventory(dir.path(), &sshd, 8, "sleep 20");
    let child = spawn_fleet(
        dir.path(),
        &RunArgs::new(inv.to_str().unwrap())
            .layout(2, 2)
            .args(["--format", "none"])
            .build(),
        &[],
    );
    let master = child.pid();
    assert!(wait_for(Duration::from_secs(20), || children_of(master)
        .len()
        == 2));
    let workers = children_of(master);
    // Let sessions start, so workers are busy inside ssh2 calls.
    let out = dir.path().join("runs");
    assert!(wait_for(Duration::from_secs(30), || sessions_started(&out)));
    signal::send(master, Signal::SIGKILL);
    let _ = child.finish();
    assert!(
        wait_for(Duration::from_secs(10), || workers
            .iter()
            .all(|&p| !alive(p))),
        "workers {workers:?} outlived their master"
    );
}

#[test]
fn ctrl_c_cancels_the_rest_and_resume_finishes_it() {
    let sshd = Sshd::start().unwrap();
    let dir = scratch();
    let inv = slow_inventory(dir.path(), &sshd, 30, "sleep 0.4; echo done");
    let child = spawn_fleet(
        dir.path(),
        &RunArgs::new(inv.to_str().unwrap())
            .layout(2, 2)
            // stderr is a pipe here: plain progress lines, and the notes.
            .args(["--grace", "20s", "--format", "none", "--progress", "always"])
            .build(),
        &[],
    );
    let out = dir.path().join("runs");
    assert!(wait_for(Duration::from_secs(60), || result_lines(&out) >= 4));
    signal::send(child.pid(), Signal::SIGINT);
    let run = child.finish();
    run.assert_code(130);
    assert!(run.stderr.contains("interrupted"), "{}", run.explain());
    // The notes are never lost, bar or no bar.
    assert!(
        run.stderr.contains("fleet: run "),
        "start header: {}",
        run.explain()
    );
    assert!(run.stderr.contains("Ctrl-C again"), "{}", run.explain());
    assert!(
        run.stderr.contains("fleet: progress 30/30"),
        "{}",
        run.explain()
    );
    let rd = run.run_dir("runs");
    let res = results(&rd);
    let per = counts_by_device(&res);
    assert_eq!(
        per.len(),
        30,
        "all devices present after Ctrl-C\n{}",
        run.explain()
    );
    assert!(per.values().all(|&n| n == 1));
    let cancelled = res.iter().filter(|r| status(r) == "cancelled").count();
    let ok = res.iter().filter(|r| status(r) == "ok").count();
    assert!(cancelled > 0, "some devices should not have run");
    assert_eq!(
        ok + cancelled,
        30,
        "in-flight sessions finish within the grace period"
    );

    let rd_s = rd.to_str().unwrap().to_string();
    let resumed = fleet(
        dir.path(),
        &RunArgs::resume(&rd_s).format("none").build(),
        &[],
    );
    resumed.assert_code(0);
    assert!(
        resumed
            .stderr
            .contains(&format!("{cancelled} devices left")),
        "{}",
        resumed.explain()
    );
    let all = results(&rd);
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    for r in &all {
        last.insert(r["device"].as_str().unwrap().into(), status(r).into());
    }
    assert_eq!(last.len(), 30);
    assert!(last.values().all(|s| s == "ok"), "after resume: {last:?}");
    // Resume ran exactly the cancelled ones.
    assert_eq!(all.len(), 30 + cancelled);
}

#[test]
fn passwords_appear_nowhere() {
    let sshd = Sshd::start().unwrap();
    let dir = scratch();
    const BAD: &str = "S3cret-Bad-Pass-1723";
    let user = sshd.test_user().expect("the password test user");
    let good = user.password.as_str();
    let pw_file = dir.path().join("pw");
    std::fs::write(&pw_file, format!("{good}\n")).unwrap();
    std::fs::set_permissions(
        &pw_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let pw = format!(
        "    username: {}\n    key_file: {}\n",
        user.name,
        unknown_key(dir.path()).display()
    );
    let devices = vec![
        Dev::new("env-good", sshd.port()).with(&format!("{pw}    password_env: E2E_GOOD\n")),
        Dev::new("file-good", sshd.port())
            .with(&format!("{pw}    password_file: {}\n", pw_file.display())),
        Dev::new("bad", sshd.port()).with(&format!("{pw}    password_env: E2E_BAD\n")),
        Dev::new("slow", sshd.port()).with(&format!(
            "{pw}    password_env: E2E_GOOD\n    commands: [\"sleep 1.5\"]\n"
        )),
        Dev::new("boom", sshd.port()).with(&format!("{pw}    password_env: E2E_GOOD\n")),
    ];
    let inv = inventory(dir.path(), &sshd, "  commands: [\"echo hi\"]\n", &devices);
    let child = spawn_fleet(
        dir.path(),
        &RunArgs::new(inv.to_str().unwrap())
            .layout(2, 2)
            .args(["--log-level", "trace"])
            .build(),
        &[
            ("E2E_GOOD", good),
            ("E2E_BAD", BAD),
            ("RUST_LOG", "trace"),
            ("FLEET_TEST_PANIC_DEVICE", "boom"),
        ],
    );
    let master = child.pid();
    // While workers run, their argv and environment must not hold a secret.
    // (A child between fork and exec still shows the master's environment,
    // so wait until every child is the exec'ed worker.)
    let is_worker = |pid: &u32| {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains("__worker"))
    };
    assert!(wait_for(Duration::from_secs(20), || {
        let kids = children_of(master);
        kids.len() == 2 && kids.iter().all(is_worker)
    }));
    for pid in children_of(master) {
        for f in ["cmdline", "environ"] {
            let bytes = std::fs::read(format!("/proc/{pid}/{f}")).unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains(good) && !text.contains(BAD),
                "secret in worker {f}"
            );
        }
    }
    let run = child.finish();
    run.assert_code(1);
    assert!(!run.stdout.contains(good) && !run.stderr.contains(good));
    assert!(!run.stdout.contains(BAD) && !run.stderr.contains(BAD));
    let rd = run.run_dir("runs");
    let res = by_device(&results(&rd));
    assert_eq!(status(&res["env-good"]), "ok");
    assert_eq!(status(&res["file-good"]), "ok");
    assert_eq!(status(&res["bad"]), "auth_failed");
    assert_eq!(status(&res["boom"]), "worker_lost");
    let mut files = 0;
    for entry in std::fs::read_dir(&rd).unwrap() {
        let p = entry.unwrap().path();
        let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
        assert!(!text.contains(good), "password in {}", p.display());
        assert!(!text.contains(BAD), "password in {}", p.display());
        files += 1;
    }
    assert!(files >= 6, "run dir should hold logs, results, traces");
    let worker_logs: String = (0..2)
        .map(|i| std::fs::read_to_string(rd.join(format!("worker-{i}.log"))).unwrap_or_default())
        .collect();
    assert!(
        worker_logs.contains("panic"),
        "the injected panic is logged"
    );
    assert!(worker_logs.contains("TRACE") || worker_logs.contains("DEBUG"));
}

#[test]
fn host_keys_are_learned_then_enforced() {
    let dir = scratch();
    let first = Sshd::start().unwrap();
    let port = first.port();
    let devices = vec![Dev::new("h1", port)];
    let inv = inventory(dir.path(), &first, "  commands: [\"echo hi\"]\n", &devices);
    let run = fleet(dir.path(), &RunArgs::new(&inv).layout(1, 1).build(), &[]);
    run.assert_code(0);
    let known = std::fs::read_to_string(dir.path().join("known_hosts")).unwrap();
    assert!(
        known.contains(&format!("[127.0.0.1]:{port}")),
        "key stored: {known}"
    );

    // Same address, new host key: a man in the middle as far as fleet knows.
    drop(first);
    let second = Sshd::start_with(SshdOptions {
        port: Some(port),
        ..Default::default()
    })
    .unwrap();
    let inv = inventory(dir.path(), &second, "  commands: [\"echo hi\"]\n", &devices);
    let run = fleet(dir.path(), &RunArgs::new(&inv).layout(1, 1).build(), &[]);
    run.assert_code(1);
    let res = run.results("runs");
    let last = res.last().unwrap();
    assert_eq!(status(last), "host_key_mismatch", "{last}");
    assert!(
        last["outputs"].as_array().unwrap().is_empty(),
        "no command may run"
    );

    // Strict: an unknown host fails too.
    std::fs::remove_file(dir.path().join("known_hosts")).unwrap();
    let run = fleet(
        dir.path(),
        &RunArgs::new(inv.to_str().unwrap())
            .layout(1, 1)
            .args(["--host-key-check", "strict"])
            .build(),
        &[],
    );
    run.assert_code(1);
    let res = run.results("runs");
    assert_eq!(status(res.last().unwrap()), "host_key_mismatch");
}

#[test]
fn a_poison_device_is_isolated_and_its_neighbours_finish() {
    let sshd = Sshd::start().unwrap();
    let dir = scratch();
    // Sessions long enough that neighbours are still running when the
    // worker aborts (its panic hook first logs a backtrace, which takes a
    // second or two on a loaded machine).
    let inv = slow_inventory(dir.path(), &sshd, 24, "sleep 3; echo ok");
    let run = fleet(
        dir.path(),
        &RunArgs::new(inv.to_str().unwrap())
            .layout(2, 4)
            .args(["--max-worker-restarts", "6", "--format", "none"])
            .build(),
        &[("FLEET_TEST_PANIC_DEVICE", "d005")],
    );
    run.assert_code(1);
    let rd = run.run_dir("runs");
    let res = by_device(&results(&rd));
    assert_eq!(res.len(), 24);
    for (name, r) in &res {
        let want = if name == "d005" { "worker_lost" } else { "ok" };
        assert_eq!(status(r), want, "{name}: {r}");
    }
    let poison = &res["d005"];
    assert!(
        poison["error"].as_str().unwrap().contains("isolated"),
        "{poison}"
    );
    let log = std::fs::read_to_string(rd.join("master.log")).unwrap();
    assert!(
        log.contains("runs alone"),
        "co-running devices were re-run alone"
    );
}

#[test]
fn a_second_ctrl_c_stops_at_once_and_still_writes_every_result() {
    let sshd = Sshd::start().unwrap();
    let dir = scratch();
    let inv = slow_inventory(dir.path(), &sshd, 12, "sleep 30");
    let child = spawn_fleet(
        dir.path(),
        &RunArgs::new(inv.to_str().unwrap())
            .layout(2, 2)
            .args(["--grace", "60s", "--format", "none"])
            .build(),
        &[],
    );
    let master = child.pid();
    let out = dir.path().join("runs");
    // Wait until sessions are running inside the workers.
    assert!(wait_for(Duration::from_secs(30), || sessions_started(&out)));
    let workers = children_of(master);
    signal::send(master, Signal::SIGINT);
    std::thread::sleep(Duration::from_millis(300));
    signal::send(master, Signal::SIGINT);
    let started = std::time::Instant::now();
    let run = child.finish();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the second Ctrl-C must not wait for the grace period"
    );
    run.assert_code(130);
    let res = run.results("runs");
    let per = counts_by_device(&res);
    assert_eq!(per.len(), 12, "{}", run.explain());
    assert!(
        res.iter().all(|r| status(r) == "cancelled"),
        "sessions of 30 s cannot have finished"
    );
    assert!(wait_for(Duration::from_secs(10), || workers
        .iter()
        .all(|&p| !alive(p))));
}

/// `--ask-pass` reads the password from the terminal (a pty here), never
/// from argv or the environment of fleet.
#[test]
fn ask_pass_reads_the_password_from_the_terminal() {
    let sshd = Sshd::start().unwrap();
    let dir = scratch();
    let user = sshd.test_user().expect("the password test user");
    let pw = user.password.as_str();
    let inv = dir.path().join("inv.yaml");
    std::fs::write(
        &inv,
        format!(
            "known_hosts: known_hosts\ndefaults:\n  username: {}\n  commands: [\"echo prompted\"]\ndevices:\n  - {{name: a, host: 127.0.0.1, port: {}}}\n",
            user.name,
            sshd.port()
        ),
    )
    .unwrap();
    // Without a terminal: a clear usage error, nothing runs.
    let ask = RunArgs::new(&inv).arg("--ask-pass");
    let run = fleet(dir.path(), &ask.build(), &[]);
    assert_eq!(run.code, Some(2), "{}", run.explain());
    assert!(run.stderr.contains("terminal"), "{}", run.explain());
    // With a pty: python's pty module plays the user typing the password.
    let script = r#"
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
buf = b""
while b"password" not in buf.lower():
    chunk = os.read(fd, 1024)
    if not chunk:
        sys.exit(99)
    buf += chunk
os.write(fd, os.environ.pop("TYPED").encode() + b"\n")
while True:
    try:
        if not os.read(fd, 4096):
            break
    except OSError:
        break
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let out = std::process::Command::new("python3")
        .current_dir(dir.path())
        .args(["-c", script, BIN])
        .args(ask.layout(1, 1).build())
        .env("TYPED", pw)
        .output()
        .expect("python3 with pty");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let rd = fleet_testkit::fleet::newest_run_dir(&dir.path().join("runs")).unwrap();
    let res = results(&rd);
    assert_eq!(status(&res[0]), "ok", "{}", res[0]);
    assert_eq!(res[0]["outputs"][0]["stdout"], "prompted\n");
    for entry in std::fs::read_dir(&rd).unwrap() {
        let text =
            String::from_utf8_lossy(&std::fs::read(entry.unwrap().path()).unwrap()).into_owned();
        assert!(!text.contains(pw));
    }
}

/// Kills (and un-freezes) a process if the test ends before the master did.
struct Frozen(u32);

impl Drop for Frozen {
    fn drop(&mut self) {
        if alive(self.0) {
            signal::send(self.0, Signal::SIGCONT);
            signal::send(self.0, Signal::SIGKILL);
        }
    }
}

#[test]
fn a_frozen_worker_is_killed_and_replaced_and_its_devices_move_on() {
    let sshd = Sshd::start().unwrap();
    let dir = scratch();
    let inv = slow_inventory(dir.path(), &sshd, 16, "sleep 1; echo ok");
    let child = spawn_fleet(
        dir.path(),
        &RunArgs::new(inv.to_str().unwrap())
            .layout(2, 2)
            .args(["--format", "none"])
            .build(),
        &[],
    );
    let master = child.pid();
    let out = dir.path().join("runs");
    assert!(
        wait_for(Duration::from_secs(60), || sessions_started(&out)
            && children_of(master).len() == 2),
        "no session started"
    );
    // Freeze one worker mid-session; it never gets SIGCONT from us.
    let frozen = children_of(master)[0];
    signal::send(frozen, Signal::SIGSTOP);
    let _guard = Frozen(frozen);
    let run = child.finish();
    assert!(!alive(frozen), "the frozen worker was killed");
    assert_eq!(run.code, Some(1), "{}", run.explain());
    let rd = run.run_dir("runs");
    let res = by_device(&results(&rd));
    assert_eq!(
        res.len(),
        16,
        "every device has a result\n{}",
        run.explain()
    );
    let timed_out: Vec<&serde_json::Value> =
        res.values().filter(|r| status(r) == "timeout").collect();
    assert!(
        !timed_out.is_empty() && timed_out.len() <= 2,
        "the frozen worker's running sessions end timeout: {res:?}"
    );
    for r in &timed_out {
        assert!(r["error"].as_str().unwrap().contains("sent nothing"), "{r}");
    }
    assert_eq!(
        res.values().filter(|r| status(r) == "ok").count(),
        16 - timed_out.len(),
        "everything else (its queue included) ran elsewhere"
    );
    let log = std::fs::read_to_string(rd.join("master.log")).unwrap();
    assert!(log.contains("worker_silent"), "{log}");
}

/// Statuses per device of a run.
fn statuses(rd: &Path) -> BTreeMap<String, String> {
    by_device(&results(rd))
        .into_iter()
        .map(|(d, r)| (d, status(&r).to_string()))
        .collect()
}

#[test]
fn a_panic_is_a_crash_of_its_device_in_every_layout() {
    let sshd = Sshd::start().unwrap();
    let dir = scratch();
    let inv = slow_inventory(dir.path(), &sshd, 8, "echo ok");
    let mut seen = Vec::new();
    for (p, out) in [("0", "runs-p0"), ("2", "runs-p2")] {
        let run = fleet(
            dir.path(),
            &RunArgs::new(&inv)
                .layout(p, 2)
                .out(out)
                .format("none")
                .build(),
            &[("FLEET_TEST_PANIC_DEVICE", "d003")],
        );
        run.assert_code(1);
        let rd = run.run_dir(out);
        let st = statuses(&rd);
        assert_eq!(
            st["d003"],
            "worker_lost",
            "-p {p}: the panicking device is isolated (needs a build with \
             --features fleet/test-hooks, as `make test` does)\n{}",
            run.explain()
        );
        let r = &by_device(&results(&rd))["d003"];
        // Isolated after its second crash: one retry. A first crash beside
        // other sessions blames nobody yet (each of them gets a lone
        // attempt), so the attempt count is 2, or 3 when d003 happened to
        // share its worker the first time.
        let err = r["error"].as_str().unwrap();
        assert!(
            err.contains("2 time(s)") && err.contains("isolated"),
            "-p {p}: {r}"
        );
        let attempt = r["attempt"].as_u64().unwrap();
        assert!(
            (2..=3).contains(&attempt),
            "-p {p}: one retry, then isolated: {r}"
        );
        seen.push(st);
    }
    assert_eq!(
        seen[0], seen[1],
        "the same results with and without processes"
    );
}

#[test]
fn a_failed_results_write_stops_the_run_and_names_every_unrecorded_device() {
    use std::os::unix::process::CommandExt;
    const N: usize = 3000;
    let dir = scratch();
    let mut yaml = String::from(
        "defaults:\n  username: u\n  agent: true\n  commands: [\"show version\"]\ndevices:\n",
    );
    for i in 0..N {
        yaml.push_str(&format!(
            "  - {{name: n{i:05}, host: 127.0.0.1, port: 9}}\n"
        ));
    }
    let inv = dir.path().join("inv.yaml");
    std::fs::write(&inv, yaml).unwrap();
    let mut cmd = fleet_testkit::fleet::command(BIN, dir.path());
    cmd.args(
        RunArgs::new(&inv)
            .transport("noop")
            .layout(1, 2)
            .args(["--batch-size", "8"])
            .format("none")
            .build(),
    )
    .env("TMPDIR", dir.path())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    // Files may not grow past 48 KiB: results.jsonl fills up after a
    // hundred-odd lines, like a full disk (EFBIG instead of ENOSPC).
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            use nix::sys::resource::{setrlimit, Resource};
            use nix::sys::signal::{signal, SigHandler, Signal};
            signal(Signal::SIGXFSZ, SigHandler::SigIgn).map_err(std::io::Error::from)?;
            setrlimit(Resource::RLIMIT_FSIZE, 48 * 1024, 48 * 1024)
                .map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let out = cmd.output().expect("run fleet");
    let run = FleetRun::from_output("fleet run (results.jsonl full)".into(), dir.path(), out);
    assert_eq!(run.code, Some(4), "{}", run.explain());
    assert!(
        run.stderr.contains("no recorded result"),
        "{}",
        run.explain()
    );
    let rd = run.run_dir("runs");
    // The last line may be torn where the file stopped growing.
    let recorded: BTreeSet<String> = std::fs::read_to_string(rd.join("results.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|r| r["device"].as_str().unwrap().to_string())
        .collect();
    assert!(
        !recorded.is_empty() && recorded.len() < N / 2,
        "the run stopped early: {} recorded",
        recorded.len()
    );
    // Every device is accounted for: in results.jsonl, or named on stderr.
    let named: BTreeSet<String> = run
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("fleet:   "))
        .map(str::to_string)
        .collect();
    for i in 0..N {
        let name = format!("n{i:05}");
        assert!(
            recorded.contains(&name) || named.contains(&name),
            "{name} is neither recorded nor reported\n{}",
            run.explain()
        );
    }
}

/// The leak check for the other secrets: enable secrets, jump-host
/// passwords and telnet passwords (the lab uses one password for all
/// three), with trace logging on.
#[test]
fn enable_jump_and_telnet_secrets_appear_nowhere() {
    use crate::lab::LabProc;
    let dir = scratch();
    let scenario = dir.path().join("telnet.toml");
    std::fs::write(
        &scenario,
        "[[rule]]\nname = \"telnet\"\nshare = 100\ntelnet = true\n",
    )
    .unwrap();
    let telnet_dir = dir.path().join("telnet");
    let jump_dir = dir.path().join("jump");
    std::fs::create_dir_all(&telnet_dir).unwrap();
    std::fs::create_dir_all(&jump_dir).unwrap();
    let telnet = LabProc::start(
        BIN,
        &telnet_dir,
        &[
            "--devices",
            "2",
            "--flavours",
            "ios",
            "--scenario",
            scenario.to_str().unwrap(),
        ],
    );
    let jump = LabProc::start(
        BIN,
        &jump_dir,
        &["--devices", "2", "--flavours", "ios", "--jump-host"],
    );
    let text = std::fs::read_to_string(&jump.inventory).unwrap();
    let hop = jump.jump_host();
    let via_jump = jump_dir.join("via-jump.yaml");
    std::fs::write(
        &via_jump,
        text.replacen(
            "defaults:\n",
            &format!("defaults:\n  jump_host: {hop}\n"),
            1,
        ),
    )
    .unwrap();
    for (lab, inv) in [(&telnet, telnet.inventory.clone()), (&jump, via_jump)] {
        let password = std::fs::read_to_string(lab.state.join("password")).unwrap();
        let password = password.trim();
        assert!(password.len() >= 8, "a password worth looking for");
        let run = fleet(
            dir.path(),
            &RunArgs::new(&inv)
                .layout(1, 2)
                .command("show version")
                .args(["--log-level", "trace"])
                .format("json")
                .build(),
            &[("RUST_LOG", "trace")],
        );
        run.assert_code(0);
        assert!(!run.stdout.contains(password) && !run.stderr.contains(password));
        let rd = run.run_dir("runs");
        let res = results(&rd);
        assert_eq!(res.len(), 2, "{}", run.explain());
        let mut files = 0;
        for entry in std::fs::read_dir(&rd).unwrap() {
            let p = entry.unwrap().path();
            let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
            assert!(!text.contains(password), "lab password in {}", p.display());
            files += 1;
        }
        assert!(files >= 6, "run dir should hold logs, results, traces");
    }
}
