//! A third task's space, written in a few lines against `lookup_tables::SearchSpace`,
//! searched through the same code as classification's (`search::run::search`, the
//! one problem, the one oracle trait), without touching the CLI: the exact algorithm
//! must find the brute-force Pareto front, and NSGA-II must find the true front of an
//! exact oracle (every architecture's accuracy listed in a table) and run with the
//! proxy.

use lookup_tables::{
    AdditiveCounts, ArchStats, Architecture, Error, PlacedUnit, Result, SearchSpace, UnitKey,
};
use search::ga::{Algorithm, GaConfig};
use search::objectives::{Constraints, Metrics, parse_objectives};
use search::oracle::{Features, Proxy, Table};
use search::run::{SearchOptions, SearchReport, search};

/// A chain of six blocks; each block is skipped or one of three convolutions,
/// (parameters, multiply-adds) each: a toy stand-in for, say, a detection neck.
#[derive(Clone)]
struct Chain;

const BLOCKS: usize = 6;
const CHOICES: [(&str, u64, u64); 4] = [
    ("skip", 0, 0),
    ("narrow", 1_000, 40_000),
    ("dilated", 2_500, 60_000),
    ("wide", 4_000, 160_000),
];
const FIXED: (u64, u64) = (500, 10_000);

#[derive(Clone, Debug, PartialEq)]
struct ChainArch(Vec<usize>);

impl Architecture for ChainArch {
    fn encode(&self) -> String {
        let digits: String = self.0.iter().map(|g| char::from(b'0' + *g as u8)).collect();
        format!("chain:{digits}")
    }
    fn parse(text: &str) -> Result<Self> {
        let bad = || Error::ArchSyntax {
            input: text.into(),
            message: "expected chain: and six digits 0-3".into(),
        };
        let digits = text.strip_prefix("chain:").ok_or_else(bad)?;
        let genes: Vec<usize> = digits
            .chars()
            .map(|c| {
                c.to_digit(10)
                    .map(|d| d as usize)
                    .filter(|&d| d < CHOICES.len())
            })
            .collect::<Option<_>>()
            .ok_or_else(bad)?;
        (genes.len() == BLOCKS)
            .then_some(ChainArch(genes))
            .ok_or_else(bad)
    }
    fn preset_name(&self) -> Option<&'static str> {
        None
    }
}

impl SearchSpace for Chain {
    type Arch = ChainArch;
    type Shape = u32;
    fn name(&self) -> String {
        "chain".into()
    }
    fn shape(&self) -> u32 {
        64
    }
    fn shape_flag(&self, side: u32) -> String {
        format!("--side {side}")
    }
    fn cardinalities(&self) -> Vec<usize> {
        vec![CHOICES.len(); BLOCKS]
    }
    fn decode(&self, genes: &[usize]) -> ChainArch {
        ChainArch(genes.to_vec())
    }
    fn genes(&self, arch: &ChainArch) -> Option<Vec<usize>> {
        Some(arch.0.clone())
    }
    fn choice_token(&self, _: usize, choice: usize) -> String {
        CHOICES[choice].0.into()
    }
    fn skips(&self, _: usize, choice: usize) -> bool {
        choice == 0
    }
    fn presets(&self) -> Vec<(&'static str, ChainArch)> {
        Vec::new()
    }
    fn stats(&self, arch: &ChainArch) -> Result<ArchStats> {
        let sum = |f: fn(&(&str, u64, u64)) -> u64, fixed| {
            fixed + arch.0.iter().map(|&g| f(&CHOICES[g])).sum::<u64>()
        };
        Ok(ArchStats {
            arch: arch.encode(),
            preset: None,
            params: sum(|c| c.1, FIXED.0),
            madds: sum(|c| c.2, FIXED.1),
            depth: arch.0.iter().filter(|&&g| g != 0).count(),
            parts: Vec::new(),
        })
    }
    /// The toy is never profiled: it has no latency units.
    fn units(&self, _: &ChainArch, _: u32) -> Result<Vec<PlacedUnit>> {
        Ok(Vec::new())
    }
    fn unit_list(&self, _: u32) -> Vec<UnitKey> {
        Vec::new()
    }
    fn additive(&self) -> Option<AdditiveCounts> {
        Some(AdditiveCounts {
            params: vec![CHOICES.iter().map(|c| c.1).collect(); BLOCKS],
            madds: vec![CHOICES.iter().map(|c| c.2).collect(); BLOCKS],
            fixed_params: FIXED.0,
            fixed_madds: FIXED.1,
        })
    }
}

/// Every architecture of the space (4⁶ = 4,096).
fn every_arch() -> Vec<ChainArch> {
    (0..CHOICES.len().pow(BLOCKS as u32))
        .map(|mut i| {
            ChainArch(
                (0..BLOCKS)
                    .map(|_| {
                        let g = i % CHOICES.len();
                        i /= CHOICES.len();
                        g
                    })
                    .collect(),
            )
        })
        .collect()
}

/// A made-up accuracy no additive formula reproduces: what an exact oracle knows.
fn true_accuracy(a: &ChainArch) -> f64 {
    let s = Chain.stats(a).unwrap();
    let mix = a.0.windows(2).filter(|w| w[0] != w[1]).count() as f64;
    50.0 + 10.0 * (1.0 - (-(s.madds as f64) / 300_000.0).exp()) + 0.7 * mix
}

/// The brute-force Pareto front of (f0, f1), both minimised.
fn brute_front(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut front: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|p| {
            !points
                .iter()
                .any(|q| q.0 <= p.0 && q.1 <= p.1 && (q.0 < p.0 || q.1 < p.1))
        })
        .collect();
    front.sort_by(|a, b| a.partial_cmp(b).unwrap());
    front.dedup();
    front
}

fn options(
    objectives: &str,
    algorithm: Algorithm,
    oracle: Box<dyn search::oracle::AccuracyOracle<ChainArch>>,
) -> SearchOptions<Chain> {
    let objectives = parse_objectives(objectives).unwrap();
    SearchOptions {
        space: Chain,
        lut: None,
        latency_shape: None,
        oracle,
        constraints: Constraints::default(),
        ga: GaConfig {
            algorithm,
            population: 48,
            generations: 40,
            seed: 3,
            crossover_prob: 0.9,
            mutation_prob: None,
            weights: vec![1.0; objectives.len()],
            rl: None,
            initial: vec![],
            archive_share: 0.0,
            roulettes: Vec::new(),
            roulette_share: 0.0,
            keep_history: false,
        },
        objectives,
        epsilon: None,
        seed_exact: false,
        evaluated: false,
        record: false,
    }
}

fn run(opts: SearchOptions<Chain>) -> SearchReport {
    search(opts, &mut |_, _| {}).unwrap().0
}

fn points(front: &[Metrics], first: impl Fn(&Metrics) -> f64) -> Vec<(f64, f64)> {
    let mut p: Vec<(f64, f64)> = front.iter().map(|m| (first(m), m.params as f64)).collect();
    p.sort_by(|a, b| a.partial_cmp(b).unwrap());
    p.dedup();
    p
}

#[test]
fn the_exact_algorithm_finds_the_brute_force_front_of_a_third_space() {
    let report = run(options(
        "madds:max,params:min",
        Algorithm::Exact,
        Box::new(Proxy),
    ));
    let all: Vec<(f64, f64)> = every_arch()
        .iter()
        .map(|a| {
            let s = Chain.stats(a).unwrap();
            (-(s.madds as f64), s.params as f64)
        })
        .collect();
    let truth = brute_front(&all);
    assert!(truth.len() > 5, "the toy's front is not trivial: {truth:?}");
    assert_eq!(report.space, "chain");
    assert_eq!(points(&report.front, |m| -(m.madds as f64)), truth);
    for m in &report.front {
        let a = ChainArch::parse(&m.arch).unwrap();
        let s = Chain.stats(&a).unwrap();
        assert_eq!((m.madds, m.params), (s.madds, s.params), "{}", m.arch);
    }
}

#[test]
fn nsga2_finds_the_front_of_an_exact_oracle_and_runs_the_proxy_on_a_third_space() {
    let dir = std::env::temp_dir().join(format!("moga-third-space-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("chain-accuracy.csv");
    let mut text = String::from("arch,accuracy\n");
    for a in every_arch() {
        text.push_str(&format!("{},{}\n", a.encode(), true_accuracy(&a)));
    }
    std::fs::write(&csv, text).unwrap();
    let table = Table::read_as::<ChainArch>(&csv).unwrap();
    let report = run(options(
        "acc:max,params:min",
        Algorithm::Nsga2,
        Box::new(table),
    ));
    let all: Vec<(f64, f64)> = every_arch()
        .iter()
        .map(|a| (-true_accuracy(a), Chain.stats(a).unwrap().params as f64))
        .collect();
    let truth = brute_front(&all);
    let found = points(&report.front, |m| -m.accuracy.unwrap());
    let on_truth = found.iter().filter(|p| truth.contains(p)).count();
    eprintln!(
        "{} of the {} true front points found ({} evaluations)",
        on_truth,
        truth.len(),
        report.evaluations
    );
    assert!(on_truth * 10 >= truth.len() * 9, "{found:?}\nvs\n{truth:?}");
    assert!(report.accuracy_oracle.contains("chain-accuracy.csv"));

    let report = run(options(
        "acc:max,params:min",
        Algorithm::Nsga2,
        Box::new(Proxy),
    ));
    assert!(!report.front.is_empty());
    for m in &report.front {
        let a = ChainArch::parse(&m.arch).unwrap();
        let s = Chain.stats(&a).unwrap();
        let f = Features {
            madds: s.madds,
            params: s.params,
            identities: a.0.iter().filter(|&&g| g == 0).count(),
        };
        assert_eq!(m.accuracy, Some(Proxy::value(f)), "{}", m.arch);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
