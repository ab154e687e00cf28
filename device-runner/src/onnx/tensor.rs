//! Tensors as the runner holds them: a shape and float32 data (int64 for shape-like
//! inputs such as Reshape's). Conversion from and to `TensorProto` checks every size
//! before allocating, so a hostile or corrupt file costs an error, not memory.

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
}

/// A tensor's elements.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    /// float32 elements.
    F32(Vec<f32>),
    /// int64 elements.
    I64(Vec<i64>),
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
        match &self.data {
            TensorData::F32(v) => v.len(),
            TensorData::I64(v) => v.len(),
        }
    }

    /// The element type.
    pub fn elem_type(&self) -> ElemType {
        match self.data {
            TensorData::F32(_) => ElemType::F32,
            TensorData::I64(_) => ElemType::I64,
        }
    }

    /// The float elements, or `None` for an int64 tensor.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            TensorData::F32(v) => Some(v),
            TensorData::I64(_) => None,
        }
    }

    /// The int64 elements, or `None` for a float tensor.
    pub fn as_i64(&self) -> Option<&[i64]> {
        match &self.data {
            TensorData::I64(v) => Some(v),
            TensorData::F32(_) => None,
        }
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
        let raw = p.raw_data.as_deref().filter(|r| !r.is_empty());
        let data = match DataType::try_from(p.data_type.unwrap_or(0)) {
            Ok(DataType::Float) => TensorData::F32(match raw {
                Some(r) => decode_raw::<4, f32>(r, n, f32::from_le_bytes).map_err(err)?,
                None => expect_len(p.float_data.clone(), n).map_err(err)?,
            }),
            Ok(DataType::Int64) => TensorData::I64(match raw {
                Some(r) => decode_raw::<8, i64>(r, n, i64::from_le_bytes).map_err(err)?,
                None => expect_len(p.int64_data.clone(), n).map_err(err)?,
            }),
            Ok(other) => {
                return Err(err(format!(
                    "element type {} is not supported (float32 and int64 are)",
                    other.as_str_name()
                )));
            }
            Err(_) => {
                return Err(err(format!(
                    "unknown element type {}",
                    p.data_type.unwrap_or(0)
                )));
            }
        };
        Ok(Tensor { shape, data })
    }

    /// The `TensorProto` of this tensor, data in `raw_data` (little-endian).
    pub fn to_proto(&self, name: &str) -> TensorProto {
        let (data_type, raw_data) = match &self.data {
            TensorData::F32(v) => (
                DataType::Float,
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
            TensorData::I64(v) => (
                DataType::Int64,
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
        };
        TensorProto {
            dims: self.shape.iter().map(|&d| d as i64).collect(),
            data_type: Some(data_type as i32),
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
        let f16 = TensorProto {
            dims: vec![1],
            data_type: Some(10),
            ..TensorProto::default()
        };
        assert!(
            Tensor::from_proto(&f16)
                .unwrap_err()
                .to_string()
                .contains("FLOAT16")
        );
    }
}
