//! Finding and checking the ONNX Runtime shared library.
//!
//! `ort` is built with `load-dynamic`: the library is opened at run time, which is how it
//! ships to a phone (next to the runner) and how the host uses the PyPI wheel's copy.
//! `ort` panics when its first call cannot load the library, so everything here checks
//! the file first (exists, opens, exports `OrtGetApiBase`, has a version `ort` can use)
//! and returns an error that names the file.
//!
//! Search order: an explicit path (`--ort-lib`), then `ORT_DYLIB_PATH`, then
//! `libonnxruntime.so` next to the running binary, then the `ORT_DYLIB_PATH` the binary
//! was built with (scripts/setup.sh's copy under `.deps/`, so host binaries of a
//! checkout work from any shell).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The ONNX Runtime API version `ort` is built against (feature `api-31`): the library's
/// minor version must be at least this.
pub const REQUIRED_MINOR: u32 = 31;

/// The file name looked for next to the binary.
pub const LIB_NAME: &str = if cfg!(target_os = "macos") {
    "libonnxruntime.dylib"
} else if cfg!(windows) {
    "onnxruntime.dll"
} else {
    "libonnxruntime.so"
};

/// A library that passed the checks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrtLibrary {
    /// The file.
    pub path: PathBuf,
    /// Where the path came from: `--ort-lib`, `ORT_DYLIB_PATH` or `next to the runner`.
    pub source: String,
    /// The library's version, e.g. `1.31.1`.
    pub version: String,
}

/// Where to look, in order, as `(path, source)`.
pub fn candidates(explicit: Option<&Path>) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    if let Some(p) = explicit {
        out.push((p.to_path_buf(), "--ort-lib".to_string()));
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        out.push((PathBuf::from(p), "ORT_DYLIB_PATH".to_string()));
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        out.push((dir.join(LIB_NAME), "next to the runner".to_string()));
    }
    if let Some(p) = option_env!("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        out.push((PathBuf::from(p), "the build's ORT_DYLIB_PATH".to_string()));
    }
    out
}

/// Finds the library: the first candidate that exists is checked and used (an explicit
/// path that is wrong is an error, not a reason to fall through to another library).
pub fn locate(explicit: Option<&Path>) -> Result<OrtLibrary> {
    let list = candidates(explicit);
    for (i, (path, source)) in list.iter().enumerate() {
        if path.exists() || i == 0 && explicit.is_some() {
            return probe(path, source);
        }
    }
    Err(Error::OrtNotFound {
        tried: list
            .iter()
            .map(|(p, s)| format!("{} ({s})", p.display()))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Splits `1.31.1` into `(1, 31)`.
pub fn parse_version(v: &str) -> Option<(u32, u32)> {
    let mut it = v.trim().split('.');
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

/// Checks one file: it must exist, load, export `OrtGetApiBase` and report a version
/// whose minor is at least [`REQUIRED_MINOR`].
#[cfg(feature = "ort")]
pub fn probe(path: &Path, source: &str) -> Result<OrtLibrary> {
    let fail = |message: String| Error::OrtLibrary {
        path: path.to_path_buf(),
        message,
    };
    if !path.is_file() {
        return Err(fail(format!("no such file (from {source})")));
    }
    let version = read_version(path).map_err(fail)?;
    match parse_version(&version) {
        Some((1, minor)) if minor >= REQUIRED_MINOR => {}
        _ => {
            return Err(fail(format!(
                "version {version} is too old or unknown: this runner needs ONNX Runtime 1.{REQUIRED_MINOR} or newer"
            )));
        }
    }
    Ok(OrtLibrary {
        path: path.to_path_buf(),
        source: source.to_string(),
        version,
    })
}

/// Checks one file.
#[cfg(not(feature = "ort"))]
pub fn probe(_path: &Path, _source: &str) -> Result<OrtLibrary> {
    Err(Error::NotCompiled { backend: "ort" })
}

/// Opens the library on its own (not through `ort`, which would panic on failure) and
/// asks it for its version string.
#[cfg(feature = "ort")]
fn read_version(path: &Path) -> std::result::Result<String, String> {
    use std::ffi::{CStr, c_char};

    // SAFETY: loading a shared library runs its initialisers; this is the library the
    // user pointed us at to run models with, so running its code is the intent.
    let lib =
        unsafe { libloading::Library::new(path) }.map_err(|e| format!("cannot be loaded: {e}"))?;
    type GetApiBase = unsafe extern "C" fn() -> *const ort::sys::OrtApiBase;
    // SAFETY: `OrtGetApiBase` has this signature in every ONNX Runtime release
    // (onnxruntime_c_api.h); a library without the symbol is reported, not called.
    let get: libloading::Symbol<GetApiBase> = unsafe { lib.get(b"OrtGetApiBase\0") }
        .map_err(|_| "does not export OrtGetApiBase: not an ONNX Runtime library".to_string())?;
    // SAFETY: the API base is a static table owned by the library, and
    // GetVersionString returns a static NUL-terminated string.
    let version = unsafe {
        let base = get();
        if base.is_null() {
            return Err("OrtGetApiBase returned null".into());
        }
        let s: *const c_char = ((*base).GetVersionString)();
        if s.is_null() {
            return Err("GetVersionString returned null".into());
        }
        CStr::from_ptr(s).to_string_lossy().into_owned()
    };
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        assert_eq!(parse_version("1.31.1"), Some((1, 31)));
        assert_eq!(parse_version("1.9"), Some((1, 9)));
        assert_eq!(parse_version("x"), None);
    }

    #[test]
    fn a_wrong_explicit_path_is_named_not_skipped() {
        let err = locate(Some(Path::new("/nonexistent/libonnxruntime.so")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/libonnxruntime.so"), "{err}");
    }

    #[cfg(feature = "ort")]
    #[test]
    fn a_file_that_is_not_a_library_is_refused() {
        let p = std::env::temp_dir().join(format!("not-ort-{}.so", std::process::id()));
        std::fs::write(&p, b"not an ELF file").unwrap();
        let err = probe(&p, "test").unwrap_err().to_string();
        std::fs::remove_file(&p).unwrap();
        assert!(err.contains("cannot be loaded"), "{err}");
    }
}
