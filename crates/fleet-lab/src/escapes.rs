//! The `escapes` fault: a device whose banner, outputs and error lines
//! carry terminal control sequences, so tests can check that none of them
//! reaches the user's terminal while the results keep them exactly.
//!
//! A device with `escapes = true` in its scenario rule:
//!
//! - sends [`banner`] as its SSH authentication banner and before the
//!   first prompt of a shell (or telnet) session;
//! - appends [`HOSTILE`] and [`FORGED_LOG_LINE`] to the output of every
//!   command it knows ([`output`]), and on the exec channel also
//!   [`RAW_8BIT`], a raw 8-bit CSI that is not UTF-8 ([`exec_stdout`]);
//! - puts [`HOSTILE`] on the line of its error for unknown commands
//!   ([`error_line`]), so the platform's error marker still matches.
//!
//! The expected texts are public so a test can compute exactly what the
//! device sent ([`expected_exec_stdout`]).

use crate::flavour::Flavour;
use crate::outputs::{unknown_command_error, CommandResult};

/// What a hostile device puts in its text: an OSC window title ended by
/// BEL, a screen clear, a colour, a lone carriage return, the C1 controls
/// CSI, OSC and ST (as UTF-8 characters), and DEL.
pub const HOSTILE: &str =
    "\x1b]0;PWNED\x07\x1b[2J\x1b[31mred\x1b[0m\rCR \u{9b}31mC1\u{9d}0;title\u{9c} \x7fDEL";

/// A line that `fleet logs` would take for a record of its own if it
/// reached a log file unescaped after a newline.
pub const FORGED_LOG_LINE: &str = "2026-01-01T00:00:00Z ERROR master 1 main - forged by a device";

/// A raw 8-bit CSI (0x9b) and text: invalid UTF-8, which fleet's capture
/// decodes lossily (U+FFFD).
pub const RAW_8BIT: &[u8] = b"\x9b2Jraw 8-bit CSI\n";

/// The banner line (SSH authentication banner, shell greeting).
pub fn banner() -> String {
    format!("banner {HOSTILE}\r\n")
}

/// A known command's output followed by the hostile lines.
pub fn output(normal: &str) -> String {
    format!("{normal}{HOSTILE}\n{FORGED_LOG_LINE}\n")
}

/// The flavour's error line for `command` with the hostile text on it,
/// first: a client that models a screen sees the lone CR move the cursor
/// back and the error text overwrite the start, so the error marker
/// survives.
pub fn error_line(flavour: Flavour, command: &str) -> String {
    format!("{HOSTILE} {}", unknown_command_error(flavour, command))
}

/// A command's result as the device sends it: known commands get
/// [`output`], unknown ones the hostile [`error_line`] (on the stream and
/// with the status the flavour uses).
pub fn command(result: CommandResult, flavour: Flavour, command: &str) -> CommandResult {
    if result.exit_status == 0 {
        return CommandResult {
            stdout: output(&result.stdout),
            ..result
        };
    }
    let plain = unknown_command_error(flavour, command);
    let hostile = error_line(flavour, command);
    CommandResult {
        stdout: result.stdout.replace(&plain, &hostile),
        stderr: result.stderr.replace(&plain, &hostile),
        exit_status: result.exit_status,
    }
}

/// Exec stdout bytes: [`command`]'s stdout, then [`RAW_8BIT`] when the
/// command succeeded.
pub fn exec_stdout(result: &CommandResult) -> Vec<u8> {
    let mut bytes = result.stdout.clone().into_bytes();
    if result.exit_status == 0 {
        bytes.extend_from_slice(RAW_8BIT);
    }
    bytes
}

/// The stdout fleet records for a known command on the exec channel of a
/// device with `escapes`: exact, except the raw 8-bit byte, which is not
/// UTF-8 and reads as U+FFFD.
pub fn expected_exec_stdout(normal: &str) -> String {
    format!("{}{}", output(normal), String::from_utf8_lossy(RAW_8BIT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_commands_gain_hostile_lines_and_errors_keep_their_marker() {
        let ok = CommandResult {
            stdout: "v1\n".into(),
            stderr: String::new(),
            exit_status: 0,
        };
        let r = command(ok, Flavour::Linux, "uname");
        assert_eq!(r.stdout, format!("v1\n{HOSTILE}\n{FORGED_LOG_LINE}\n"));
        let mut bytes = exec_stdout(&r);
        assert!(bytes.ends_with(RAW_8BIT));
        bytes.truncate(bytes.len() - RAW_8BIT.len());
        assert_eq!(bytes, r.stdout.as_bytes());
        assert_eq!(
            expected_exec_stdout("v1\n"),
            format!("v1\n{HOSTILE}\n{FORGED_LOG_LINE}\n\u{fffd}2Jraw 8-bit CSI\n")
        );

        let err = CommandResult {
            stdout: format!("{}\n", unknown_command_error(Flavour::CiscoIos, "bogus")),
            stderr: String::new(),
            exit_status: 1,
        };
        let r = command(err, Flavour::CiscoIos, "bogus");
        assert!(r.stdout.starts_with(HOSTILE));
        assert!(r.stdout.contains("% Invalid input detected"));
        assert_eq!(r.stdout.lines().count(), 1);
        assert_eq!(exec_stdout(&r), r.stdout.as_bytes());
    }

    #[test]
    fn the_payload_holds_every_kind_of_control() {
        for needle in ["\x1b]", "\x07", "\x1b[2J", "\r", "\u{9b}", "\u{9d}", "\x7f"] {
            assert!(HOSTILE.contains(needle), "{needle:?}");
        }
        assert!(!HOSTILE.contains('\n'));
        assert_eq!(RAW_8BIT[0], 0x9b, "8-bit CSI, not UTF-8");
    }
}
