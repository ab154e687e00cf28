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
    fn moga_c10d_nccl(
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
    fn moga_c10d_store_add(
        group: *mut c_void,
        key: *const c_char,
        delta: i64,
        value: *mut i64,
        err: *mut *mut c_char,
    ) -> i32;
}

/// The libtorch version the bridge was compiled against.
pub fn compiled_torch_version() -> String {
    // SAFETY: a static NUL-terminated string.
    unsafe { CStr::from_ptr(moga_c10d_torch_version()) }
        .to_string_lossy()
        .into_owned()
}

/// Takes the bridge's error message (and frees it): its first line, since c10's
/// messages can run to several and the first says what happened.
fn message(err: *mut c_char) -> String {
    if err.is_null() {
        return "failed without a message".into();
    }
    // SAFETY: a NUL-terminated string the bridge allocated with malloc.
    let m = unsafe { CStr::from_ptr(err) }
        .to_string_lossy()
        .into_owned();
    unsafe { moga_c10d_free_message(err) };
    let first = m.lines().next().unwrap_or("").trim();
    // Gloo opens with its source location and closes with advice; the middle says it.
    let first = match first.strip_prefix('[').and_then(|r| r.split_once("] ")) {
        Some((_, rest)) => rest,
        None => first,
    };
    first
        .split(". This is typically")
        .next()
        .unwrap_or(first)
        .to_string()
}

/// The bridge's error as one of ours, saying what failed.
fn take(err: *mut c_char, what: &str) -> Error {
    Error::Distributed(format!("{what}: {}", message(err)))
}

/// Where the ranks meet.
#[derive(Clone, Debug)]
pub enum Rendezvous<'a> {
    /// A file every rank can reach (one host; tests).
    File(&'a Path),
    /// A TCP store at host:port, served by the rank `server` (rank 0 when nobody
    /// else does) or, with `None`, by someone else (torchrun's agent).
    Tcp {
        /// Host of the store.
        host: &'a str,
        /// Port of the store.
        port: u16,
        /// The rank that serves it, if a rank does.
        server: Option<usize>,
    },
}

/// A c10d backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Gloo: CPU tensors (and CUDA ones through host copies); always built.
    Gloo,
    /// NCCL: CUDA tensors; built with the cargo feature `nccl` on CUDA hosts.
    Nccl,
}

impl Backend {
    /// `auto` (NCCL for CUDA tensors where built, else Gloo), `gloo` or `nccl`.
    pub fn choose(name: &str, cuda: bool) -> Result<Backend> {
        match name {
            "auto" if cuda && cfg!(feature = "nccl") => Ok(Backend::Nccl),
            "auto" | "gloo" => Ok(Backend::Gloo),
            "nccl" => Ok(Backend::Nccl),
            _ => Err(Error::Usage(format!(
                "--dist-backend '{name}': expected auto, gloo or nccl"
            ))),
        }
    }

    /// Its name as c10d spells it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Gloo => "gloo",
            Backend::Nccl => "nccl",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Gloo => "Gloo",
            Backend::Nccl => "NCCL",
        })
    }
}

/// A process group: this rank's handle on the collectives.
pub struct ProcessGroup {
    raw: *mut c_void,
    rank: usize,
    size: usize,
    /// The rank whose process serves the store, when one does (a TCP store that rank
    /// 0 serves): if the store is gone, that rank is.
    store_server: Option<usize>,
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
        ProcessGroup::new(Backend::Gloo, rendezvous, prefix, rank, size, timeout)
    }

    /// As [`ProcessGroup::gloo`], on `backend`.
    pub fn new(
        backend: Backend,
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
            Rendezvous::Tcp { host, port, server } => {
                (None, Some(cstr(host)?), port, server == Some(rank))
            }
        };
        let mut err: *mut c_char = std::ptr::null_mut();
        let make = match backend {
            Backend::Gloo => moga_c10d_gloo,
            Backend::Nccl => moga_c10d_nccl,
        };
        // SAFETY: valid C strings (or null) that outlive the call; err is an out-pointer.
        let raw = unsafe {
            make(
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
                &format!("rank {rank} of {size} joining the {backend} group"),
            ));
        }
        let store_server = match rendezvous {
            Rendezvous::Tcp { server, .. } => server,
            Rendezvous::File(_) => None,
        };
        Ok(ProcessGroup {
            raw,
            rank,
            size,
            store_server,
        })
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

    /// Adds `delta` to the counter `key` of the group's store; returns its value.
    pub fn store_add(&self, key: &str, delta: i64) -> Result<i64> {
        let key_c = CString::new(key)
            .map_err(|_| Error::Usage(format!("store key '{key}' holds a NUL byte")))?;
        let (mut value, mut err) = (0i64, std::ptr::null_mut());
        // SAFETY: live group, a C string that outlives the call, out-pointers.
        if unsafe { moga_c10d_store_add(self.raw, key_c.as_ptr(), delta, &mut value, &mut err) }
            != 0
        {
            return Err(take(err, &format!("store key {key}")));
        }
        Ok(value)
    }

    /// After a collective failed here: which ranks are gone. Every rank whose
    /// collective fails announces itself in the store and waits up to `wait` for the
    /// others to do the same; the ranks that never do are named (stopped or stuck).
    /// A store that is gone itself names the rank that served it.
    fn who_stopped(&self, wait: Duration) -> String {
        let announce = self.store_add(&format!("failed/{}", self.rank), 1);
        if announce.is_err() {
            return match self.store_server {
                Some(r) if r != self.rank => format!("rank {r} stopped (it served the store)"),
                _ => "the store is unreachable too (the launcher or rank 0 serving it stopped)"
                    .into(),
            };
        }
        let deadline = std::time::Instant::now() + wait;
        loop {
            let missing: Vec<usize> = (0..self.size)
                .filter(|&r| {
                    r != self.rank && self.store_add(&format!("failed/{r}"), 0).unwrap_or(0) == 0
                })
                .collect();
            if missing.is_empty() {
                return "every rank saw the failure (none stopped)".into();
            }
            if std::time::Instant::now() >= deadline {
                let names: Vec<String> = missing.iter().map(usize::to_string).collect();
                return format!(
                    "rank{} {} stopped or stopped answering",
                    if missing.len() > 1 { "s" } else { "" },
                    names.join(", ")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
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
            return Err(self.failed(err, what));
        }
        Ok(())
    }

    /// One error for a failed collective: what, where, who is gone, and c10d's line.
    fn failed(&self, err: *mut c_char, what: &str) -> Error {
        let cause = message(err);
        let who = self.who_stopped(Duration::from_secs(2));
        Error::Distributed(format!(
            "{what} on rank {} of {}: {who} ({cause})",
            self.rank, self.size
        ))
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
            return Err(self.failed(err, "barrier"));
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

/// Where this process stands in a distributed run, as torchrun (or `moga train
/// --nproc`) describes it in the environment: `RANK`, `WORLD_SIZE`, `LOCAL_RANK`,
/// `MASTER_ADDR`, `MASTER_PORT`, and whether torchrun's agent serves the store
/// (`TORCHELASTIC_USE_AGENT_STORE`: then every rank is a client; else rank 0 serves
/// it, as PyTorch's `env://` does).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    /// This process's rank.
    pub rank: usize,
    /// Ranks in all.
    pub world_size: usize,
    /// The rank on this host (its GPU under `--device auto`).
    pub local_rank: usize,
    /// Host of the store.
    pub host: String,
    /// Port of the store.
    pub port: u16,
    /// torchrun's agent serves the store.
    pub agent_store: bool,
    /// torchrun's restart count (keys of each attempt apart).
    pub restart: u32,
}

impl Launch {
    /// The launch the environment describes; `None` without `WORLD_SIZE` (one
    /// process, nothing distributed). A malformed or missing variable is one error
    /// naming it.
    pub fn from_env() -> Result<Option<Launch>> {
        Launch::from_vars(|k| std::env::var(k).ok())
    }

    /// As [`Launch::from_env`], reading variables through `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Launch>> {
        let Some(world) = var("WORLD_SIZE") else {
            return Ok(None);
        };
        let num = |k: &str, v: Option<String>| -> Result<usize> {
            let v = v.ok_or_else(|| {
                Error::Usage(format!(
                    "WORLD_SIZE is set ({world}) but {k} is not: start the ranks with torchrun or `moga train --nproc N`"
                ))
            })?;
            v.trim()
                .parse()
                .map_err(|_| Error::Usage(format!("{k}='{v}': expected a non-negative integer")))
        };
        let world_size = num("WORLD_SIZE", Some(world.clone()))?;
        let rank = num("RANK", var("RANK"))?;
        let local_rank = match var("LOCAL_RANK") {
            Some(v) => num("LOCAL_RANK", Some(v))?,
            None => rank,
        };
        if world_size == 0 || rank >= world_size {
            return Err(Error::Usage(format!(
                "RANK={rank}, WORLD_SIZE={world_size}: a rank lies in 0..WORLD_SIZE"
            )));
        }
        let host = var("MASTER_ADDR").unwrap_or_else(|| "127.0.0.1".into());
        let port = num("MASTER_PORT", var("MASTER_PORT"))?;
        let port = u16::try_from(port)
            .map_err(|_| Error::Usage(format!("MASTER_PORT={port}: not a TCP port")))?;
        Ok(Some(Launch {
            rank,
            world_size,
            local_rank,
            host,
            port,
            agent_store: var("TORCHELASTIC_USE_AGENT_STORE").as_deref() == Some("True"),
            restart: var("TORCHELASTIC_RESTART_COUNT")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0),
        }))
    }

    /// Joins the group of this launch on `backend`, waiting at most `timeout` for the
    /// others (and, afterwards, for any one collective).
    pub fn join(&self, backend: Backend, timeout: Duration) -> Result<ProcessGroup> {
        ProcessGroup::new(
            backend,
            Rendezvous::Tcp {
                host: &self.host,
                port: self.port,
                server: if self.agent_store { None } else { Some(0) },
            },
            &format!("moga/{}/", self.restart),
            self.rank,
            self.world_size,
            timeout,
        )
        .map_err(|e| match e {
            Error::Distributed(m) => Error::Distributed(format!(
                "{m} (store {}:{}{})",
                self.host,
                self.port,
                if self.agent_store {
                    ", torchrun's agent"
                } else {
                    ", served by rank 0"
                }
            )),
            e => e,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn the_launch_is_read_from_torchruns_variables() {
        assert_eq!(Launch::from_vars(vars(&[])).unwrap(), None);
        let l = Launch::from_vars(vars(&[
            ("WORLD_SIZE", "4"),
            ("RANK", "3"),
            ("LOCAL_RANK", "1"),
            ("MASTER_ADDR", "node0"),
            ("MASTER_PORT", "29500"),
            ("TORCHELASTIC_USE_AGENT_STORE", "True"),
            ("TORCHELASTIC_RESTART_COUNT", "2"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            (l.rank, l.world_size, l.local_rank, l.host.as_str(), l.port),
            (3, 4, 1, "node0", 29500)
        );
        assert!(l.agent_store);
        assert_eq!(l.restart, 2);
        for (bad, needle) in [
            (
                vec![("WORLD_SIZE", "2"), ("MASTER_PORT", "1")],
                "RANK is not",
            ),
            (
                vec![("WORLD_SIZE", "2"), ("RANK", "two"), ("MASTER_PORT", "1")],
                "RANK='two'",
            ),
            (
                vec![("WORLD_SIZE", "2"), ("RANK", "2"), ("MASTER_PORT", "1")],
                "RANK=2, WORLD_SIZE=2",
            ),
            (
                vec![("WORLD_SIZE", "2"), ("RANK", "0"), ("MASTER_PORT", "70000")],
                "MASTER_PORT=70000",
            ),
        ] {
            let e = Launch::from_vars(vars(&bad)).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
    }
}
