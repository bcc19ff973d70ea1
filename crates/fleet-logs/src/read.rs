//! Reading: log lines back into records.

use fleet_proto::event::Lifecycle;

/// One log record. Continuation lines (backtraces, raw stderr) are folded
/// into `message`, separated by newlines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// RFC 3339 UTC time with microseconds; sorts as text.
    pub ts: String,
    /// `ERROR`, `WARN`, `INFO`, `DEBUG` or `TRACE`.
    pub level: String,
    /// `master` or `w<id>`.
    pub who: String,
    /// OS pid of the process that wrote it.
    pub pid: u32,
    /// Thread name (`w3-t17`, `main`, ...).
    pub thread: String,
    /// Device name, or `None` for lines about no device.
    pub device: Option<String>,
    /// The message.
    pub message: String,
}

impl Record {
    /// The lifecycle event this record's message states, if it is one
    /// (parsed as data, see [`fleet_proto::event`]); `None` for free text
    /// and for an event whose fields do not parse.
    pub fn event(&self) -> Option<Lifecycle> {
        let first = self.message.lines().next().unwrap_or("");
        Lifecycle::parse(first)?.ok()
    }
}

/// Parses one line in the format of [`crate::format`]; `None` for a line
/// that is not a record start (a continuation line).
pub fn parse_line(line: &str) -> Option<Record> {
    let (ts, rest) = line.split_once(' ')?;
    if !(ts.len() >= 20 && ts.ends_with('Z') && ts.as_bytes().get(4) == Some(&b'-')) {
        return None;
    }
    // The level is padded to five columns: "INFO  w3 ...".
    let (level, rest) = rest.split_once(' ')?;
    if !matches!(level, "ERROR" | "WARN" | "INFO" | "DEBUG" | "TRACE") {
        return None;
    }
    let mut parts = rest.trim_start_matches(' ').splitn(5, ' ');
    let who = parts.next()?;
    let pid = parts.next()?.parse().ok()?;
    let thread = parts.next()?;
    let device = parts.next()?;
    let message = parts.next().unwrap_or("");
    Some(Record {
        ts: ts.to_string(),
        level: level.to_string(),
        who: who.to_string(),
        pid,
        thread: thread.to_string(),
        device: (device != "-").then(|| device.to_string()),
        message: message.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_padded_and_unpadded_levels() {
        let r = parse_line("2026-11-22T00:10:00.123456Z INFO  w3 41876 w3-t17 r1 auth ok").unwrap();
        assert_eq!(r.level, "INFO");
        assert_eq!(r.who, "w3");
        assert_eq!(r.pid, 41876);
        assert_eq!(r.thread, "w3-t17");
        assert_eq!(r.device.as_deref(), Some("r1"));
        assert_eq!(r.message, "auth ok");
        let r = parse_line("2026-11-22T00:10:00.123456Z ERROR master 1 main - boom: x y").unwrap();
        assert_eq!(r.level, "ERROR");
        assert_eq!(r.device, None);
        assert_eq!(r.message, "boom: x y");
    }

    #[test]
    fn continuation_lines_do_not_parse() {
        assert!(parse_line("   0: std::backtrace::Backtrace::create").is_none());
        assert!(parse_line("thread 'w0-t1' panicked at src/x.rs:1:1:").is_none());
    }
}
