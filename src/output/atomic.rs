//! Atomic file writes: write to a temporary file in the same folder, flush it to disk, then rename
//! it over the target. A run killed at any moment leaves either the old complete file or the new
//! complete file, never a half-written one. Its temporary file (`.NAME.tmp.PID`) stays behind; a
//! later write of the same file removes those of processes that no longer run, an hour on.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The temporary path used while writing `path`.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp.{}", std::process::id()))
}

/// How old a temporary file of a process that is gone must be before it is removed.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes the temporary files of earlier writes of `path` whose process is gone (killed while
/// writing) and that are an hour old; those of running processes are left alone. Best effort: a
/// file that cannot be removed stays.
fn remove_stale_temps(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else { return };
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let prefix = format!(".{}.tmp.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)) else { continue };
        let running = pid.parse::<u32>().map_or(true, |pid| Path::new(&format!("/proc/{pid}")).exists());
        // An hour old too: a process of another machine or container writing into the same folder
        // has no /proc entry here, and is done with its file long before.
        let old = entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
        if !running && old.is_some_and(|age| age >= STALE_AFTER) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Writes a file atomically through `write`.
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    remove_stale_temps(path);
    let tmp = temp_path(path);
    let result = (|| {
        let file = File::create(&tmp)?;
        let mut w = BufWriter::with_capacity(1 << 16, file);
        write(&mut w)?;
        w.flush()?;
        w.get_ref().sync_all()?;
        Ok::<(), std::io::Error>(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.json");
        write_atomic(&p, |w| w.write_all(b"old")).unwrap();
        let err = write_atomic(&p, |w| {
            w.write_all(b"half")?;
            Err(std::io::Error::other("interrupted"))
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert!(!temp_path(&p).exists(), "temporary file removed");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn temporary_files_of_killed_writes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.json");
        // A write killed long ago (no such process), one of a running process (init), one of
        // another file, and a name that only looks alike.
        let dead = dir.path().join(".x.json.tmp.4294967295");
        let running = dir.path().join(".x.json.tmp.1");
        let other = dir.path().join(".y.json.tmp.4294967295");
        let alike = dir.path().join(".x.json.tmp.");
        // And one of a process gone a moment ago, which may be another machine's still writing.
        let recent = dir.path().join(".x.json.tmp.4294967294");
        let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        for f in [&dead, &running, &other, &alike, &recent] {
            std::fs::write(f, "half").unwrap();
            if f != &recent {
                std::fs::File::options().write(true).open(f).unwrap().set_modified(two_hours_ago).unwrap();
            }
        }
        write_atomic(&p, |w| w.write_all(b"new")).unwrap();
        assert!(!dead.exists());
        assert!(running.exists() && other.exists() && alike.exists() && recent.exists());
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
    }
}
