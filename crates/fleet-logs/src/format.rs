//! Writing: the logger each fleet process installs.

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// How often buffered log lines reach the file at the latest.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// The process's log file behind a buffer, shared with the flusher thread
/// and [`flush`].
static SINK: OnceLock<Arc<Sink>> = OnceLock::new();

/// The buffer and whether it holds lines not yet written; the flusher
/// thread sleeps on `dirty` until it does. Waking every 100 ms whether or
/// not anything was logged cost every process ten wake-ups a second for
/// the whole run (in a 2-core VM a wake-up is tens of microseconds of CPU:
/// the flusher threads were 2.6% of all samples of an `8x25` run at 2 s
/// sessions).
struct Sink {
    buffer: Mutex<Pending>,
    dirty: Condvar,
}

struct Pending {
    writer: BufWriter<File>,
    dirty: bool,
    /// The flusher waits on `Sink::dirty` (a notification is a syscall
    /// even with nobody waiting: only wake it when it sleeps there).
    flusher_waiting: bool,
}

impl Sink {
    fn new(file: File) -> Sink {
        Sink {
            buffer: Mutex::new(Pending {
                writer: BufWriter::with_capacity(64 * 1024, file),
                dirty: false,
                flusher_waiting: false,
            }),
            dirty: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.buffer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes the buffer out now.
    fn flush(&self) {
        let mut p = self.lock();
        let _ = p.writer.flush();
        p.dirty = false;
    }

    /// The flusher thread: once lines are waiting, lets more gather for
    /// [`FLUSH_EVERY`], then writes them out; sleeps while nothing is.
    fn flusher(&self) {
        loop {
            {
                let mut p = self.lock();
                while !p.dirty {
                    p.flusher_waiting = true;
                    p = self.dirty.wait(p).unwrap_or_else(|e| e.into_inner());
                    p.flusher_waiting = false;
                }
            }
            std::thread::sleep(FLUSH_EVERY);
            self.flush();
        }
    }
}

/// Writes every log line into a buffer: one `write(2)` per line cost a
/// third of a no-op run's time. Buffered lines reach the file within
/// [`FLUSH_EVERY`], at once for WARN and ERROR lines, and on [`flush`] (at
/// exit and in the panic hook), so a SIGKILL loses at most the last 100 ms
/// of INFO and DEBUG lines.
struct Buffered(Arc<Sink>);

impl Write for Buffered {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut p = self.0.lock();
        p.writer.write_all(buf)?;
        // The level starts after the 27-character timestamp and a space.
        let urgent = matches!(buf.get(28..32), Some(b"WARN") | Some(b"ERRO"));
        if urgent {
            p.writer.flush()?;
            p.dirty = false;
        } else if !p.dirty {
            p.dirty = true;
            if p.flusher_waiting {
                self.0.dirty.notify_one();
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // The flusher thread and `flush()` decide; flushing per record
        // would undo the buffer.
        Ok(())
    }
}

/// Pushes buffered log lines to the file. Call before the process exits.
pub fn flush() {
    if let Some(sink) = SINK.get() {
        sink.flush();
    }
}

thread_local! {
    /// The device the current thread is working on, stamped on every line.
    static DEVICE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Marks the current thread as working on `device` until the guard drops,
/// so every log line from any crate carries the device name.
pub fn device_scope(device: &str) -> DeviceScope {
    let previous = DEVICE.with(|d| d.borrow_mut().replace(field(device)));
    DeviceScope { previous }
}

/// Restores the previous device of the thread on drop.
#[must_use = "the device scope ends when this guard is dropped"]
pub struct DeviceScope {
    previous: Option<String>,
}

impl Drop for DeviceScope {
    fn drop(&mut self) {
        let previous = self.previous.take();
        DEVICE.with(|d| *d.borrow_mut() = previous);
    }
}

/// A field value as the log line carries it: control characters shown
/// visibly (see `fleet-escape`) and whitespace turned into `_`, so the line
/// parses back into the same fields. `fleet logs --device` compares names
/// in this form.
pub fn field(value: &str) -> String {
    if value.is_empty() {
        return "-".to_string();
    }
    fleet_escape::line(value)
        .chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect()
}

thread_local! {
    /// A formatted message before it is written (reused: no allocation per line).
    static MESSAGE: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Writes a record's message so that it cannot forge records: control
/// characters other than `\n` and `\t` are shown visibly (`\x1b`), and a
/// line break whose next line would parse as a record of its own is
/// written as the two characters `\n`. Other line breaks stay, so a
/// panic's backtrace still reads as lines under its record.
pub fn write_message(out: &mut dyn Write, args: &std::fmt::Arguments<'_>) -> std::io::Result<()> {
    if let Some(s) = args.as_str() {
        return write_safe(out, s);
    }
    MESSAGE.with(|m| match m.try_borrow_mut() {
        Ok(mut m) => {
            m.clear();
            let _ = std::fmt::Write::write_fmt(&mut *m, *args);
            write_safe(out, &m)
        }
        Err(_) => write_safe(out, &args.to_string()),
    })
}

fn write_safe(out: &mut dyn Write, message: &str) -> std::io::Result<()> {
    for (i, part) in message.split('\n').enumerate() {
        let part = fleet_escape::text(part);
        if i > 0 {
            let forged = crate::read::parse_line(&part).is_some();
            out.write_all(if forged { b"\\n" } else { b"\n" })?;
        }
        out.write_all(part.as_bytes())?;
    }
    Ok(())
}

/// Installs the fleet logger for this process, writing to `file`.
///
/// `who` is `master` or `w<id>`; `default_level` applies unless `RUST_LOG`
/// is set (it wins, with env_logger's syntax). A worker passes its stderr
/// (which the master points at `worker-<id>.log`), so its log lines, panics
/// and anything else it prints land in one file. Calling it twice is
/// harmless (the first logger stays).
pub fn init(who: &str, default_level: log::LevelFilter, file: File) {
    init_with(who, default_level, true, file)
}

/// [`init`], choosing whether routine per-device lines
/// ([`fleet_proto::event::DEVICE_LOG_TARGET`]) are logged at INFO:
/// without `device_lines` only their warnings and errors are, unless
/// `default_level` is DEBUG or finer (asked for) or `RUST_LOG` says
/// otherwise.
pub fn init_with(who: &str, default_level: log::LevelFilter, device_lines: bool, file: File) {
    if SINK.get().is_some() {
        return;
    }
    let sink = Arc::new(Sink::new(file));
    if SINK.set(Arc::clone(&sink)).is_err() {
        return;
    }
    let flusher = Arc::clone(&sink);
    let _ = std::thread::Builder::new()
        .name("log-flush".into())
        .spawn(move || flusher.flusher());
    let target = env_logger::Target::Pipe(Box::new(Buffered(sink)));
    let who = field(who);
    let pid = std::process::id();
    let mut builder = env_logger::Builder::new();
    builder.filter_level(default_level);
    builder.filter_module(
        fleet_proto::event::DEVICE_LOG_TARGET,
        device_filter(default_level, device_lines),
    );
    if let Ok(spec) = std::env::var("RUST_LOG") {
        builder.parse_filters(&spec);
    }
    let prefix = format!("{who} {pid}");
    builder.target(target).format(move |buf, record| {
        // The hot path of every log line: no allocation beyond the line.
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("main");
        let name = if name.contains(|c: char| c.is_whitespace() || fleet_escape::is_control(c)) {
            std::borrow::Cow::Owned(field(name))
        } else {
            std::borrow::Cow::Borrowed(name)
        };
        DEVICE.with(|d| {
            let device = d.borrow();
            write!(
                buf,
                "{} {:<5} {prefix} {name} {} ",
                buf.timestamp_micros(),
                record.level(),
                device.as_deref().unwrap_or("-"),
            )?;
            write_message(buf, record.args())?;
            buf.write_all(b"\n")
        })
    });
    // A second init (tests, -p 0 in-process workers) keeps the first logger.
    let _ = builder.try_init();
}

/// The filter of routine per-device lines: the run's level when they are
/// wanted or the level is DEBUG or finer, else warnings and errors only.
fn device_filter(level: log::LevelFilter, device_lines: bool) -> log::LevelFilter {
    if device_lines || level >= log::LevelFilter::Debug {
        level
    } else {
        level.min(log::LevelFilter::Warn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::parse_entries;

    fn sink(file: File) -> Arc<Sink> {
        Arc::new(Sink::new(file))
    }

    fn line(level: &str) -> String {
        format!("2026-12-02T10:00:00.000000Z {level:<5} master 1 main - x\n")
    }

    #[test]
    fn warnings_reach_the_file_at_once_and_routine_lines_mark_the_buffer_for_the_flusher() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let s = sink(File::create(&path).unwrap());
        let mut w = Buffered(Arc::clone(&s));
        w.write_all(line("INFO").as_bytes()).unwrap();
        assert!(s.lock().dirty, "a routine line waits for the flusher");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
        w.write_all(line("WARN").as_bytes()).unwrap();
        assert!(!s.lock().dirty, "a warning writes out everything before it");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            line("INFO") + &line("WARN")
        );
    }

    #[test]
    fn the_flusher_writes_routine_lines_out_without_being_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let s = sink(File::create(&path).unwrap());
        let flusher = Arc::clone(&s);
        std::thread::spawn(move || flusher.flusher());
        let mut w = Buffered(Arc::clone(&s));
        w.write_all(line("INFO").as_bytes()).unwrap();
        // Eventually (within FLUSH_EVERY on an idle machine); a lost
        // notification would leave the file empty for good.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::fs::read_to_string(&path).unwrap().is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "the flusher never wrote the line"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), line("INFO"));
        assert!(!s.lock().dirty);
    }

    /// A log line as the logger writes it, with `message` formatted at
    /// run time (as device strings are).
    fn logged(message: &str) -> String {
        let mut line = b"2026-11-22T00:10:00.000001Z WARN  w0 7 w0-t1 r1 ".to_vec();
        write_message(&mut line, &format_args!("session end: {message}")).unwrap();
        line.push(b'\n');
        String::from_utf8(line).unwrap()
    }

    #[test]
    fn routine_device_lines_need_asking_for_below_debug() {
        use log::LevelFilter::*;
        assert_eq!(device_filter(Info, true), Info);
        assert_eq!(device_filter(Info, false), Warn);
        assert_eq!(device_filter(Error, false), Error);
        assert_eq!(device_filter(Debug, false), Debug);
        assert_eq!(device_filter(Trace, false), Trace);
    }

    #[test]
    fn a_device_string_cannot_forge_a_record() {
        let device_text =
            "boom\n2026-01-01T00:00:00Z ERROR master 1 main - forged\n2026-01-01T00:00:01.5Z INFO  w9 1 t r9 x";
        let text = logged(device_text);
        let entries = parse_entries(&text, "worker-0.log");
        assert_eq!(entries.len(), 1, "{text}");
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(entries[0].record.message.contains(
            "boom\\n2026-01-01T00:00:00Z ERROR master 1 main - forged\\n2026-01-01T00:00:01.5Z"
        ));
    }

    #[test]
    fn control_characters_are_shown_visibly() {
        let text = logged("\x1b]0;PWNED\x07\x1b[2J\rCR \u{9b}31m \x7f\ttab");
        assert!(
            !text
                .trim_end_matches('\n')
                .chars()
                .any(|c| fleet_escape::is_control(c) && c != '\t'),
            "{text:?}"
        );
        assert!(text.contains("\\x1b]0;PWNED\\x07\\x1b[2J\\rCR \\u{9b}31m \\x7f\ttab"));
    }

    #[test]
    fn backtraces_keep_their_lines() {
        let text =
            logged("panic: boom\nbacktrace:\n   0: std::backtrace::Backtrace::create\n   1: main");
        let entries = parse_entries(&text, "worker-0.log");
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].text.lines().count(), 4);
        // Static messages take the no-copy path and get the same care.
        let mut out = Vec::new();
        write_message(&mut out, &format_args!("a\x1bb")).unwrap();
        assert_eq!(out, b"a\\x1bb");
    }

    #[test]
    fn fields_have_no_whitespace_or_controls() {
        assert_eq!(field(""), "-");
        assert_eq!(field("lab-ios-0001"), "lab-ios-0001");
        assert_eq!(field("a b\nc\x1b[2J"), "a_b\\nc\\x1b[2J");
    }
}
