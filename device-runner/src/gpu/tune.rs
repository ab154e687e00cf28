//! The kernel autotuner's memory: which variant of a kernel ran fastest for a shape on
//! this adapter, kept in a JSON file on the device so that the next compilation of any
//! model with that shape (profiling, then deployment) runs the same kernel without
//! timing again.
//!
//! The file names the adapter and driver it was measured on; a file from another
//! adapter is ignored (and replaced on the next save). Writes are atomic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How convolutions choose their kernel variant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Tuning {
    /// The fixed default per operator (deterministic; the tests' choice).
    #[default]
    Defaults,
    /// Time every variant on the device when a shape is first compiled, keep the
    /// fastest; remembered in `cache` when given.
    Auto {
        /// The choices file.
        cache: Option<PathBuf>,
    },
    /// This variant wherever a convolution can run as it, else the default (the
    /// variants' tests, microbenchmarks).
    Force(crate::gpu::kernels::conv::Variant),
}

/// The choices file.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
struct File {
    /// The adapter the choices were measured on.
    adapter: String,
    /// Its driver.
    driver: String,
    /// Shape key → variant.
    choices: BTreeMap<String, String>,
}

/// Choices in memory, and where they are kept.
#[derive(Debug, Default)]
pub(crate) struct Choices {
    path: Option<PathBuf>,
    file: File,
    dirty: bool,
}

impl Choices {
    /// The choices of `path` for this adapter (none when the file is missing or was
    /// made on another adapter); an unreadable file is an error naming it.
    pub(crate) fn load(path: Option<&Path>, adapter: &str, driver: &str) -> Result<Choices> {
        let fresh = File {
            adapter: adapter.to_string(),
            driver: driver.to_string(),
            choices: BTreeMap::new(),
        };
        let file = match path {
            Some(p) if p.exists() => {
                let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
                let f: File = serde_json::from_str(&text).map_err(|e| {
                    Error::tensor(
                        p.display().to_string(),
                        format!("not a kernel choices file: {e}"),
                    )
                })?;
                if f.adapter == adapter && f.driver == driver {
                    f
                } else {
                    fresh
                }
            }
            _ => fresh,
        };
        Ok(Choices {
            path: path.map(Path::to_path_buf),
            file,
            dirty: false,
        })
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.file.choices.get(key).map(String::as_str)
    }

    pub(crate) fn set(&mut self, key: String, variant: String) {
        self.file.choices.insert(key, variant);
        self.dirty = true;
    }

    /// Writes the file when something changed.
    pub(crate) fn save(&mut self) -> Result<()> {
        let (Some(path), true) = (&self.path, self.dirty) else {
            return Ok(());
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let text = serde_json::to_string_pretty(&self.file).unwrap_or_default();
        lookup_tables::write_atomic(path, text.as_bytes())
            .map_err(|e| Error::io(path, std::io::Error::other(e.to_string())))?;
        self.dirty = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_survive_a_save_and_belong_to_their_adapter() {
        let dir = std::env::temp_dir().join(format!("moga-tune-{}", std::process::id()));
        let path = dir.join("kernels.json");
        let mut c = Choices::load(Some(&path), "gpu A", "1.0").unwrap();
        assert_eq!(c.get("k"), None);
        c.set("k".into(), "blocked 1x2".into());
        c.save().unwrap();
        let again = Choices::load(Some(&path), "gpu A", "1.0").unwrap();
        assert_eq!(again.get("k"), Some("blocked 1x2"));
        let other = Choices::load(Some(&path), "gpu B", "1.0").unwrap();
        assert_eq!(other.get("k"), None);
        std::fs::write(&path, "not json").unwrap();
        let err = Choices::load(Some(&path), "gpu A", "1.0")
            .unwrap_err()
            .to_string();
        assert!(err.contains("kernels.json"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
