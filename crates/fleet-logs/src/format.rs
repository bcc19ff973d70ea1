//! Writing: the logger each fleet process installs.

use std::cell::RefCell;
use std::io::Write;

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

/// Installs the fleet logger for this process.
///
/// `who` is `master` or `w<id>`; `default_level` applies unless `RUST_LOG`
/// is set (it wins, with env_logger's syntax); `target` is where lines go:
/// a worker logs to stderr, which the master points at `worker-<id>.log`
/// so that panics and anything else a worker prints land in the same file.
/// Calling it twice is harmless (the first logger stays).
pub fn init(who: &str, default_level: log::LevelFilter, target: env_logger::Target) {
    let who = sanitize(who);
    let pid = std::process::id();
    let mut builder = env_logger::Builder::new();
    builder.filter_level(default_level);
    if let Ok(spec) = std::env::var("RUST_LOG") {
        builder.parse_filters(&spec);
    }
    builder.target(target).format(move |buf, record| {
        let thread = std::thread::current();
        let thread = sanitize(thread.name().unwrap_or("main"));
        let device = DEVICE.with(|d| d.borrow().clone());
        writeln!(
            buf,
            "{} {:<5} {} {} {} {} {}",
            buf.timestamp_micros(),
            record.level(),
            who,
            pid,
            thread,
            device.as_deref().unwrap_or("-"),
            record.args()
        )
    });
    // A second init (tests, -p 0 in-process workers) keeps the first logger.
    let _ = builder.try_init();
}
