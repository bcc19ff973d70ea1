//! Lifecycle events: the named moments of a run, written into log lines as
//! structured fields and read back as data.
//!
//! A lifecycle line's message is the event's [`Kind`], a colon, then
//! `key=value` fields:
//!
//! ```text
//! 2026-11-22T00:10:00.123456Z INFO  master 4100 main lab-ios-0042 dispatch: attempt=1 batch=7 worker=3
//! 2026-11-22T00:10:00.140112Z INFO  w3 4107 w3-t17 lab-ios-0042 session_start: attempt=1 batch=7
//! 2026-11-22T00:10:02.501003Z INFO  master 4100 main lab-ios-0042 result: attempt=1 ms=2360.9 status=timeout error="command `show run` timed out after 2 s" …
//! ```
//!
//! The device is the log line's own device field, never repeated in the
//! message. A value is a JSON number, `true`/`false`, a bare word
//! (letters, digits and `_ - . / : @`), or a JSON string in double quotes
//! when it holds anything else. Fields are written in key order; readers
//! find them by name. [`Lifecycle::to_string`] writes a message,
//! [`Lifecycle::parse`] reads one back; `fleet logs --explain` and
//! `fleet bench` read the logs this way, never by matching text.
//!
//! ```
//! use fleet_proto::event::Lifecycle;
//! let ev = Lifecycle::Dispatch { batch: 7, worker: 3, attempt: 1 };
//! let msg = ev.to_string();
//! assert_eq!(msg, "dispatch: attempt=1 batch=7 worker=3");
//! assert_eq!(Lifecycle::parse(&msg).unwrap().unwrap(), ev);
//! ```

use crate::result::Status;

/// The log target of routine per-device lines (dispatch, session start and
/// end, auth ok, result): `fleet run --device-logs off` keeps them out of
/// the logs (they stay at `--log-level debug`), so a million-device run
/// does not write three lines per device. Warnings and errors about a
/// device use their module's target and are always logged.
pub const DEVICE_LOG_TARGET: &str = "fleet::device";
use crate::rundir::TracePhase;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A named moment of a run, with its fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case", deny_unknown_fields)]
pub enum Lifecycle {
    /// The master put the device in a batch for a worker (one line per
    /// device, on the master).
    Dispatch {
        /// Batch id, unique in the run.
        batch: u64,
        /// Worker slot.
        worker: u32,
        /// 1 for the first try.
        attempt: u32,
    },
    /// A worker thread started the device's session (on the worker).
    SessionStart {
        /// 1 for the first try.
        attempt: u32,
        /// Batch that carried the device to this worker.
        batch: u64,
    },
    /// A phase of the session ended (on the worker).
    Phase {
        /// Which one.
        phase: TracePhase,
        /// How long it took, ms.
        ms: f64,
    },
    /// The worker finished the session (on the worker).
    SessionEnd {
        /// Outcome class.
        status: Status,
        /// Whole session, ms.
        ms: f64,
        /// Cause when not `ok`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The master wrote the device's line in `results.jsonl` (its final
    /// word, unless a `--retry` follows).
    Result {
        /// Outcome class.
        status: Status,
        /// Attempt that produced it.
        attempt: u32,
        /// Worker slot that ran it, if any did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        worker: Option<u32>,
        /// Worker pid.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pid: Option<u32>,
        /// Session thread.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thread: Option<String>,
        /// Session duration, ms.
        ms: f64,
        /// Cause when not `ok`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The device goes back to the queue for another attempt: its worker
    /// died under it, or `--retry` applies.
    Requeue {
        /// The attempt that comes next.
        attempt: u32,
        /// Why.
        reason: String,
    },
    /// The master started a worker process.
    WorkerSpawn {
        /// Slot.
        worker: u32,
        /// Incarnation of the slot.
        generation: u32,
        /// OS pid.
        pid: u32,
    },
    /// A worker connected and said hello over IPC.
    WorkerHello {
        /// Slot.
        worker: u32,
        /// OS pid.
        pid: u32,
        /// IPC protocol version it speaks.
        protocol: u32,
    },
    /// A worker process ended.
    WorkerExit {
        /// Slot.
        worker: u32,
        /// Incarnation of the slot.
        generation: u32,
        /// OS pid.
        pid: u32,
        /// `exit 0`, `signal 9 (SIGKILL)`, ...
        exit: String,
        /// Whether the master counts it as a crash (no clean bye).
        crashed: bool,
    },
    /// The set of workers changed: a crashed worker's replacement starts
    /// (a slot that reached `--max-worker-restarts` is not replaced; that
    /// is an error line of its own).
    LayoutChange {
        /// Worker processes the run keeps (`-p`).
        processes: usize,
        /// Session threads each.
        threads: usize,
        /// Why.
        reason: String,
    },
}

/// The name of a [`Lifecycle`] event, the word before the colon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// [`Lifecycle::Dispatch`].
    Dispatch,
    /// [`Lifecycle::SessionStart`].
    SessionStart,
    /// [`Lifecycle::Phase`].
    Phase,
    /// [`Lifecycle::SessionEnd`].
    SessionEnd,
    /// [`Lifecycle::Result`].
    Result,
    /// [`Lifecycle::Requeue`].
    Requeue,
    /// [`Lifecycle::WorkerSpawn`].
    WorkerSpawn,
    /// [`Lifecycle::WorkerHello`].
    WorkerHello,
    /// [`Lifecycle::WorkerExit`].
    WorkerExit,
    /// [`Lifecycle::LayoutChange`].
    LayoutChange,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 10] = [
        Kind::Dispatch,
        Kind::SessionStart,
        Kind::Phase,
        Kind::SessionEnd,
        Kind::Result,
        Kind::Requeue,
        Kind::WorkerSpawn,
        Kind::WorkerHello,
        Kind::WorkerExit,
        Kind::LayoutChange,
    ];

    /// The snake_case name in log lines and traces.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Dispatch => "dispatch",
            Kind::SessionStart => "session_start",
            Kind::Phase => "phase",
            Kind::SessionEnd => "session_end",
            Kind::Result => "result",
            Kind::Requeue => "requeue",
            Kind::WorkerSpawn => "worker_spawn",
            Kind::WorkerHello => "worker_hello",
            Kind::WorkerExit => "worker_exit",
            Kind::LayoutChange => "layout_change",
        }
    }

    /// The kind named `s`, if any.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message that names a lifecycle event but whose fields do not fit it.
#[derive(Debug, thiserror::Error)]
#[error("failed to parse the {kind} event `{message}`")]
pub struct EventParseError {
    /// The event named.
    pub kind: Kind,
    /// The whole message.
    pub message: String,
    /// What did not fit.
    #[source]
    pub source: serde_json::Error,
}

impl Lifecycle {
    /// Its name.
    pub fn kind(&self) -> Kind {
        match self {
            Lifecycle::Dispatch { .. } => Kind::Dispatch,
            Lifecycle::SessionStart { .. } => Kind::SessionStart,
            Lifecycle::Phase { .. } => Kind::Phase,
            Lifecycle::SessionEnd { .. } => Kind::SessionEnd,
            Lifecycle::Result { .. } => Kind::Result,
            Lifecycle::Requeue { .. } => Kind::Requeue,
            Lifecycle::WorkerSpawn { .. } => Kind::WorkerSpawn,
            Lifecycle::WorkerHello { .. } => Kind::WorkerHello,
            Lifecycle::WorkerExit { .. } => Kind::WorkerExit,
            Lifecycle::LayoutChange { .. } => Kind::LayoutChange,
        }
    }

    /// Reads a log message back: `None` when it is no lifecycle event
    /// (free text), an error when it names one but its fields do not fit.
    pub fn parse(message: &str) -> Option<Result<Lifecycle, EventParseError>> {
        let (name, fields) = match message.split_once(':') {
            Some((name, rest)) => (name, rest),
            None => (message, ""),
        };
        let kind = Kind::parse(name)?;
        let mut map = serde_json::Map::new();
        map.insert("event".into(), kind.as_str().into());
        let err = |source| EventParseError {
            kind,
            message: message.to_string(),
            source,
        };
        let mut rest = fields.trim_start();
        while !rest.is_empty() {
            let Some((key, after)) = rest.split_once('=') else {
                return Some(Err(err(serde::de::Error::custom(format!(
                    "expected key=value at `{rest}`"
                )))));
            };
            let (value, after) = match read_value(after) {
                Ok(v) => v,
                Err(e) => return Some(Err(err(e))),
            };
            map.insert(key.to_string(), value);
            rest = after.trim_start();
        }
        Some(serde_json::from_value(serde_json::Value::Object(map)).map_err(err))
    }
}

/// One value at the start of `s`, and what follows it.
fn read_value(s: &str) -> Result<(serde_json::Value, &str), serde_json::Error> {
    if s.starts_with('"') {
        // A JSON string: find its closing quote, skipping escapes.
        let bytes = s.as_bytes();
        let mut i = 1;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'"' => {
                    let v: String = serde_json::from_str(&s[..=i])?;
                    return Ok((v.into(), &s[i + 1..]));
                }
                _ => i += 1,
            }
        }
        return Err(serde::de::Error::custom("unterminated string"));
    }
    let end = s.find(' ').unwrap_or(s.len());
    let (word, rest) = s.split_at(end);
    let value = match serde_json::from_str::<serde_json::Value>(word) {
        Ok(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => v,
        _ => word.into(),
    };
    Ok((value, rest))
}

impl fmt::Display for Lifecycle {
    /// Writes the fields straight to the formatter, in key order (the
    /// order `serde_json` gives its maps), with the same number and string
    /// forms: four of these per device (dispatch, session start and end,
    /// result) are on every run's hot path, and a
    /// detour through `serde_json::Value` (a map, its keys, a parse per
    /// string to see whether it could be a word) was a visible part of a
    /// zero-latency session's CPU.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind().as_str())?;
        f.write_str(":")?;
        let mut w = Fields(f);
        match self {
            Lifecycle::Dispatch {
                batch,
                worker,
                attempt,
            } => {
                w.int("attempt", attempt)?;
                w.int("batch", batch)?;
                w.int("worker", worker)
            }
            Lifecycle::SessionStart { attempt, batch } => {
                w.int("attempt", attempt)?;
                w.int("batch", batch)
            }
            Lifecycle::Phase { phase, ms } => {
                w.float("ms", *ms)?;
                w.text("phase", phase.as_str())
            }
            Lifecycle::SessionEnd { status, ms, error } => {
                w.opt_text("error", error.as_deref())?;
                w.float("ms", *ms)?;
                w.text("status", status.as_str())
            }
            Lifecycle::Result {
                status,
                attempt,
                worker,
                pid,
                thread,
                ms,
                error,
            } => {
                w.int("attempt", attempt)?;
                w.opt_text("error", error.as_deref())?;
                w.float("ms", *ms)?;
                w.opt_int("pid", *pid)?;
                w.text("status", status.as_str())?;
                w.opt_text("thread", thread.as_deref())?;
                w.opt_int("worker", *worker)
            }
            Lifecycle::Requeue { attempt, reason } => {
                w.int("attempt", attempt)?;
                w.text("reason", reason)
            }
            Lifecycle::WorkerSpawn {
                worker,
                generation,
                pid,
            } => {
                w.int("generation", generation)?;
                w.int("pid", pid)?;
                w.int("worker", worker)
            }
            Lifecycle::WorkerHello {
                worker,
                pid,
                protocol,
            } => {
                w.int("pid", pid)?;
                w.int("protocol", protocol)?;
                w.int("worker", worker)
            }
            Lifecycle::WorkerExit {
                worker,
                generation,
                pid,
                exit,
                crashed,
            } => {
                w.int("crashed", crashed)?;
                w.text("exit", exit)?;
                w.int("generation", generation)?;
                w.int("pid", pid)?;
                w.int("worker", worker)
            }
            Lifecycle::LayoutChange {
                processes,
                threads,
                reason,
            } => {
                w.int("processes", processes)?;
                w.text("reason", reason)?;
                w.int("threads", threads)
            }
        }
    }
}

/// Writes the ` key=value` fields of a lifecycle message.
struct Fields<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl Fields<'_, '_> {
    /// An integer or a boolean: the same in Rust's and JSON's form.
    fn int(&mut self, key: &str, value: impl fmt::Display) -> fmt::Result {
        write!(self.0, " {key}={value}")
    }

    /// As `serde_json` writes an `f64`: the shortest form that reads back
    /// the same (`10.0`, `2360.9`), `null` when not finite.
    fn float(&mut self, key: &str, value: f64) -> fmt::Result {
        write!(self.0, " {key}=")?;
        json(self.0, &value)
    }

    /// A bare word when it reads back as the same string, else a JSON
    /// string.
    fn text(&mut self, key: &str, value: &str) -> fmt::Result {
        write!(self.0, " {key}=")?;
        if is_bare(value) {
            self.0.write_str(value)
        } else {
            json(self.0, value)
        }
    }

    /// Nothing when absent, as `skip_serializing_if = "Option::is_none"`.
    fn opt_int(&mut self, key: &str, value: Option<u32>) -> fmt::Result {
        match value {
            Some(v) => self.int(key, v),
            None => Ok(()),
        }
    }

    /// Nothing when absent, as `skip_serializing_if = "Option::is_none"`.
    fn opt_text(&mut self, key: &str, value: Option<&str>) -> fmt::Result {
        match value {
            Some(v) => self.text(key, v),
            None => Ok(()),
        }
    }
}

/// `value` as `serde_json` encodes it, written into `f` without an
/// intermediate `String`.
fn json<T: Serialize + ?Sized>(f: &mut fmt::Formatter<'_>, value: &T) -> fmt::Result {
    struct Adapter<'a, 'b>(&'a mut fmt::Formatter<'b>);
    impl std::io::Write for Adapter<'_, '_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            // serde_json hands over whole UTF-8 sequences.
            let s = std::str::from_utf8(buf).map_err(std::io::Error::other)?;
            self.0.write_str(s).map_err(std::io::Error::other)?;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    serde_json::to_writer(Adapter(f), value).map_err(|_| fmt::Error)
}

/// Whether a string can be written without quotes and read back as the
/// same string: word characters only, and not something a reader takes
/// for a JSON number or boolean.
fn is_bare(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:@".contains(c))
        && s != "true"
        && s != "false"
        && !is_json_number(s)
}

/// JSON's number grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Lifecycle> {
        vec![
            Lifecycle::Dispatch {
                batch: 7,
                worker: 3,
                attempt: 1,
            },
            Lifecycle::SessionStart {
                attempt: 2,
                batch: 5,
            },
            Lifecycle::Phase {
                phase: TracePhase::Auth,
                ms: 2.125,
            },
            Lifecycle::SessionEnd {
                status: Status::Ok,
                ms: 10.0,
                error: None,
            },
            Lifecycle::SessionEnd {
                status: Status::AuthFailed,
                ms: 10.5,
                error: Some("all 2 credentials refused".into()),
            },
            Lifecycle::Result {
                status: Status::Timeout,
                attempt: 1,
                worker: Some(3),
                pid: Some(4107),
                thread: Some("w3-t17".into()),
                ms: 2360.9,
                error: Some("command `show run` timed out: \"x\"=y\n2".into()),
            },
            Lifecycle::Result {
                status: Status::Cancelled,
                attempt: 1,
                worker: None,
                pid: None,
                thread: None,
                ms: 0.0,
                error: None,
            },
            Lifecycle::Requeue {
                attempt: 2,
                reason: "worker 1 died".into(),
            },
            Lifecycle::WorkerSpawn {
                worker: 0,
                generation: 1,
                pid: 99,
            },
            Lifecycle::WorkerHello {
                worker: 0,
                pid: 99,
                protocol: 4,
            },
            Lifecycle::WorkerExit {
                worker: 0,
                generation: 1,
                pid: 99,
                exit: "signal 9 (SIGKILL)".into(),
                crashed: true,
            },
            Lifecycle::LayoutChange {
                processes: 3,
                threads: 16,
                reason: "123".into(),
            },
        ]
    }

    #[test]
    fn every_event_round_trips_through_its_message() {
        for ev in all() {
            let msg = ev.to_string();
            assert!(msg.starts_with(&format!("{}:", ev.kind())), "{msg}");
            assert!(!msg.contains('\n'), "{msg}");
            let back = Lifecycle::parse(&msg).expect("a lifecycle event").unwrap();
            assert_eq!(back, ev, "{msg}");
        }
    }

    #[test]
    fn fields_are_key_value_words_or_quoted_strings() {
        let ev = Lifecycle::WorkerExit {
            worker: 2,
            generation: 0,
            pid: 7,
            exit: "exit 0".into(),
            crashed: false,
        };
        assert_eq!(
            ev.to_string(),
            "worker_exit: crashed=false exit=\"exit 0\" generation=0 pid=7 worker=2"
        );
    }

    #[test]
    fn free_text_is_no_event_and_bad_fields_are_errors() {
        assert!(Lifecycle::parse("auth ok (password) in 2.1 ms").is_none());
        assert!(Lifecycle::parse("retry: attempt 2 queued").is_none());
        assert!(Lifecycle::parse("dispatch: batch=x worker=1 attempt=1")
            .unwrap()
            .is_err());
        assert!(Lifecycle::parse("dispatch: batch=1 worker=1")
            .unwrap()
            .is_err());
        assert!(
            Lifecycle::parse("dispatch: batch=1 worker=1 attempt=1 extra=2")
                .unwrap()
                .is_err()
        );
        let e = Lifecycle::parse("session_start: attempt")
            .unwrap()
            .unwrap_err();
        assert!(e.to_string().contains("session_start"), "{e}");
    }

    /// The message as it was written before the direct formatter: through
    /// `serde_json::Value`, a parse per string deciding bare or quoted.
    fn via_json(ev: &Lifecycle) -> String {
        let serde_json::Value::Object(map) = serde_json::to_value(ev).unwrap() else {
            panic!("not a map")
        };
        let mut out = format!("{}:", ev.kind());
        for (key, value) in map.iter().filter(|(k, _)| *k != "event") {
            let bare = |s: &str| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_-./:@".contains(c))
                    && !matches!(
                        serde_json::from_str::<serde_json::Value>(s),
                        Ok(serde_json::Value::Number(_) | serde_json::Value::Bool(_))
                    )
            };
            match value {
                serde_json::Value::String(s) if bare(s) => out.push_str(&format!(" {key}={s}")),
                other => out.push_str(&format!(" {key}={other}")),
            }
        }
        out
    }

    #[test]
    fn the_direct_formatter_writes_what_serde_json_did() {
        let mut events = all();
        for text in [
            "", "-", "0", "-0", "01", "1.", "1.5", "-2e10", "1e", "1E+3", "true", "false", "True",
            "null", "x=y", "a b", "ü", "w3-t17", "1.2.3", "e5", "-x", "\\", "\u{7f}",
        ] {
            events.push(Lifecycle::Requeue {
                attempt: 1,
                reason: text.into(),
            });
            events.push(Lifecycle::SessionEnd {
                status: Status::Timeout,
                ms: 0.1,
                error: Some(text.into()),
            });
        }
        for ms in [
            0.0,
            -0.0,
            1.0,
            1e21,
            1e-7,
            2360.9,
            f64::NAN,
            f64::INFINITY,
            0.1 + 0.2,
        ] {
            events.push(Lifecycle::Phase {
                phase: TracePhase::Commands,
                ms,
            });
        }
        events.push(Lifecycle::Result {
            status: Status::Ok,
            attempt: 3,
            worker: Some(0),
            pid: None,
            thread: Some("main thread".into()),
            ms: 5.0,
            error: None,
        });
        events.push(Lifecycle::WorkerExit {
            worker: 1,
            generation: 2,
            pid: 3,
            exit: "exit".into(),
            crashed: false,
        });
        for ev in &events {
            assert_eq!(ev.to_string(), via_json(ev), "{ev:?}");
        }
    }

    #[test]
    fn json_numbers_are_told_apart_from_words() {
        for n in ["0", "-0", "12", "1.5", "-2e10", "1E+3", "0.0e-1"] {
            assert!(is_json_number(n), "{n}");
        }
        for w in [
            "", "-", "01", "1.", ".5", "1e", "e5", "1.2.3", "0x10", "1_000", "+1",
        ] {
            assert!(!is_json_number(w), "{w}");
        }
    }

    #[test]
    fn kinds_have_unique_names() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
    }
}
