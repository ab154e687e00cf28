//! `moga`: hardware-aware neural architecture search for phone GPUs, as one binary.
//!
//! Parsing and dispatch live in the library (`src/lib.rs`), each command in `cmd/`, the
//! work in the crates. This binary links no libtorch: the commands that need it are
//! handed to the `moga-torch` helper beside it.

use std::process::ExitCode;

fn main() -> ExitCode {
    moga::main_with(&moga::torch::Helper)
}
