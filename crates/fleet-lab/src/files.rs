//! Writing the lab's files atomically (temp file + rename) with a given mode,
//! so readers polling them never see half a file.

use crate::error::LabError;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Makes temp names unique when two writes of one file overlap (SIGUSR1 during exit).
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `contents` to `path` via a temp file in the same directory and a
/// rename; `mode` applies to the new file (0o600 for secrets).
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), LabError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(LabError::io(format!(
        "failed to create directory {}",
        dir.display()
    )))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".to_string());
    let tmp = dir.join(format!(
        ".{file_name}.tmp.{}.{}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(LabError::io(format!("failed to write {}", path.display())))
}
