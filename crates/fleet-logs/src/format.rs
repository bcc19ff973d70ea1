//! Writing: the logger each fleet process installs.

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// How often buffered log lines reach the file at the latest.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// The process's log file behind a buffer, shared with the flusher thread
/// and [`flush`].
static SINK: OnceLock<Arc<Mutex<BufWriter<File>>>> = OnceLock::new();

/// Writes every log line into a buffer: one `write(2)` per line cost a
/// third of a no-op run's time. Buffered lines reach the file every
/// [`FLUSH_EVERY`], at once for WARN and ERROR lines, and on [`flush`] (at
/// exit and in the panic hook), so a SIGKILL loses at most the last 100 ms
/// of INFO and DEBUG lines.
struct Buffered(Arc<Mutex<BufWriter<File>>>);

impl Write for Buffered {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut w = self.0.lock().unwrap_or_else(|p| p.into_inner());
        w.write_all(buf)?;
        // The level starts after the 27-character timestamp and a space.
        let urgent = matches!(buf.get(28..32), Some(b"WARN") | Some(b"ERRO"));
        if urgent {
            w.flush()?;
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
        let _ = sink.lock().unwrap_or_else(|p| p.into_inner()).flush();
    }
}

thread_local! {
    /// The device the current thread is working on, stamped on every line.
    static DEVICE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Marks the current thread as working on `device` until the guard drops,
/// so every log line from any crate carries the device name.
pub fn device_scope(device: &str) -> DeviceScope {
    let previous = DEVICE.with(|d| d.borrow_mut().replace(sanitize(device)));
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

/// Field values must not contain spaces, or the line would not parse back.
fn sanitize(field: &str) -> String {
    if field.is_empty() {
        return "-".to_string();
    }
    field
        .chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect()
}

/// Installs the fleet logger for this process, writing to `file`.
///
/// `who` is `master` or `w<id>`; `default_level` applies unless `RUST_LOG`
/// is set (it wins, with env_logger's syntax). A worker passes its stderr
/// (which the master points at `worker-<id>.log`), so its log lines, panics
/// and anything else it prints land in one file. Calling it twice is
/// harmless (the first logger stays).
pub fn init(who: &str, default_level: log::LevelFilter, file: File) {
    if SINK.get().is_some() {
        return;
    }
    let sink = Arc::new(Mutex::new(BufWriter::with_capacity(64 * 1024, file)));
    if SINK.set(Arc::clone(&sink)).is_err() {
        return;
    }
    let flusher = Arc::clone(&sink);
    let _ = std::thread::Builder::new()
        .name("log-flush".into())
        .spawn(move || loop {
            std::thread::sleep(FLUSH_EVERY);
            let _ = flusher.lock().unwrap_or_else(|p| p.into_inner()).flush();
        });
    let target = env_logger::Target::Pipe(Box::new(Buffered(sink)));
    let who = sanitize(who);
    let pid = std::process::id();
    let mut builder = env_logger::Builder::new();
    builder.filter_level(default_level);
    if let Ok(spec) = std::env::var("RUST_LOG") {
        builder.parse_filters(&spec);
    }
    let prefix = format!("{who} {pid}");
    builder.target(target).format(move |buf, record| {
        // The hot path of every log line: no allocation beyond the line.
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("main");
        let name = if name.contains(char::is_whitespace) {
            std::borrow::Cow::Owned(sanitize(name))
        } else {
            std::borrow::Cow::Borrowed(name)
        };
        DEVICE.with(|d| {
            let device = d.borrow();
            writeln!(
                buf,
                "{} {:<5} {prefix} {name} {} {}",
                buf.timestamp_micros(),
                record.level(),
                device.as_deref().unwrap_or("-"),
                record.args()
            )
        })
    });
    // A second init (tests, -p 0 in-process workers) keeps the first logger.
    let _ = builder.try_init();
}
