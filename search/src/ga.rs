//! The evolutionary engine on a per-gene choice encoding: NSGA-II (Deb et al. 2002:
//! fast non-dominated sorting, crowding distance, binary tournament, uniform crossover,
//! per-gene mutation, elitist survival), MoGA's weighted variant (per-objective weights
//! in the crowding distance that both the tournament and the survival of the last front
//! use), optional MoreMNAS reinforced mutation, and random search with the same number
//! of evaluations as the baseline. Deterministic for a seed.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use lookup_tables::SplitMix64;
use serde::Serialize;

use crate::pareto::{self, Point};
use crate::rl::{Controller, RlConfig};

/// A problem on a choice encoding.
pub trait Problem {
    /// Choices per gene.
    fn cardinalities(&self) -> &[usize];
    /// Objectives per evaluation.
    fn objectives(&self) -> usize;
    /// Writes the objectives (all minimised) of a genome into `f` and returns its
    /// constraint violation (0 when feasible); an error (an accuracy oracle that
    /// failed) stops the run.
    fn evaluate(&mut self, genes: &[usize], f: &mut [f64]) -> crate::Result<f64>;
    /// Per gene, the choices that can be on the Pareto front at all, when the problem
    /// knows (a choice its layer dominates in every objective of an additive problem
    /// cannot), in order along the layer's own trade-off; the archive's neighbour moves
    /// keep to them and mostly step to an adjacent one. `None`: every choice.
    fn useful_choices(&self) -> Option<Vec<Vec<usize>>> {
        None
    }
}

/// Which algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// NSGA-II.
    Nsga2,
    /// MoGA's weighted NSGA-II.
    Moga,
    /// Uniform random sampling.
    Random,
    /// The exact front of additive objectives ([`crate::exact`]), not evolutionary.
    Exact,
}

/// Settings of a run.
#[derive(Clone, Debug, Serialize)]
pub struct GaConfig {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// Individuals per generation.
    pub population: usize,
    /// Generations after the initial one (random search evaluates as many individuals).
    pub generations: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// Probability of crossover for a pair of parents.
    pub crossover_prob: f64,
    /// Per-gene mutation probability (default 1 / genes).
    pub mutation_prob: Option<f64>,
    /// Per-objective weights of the crowding distance (MoGA); NSGA-II uses 1 for all.
    pub weights: Vec<f64>,
    /// Reinforced mutation.
    pub rl: Option<RlConfig>,
    /// Share of each generation's children bred from the elite archive (every feasible
    /// non-dominated genome found so far) instead of the population: half of them a
    /// member with exactly one gene changed (a neighbour: Pareto local search inside
    /// NSGA-II), half a path relinking of two members next to each other on the front
    /// (part of the genes in which they differ taken from each). 0 is plain NSGA-II.
    #[serde(default)]
    pub archive_share: f64,
    /// Genomes placed in the initial population before random ones (e.g. the exact
    /// latency/parameter front); at most `population` are used.
    #[serde(skip)]
    pub initial: Vec<Vec<usize>>,
    /// FALSR's hybrid mutation: roulette wheels, each a weight per gene and choice
    /// (e.g. biased by multiply-adds, by parameters). A gene that mutates draws its new
    /// choice from one of them, picked uniformly, with probability `roulette_share`;
    /// otherwise uniformly (random mutation). Empty: random mutation only.
    #[serde(skip)]
    pub roulettes: Vec<Vec<Vec<f64>>>,
    /// Share of gene mutations drawn from the roulettes.
    #[serde(default)]
    pub roulette_share: f64,
    /// Keep every generation's population in [`GaResult::history`] (a report that
    /// lists them); otherwise only each generation's size and evaluations are kept:
    /// copying 20,000 rows nobody reads is a share of a short search's time.
    #[serde(skip)]
    pub keep_history: bool,
}

/// One genome and its evaluation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Individual {
    /// Choice index per gene.
    pub genes: Vec<usize>,
    /// Objectives (minimised) and violation.
    #[serde(skip)]
    pub point: Point,
}

/// Genomes with their objectives and violations, stored flat: row `i` is
/// `genes[i·L..(i+1)·L]`, `f[i·m..(i+1)·m]`, `violation[i]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rows {
    /// Genes per row.
    pub width: usize,
    /// Objectives per row.
    pub m: usize,
    /// Genes, row after row.
    pub genes: Vec<usize>,
    /// Objectives (minimised), row after row.
    pub f: Vec<f64>,
    /// Constraint violation per row.
    pub violation: Vec<f64>,
}

impl Rows {
    fn new(width: usize, m: usize) -> Rows {
        Rows {
            width,
            m,
            ..Rows::default()
        }
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.violation.len()
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.violation.is_empty()
    }

    /// The genes of row `i`.
    pub fn genes(&self, i: usize) -> &[usize] {
        &self.genes[i * self.width..(i + 1) * self.width]
    }

    /// The objectives of row `i`.
    pub fn f(&self, i: usize) -> &[f64] {
        &self.f[i * self.m..(i + 1) * self.m]
    }

    /// Row `i` as an individual.
    pub fn individual(&self, i: usize) -> Individual {
        Individual {
            genes: self.genes(i).to_vec(),
            point: Point {
                f: self.f(i).to_vec(),
                violation: self.violation[i],
            },
        }
    }

    fn push_from(&mut self, other: &Rows, i: usize) {
        self.genes.extend_from_slice(other.genes(i));
        self.f.extend_from_slice(other.f(i));
        self.violation.push(other.violation[i]);
    }

    fn clear(&mut self) {
        self.genes.clear();
        self.f.clear();
        self.violation.clear();
    }

    /// The feasible non-dominated rows, one per genome (ties in objectives kept).
    pub fn front(&self, keys: &GenomeKeys) -> Vec<usize> {
        self.front_among(keys, &(0..self.len()).collect::<Vec<_>>())
    }

    /// [`Rows::front`] of the rows `among` (which must hold every row that can be on
    /// it).
    pub fn front_among(&self, keys: &GenomeKeys, among: &[usize]) -> Vec<usize> {
        let feasible: Vec<usize> = among
            .iter()
            .copied()
            .filter(|&i| self.violation[i] <= 0.0)
            .collect();
        let mut seen = KeySet::default();
        let mut front: Vec<usize> = pareto::nondominated(&self.f, self.m, &feasible, true)
            .into_iter()
            .filter(|&i| seen.insert(keys.key(self.genes(i))))
            .collect();
        front.sort_unstable();
        front
    }
}

/// The population after one generation (borrowed from the engine).
#[derive(Clone, Copy, Debug)]
pub struct Generation<'a> {
    /// 0 for the initial population.
    pub generation: usize,
    /// Evaluations so far.
    pub evaluations: usize,
    /// The survivors.
    pub population: &'a Rows,
    /// Feasible non-dominated members of the population (indices into it).
    pub front: &'a [usize],
}

/// What a run returns.
#[derive(Clone, Debug)]
pub struct GaResult {
    /// The non-dominated feasible individuals of everything evaluated.
    pub front: Vec<Individual>,
    /// Every generation's population, one after another (`history_sizes` rows each),
    /// with [`GaConfig::keep_history`]; empty otherwise.
    pub history: Rows,
    /// Rows per generation in `history`.
    pub history_sizes: Vec<usize>,
    /// Evaluations made by the end of each generation.
    pub history_evaluations: Vec<usize>,
    /// Evaluations made.
    pub evaluations: usize,
}

impl GaResult {
    /// The rows of generation `g` in `history`.
    pub fn generation_rows(&self, g: usize) -> std::ops::Range<usize> {
        let start: usize = self.history_sizes[..g].iter().sum();
        start..start + self.history_sizes[g]
    }
}

/// A 64-bit multiplicative hasher for genome keys (already well mixed).
#[derive(Default)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u128(&mut self, v: u128) {
        // SplitMix64's finaliser: every input bit reaches the low bits the table
        // indexes by (a bare multiply would leave them to the key's low genes alone).
        let mut z = (v as u64) ^ ((v >> 64) as u64).rotate_left(29);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        self.0 = z ^ (z >> 31);
    }
}

/// A set of genome keys.
pub type KeySet = HashSet<u128, BuildHasherDefault<KeyHasher>>;

/// Genomes as 128-bit keys: the genes packed into ⌈log2 choices⌉ bits each when they
/// fit (every space moga has: the scarlet space needs 76 bits), otherwise a 128-bit
/// hash of the genes (two independent 64-bit mixes; a collision would only make the
/// engine mutate a new genome once more).
#[derive(Clone, Debug)]
pub struct GenomeKeys {
    bits: Vec<u32>,
    packed: bool,
}

impl GenomeKeys {
    /// Keys for genomes with these choice counts.
    pub fn new(cards: &[usize]) -> GenomeKeys {
        let bits: Vec<u32> = cards
            .iter()
            .map(|&c| usize::BITS - c.saturating_sub(1).leading_zeros())
            .collect();
        let packed = bits.iter().sum::<u32>() <= 128;
        GenomeKeys { bits, packed }
    }

    /// The key of a genome.
    pub fn key(&self, genes: &[usize]) -> u128 {
        if self.packed {
            let mut k = 0u128;
            for (&g, &b) in genes.iter().zip(&self.bits) {
                k = (k << b) | g as u128;
            }
            k
        } else {
            let mix = |seed: u64| {
                let mut h = seed;
                for &g in genes {
                    h = (h ^ g as u64).wrapping_mul(0x100_0000_01b3).rotate_left(23);
                }
                h ^ (h >> 29)
            };
            (u128::from(mix(0xcbf2_9ce4_8422_2325)) << 64) | u128::from(mix(0x9e37_79b9_7f4a_7c15))
        }
    }
}

/// How often an archive neighbour move steps to an adjacent choice along its layer's
/// own trade-off (the useful choices in order of their values) rather than to any.
const ADJACENT: f64 = 0.8;

/// Share of the archive's children that relink two neighbouring members (the rest are
/// one-gene neighbour moves). Measured by `scripts/bench/search.sh` on the scarlet
/// space (lat and params, 20,100 evaluations, seeds 1–3): without relinking 99.85–99.88 %
/// of the exact front's hypervolume, with a half 99.985 %.
const RELINK: f64 = 0.5;

/// Buffers survival reuses from one generation to the next.
#[derive(Default)]
struct Buffers {
    sorter: pareto::FrontSorter,
    by: Vec<(u64, usize)>,
    crowd: Vec<f64>,
    keep: Vec<(usize, usize, f64)>,
    order: Vec<usize>,
}

struct Engine<'p> {
    problem: &'p mut dyn Problem,
    cfg: GaConfig,
    cards: Vec<usize>,
    rng: SplitMix64,
    keys: GenomeKeys,
    seen: KeySet,
    all: Rows,
    evaluations: usize,
    controller: Option<Controller>,
    buffers: Buffers,
    /// Per gene, the choices the archive's neighbour moves take.
    useful: Vec<Vec<usize>>,
    /// Genes with more than one useful choice.
    movable: Vec<usize>,
    /// The genes in which two relinked members differ (a reused buffer).
    differ: Vec<usize>,
}

impl Engine<'_> {
    /// Evaluates `genes` into the end of `into` (and the record of everything);
    /// `seen` when its key is in the set already.
    fn evaluate(&mut self, genes: &[usize], into: &mut Rows, seen: bool) -> crate::Result<()> {
        self.evaluations += 1;
        let m = into.m;
        let at = into.f.len();
        into.f.resize(at + m, 0.0);
        let v = self.problem.evaluate(genes, &mut into.f[at..at + m])?;
        into.genes.extend_from_slice(genes);
        into.violation.push(v);
        if !seen {
            self.seen.insert(self.keys.key(genes));
        }
        self.all.push_from(into, into.len() - 1);
        Ok(())
    }

    fn weights(&self, m: usize) -> Vec<f64> {
        match self.cfg.algorithm {
            Algorithm::Moga if !self.cfg.weights.is_empty() => self.cfg.weights.clone(),
            _ => vec![1.0; m],
        }
    }

    fn tournament(&mut self, rank: &[usize], crowd: &[f64]) -> usize {
        let n = rank.len() as u64;
        let (a, b) = (self.rng.below(n) as usize, self.rng.below(n) as usize);
        match pareto::crowded_cmp(rank, crowd, a, b) {
            std::cmp::Ordering::Less => a,
            std::cmp::Ordering::Greater => b,
            std::cmp::Ordering::Equal => {
                if self.rng.next_u64() >> 63 == 0 {
                    a
                } else {
                    b
                }
            }
        }
    }

    fn random_genome(&mut self, out: &mut [usize]) {
        for (g, &c) in out.iter_mut().zip(&self.cards) {
            *g = self.rng.below(c as u64) as usize;
        }
    }

    fn random_mutation(&mut self, genes: &mut [usize]) {
        let pm = self
            .cfg
            .mutation_prob
            .unwrap_or(1.0 / self.cards.len().max(1) as f64);
        if pm <= 0.0 {
            return;
        }
        // Each gene mutates with probability pm: jump from one mutated gene to the next
        // by geometric gaps (one draw per mutation instead of one per gene).
        let log_q = (1.0 - pm).ln();
        let mut i = 0usize;
        loop {
            if pm < 1.0 {
                let u = 1.0 - self.rng.next_f64();
                i = i.saturating_add((u.ln() / log_q).floor() as usize);
            }
            if i >= genes.len() {
                break;
            }
            let c = self.cards[i];
            if c > 1 {
                genes[i] = self.new_choice(i, genes[i], c);
            }
            i += 1;
        }
    }

    /// A choice for gene `i` other than `current`: from a roulette wheel (hybrid
    /// mutation) or uniformly.
    fn new_choice(&mut self, i: usize, current: usize, cards: usize) -> usize {
        let wheels = self.cfg.roulettes.len();
        if wheels > 0 && self.rng.next_f64() < self.cfg.roulette_share {
            let t = self.rng.below(wheels as u64) as usize;
            let w = &self.cfg.roulettes[t][i];
            let total: f64 = (0..cards).filter(|&c| c != current).map(|c| w[c]).sum();
            if total > 0.0 && total.is_finite() {
                let mut x = self.rng.next_f64() * total;
                for c in (0..cards).filter(|&c| c != current) {
                    x -= w[c];
                    if x < 0.0 {
                        return c;
                    }
                }
            }
        }
        let mut v = self.rng.below(cards as u64 - 1) as usize;
        if v >= current {
            v += 1;
        }
        v
    }

    /// One child of `pop` into `child`: its first parent's index and the controller's
    /// action (layer, choice) when the controller mutated it.
    fn offspring(
        &mut self,
        pop: &Rows,
        rank: &[usize],
        crowd: &[f64],
        child: &mut [usize],
    ) -> (usize, Option<(usize, usize)>) {
        let (p1, p2) = (self.tournament(rank, crowd), self.tournament(rank, crowd));
        let mut bits = 0u64;
        child.copy_from_slice(pop.genes(p1));
        if self.rng.next_f64() < self.cfg.crossover_prob {
            // Uniform crossover: one random bit per gene, 64 genes per draw.
            for (k, (g, other)) in child.iter_mut().zip(pop.genes(p2)).enumerate() {
                if k % 64 == 0 {
                    bits = self.rng.next_u64();
                }
                if bits & 1 == 1 {
                    *g = *other;
                }
                bits >>= 1;
            }
        }
        let mut action = None;
        for attempt in 0..10 {
            let reinforced = self.controller.is_some()
                && self.rng.next_f64() < self.cfg.rl.map_or(0.0, |r| r.ratio);
            if reinforced {
                if let Some((l, c)) = self
                    .controller
                    .as_ref()
                    .and_then(|ctl| ctl.propose(child, &mut self.rng))
                {
                    child[l] = c;
                    action = Some((l, c));
                }
            } else {
                self.random_mutation(child);
            }
            // A genome already evaluated teaches nothing: mutate again. (The key goes
            // into the set here, once: the child is evaluated next.)
            if self.seen.insert(self.keys.key(child)) || attempt == 9 {
                break;
            }
            if attempt > 5 {
                self.random_genome(child);
            }
        }
        (p1, action)
    }

    /// A neighbour of archive member `from` (exactly one gene changed) into `child`,
    /// not evaluated before when ten tries find one.
    fn neighbour(&mut self, from: &[usize], child: &mut [usize]) {
        for _ in 0..10 {
            child.copy_from_slice(from);
            if self.movable.is_empty() {
                return;
            }
            let l = self.movable[self.rng.below(self.movable.len() as u64) as usize];
            let options = &self.useful[l];
            let here = options.iter().position(|&c| c == from[l]);
            let c = match here {
                // Mostly a step along the layer's own trade-off: neighbouring front
                // points tend to differ in one layer by one such step.
                Some(k) if self.rng.next_f64() < ADJACENT => {
                    let down = self.rng.next_u64() >> 63 == 1;
                    if (down && k > 0) || k + 1 == options.len() {
                        options[k - 1]
                    } else {
                        options[k + 1]
                    }
                }
                _ => options[self.rng.below(options.len() as u64) as usize],
            };
            if c == from[l] {
                continue;
            }
            child[l] = c;
            if self.seen.insert(self.keys.key(child)) {
                return;
            }
        }
    }

    /// Path relinking into `child`: two members next to each other in `sorted` (the
    /// archive in order of the first objective), the pair drawn by a binary tournament
    /// on the volume of the box between them (the front's widest gaps first), and the
    /// child takes a random part (neither none nor all) of the genes in which they
    /// differ from the second, the rest from the first. With additive objectives such
    /// children are the points that fill the gap. `false` when ten draws find no
    /// unevaluated child.
    fn relink(&mut self, sorted: &[usize], child: &mut [usize]) -> bool {
        if sorted.len() < 2 {
            return false;
        }
        let gap = |all: &Rows, j: usize| {
            let (a, b) = (all.f(sorted[j]), all.f(sorted[j + 1]));
            a.iter().zip(b).map(|(x, y)| (x - y).abs()).product::<f64>()
        };
        let pairs = (sorted.len() - 1) as u64;
        for _ in 0..10 {
            let (x, y) = (
                self.rng.below(pairs) as usize,
                self.rng.below(pairs) as usize,
            );
            let j = if gap(&self.all, y) > gap(&self.all, x) {
                y
            } else {
                x
            };
            let (a, b) = (sorted[j], sorted[j + 1]);
            self.differ.clear();
            let (ga, gb) = (self.all.genes(a), self.all.genes(b));
            self.differ
                .extend((0..ga.len()).filter(|&l| ga[l] != gb[l]));
            if self.differ.len() < 2 {
                continue;
            }
            child.copy_from_slice(self.all.genes(a));
            for _ in 0..4 {
                let (mut some, mut all) = (false, true);
                for &l in &self.differ {
                    if self.rng.next_u64() >> 63 == 1 {
                        child[l] = self.all.genes(b)[l];
                        some = true;
                    } else {
                        child[l] = self.all.genes(a)[l];
                        all = false;
                    }
                }
                if some && !all && self.seen.insert(self.keys.key(child)) {
                    return true;
                }
            }
        }
        false
    }

    /// The next unevaluated neighbour of `from` in a cyclic scan of (gene, choice)
    /// pairs whose position is `at` (advanced past what it tries), into `child`;
    /// `false` when a whole cycle finds none.
    fn scan_neighbour(
        &mut self,
        from: &[usize],
        at: &mut (usize, usize),
        child: &mut [usize],
    ) -> bool {
        let total: usize = self.useful.iter().map(Vec::len).sum();
        for _ in 0..total {
            let (l, k) = *at;
            *at = if k + 1 < self.useful[l].len() {
                (l, k + 1)
            } else {
                ((l + 1) % self.useful.len(), 0)
            };
            let Some(&c) = self.useful[l].get(k) else {
                continue;
            };
            if c == from[l] {
                continue;
            }
            child.copy_from_slice(from);
            child[l] = c;
            if self.seen.insert(self.keys.key(child)) {
                return true;
            }
        }
        false
    }

    /// The controller's reward: the weighted, range-normalised improvement of the
    /// child over its parent (feasibility first).
    fn reward(
        (pf, pv): (&[f64], f64),
        (cf, cv): (&[f64], f64),
        scale: &[f64],
        weights: &[f64],
    ) -> f64 {
        match (pv > 0.0, cv > 0.0) {
            (true, false) => return 1.0,
            (false, true) => return -1.0,
            (true, true) => return (pv - cv).signum(),
            (false, false) => {}
        }
        pf.iter()
            .zip(cf)
            .zip(scale)
            .zip(weights)
            .map(|(((p, c), s), w)| w * (p - c) / s)
            .sum()
    }

    /// NSGA-II's elitist survival of `pool` into `out` (`n` rows, in pool order), with
    /// each survivor's rank and crowding distance (computed within its front of the
    /// pool, as Deb et al. do) for the next generation's tournaments.
    fn survive(
        &mut self,
        pool: &Rows,
        n: usize,
        out: &mut Rows,
        rank: &mut Vec<usize>,
        crowd: &mut Vec<f64>,
        first: &mut Vec<usize>,
    ) {
        let weights = self.weights(pool.m);
        let b = &mut self.buffers;
        b.keep.clear();
        b.sorter.sort(&pool.f, &pool.violation, pool.m);
        for (r, front) in b.sorter.fronts().iter().enumerate() {
            if r == 0 {
                first.clear();
                first.extend_from_slice(front);
            }
            pareto::crowding_into(&pool.f, pool.m, front, &weights, &mut b.by, &mut b.crowd);
            let c = &b.crowd;
            if b.keep.len() + front.len() <= n {
                b.keep.extend(front.iter().zip(c).map(|(&i, &d)| (i, r, d)));
            } else {
                b.order.clear();
                b.order.extend(0..front.len());
                b.order
                    .sort_unstable_by(|&x, &y| c[y].total_cmp(&c[x]).then(x.cmp(&y)));
                let room = n - b.keep.len();
                b.keep
                    .extend(b.order.iter().take(room).map(|&k| (front[k], r, c[k])));
            }
            if b.keep.len() == n {
                break;
            }
        }
        b.keep.sort_unstable_by_key(|k| k.0);
        out.clear();
        rank.clear();
        crowd.clear();
        for &(i, r, d) in &b.keep {
            out.push_from(pool, i);
            rank.push(r);
            crowd.push(d);
        }
    }
}

/// The feasible non-dominated individuals of `all` (duplicates once): the reference
/// the engine's own front is tested against.
/// The elite archive's members sorted in each objective (by value, then index), kept
/// up to date as the archive changes (members leave, new ones join: one merging pass per
/// objective a generation instead of sorting thousands of members m times): the
/// archive's best member in each objective, and a member's crowding distance when a
/// tournament asks for it (its place in each order found by bisection).
struct ArchiveOrders {
    orders: Vec<Vec<(u64, usize)>>,
    /// Scratch: the order being rebuilt.
    scratch: Vec<(u64, usize)>,
}

impl ArchiveOrders {
    fn new(f: &[f64], m: usize, elite: &[usize]) -> ArchiveOrders {
        let mut a = ArchiveOrders {
            orders: vec![Vec::new(); m],
            scratch: Vec::new(),
        };
        a.update(
            f,
            m,
            &crate::pareto::FrontChange {
                joined: elite.to_vec(),
                left: Vec::new(),
            },
        );
        a
    }

    /// The archive changed by `change`: each objective's order is rebuilt from runs of
    /// the old one copied whole, cut where a member left or joined (found by binary
    /// search; a generation changes a few dozen members of thousands).
    fn update(&mut self, f: &[f64], m: usize, change: &crate::pareto::FrontChange) {
        // (position in the old order, Some(entry) to insert before it or None to drop
        // the entry at it), in order of position, inserts before a drop at the same
        // place.
        let mut edits: Vec<(usize, Option<(u64, usize)>)> = Vec::new();
        for (k, o) in self.orders.iter_mut().enumerate() {
            let key = |i: usize| (crate::pareto::ord_key(f[i * m + k]), i);
            edits.clear();
            for &i in &change.left {
                let e = key(i);
                let p = o.partition_point(|x| *x < e);
                debug_assert!(o.get(p) == Some(&e), "a member that left is in the order");
                edits.push((p, None));
            }
            for &i in &change.joined {
                let e = key(i);
                edits.push((o.partition_point(|x| *x < e), Some(e)));
            }
            edits.sort_unstable_by_key(|&(p, e)| (p, e.is_none(), e));
            self.scratch.clear();
            self.scratch.reserve(o.len() + change.joined.len());
            let mut from = 0;
            for &(p, e) in &edits {
                self.scratch.extend_from_slice(&o[from..p]);
                match e {
                    Some(e) => {
                        self.scratch.push(e);
                        from = p;
                    }
                    None => from = p + 1,
                }
            }
            self.scratch.extend_from_slice(&o[from..]);
            std::mem::swap(o, &mut self.scratch);
        }
    }

    /// Member `i`'s crowding distance (as [`crate::pareto::crowding_flat`] computes it
    /// over the archive, ties in an objective ordered by row).
    fn crowding_of(&self, f: &[f64], m: usize, i: usize, weights: &[f64]) -> f64 {
        let mut d = 0.0;
        for (k, (o, &w)) in self.orders.iter().zip(weights).enumerate() {
            let n = o.len();
            if n <= 2 {
                return f64::INFINITY;
            }
            let val = |j: usize| f[o[j].1 * m + k];
            let entry = (crate::pareto::ord_key(f[i * m + k]), i);
            let p = o.partition_point(|e| *e < entry);
            if w > 0.0 && (p == 0 || p == n - 1) {
                return f64::INFINITY;
            }
            let (lo, hi) = (val(0), val(n - 1));
            if hi - lo <= 0.0 || w == 0.0 || p == 0 || p == n - 1 {
                continue;
            }
            d += w * (val(p + 1) - val(p - 1)) / (hi - lo);
        }
        d
    }

    /// The member with the lowest value of each objective.
    fn best(&self) -> Vec<Option<usize>> {
        self.orders.iter().map(|o| o.first().map(|e| e.1)).collect()
    }
}

#[cfg(test)]
pub(crate) fn front_of(all: &[Individual]) -> Vec<Individual> {
    let Some(first) = all.first() else {
        return Vec::new();
    };
    let mut rows = Rows::new(first.genes.len(), first.point.f.len());
    for i in all {
        rows.genes.extend_from_slice(&i.genes);
        rows.f.extend_from_slice(&i.point.f);
        rows.violation.push(i.point.violation);
    }
    let cards: Vec<usize> = (0..rows.width)
        .map(|l| all.iter().map(|i| i.genes[l] + 1).max().unwrap_or(1))
        .collect();
    rows.front(&GenomeKeys::new(&cards))
        .into_iter()
        .map(|i| rows.individual(i))
        .collect()
}

/// Runs the search; `on_generation` sees each generation as it completes (progress).
/// The first evaluation that fails ends the run with its error.
///
/// Per generation the engine costs a non-dominated sort and crowding of the
/// population and its offspring (O(n log n) for two objectives), the evaluations
/// themselves, and a constant-time duplicate check per child (a hashed 128-bit genome
/// key); nothing scans what earlier generations evaluated, and the rows live in flat
/// buffers reused from one generation to the next.
///
/// Why one function of about 260 lines: it is the generation loop, and its steps
/// (variation, RL and roulette mutation, evaluation, survival, the archive and the
/// history) share a dozen reused buffers and the random stream, whose order of draws
/// is part of a seeded run's result. Split, each step would take most of them as
/// arguments; `scripts/bench/search.sh` times this loop against pymoo.
pub fn run(
    problem: &mut dyn Problem,
    cfg: &GaConfig,
    on_generation: &mut dyn FnMut(&Generation),
) -> crate::Result<GaResult> {
    if cfg.algorithm == Algorithm::Exact {
        return Err(crate::Error::Usage(
            "the exact algorithm is a dynamic programme, not an evolutionary run".into(),
        ));
    }
    let cards = problem.cardinalities().to_vec();
    for (t, wheel) in cfg.roulettes.iter().enumerate() {
        let fits = wheel.len() == cards.len()
            && wheel
                .iter()
                .zip(&cards)
                .all(|(w, &c)| w.len() == c && w.iter().all(|x| x.is_finite() && *x >= 0.0));
        if !fits {
            return Err(crate::Error::Usage(format!(
                "roulette {t} needs one non-negative weight per choice of every gene"
            )));
        }
    }
    let m = problem.objectives();
    let width = cards.len();
    let controller = cfg.rl.map(|r| Controller::new(&cards, r.learning_rate));
    let n = cfg.population.max(2);
    let mut e = Engine {
        problem,
        cfg: cfg.clone(),
        keys: GenomeKeys::new(&cards),
        cards: cards.clone(),
        rng: SplitMix64::new(cfg.seed),
        seen: KeySet::with_capacity_and_hasher(n * (cfg.generations + 1), Default::default()),
        all: Rows::new(width, m),
        evaluations: 0,
        controller,
        buffers: Buffers::default(),
        useful: Vec::new(),
        movable: Vec::new(),
        differ: Vec::with_capacity(width),
    };
    e.useful = e
        .problem
        .useful_choices()
        .filter(|u| {
            u.len() == width
                && u.iter()
                    .zip(&cards)
                    .all(|(o, &c)| !o.is_empty() && o.iter().all(|&x| x < c))
        })
        .unwrap_or_else(|| cards.iter().map(|&c| (0..c).collect()).collect());
    e.movable = (0..width).filter(|&l| e.useful[l].len() > 1).collect();
    e.all.genes.reserve(n * (cfg.generations + 1) * width);
    e.all.f.reserve(n * (cfg.generations + 1) * m);
    let mut history = Rows::new(width, m);
    history.genes.reserve(n * (cfg.generations + 1) * width);
    history.f.reserve(n * (cfg.generations + 1) * m);
    let mut history_sizes = Vec::with_capacity(cfg.generations + 1);
    let mut history_evaluations = Vec::with_capacity(cfg.generations + 1);
    let mut pop = Rows::new(width, m);
    let mut genome = vec![0usize; width];
    let mut from_genes = vec![0usize; width];
    for k in 0..n {
        match cfg.initial.get(k) {
            Some(g) if g.len() == width && g.iter().zip(&cards).all(|(x, c)| x < c) => {
                genome.copy_from_slice(g)
            }
            _ => e.random_genome(&mut genome),
        }
        e.evaluate(&genome, &mut pop, false)?;
    }
    let weights = e.weights(m);
    let (mut rank, mut crowd) = pareto::rank_and_crowding_flat(&pop.f, &pop.violation, m, &weights);
    let mut front: Vec<usize> = Vec::with_capacity(n);
    let mut record =
        |g: usize, evaluations: usize, pop: &Rows, rank: Option<&[usize]>, history: &mut Rows| {
            // The population's feasible first front, from the ranks survival computed (the
            // random search's population is its front).
            front.clear();
            front.extend(
                (0..pop.len())
                    .filter(|&i| pop.violation[i] <= 0.0 && rank.is_none_or(|r| r[i] == 0)),
            );
            on_generation(&Generation {
                generation: g,
                evaluations,
                population: pop,
                front: &front,
            });
            if cfg.keep_history {
                history.genes.extend_from_slice(&pop.genes);
                history.f.extend_from_slice(&pop.f);
                history.violation.extend_from_slice(&pop.violation);
            }
            history_sizes.push(pop.len());
            history_evaluations.push(evaluations);
        };
    record(0, e.evaluations, &pop, Some(&rank), &mut history);
    let mut pool = Rows::new(width, m);
    let mut next = Rows::new(width, m);
    let mut archive: Vec<usize> = Vec::new();
    let mut elite = crate::pareto::SortedFront::new(
        &e.all.f,
        m,
        &if cfg.archive_share > 0.0 {
            let feasible: Vec<usize> = (0..e.all.len())
                .filter(|&i| e.all.violation[i] <= 0.0)
                .collect();
            crate::pareto::nondominated(&e.all.f, m, &feasible, false)
        } else {
            Vec::new()
        },
    );
    // The archive comes in lexicographic order of its objectives (sorted by the first),
    // which path relinking needs; its crowding distances, and its best member in each
    // objective (the extremes' scans start there), come from its members sorted in each
    // objective, kept up to date as it changes.
    let mut orders = ArchiveOrders::new(&e.all.f, m, elite.ids());
    let mut elite_best = orders.best();
    let mut scans = vec![(0usize, 0usize); m];
    let mut exhausted: Vec<Option<usize>> = vec![None; m];
    // Children per generation that scan each objective's extreme: a twentieth of the
    // population (at least one), and only with the archive.
    let per_extreme = if cfg.archive_share > 0.0 {
        (n / 20).max(1)
    } else {
        0
    };
    let mut scale = vec![1.0; m];
    let mut first: Vec<usize> = Vec::with_capacity(2 * n);
    let mut candidates: Vec<usize> = (0..pop.len()).filter(|&i| rank[i] == 0).collect();
    for generation in 1..=cfg.generations {
        if cfg.algorithm == Algorithm::Random {
            let before = e.all.len();
            pool.clear();
            for _ in 0..n {
                e.random_genome(&mut genome);
                e.evaluate(&genome, &mut pool, false)?;
            }
            // The front of everything so far: the previous front and this batch.
            archive.extend(before..e.all.len());
            let sub = sub_rows(&e.all, &archive);
            archive = sub.front(&e.keys).into_iter().map(|k| archive[k]).collect();
            pop = sub_rows(&e.all, &archive);
            record(generation, e.evaluations, &pop, None, &mut history);
            continue;
        }
        if e.controller.is_some() {
            for (k, s) in scale.iter_mut().enumerate() {
                let (lo, hi) = pop
                    .f
                    .chunks_exact(m)
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), r| {
                        (lo.min(r[k]), hi.max(r[k]))
                    });
                *s = if hi > lo { hi - lo } else { 1.0 };
            }
        }
        pool.clear();
        pool.genes.extend_from_slice(&pop.genes);
        pool.f.extend_from_slice(&pop.f);
        pool.violation.extend_from_slice(&pop.violation);
        let first_child = e.all.len();
        for child in 0..n {
            // With the archive, each generation's first children scan the neighbours of
            // the archive's best member in each objective, one (gene, choice) after
            // another: the extremes, which crowding alone approaches slowly, are
            // pushed out to the true optimum of each objective.
            if child < m * per_extreme
                && let Some(best) = elite_best[child / per_extreme]
                && exhausted[child / per_extreme] != Some(best)
            {
                let k = child / per_extreme;
                from_genes.copy_from_slice(e.all.genes(best));
                if e.scan_neighbour(&from_genes, &mut scans[k], &mut genome) {
                    e.evaluate(&genome, &mut pool, true)?;
                    continue;
                }
                // Every neighbour of this member has been evaluated, and stays so: no
                // need to scan them again until another member is the best.
                exhausted[k] = Some(best);
            }
            let members = elite.ids();
            let (parent, action) = if !members.is_empty() && e.rng.next_f64() < cfg.archive_share {
                if e.rng.next_f64() < RELINK && e.relink(members, &mut genome) {
                    e.evaluate(&genome, &mut pool, true)?;
                    continue;
                }
                // Binary tournament on the archive's crowding distance: its
                // extremes and sparse stretches are explored first.
                let k = members.len() as u64;
                let (a, b) = (
                    members[e.rng.below(k) as usize],
                    members[e.rng.below(k) as usize],
                );
                let crowding = |i| orders.crowding_of(&e.all.f, m, i, &weights);
                let from = if crowding(b) > crowding(a) { b } else { a };
                from_genes.copy_from_slice(e.all.genes(from));
                e.neighbour(&from_genes, &mut genome);
                (0, None)
            } else {
                e.offspring(&pop, &rank, &crowd, &mut genome)
            };
            e.evaluate(&genome, &mut pool, true)?;
            if let (Some((l, c)), Some(ctl)) = (action, e.controller.as_mut()) {
                let child = pool.len() - 1;
                ctl.update(
                    l,
                    c,
                    Engine::reward(
                        (pop.f(parent), pop.violation[parent]),
                        (pool.f(child), pool.violation[child]),
                        &scale,
                        &weights,
                    ),
                );
            }
        }
        if cfg.archive_share > 0.0 {
            // The elite archive: the front of the previous archive and these children.
            let children: Vec<usize> = (first_child..e.all.len())
                .filter(|&i| e.all.violation[i] <= 0.0)
                .collect();
            let change = elite.merge(&e.all.f, &children);
            if !change.is_empty() {
                orders.update(&e.all.f, m, &change);
                elite_best = orders.best();
            }
        }
        e.survive(&pool, n, &mut next, &mut rank, &mut crowd, &mut first);
        // A genome the rest of its pool dominates stays dominated: only the first
        // front of each pool can reach the final front.
        candidates.extend(
            first
                .iter()
                .filter(|&&i| i >= pop.len())
                .map(|&i| first_child + i - pop.len()),
        );
        std::mem::swap(&mut pop, &mut next);
        record(generation, e.evaluations, &pop, Some(&rank), &mut history);
    }
    if cfg.algorithm == Algorithm::Random {
        candidates = (0..e.all.len()).collect();
    }
    let front = e
        .all
        .front_among(&e.keys, &candidates)
        .into_iter()
        .map(|i| e.all.individual(i))
        .collect();
    Ok(GaResult {
        front,
        history,
        history_sizes,
        history_evaluations,
        evaluations: e.evaluations,
    })
}

fn sub_rows(all: &Rows, idx: &[usize]) -> Rows {
    let mut r = Rows::new(all.width, all.m);
    for &i in idx {
        r.push_from(all, i);
    }
    r
}

#[cfg(test)]
mod roulette_tests {
    use super::*;

    /// Records every genome; one objective, the sum of the genes.
    struct Recorder {
        cards: Vec<usize>,
        seen: Vec<Vec<usize>>,
    }

    impl Problem for Recorder {
        fn cardinalities(&self) -> &[usize] {
            &self.cards
        }
        fn objectives(&self) -> usize {
            2
        }
        fn evaluate(&mut self, genes: &[usize], f: &mut [f64]) -> crate::Result<f64> {
            f[0] = genes.iter().sum::<usize>() as f64;
            f[1] = -f[0];
            self.seen.push(genes.to_vec());
            Ok(0.0)
        }
    }

    fn share_of_fours(roulette_share: f64, wheel: bool) -> f64 {
        let mut p = Recorder {
            cards: vec![5; 20],
            seen: Vec::new(),
        };
        let w = vec![vec![1.0, 1.0, 1.0, 1.0, 20.0]; 20];
        let cfg = GaConfig {
            algorithm: Algorithm::Nsga2,
            population: 20,
            generations: 10,
            seed: 3,
            crossover_prob: 0.0,
            mutation_prob: Some(0.3),
            weights: vec![1.0, 1.0],
            rl: None,
            archive_share: 0.0,
            initial: vec![],
            roulettes: if wheel { vec![w] } else { Vec::new() },
            roulette_share,
            keep_history: false,
        };
        run(&mut p, &cfg, &mut |_| {}).unwrap();
        let children: Vec<usize> = p.seen[20..].iter().flatten().copied().collect();
        children.iter().filter(|&&g| g == 4).count() as f64 / children.len() as f64
    }

    #[test]
    fn a_roulette_draws_mutations_by_its_weights() {
        // A wheel weighing choice 4 twenty times any other sends most mutated genes
        // there; half the mutations from it, fewer; without it choices are uniform.
        let biased = share_of_fours(1.0, true);
        let half = share_of_fours(0.5, true);
        let uniform = share_of_fours(1.0, false);
        assert!(
            biased > half + 0.05 && half > uniform + 0.05 && uniform < 0.35,
            "{biased} {half} {uniform}"
        );
        let mut p = Recorder {
            cards: vec![5; 2],
            seen: Vec::new(),
        };
        let cfg = GaConfig {
            algorithm: Algorithm::Nsga2,
            population: 4,
            generations: 1,
            seed: 0,
            crossover_prob: 0.0,
            mutation_prob: None,
            weights: vec![1.0, 1.0],
            rl: None,
            archive_share: 0.0,
            initial: vec![],
            roulettes: vec![vec![vec![1.0; 4]; 2]],
            roulette_share: 1.0,
            keep_history: false,
        };
        let e = run(&mut p, &cfg, &mut |_| {}).unwrap_err().to_string();
        assert!(
            e.contains("roulette 0 needs one non-negative weight"),
            "{e}"
        );
    }
}

#[cfg(test)]
mod archive_tests {
    use super::*;

    /// The archive's orders, updated change after change (members leaving and joining,
    /// ties included), equal each objective's members sorted afresh; without ties a
    /// member's crowding equals the whole archive's.
    #[test]
    fn archive_orders_follow_the_front_they_are_updated_from() {
        for ties in [true, false] {
            check_orders(ties);
        }
    }

    fn check_orders(ties: bool) {
        let m = 3;
        let mut rng = SplitMix64::new(7);
        let push = |f: &mut Vec<f64>, rng: &mut SplitMix64| {
            for _ in 0..m {
                f.push(if ties {
                    rng.below(40) as f64
                } else {
                    rng.next_f64()
                });
            }
        };
        let mut f: Vec<f64> = Vec::new();
        for _ in 0..60 {
            push(&mut f, &mut rng);
        }
        let first: Vec<usize> = (0..60).collect();
        let ids = pareto::nondominated(&f, m, &first, false);
        let mut front = pareto::SortedFront::new(&f, m, &ids);
        let mut orders = ArchiveOrders::new(&f, m, front.ids());
        let weights = vec![1.0; m];
        for _ in 0..200 {
            let before = f.len() / m;
            for _ in 0..1 + rng.below(12) {
                push(&mut f, &mut rng);
            }
            let new: Vec<usize> = (before..f.len() / m).collect();
            let change = front.merge(&f, &new);
            if !change.is_empty() {
                orders.update(&f, m, &change);
            }
            for (k, o) in orders.orders.iter().enumerate() {
                let mut want: Vec<(u64, usize)> = front
                    .ids()
                    .iter()
                    .map(|&i| (pareto::ord_key(f[i * m + k]), i))
                    .collect();
                want.sort_unstable();
                assert_eq!(o, &want, "objective {k} (ties: {ties})");
            }
            if !ties {
                let all = pareto::crowding_flat(&f, m, front.ids(), &weights);
                for (j, &i) in front.ids().iter().enumerate() {
                    let c = orders.crowding_of(&f, m, i, &weights);
                    assert!(
                        (c - all[j]).abs() < 1e-12 || c == all[j],
                        "member {i}: {c} vs {}",
                        all[j]
                    );
                }
            }
        }
    }
}
