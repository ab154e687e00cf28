//! Makes this crate's test binaries find libtorch at run time. The `moga` binary has a
//! twin of this script (the root build.rs): cargo applies link arguments only to the
//! package that prints them.
include!("../build/libtorch_link.rs");

fn main() {
    libtorch_link("rustc-link-arg");
}
