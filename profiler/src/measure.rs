//! One implementation of "run these models on the device and read what the runner
//! says", for units and whole networks alike: the command line comes from the runner's
//! own options type, its JSON lines are read as the runner's own types, and a model
//! without a result after a failed invocation is run alone once more before it is
//! recorded as failed with the runner's exit reason. A crash in one model never costs
//! the others their measurements.

use std::collections::HashMap;
use std::path::PathBuf;

use device_runner::protocol::{BenchCommand, BenchLine, BenchOptions, BenchRecord, OrtArgs};
use lookup_tables::lut::LatencyStats;

use crate::error::Result;
use crate::prepare::Prepared;
use crate::profile::ProfileOptions;

/// How one invocation measures, beyond the table's protocol.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// The reference model's path on the device (paired with every run).
    pub reference: Option<String>,
    /// Time every node too.
    pub per_node: bool,
}

/// A model's result: the runner's record, or why there is none.
pub type Outcome = std::result::Result<BenchRecord, String>;

/// The `device-runner bench` command line for `models` (paths on the device).
pub fn command(
    p: &Prepared,
    opts: &ProfileOptions,
    models: &[String],
    s: &Settings,
) -> Vec<String> {
    let cmd = BenchCommand {
        backend: opts.backend,
        models: models.to_vec(),
        options: BenchOptions {
            reference: s.reference.as_ref().map(PathBuf::from),
            per_node: s.per_node,
            ..opts.bench.clone()
        },
        gpu: opts.gpu.clone(),
        ort: OrtArgs {
            ort_lib: p.ort_lib.as_ref().map(PathBuf::from),
            ..opts.ort.clone()
        },
    };
    let mut argv = vec![p.runner.clone()];
    argv.extend(cmd.to_args());
    argv
}

/// Measures `models` (paths on the device) in one invocation; those without a result
/// are measured alone once more; one that fails alone gets the runner's exit reason.
/// Results in the order given.
pub fn measure(
    p: &Prepared,
    opts: &ProfileOptions,
    models: &[String],
    s: &Settings,
) -> Result<Vec<Outcome>> {
    let argv = command(p, opts, models, s);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    // Rounds and a reference lengthen a model's measuring: the limit grows with both.
    let per_model = opts.unit_timeout_s * if s.reference.is_some() { 2 } else { 1 };
    let timeout = per_model * models.len() as u64 + 30;
    let out = p.device.run(&argv, None, Some(timeout))?;
    let mut found: HashMap<String, Outcome> = BenchLine::parse_all(&out.stdout)
        .into_iter()
        .map(|line| {
            let name = line.file_name();
            let outcome = match line {
                BenchLine::Record(r) => Ok(*r),
                BenchLine::Error(e) => Err(e.error),
            };
            (name, outcome)
        })
        .collect();
    let mut results = Vec::with_capacity(models.len());
    for m in models {
        let file = file_name(m);
        match found.remove(&file) {
            Some(o) => results.push(o),
            None if models.len() > 1 => {
                results.push(measure(p, opts, std::slice::from_ref(m), s)?.remove(0))
            }
            None => results.push(Err(exit_reason(out.code, timeout, &out.stderr))),
        }
    }
    Ok(results)
}

fn file_name(path: &str) -> String {
    std::path::Path::new(path)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The convolution kernels a wgpu record ran (`node: kernel variant; …`), when it says.
pub fn kernel_choices(r: &BenchRecord) -> Option<String> {
    let parts: Vec<String> = r
        .kernels
        .as_ref()?
        .iter()
        .map(|k| format!("{}: {} {}", k.node, k.kernel, k.variant))
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// A record's latency statistics: with a reference, the ratio to it × `nominal_ms`
/// (the table's time unit); else the primary clock (GPU time where measured, else
/// wall). Impossible figures are an error naming the field.
pub fn latency(
    r: &BenchRecord,
    nominal_ms: Option<f64>,
) -> std::result::Result<LatencyStats, String> {
    let stats = match (&r.ratio, nominal_ms) {
        (Some(x), Some(nominal)) => {
            // Mean and spread of the model's own time, brought to the table's unit.
            let to_unit = nominal / x.reference_median_ms;
            LatencyStats {
                median_ms: x.median * nominal,
                p10_ms: x.p10 * nominal,
                p90_ms: x.p90 * nominal,
                mean_ms: r.gpu_mean_ms.unwrap_or(r.wall_mean_ms) * to_unit,
                std_ms: r.gpu_std_ms.unwrap_or(r.wall_std_ms) * to_unit,
                runs: x.pairs as u32,
                gpu_median_ms: None,
            }
        }
        _ => LatencyStats {
            median_ms: r.gpu_median_ms.unwrap_or(r.wall_median_ms),
            p10_ms: r.gpu_p10_ms.unwrap_or(r.wall_p10_ms),
            p90_ms: r.gpu_p90_ms.unwrap_or(r.wall_p90_ms),
            mean_ms: r.gpu_mean_ms.unwrap_or(r.wall_mean_ms),
            std_ms: r.gpu_std_ms.unwrap_or(r.wall_std_ms),
            runs: r.runs as u32,
            gpu_median_ms: r.gpu_median_ms,
        },
    };
    stats
        .check()
        .map(|()| stats)
        .map_err(|(field, m)| format!("the runner reported an impossible {field}: {m}"))
}

/// One network's latency over several invocations (each a record of it): the mean of
/// their medians (and of their p10s and p90s; the mean beat the median of three on
/// this machine, 0.93 % against 1.22 % from the rest of 12 invocations), their pooled
/// mean and spread, all their runs. One record gives [`latency`]'s figures.
pub fn latency_of(
    records: &[&BenchRecord],
    nominal_ms: Option<f64>,
) -> std::result::Result<LatencyStats, String> {
    let each: Vec<LatencyStats> = records
        .iter()
        .map(|r| latency(r, nominal_ms))
        .collect::<std::result::Result<_, _>>()?;
    let [first] = each.as_slice() else {
        let n = each.len() as f64;
        if n == 0.0 {
            return Err("no invocation measured it".into());
        }
        let mean = |f: &dyn Fn(&LatencyStats) -> f64| each.iter().map(f).sum::<f64>() / n;
        let mean_ms = mean(&|s| s.mean_ms);
        let var = mean(&|s| s.std_ms.powi(2) + (s.mean_ms - mean_ms).powi(2));
        let gpu: Option<Vec<f64>> = each.iter().map(|s| s.gpu_median_ms).collect();
        return Ok(LatencyStats {
            median_ms: mean(&|s| s.median_ms),
            p10_ms: mean(&|s| s.p10_ms),
            p90_ms: mean(&|s| s.p90_ms),
            mean_ms,
            std_ms: var.sqrt(),
            runs: each.iter().map(|s| s.runs).sum(),
            gpu_median_ms: gpu.map(|g| g.iter().sum::<f64>() / n),
        });
    };
    Ok(*first)
}

/// The two interleaved passes of a record (median ratio, else median time, of the even
/// and of the odd rounds), when it was measured in two rounds or more.
pub fn passes(r: &BenchRecord) -> Option<(f64, f64)> {
    passes_of(&[r])
}

/// [`passes`] over several invocations of one network: each invocation's even rounds
/// pooled against its odd ones.
pub fn passes_of(records: &[&BenchRecord]) -> Option<(f64, f64)> {
    let (mut even, mut odd) = (Vec::new(), Vec::new());
    for r in records {
        let rounds = match &r.ratio {
            Some(x) => &x.round_medians,
            None => &r.round_medians_ms,
        };
        if rounds.len() < 2 {
            continue;
        }
        even.extend(rounds.iter().step_by(2).copied());
        odd.extend(rounds.iter().skip(1).step_by(2).copied());
    }
    if even.is_empty() || odd.is_empty() {
        return None;
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        device_runner::bench::percentile(&v, 0.5)
    };
    Some((median(even), median(odd)))
}

pub(crate) fn exit_reason(code: i32, timeout_s: u64, stderr: &str) -> String {
    let tail: String = stderr
        .lines()
        .rev()
        .take(3)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join(" | ");
    let what = match code {
        137 => format!("killed after the {timeout_s} s time limit (hung, or killed)"),
        c if c > 128 => format!("crashed (signal {})", c - 128),
        c => format!("exited with status {c}"),
    };
    if tail.trim().is_empty() {
        format!("the runner {what}")
    } else {
        format!("the runner {what}: {}", tail.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use device_runner::bench::BenchLimits;
    use device_runner::protocol::RatioStats;

    fn record() -> BenchRecord {
        BenchRecord {
            model: "/d/m.onnx".into(),
            backend: "ort".into(),
            device: "cpu".into(),
            runs: 30,
            wall_median_ms: 2.0,
            wall_p10_ms: 1.9,
            wall_p90_ms: 2.4,
            wall_mean_ms: 2.1,
            wall_std_ms: 0.2,
            gpu_median_ms: None,
            gpu_p10_ms: None,
            gpu_p90_ms: None,
            gpu_mean_ms: None,
            gpu_std_ms: None,
            median_ci95_rel: Some(0.01),
            dispatches: None,
            round_medians_ms: vec![2.0, 2.2, 1.9, 2.1],
            ratio: None,
            nodes: None,
            kernels: None,
            limits: BenchLimits::default(),
            heat: None,
        }
    }

    #[test]
    fn latency_is_the_ratio_in_the_tables_unit() {
        let mut r = record();
        assert_eq!(latency(&r, Some(10.0)).unwrap().median_ms, 2.0);
        r.ratio = Some(RatioStats {
            reference: "ref.onnx".into(),
            median: 0.25,
            p10: 0.24,
            p90: 0.27,
            ci95_rel: Some(0.005),
            pairs: 20,
            reference_median_ms: 8.0,
            round_medians: vec![0.25, 0.26, 0.24, 0.25],
        });
        let s = latency(&r, Some(10.0)).unwrap();
        assert_eq!((s.median_ms, s.p90_ms, s.runs), (2.5, 2.7, 20));
        assert!((s.mean_ms - 2.1 * 10.0 / 8.0).abs() < 1e-12);
        assert_eq!(passes(&r), Some((0.245, 0.255)));
        r.ratio = None;
        r.wall_p90_ms = 1.0;
        assert!(latency(&r, None).unwrap_err().contains("p90_ms"));
    }

    #[test]
    fn several_invocations_give_the_mean_of_their_medians() {
        let mut a = record();
        let mut b = record();
        let mut c = record();
        (a.wall_median_ms, b.wall_median_ms, c.wall_median_ms) = (2.0, 2.6, 2.1);
        (a.wall_p90_ms, b.wall_p90_ms, c.wall_p90_ms) = (2.4, 2.9, 2.5);
        (a.wall_mean_ms, b.wall_mean_ms, c.wall_mean_ms) = (2.0, 2.6, 2.1);
        let s = latency_of(&[&a, &b, &c], None).unwrap();
        assert!((s.median_ms - 6.7 / 3.0).abs() < 1e-12, "{s:?}");
        assert!((s.p90_ms - 7.8 / 3.0).abs() < 1e-12, "{s:?}");
        assert_eq!(s.runs, 90);
        assert!(s.std_ms > 0.2, "the invocations' spread counts: {s:?}");
        assert_eq!(latency_of(&[&a], None).unwrap(), latency(&a, None).unwrap());
        // Even rounds pooled with even rounds, odd with odd.
        b.round_medians_ms = vec![3.0, 4.0];
        assert_eq!(passes_of(&[&a, &b]), Some((2.0, 2.2)));
        assert_eq!(passes_of(&[&a]), passes(&a));
    }

    #[test]
    fn exit_reasons_say_what_happened() {
        assert!(exit_reason(137, 40, "").contains("40 s time limit"));
        assert!(exit_reason(139, 40, "x\nSegmentation fault").contains("signal 11"));
    }
}
