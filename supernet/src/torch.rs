//! What libtorch this build runs on (its version) and its CPU threads; `moga doctor`'s
//! report of it (CUDA devices, a computation checked) is the `moga-torch` helper's.

/// The libtorch version this crate was built against.
pub const LIBTORCH_VERSION: &str = env!("MOGA_LIBTORCH_VERSION");

/// Sets libtorch's intra-op CPU threads (0 leaves its default, one per core).
pub fn set_threads(threads: usize) {
    if threads > 0 {
        tch::set_num_threads(threads as i32);
    }
}

/// Intra-op CPU threads libtorch uses now.
pub fn threads() -> usize {
    tch::get_num_threads().max(1) as usize
}
