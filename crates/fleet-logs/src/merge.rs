//! Putting a run's logs back together: `master.log` and every
//! `worker-<id>.log` into one stream ordered by time.
//!
//! Records sort by their timestamp text (fixed-width RFC 3339 UTC with
//! microseconds, so text order is time order); records with equal
//! timestamps keep file order (master first, then workers by id) and line
//! order. Continuation lines (a panic's backtrace, raw stderr of a worker)
//! stay attached to the record before them.

use crate::error::LogsError;
use crate::read::{parse_line, Record};
use std::path::{Path, PathBuf};

/// One record with the exact text it was written as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The parsed record (continuation lines folded into `message`).
    pub record: Record,
    /// The original lines, joined with `\n` (no trailing newline), so
    /// `fleet logs` prints exactly what the processes wrote.
    pub text: String,
    /// The file it came from (`master.log`, `worker-3.log`).
    pub file: String,
}

impl Entry {
    /// The record as one JSON object (for `fleet logs --json`).
    pub fn to_json(&self) -> serde_json::Value {
        let r = &self.record;
        serde_json::json!({
            "ts": r.ts,
            "level": r.level,
            "who": r.who,
            "pid": r.pid,
            "thread": r.thread,
            "device": r.device,
            "message": r.message,
            "file": self.file,
        })
    }

    /// The record's level, most severe first in [`log::Level`]'s order.
    pub fn level(&self) -> Option<log::Level> {
        self.record.level.parse().ok()
    }
}

/// Splits a log file's text into entries.
///
/// Lines before the first record (a worker's raw stderr before its logger
/// started) become one entry of their own: level `ERROR` (only failures
/// are printed that way), `who` from the file name, pid 0, thread and
/// device unknown, and the timestamp of the file's first record (or none),
/// so they sort right before it.
pub fn parse_entries(text: &str, file: &str) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut orphan: Vec<&str> = Vec::new();
    for line in text.lines() {
        match parse_line(line) {
            Some(record) => entries.push(Entry {
                record,
                text: line.to_string(),
                file: file.to_string(),
            }),
            None => match entries.last_mut() {
                Some(last) => {
                    last.text.push('\n');
                    last.text.push_str(line);
                    last.record.message.push('\n');
                    last.record.message.push_str(line);
                }
                None if line.is_empty() => {}
                None => orphan.push(line),
            },
        }
    }
    if !orphan.is_empty() {
        let ts = entries
            .first()
            .map(|e| e.record.ts.clone())
            .unwrap_or_default();
        let text = orphan.join("\n");
        entries.insert(
            0,
            Entry {
                record: Record {
                    ts,
                    level: "ERROR".to_string(),
                    who: who_of_file(file),
                    pid: 0,
                    thread: "-".to_string(),
                    device: None,
                    message: text.clone(),
                },
                text,
                file: file.to_string(),
            },
        );
    }
    entries
}

/// `master` for `master.log`, `w3` for `worker-3.log`.
fn who_of_file(file: &str) -> String {
    match worker_id_of_file(file) {
        Some(id) => format!("w{id}"),
        None => "master".to_string(),
    }
}

/// The worker id in a `worker-<id>.log` file name.
fn worker_id_of_file(file: &str) -> Option<u32> {
    file.strip_prefix("worker-")?
        .strip_suffix(".log")?
        .parse()
        .ok()
}

/// The log files of a run: `master.log` first (if present), then
/// `worker-<id>.log` by numeric id.
pub fn log_files(run_dir: &Path) -> Result<Vec<PathBuf>, LogsError> {
    let mut workers: Vec<(u32, PathBuf)> = Vec::new();
    let dir = std::fs::read_dir(run_dir).map_err(LogsError::io(run_dir))?;
    for entry in dir {
        let entry = entry.map_err(LogsError::io(run_dir))?;
        let name = entry.file_name();
        if let Some(id) = name.to_str().and_then(worker_id_of_file) {
            workers.push((id, entry.path()));
        }
    }
    workers.sort();
    let master = run_dir.join("master.log");
    let mut files: Vec<PathBuf> = Vec::with_capacity(workers.len() + 1);
    if master.is_file() {
        files.push(master);
    }
    files.extend(workers.into_iter().map(|(_, p)| p));
    Ok(files)
}

/// Merges per-file entry lists (in file order) into one time-ordered
/// stream; the sort is stable, so equal timestamps keep file and line order.
pub fn merge(files: Vec<Vec<Entry>>) -> Vec<Entry> {
    let mut all: Vec<Entry> = files.into_iter().flatten().collect();
    all.sort_by(|a, b| a.record.ts.cmp(&b.record.ts));
    all
}

/// Reads and merges every log of a run directory.
pub fn read_run(run_dir: &Path) -> Result<Vec<Entry>, LogsError> {
    if let Some(entries) = crate::shards::read_merged(run_dir)? {
        return Ok(entries);
    }
    let files = log_files(run_dir)?;
    if files.is_empty() && !run_dir.join("results.jsonl").is_file() {
        return Err(LogsError::NotARun {
            path: run_dir.to_path_buf(),
        });
    }
    let mut parsed = Vec::with_capacity(files.len());
    for path in files {
        let bytes = std::fs::read(&path).map_err(LogsError::io(&path))?;
        let text = String::from_utf8_lossy(&bytes);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        parsed.push(parse_entries(&text, &name));
    }
    Ok(merge(parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: &str = "2026-11-22T00:10:00.000100Z";
    const T1: &str = "2026-11-22T00:10:00.000200Z";
    const T2: &str = "2026-11-22T00:10:01.000000Z";

    fn line(ts: &str, who: &str, device: &str, msg: &str) -> String {
        format!("{ts} INFO  {who} 10 main {device} {msg}")
    }

    #[test]
    fn merges_by_time_with_stable_order_for_equal_times() {
        let master = [
            line(
                T0,
                "master",
                "r1",
                "dispatch: batch 0 to worker 0, attempt 1",
            ),
            line(T2, "master", "r1", "result: ok"),
        ]
        .join("\n");
        let w0 = [
            line(T1, "w0", "r1", "session start"),
            line(T1, "w0", "r2", "session start"),
        ]
        .join("\n");
        let w1 = line(T1, "w1", "r3", "session start");
        let merged = merge(vec![
            parse_entries(&master, "master.log"),
            parse_entries(&w0, "worker-0.log"),
            parse_entries(&w1, "worker-1.log"),
        ]);
        let order: Vec<(&str, Option<&str>)> = merged
            .iter()
            .map(|e| (e.record.who.as_str(), e.record.device.as_deref()))
            .collect();
        assert_eq!(
            order,
            [
                ("master", Some("r1")),
                ("w0", Some("r1")),
                ("w0", Some("r2")),
                ("w1", Some("r3")),
                ("master", Some("r1")),
            ]
        );
        assert_eq!(merged[4].text, line(T2, "master", "r1", "result: ok"));
        assert_eq!(merged[1].file, "worker-0.log");
    }

    #[test]
    fn continuation_lines_stay_with_their_record() {
        let text = format!(
            "{}\n{}\nbacktrace:\n   0: std::backtrace::Backtrace::create\n   1: main\n{}\n",
            line(T0, "w2", "r1", "session start"),
            format_args!("{T1} ERROR w2 10 w2-t1 r1 panic: boom"),
            line(T2, "w2", "-", "late"),
        );
        let entries = parse_entries(&text, "worker-2.log");
        assert_eq!(entries.len(), 3);
        let panic = &entries[1];
        assert_eq!(panic.record.level, "ERROR");
        assert_eq!(
            panic.text.lines().collect::<Vec<_>>(),
            [
                &*format!("{T1} ERROR w2 10 w2-t1 r1 panic: boom"),
                "backtrace:",
                "   0: std::backtrace::Backtrace::create",
                "   1: main"
            ]
        );
        assert!(panic
            .record
            .message
            .starts_with("panic: boom\nbacktrace:\n"));
        // Merged with another file whose record falls in between, the
        // backtrace still follows its panic line.
        let other = parse_entries(&line(T0, "master", "-", "x"), "master.log");
        let merged = merge(vec![other, entries]);
        assert!(merged[2].text.ends_with("   1: main"));
        assert_eq!(merged[3].record.message, "late");
    }

    #[test]
    fn raw_lines_before_the_first_record_become_an_entry() {
        let text = format!("master 42 is already gone\n{}", line(T1, "w1", "-", "x"));
        let entries = parse_entries(&text, "worker-1.log");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].record.who, "w1");
        assert_eq!(entries[0].record.ts, T1);
        assert_eq!(entries[0].text, "master 42 is already gone");
    }

    #[test]
    fn log_files_are_master_then_workers_by_id() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "worker-10.log",
            "worker-2.log",
            "master.log",
            "results.jsonl",
            "worker-x.log",
        ] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let names: Vec<String> = log_files(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["master.log", "worker-2.log", "worker-10.log"]);
    }

    #[test]
    fn an_empty_directory_is_not_a_run() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            read_run(dir.path()),
            Err(LogsError::NotARun { .. })
        ));
    }
}
