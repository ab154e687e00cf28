//! PyTorch's distributed engine (c10d) from Rust: a Gloo process group made from a c10d
//! store (a `FileStore` on one host, a `TCPStore` across hosts, both under a
//! `PrefixStore`), and the collectives data-parallel training needs: all-reduce (sum)
//! of a list of tensors as one flat bucket, broadcast, barrier. The bridge is
//! `csrc/c10d.cpp`, built against the same libtorch as tch; tensors cross as tch's
//! `as_mut_ptr()`, and every C++ exception comes back as one [`Error::Distributed`].

use std::ffi::{CStr, CString, c_char, c_void};
use std::path::Path;
use std::time::Duration;

use tch::Tensor;

use crate::{Error, Result};

unsafe extern "C" {
    fn moga_c10d_torch_version() -> *const c_char;
    fn moga_c10d_free_message(m: *mut c_char);
    fn moga_c10d_gloo(
        store_path: *const c_char,
        host: *const c_char,
        port: i32,
        serve: i32,
        prefix: *const c_char,
        rank: i32,
        size: i32,
        timeout_ms: i64,
        err: *mut *mut c_char,
    ) -> *mut c_void;
    fn moga_c10d_free(group: *mut c_void);
    fn moga_c10d_footprint(group: *mut c_void) -> usize;
    fn moga_c10d_storage() -> usize;
    fn moga_c10d_backend_name(group: *mut c_void, err: *mut *mut c_char) -> *const c_char;
    fn moga_c10d_allreduce_sum(
        group: *mut c_void,
        tensors: *mut *mut c_void,
        n: i32,
        err: *mut *mut c_char,
    ) -> i32;
    fn moga_c10d_broadcast(
        group: *mut c_void,
        tensors: *mut *mut c_void,
        n: i32,
        root: i32,
        err: *mut *mut c_char,
    ) -> i32;
    fn moga_c10d_barrier(group: *mut c_void, err: *mut *mut c_char) -> i32;
}

/// The libtorch version the bridge was compiled against.
pub fn compiled_torch_version() -> String {
    // SAFETY: a static NUL-terminated string.
    unsafe { CStr::from_ptr(moga_c10d_torch_version()) }
        .to_string_lossy()
        .into_owned()
}

/// Takes the bridge's error message (and frees it).
fn take(err: *mut c_char, what: &str) -> Error {
    if err.is_null() {
        return Error::Distributed(format!("{what} failed without a message"));
    }
    // SAFETY: a NUL-terminated string the bridge allocated with malloc.
    let m = unsafe { CStr::from_ptr(err) }
        .to_string_lossy()
        .into_owned();
    unsafe { moga_c10d_free_message(err) };
    // c10's messages can run to several lines; the first says what happened.
    let first = m.lines().next().unwrap_or("").trim().to_string();
    Error::Distributed(format!("{what}: {first}"))
}

/// Where the ranks meet.
#[derive(Clone, Debug)]
pub enum Rendezvous<'a> {
    /// A file every rank can reach (one host; tests).
    File(&'a Path),
    /// A TCP store at host:port; `serve`: this rank runs the store's server (rank 0
    /// when nobody else does; under torchrun its agent already does).
    Tcp {
        /// Host of the store.
        host: &'a str,
        /// Port of the store.
        port: u16,
        /// Whether this rank serves it.
        serve: bool,
    },
}

/// A Gloo process group: this rank's handle on the collectives.
pub struct ProcessGroup {
    raw: *mut c_void,
    rank: usize,
    size: usize,
}

// SAFETY: c10d backends are thread-safe for use from one thread at a time; the handle
// moves between threads but is never shared (no Sync).
unsafe impl Send for ProcessGroup {}

impl ProcessGroup {
    /// Joins (and with the others forms) the group of `size` ranks as `rank`; keys
    /// in the store are prefixed with `prefix` (one store can host several groups).
    /// Fails after `timeout` when the others do not come.
    pub fn gloo(
        rendezvous: Rendezvous,
        prefix: &str,
        rank: usize,
        size: usize,
        timeout: Duration,
    ) -> Result<ProcessGroup> {
        if size == 0 || rank >= size {
            return Err(Error::Usage(format!(
                "rank {rank} of a world of {size}: a rank lies in 0..world size"
            )));
        }
        let cstr =
            |s: &str| CString::new(s).map_err(|_| Error::Usage(format!("'{s}' holds a NUL byte")));
        let prefix_c = cstr(prefix)?;
        let (path_c, host_c, port, serve) = match rendezvous {
            Rendezvous::File(p) => (Some(cstr(&p.to_string_lossy())?), None, 0, false),
            Rendezvous::Tcp { host, port, serve } => (None, Some(cstr(host)?), port, serve),
        };
        let mut err: *mut c_char = std::ptr::null_mut();
        // SAFETY: valid C strings (or null) that outlive the call; err is an out-pointer.
        let raw = unsafe {
            moga_c10d_gloo(
                path_c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
                host_c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
                i32::from(port),
                i32::from(serve),
                prefix_c.as_ptr(),
                rank as i32,
                size as i32,
                timeout.as_millis().min(i64::MAX as u128) as i64,
                &mut err,
            )
        };
        if raw.is_null() {
            return Err(take(
                err,
                &format!("rank {rank} of {size} joining the Gloo group"),
            ));
        }
        Ok(ProcessGroup { raw, rank, size })
    }

    /// This rank.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// Ranks in the group.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The backend's name as c10d gives it ("gloo").
    pub fn backend_name(&self) -> Result<String> {
        let mut err: *mut c_char = std::ptr::null_mut();
        // SAFETY: a live group; the returned string lives until the next call here.
        let p = unsafe { moga_c10d_backend_name(self.raw, &mut err) };
        if p.is_null() {
            return Err(take(err, "backend name"));
        }
        Ok(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }

    /// Bytes of its storage the Gloo object's constructor wrote, and the storage's
    /// size: the object must fit well inside (see csrc/c10d.cpp).
    pub fn footprint(&self) -> (usize, usize) {
        // SAFETY: a live group.
        unsafe { (moga_c10d_footprint(self.raw), moga_c10d_storage()) }
    }

    fn collective(
        &self,
        tensors: &mut [&mut Tensor],
        what: &str,
        f: impl FnOnce(*mut *mut c_void, i32, *mut *mut c_char) -> i32,
    ) -> Result<()> {
        let mut ptrs: Vec<*mut c_void> = tensors
            .iter_mut()
            .map(|t| t.as_mut_ptr() as *mut c_void)
            .collect();
        let mut err: *mut c_char = std::ptr::null_mut();
        if f(ptrs.as_mut_ptr(), ptrs.len() as i32, &mut err) != 0 {
            return Err(take(
                err,
                &format!("{what} on rank {} of {}", self.rank, self.size),
            ));
        }
        Ok(())
    }

    /// Sums `tensors` (one dtype, any shapes) over the ranks, in place: every rank ends
    /// with the same sums. One flat bucket, one collective.
    pub fn all_reduce_sum(&self, tensors: &mut [&mut Tensor]) -> Result<()> {
        let raw = self.raw;
        // SAFETY: live group, tch tensors (at::Tensor*), err out-pointer.
        self.collective(tensors, "all-reduce", |p, n, e| unsafe {
            moga_c10d_allreduce_sum(raw, p, n, e)
        })
    }

    /// Every rank's `tensors` take rank `root`'s values.
    pub fn broadcast(&self, tensors: &mut [&mut Tensor], root: usize) -> Result<()> {
        let raw = self.raw;
        // SAFETY: as above.
        self.collective(tensors, "broadcast", |p, n, e| unsafe {
            moga_c10d_broadcast(raw, p, n, root as i32, e)
        })
    }

    /// Returns once every rank has reached it.
    pub fn barrier(&self) -> Result<()> {
        let mut err: *mut c_char = std::ptr::null_mut();
        // SAFETY: live group.
        if unsafe { moga_c10d_barrier(self.raw, &mut err) } != 0 {
            return Err(take(
                err,
                &format!("barrier on rank {} of {}", self.rank, self.size),
            ));
        }
        Ok(())
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        // SAFETY: created by moga_c10d_gloo, freed once.
        unsafe { moga_c10d_free(self.raw) }
    }
}
