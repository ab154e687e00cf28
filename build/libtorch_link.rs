// Shared by the build scripts of the packages whose binaries link libtorch (the
// `moga-torch` helper and `supernet`, for its tests), via `include!`.
//
// torch-sys links libtorch but gives the final binaries no rpath, so they would need
// LD_LIBRARY_PATH. This adds an rpath to `$LIBTORCH/lib`, records the libtorch version
// for `moga doctor`, and, where the CUDA libraries are installed (`scripts/setup.sh
// --cuda`), keeps libtorch_cuda linked: the linker's --as-needed would otherwise drop it
// (nothing references it directly) and CUDA would look absent at run time.

#[allow(dead_code)]
fn libtorch_link(directive: &str) {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let Some(root) = std::env::var_os("LIBTORCH").map(std::path::PathBuf::from) else {
        println!("cargo:rustc-env=MOGA_LIBTORCH_VERSION=unknown");
        return;
    };
    let lib = root.join("lib");
    println!("cargo:{directive}=-Wl,-rpath,{}", lib.display());
    let version = std::fs::read_to_string(root.join("version.py"))
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("__version__ = ").map(|v| v.trim_matches(['\'', '"']).to_string()))
        })
        .or_else(|| std::fs::read_to_string(root.join("build-version")).ok().map(|v| v.trim().to_string()))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=MOGA_LIBTORCH_VERSION={version}");
    let nvidia = root.join("..").join("nvidia");
    let has_cuda_libs = ["cu13/lib", "cublas/lib"].iter().any(|d| {
        std::fs::read_dir(nvidia.join(d))
            .map(|rd| rd.flatten().any(|e| e.file_name().to_string_lossy().starts_with("libcublas")))
            .unwrap_or(false)
    });
    if has_cuda_libs && lib.join("libtorch_cuda.so").exists() {
        println!("cargo:{directive}=-Wl,--no-as-needed");
        println!("cargo:{directive}=-ltorch_cuda");
        println!("cargo:{directive}=-Wl,--as-needed");
    }
}
