//! Makes the `moga-torch` binary find libtorch at run time (see build/libtorch_link.rs).
include!("../build/libtorch_link.rs");

fn main() {
    libtorch_link("rustc-link-arg-bins");
}
