//! Search on the moga space with a real latency table (tests/data: measured with
//! `moga profile --device local --backend ort` on this project's CI machine): the
//! searched front dominates random search at equal evaluations, the weighted and
//! reinforced variants run, constraints hold, and runs are deterministic.

use std::path::Path;

use lookup_tables::{Lut, Space, SpaceId};
use search::ga::{Algorithm, GaConfig};
use search::objectives::{Constraints, parse_objectives};
use search::oracle::Proxy;
use search::rl::RlConfig;
use search::run::{SearchOptions, SearchReport, search};

fn lut() -> Lut {
    Lut::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/lut-moga-ort-local.csv"))
        .expect("the committed table reads")
}

/// The options of the tests' searches: the moga space with the committed table, the
/// proxy, 32 × 15 generations.
fn options(objectives: &str, algorithm: Algorithm, seed: u64) -> SearchOptions {
    let objectives = parse_objectives(objectives).unwrap();
    SearchOptions {
        space: Space::new(SpaceId::Moga),
        lut: Some(("lut.csv".into(), lut())),
        latency_shape: None,
        oracle: Box::new(Proxy),
        constraints: Constraints::default(),
        ga: GaConfig {
            algorithm,
            population: 32,
            generations: 15,
            seed,
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
        evaluated: true,
        record: false,
    }
}

fn run(algorithm: Algorithm, seed: u64, rl: bool, constraints: Constraints) -> SearchReport {
    let mut opts = options("acc:max,lat:min,params:max", algorithm, seed);
    opts.constraints = constraints;
    if algorithm == Algorithm::Moga {
        opts.ga.weights = vec![1.0, 1.0, 0.1];
    }
    opts.ga.rl = rl.then(RlConfig::default);
    search(opts, &mut |_, _| {}).unwrap().0
}

#[test]
fn nsga2_beats_random_search_at_equal_evaluations() {
    let mut wins = 0;
    for seed in 1..=4 {
        let ga = run(Algorithm::Nsga2, seed, false, Constraints::default());
        let random = run(Algorithm::Random, seed, false, Constraints::default());
        assert_eq!(ga.evaluations, random.evaluations);
        if ga.hypervolume > random.hypervolume {
            wins += 1;
        }
        eprintln!(
            "seed {seed}: NSGA-II {:.4}, random {:.4}",
            ga.hypervolume, random.hypervolume
        );
    }
    assert_eq!(
        wins, 4,
        "NSGA-II should dominate random search on every seed"
    );
}

#[test]
fn weighted_and_reinforced_variants_find_valid_fronts() {
    let plain = run(Algorithm::Nsga2, 5, false, Constraints::default());
    for (alg, rl) in [
        (Algorithm::Moga, false),
        (Algorithm::Nsga2, true),
        (Algorithm::Moga, true),
    ] {
        let r = run(alg, 5, rl, Constraints::default());
        assert!(
            r.hypervolume > 0.5 * plain.hypervolume,
            "{alg:?} rl={rl}: {}",
            r.hypervolume
        );
        assert!(!r.front.is_empty());
    }
}

#[test]
fn the_budget_is_respected_and_runs_repeat() {
    let budget = Constraints {
        budget_ms: Some(9.0),
        max_params: Some(5_000_000),
        ..Constraints::default()
    };
    let a = run(Algorithm::Moga, 7, true, budget);
    assert!(
        a.front
            .iter()
            .all(|m| m.feasible && m.latency_ms.unwrap() <= 9.0 && m.params <= 5_000_000),
        "{:?}",
        a.front
    );
    let b = run(Algorithm::Moga, 7, true, budget);
    let arches = |r: &SearchReport| r.front.iter().map(|m| m.arch.clone()).collect::<Vec<_>>();
    assert_eq!(arches(&a), arches(&b), "the same seed gives the same front");
    assert_eq!(a.hypervolume, b.hypervolume);
}

#[test]
fn an_incomplete_table_is_refused_with_its_missing_units() {
    let mut partial = Lut::new(lut().meta.clone());
    for r in lut().rows().iter().skip(3) {
        partial.insert(r.clone()).unwrap();
    }
    let mut opts = options("acc:max,lat:min", Algorithm::Nsga2, 0);
    opts.lut = Some(("partial.csv".into(), partial));
    (opts.ga.population, opts.ga.generations) = (4, 1);
    let err = search(opts, &mut |_, _| {}).err().unwrap().to_string();
    assert!(
        err.contains("3 unit(s) missing") && err.contains("stem 224x224"),
        "{err}"
    );
}

fn additive(algorithm: Algorithm, seed: u64, archive_share: f64, seed_exact: bool) -> SearchReport {
    let mut opts = options("lat:min,params:max", algorithm, seed);
    opts.ga.archive_share = archive_share;
    opts.seed_exact = seed_exact;
    search(opts, &mut |_, _| {}).unwrap().0
}

/// With additive objectives every heuristic run reports its share of the exact
/// front's hypervolume; no member of its front beats the exact front anywhere, and
/// the exact algorithm's own share would be 1.
#[test]
fn heuristic_fronts_are_measured_against_the_exact_one() {
    let exact = additive(Algorithm::Exact, 0, 0.0, false);
    let x = exact.exact.as_ref().expect("the recursion's figures");
    assert_eq!(x.points, exact.front.len());
    assert!(exact.optimality.is_none() && exact.evaluations == 0);
    let points: Vec<(f64, u64)> = exact
        .front
        .iter()
        .map(|m| (m.latency_ms.unwrap(), m.params))
        .collect();
    for (algorithm, share) in [
        (Algorithm::Nsga2, 0.0),
        (Algorithm::Nsga2, 0.5),
        (Algorithm::Moga, 0.0),
        (Algorithm::Random, 0.0),
    ] {
        let r = additive(algorithm, 3, share, false);
        let o = r.optimality.as_ref().expect("additive objectives: a gap");
        assert_eq!(o.exact_points, points.len());
        assert!((o.exact_hypervolume - exact.hypervolume).abs() < 1e-12);
        assert!(
            o.hypervolume_share > 0.5 && o.hypervolume_share <= 1.0 + 1e-12,
            "{algorithm:?}: {}",
            o.hypervolume_share
        );
        for m in &r.front {
            let (lat, params) = (m.latency_ms.unwrap(), m.params);
            assert!(
                points.iter().any(|&(l, p)| l <= lat + 1e-9 && p >= params),
                "{algorithm:?}: {} ({lat} ms, {params}) beats the exact front",
                m.arch
            );
        }
    }
    // Seeding from the exact front starts the population on it.
    let seeded = additive(Algorithm::Nsga2, 3, 0.0, true);
    assert_eq!(seeded.seeded, 32);
    for m in &seeded.history[0].population {
        assert!(
            points
                .iter()
                .any(|&(l, p)| (l - m.latency_ms.unwrap()).abs() < 1e-9 && p == m.params),
            "{} is not on the exact front",
            m.arch
        );
    }
}

/// The elite archive (one-gene neighbour moves and path relinking of neighbouring
/// members) closes the optimality gap: within the budget (population 100, 199
/// generations: 20,000 evaluations) its front holds at least 99.9 % of the exact
/// front's hypervolume on the moga and scarlet spaces with their committed tables,
/// for each of seeds 1–3, where plain NSGA-II stays below.
#[test]
fn the_archive_reaches_the_exact_front() {
    for (space, table) in [
        (SpaceId::Moga, "lut-moga-ort-local.csv"),
        (SpaceId::Scarlet, "lut-scarlet-ort-local.csv"),
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/data")
            .join(table);
        for seed in 1..=3 {
            let mut shares = Vec::new();
            for archive_share in [0.0, 0.75] {
                let mut opts = options("lat:min,params:max", Algorithm::Nsga2, seed);
                opts.space = Space::new(space);
                opts.lut = Some((
                    table.into(),
                    Lut::read(&path).expect("the committed table reads"),
                ));
                opts.ga.population = 100;
                opts.ga.generations = 199;
                opts.ga.archive_share = archive_share;
                let r = search(opts, &mut |_, _| {}).unwrap().0;
                shares.push(r.optimality.expect("additive objectives").hypervolume_share);
            }
            assert!(
                shares[1] >= 0.999 && shares[1] > shares[0],
                "{space:?} seed {seed}: plain {:.5}, archive {:.5}",
                shares[0],
                shares[1]
            );
        }
    }
}
