//! A weight-sharing supernet of the `falsr` or `moremnas` space, trained with FairNAS's
//! strict fairness over the cell operators: the cheap oracle of `moga search --space
//! falsr|moremnas --accuracy supernet:DIR`.
//!
//! **What is shared.** Every cell position holds one set of weights per operator (conv,
//! grouped conv ×2, ×4, inverted bottleneck), each at its widest: 64 filters, 3×3
//! kernels, 4 blocks. A choice takes a slice of its operator's weights:
//! - *filters* `f` < 64: the first `f` output channels, group by group (output `o` of
//!   group `j` is channel `j·64/g + o mod (f/g)` of the widest), so a channel keeps its
//!   group, and so its meaning, whatever the width; the inverted bottleneck's hidden
//!   layer takes its first `2f` of 128;
//! - *kernel* 1×1: the centre of the 3×3;
//! - *repeats* `b`: the first `b` blocks; the *skip* has no weights;
//! - *inputs*: a cell's first convolution (and the tail's) reads a concatenation whose
//!   sources vary with the links, so its weights have one segment of columns per source
//!   the position can read (the feature extractor: 32; each earlier cell: 64, in that
//!   order), and each present source reads its own segment at its channels' places.
//!   A grouped convolution takes the block-diagonal part of those columns: exactly a
//!   grouped convolution of the concatenation, as the stand-alone network computes.
//!
//! A sub-network is therefore an [`SrNet`] whose tensors are slices of the shared ones
//! ([`SrSupernet::subnet`]): one forward pass for stand-alone networks, sub-networks and
//! the exported ONNX (whose weights are named after the same plan).
//!
//! **Strict fairness** (FairNAS, Chu et al. 2019, arXiv:1907.01845): each step draws,
//! for every cell position, a random permutation of the four operators and builds four
//! paths, path `p` taking the `p`-th operator of every permutation, so every operator's
//! weights are trained exactly once per step, on the same batch; gradients of the four
//! are summed before one Adam step. The other dimensions of a choice (filters, kernel,
//! repeats, skip) and FALSR's link bits are drawn uniformly per path: strict fairness
//! over all 192 choices would take 192 paths per step.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use lookup_tables::sr::{SR_CELLS, SR_FEATURES, SR_FILTERS, SR_KERNELS, SR_REPEATS};
use lookup_tables::{SR_PRESETS, SplitMix64, SrArch, SrCell, SrOp, SrSource, SrSpaceId};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};
use crate::sr_image::{SrImages, SrPair, SrScore, bicubic_baseline};
use crate::sr_net::{Adam, Learner, Schedule, SrNet, SrSchedule, mean_score, read_into};
use crate::sr_search::{BRIEF_EVAL_SIDE, centre};

/// The shared weights (and Adam's moments) of a supernet checkpoint.
pub const SR_SUPERNET_WEIGHTS: &str = "srsupernet.safetensors";
/// Its record (settings, progress, evaluations).
pub const SR_SUPERNET_RECORD: &str = "srsupernet.json";

/// Steps of the supernet's linear warm-up: without it, Adam's first full-size steps on
/// deep random paths with no normalisation make the loss spike (measured with
/// scripts/bench/sr_supernet_reference.py).
const WARMUP_STEPS: usize = 25;

/// The widest cell's filters.
const WIDE: i64 = 64;
/// Blocks of the deepest cell.
const DEEPEST: usize = 4;

/// The sources input slot `slot` (a cell position, or [`SR_CELLS`] for the tail) can
/// read in `space`, in concatenation order: the previous part always; in FALSR's space
/// also the feature extractor and every earlier cell.
pub fn possible_sources(space: SrSpaceId, slot: usize) -> Vec<SrSource> {
    if slot == 0 {
        return vec![SrSource::Features];
    }
    match space {
        SrSpaceId::Falsr => std::iter::once(SrSource::Features)
            .chain((0..slot).map(SrSource::Cell))
            .collect(),
        SrSpaceId::Moremnas => vec![SrSource::Cell(slot - 1)],
    }
}

/// Columns of a source's segment: its widest output.
fn segment_width(s: SrSource) -> i64 {
    match s {
        SrSource::Features => i64::from(SR_FEATURES),
        SrSource::Cell(_) => WIDE,
    }
}

/// Every shared tensor of `space`'s supernet: (weight name, shape, ReLU after it, groups
/// its slices take), in a stable order; each has a bias of its first dimension.
fn layout(space: SrSpaceId) -> Vec<(String, [i64; 4], bool, i64)> {
    let fe = i64::from(SR_FEATURES);
    let mut v = vec![("fe".to_string(), [fe, 1, 3, 3], true, 1)];
    let width = |slot: usize| -> i64 {
        possible_sources(space, slot)
            .into_iter()
            .map(segment_width)
            .sum()
    };
    for slot in 0..SR_CELLS {
        let cin = width(slot);
        for op in [SrOp::Conv, SrOp::Group2, SrOp::Group4] {
            for r in 0..DEEPEST {
                let c = if r == 0 { cin } else { WIDE };
                let name = format!("cells.{slot}.{}.{r}.conv", op.name());
                v.push((name, [WIDE, c, 3, 3], true, i64::from(op.groups())));
            }
        }
        let ib = format!("cells.{slot}.{}", SrOp::Invbot.name());
        v.push((format!("{ib}.map"), [WIDE, cin, 1, 1], false, 1));
        for r in 0..DEEPEST {
            v.push((format!("{ib}.{r}.expand"), [2 * WIDE, WIDE, 3, 3], true, 1));
            v.push((format!("{ib}.{r}.dw"), [2 * WIDE, 1, 3, 3], true, 2 * WIDE));
            v.push((
                format!("{ib}.{r}.project"),
                [WIDE, 2 * WIDE, 3, 3],
                false,
                1,
            ));
        }
    }
    v.push(("tail".into(), [fe, width(SR_CELLS), 3, 3], true, 1));
    v.push(("out".into(), [1, fe / 4, 3, 3], false, 1));
    v
}

/// Output `o` of `f` in `g` groups → its row among `rows` (group `j` owns rows
/// `j·rows/g …`), so a channel keeps its group whatever the width.
fn grouped_rows(f: i64, g: i64, rows: i64) -> Vec<i64> {
    let per = f / g;
    (0..f).map(|o| (o / per) * (rows / g) + o % per).collect()
}

/// A weight-sharing super-resolution supernet.
pub struct SrSupernet {
    /// Its space.
    pub space: SrSpaceId,
    /// `<name>.weight` and `<name>.bias` of every shared tensor, in [`layout`] order.
    params: Vec<(String, Tensor)>,
    index: HashMap<String, usize>,
}

impl SrSupernet {
    /// Fresh shared weights (seeded): He-uniform for tensors followed by a ReLU, a third
    /// of the variance for linear ones, with the fan-in of a 64-wide input (a 32-wide
    /// one for the feature extractor's readers); biases zero.
    pub fn new(space: SrSpaceId, seed: u64, device: Device) -> SrSupernet {
        tch::manual_seed(seed as i64);
        let mut params = Vec::new();
        for (name, shape, relu, groups) in layout(space) {
            let [cout, cin, k, _] = shape;
            let fan_in = if groups == cout && cin == 1 {
                (k * k) as f64
            } else {
                (cin.min(WIDE) / groups * k * k) as f64
            };
            let bound = if relu { 6.0 } else { 2.0 };
            let bound = (bound / fan_in).sqrt();
            let w = Tensor::empty(shape, (Kind::Float, device))
                .uniform_(-bound, bound)
                .set_requires_grad(true);
            let b = Tensor::zeros([cout], (Kind::Float, device)).set_requires_grad(true);
            params.push((format!("{name}.weight"), w));
            params.push((format!("{name}.bias"), b));
        }
        let index = params
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (n.clone(), i))
            .collect();
        SrSupernet {
            space,
            params,
            index,
        }
    }

    /// Shared parameters.
    pub fn param_count(&self) -> i64 {
        self.params.iter().map(|(_, t)| t.numel() as i64).sum()
    }

    fn tensor(&self, name: &str) -> Result<&Tensor> {
        self.index
            .get(name)
            .map(|&i| &self.params[i].1)
            .ok_or_else(|| Error::Usage(format!("the supernet has no tensor {name}")))
    }

    /// The sub-network of `arch`: an [`SrNet`] on slices of the shared tensors (see the
    /// module's documentation), through which gradients reach them.
    pub fn subnet(&self, arch: &SrArch) -> Result<SrNet> {
        self.subnet_with(arch, true)
    }

    /// `arch`'s sub-network with the cells cut off: the tail's columns that read a cell
    /// are zeroed, so only the fixed parts (and a FALSR link from the feature extractor
    /// to the tail) act. Scored beside [`SrSupernet::subnet`], it shows how much the
    /// cells add; a supernet whose cells add next to nothing cannot rank them.
    pub fn fixed_parts(&self, arch: &SrArch) -> Result<SrNet> {
        self.subnet_with(arch, false)
    }

    fn subnet_with(&self, arch: &SrArch, cells: bool) -> Result<SrNet> {
        arch.validate()?;
        if arch.space != self.space {
            return Err(Error::Usage(format!(
                "{} is an architecture of {}, the supernet is of {}",
                arch.encode(),
                arch.space,
                self.space
            )));
        }
        let plan = arch.plan();
        use lookup_tables::sr::SrNodeOp;
        // The output node of each cell: the last node of its part.
        let mut cell_out = [0usize; SR_CELLS];
        let mut fe = 0;
        for (i, n) in plan.iter().enumerate() {
            if (1..=SR_CELLS).contains(&n.part) {
                cell_out[n.part - 1] = i;
            }
            if n.name == "fe" {
                fe = i;
            }
        }
        // Each node's channels as rows of the shared tensor that wrote them.
        let mut canon: Vec<Vec<i64>> = Vec::with_capacity(plan.len());
        let mut params = Vec::new();
        // The tail's columns kept when the cells are cut off (1: the feature extractor's).
        let mut keep: Vec<f32> = Vec::new();
        for n in &plan {
            let rows = match n.op {
                SrNodeOp::Input => vec![0],
                SrNodeOp::Conv {
                    cout,
                    kernel,
                    groups,
                    ..
                } => {
                    let (shared, slot) = self.shared_name(&n.name, arch)?;
                    let w = self.tensor(&format!("{shared}.weight"))?;
                    let b = self.tensor(&format!("{shared}.bias"))?;
                    let depthwise = w.size()[1] == 1 && groups > 1;
                    let g = if depthwise { 1 } else { i64::from(groups) };
                    let rows = grouped_rows(i64::from(cout), g, w.size()[0]);
                    let reads_slot = slot.is_some_and(|_| {
                        let input = &plan[n.inputs[0]];
                        matches!(input.op, SrNodeOp::Concat) || input.part != n.part
                    });
                    let cols =
                        if depthwise {
                            None
                        } else if let (true, Some(slot)) = (reads_slot, slot) {
                            let possible = possible_sources(self.space, slot);
                            let mut cols = Vec::new();
                            let cut = !cells && n.name == "tail";
                            for s in arch.sources(slot) {
                                let at = possible
                                    .iter()
                                    .position(|&p| p == s)
                                    .expect("an architecture's sources are possible ones");
                                let offset: i64 =
                                    possible[..at].iter().map(|&p| segment_width(p)).sum();
                                let node = match s {
                                    SrSource::Features => fe,
                                    SrSource::Cell(m) => cell_out[m],
                                };
                                cols.extend(canon[node].iter().map(|c| c + offset));
                                if cut {
                                    keep.extend(canon[node].iter().map(|_| {
                                        if s == SrSource::Features { 1f32 } else { 0f32 }
                                    }));
                                }
                            }
                            Some(cols)
                        } else {
                            Some(canon[n.inputs[0]].clone())
                        };
                    let (w, b) = slice(w, b, &rows, cols.as_deref(), g, kernel);
                    let w = if keep.is_empty() {
                        w
                    } else {
                        let k = keep.len() as i64;
                        let mask = Tensor::from_slice(&keep).to_device(w.device());
                        keep.clear();
                        w * mask.view([1, k, 1, 1])
                    };
                    params.push((format!("{}.weight", n.name), w));
                    params.push((format!("{}.bias", n.name), b));
                    rows
                }
                SrNodeOp::Add => canon[n.inputs[0]].clone(),
                SrNodeOp::Concat => Vec::new(),
                SrNodeOp::DepthToSpace => (0..i64::from(n.channels)).collect(),
            };
            canon.push(rows);
        }
        Ok(SrNet::from_params(arch, params))
    }

    /// The shared tensor a plan node's convolution slices, and the input slot it belongs
    /// to (cells and the tail; `None` for the fixed ends).
    fn shared_name(&self, node: &str, arch: &SrArch) -> Result<(String, Option<usize>)> {
        if node == "tail" {
            return Ok((node.into(), Some(SR_CELLS)));
        }
        if let Some(rest) = node.strip_prefix("cells.") {
            let (slot, tail) = rest.split_once('.').unwrap_or((rest, ""));
            let slot: usize = slot
                .parse()
                .map_err(|_| Error::Usage(format!("plan node {node}: no cell position")))?;
            let op = arch.cells[slot].op.name();
            return Ok((format!("cells.{slot}.{op}.{tail}"), Some(slot)));
        }
        Ok((node.into(), None))
    }

    /// FairNAS's strictly fair paths of one step: four architectures, path `p` taking
    /// at each position the `p`-th operator of a fresh permutation, its other choices
    /// and the links drawn uniformly.
    pub fn fair_paths(space: SrSpaceId, rng: &mut SplitMix64) -> Vec<SrArch> {
        let perms: Vec<Vec<SrOp>> = (0..SR_CELLS)
            .map(|_| {
                let mut ops = SrOp::ALL.to_vec();
                for i in (1..ops.len()).rev() {
                    ops.swap(i, rng.below(i as u64 + 1) as usize);
                }
                ops
            })
            .collect();
        let mut pick = |choices: &[u32]| choices[rng.below(choices.len() as u64) as usize];
        (0..SrOp::ALL.len())
            .map(|p| {
                let cells = perms
                    .iter()
                    .map(|perm| SrCell {
                        op: perm[p],
                        filters: pick(&SR_FILTERS),
                        kernel: pick(&SR_KERNELS),
                        repeats: pick(&SR_REPEATS),
                        skip: pick(&[0, 1]) == 1,
                    })
                    .collect();
                let links = (0..space.link_bits()).map(|_| pick(&[0, 1]) == 1).collect();
                SrArch {
                    space,
                    cells,
                    links,
                }
            })
            .collect()
    }

    /// The supernet of the checkpoint in `dir` (a `moga sr supernet` folder) and its
    /// record.
    pub fn open(dir: &Path, device: Device) -> Result<(SrSupernet, SrSupernetState)> {
        let state = read_state(dir)?;
        let file = dir.join(SR_SUPERNET_WEIGHTS);
        let (net, _) = SrSupernet::load(state.config.space, &file, device)?;
        Ok((net, state))
    }

    /// Writes the shared tensors, Adam's moments when given, and the step they are of
    /// (atomically).
    fn save(&self, file: &Path, adam: Option<&Adam>, step: usize) -> Result<()> {
        let mut named: Vec<(String, Tensor)> = self
            .params
            .iter()
            .map(|(n, t)| (n.clone(), t.shallow_clone()))
            .collect();
        if let Some(adam) = adam {
            named.extend(adam.state(&self.params));
        }
        named.push(("meta.step".into(), Tensor::from(step as i64)));
        crate::weights::write_atomic(&named, file)
    }

    /// The supernet of `space` in `file`, and everything the file holds (Adam's moments
    /// and the step, for a resumed run).
    fn load(
        space: SrSpaceId,
        file: &Path,
        device: Device,
    ) -> Result<(SrSupernet, HashMap<String, Tensor>)> {
        let mut net = SrSupernet::new(space, 0, device);
        let not_of = format!("not a {space} supernet");
        let holder = format!("the {space} supernet");
        let read = read_into(file, &mut net.params, &not_of, &holder)?;
        Ok((net, read))
    }
}

/// `w`'s rows `rows`, columns `cols` (a grouped convolution's block-diagonal part when
/// `groups` > 1), its 3×3 kernel's centre for a 1×1 one; `b`'s rows.
fn slice(
    w: &Tensor,
    b: &Tensor,
    rows: &[i64],
    cols: Option<&[i64]>,
    groups: i64,
    kernel: u32,
) -> (Tensor, Tensor) {
    let device = w.device();
    let r = Tensor::from_slice(rows).to_device(device);
    let mut t = w.index_select(0, &r);
    if let Some(cols) = cols {
        t = t.index_select(1, &Tensor::from_slice(cols).to_device(device));
        if groups > 1 {
            let (per_out, per_in) = (rows.len() as i64 / groups, cols.len() as i64 / groups);
            let blocks: Vec<Tensor> = (0..groups)
                .map(|j| {
                    t.narrow(0, j * per_out, per_out)
                        .narrow(1, j * per_in, per_in)
                })
                .collect();
            t = Tensor::cat(&blocks, 0);
        }
    }
    if kernel == 1 && t.size()[2] == 3 {
        t = t.narrow(2, 1, 1).narrow(3, 1, 1);
    }
    (t, b.index_select(0, &r))
}

/// How to train a supernet.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SrSupernetConfig {
    /// The space.
    pub space: SrSpaceId,
    /// The image folder.
    pub data: PathBuf,
    /// Budget, batches (every path of a step sees the same batch), rate, evaluations
    /// (the presets scored), seed (of weights, patches and paths).
    #[serde(flatten)]
    pub schedule: SrSchedule,
}

/// One evaluation of a supernet during training.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SrSupernetRecord {
    /// Steps done.
    pub step: usize,
    /// Training seconds so far.
    pub seconds: f64,
    /// Mean L1 loss over the paths since the previous record.
    pub loss: f64,
    /// Each preset of the space with inherited weights: (name, PSNR dB on the held-out
    /// centre crops).
    pub presets: Vec<(String, f64)>,
    /// The same with the cells cut off ([`SrSupernet::fixed_parts`]): what the fixed
    /// parts alone reach. Inherited PSNR barely above it means the supernet learned to
    /// route around the cells, so its scores say little about them (empty in records
    /// written before it was kept).
    #[serde(default)]
    pub fixed_parts: Vec<(String, f64)>,
}

/// The least the cells must add to every preset's inherited PSNR (over the fixed parts
/// alone) for a supernet not to be flagged as routing around them. Measured with
/// scripts/bench/sr_supernet_trials.py: a supernet whose cells add about 0.25 dB gave every
/// architecture the same score (Kendall tau about 0 against brief training).
pub const ROUTE_AROUND_DB: f64 = 0.5;

impl SrSupernetRecord {
    /// Whether cutting the cells off costs every preset under [`ROUTE_AROUND_DB`]: the
    /// supernet has learned to route around its cells, so it cannot rank them. False for
    /// records without [`SrSupernetRecord::fixed_parts`].
    pub fn routes_around_cells(&self) -> bool {
        !self.fixed_parts.is_empty()
            && self
                .presets
                .iter()
                .zip(&self.fixed_parts)
                .all(|((_, p), (_, f))| p - f < ROUTE_AROUND_DB)
    }
}

/// A supernet checkpoint's record ([`SR_SUPERNET_RECORD`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SrSupernetState {
    /// The settings.
    pub config: SrSupernetConfig,
    /// Shared parameters.
    pub params: i64,
    /// Steps done.
    pub steps_done: usize,
    /// Training seconds so far.
    pub seconds: f64,
    /// Every evaluation.
    pub records: Vec<SrSupernetRecord>,
    /// Bicubic on the same crops.
    pub bicubic: SrScore,
    /// Side of the held-out centre crops scores are made on.
    pub eval_crop: usize,
}

impl SrSupernetState {
    /// Why the last evaluation's inherited scores are unlikely to rank architectures,
    /// if they are: every preset below bicubic (the shared weights have not learned to
    /// super-resolve yet), or the supernet routing around its cells
    /// ([`SrSupernetRecord::routes_around_cells`]).
    pub fn weak_oracle(&self) -> Option<String> {
        let last = self.records.last()?;
        let bicubic = self.bicubic.psnr_db;
        if !last.presets.is_empty() && last.presets.iter().all(|(_, p)| *p < bicubic) {
            return Some(format!(
                "at step {} every preset with inherited weights scores below bicubic ({bicubic:.2} dB): the shared weights have not learned to super-resolve yet",
                last.step
            ));
        }
        last.routes_around_cells().then(|| {
            format!(
                "at step {} cutting the cells off costs every preset under {ROUTE_AROUND_DB} dB: the supernet routes around its cells",
                last.step
            )
        })
    }
}

struct FairLearner<'a> {
    net: SrSupernet,
    adam: Adam,
    rng: SplitMix64,
    held: &'a [SrPair],
    state: SrSupernetState,
    out: &'a Path,
    progress: &'a mut dyn FnMut(&SrSupernetRecord),
}

impl Learner for FairLearner<'_> {
    fn learn(&mut self, x: &Tensor, y: &Tensor, lr: f64) -> Result<f64> {
        let paths = SrSupernet::fair_paths(self.net.space, &mut self.rng);
        let mut sum = 0.0;
        for arch in &paths {
            let sub = self.net.subnet(arch)?;
            let loss = (sub.forward(x) - y).abs().mean(Kind::Float);
            loss.backward();
            sum += loss.double_value(&[]);
        }
        self.adam.step(&mut self.net.params, lr);
        Ok(sum / paths.len() as f64)
    }

    fn evaluate(&mut self, step: usize, seconds: f64, loss: f64) -> Result<()> {
        let (mut presets, mut fixed_parts) = (Vec::new(), Vec::new());
        for p in SR_PRESETS
            .iter()
            .filter(|p| p.arch().space == self.net.space)
        {
            let (s, _) = self.net.subnet(&p.arch())?.score(self.held);
            let (f, _) = self.net.fixed_parts(&p.arch())?.score(self.held);
            presets.push((p.name.to_string(), s.psnr_db));
            fixed_parts.push((p.name.to_string(), f.psnr_db));
        }
        let r = SrSupernetRecord {
            step,
            seconds,
            loss,
            presets,
            fixed_parts,
        };
        (self.progress)(&r);
        self.state.records.push(r);
        self.state.steps_done = step;
        self.state.seconds = seconds;
        self.net
            .save(&self.out.join(SR_SUPERNET_WEIGHTS), Some(&self.adam), step)?;
        let text = serde_json::to_string_pretty(&self.state).expect("records serialise");
        lookup_tables::write_atomic(&self.out.join(SR_SUPERNET_RECORD), text.as_bytes())
            .map_err(Error::from)
    }
}

/// Trains a supernet into `out` (checkpointed atomically at every evaluation). With
/// `resume`, continues the checkpoint in `out` under `config` (the checkpoint's
/// settings, perhaps with a longer budget; a finished run returns at once).
pub fn train_sr_supernet(
    config: &SrSupernetConfig,
    device: Device,
    out: &Path,
    resume: bool,
    progress: &mut dyn FnMut(&SrSupernetRecord),
) -> Result<SrSupernetState> {
    let images = SrImages::load(&config.data)?;
    let train = SrPair::all(&images.train);
    let held: Vec<SrPair> = SrPair::all(&images.held_out)
        .iter()
        .map(|p| centre(p, BRIEF_EVAL_SIDE))
        .collect();
    let bicubic = mean_score(&held.iter().map(bicubic_baseline).collect::<Vec<_>>());
    let (net, adam, state) = if resume {
        let state = read_state(out)?;
        let file = out.join(SR_SUPERNET_WEIGHTS);
        let (net, read) = SrSupernet::load(state.config.space, &file, device)?;
        let mut adam = Adam::new(&net.params);
        adam.restore(&net.params, &read);
        let step = read
            .get("meta.step")
            .map_or(0, |t| t.int64_value(&[]).max(0) as usize);
        let mut state = state;
        // The caller's settings: the checkpoint's, with the budget it may have extended.
        state.config = config.clone();
        state.records.retain(|r| r.step <= step);
        state.steps_done = step;
        state.seconds = state.records.last().map_or(0.0, |r| r.seconds);
        (net, adam, state)
    } else {
        let net = SrSupernet::new(config.space, config.schedule.seed, device);
        let adam = Adam::new(&net.params);
        let state = SrSupernetState {
            config: config.clone(),
            params: net.param_count(),
            steps_done: 0,
            seconds: 0.0,
            records: Vec::new(),
            bicubic,
            eval_crop: BRIEF_EVAL_SIDE,
        };
        (net, adam, state)
    };
    let c = state.config.schedule;
    let schedule = Schedule::new(c, device, WARMUP_STEPS)?;
    let start = (state.steps_done, state.seconds);
    let mut learner = FairLearner {
        net,
        adam,
        rng: SplitMix64::new(c.seed ^ 0xFA12 ^ (start.0 as u64).wrapping_mul(0x9E37_79B9)),
        held: &held,
        state,
        out,
        progress,
    };
    schedule.run(&train, start, &mut learner)?;
    Ok(learner.state)
}

/// A supernet checkpoint's record.
pub fn read_state(dir: &Path) -> Result<SrSupernetState> {
    let file = dir.join(SR_SUPERNET_RECORD);
    let text = std::fs::read_to_string(&file).map_err(|e| {
        Error::Usage(format!(
            "reading {} ({e}): is {} a `moga sr supernet` output folder?",
            file.display(),
            dir.display()
        ))
    })?;
    serde_json::from_str(&text)
        .map_err(|e| Error::Usage(format!("{}: not a supernet record ({e})", file.display())))
}

/// A supernet checkpoint as the search's oracle: each architecture's PSNR and SSIM with
/// inherited weights on the held-out centre crops ([`BRIEF_EVAL_SIDE`]), the crops
/// FALSR's brief training is scored on; cached in memory.
pub struct SupernetSr {
    /// The checkpoint folder.
    pub dir: PathBuf,
    /// Its record.
    pub state: SrSupernetState,
    net: SrSupernet,
    held: Vec<SrPair>,
    cache: HashMap<String, SrScore>,
    /// Architectures scored in this process.
    pub scored: usize,
    /// Seconds spent scoring.
    pub seconds: f64,
}

impl SupernetSr {
    /// Opens the checkpoint in `dir`, scoring on the held-out images of `data`.
    pub fn open(dir: &Path, data: &Path, device: Device) -> Result<SupernetSr> {
        let (net, state) = SrSupernet::open(dir, device)?;
        let images = SrImages::load(data)?;
        let held = SrPair::all(&images.held_out)
            .iter()
            .map(|p| centre(p, BRIEF_EVAL_SIDE))
            .collect();
        Ok(SupernetSr {
            dir: dir.to_path_buf(),
            state,
            net,
            held,
            cache: HashMap::new(),
            scored: 0,
            seconds: 0.0,
        })
    }

    /// The space the supernet covers.
    pub fn space(&self) -> SrSpaceId {
        self.net.space
    }

    /// `arch`'s held-out PSNR and SSIM with inherited weights.
    pub fn score(&mut self, arch: &SrArch) -> Result<SrScore> {
        let key = arch.encode();
        if let Some(s) = self.cache.get(&key) {
            return Ok(*s);
        }
        let t0 = Instant::now();
        let (s, _) = tch::no_grad(|| self.net.subnet(arch).map(|n| n.score(&self.held)))?;
        self.scored += 1;
        self.seconds += t0.elapsed().as_secs_f64();
        self.cache.insert(key, s);
        Ok(s)
    }

    /// Bicubic on the same crops.
    pub fn bicubic(&self) -> SrScore {
        mean_score(&self.held.iter().map(bicubic_baseline).collect::<Vec<_>>())
    }

    /// `arch`'s sub-network with inherited weights (to export or fine-tune).
    pub fn subnet(&self, arch: &SrArch) -> Result<SrNet> {
        self.net.subnet(arch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arch(text: &str) -> SrArch {
        SrArch::parse(text).unwrap()
    }

    /// Every sub-network has exactly the stand-alone network's tensors (so it exports
    /// and loads by name) and upscales ×2.
    #[test]
    fn subnets_have_the_stand_alone_tensors() {
        for space in SrSpaceId::ALL {
            let net = SrSupernet::new(space, 1, Device::Cpu);
            let presets = SR_PRESETS
                .iter()
                .filter(|p| p.arch().space == space)
                .map(|p| p.arch());
            for a in presets.chain(SrArch::sample_n(space, 12, 7)) {
                let sub = net.subnet(&a).unwrap();
                let alone = SrNet::new(&a, 0, Device::Cpu).unwrap();
                let shapes = |n: &SrNet| -> Vec<(String, Vec<usize>)> {
                    n.named_values()
                        .into_iter()
                        .map(|(n, s, _)| (n, s))
                        .collect()
                };
                assert_eq!(shapes(&sub), shapes(&alone), "{}", a.encode());
                let y = tch::no_grad(|| {
                    sub.forward(&Tensor::rand([1, 1, 6, 5], (Kind::Float, Device::Cpu)))
                });
                assert_eq!(y.size(), [1, 1, 12, 10]);
            }
            let other = SrSpaceId::ALL.into_iter().find(|&s| s != space).unwrap();
            let e = net.subnet(&SrArch::sample_n(other, 1, 1)[0]).err().unwrap();
            assert!(e.to_string().contains("the supernet is of"), "{e}");
        }
    }

    fn weight(net: &SrNet, name: &str) -> Tensor {
        let (_, shape, v) = net
            .named_values()
            .into_iter()
            .find(|(n, _, _)| n == name)
            .unwrap();
        let shape: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        Tensor::from_slice(&v).reshape(shape)
    }

    /// Cutting the cells off zeroes exactly the tail's columns that read a cell: a FALSR
    /// link from the feature extractor to the tail keeps its 32, and in the chain every
    /// architecture's fixed parts compute the same function.
    #[test]
    fn cutting_the_cells_off_leaves_the_fixed_parts() {
        let net = SrSupernet::new(SrSpaceId::Falsr, 3, Device::Cpu);
        let (mut with_fe, mut without) = (0, 0);
        for a in SrArch::sample_n(SrSpaceId::Falsr, 16, 5) {
            let (full, cut) = (net.subnet(&a).unwrap(), net.fixed_parts(&a).unwrap());
            let (wf, wc) = (weight(&full, "tail.weight"), weight(&cut, "tail.weight"));
            let kept = if a.sources(SR_CELLS).contains(&SrSource::Features) {
                with_fe += 1;
                SR_FEATURES as i64
            } else {
                without += 1;
                0
            };
            let n = wf.size()[1];
            assert!(
                wc.narrow(1, 0, kept).equal(&wf.narrow(1, 0, kept)),
                "{}",
                a.encode()
            );
            assert_eq!(
                wc.narrow(1, kept, n - kept)
                    .abs()
                    .sum(Kind::Float)
                    .double_value(&[]),
                0.0
            );
            assert!(weight(&cut, "fe.weight").equal(&weight(&full, "fe.weight")));
        }
        assert!(with_fe > 0 && without > 0, "{with_fe} {without}");
        let net = SrSupernet::new(SrSpaceId::Moremnas, 3, Device::Cpu);
        let x = Tensor::rand([1, 1, 6, 5], (Kind::Float, Device::Cpu));
        let outs: Vec<Tensor> = SrArch::sample_n(SrSpaceId::Moremnas, 3, 9)
            .iter()
            .map(|a| tch::no_grad(|| net.fixed_parts(a).unwrap().forward(&x)))
            .collect();
        assert!(outs[0].allclose(&outs[1], 1e-6, 1e-6, false));
        assert!(outs[0].allclose(&outs[2], 1e-6, 1e-6, false));
    }

    /// Narrower choices take the widest's channels group by group, 1×1 kernels its
    /// centre, and a source read by a later cell keeps its columns whatever else is
    /// concatenated before it.
    #[test]
    fn choices_slice_the_widest_consistently() {
        let net = SrSupernet::new(SrSpaceId::Moremnas, 3, Device::Cpu);
        let rest = "-conv_f16_k3_b1_noskip".repeat(6);
        let wide = net
            .subnet(&arch(&format!("moremnas:group2_f64_k3_b2_noskip{rest}")))
            .unwrap();
        let narrow = net
            .subnet(&arch(&format!("moremnas:group2_f16_k1_b2_noskip{rest}")))
            .unwrap();
        // Block 1 reads block 0: 16 of 64 outputs in 2 groups are rows 0..8 and 32..40.
        let w = weight(&wide, "cells.0.1.conv.weight");
        let n = weight(&narrow, "cells.0.1.conv.weight");
        assert_eq!(w.size(), [64, 32, 3, 3]);
        assert_eq!(n.size(), [16, 8, 1, 1]);
        let expect = Tensor::cat(
            &[
                w.narrow(0, 0, 8).narrow(1, 0, 8),
                w.narrow(0, 32, 8).narrow(1, 0, 8),
            ],
            0,
        )
        .narrow(2, 1, 1)
        .narrow(3, 1, 1);
        assert!(n.equal(&expect));
        // The next cell reads cell 0's channels at their rows of the widest.
        let w = weight(&wide, "cells.1.0.conv.weight");
        let n = weight(&narrow, "cells.1.0.conv.weight");
        let expect = Tensor::cat(&[w.narrow(1, 0, 8), w.narrow(1, 32, 8)], 1);
        assert!(n.equal(&expect));

        let net = SrSupernet::new(SrSpaceId::Falsr, 3, Device::Cpu);
        let cells = "conv_f32_k3_b1_noskip-".repeat(6) + "conv_f16_k3_b1_noskip";
        // The tail reads the feature extractor (segment 0) and cell 6 (last segment).
        let only_chain = net
            .subnet(&arch(&format!("falsr:{cells}/{}", "0".repeat(28))))
            .unwrap();
        let mut bits = vec!['0'; 28];
        bits[21] = '1'; // the tail's link from the feature extractor
        let with_fe: String = bits.into_iter().collect();
        let both = net
            .subnet(&arch(&format!("falsr:{cells}/{with_fe}")))
            .unwrap();
        let t1 = weight(&only_chain, "tail.weight");
        let t2 = weight(&both, "tail.weight");
        assert_eq!(t1.size(), [32, 16, 3, 3]);
        assert_eq!(t2.size(), [32, 48, 3, 3]);
        assert!(t2.narrow(1, 32, 16).equal(&t1), "cell 6 keeps its columns");
    }

    /// FairNAS: the four paths of a step take each operator exactly once per position,
    /// so one step gives every operator's first block a gradient.
    #[test]
    fn a_fair_step_trains_every_operator_once() {
        let mut rng = SplitMix64::new(4);
        for space in SrSpaceId::ALL {
            let net = SrSupernet::new(space, 2, Device::Cpu);
            let paths = SrSupernet::fair_paths(space, &mut rng);
            assert_eq!(paths.len(), 4);
            for slot in 0..SR_CELLS {
                let mut ops: Vec<SrOp> = paths.iter().map(|a| a.cells[slot].op).collect();
                ops.sort();
                assert_eq!(ops, SrOp::ALL, "position {slot}");
            }
            let x = Tensor::rand([2, 1, 6, 6], (Kind::Float, Device::Cpu));
            for a in &paths {
                net.subnet(a)
                    .unwrap()
                    .forward(&x)
                    .abs()
                    .mean(Kind::Float)
                    .backward();
            }
            for slot in 0..SR_CELLS {
                for op in SrOp::ALL {
                    let first = match op {
                        SrOp::Invbot => format!("cells.{slot}.invbot.map.weight"),
                        op => format!("cells.{slot}.{}.0.conv.weight", op.name()),
                    };
                    let g = net.tensor(&first).unwrap().grad();
                    assert!(
                        g.defined() && g.abs().sum(Kind::Float).double_value(&[]) > 0.0,
                        "{first}"
                    );
                }
            }
        }
    }
}
