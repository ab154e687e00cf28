//! The ONNX Runtime backend: the same ONNX files as the wgpu backend, run by ONNX Runtime
//! loaded at run time (`ort` with `load-dynamic`).
//!
//! The library is checked before `ort` touches it ([`crate::ort_lib`]), because `ort`
//! panics on a library it cannot load. One library and one ONNX Runtime environment
//! serve the whole process. Tensors cross as bytes with their element type, so every
//! fixed-size type ONNX defines passes through, not only float32.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use ort::ep;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::{DynTensor, DynTensorValueType, DynValue, TensorElementType};

use crate::backend::{ExecutionProvider, OptLevel};
use crate::bench::Sample;
use crate::error::{Error, Result};
use crate::onnx::Tensor;
use crate::ort_lib::{self, OrtLibrary};
use crate::protocol::NodeTime;

/// How to run models on ONNX Runtime.
#[derive(Clone, Debug)]
pub struct OrtOptions {
    /// The library (else `ORT_DYLIB_PATH`, else next to the binary).
    pub lib: Option<PathBuf>,
    /// The execution provider.
    pub ep: ExecutionProvider,
    /// Intra-op threads (ONNX Runtime's CPU kernels).
    pub threads: usize,
    /// Graph optimisation.
    pub opt_level: OptLevel,
    /// Write ONNX Runtime's profile (per-node kernel times) under this prefix.
    pub profile: Option<PathBuf>,
}

impl Default for OrtOptions {
    fn default() -> Self {
        OrtOptions {
            lib: None,
            ep: ExecutionProvider::Cpu,
            threads: 1,
            opt_level: OptLevel::All,
            profile: None,
        }
    }
}

/// The loaded library and its environment.
pub struct OrtRuntime {
    /// The library file and version.
    pub library: OrtLibrary,
    /// Execution providers compiled into the library.
    pub providers: Vec<String>,
    env: ort::environment::Environment,
}

static RUNTIME: OnceLock<OrtRuntime> = OnceLock::new();
static LOADING: Mutex<()> = Mutex::new(());

fn ort_err(message: impl std::fmt::Display) -> Error {
    Error::Ort {
        message: message.to_string(),
    }
}

impl OrtRuntime {
    /// Loads ONNX Runtime once per process (later calls return the same runtime; asking
    /// for a different library then is an error).
    pub fn get(lib: Option<&Path>) -> Result<&'static OrtRuntime> {
        let _guard = LOADING.lock().map_err(|_| ort_err("loader poisoned"))?;
        if let Some(rt) = RUNTIME.get() {
            if let Some(want) = lib
                && want != rt.library.path
            {
                return Err(Error::OrtLibrary {
                    path: want.to_path_buf(),
                    message: format!(
                        "ONNX Runtime is already loaded from {} in this process",
                        rt.library.path.display()
                    ),
                });
            }
            return Ok(rt);
        }
        let library = ort_lib::locate(lib)?;
        let builder = ort::init_from(&library.path).map_err(|e| Error::OrtLibrary {
            path: library.path.clone(),
            message: e.to_string(),
        })?;
        let env = builder.with_name("moga").build().map_err(ort_err)?;
        let providers = available_providers()?;
        Ok(RUNTIME.get_or_init(|| OrtRuntime {
            library,
            providers,
            env,
        }))
    }
}

/// The execution providers compiled into the loaded library (ONNX Runtime's
/// `GetAvailableProviders`).
fn available_providers() -> Result<Vec<String>> {
    use std::ffi::{CStr, c_char, c_int};
    let api = ort::api();
    let (mut list, mut n): (*mut *mut c_char, c_int) = (std::ptr::null_mut(), 0);
    // SAFETY: the API table comes from the loaded library; GetAvailableProviders fills
    // an array of `n` C strings that ReleaseAvailableProviders frees.
    unsafe {
        ort::Error::result_from_status((api.GetAvailableProviders)(&mut list, &mut n))
            .map_err(ort_err)?;
        let names = (0..n.max(0) as usize)
            .map(|i| CStr::from_ptr(*list.add(i)).to_string_lossy().into_owned())
            .collect();
        let _ = ort::Error::result_from_status((api.ReleaseAvailableProviders)(list, n));
        Ok(names)
    }
}

/// One model in one ONNX Runtime session.
pub struct OrtModel {
    session: Session,
    inputs: Vec<String>,
    outputs: Vec<String>,
    feed: Vec<DynValue>,
    profiling: bool,
}

fn level(l: OptLevel) -> GraphOptimizationLevel {
    match l {
        OptLevel::Disable => GraphOptimizationLevel::Disable,
        OptLevel::Basic => GraphOptimizationLevel::Level1,
        OptLevel::Extended => GraphOptimizationLevel::Level2,
        OptLevel::Layout => GraphOptimizationLevel::Level3,
        OptLevel::All => GraphOptimizationLevel::All,
    }
}

impl OrtModel {
    /// Opens a session on `model` (a file).
    pub fn load(rt: &OrtRuntime, model: &Path, opts: &OrtOptions) -> Result<OrtModel> {
        if !rt.providers.iter().any(|p| p == opts.ep.ort_name()) {
            return Err(Error::OrtLibrary {
                path: rt.library.path.clone(),
                message: format!(
                    "execution provider {} is not in this library (it has: {})",
                    opts.ep.ort_name(),
                    rt.providers.join(", ")
                ),
            });
        }
        let what = |e: ort::Error<ort::session::builder::SessionBuilder>| {
            let e: ort::Error = e.into();
            ort_err(format!("{}: {e}", model.display()))
        };
        let mut b = Session::builder(&rt.env)
            .map_err(ort_err)?
            .with_optimization_level(level(opts.opt_level))
            .map_err(what)?
            .with_intra_threads(opts.threads.max(1))
            .map_err(what)?
            .with_inter_threads(1)
            .map_err(what)?;
        let dispatch = match opts.ep {
            ExecutionProvider::Cpu => ep::CPU::default().with_arena_allocator(true).build(),
            ExecutionProvider::Xnnpack => ep::XNNPACK::default().build(),
            ExecutionProvider::Nnapi => ep::NNAPI::default().build(),
        };
        b = b
            .with_execution_providers([dispatch.error_on_failure()])
            .map_err(what)?;
        if let Some(prefix) = &opts.profile {
            b = b.with_profiling(prefix).map_err(what)?;
        }
        let session = b
            .commit_from_file(model)
            .map_err(|e| ort_err(format!("{}: {e}", model.display())))?;
        let inputs = session
            .inputs()
            .iter()
            .map(|o| o.name().to_string())
            .collect();
        let outputs = session
            .outputs()
            .iter()
            .map(|o| o.name().to_string())
            .collect();
        Ok(OrtModel {
            session,
            inputs,
            outputs,
            feed: Vec::new(),
            profiling: opts.profile.is_some(),
        })
    }

    /// Each input's name, element type code and shape (`None` where a dimension is
    /// symbolic).
    pub fn input_specs(&self) -> Vec<(String, i32, Option<Vec<usize>>)> {
        self.session
            .inputs()
            .iter()
            .map(|o| match o.dtype() {
                ort::value::ValueType::Tensor { ty, shape, .. } => {
                    let dims: Option<Vec<usize>> =
                        shape.iter().map(|&d| usize::try_from(d).ok()).collect();
                    (o.name().to_string(), type_code(*ty).unwrap_or(0), dims)
                }
                _ => (o.name().to_string(), 0, None),
            })
            .collect()
    }

    fn to_value(&self, name: &str, t: &Tensor) -> Result<DynValue> {
        let ty = element_type(t.dtype()).ok_or_else(|| {
            Error::tensor(
                name,
                format!(
                    "element type {} cannot be passed to ONNX Runtime",
                    t.dtype()
                ),
            )
        })?;
        let shape: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
        let mut v = DynTensor::new(self.session.allocator(), ty, shape)
            .map_err(|e| Error::tensor(name, e.to_string()))?;
        let bytes = t.to_bytes();
        if !bytes.is_empty() {
            // SAFETY: the tensor was allocated for exactly this shape and element type,
            // whose size in bytes `to_bytes` matches (checked when the tensor was made).
            unsafe {
                std::ptr::copy_nonoverlapping(
                    bytes.as_ptr(),
                    v.data_ptr_mut().cast::<u8>(),
                    bytes.len(),
                )
            };
        }
        Ok(v.into_dyn())
    }

    /// Converts and keeps `inputs` for [`OrtModel::time`] (and checks their count).
    pub fn set_inputs(&mut self, inputs: &[Tensor]) -> Result<()> {
        if inputs.len() != self.inputs.len() {
            return Err(Error::Model {
                model: "onnxruntime session".into(),
                message: format!(
                    "takes {} inputs ({}), {} given",
                    self.inputs.len(),
                    self.inputs.join(", "),
                    inputs.len()
                ),
            });
        }
        self.feed = self
            .inputs
            .iter()
            .zip(inputs)
            .map(|(n, t)| self.to_value(n, t))
            .collect::<Result<_>>()?;
        Ok(())
    }

    fn run_fed(&mut self, read: bool) -> Result<Vec<Tensor>> {
        let feed: Vec<(String, &DynValue)> =
            self.inputs.iter().cloned().zip(self.feed.iter()).collect();
        let mut outputs = self.session.run(feed).map_err(ort_err)?;
        if !read {
            return Ok(Vec::new());
        }
        self.outputs
            .iter()
            .map(|name| {
                let v = outputs
                    .remove(name.as_str())
                    .ok_or_else(|| Error::tensor(name, "was not produced"))?;
                if !v.is_tensor() {
                    return Err(Error::tensor(
                        name,
                        "is not a tensor (sequences and maps are not supported)",
                    ));
                }
                let v = v
                    .downcast::<DynTensorValueType>()
                    .map_err(|e| Error::tensor(name, e.to_string()))?;
                let code = type_code(*v.data_type()).ok_or_else(|| {
                    Error::tensor(
                        name,
                        format!("element type {:?} is not supported", v.data_type()),
                    )
                })?;
                let shape: Vec<usize> = v.shape().iter().map(|&d| d.max(0) as usize).collect();
                let n: usize = shape.iter().product();
                let size = crate::onnx::tensor::element_size(code).unwrap_or(0) * n;
                // SAFETY: ONNX Runtime's output tensor holds `n` elements of the reported
                // type on the CPU.
                let bytes = if size == 0 {
                    Vec::new()
                } else {
                    unsafe { std::slice::from_raw_parts(v.data_ptr().cast::<u8>(), size) }.to_vec()
                };
                Tensor::from_bytes(shape, code, &bytes)
                    .map_err(|e| Error::tensor(name, e.to_string()))
            })
            .collect()
    }

    /// Runs once on `inputs`; the outputs.
    pub fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        self.set_inputs(inputs)?;
        self.run_fed(true)
    }

    /// Runs once on the inputs last set; wall milliseconds.
    pub fn time(&mut self) -> Result<Sample> {
        let t = Instant::now();
        self.run_fed(false)?;
        Ok((t.elapsed().as_secs_f64() * 1e3, None))
    }

    /// Ends profiling and returns each node's median kernel time and share, skipping
    /// the first `skip` runs (the warm-up).
    pub fn node_times(&mut self, skip: usize) -> Result<Vec<NodeTime>> {
        if !self.profiling {
            return Err(ort_err("profiling was not enabled for this session"));
        }
        let path = self.session.end_profiling().map_err(ort_err)?;
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let _ = std::fs::remove_file(&path);
        parse_profile(&text, skip).map_err(|m| ort_err(format!("profile {path}: {m}")))
    }
}

/// Per-node kernel times from ONNX Runtime's profile (Chrome trace JSON: events of
/// category "Node" named `<node>_kernel_time`, durations in microseconds), in execution
/// order, with each node's median over runs (the first `skip` left out) and its median
/// share of a run's node times.
pub fn parse_profile(text: &str, skip: usize) -> std::result::Result<Vec<NodeTime>, String> {
    let events: Vec<serde_json::Value> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut order: Vec<(String, String, String)> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut times: Vec<Vec<f64>> = Vec::new();
    for e in &events {
        if e["cat"] != "Node" {
            continue;
        }
        let Some(name) = e["name"]
            .as_str()
            .and_then(|n| n.strip_suffix("_kernel_time"))
        else {
            continue;
        };
        let dur_us = e["dur"].as_f64().unwrap_or(0.0);
        let k = *index.entry(name.to_string()).or_insert_with(|| {
            order.push((
                name.to_string(),
                e["args"]["op_name"].as_str().unwrap_or("?").to_string(),
                e["args"]["provider"].as_str().unwrap_or("?").to_string(),
            ));
            times.push(Vec::new());
            order.len() - 1
        });
        times[k].push(dur_us / 1e3);
    }
    // Every node runs once per run: the r-th time of each node belongs to run r.
    let runs = times.iter().map(Vec::len).max().unwrap_or(0);
    let per_run: Vec<Vec<f64>> = (skip.min(runs.saturating_sub(1))..runs)
        .map(|r| {
            times
                .iter()
                .map(|t| t.get(r).copied().unwrap_or(0.0))
                .collect()
        })
        .collect();
    Ok(order
        .into_iter()
        .zip(crate::bench::node_summary(&per_run))
        .map(
            |((node, op_type, provider), (median_ms, share, runs))| NodeTime {
                node,
                op_type,
                provider,
                median_ms,
                share,
                runs,
            },
        )
        .collect())
}

fn element_type(code: i32) -> Option<TensorElementType> {
    Some(match code {
        1 => TensorElementType::Float32,
        2 => TensorElementType::Uint8,
        3 => TensorElementType::Int8,
        4 => TensorElementType::Uint16,
        5 => TensorElementType::Int16,
        6 => TensorElementType::Int32,
        7 => TensorElementType::Int64,
        9 => TensorElementType::Bool,
        10 => TensorElementType::Float16,
        11 => TensorElementType::Float64,
        12 => TensorElementType::Uint32,
        13 => TensorElementType::Uint64,
        16 => TensorElementType::Bfloat16,
        _ => return None,
    })
}

fn type_code(t: TensorElementType) -> Option<i32> {
    (1..=16).find(|&c| element_type(c) == Some(t))
}
