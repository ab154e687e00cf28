//! Units measured in context: whole networks of covering designs (every choice of every
//! layer appears in each design, among other neighbours each time: FairNAS's fairness
//! applied to profiling) run node by node, each node's share of its network's time
//! given to the unit whose part of the network the node belongs to, and each unit's row
//! made from its shares of all the networks it appeared in, times those networks'
//! latencies.
//!
//! A unit measured alone pays what a network does not (layout conversions at its
//! borders, a cold cache, no fusion with its neighbours) and misses what a network
//! pays; measured in context it costs what it costs where it is used. The networks sum
//! exactly to their measured latency by construction, and a table needs a handful of
//! covering designs instead of a run per unit.
//!
//! Checkpoints: each network's attribution goes to `<table>.context.jsonl` (rewritten
//! atomically after every batch) and the table's rows are recomputed from it, so a
//! resumed run measures only the networks the file lacks.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use device_runner::onnx::builder::{RandomWeights, network_model, part_of_node};
use device_runner::protocol::{BenchRecord, NodeTime};
use indicatif::ProgressBar;
use lookup_tables::lut::{self, ContextInfo, LatencyStats, Repeatability};
use lookup_tables::{Arch, Lut, LutRow, Outcome, PlacedUnit, Space, UnitKey};
use serde::{Deserialize, Serialize};

use crate::device::Device;
use crate::error::{Error, Result};
use crate::measure::{self, Settings};
use crate::prepare::Prepared;
use crate::profile::{
    Method, ProfileOptions, ProfileReport, finish_devices, open_table, output_for, prepare_groups,
    release_all, staging,
};
use crate::reference::{ReferenceNet, Unit, reference_median};
use crate::schedule::{self, Ledger, Shared};

/// One network's contribution to the table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    /// Its place in the covering designs.
    pub index: usize,
    /// The architecture, encoded.
    pub arch: String,
    /// Its latency: the ratio to the reference (× the table's unit), or milliseconds
    /// when measured without a reference.
    pub value: f64,
    /// Each unit's share of it (0–1, summing to 1).
    pub shares: Vec<(UnitKey, f64)>,
}

/// Each unit's share of a network from its nodes' shares: a node belongs to the part its
/// name names ([`part_of_node`]); a node a backend added on its own (a layout
/// conversion) belongs to the part that runs before it (the first named part, when it
/// runs first). Shares are each node's median share of a run, or its median time over
/// the sum of medians where the backend gave none.
pub fn attribute(
    nodes: &[NodeTime],
    parts: &[PlacedUnit],
) -> std::result::Result<Vec<(UnitKey, f64)>, String> {
    if nodes.is_empty() {
        return Err("the runner reported no per-node times".into());
    }
    let total_ms: f64 = nodes.iter().map(|n| n.median_ms).sum();
    let share = |n: &NodeTime| n.share.unwrap_or(n.median_ms / total_ms);
    let named: Vec<Option<String>> = nodes.iter().map(|n| part_of_node(&n.node)).collect();
    let mut current = named.iter().flatten().next().cloned().ok_or_else(|| {
        format!(
            "no node is named after a part of the network (first node: '{}')",
            nodes[0].node
        )
    })?;
    let mut by_part: HashMap<String, f64> = HashMap::new();
    for (n, part) in nodes.iter().zip(&named) {
        if let Some(p) = part {
            current.clone_from(p);
        }
        *by_part.entry(current.clone()).or_default() += share(n);
    }
    let total: f64 = by_part.values().sum();
    if total.is_nan() || total <= 0.0 {
        return Err("the nodes' shares sum to zero".into());
    }
    let mut out = Vec::with_capacity(parts.len());
    for p in parts {
        let s = by_part
            .remove(&p.part)
            .ok_or_else(|| format!("no node of part '{}' ({}) was timed", p.part, p.key))?;
        out.push((p.key, s / total));
    }
    if let Some(extra) = by_part.keys().next() {
        return Err(format!(
            "nodes of '{extra}', which this network does not have"
        ));
    }
    Ok(out)
}

/// Rows from attributions: each unit's samples are its shares × its networks'
/// latencies × the table's unit (`nominal_ms`, 1 without a reference).
pub fn rows(attributions: &[Attribution], nominal_ms: f64) -> BTreeMap<UnitKey, LatencyStats> {
    let mut samples: BTreeMap<UnitKey, Vec<f64>> = BTreeMap::new();
    for a in attributions {
        for (key, share) in &a.shares {
            samples
                .entry(*key)
                .or_default()
                .push(share * a.value * nominal_ms);
        }
    }
    samples
        .into_iter()
        .filter_map(|(k, v)| {
            let s = device_runner::bench::Stats::of(&v)?;
            Some((
                k,
                LatencyStats {
                    median_ms: s.median,
                    p10_ms: s.p10,
                    p90_ms: s.p90,
                    mean_ms: s.mean,
                    std_ms: s.std,
                    runs: s.count as u32,
                    gpu_median_ms: None,
                },
            ))
        })
        .collect()
}

/// The side file of a table's attributions.
pub fn sidecar(table: &Path) -> PathBuf {
    let mut s = table.as_os_str().to_owned();
    s.push(".context.jsonl");
    PathBuf::from(s)
}

fn read_sidecar(path: &Path, archs: &[Arch]) -> Result<Vec<Attribution>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let bad = |line: usize, m: String| Error::Table {
        path: path.to_path_buf(),
        message: format!("line {line}: {m}"),
    };
    let mut out = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let a: Attribution = serde_json::from_str(line).map_err(|e| bad(i + 1, e.to_string()))?;
        match archs.get(a.index) {
            Some(arch) if arch.encode() == a.arch => out.push(a),
            _ => {
                return Err(bad(
                    i + 1,
                    format!(
                        "network {} ({}) is not in this run's covering designs: resume with the same --designs and --seed",
                        a.index, a.arch
                    ),
                ));
            }
        }
    }
    Ok(out)
}

struct ContextLedger {
    lut: Lut,
    output: PathBuf,
    space: Space,
    archs: Vec<Arch>,
    done: BTreeMap<usize, Attribution>,
    unit: Unit,
    measured: usize,
    failed: Vec<String>,
    runs: u64,
    passes: Vec<(f64, f64)>,
}

impl ContextLedger {
    /// Rewrites the side file and the table's rows from every attribution so far.
    fn checkpoint(&mut self) -> Result<()> {
        let mut text = String::new();
        for a in self.done.values() {
            text.push_str(&serde_json::to_string(a).map_err(|e| Error::Table {
                path: self.output.clone(),
                message: e.to_string(),
            })?);
            text.push('\n');
        }
        let path = sidecar(&self.output);
        lookup_tables::write_atomic(&path, text.as_bytes())?;
        let all: Vec<Attribution> = self.done.values().cloned().collect();
        let now = lut::unix_now();
        for (key, stats) in rows(&all, self.unit.nominal_ms.unwrap_or(1.0)) {
            self.lut.upsert(LutRow {
                key,
                outcome: Outcome::Ok(stats),
                serial: self.lut.meta.device.serials.join(" "),
                measured_unix_s: now,
            });
        }
        self.lut.write(&self.output).map_err(Error::from)
    }

    fn take(&mut self, index: usize, r: &BenchRecord) -> std::result::Result<Attribution, String> {
        let arch = &self.archs[index];
        let parts = self.space.units_of(arch).map_err(|e| e.to_string())?;
        let shares = attribute(r.nodes.as_deref().unwrap_or_default(), &parts)?;
        let value = match (&r.ratio, self.unit.nominal_ms) {
            (Some(x), Some(_)) => x.median,
            _ => measure::latency(r, None)?.median_ms,
        };
        Ok(Attribution {
            index,
            arch: arch.encode(),
            value,
            shares,
        })
    }
}

impl Ledger<(usize, measure::Outcome)> for ContextLedger {
    fn record(&mut self, _device: &str, results: Vec<(usize, measure::Outcome)>) -> Result<()> {
        let records: Vec<&BenchRecord> = results
            .iter()
            .filter_map(|(_, o)| o.as_ref().ok())
            .collect();
        self.unit
            .observe(&mut self.lut.meta, reference_median(&records));
        for (index, outcome) in results {
            let attribution = outcome.and_then(|r| {
                self.runs += r.runs as u64
                    + r.nodes
                        .as_ref()
                        .and_then(|n| n.first())
                        .map_or(0, |n| n.runs as u64);
                self.passes.extend(measure::passes(&r));
                if let Some(choices) = measure::kernel_choices(&r) {
                    let key = format!("network {}", self.archs[index].encode());
                    self.lut.meta.kernel_choices.insert(key, choices);
                }
                self.take(index, &r)
            });
            match attribution {
                Ok(a) => {
                    self.measured += 1;
                    self.done.insert(index, a);
                }
                Err(e) => self.failed.push(format!(
                    "network {index} ({}): {e}",
                    self.archs[index].encode()
                )),
            }
        }
        self.checkpoint()
    }
}

/// Profiles `opts.space` in context on `devices`: one table per device model.
pub fn profile(
    devices: Vec<Device>,
    opts: &ProfileOptions,
    bar: &ProgressBar,
) -> Result<Vec<ProfileReport>> {
    let start = Instant::now();
    let space = opts.target.space("profiling in context")?;
    let archs = space.covering_design(opts.designs.max(1), opts.seed);
    let width = archs.len() / opts.designs.max(1);
    let staging = staging("context")?;
    let mut files = Vec::with_capacity(archs.len());
    let mut weights = RandomWeights::new(opts.seed);
    for (i, arch) in archs.iter().enumerate() {
        let path = staging.path().join(format!("net-{i:03}.onnx"));
        device_runner::onnx::write_model(&path, &network_model(space, arch, &mut weights)?)?;
        files.push(path);
    }
    let keys = space.unit_list();
    let by_model = prepare_groups(devices, opts, staging.path())?;
    let result = (|| {
        let several = by_model.len() > 1;
        let mut ledgers = Vec::new();
        let mut reference_of: HashMap<String, PathBuf> = HashMap::new();
        for (g, ((model, _), members)) in by_model.iter().enumerate() {
            let output = output_for(opts, several, model);
            let fresh = !output.exists();
            let mut lut = open_table(&output, members, opts)?;
            if fresh {
                // A new table starts with no networks done: the attributions of an
                // earlier table of the same name (deleted since) must not be resumed.
                let stale = sidecar(&output);
                if stale.exists() {
                    std::fs::remove_file(&stale).map_err(|e| Error::io(&stale, e))?;
                }
            }
            let reference = match (&lut.meta.reference, opts.reference) {
                (_, false) => None,
                (Some(r), true) => Some(ReferenceNet::recorded(r)?),
                (None, true) => Some(ReferenceNet::for_space(space, opts.seed)),
            };
            if let Some(r) = &reference {
                let dir = staging.path().join(format!("reference-{g}"));
                std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
                let file = r.write(&dir)?;
                for p in members {
                    reference_of.insert(p.device.id().to_string(), file.clone());
                }
            }
            let done: BTreeMap<usize, Attribution> = if opts.resume {
                read_sidecar(&sidecar(&output), &archs)?
                    .into_iter()
                    .map(|a| (a.index, a))
                    .collect()
            } else {
                BTreeMap::new()
            };
            let queue: Vec<usize> = (0..archs.len()).filter(|i| !done.contains_key(i)).collect();
            let already = keys.iter().filter(|k| lut.has_measured(k)).count();
            lut.meta.context = Some(ContextInfo {
                covering_designs: opts.designs as u32,
                networks: done.len() as u32,
                network_runs: lut.meta.context.as_ref().map_or(0, |c| c.network_runs),
            });
            let ledger = ContextLedger {
                unit: Unit::new(&lut.meta, reference),
                lut,
                output,
                space: space.clone(),
                archs: archs.clone(),
                done,
                measured: 0,
                failed: Vec::new(),
                runs: 0,
                passes: Vec::new(),
            };
            ledgers.push((Shared::new(queue, ledger), already, model.clone()));
        }
        bar.set_length(ledgers.iter().map(|(s, ..)| s.pending() as u64).sum());
        let groups: Vec<(&Shared<usize, ContextLedger>, &[Prepared])> = ledgers
            .iter()
            .zip(by_model.values())
            .map(|((s, ..), m)| (s, m.as_slice()))
            .collect();
        let measure_networks = |p: &Prepared, which: &[usize]| {
            let settings = Settings {
                reference: reference_of
                    .get(p.device.id())
                    .map(|f| p.place(f))
                    .transpose()?,
                per_node: true,
            };
            let models: Vec<String> = which
                .iter()
                .map(|&i| p.place(&files[i]))
                .collect::<Result<_>>()?;
            let outcomes = measure::measure(p, opts, &models, &settings)?;
            Ok(which.iter().copied().zip(outcomes).collect())
        };
        schedule::run(
            &groups,
            opts.batch.unwrap_or(width),
            opts.wait_device,
            bar,
            &|&i: &usize| format!("network {i}"),
            &measure_networks,
        );
        let mut reports = Vec::new();
        for ((shared, already, model), members) in ledgers.into_iter().zip(by_model.values()) {
            let mut l = shared
                .ledger
                .into_inner()
                .map_err(|_| Error::device("?", "ledger poisoned"))?;
            l.unit.finish(&mut l.lut.meta);
            if let Some(r) = Repeatability::of(&l.passes) {
                l.lut.meta.repeatability = Some(r);
            }
            if let Some(c) = l.lut.meta.context.as_mut() {
                c.networks = l.done.len() as u32;
                c.network_runs += l.runs;
            }
            let mut device_errors = finish_devices(&mut l.lut.meta, members, shared.errors);
            device_errors.extend(l.failed.iter().cloned());
            l.checkpoint()?;
            let missing = l.lut.missing(keys.iter()).len();
            reports.push(ProfileReport {
                lut: l.output.clone(),
                method: Method::Context,
                model,
                devices: members.iter().map(|p| p.device.id().to_string()).collect(),
                units: keys.len(),
                already_measured: already,
                measured: (keys.len() - missing).saturating_sub(already),
                failed: l.failed.len(),
                missing,
                networks: l.measured,
                runs: l.runs,
                drift_pct: Unit::drift_pct(&l.lut.meta),
                repeatability: Repeatability::of(&l.passes),
                seconds: start.elapsed().as_secs_f64(),
                device_errors,
            });
        }
        Ok(reports)
    })();
    release_all(by_model, opts, result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookup_tables::SpaceId;

    fn node(name: &str, ms: f64) -> NodeTime {
        NodeTime {
            node: name.into(),
            op_type: "Conv".into(),
            provider: "cpu".into(),
            median_ms: ms,
            share: None,
            runs: 10,
        }
    }

    #[test]
    fn nodes_go_to_their_parts_and_conversions_to_the_part_before() {
        let space = Space::new(SpaceId::Fairnas);
        let arch = space.reference_arch();
        let parts = space.units_of(&arch).unwrap();
        let mut nodes = vec![
            node("ReorderInput", 1.0),
            node("stem_nchwc", 1.0),
            node("separable.dw.act_nchwc", 1.0),
            node("separable.pw_nchwc", 1.0),
        ];
        for l in 0..19 {
            nodes.push(node(&format!("layers.{l}.expand"), 1.0));
            nodes.push(node("ReorderOutput_token_3", 1.0));
        }
        nodes.extend([
            node("head_nchwc", 1.0),
            node("head.pool", 1.0),
            node("classifier", 2.0),
        ]);
        let shares = attribute(&nodes, &parts).unwrap();
        let total: f64 = nodes.iter().map(|n| n.median_ms).sum();
        assert_eq!(shares.len(), parts.len());
        assert!((shares.iter().map(|s| s.1).sum::<f64>() - 1.0).abs() < 1e-12);
        // The stem has its own node and the leading conversion.
        assert!((shares[0].1 - 2.0 / total).abs() < 1e-12);
        // Each layer: its node and the conversion after it.
        assert!((shares[2].1 - 2.0 / total).abs() < 1e-12);
        let last = shares.last().unwrap();
        assert_eq!(last.0, parts.last().unwrap().key);
        assert!((last.1 - 2.0 / total).abs() < 1e-12);
        // A part without nodes, or nodes of a part the network lacks, is an error.
        let err = attribute(&nodes[..10], &parts).unwrap_err();
        assert!(err.contains("no node of part"), "{err}");
        let mut extra = nodes.clone();
        extra.push(node("layers.40.dw", 1.0));
        assert!(attribute(&extra, &parts).unwrap_err().contains("layer 40"));
    }

    #[test]
    fn rows_are_shares_of_measured_networks_in_the_tables_unit() {
        let k1 = UnitKey::new(lookup_tables::UnitKind::Fc, 1, 8, 4);
        let k2 = UnitKey::new(lookup_tables::UnitKind::Fc, 1, 8, 5);
        let a = |value: f64, s1: f64| Attribution {
            index: 0,
            arch: String::new(),
            value,
            shares: vec![(k1, s1), (k2, 1.0 - s1)],
        };
        let rows = rows(&[a(0.5, 0.2), a(1.0, 0.3), a(2.0, 0.1)], 10.0);
        assert_eq!(rows[&k1].median_ms, 2.0);
        assert_eq!(rows[&k1].runs, 3);
        assert!((rows[&k2].median_ms - 7.0).abs() < 1e-12);
    }
}
