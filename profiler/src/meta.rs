//! What a table records about where and how it was measured: the device, the backend
//! with the options that change timings, the runner and the protocol.

use std::collections::BTreeMap;

use device_runner::backend::{BackendChoice, BackendKind};
use lookup_tables::LutMeta;
use lookup_tables::lut::{self, BackendInfo, DeviceInfo, Protocol};

use crate::error::{Error, Result};
use crate::prepare::Prepared;
use crate::profile::{Method, ProfileOptions};

/// The table metadata for a device model, from one of its prepared devices.
pub fn meta_for(p: &Prepared, opts: &ProfileOptions, serials: Vec<String>) -> Result<LutMeta> {
    let s = &p.summary;
    let info = &p.info;
    let mut options = BTreeMap::new();
    let (version, gpu, driver) = match opts.backend {
        BackendKind::Wgpu => {
            // The adapters of the API asked for (`--api gles`: GL's), in the runner's
            // listing order; the one it runs on is the one named, else (`--api auto`)
            // the one its info found running, else the first in its preference order.
            let api = match opts.gpu.wgpu_backend {
                BackendChoice::All => None,
                BackendChoice::Vulkan => Some("vulkan"),
                BackendChoice::Gl => Some("gl"),
                BackendChoice::Metal => Some("metal"),
            };
            let a: Vec<_> = info
                .adapters
                .iter()
                .filter(|x| api.is_none_or(|b| x.backend == b))
                .collect();
            let chosen = match &opts.gpu.adapter {
                Some(want) => match want.parse::<usize>() {
                    Ok(i) => a.get(i),
                    Err(_) => a
                        .iter()
                        .find(|x| x.name.to_lowercase().contains(&want.to_lowercase())),
                },
                None => match (opts.gpu.wgpu_backend, info.auto_adapter) {
                    // Unfiltered: `a` is the runner's list, index for index.
                    (BackendChoice::All, Some(i)) => a.get(i),
                    _ => a.iter().min_by_key(|x| x.preference()),
                },
            }
            .copied();
            let chosen = chosen.ok_or_else(|| {
                Error::device(
                    p.device.id(),
                    format!(
                        "the runner sees no GPU adapter{}",
                        info.adapters_error
                            .as_deref()
                            .map_or(String::new(), |e| format!(" ({e})"))
                    ),
                )
            })?;
            options.insert("adapter".into(), chosen.name.clone());
            options.insert("wgpu_backend".into(), chosen.backend.clone());
            // Autotuned kernels are chosen on the device and remembered there
            // (device-runner's kernel-choices.json), so a deployment on it runs the
            // variants this table timed.
            options.insert(
                "kernel_tuning".into(),
                format!("{:?}", opts.gpu.tuning).to_lowercase(),
            );
            if opts.gpu.dtype != device_runner::backend::Dtype::F32 {
                options.insert("dtype".into(), opts.gpu.dtype.name().into());
            }
            // Measured under a phone's limits (`--limits`): a deployment runs under them too.
            if let Some(profile) = &opts.gpu.limits {
                options.insert("limits".into(), profile.clone());
            }
            (
                info.wgpu_version.clone().unwrap_or_default(),
                chosen.name.clone(),
                chosen.driver_info.clone(),
            )
        }
        _ => {
            let version = info
                .ort
                .as_ref()
                .map(|o| o.version.clone())
                .ok_or_else(|| {
                    Error::device(
                        p.device.id(),
                        format!(
                            "ONNX Runtime does not load on it: {}",
                            info.ort_error.as_deref().unwrap_or("?")
                        ),
                    )
                })?;
            options.insert(
                "execution_provider".into(),
                format!("{:?}", opts.ort.ep).to_lowercase(),
            );
            options.insert("threads".into(), opts.ort.threads.to_string());
            options.insert(
                "opt_level".into(),
                format!("{:?}", opts.ort.opt_level).to_lowercase(),
            );
            (version, s.gpu.clone(), String::new())
        }
    };
    let b = &opts.bench;
    let mut meta = LutMeta {
        device: DeviceInfo {
            model: s.model.clone(),
            manufacturer: s.manufacturer.clone(),
            soc: s.soc.clone(),
            gpu,
            driver,
            os: s.os.clone(),
            abi: s.abi.clone(),
            serials,
        },
        device_state: BTreeMap::new(),
        backend: BackendInfo {
            name: opts.backend.name().into(),
            version,
            options,
        },
        runner_version: info.runner_version.clone(),
        created: lut::utc_rfc3339(lut::unix_now()),
        protocol: Protocol {
            warmup_runs: b.warmup as u32,
            min_runs: b.min_runs as u32,
            max_runs: b.runs as u32,
            min_seconds: 0.0,
            max_seconds: b.max_seconds,
            cooldown_ms: b.cooldown_ms,
            timer: if opts.backend == BackendKind::Wgpu
                && p.info.adapters.iter().any(|a| a.timestamp_query)
            {
                "gpu".into()
            } else {
                "wall".into()
            },
            precision: b.precision,
            rounds: b.rounds.max(1) as u32,
            method: match opts.method {
                Method::Isolated => "isolated",
                Method::Context => "context",
            }
            .into(),
            warm_pairs: !b.cold_pairs,
        },
        correction: None,
        reference: None,
        repeatability: None,
        context: None,
        kernel_choices: BTreeMap::new(),
        spaces: Vec::new(),
        sr_spaces: Vec::new(),
    };
    opts.target.record(&mut meta);
    Ok(meta)
}
