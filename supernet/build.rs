//! Makes this crate's test binaries find libtorch at run time (the `moga` binary's
//! helper has a twin of this script: cargo applies link arguments only to the package
//! that prints them), and builds the c10d bridge (csrc/c10d.cpp) against the same
//! libtorch, with the include paths and flags torch-sys uses for its own wrapper.
include!("../build/libtorch_link.rs");

fn main() {
    libtorch_link("rustc-link-arg");
    println!("cargo:rerun-if-changed=csrc/c10d.cpp");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let Some(root) = std::env::var_os("LIBTORCH").map(std::path::PathBuf::from) else {
        panic!(
            "LIBTORCH is not set: run scripts/setup.sh (it fills .deps/libtorch, which .cargo/config.toml names)"
        );
    };
    // A different libtorch under .deps rebuilds the bridge (its declarations must match
    // the library they call).
    println!(
        "cargo:rerun-if-changed={}",
        root.join("version.py").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        root.join("include/torch/headeronly/version.h").display()
    );
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    let mut build = cc::Build::new();
    if std::env::var_os("CARGO_FEATURE_NCCL").is_some() {
        // The NCCL backend's constructors live in libtorch_cuda; a link-lib (unlike a
        // link-arg) reaches every binary that links this crate.
        build.define("MOGA_NCCL", None);
        println!("cargo:rustc-link-lib=dylib=torch_cuda");
    }
    build
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(root.join("include"))
        .include(root.join("include/torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .file("csrc/c10d.cpp")
        .compile("moga_c10d");
}
