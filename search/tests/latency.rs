//! One predictor: the latency a search optimises is the latency `moga lut predict`
//! prints, for every space, block-level and single-operator tables, and non-trivial
//! corrections (to 1e-9 relative).

use lookup_tables::lut::{BackendInfo, Correction, LatencyStats, LutMeta};
use lookup_tables::{Lut, LutRow, Outcome, Space, SpaceId, SplitMix64, UnitKey};
use proptest::prelude::*;
use search::objectives::{ArchProblem, Constraints, parse_objectives};
use search::oracle::Proxy;

/// A table of `keys` with seeded medians and the given correction.
fn table(keys: &[UnitKey], seed: u64, scale: f64, overhead_ms: f64) -> Lut {
    let mut rng = SplitMix64::new(seed);
    let mut lut = Lut::new(LutMeta {
        backend: BackendInfo {
            name: "ort".into(),
            ..BackendInfo::default()
        },
        correction: Some(Correction {
            model: "affine".into(),
            scale,
            overhead_ms,
            ..Correction::default()
        }),
        ..LutMeta::default()
    });
    for &key in keys {
        let m = 0.01 + rng.next_f64();
        lut.insert(LutRow {
            key,
            outcome: Outcome::Ok(LatencyStats {
                median_ms: m,
                p10_ms: m,
                p90_ms: m,
                mean_ms: m,
                std_ms: 0.0,
                runs: 1,
                gpu_median_ms: None,
            }),
            serial: "s".into(),
            measured_unix_s: 0,
        })
        .unwrap();
    }
    lut
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn search_latency_is_lut_predict(
        space in prop::sample::select(SpaceId::ALL.to_vec()),
        ops in any::<bool>(),
        seed in any::<u64>(),
        scale in 0.5f64..2.0,
        overhead_ms in -1.0f64..3.0,
    ) {
        let space = Space::new(space);
        let keys = if ops { space.op_unit_list() } else { space.unit_list() };
        let lut = table(&keys, seed, scale, overhead_ms);
        let mut problem = ArchProblem::new(
            space.clone(),
            Some(&lut),
            Box::new(Proxy),
            parse_objectives("lat:min,params:min").unwrap(),
            Constraints::default(),
        ).unwrap();
        for arch in space.sample(8, seed) {
            let predicted = lut.predict(&space, &arch).unwrap();
            prop_assert_eq!(predicted.level, if ops { "op" } else { "block" });
            let genes = problem.genes(&arch).unwrap();
            let searched = problem.metrics(&genes).unwrap().latency_ms.unwrap();
            let rel = (searched - predicted.latency_ms).abs() / predicted.latency_ms.abs();
            prop_assert!(rel <= 1e-9, "{} vs {} for {}", searched, predicted.latency_ms, arch.encode());
        }
    }
}
