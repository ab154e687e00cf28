//! Tensors as the runner holds them: a shape and float32 data (int64 for shape-like
//! inputs such as Reshape's) that the compute backends use, or the little-endian bytes
//! of any other fixed-size element type, which ONNX Runtime takes as they are.
//! Conversion from and to `TensorProto` checks every size before allocating, so a
//! hostile or corrupt file costs an error, not memory.

use crate::error::{Error, Result};
use crate::onnx::proto::TensorProto;
use crate::onnx::proto::tensor_proto::DataType;

/// Most elements a tensor may have (4 GiB of float32).
pub const MAX_ELEMENTS: usize = 1 << 30;

/// Element types the runner computes with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElemType {
    /// 32-bit float: every activation and weight.
    F32,
    /// 64-bit integer: shapes and indices.
    I64,
    /// Any other fixed-size element type, by its `TensorProto.DataType` code.
    Other(i32),
}

/// A tensor's elements.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    /// float32 elements.
    F32(Vec<f32>),
    /// int64 elements.
    I64(Vec<i64>),
    /// Elements of another type as little-endian bytes (`TensorProto.DataType` code).
    Raw {
        /// The element type's code.
        dtype: i32,
        /// `numel × element size` bytes.
        bytes: Vec<u8>,
    },
}

/// Bytes per element of a `TensorProto.DataType`, for the fixed-size types the runner
/// passes through (`None`: strings, complex, sub-byte and 8-bit float types).
pub fn element_size(dtype: i32) -> Option<usize> {
    match DataType::try_from(dtype).ok()? {
        DataType::Float | DataType::Int32 | DataType::Uint32 => Some(4),
        DataType::Uint8 | DataType::Int8 | DataType::Bool => Some(1),
        DataType::Uint16 | DataType::Int16 | DataType::Float16 | DataType::Bfloat16 => Some(2),
        DataType::Int64 | DataType::Uint64 | DataType::Double => Some(8),
        _ => None,
    }
}

/// A dense row-major tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Dimensions, outermost first; empty for a scalar.
    pub shape: Vec<usize>,
    /// Elements, row-major.
    pub data: TensorData,
}

/// Product of `dims`, or `None` when it overflows or passes [`MAX_ELEMENTS`].
pub fn checked_numel(dims: &[usize]) -> Option<usize> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS)
}

impl Tensor {
    /// A float tensor; `data.len()` must equal the shape's product.
    pub fn f32(shape: Vec<usize>, data: Vec<f32>) -> Tensor {
        assert_eq!(
            checked_numel(&shape),
            Some(data.len()),
            "shape {shape:?} does not match {} elements",
            data.len()
        );
        Tensor {
            shape,
            data: TensorData::F32(data),
        }
    }

    /// An int64 tensor; `data.len()` must equal the shape's product.
    pub fn i64(shape: Vec<usize>, data: Vec<i64>) -> Tensor {
        assert_eq!(
            checked_numel(&shape),
            Some(data.len()),
            "shape {shape:?} does not match {} elements",
            data.len()
        );
        Tensor {
            shape,
            data: TensorData::I64(data),
        }
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The element type.
    pub fn elem_type(&self) -> ElemType {
        match self.data {
            TensorData::F32(_) => ElemType::F32,
            TensorData::I64(_) => ElemType::I64,
            TensorData::Raw { dtype, .. } => ElemType::Other(dtype),
        }
    }

    /// The `TensorProto.DataType` code.
    pub fn dtype(&self) -> i32 {
        match self.data {
            TensorData::F32(_) => DataType::Float as i32,
            TensorData::I64(_) => DataType::Int64 as i32,
            TensorData::Raw { dtype, .. } => dtype,
        }
    }

    /// The elements as little-endian bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        match &self.data {
            TensorData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::Raw { bytes, .. } => bytes.clone(),
        }
    }

    /// A tensor of type `dtype` from little-endian bytes (float32 and int64 become typed).
    pub fn from_bytes(shape: Vec<usize>, dtype: i32, bytes: &[u8]) -> Result<Tensor> {
        let n = checked_numel(&shape)
            .ok_or_else(|| Error::tensor("(bytes)", format!("shape {shape:?} is too large")))?;
        let size = element_size(dtype).ok_or_else(|| {
            Error::tensor("(bytes)", format!("element type {dtype} is not supported"))
        })?;
        if bytes.len() != n * size {
            return Err(Error::tensor(
                "(bytes)",
                format!("{} bytes for {n} elements of {size} bytes", bytes.len()),
            ));
        }
        let data = match DataType::try_from(dtype) {
            Ok(DataType::Float) => TensorData::F32(
                decode_raw::<4, f32>(bytes, n, f32::from_le_bytes)
                    .map_err(|m| Error::tensor("(bytes)", m))?,
            ),
            Ok(DataType::Int64) => TensorData::I64(
                decode_raw::<8, i64>(bytes, n, i64::from_le_bytes)
                    .map_err(|m| Error::tensor("(bytes)", m))?,
            ),
            _ => TensorData::Raw {
                dtype,
                bytes: bytes.to_vec(),
            },
        };
        Ok(Tensor { shape, data })
    }

    /// The float elements, or `None` for another type.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            TensorData::F32(v) => Some(v),
            _ => None,
        }
    }

    /// The int64 elements, or `None` for another type.
    pub fn as_i64(&self) -> Option<&[i64]> {
        match &self.data {
            TensorData::I64(v) => Some(v),
            _ => None,
        }
    }

    /// The elements as f64, for comparing any numeric type (float16 and bfloat16
    /// widened, booleans as 0 and 1).
    pub fn to_f64(&self) -> Option<Vec<f64>> {
        let b = self.to_bytes();
        let chunks = |w: usize| b.chunks_exact(w);
        Some(match DataType::try_from(self.dtype()).ok()? {
            DataType::Float => chunks(4)
                .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            DataType::Double => chunks(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
            DataType::Float16 => chunks(2)
                .map(|c| f64::from(half::f16::from_le_bytes([c[0], c[1]]).to_f32()))
                .collect(),
            DataType::Bfloat16 => chunks(2)
                .map(|c| {
                    f64::from(f32::from_bits(
                        u32::from(u16::from_le_bytes([c[0], c[1]])) << 16,
                    ))
                })
                .collect(),
            DataType::Int8 => b.iter().map(|&x| f64::from(x as i8)).collect(),
            DataType::Uint8 | DataType::Bool => b.iter().map(|&x| f64::from(x)).collect(),
            DataType::Int16 => chunks(2)
                .map(|c| f64::from(i16::from_le_bytes([c[0], c[1]])))
                .collect(),
            DataType::Uint16 => chunks(2)
                .map(|c| f64::from(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
            DataType::Int32 => chunks(4)
                .map(|c| f64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            DataType::Uint32 => chunks(4)
                .map(|c| f64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            DataType::Int64 => chunks(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f64)
                .collect(),
            DataType::Uint64 => chunks(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f64)
                .collect(),
            _ => return None,
        })
    }

    /// Reads a `TensorProto` (float or int64; `raw_data` or the typed fields).
    pub fn from_proto(p: &TensorProto) -> Result<Tensor> {
        let name = if p.name.as_deref().unwrap_or("").is_empty() {
            "(unnamed)"
        } else {
            p.name.as_deref().unwrap_or_default()
        };
        let err = |m: String| Error::tensor(name, m);
        if p.data_location == Some(1) {
            return Err(err(
                "external data is not supported (save the model with its weights inside)".into(),
            ));
        }
        let shape: Vec<usize> = p
            .dims
            .iter()
            .map(|&d| {
                usize::try_from(d)
                    .map_err(|_| err(format!("negative dimension {d} in {:?}", p.dims)))
            })
            .collect::<Result<_>>()?;
        let n = checked_numel(&shape).ok_or_else(|| {
            err(format!(
                "shape {shape:?} has more than {MAX_ELEMENTS} elements"
            ))
        })?;
        let raw = p.raw_data.as_deref().filter(|r| !r.is_empty() || n == 0);
        let code = p.data_type.unwrap_or(0);
        let dtype =
            DataType::try_from(code).map_err(|_| err(format!("unknown element type {code}")))?;
        let size = element_size(code).ok_or_else(|| {
            err(format!(
                "element type {} is not supported",
                dtype.as_str_name()
            ))
        })?;
        let data = match (dtype, raw) {
            (_, Some(r)) => {
                if r.len() != n * size {
                    return Err(err(format!(
                        "raw_data has {} bytes, its shape needs {}",
                        r.len(),
                        n * size
                    )));
                }
                return Tensor::from_bytes(shape, code, r).map_err(|e| match e {
                    Error::Tensor { message, .. } => err(message),
                    other => other,
                });
            }
            (DataType::Float, None) => {
                TensorData::F32(expect_len(p.float_data.clone(), n).map_err(err)?)
            }
            (DataType::Int64, None) => {
                TensorData::I64(expect_len(p.int64_data.clone(), n).map_err(err)?)
            }
            (DataType::Double, None) => {
                let v = expect_len(p.double_data.clone(), n).map_err(err)?;
                TensorData::Raw {
                    dtype: code,
                    bytes: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                }
            }
            (DataType::Uint32 | DataType::Uint64, None) => {
                let v = expect_len(p.uint64_data.clone(), n).map_err(err)?;
                TensorData::Raw {
                    dtype: code,
                    bytes: v
                        .iter()
                        .flat_map(|x| x.to_le_bytes()[..size].to_vec())
                        .collect(),
                }
            }
            // int32_data carries every narrower integer type, bool, and the bits of
            // float16 and bfloat16.
            (_, None) => {
                let v = expect_len(p.int32_data.clone(), n).map_err(err)?;
                TensorData::Raw {
                    dtype: code,
                    bytes: v
                        .iter()
                        .flat_map(|x| x.to_le_bytes()[..size].to_vec())
                        .collect(),
                }
            }
        };
        Ok(Tensor { shape, data })
    }

    /// The `TensorProto` of this tensor, data in `raw_data` (little-endian).
    pub fn to_proto(&self, name: &str) -> TensorProto {
        let raw_data = self.to_bytes();
        TensorProto {
            dims: self.shape.iter().map(|&d| d as i64).collect(),
            data_type: Some(self.dtype()),
            name: Some(name.to_string()),
            raw_data: Some(raw_data),
            ..TensorProto::default()
        }
    }
}

fn expect_len<T>(v: Vec<T>, n: usize) -> std::result::Result<Vec<T>, String> {
    if v.len() == n {
        Ok(v)
    } else {
        Err(format!("holds {} elements, its shape needs {n}", v.len()))
    }
}

fn decode_raw<const B: usize, T>(
    raw: &[u8],
    n: usize,
    f: fn([u8; B]) -> T,
) -> std::result::Result<Vec<T>, String> {
    if raw.len() != n * B {
        return Err(format!(
            "raw_data has {} bytes, its shape needs {}",
            raw.len(),
            n * B
        ));
    }
    Ok(raw
        .chunks_exact(B)
        .map(|c| f(c.try_into().expect("chunks_exact gives B bytes")))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn other_types_pass_through_as_bytes() {
        let p = TensorProto {
            dims: vec![3],
            data_type: Some(5),
            int32_data: vec![-2, 0, 300],
            ..TensorProto::default()
        };
        let t = Tensor::from_proto(&p).unwrap();
        assert_eq!(t.to_f64().unwrap(), vec![-2.0, 0.0, 300.0]);
        assert_eq!(Tensor::from_proto(&t.to_proto("x")).unwrap(), t);
        let h = TensorProto {
            dims: vec![4],
            data_type: Some(10),
            int32_data: vec![0x3c00, 0xc000, 0x0001, 0x7c00],
            ..TensorProto::default()
        };
        let v = Tensor::from_proto(&h).unwrap().to_f64().unwrap();
        assert_eq!(&v[..2], &[1.0, -2.0]);
        assert!((v[2] - 5.960464477539063e-8).abs() < 1e-15 && v[3].is_infinite());
    }

    proptest! {
        #[test]
        fn protos_round_trip(shape in prop::collection::vec(0usize..5, 0..4), seed in any::<u32>()) {
            let n = shape.iter().product::<usize>();
            let data: Vec<f32> = (0..n).map(|i| (i as f32 + seed as f32).sin()).collect();
            let t = Tensor::f32(shape.clone(), data);
            prop_assert_eq!(Tensor::from_proto(&t.to_proto("x")).unwrap(), t);
            let ints = Tensor::i64(shape, (0..n as i64).collect());
            prop_assert_eq!(Tensor::from_proto(&ints.to_proto("s")).unwrap(), ints);
        }
    }

    #[test]
    fn sizes_are_checked_before_allocating() {
        let huge = TensorProto {
            dims: vec![1 << 20, 1 << 20],
            data_type: Some(1),
            name: Some("w".into()),
            ..TensorProto::default()
        };
        let err = Tensor::from_proto(&huge).unwrap_err().to_string();
        assert!(
            err.contains("tensor 'w'") && err.contains("more than"),
            "{err}"
        );
        let short = TensorProto {
            dims: vec![4],
            data_type: Some(1),
            raw_data: Some(vec![0; 12]),
            ..TensorProto::default()
        };
        assert!(
            Tensor::from_proto(&short)
                .unwrap_err()
                .to_string()
                .contains("raw_data has 12 bytes, its shape needs 16")
        );
        let neg = TensorProto {
            dims: vec![-1],
            data_type: Some(1),
            ..TensorProto::default()
        };
        assert!(
            Tensor::from_proto(&neg)
                .unwrap_err()
                .to_string()
                .contains("negative dimension")
        );
        let s = TensorProto {
            dims: vec![1],
            data_type: Some(8),
            ..TensorProto::default()
        };
        assert!(
            Tensor::from_proto(&s)
                .unwrap_err()
                .to_string()
                .contains("STRING")
        );
    }
}
