//! The run directory: every file a run writes, private to its owner.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// `<out>/<run-id>/`, created 0700; files inside are created 0600 because
/// they hold device output and logs that may be sensitive.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// The run id: UTC timestamp plus a short random suffix.
    pub id: String,
    /// The directory.
    pub path: PathBuf,
}

impl RunDir {
    /// Creates a new run directory under `out`.
    pub fn create(out: &Path) -> io::Result<RunDir> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(out)?;
        loop {
            let id = new_run_id();
            let path = out.join(&id);
            match fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(RunDir { id, path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Opens an existing run directory (for `--resume`).
    pub fn open(path: &Path) -> io::Result<RunDir> {
        if !path.join("results.jsonl").is_file() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} has no results.jsonl", path.display()),
            ));
        }
        let id = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(RunDir {
            id,
            path: path.to_path_buf(),
        })
    }

    /// A file in the run directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Opens a file for appending, creating it 0600.
    pub fn append(&self, name: &str) -> io::Result<File> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(self.file(name))
    }

    /// Writes a whole file atomically (temp file + rename), 0600, from
    /// `write` through a buffer: large files never sit in memory whole.
    pub fn write_atomic_with(
        &self,
        name: &str,
        write: impl FnOnce(&mut io::BufWriter<fs::File>) -> io::Result<()>,
    ) -> io::Result<()> {
        let tmp = self.file(&format!(".{name}.tmp"));
        {
            let f = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            let mut out = io::BufWriter::with_capacity(256 * 1024, f);
            write(&mut out)?;
            let f = out.into_inner().map_err(io::IntoInnerError::into_error)?;
            f.sync_data()?;
        }
        fs::rename(tmp, self.file(name))
    }

    /// Writes a whole file atomically (temp file + rename), 0600.
    pub fn write_atomic(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let tmp = self.file(&format!(".{name}.tmp"));
        {
            let mut f = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            io::Write::write_all(&mut f, bytes)?;
            f.sync_data()?;
        }
        fs::rename(tmp, self.file(name))
    }
}

/// `20261122T001500Z-3fa9`: sorts by time, unique enough per second.
pub fn new_run_id() -> String {
    let stamp = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .replace(['-', ':'], "");
    format!("{stamp}-{:04x}", rand::random::<u16>())
}

/// Now as RFC 3339 UTC with microseconds.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_micros(SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn run_dir_and_files_are_private() {
        let tmp = std::env::temp_dir().join(format!("fleet-rundir-{}", std::process::id()));
        let dir = RunDir::create(&tmp).unwrap();
        assert_eq!(
            fs::metadata(&dir.path).unwrap().permissions().mode() & 0o777,
            0o700
        );
        dir.append("x.log").unwrap();
        dir.write_atomic("run.json", b"{}").unwrap();
        for f in ["x.log", "run.json"] {
            let mode = fs::metadata(dir.file(f)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{f}");
        }
        assert!(dir.id.len() > 17 && dir.id.contains('T'));
        fs::remove_dir_all(tmp).unwrap();
    }
}
