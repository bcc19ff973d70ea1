//! Choosing records: by worker, device, level, text and time.
//!
//! All given conditions must hold, with one exception that makes
//! `--worker N --device X` useful: the master's lines about device X
//! (dispatch, result, requeue) are kept even though the master is not
//! worker N.

use crate::error::LogsError;
use crate::merge::Entry;
use regex::Regex;
use std::time::{Duration, SystemTime};

/// Which records to keep. `Default` keeps everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Lines from worker N's process(es) (every restart of slot N; for
    /// `-p 0` runs, the master's threads named `wN-...`).
    pub worker: Option<u32>,
    /// Lines about this device, from any process.
    pub device: Option<String>,
    /// This level and more severe.
    pub level: Option<log::Level>,
    /// A regular expression searched in the whole record text (every
    /// line of it, so a backtrace matches too).
    pub grep: Option<Regex>,
    /// Records at or after this time (RFC 3339 micros text, see [`time_bound`]).
    pub since: Option<String>,
    /// Records at or before this time.
    pub until: Option<String>,
}

impl Filter {
    /// Whether `e` passes every condition.
    pub fn matches(&self, e: &Entry) -> bool {
        let r = &e.record;
        let device_ok = match &self.device {
            // Log lines carry the name as a field (escaped, no whitespace).
            Some(d) => r.device.as_deref().is_some_and(|logged| {
                logged == d
                    || (d.contains(|c: char| c.is_whitespace() || fleet_escape::is_control(c))
                        && logged == crate::format::field(d))
            }),
            None => true,
        };
        let worker_ok = match self.worker {
            Some(n) => {
                is_worker(r.who.as_str(), r.thread.as_str(), n)
                    || (r.who == "master" && self.device.is_some() && device_ok)
            }
            None => true,
        };
        let level_ok = match self.level {
            // Unknown levels cannot happen for parsed records; keep them.
            Some(max) => e.level().is_none_or(|l| l <= max),
            None => true,
        };
        let since_ok = self.since.as_deref().is_none_or(|s| r.ts.as_str() >= s);
        let until_ok = self.until.as_deref().is_none_or(|u| r.ts.as_str() <= u);
        let grep_ok = self.grep.as_ref().is_none_or(|re| re.is_match(&e.text));
        device_ok && worker_ok && level_ok && since_ok && until_ok && grep_ok
    }
}

/// Whether a line was written by worker `n`: its own process, or, in a
/// `-p 0` run, one of its threads inside the master.
fn is_worker(who: &str, thread: &str, n: u32) -> bool {
    let tag = format!("w{n}");
    who == tag
        || (who == "master"
            && thread
                .strip_prefix(tag.as_str())
                .is_some_and(|rest| rest.starts_with('-')))
}

/// Parses a `--level` value (`error`, `warn`, `info`, `debug`, `trace`).
pub fn parse_level(s: &str) -> Result<log::Level, LogsError> {
    s.parse().map_err(|_| LogsError::BadLevel {
        value: s.to_string(),
    })
}

/// Parses a `--grep` pattern.
pub fn parse_grep(s: &str) -> Result<Regex, LogsError> {
    Regex::new(s).map_err(LogsError::BadRegex)
}

/// Turns a `--since`/`--until` value into the timestamp text records are
/// compared with: an RFC 3339 UTC time (`2026-11-22T00:10:00Z`, fractional
/// seconds allowed), or a duration from the run start (`10s`, `1m30s`,
/// `250ms`) when `run_start` is known.
pub fn time_bound(value: &str, run_start: Option<SystemTime>) -> Result<String, LogsError> {
    let at = if let Ok(t) = humantime::parse_rfc3339_weak(value) {
        t
    } else if let Ok(d) = humantime::parse_duration(value) {
        let start = run_start.ok_or_else(|| LogsError::NoRunStart {
            value: value.to_string(),
        })?;
        start + d
    } else {
        return Err(LogsError::BadTime {
            value: value.to_string(),
        });
    };
    Ok(format_ts(at))
}

/// A time in the log's own timestamp format.
pub fn format_ts(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}

/// A log timestamp (or any RFC 3339 UTC time) as a `SystemTime`.
pub fn parse_ts(ts: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(ts).ok()
}

/// Microseconds since the Unix epoch as a log timestamp.
pub fn ts_of_micros(us: u64) -> String {
    format_ts(SystemTime::UNIX_EPOCH + Duration::from_micros(us))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::parse_entries;

    fn entries() -> Vec<Entry> {
        let text = [
            "2026-11-22T00:10:00.000000Z INFO  master 1 main r1 dispatch: batch 0 to worker 1, attempt 1",
            "2026-11-22T00:10:01.000000Z INFO  w1 2 w1-t0 r1 session start: h:22 attempt 1 batch 0",
            "2026-11-22T00:10:02.000000Z WARN  w1 2 w1-t1 r2 session end: timeout in 5.0 ms: slow",
            "2026-11-22T00:10:03.000000Z ERROR w0 3 w0-t0 r3 panic: boom\nbacktrace:\n  0: frame_xyz",
            "2026-11-22T00:10:04.000000Z DEBUG w1 2 w1-t0 r1 detail",
            "2026-11-22T00:10:05.000000Z INFO  master 1 main - worker_crashed: worker 0",
            "2026-11-22T00:10:06.000000Z INFO  master 1 w0-t3 r4 in-process session",
        ]
        .join("\n");
        parse_entries(&text, "x.log")
    }

    fn kept(f: &Filter) -> Vec<usize> {
        entries()
            .iter()
            .enumerate()
            .filter(|(_, e)| f.matches(e))
            .map(|(i, _)| i)
            .collect()
    }

    #[test]
    fn default_keeps_everything() {
        assert_eq!(kept(&Filter::default()), [0, 1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn by_worker_excludes_the_master_unless_about_the_device() {
        let f = Filter {
            worker: Some(1),
            ..Filter::default()
        };
        assert_eq!(kept(&f), [1, 2, 4]);
        let f = Filter {
            worker: Some(1),
            device: Some("r1".into()),
            ..Filter::default()
        };
        assert_eq!(kept(&f), [0, 1, 4]);
        // -p 0: the worker's threads live in the master.
        let f = Filter {
            worker: Some(0),
            ..Filter::default()
        };
        assert_eq!(kept(&f), [3, 6]);
    }

    #[test]
    fn by_device_spans_processes() {
        let f = Filter {
            device: Some("r1".into()),
            ..Filter::default()
        };
        assert_eq!(kept(&f), [0, 1, 4]);
    }

    #[test]
    fn by_device_finds_names_the_log_had_to_escape() {
        let name = "core sw\x1b[2J";
        let line = format!(
            "2026-11-22T00:10:00.000000Z INFO  w1 2 w1-t0 {} session start",
            crate::format::field(name)
        );
        let e = parse_entries(&line, "worker-1.log");
        let f = Filter {
            device: Some(name.into()),
            ..Filter::default()
        };
        assert!(f.matches(&e[0]), "{line}");
    }

    #[test]
    fn by_level_keeps_that_level_and_worse() {
        let f = Filter {
            level: Some(parse_level("warn").unwrap()),
            ..Filter::default()
        };
        assert_eq!(kept(&f), [2, 3]);
        let f = Filter {
            level: Some(parse_level("INFO").unwrap()),
            ..Filter::default()
        };
        assert_eq!(kept(&f), [0, 1, 2, 3, 5, 6]);
        assert!(matches!(
            parse_level("loud"),
            Err(LogsError::BadLevel { .. })
        ));
    }

    #[test]
    fn by_grep_searches_continuation_lines_too() {
        let f = Filter {
            grep: Some(parse_grep("frame_x.z").unwrap()),
            ..Filter::default()
        };
        assert_eq!(kept(&f), [3]);
        let f = Filter {
            grep: Some(parse_grep("w1-t[01]").unwrap()),
            ..Filter::default()
        };
        assert_eq!(kept(&f), [1, 2, 4]);
        assert!(matches!(parse_grep("("), Err(LogsError::BadRegex(_))));
    }

    #[test]
    fn by_time_absolute_and_relative() {
        let start = parse_ts("2026-11-22T00:10:00Z");
        let f = Filter {
            since: Some(time_bound("2026-11-22T00:10:02Z", start).unwrap()),
            until: Some(time_bound("4s", start).unwrap()),
            ..Filter::default()
        };
        assert_eq!(kept(&f), [2, 3, 4]);
        let f = Filter {
            since: Some(time_bound("1500ms", start).unwrap()),
            until: Some(time_bound("2026-11-22T00:10:03.5Z", start).unwrap()),
            ..Filter::default()
        };
        assert_eq!(kept(&f), [2, 3]);
        assert!(matches!(
            time_bound("yesterday", start),
            Err(LogsError::BadTime { .. })
        ));
        assert!(matches!(
            time_bound("10s", None),
            Err(LogsError::NoRunStart { .. })
        ));
    }

    #[test]
    fn conditions_combine() {
        let f = Filter {
            worker: Some(1),
            level: Some(log::Level::Info),
            grep: Some(parse_grep("session").unwrap()),
            ..Filter::default()
        };
        assert_eq!(kept(&f), [1, 2]);
    }

    #[test]
    fn micros_format_like_the_logger() {
        assert_eq!(ts_of_micros(1_000_001), "1970-01-01T00:00:01.000001Z");
    }
}
