//! Exact Pareto fronts of objectives that are sums over layers (latency from a table,
//! parameters, multiply-adds): once the skeleton is fixed each layer's contribution
//! depends only on its own choice, so the front of the whole network is built layer by
//! layer, keeping only the non-dominated partial sums (Nemhauser and Ullmann 1969's
//! dynamic programming for the multi-objective knapsack). A partial sum dominated after
//! layer `l` stays dominated whatever the later layers add, so nothing optimal is lost.
//!
//! Constraints (a latency budget, a parameter cap) prune during the recursion: a
//! partial sum that cannot meet a cap even with the cheapest remaining choices is
//! dropped. A constrained quantity that is not an objective is carried as an extra
//! dimension of the recursion (a partial sum with less of it may become feasible where
//! another does not), then projected away.
//!
//! With three objectives the front can be large; the ε-grid variant keeps one partial
//! sum per cell of a logarithmic grid of ratio (1+ε)^(1/L) per layer (L layers), which
//! guarantees: for every exact point p there is a kept point q within a factor (1+ε) of
//! p in every objective (q ≤ (1+ε)·p for a minimised quantity, q ≥ p/(1+ε) for a
//! maximised one). With caps, the guarantee holds for every exact point that meets the
//! caps tightened by the same factor, and every kept point meets the caps themselves.
//! The grid needs non-negative contributions (true of latency, parameters and MAdds).

use std::time::Instant;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::pareto;

/// The most candidate partial sums one layer may form (their values and back-pointers
/// take ~(8·d + 8) bytes each).
const MAX_CANDIDATES: usize = 20_000_000;
/// The most dominance comparisons one layer's filter may make beyond three dimensions.
const MAX_WORK: f64 = 2e9;

/// An additive problem: per layer and choice, one value per dimension, in minimised
/// form (a maximised quantity negated). The first `objectives` dimensions are the
/// objectives; any further ones are only constrained.
#[derive(Clone, Debug)]
pub struct Additive {
    /// Values per layer, choice and dimension.
    pub layers: Vec<Vec<Vec<f64>>>,
    /// The fixed parts' value per dimension.
    pub fixed: Vec<f64>,
    /// How many leading dimensions are objectives.
    pub objectives: usize,
    /// Per dimension, the largest total allowed (minimised form).
    pub caps: Vec<Option<f64>>,
    /// Per dimension, whether the quantity is maximised (its values are negated).
    pub maximised: Vec<bool>,
}

/// What the recursion cost.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ExactStats {
    /// Points on the front.
    pub points: usize,
    /// Non-dominated partial sums kept after each layer.
    pub partial_per_layer: Vec<usize>,
    /// Candidate partial sums formed (kept or not).
    pub candidates: u64,
    /// Choices dropped before the recursion because another choice of the same layer
    /// is no worse in every dimension.
    pub dominated_choices: usize,
    /// Bytes of the largest working set: the candidates of one layer plus the
    /// back-pointers of every layer (computed from the buffers' sizes).
    pub peak_bytes: usize,
    /// Wall time, seconds.
    pub seconds: f64,
    /// The ε of the grid variant; `None` when exact.
    pub epsilon: Option<f64>,
}

/// A front: each point's objective values (minimised form) and one genome reaching it.
#[derive(Clone, Debug)]
pub struct ExactFront {
    /// Objective values per point, `objectives` each.
    pub points: Vec<Vec<f64>>,
    /// Choice index per layer, per point.
    pub genes: Vec<Vec<usize>>,
    /// The cost.
    pub stats: ExactStats,
}

/// One kept partial sum's way back: the partial sum of the previous layer it extends
/// and the choice it took.
#[derive(Clone, Copy)]
struct Back {
    parent: u32,
    choice: u16,
}

impl Additive {
    fn dims(&self) -> usize {
        self.fixed.len()
    }

    fn check(&self, epsilon: Option<f64>) -> Result<()> {
        let d = self.dims();
        let bad = |m: String| Err(Error::Usage(format!("exact front: {m}")));
        if self.objectives == 0 || self.objectives > d {
            return bad(format!("{} objectives of {d} dimensions", self.objectives));
        }
        if self.caps.len() != d || self.maximised.len() != d {
            return bad("caps and directions need one entry per dimension".into());
        }
        for (l, layer) in self.layers.iter().enumerate() {
            if layer.is_empty() || layer.len() > usize::from(u16::MAX) {
                return bad(format!("layer {l} has {} choices", layer.len()));
            }
            for (c, v) in layer.iter().enumerate() {
                if v.len() != d || v.iter().any(|x| !x.is_finite()) {
                    return bad(format!(
                        "layer {l} choice {c}: {} values, want {d} finite ones",
                        v.len()
                    ));
                }
            }
        }
        if let Some(e) = epsilon {
            if !(e > 0.0 && e.is_finite()) {
                return bad(format!("epsilon {e} must be positive"));
            }
            let negative = |k: usize, x: f64| if self.maximised[k] { x > 0.0 } else { x < 0.0 };
            for k in 0..d {
                if negative(k, self.fixed[k])
                    || self
                        .layers
                        .iter()
                        .any(|layer| layer.iter().any(|v| negative(k, v[k])))
                {
                    return bad(format!(
                        "the ε-grid needs non-negative contributions; dimension {k} has a negative one"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Per layer, the choices worth taking: a choice no better than another of the same
/// layer in every dimension never leads anywhere the other does not (of equal ones,
/// the first is kept). In lexicographic order of their values: along the layer's own
/// trade-off.
pub fn useful_choices(p: &Additive) -> Vec<Vec<usize>> {
    let d = p.dims();
    p.layers
        .iter()
        .map(|layer| {
            let f: Vec<f64> = layer.iter().flatten().copied().collect();
            let all: Vec<usize> = (0..layer.len()).collect();
            pareto::nondominated(&f, d, &all, false)
        })
        .collect()
}

/// The Pareto front of `p`: exact, or with `epsilon` the ε-grid variant (see the module
/// documentation for its guarantee).
///
/// Why one function of about 160 lines: the layer-by-layer recursion (extend every
/// kept partial sum by every useful choice, prune to the non-dominated or ε-grid cells,
/// keep back-pointers, account memory) works on one set of arenas that the
/// reconstruction at the end reads; the pieces are not meaningful on their own.
pub fn pareto_front(p: &Additive, epsilon: Option<f64>) -> Result<ExactFront> {
    p.check(epsilon)?;
    let start = Instant::now();
    let d = p.dims();
    let nl = p.layers.len();
    let mut stats = ExactStats {
        epsilon,
        ..ExactStats::default()
    };

    let kept_choices = useful_choices(p);
    stats.dominated_choices = p
        .layers
        .iter()
        .zip(&kept_choices)
        .map(|(l, k)| l.len() - k.len())
        .sum();

    // The least each later layer can add, per dimension: a partial sum that exceeds a
    // cap even with these is dropped.
    let mut rest_min = vec![vec![0.0; d]; nl + 1];
    for l in (0..nl).rev() {
        let later = rest_min[l + 1].clone();
        for (k, (slot, after)) in rest_min[l].iter_mut().zip(later).enumerate() {
            let least = kept_choices[l]
                .iter()
                .map(|&c| p.layers[l][c][k])
                .fold(f64::INFINITY, f64::min);
            *slot = after + least;
        }
    }
    let fits = |v: &[f64], l: usize| {
        (0..d).all(|k| p.caps[k].is_none_or(|cap| v[k] + rest_min[l][k] <= cap + 1e-9 * cap.abs()))
    };

    // Per-layer grid ratio of the ε variant: L roundings compound to (1+ε).
    let log_step = epsilon.map(|e| ((1.0 + e).ln() / nl.max(1) as f64).max(f64::MIN_POSITIVE));

    let mut current: Vec<f64> = p.fixed.clone();
    if !fits(&current, 0) {
        stats.seconds = start.elapsed().as_secs_f64();
        return Ok(ExactFront {
            points: Vec::new(),
            genes: Vec::new(),
            stats,
        });
    }
    let mut trail: Vec<Vec<Back>> = Vec::with_capacity(nl);
    let mut trail_bytes = 0usize;
    let mut candidates: Vec<f64> = Vec::new();
    let mut backs: Vec<Back> = Vec::new();
    for (l, layer) in p.layers.iter().enumerate() {
        candidates.clear();
        backs.clear();
        let n = current.len() / d;
        for i in 0..n {
            let base = &current[i * d..(i + 1) * d];
            for &c in &kept_choices[l] {
                let start_len = candidates.len();
                candidates.extend(base.iter().zip(&layer[c]).map(|(a, b)| a + b));
                if fits(&candidates[start_len..], l + 1) {
                    backs.push(Back {
                        parent: i as u32,
                        choice: c as u16,
                    });
                } else {
                    candidates.truncate(start_len);
                }
            }
        }
        stats.candidates += backs.len() as u64;
        // Beyond three dimensions the filter compares each candidate with the kept
        // ones; a recursion that outgrows memory or hours stops with what to change.
        let kept_before = current.len() / d;
        let work = if d <= 3 {
            backs.len() as f64
        } else {
            backs.len() as f64 * kept_before.max(1) as f64
        };
        if backs.len() > MAX_CANDIDATES || work > MAX_WORK {
            return Err(Error::Usage(format!(
                "exact front: {} candidate partial sums at layer {l} ({} kept after the previous layer, {d} dimensions) is more than this recursion takes; \
                 a maximised objective with a cap on the same quantity keeps every value of it, and each capped quantity that is not a minimised objective adds a dimension: \
                 use --epsilon, fewer objectives or caps, or a heuristic algorithm",
                backs.len(),
                kept_before
            )));
        }
        let all: Vec<usize> = (0..backs.len()).collect();
        let mut keep = pareto::nondominated(&candidates, d, &all, false);
        if let Some(step) = log_step {
            // One partial sum per grid cell (the first non-dominated one).
            let cell = |i: usize| -> Vec<i64> {
                (0..d)
                    .map(|k| {
                        let v = candidates[i * d + k].abs();
                        if v <= 0.0 {
                            i64::MIN
                        } else {
                            (v.ln() / step).floor() as i64
                        }
                    })
                    .collect()
            };
            let mut seen = std::collections::HashSet::with_capacity(keep.len());
            keep.retain(|&i| seen.insert(cell(i)));
        }
        stats.peak_bytes = stats.peak_bytes.max(
            candidates.capacity() * 8
                + backs.capacity() * std::mem::size_of::<Back>()
                + trail_bytes
                + current.capacity() * 8,
        );
        let mut next = Vec::with_capacity(keep.len() * d);
        let mut kept_backs = Vec::with_capacity(keep.len());
        for &i in &keep {
            next.extend_from_slice(&candidates[i * d..(i + 1) * d]);
            kept_backs.push(backs[i]);
        }
        if kept_backs.len() > u32::MAX as usize {
            return Err(Error::Usage(format!(
                "exact front: {} partial sums after layer {l}; use --epsilon",
                kept_backs.len()
            )));
        }
        trail_bytes += kept_backs.len() * std::mem::size_of::<Back>();
        stats.partial_per_layer.push(kept_backs.len());
        trail.push(kept_backs);
        current = next;
    }

    // Project onto the objectives (constraint-only dimensions go) and keep what is
    // non-dominated there.
    let n = current.len() / d;
    let m = p.objectives;
    let projected: Vec<f64> = (0..n)
        .flat_map(|i| current[i * d..i * d + m].iter().copied())
        .collect();
    let all: Vec<usize> = (0..n).collect();
    let front = pareto::nondominated(&projected, m, &all, false);
    let mut points = Vec::with_capacity(front.len());
    let mut genes = Vec::with_capacity(front.len());
    for &i in &front {
        points.push(projected[i * m..(i + 1) * m].to_vec());
        let mut g = vec![0usize; nl];
        let mut at = i;
        for l in (0..nl).rev() {
            let b = trail[l][at];
            g[l] = usize::from(b.choice);
            at = b.parent as usize;
        }
        genes.push(g);
    }
    stats.points = points.len();
    stats.seconds = start.elapsed().as_secs_f64();
    Ok(ExactFront {
        points,
        genes,
        stats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookup_tables::SplitMix64;

    /// Integer-valued tables so that sums are exact in any order.
    fn random_problem(seed: u64, layers: usize, choices: usize, dims: usize) -> Additive {
        let mut rng = SplitMix64::new(seed);
        Additive {
            layers: (0..layers)
                .map(|_| {
                    (0..choices)
                        .map(|_| (0..dims).map(|_| rng.below(40) as f64).collect())
                        .collect()
                })
                .collect(),
            fixed: (0..dims).map(|k| k as f64).collect(),
            objectives: dims,
            caps: vec![None; dims],
            maximised: vec![false; dims],
        }
    }

    fn sum(p: &Additive, genes: &[usize]) -> Vec<f64> {
        let mut v = p.fixed.clone();
        for (l, &g) in genes.iter().enumerate() {
            for (a, b) in v.iter_mut().zip(&p.layers[l][g]) {
                *a += b;
            }
        }
        v
    }

    /// Every genome, evaluated; the feasible ones' objective vectors filtered by
    /// pairwise dominance: the truth the recursion must equal.
    fn brute_force(p: &Additive) -> Vec<Vec<f64>> {
        let cards: Vec<usize> = p.layers.iter().map(Vec::len).collect();
        let mut genes = vec![0usize; cards.len()];
        let mut front: Vec<Vec<f64>> = Vec::new();
        loop {
            let v = sum(p, &genes);
            let feasible = v
                .iter()
                .zip(&p.caps)
                .all(|(x, c)| c.is_none_or(|c| *x <= c));
            if feasible {
                let o = v[..p.objectives].to_vec();
                let dominated_or_equal =
                    front.iter().any(|q| q.iter().zip(&o).all(|(a, b)| a <= b));
                if !dominated_or_equal {
                    front.retain(|q| !o.iter().zip(q).all(|(a, b)| a <= b));
                    front.push(o);
                }
            }
            let mut l = 0;
            while l < cards.len() {
                genes[l] += 1;
                if genes[l] < cards[l] {
                    break;
                }
                genes[l] = 0;
                l += 1;
            }
            if l == cards.len() {
                break;
            }
        }
        front.sort_by(|a, b| a.partial_cmp(b).unwrap());
        front
    }

    fn sorted(mut v: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v
    }

    /// 4 layers × 12 choices (20,736 networks): the recursion's front equals brute
    /// force for every pair of three objectives and the triple, each genome it returns
    /// reaches its point, with maximised objectives and with caps.
    #[test]
    fn equals_brute_force_enumeration() {
        for seed in 1..=3 {
            let base = random_problem(seed, 4, 12, 3);
            let subsets: [&[usize]; 4] = [&[0, 1], &[0, 2], &[1, 2], &[0, 1, 2]];
            for dims in subsets {
                let mut p = Additive {
                    layers: base
                        .layers
                        .iter()
                        .map(|l| {
                            l.iter()
                                .map(|v| dims.iter().map(|&k| v[k]).collect())
                                .collect()
                        })
                        .collect(),
                    fixed: dims.iter().map(|&k| base.fixed[k]).collect(),
                    objectives: dims.len(),
                    caps: vec![None; dims.len()],
                    maximised: vec![false; dims.len()],
                };
                for variant in 0..3 {
                    if variant == 1 {
                        // Maximise the last objective (negated values).
                        let last = p.fixed.len() - 1;
                        for layer in &mut p.layers {
                            for v in layer.iter_mut() {
                                v[last] = -v[last];
                            }
                        }
                        p.fixed[last] = -p.fixed[last];
                        p.maximised[last] = true;
                    }
                    if variant == 2 {
                        p.caps[0] = Some(60.0);
                    }
                    let exact = pareto_front(&p, None).unwrap();
                    assert_eq!(
                        sorted(exact.points.clone()),
                        brute_force(&p),
                        "seed {seed}, dims {dims:?}, variant {variant}"
                    );
                    for (pt, g) in exact.points.iter().zip(&exact.genes) {
                        assert_eq!(&sum(&p, g)[..p.objectives], &pt[..]);
                    }
                }
            }
        }
    }

    /// A capped quantity that is not an objective is carried through the recursion:
    /// the front of (params, madds) under a latency cap equals brute force.
    #[test]
    fn a_constraint_only_dimension_is_exact() {
        for seed in 4..=6 {
            let mut p = random_problem(seed, 4, 12, 3);
            p.objectives = 2;
            p.caps[2] = Some(70.0);
            assert_eq!(
                sorted(pareto_front(&p, None).unwrap().points),
                brute_force(&p),
                "seed {seed}"
            );
        }
    }

    /// The ε-grid keeps, for every exact point, one within a factor (1+ε) in every
    /// objective, and keeps fewer points.
    #[test]
    fn the_epsilon_grid_keeps_its_guarantee() {
        for seed in 7..=9 {
            let p = random_problem(seed, 6, 8, 3);
            let exact = pareto_front(&p, None).unwrap();
            let eps = 0.05;
            let grid = pareto_front(&p, Some(eps)).unwrap();
            assert!(grid.points.len() <= exact.points.len());
            for e in &exact.points {
                assert!(
                    grid.points
                        .iter()
                        .any(|q| q.iter().zip(e).all(|(a, b)| *a <= (1.0 + eps) * b + 1e-9)),
                    "seed {seed}: {e:?} has no kept point within 1+ε"
                );
            }
        }
    }

    /// A recursion that would outgrow its limits stops with what to change.
    #[test]
    fn an_oversized_recursion_says_so() {
        // Four dimensions where every partial sum is non-dominated: the second and
        // fourth are the first and third negated.
        let mut rng = SplitMix64::new(11);
        let layers: Vec<Vec<Vec<f64>>> = (0..12)
            .map(|_| {
                (0..12)
                    .map(|_| {
                        let (a, b) = (rng.below(1000) as f64, rng.below(1000) as f64);
                        vec![a, -a, b, -b]
                    })
                    .collect()
            })
            .collect();
        let p = Additive {
            layers,
            fixed: vec![0.0; 4],
            objectives: 4,
            caps: vec![None; 4],
            maximised: vec![false; 4],
        };
        let e = pareto_front(&p, None).unwrap_err().to_string();
        assert!(e.contains("use --epsilon"), "{e}");
    }

    #[test]
    fn bad_input_is_named() {
        let mut p = random_problem(1, 2, 3, 2);
        p.layers[1][2] = vec![1.0];
        let e = pareto_front(&p, None).unwrap_err().to_string();
        assert!(e.contains("layer 1 choice 2"), "{e}");
        let mut p = random_problem(1, 2, 3, 2);
        p.layers[0][0][1] = -1.0;
        let e = pareto_front(&p, Some(0.1)).unwrap_err().to_string();
        assert!(e.contains("non-negative"), "{e}");
    }
}
