//! Temporary folders that go away however the process ends: when dropped (also while
//! an error unwinds), and on SIGINT, SIGTERM or SIGHUP, whose handler removes every
//! folder still alive before the process exits. Only SIGKILL leaves one behind.
//!
//! Every temporary folder of moga's (the profiler's staging, ONNX Runtime's per-node
//! profiles, deployment's models) is one of these, named
//! `$TMPDIR/moga-<what>-<pid>-<nonce>`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Folders alive in this process.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// A name part no other call in any process makes: time, process and a counter.
pub fn nonce() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{:x}{:x}{:x}",
        t,
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A temporary folder, removed when dropped or when the process is interrupted.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// Creates `$TMPDIR/moga-<what>-<pid>-<nonce>`.
    pub fn new(what: &str) -> std::io::Result<ScratchDir> {
        let path =
            std::env::temp_dir().join(format!("moga-{what}-{}-{}", std::process::id(), nonce()));
        std::fs::create_dir_all(&path)?;
        if let Ok(mut live) = LIVE.lock() {
            live.push(path.clone());
        }
        Ok(ScratchDir { path })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
        if let Ok(mut live) = LIVE.lock() {
            live.retain(|p| p != &self.path);
        }
    }
}

/// Removes this process's folders when it is interrupted (SIGINT, SIGTERM, SIGHUP),
/// then exits with 130 as a shell reports an interrupted command. Installed once; a
/// later call does nothing.
pub fn remove_on_interrupt() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Another handler already installed (a library's) is left alone.
        let _ = ctrlc::set_handler(|| {
            // The handler runs on a thread of its own: whoever holds the list lets go.
            let live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
            for p in live.iter() {
                let _ = std::fs::remove_dir_all(p);
            }
            std::process::exit(130);
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scratch_folder_lives_as_long_as_its_owner() {
        let d = ScratchDir::new("scratch-test").unwrap();
        let p = d.path().to_path_buf();
        std::fs::write(p.join("x"), b"1").unwrap();
        assert!(p.is_dir() && LIVE.lock().unwrap().contains(&p));
        drop(d);
        assert!(!p.exists() && !LIVE.lock().unwrap().contains(&p));
        assert_ne!(nonce(), nonce());
    }
}
