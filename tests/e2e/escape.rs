//! Device output is untrusted input: against lab devices whose banner,
//! outputs and error lines carry ESC, BEL, CR, C1 and DEL (the lab's
//! `escapes` fault), and an inventory name that does too, nothing a
//! terminal would obey reaches a terminal (stdout and stderr are
//! pseudo-terminals here), while results.jsonl, `--format jsonl` and
//! `--save-outputs` keep the exact text and `fleet logs` cannot be fooled
//! into a forged record.

use crate::common::*;
use crate::lab::{lab_devices, LabProc};
use fleet_lab::escapes::{self, FORGED_LOG_LINE, HOSTILE};
use fleet_lab::Flavour;
use fleet_testkit::fleet::results;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::Stdio;

/// What fleet wrote on its two terminals.
struct PtyRun {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    command: String,
}

impl PtyRun {
    fn explain(&self) -> String {
        format!(
            "{}\nexit {:?}\n--- stdout (pty)\n{}\n--- stderr (pty)\n{}",
            self.command,
            self.code,
            String::from_utf8_lossy(&self.stdout).escape_debug(),
            String::from_utf8_lossy(&self.stderr).escape_debug()
        )
    }
}

/// A pseudo-terminal in raw mode (no CR added before LF), so the master
/// side reads exactly the bytes fleet wrote.
fn raw_pty() -> (OwnedFd, OwnedFd) {
    use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
    // A known size: the bar is drawn (and padded) to the terminal's width,
    // and `screen` wraps at the same width.
    let size = nix::pty::Winsize {
        ws_row: 50,
        ws_col: PTY_COLS as u16,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&size), None).expect("openpty");
    let mut t = tcgetattr(&pty.slave).expect("tcgetattr");
    cfmakeraw(&mut t);
    tcsetattr(&pty.slave, SetArg::TCSANOW, &t).expect("tcsetattr");
    (pty.master, pty.slave)
}

/// Width of the test terminals: wider than any result line here, so a
/// result line takes one screen row.
const PTY_COLS: usize = 1000;

/// Reads the master side until every writer closed the slave (EIO).
fn drain(master: OwnedFd) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut f = std::fs::File::from(master);
        let mut all = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        loop {
            match f.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
        all
    })
}

/// Runs fleet with stdout and stderr on two pseudo-terminals (the way
/// the `--ask-pass` test plays a user, without python).
fn on_pty(dir: &Path, args: &[&str]) -> PtyRun {
    let (out_master, out_slave) = raw_pty();
    let (err_master, err_slave) = raw_pty();
    let mut cmd = fleet_testkit::fleet::command(BIN, dir);
    cmd.args(args)
        .stdout(Stdio::from(out_slave))
        .stderr(Stdio::from(err_slave));
    let mut child = cmd.spawn().expect("spawn fleet on a pty");
    // The parent's copies of the slaves must close, or the reads never end.
    drop(cmd);
    let (out, err) = (drain(out_master), drain(err_master));
    let status = child.wait().expect("wait for fleet");
    PtyRun {
        code: status.code(),
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
        command: format!("fleet {}", args.join(" ")),
    }
}

/// Terminal controls that reached a terminal: ESC, BEL, C1 (as UTF-8 or
/// as a raw byte, which then is not UTF-8), DEL, and CR other than in CRLF.
fn terminal_controls(bytes: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            found.push(format!("invalid UTF-8 at byte {}", e.valid_up_to()));
            return found;
        }
    };
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let bad = match c {
            '\x1b' | '\x07' | '\x7f' | '\u{80}'..='\u{9f}' => true,
            '\r' => chars.peek().map(|&(_, n)| n) != Some('\n'),
            _ => false,
        };
        if bad {
            let before: String = text[..i].chars().rev().take(30).collect();
            let before: String = before.chars().rev().collect();
            found.push(format!("{c:?} after {before:?}"));
        }
    }
    found
}

/// What the terminals must never see, checked on a run's two streams.
/// Stderr carries the progress bar (indicatif's own cursor sequences), so
/// there the check is for what devices sent: BEL, C1, the OSC title, the
/// screen clear and the colour.
fn assert_terminal_safe(run: &PtyRun) {
    let bad = terminal_controls(&run.stdout);
    assert!(bad.is_empty(), "stdout: {bad:?}\n{}", run.explain());
    let err = String::from_utf8_lossy(&run.stderr);
    for needle in ["\x07", "\x1b]", "\x1b[2J", "\x1b[31m", "\x7f"] {
        assert!(
            !err.contains(needle),
            "stderr has {needle:?}\n{}",
            run.explain()
        );
    }
    assert!(
        !err.chars().any(|c| ('\u{80}'..='\u{9f}').contains(&c)),
        "stderr has a C1 control\n{}",
        run.explain()
    );
}

/// HOSTILE as `fleet-escape` shows it.
const SHOWN: &str = "\\x1b]0;PWNED\\x07\\x1b[2J\\x1b[31mred\\x1b[0m\\rCR \\u{9b}31mC1\\u{9d}0;title\\u{9c} \\x7fDEL";

/// The name an inventory gives the `linux` device: an OSC title, a bell,
/// a C1 CSI and a line that would be a log record of its own.
const EVIL_NAME_YAML: &str =
    r#""lab-evil\e]0;NAME\a\x9b7m\n2026-01-01T00:00:01Z ERROR master 1 main - forged by a name""#;
const EVIL_NAME: &str =
    "lab-evil\x1b]0;NAME\x07\u{9b}7m\n2026-01-01T00:00:01Z ERROR master 1 main - forged by a name";

#[test]
fn device_escape_sequences_never_reach_the_terminal() {
    let dir = scratch();
    let scenario = dir.path().join("escapes.toml");
    std::fs::write(
        &scenario,
        "[[rule]]\nname = \"escapes\"\ndevices = [\"lab-*\"]\nescapes = true\n",
    )
    .unwrap();
    let lab = LabProc::start(
        BIN,
        dir.path(),
        &[
            "--devices",
            "2",
            "--flavours",
            "linux,cisco_ios",
            "--scenario",
            scenario.to_str().unwrap(),
        ],
    );
    let devices = lab_devices(&lab.inventory);
    let linux = devices
        .iter()
        .find(|d| d.1 == Flavour::Linux)
        .expect("a linux device")
        .0
        .clone();
    let ios = devices
        .iter()
        .find(|d| d.1 == Flavour::CiscoIos)
        .expect("an ios device")
        .0
        .clone();
    assert!(devices.iter().all(|d| d.2 == "escapes"), "{devices:?}");
    // The inventory renames the linux device: names are untrusted too.
    let text = std::fs::read_to_string(&lab.inventory).unwrap();
    let renamed = text.replace(
        &format!("name: \"{linux}\""),
        &format!("name: {EVIL_NAME_YAML}"),
    );
    assert_ne!(renamed, text, "the lab inventory names {linux} as expected");
    let inv = dir.path().join("evil.yaml");
    std::fs::write(&inv, renamed).unwrap();
    let inv = inv.to_str().unwrap();
    let saved = dir.path().join("saved");

    // 1. Table and --group-output on a terminal; debug logs so the master
    //    logs the name in a message.
    let args = RunArgs::new(inv)
        .layout(1, 2)
        .commands(["show version", "bogus"])
        .arg("--group-output")
        .arg("--save-outputs")
        .arg(saved.to_str().unwrap())
        .args(["--log-level", "debug"]);
    let first = on_pty(dir.path(), &args.build());
    assert_eq!(first.code, Some(1), "bogus fails\n{}", first.explain());
    assert_terminal_safe(&first);
    let out = String::from_utf8_lossy(&first.stdout);
    // The hostile text was printed, visibly: the check above is not vacuous.
    assert!(out.contains(SHOWN), "group-output\n{}", first.explain());
    assert!(
        out.contains("lab-evil\\x1b]0;NAME\\x07\\u{9b}7m\\n2026-01-01T00:00:01Z"),
        "table: the name on one line\n{}",
        first.explain()
    );
    // The ios shell's error line quotes the device: C1 and DEL survive the
    // screen model (it drops ESC sequences and BEL) and are shown escaped.
    let ios_row = out
        .lines()
        .find(|l| l.starts_with(&ios))
        .unwrap_or_else(|| panic!("table row of {ios}\n{}", first.explain()));
    assert!(
        ios_row.contains("command_failed") && ios_row.contains("\\u{9b}31mC1"),
        "{ios_row}"
    );

    // 2. results.jsonl holds the exact text.
    let run1 = fleet_testkit::fleet::newest_run_dir(&dir.path().join("runs")).unwrap();
    let res = by_device(&results(&run1));
    let l = &res[EVIL_NAME];
    let normal = fleet_lab::expected_output(&linux, Flavour::Linux, "show version").unwrap();
    assert_eq!(
        l["outputs"][0]["stdout"].as_str().unwrap(),
        escapes::expected_exec_stdout(&normal),
        "exact, except the raw 8-bit byte (not UTF-8, read as U+FFFD)"
    );
    assert_eq!(
        l["outputs"][1]["stderr"].as_str().unwrap(),
        format!("{}\n", escapes::error_line(Flavour::Linux, "bogus"))
    );
    let i = &res[&ios];
    let ios_out = i["outputs"][0]["stdout"].as_str().unwrap();
    assert!(
        ios_out.contains("\u{9b}31mC1\u{9d}0;title\u{9c} \x7fDEL"),
        "{ios_out:?}"
    );
    assert!(ios_out.contains(FORGED_LOG_LINE));
    let ios_err = i["error"].as_str().unwrap();
    assert!(
        ios_err.contains("\u{9b}31mC1") && ios_err.contains("% Invalid input"),
        "{ios_err:?}"
    );

    // 3. --save-outputs files are data: exact.
    let saved_dir = std::fs::read_dir(&saved)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("lab-evil")
        })
        .expect("saved outputs of the renamed device");
    assert_eq!(
        std::fs::read_to_string(saved_dir.join("show-version.txt")).unwrap(),
        escapes::expected_exec_stdout(&normal)
    );

    // 4. --diff on a terminal (another command: every device changed).
    let args = RunArgs::new(inv)
        .layout(1, 2)
        .command("show interfaces")
        .arg("--diff")
        .arg(run1.to_str().unwrap());
    let second = on_pty(dir.path(), &args.build());
    // `linux` has no `show interfaces`: its hostile error is an output.
    assert_eq!(second.code, Some(1), "{}", second.explain());
    assert_terminal_safe(&second);
    let out = String::from_utf8_lossy(&second.stdout);
    assert!(
        out.contains("changed: lab-evil\\x1b]0;NAME"),
        "{}",
        second.explain()
    );
    // (the diff splits lines at a lone CR too, so SHOWN comes in pieces)
    for piece in ["\\x1b]0;PWNED\\x07\\x1b[2J", "\\u{9b}31mC1\\u{9d}0;title"] {
        assert!(out.contains(piece), "{piece}\n{}", second.explain());
    }

    // 5. --format jsonl on a terminal: the same values, no raw controls.
    let third = on_pty(
        dir.path(),
        &RunArgs::new(inv)
            .layout(0, 2)
            .command("show version")
            .format("jsonl")
            .build(),
    );
    assert_eq!(third.code, Some(0), "{}", third.explain());
    assert_terminal_safe(&third);
    let out = String::from_utf8_lossy(&third.stdout);
    let rows: Vec<serde_json::Value> = out
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let rows = by_device(&rows);
    assert_eq!(
        rows[EVIL_NAME]["outputs"][0]["stdout"].as_str().unwrap(),
        escapes::expected_exec_stdout(&normal)
    );

    // 6. --raw-output: the user asked for the bytes.
    let raw = on_pty(
        dir.path(),
        &RunArgs::new(inv)
            .layout(0, 2)
            .command("show version")
            .format("none")
            .args(["--group-output", "--raw-output"])
            .progress("never")
            .build(),
    );
    assert_eq!(raw.code, Some(0), "{}", raw.explain());
    assert!(
        String::from_utf8_lossy(&raw.stdout).contains(HOSTILE),
        "{}",
        raw.explain()
    );

    // 7. `fleet logs` and --explain on a terminal.
    let logs = on_pty(dir.path(), &["logs", run1.to_str().unwrap()]);
    assert_eq!(logs.code, Some(0), "{}", logs.explain());
    assert_terminal_safe(&logs);
    let text = String::from_utf8_lossy(&logs.stdout);
    assert!(text.contains("lab-evil\\x1b]0;NAME"), "{}", logs.explain());
    for device in [ios.as_str(), EVIL_NAME] {
        let story = on_pty(
            dir.path(),
            &[
                "logs",
                run1.to_str().unwrap(),
                "--device",
                device,
                "--explain",
            ],
        );
        assert_eq!(story.code, Some(0), "{}", story.explain());
        assert_terminal_safe(&story);
        assert!(
            String::from_utf8_lossy(&story.stdout).contains("command_failed"),
            "{}",
            story.explain()
        );
    }

    // 8. Neither a device output nor a name forges a log record.
    let json = fleet(dir.path(), &["logs", run1.to_str().unwrap(), "--json"], &[]);
    json.assert_code(0);
    let records: Vec<serde_json::Value> = json
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON record"))
        .collect();
    assert!(records.len() > 5, "{}", json.stdout);
    for r in &records {
        let ts = r["ts"].as_str().unwrap();
        assert!(!ts.starts_with("2026-01-01T00:00:0"), "forged record: {r}");
    }
    // The name was logged inside genuine records, escaped onto one line.
    assert!(
        records.iter().any(|r| r["device"].as_str().is_some_and(
            |d| d.contains("\\n2026-01-01T00:00:01Z_ERROR_master_1_main_-_forged_by_a_name")
        )),
        "{}",
        json.stdout
    );
    // Its lines are filed under the name as the log writes it, and
    // --device finds them by the real name.
    let by_name = fleet(
        dir.path(),
        &[
            "logs",
            run1.to_str().unwrap(),
            "--device",
            EVIL_NAME,
            "--json",
        ],
        &[],
    );
    by_name.assert_code(0);
    assert!(by_name.stdout.lines().count() >= 2, "{}", by_name.explain());
    drop(lab);
}

/// Runs fleet with stdout and stderr on one pseudo-terminal, as in a
/// user's shell; returns the exit code and the bytes the terminal got.
fn on_one_pty(dir: &Path, args: &[&str]) -> (Option<i32>, Vec<u8>) {
    let (master, slave) = raw_pty();
    let mut cmd = fleet_testkit::fleet::command(BIN, dir);
    cmd.args(args)
        .stdout(Stdio::from(slave.try_clone().expect("dup the pty")))
        .stderr(Stdio::from(slave));
    let mut child = cmd.spawn().expect("spawn fleet on a pty");
    drop(cmd);
    let out = drain(master);
    let status = child.wait().expect("wait for fleet");
    (status.code(), out.join().expect("pty reader"))
}

/// The lines a terminal shows after `bytes` (LF as CRLF, as a cooked
/// terminal does): CR, cursor up/down/column and line clears are obeyed,
/// other sequences ignored; text wraps at `PTY_COLS` (the wrap happens
/// when a character is written past the last column, as in xterm).
/// Enough for indicatif's redraws, which count wrapped rows.
fn screen(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines: Vec<Vec<char>> = vec![Vec::new()];
    let (mut row, mut col) = (0usize, 0usize);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => col = 0,
            '\n' => {
                row += 1;
                col = 0;
                if lines.len() <= row {
                    lines.push(Vec::new());
                }
            }
            '\x1b' if chars.peek() == Some(&'[') => {
                chars.next();
                let mut arg = String::new();
                let mut fin = ' ';
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() || c == '~' {
                        fin = c;
                        break;
                    }
                    arg.push(c);
                }
                let n: usize = arg.trim_start_matches('?').parse().unwrap_or(1);
                match fin {
                    'A' => row = row.saturating_sub(n),
                    'B' => {
                        row += n;
                        while lines.len() <= row {
                            lines.push(Vec::new());
                        }
                    }
                    'G' => col = n.saturating_sub(1).min(PTY_COLS - 1),
                    'K' => match arg.as_str() {
                        "2" => lines[row].clear(),
                        "1" => (0..col.min(lines[row].len())).for_each(|i| lines[row][i] = ' '),
                        _ => lines[row].truncate(col),
                    },
                    'J' => lines.truncate(row + 1),
                    _ => {}
                }
            }
            c if c.is_control() => {}
            c => {
                if col >= PTY_COLS {
                    row += 1;
                    col = 0;
                    while lines.len() <= row {
                        lines.push(Vec::new());
                    }
                }
                let line = &mut lines[row];
                while line.len() < col {
                    line.push(' ');
                }
                if col < line.len() {
                    line[col] = c;
                } else {
                    line.push(c);
                }
                col += 1;
            }
        }
    }
    lines
        .into_iter()
        .map(|l| l.into_iter().collect::<String>().trim_end().to_string())
        .collect()
}

/// `--format jsonl` on the terminal that shows the progress bar: each
/// result is a line of its own on the screen, never glued to the bar.
#[test]
fn jsonl_lines_never_share_a_line_with_the_bar() {
    let dir = scratch();
    let lab = LabProc::start(
        BIN,
        dir.path(),
        &[
            "--devices",
            "12",
            "--flavours",
            "linux",
            "--latency",
            "300ms",
        ],
    );
    let args = lab
        .run_args()
        .layout(1, 2)
        .command("uname -a")
        .format("jsonl")
        .progress("always");
    let (code, bytes) = on_one_pty(dir.path(), &args.build());
    let lines = screen(&bytes);
    let shown = || format!("{}", String::from_utf8_lossy(&bytes).escape_debug());
    assert_eq!(code, Some(0), "{}", shown());
    assert!(
        bytes.windows(2).any(|w| w == b"\x1b["),
        "a bar was drawn: {}",
        shown()
    );
    let json: Vec<&String> = lines.iter().filter(|l| l.contains("\"device\"")).collect();
    assert_eq!(json.len(), 12, "{lines:#?}\n{}", shown());
    for l in json {
        assert!(
            serde_json::from_str::<serde_json::Value>(l).is_ok(),
            "a result line shares its screen line: {l:?}\n{lines:#?}"
        );
    }
}
