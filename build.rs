//! Makes the `moga` binary find libtorch at run time (see build/libtorch_link.rs; the
//! `search` crate's build script does the same for its tests).
include!("build/libtorch_link.rs");

fn main() {
    libtorch_link("rustc-link-arg-bins");
}
