//! The evolutionary engine on a per-gene choice encoding: NSGA-II (Deb et al. 2002:
//! fast non-dominated sorting, crowding distance, binary tournament, uniform crossover,
//! per-gene mutation, elitist survival), MoGA's weighted variant (per-objective weights
//! in the crowding distance that both the tournament and the survival of the last front
//! use), optional MoreMNAS reinforced mutation, and random search with the same number
//! of evaluations as the baseline. Deterministic for a seed.

use std::collections::HashSet;

use lookup_tables::SplitMix64;
use serde::Serialize;

use crate::pareto::{self, Point};
use crate::rl::{Controller, RlConfig};

/// A problem on a choice encoding.
pub trait Problem {
    /// Choices per gene.
    fn cardinalities(&self) -> &[usize];
    /// Objectives (to minimise) and constraint violation of a genome; an error (an
    /// accuracy oracle that failed) stops the run.
    fn evaluate(&mut self, genes: &[usize]) -> crate::Result<Point>;
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

/// The population after one generation.
#[derive(Clone, Debug, Serialize)]
pub struct Generation {
    /// 0 for the initial population.
    pub generation: usize,
    /// Evaluations so far.
    pub evaluations: usize,
    /// The survivors.
    pub population: Vec<Individual>,
}

/// What a run returns.
#[derive(Clone, Debug)]
pub struct GaResult {
    /// The non-dominated feasible individuals of everything evaluated.
    pub front: Vec<Individual>,
    /// Every generation's population.
    pub history: Vec<Generation>,
    /// Evaluations made.
    pub evaluations: usize,
}

fn random_genome(cards: &[usize], rng: &mut SplitMix64) -> Vec<usize> {
    cards
        .iter()
        .map(|&c| rng.below(c as u64) as usize)
        .collect()
}

/// A child: its genes, its first parent's index, and the controller's action (layer,
/// choice) when the controller mutated it.
type Offspring = (Vec<usize>, usize, Option<(usize, usize)>);

struct Engine<'p> {
    problem: &'p mut dyn Problem,
    cfg: GaConfig,
    rng: SplitMix64,
    seen: HashSet<Vec<usize>>,
    all: Vec<Individual>,
    evaluations: usize,
    controller: Option<Controller>,
}

impl Engine<'_> {
    fn evaluate(&mut self, genes: Vec<usize>) -> crate::Result<Individual> {
        self.evaluations += 1;
        let point = self.problem.evaluate(&genes)?;
        self.seen.insert(genes.clone());
        let ind = Individual { genes, point };
        self.all.push(ind.clone());
        Ok(ind)
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
                if self.rng.below(2) == 0 {
                    a
                } else {
                    b
                }
            }
        }
    }

    fn random_mutation(&mut self, genes: &mut [usize]) {
        let cards = self.problem.cardinalities().to_vec();
        let pm = self
            .cfg
            .mutation_prob
            .unwrap_or(1.0 / cards.len().max(1) as f64);
        for (g, &c) in genes.iter_mut().zip(&cards) {
            if c > 1 && self.rng.next_f64() < pm {
                let mut v = self.rng.below(c as u64 - 1) as usize;
                if v >= *g {
                    v += 1;
                }
                *g = v;
            }
        }
    }

    /// The offspring of one generation, with the controller's action per child.
    fn offspring(&mut self, pop: &[Individual], rank: &[usize], crowd: &[f64]) -> Vec<Offspring> {
        let cards = self.problem.cardinalities().to_vec();
        let mut out = Vec::with_capacity(pop.len());
        while out.len() < pop.len() {
            let (p1, p2) = (self.tournament(rank, crowd), self.tournament(rank, crowd));
            let mut child = pop[p1].genes.clone();
            if self.rng.next_f64() < self.cfg.crossover_prob {
                for (g, other) in child.iter_mut().zip(&pop[p2].genes) {
                    if self.rng.below(2) == 1 {
                        *g = *other;
                    }
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
                        .and_then(|ctl| ctl.propose(&child, &mut self.rng))
                    {
                        child[l] = c;
                        action = Some((l, c));
                    }
                } else {
                    self.random_mutation(&mut child);
                }
                // A genome already evaluated teaches nothing: mutate again.
                if !self.seen.contains(&child) || attempt == 9 {
                    break;
                }
                if attempt > 5 {
                    child = random_genome(&cards, &mut self.rng);
                }
            }
            out.push((child, p1, action));
        }
        out
    }

    /// The controller's reward: the weighted, range-normalised improvement of the
    /// child over its parent (feasibility first).
    fn reward(parent: &Point, child: &Point, scale: &[f64], weights: &[f64]) -> f64 {
        match (parent.violation > 0.0, child.violation > 0.0) {
            (true, false) => return 1.0,
            (false, true) => return -1.0,
            (true, true) => return (parent.violation - child.violation).signum(),
            (false, false) => {}
        }
        parent
            .f
            .iter()
            .zip(&child.f)
            .zip(scale)
            .zip(weights)
            .map(|(((p, c), s), w)| w * (p - c) / s)
            .sum()
    }

    fn survive(&self, pool: Vec<Individual>, n: usize) -> Vec<Individual> {
        let points: Vec<Point> = pool.iter().map(|i| i.point.clone()).collect();
        let weights = self.weights(points.first().map_or(0, |p| p.f.len()));
        let mut keep = Vec::with_capacity(n);
        for front in pareto::non_dominated_sort(&points) {
            if keep.len() + front.len() <= n {
                keep.extend(front);
            } else {
                let crowd = pareto::crowding(&points, &front, &weights);
                let mut order: Vec<usize> = (0..front.len()).collect();
                order.sort_by(|&a, &b| crowd[b].total_cmp(&crowd[a]));
                keep.extend(order.into_iter().take(n - keep.len()).map(|k| front[k]));
                break;
            }
        }
        keep.sort_unstable();
        keep.into_iter().map(|i| pool[i].clone()).collect()
    }
}

/// The feasible non-dominated individuals of `all` (duplicates once).
pub fn front_of(all: &[Individual]) -> Vec<Individual> {
    let mut unique: Vec<Individual> = Vec::new();
    let mut seen = HashSet::new();
    for i in all {
        if i.point.violation == 0.0 && seen.insert(i.genes.clone()) {
            unique.push(i.clone());
        }
    }
    let points: Vec<Point> = unique.iter().map(|i| i.point.clone()).collect();
    match pareto::non_dominated_sort(&points).first() {
        Some(f) => f.iter().map(|&k| unique[k].clone()).collect(),
        None => Vec::new(),
    }
}

/// Runs the search; `on_generation` sees each generation as it completes (progress).
/// The first evaluation that fails ends the run with its error.
pub fn run(
    problem: &mut dyn Problem,
    cfg: &GaConfig,
    on_generation: &mut dyn FnMut(&Generation),
) -> crate::Result<GaResult> {
    let cards = problem.cardinalities().to_vec();
    let controller = cfg.rl.map(|r| Controller::new(&cards, r.learning_rate));
    let mut e = Engine {
        problem,
        cfg: cfg.clone(),
        rng: SplitMix64::new(cfg.seed),
        seen: HashSet::new(),
        all: Vec::new(),
        evaluations: 0,
        controller,
    };
    let n = cfg.population.max(2);
    let mut history = Vec::with_capacity(cfg.generations + 1);
    let mut pop: Vec<Individual> = (0..n)
        .map(|_| {
            let g = random_genome(&cards, &mut e.rng);
            e.evaluate(g)
        })
        .collect::<crate::Result<_>>()?;
    let first = Generation {
        generation: 0,
        evaluations: e.evaluations,
        population: pop.clone(),
    };
    on_generation(&first);
    history.push(first);
    for generation in 1..=cfg.generations {
        if cfg.algorithm == Algorithm::Random {
            pop = (0..n)
                .map(|_| {
                    let g = random_genome(&cards, &mut e.rng);
                    e.evaluate(g)
                })
                .collect::<crate::Result<_>>()?;
            pop = front_of(&[front_of(&e.all), pop].concat());
        } else {
            let points: Vec<Point> = pop.iter().map(|i| i.point.clone()).collect();
            let m = points[0].f.len();
            let weights = e.weights(m);
            let (rank, crowd) = pareto::rank_and_crowding(&points, &weights);
            let scale: Vec<f64> = (0..m)
                .map(|k| {
                    let (lo, hi) = points
                        .iter()
                        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
                            (lo.min(p.f[k]), hi.max(p.f[k]))
                        });
                    if hi > lo { hi - lo } else { 1.0 }
                })
                .collect();
            let kids = e.offspring(&pop, &rank, &crowd);
            let mut pool = pop.clone();
            for (genes, parent, action) in kids {
                let child = e.evaluate(genes)?;
                if let (Some((l, c)), Some(ctl)) = (action, e.controller.as_mut()) {
                    ctl.update(
                        l,
                        c,
                        Engine::reward(&pop[parent].point, &child.point, &scale, &weights),
                    );
                }
                pool.push(child);
            }
            pop = e.survive(pool, n);
        }
        let g = Generation {
            generation,
            evaluations: e.evaluations,
            population: pop.clone(),
        };
        on_generation(&g);
        history.push(g);
    }
    Ok(GaResult {
        front: front_of(&e.all),
        history,
        evaluations: e.evaluations,
    })
}
