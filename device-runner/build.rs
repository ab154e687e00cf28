//! Compiles the vendored ONNX schema (proto/onnx.proto) into Rust types with protox and
//! prost-build: pure Rust, no protoc, and the same on every host building for Android.

fn main() {
    println!("cargo:rerun-if-changed=proto/onnx.proto");
    let files = match protox::compile(["onnx.proto"], ["proto"]) {
        Ok(f) => f,
        Err(e) => panic!("proto/onnx.proto does not compile: {e}"),
    };
    if let Err(e) = prost_build::Config::new().compile_fds(files) {
        panic!("generating Rust from proto/onnx.proto failed: {e}");
    }
}
