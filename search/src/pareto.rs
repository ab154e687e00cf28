//! Pareto machinery for minimisation: constrained dominance (Deb 2002: feasible beats
//! infeasible, less violation beats more), fast non-dominated sorting, crowding
//! distance with per-objective weights (MoGA's weighted variant; weights of 1 give
//! NSGA-II's), and the exact hypervolume.

use std::cmp::Ordering;

/// One evaluated point: objectives to minimise and its constraint violation (0 when
/// feasible).
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Objective values, all minimised.
    pub f: Vec<f64>,
    /// Total constraint violation, ≥ 0.
    pub violation: f64,
}

impl Point {
    /// A feasible point.
    pub fn new(f: Vec<f64>) -> Point {
        Point { f, violation: 0.0 }
    }
}

/// Whether `a` dominates `b` (constrained dominance).
pub fn dominates(a: &Point, b: &Point) -> bool {
    match (a.violation > 0.0, b.violation > 0.0) {
        (false, true) => true,
        (true, false) => false,
        (true, true) => a.violation < b.violation,
        (false, false) => {
            let mut strictly = false;
            for (x, y) in a.f.iter().zip(&b.f) {
                if x > y {
                    return false;
                }
                if x < y {
                    strictly = true;
                }
            }
            strictly
        }
    }
}

/// Fast non-dominated sorting (Deb et al. 2002): the fronts, best first, as indices.
pub fn non_dominated_sort(points: &[Point]) -> Vec<Vec<usize>> {
    let n = points.len();
    let mut dominated_by_me: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut count = vec![0usize; n];
    let mut fronts = vec![Vec::new()];
    for p in 0..n {
        for q in 0..n {
            if p == q {
                continue;
            }
            if dominates(&points[p], &points[q]) {
                dominated_by_me[p].push(q);
            } else if dominates(&points[q], &points[p]) {
                count[p] += 1;
            }
        }
        if count[p] == 0 {
            fronts[0].push(p);
        }
    }
    let mut i = 0;
    while !fronts[i].is_empty() {
        let mut next = Vec::new();
        for &p in &fronts[i] {
            for &q in &dominated_by_me[p] {
                count[q] -= 1;
                if count[q] == 0 {
                    next.push(q);
                }
            }
        }
        i += 1;
        fronts.push(next);
    }
    fronts.pop();
    fronts
}

/// Crowding distance of each member of `front` (indices into `points`), weighted per
/// objective: Σ_m w_m · (f_m[next] − f_m[prev]) / (f_m^max − f_m^min); the extremes of
/// every objective with a non-zero weight get infinity.
pub fn crowding(points: &[Point], front: &[usize], weights: &[f64]) -> Vec<f64> {
    let n = front.len();
    let mut d = vec![0.0; n];
    if n <= 2 {
        return vec![f64::INFINITY; n];
    }
    let m = points[front[0]].f.len();
    for (obj, &w) in weights.iter().enumerate().take(m) {
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| points[front[a]].f[obj].total_cmp(&points[front[b]].f[obj]));
        let lo = points[front[order[0]]].f[obj];
        let hi = points[front[order[n - 1]]].f[obj];
        if w > 0.0 {
            d[order[0]] = f64::INFINITY;
            d[order[n - 1]] = f64::INFINITY;
        }
        if hi - lo <= 0.0 || w == 0.0 {
            continue;
        }
        for k in 1..n - 1 {
            let gap = points[front[order[k + 1]]].f[obj] - points[front[order[k - 1]]].f[obj];
            d[order[k]] += w * gap / (hi - lo);
        }
    }
    d
}

/// Rank (front number) and crowding distance of every point.
pub fn rank_and_crowding(points: &[Point], weights: &[f64]) -> (Vec<usize>, Vec<f64>) {
    let mut rank = vec![0; points.len()];
    let mut crowd = vec![0.0; points.len()];
    for (r, front) in non_dominated_sort(points).iter().enumerate() {
        for (i, c) in front.iter().zip(crowding(points, front, weights)) {
            rank[*i] = r;
            crowd[*i] = c;
        }
    }
    (rank, crowd)
}

/// NSGA-II's crowded comparison: lower rank, then larger crowding distance.
pub fn crowded_cmp(rank: &[usize], crowd: &[f64], a: usize, b: usize) -> Ordering {
    rank[a]
        .cmp(&rank[b])
        .then_with(|| crowd[b].total_cmp(&crowd[a]))
}

/// The exact hypervolume dominated by `points` (minimisation) and bounded by
/// `reference`: points not strictly better than the reference in every objective add
/// nothing. Recursive slicing over the last objective (exact; fine for the front sizes
/// of a search, O(n^m)).
pub fn hypervolume(points: &[Vec<f64>], reference: &[f64]) -> f64 {
    let pts: Vec<&[f64]> = points
        .iter()
        .map(Vec::as_slice)
        .filter(|p| p.iter().zip(reference).all(|(x, r)| x < r))
        .collect();
    hv(&pts, reference)
}

fn hv(points: &[&[f64]], r: &[f64]) -> f64 {
    if points.is_empty() {
        return 0.0;
    }
    let d = r.len();
    if d == 1 {
        return r[0] - points.iter().map(|p| p[0]).fold(f64::INFINITY, f64::min);
    }
    let mut sorted: Vec<&[f64]> = points.to_vec();
    sorted.sort_by(|a, b| a[d - 1].total_cmp(&b[d - 1]));
    let mut total = 0.0;
    for i in 0..sorted.len() {
        let top = if i + 1 < sorted.len() {
            sorted[i + 1][d - 1]
        } else {
            r[d - 1]
        };
        let depth = top - sorted[i][d - 1];
        if depth <= 0.0 {
            continue;
        }
        let slice: Vec<&[f64]> = sorted[..=i].iter().map(|p| &p[..d - 1]).collect();
        total += depth * hv(&slice, &r[..d - 1]);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pts(v: &[&[f64]]) -> Vec<Point> {
        v.iter().map(|f| Point::new(f.to_vec())).collect()
    }

    #[test]
    fn sorting_a_hand_made_set() {
        // front 0: (1,4) (2,2) (4,1); front 1: (3,3) (2,5); front 2: (4,4)
        let p = pts(&[
            &[1.0, 4.0],
            &[2.0, 2.0],
            &[3.0, 3.0],
            &[4.0, 1.0],
            &[2.0, 5.0],
            &[4.0, 4.0],
        ]);
        let fronts = non_dominated_sort(&p);
        let sorted: Vec<Vec<usize>> = fronts
            .into_iter()
            .map(|mut f| {
                f.sort();
                f
            })
            .collect();
        assert_eq!(sorted, vec![vec![0, 1, 3], vec![2, 4], vec![5]]);
    }

    #[test]
    fn infeasible_points_rank_behind_feasible_ones_by_violation() {
        let mut p = pts(&[&[5.0, 5.0], &[0.0, 0.0], &[1.0, 1.0]]);
        p[1].violation = 2.0;
        p[2].violation = 0.5;
        assert_eq!(non_dominated_sort(&p), vec![vec![0], vec![2], vec![1]]);
    }

    #[test]
    fn crowding_of_a_hand_made_front() {
        // Evenly spaced on a line: interior distances are equal, extremes infinite.
        let p = pts(&[
            &[0.0, 4.0],
            &[1.0, 3.0],
            &[2.0, 2.0],
            &[3.0, 1.0],
            &[4.0, 0.0],
        ]);
        let d = crowding(&p, &[0, 1, 2, 3, 4], &[1.0, 1.0]);
        assert_eq!(d[0], f64::INFINITY);
        assert_eq!(d[4], f64::INFINITY);
        assert!((d[1] - 1.0).abs() < 1e-12 && (d[2] - 1.0).abs() < 1e-12);
        // Weighting the second objective by 0.1 shrinks its share.
        let w = crowding(&p, &[0, 1, 2, 3, 4], &[1.0, 0.1]);
        assert!((w[2] - 0.55).abs() < 1e-12, "{w:?}");
    }

    #[test]
    fn hypervolume_of_known_sets() {
        assert_eq!(hypervolume(&[vec![1.0, 1.0]], &[2.0, 3.0]), 2.0);
        // Staircase: (1,3) (2,2) (3,1) under (4,4): 3 + 2 + 1 = 6.
        let hv = hypervolume(
            &[vec![1.0, 3.0], vec![2.0, 2.0], vec![3.0, 1.0]],
            &[4.0, 4.0],
        );
        assert!((hv - 6.0).abs() < 1e-12);
        // Dominated and outside points add nothing.
        let hv2 = hypervolume(
            &[
                vec![1.0, 3.0],
                vec![2.0, 2.0],
                vec![3.0, 1.0],
                vec![3.0, 3.0],
                vec![5.0, 0.0],
            ],
            &[4.0, 4.0],
        );
        assert!((hv2 - 6.0).abs() < 1e-12);
        // 3-D: a unit cube corner and the union of two boxes.
        assert!((hypervolume(&[vec![0.0, 0.0, 0.0]], &[1.0, 1.0, 1.0]) - 1.0).abs() < 1e-12);
        let two = hypervolume(
            &[vec![0.0, 0.5, 0.5], vec![0.5, 0.0, 0.0]],
            &[1.0, 1.0, 1.0],
        );
        assert!((two - (0.25 + 0.5 - 0.125)).abs() < 1e-12, "{two}");
    }

    proptest! {
        #[test]
        fn the_first_front_is_mutually_non_dominated_and_dominates_the_rest(
            v in prop::collection::vec((0u8..6, 0u8..6, 0u8..6), 1..40)
        ) {
            let p: Vec<Point> = v.iter().map(|&(a, b, c)| Point::new(vec![a.into(), b.into(), c.into()])).collect();
            let fronts = non_dominated_sort(&p);
            prop_assert_eq!(fronts.iter().map(Vec::len).sum::<usize>(), p.len());
            for &a in &fronts[0] {
                for &b in &fronts[0] {
                    prop_assert!(!dominates(&p[a], &p[b]));
                }
            }
            for later in &fronts[1..] {
                for &b in later {
                    prop_assert!(fronts[0].iter().any(|&a| dominates(&p[a], &p[b])));
                }
            }
        }

        #[test]
        fn hypervolume_equals_a_monte_carlo_grid_count(v in prop::collection::vec((0u8..8, 0u8..8), 1..12)) {
            // On an integer grid the exact volume is the count of dominated unit cells.
            let p: Vec<Vec<f64>> = v.iter().map(|&(a, b)| vec![a.into(), b.into()]).collect();
            let mut cells = 0;
            for x in 0..8 {
                for y in 0..8 {
                    if p.iter().any(|q| q[0] <= f64::from(x) && q[1] <= f64::from(y)) {
                        cells += 1;
                    }
                }
            }
            prop_assert!((hypervolume(&p, &[8.0, 8.0]) - f64::from(cells)).abs() < 1e-9);
        }
    }
}
