//! Atomic file replacement: a reader sees the old file or the new one, never a mix, and
//! a crash mid-write leaves the old file intact. Every table and checkpoint moga writes
//! goes through here.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically: a uniquely named temporary file in the same
/// folder, flushed to disk, then renamed over `path`, then the folder flushed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| Error::io(path, std::io::Error::other("not a file path")))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = dir.join(format!(
        ".{}.{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    // Make the rename itself durable; not every platform lets a folder be opened.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    remove_stale_temporaries(&dir, &name.to_string_lossy());
    Ok(())
}

/// Removes temporary files of `name` left by writers that were killed mid-write
/// (`.{name}.{pid}.{n}.tmp` whose process no longer exists). Only where processes can
/// be checked (`/proc`); elsewhere they stay, harmless.
fn remove_stale_temporaries(dir: &Path, name: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let prefix = format!(".{name}.");
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name();
        let file = file.to_string_lossy();
        let Some(middle) = file
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix(".tmp"))
        else {
            continue;
        };
        let Some((pid, n)) = middle.split_once('.') else {
            continue;
        };
        if pid.parse::<u32>().is_ok()
            && n.parse::<u64>().is_ok()
            && !Path::new("/proc").join(pid).exists()
        {
            let _ = fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_and_leaves_no_temporaries() {
        let dir = std::env::temp_dir().join(format!("moga-atomic-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t.csv");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        // A writer killed mid-write (pid 999999999 does not exist) left its temporary
        // file; the next write removes it, and leaves a live writer's alone.
        let dead = dir.join(".t.csv.999999999.0.tmp");
        let live = dir.join(format!(".t.csv.{}.77.tmp", std::process::id()));
        fs::write(&dead, b"half").unwrap();
        fs::write(&live, b"in flight").unwrap();
        write_atomic(&p, b"three").unwrap();
        assert!(!dead.exists() && live.exists());
        fs::remove_file(&live).unwrap();
        let missing = dir.join("no-such-dir").join("t.csv");
        let err = write_atomic(&missing, b"x").unwrap_err().to_string();
        assert!(err.contains("no-such-dir"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
