//! ONNX model and tensor files: the protobuf types generated from the vendored
//! `proto/onnx.proto`, reading and writing them with size caps, and a builder that emits
//! moga's unit and network models.

pub mod builder;
pub mod tensor;

use std::path::Path;

use prost::Message;

use crate::error::{Error, Result};

pub use tensor::{ElemType, MAX_ELEMENTS, Tensor, TensorData};

/// The protobuf types of `onnx.proto` (package `onnx`).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
}

/// Largest model file read: protobuf itself cannot encode more than 2 GiB.
pub const MAX_MODEL_BYTES: u64 = 2 << 30;

/// Largest tensor file read (a `.pb` input or output).
pub const MAX_TENSOR_BYTES: u64 = 1 << 30;

fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>> {
    let len = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    if len > cap {
        return Err(Error::io(
            path,
            std::io::Error::other(format!(
                "{len} bytes is more than the {cap} this runner reads"
            )),
        ));
    }
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// Reads a model file.
pub fn read_model(path: &Path) -> Result<proto::ModelProto> {
    decode_model(
        &read_capped(path, MAX_MODEL_BYTES)?,
        &path.display().to_string(),
    )
}

/// Decodes model bytes; `what` names the source in errors.
pub fn decode_model(bytes: &[u8], what: &str) -> Result<proto::ModelProto> {
    proto::ModelProto::decode(bytes).map_err(|e| Error::Model {
        model: what.to_string(),
        message: format!("not an ONNX model: {e}"),
    })
}

/// Encodes a model.
pub fn encode_model(model: &proto::ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

/// Writes a model atomically.
pub fn write_model(path: &Path, model: &proto::ModelProto) -> Result<()> {
    write_file(path, &encode_model(model))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    lookup_tables::write_atomic(path, bytes).map_err(|e| match e {
        lookup_tables::Error::Io { path, error } => Error::Io { path, error },
        other => Error::io(path, std::io::Error::other(other.to_string())),
    })
}

/// Reads a tensor file (`TensorProto`, the format of ONNX's backend test data).
pub fn read_tensor(path: &Path) -> Result<Tensor> {
    let bytes = read_capped(path, MAX_TENSOR_BYTES)?;
    let proto = proto::TensorProto::decode(bytes.as_slice()).map_err(|e| {
        Error::tensor(
            path.display().to_string(),
            format!("not a TensorProto: {e}"),
        )
    })?;
    Tensor::from_proto(&proto).map_err(|e| match e {
        Error::Tensor { name, message } => {
            Error::tensor(format!("{name}' in '{}", path.display()), message)
        }
        other => other,
    })
}

/// Writes a tensor file atomically, named `name` inside.
pub fn write_tensor(path: &Path, name: &str, tensor: &Tensor) -> Result<()> {
    write_file(path, &tensor.to_proto(name).encode_to_vec())
}
