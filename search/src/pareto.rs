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

/// An `f64` ordered by `total_cmp`, for sorted maps.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Key(f64);

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

fn row(f: &[f64], m: usize, i: usize) -> &[f64] {
    &f[i * m..(i + 1) * m]
}

/// Lexicographic order of two objective vectors (`total_cmp` per objective).
pub fn lex(a: &[f64], b: &[f64]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        match x.total_cmp(y) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    Ordering::Equal
}

/// An integer with the order of `f64::total_cmp`: comparisons of sort keys become
/// integer comparisons.
pub(crate) fn ord_key(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 { !b } else { b | (1 << 63) }
}

/// `among` in lexicographic order of their rows (ties by index). Up to four objectives
/// the rows are sorted as packed integer keys, without indirection.
fn lex_order(f: &[f64], m: usize, among: &[usize]) -> Vec<usize> {
    let mut order = among.to_vec();
    lex_order_in_place(f, m, &mut order, &mut Vec::new());
    order
}

/// Sorts `order` (row indices) as [`lex_order`] does, with `keys` as a reusable buffer.
fn lex_order_in_place(
    f: &[f64],
    m: usize,
    order: &mut Vec<usize>,
    keys: &mut Vec<([u64; 4], usize)>,
) {
    if m <= 4 {
        keys.clear();
        keys.extend(order.iter().map(|&i| {
            let mut k = [0u64; 4];
            for (slot, &x) in k.iter_mut().zip(row(f, m, i)) {
                *slot = ord_key(x);
            }
            (k, i)
        }));
        keys.sort_unstable();
        order.clear();
        order.extend(keys.iter().map(|k| k.1));
    } else {
        order.sort_unstable_by(|&a, &b| lex(row(f, m, a), row(f, m, b)).then(a.cmp(&b)));
    }
}

/// Whether objective vector `a` dominates `b` (no constraints): nowhere worse,
/// somewhere better.
pub fn dominates_f(a: &[f64], b: &[f64]) -> bool {
    let mut strictly = false;
    for (x, y) in a.iter().zip(b) {
        if x > y {
            return false;
        }
        if x < y {
            strictly = true;
        }
    }
    strictly
}

fn weakly_dominates(a: &[f64], b: &[f64]) -> bool {
    a.iter().zip(b).all(|(x, y)| x <= y)
}

/// The non-dominated members of `among` (indices of rows of `f`, `m` objectives per
/// row, minimised, no constraints). Of several members with the same objective vector
/// one is kept, or all of them with `keep_ties`. Members are returned in lexicographic
/// order of their objectives.
///
/// Cost: a lexicographic sort, then one sweep: O(n log n) for up to three objectives
/// (a sorted staircase for three, Kung et al. 1975), O(n · front) beyond.
pub fn nondominated(f: &[f64], m: usize, among: &[usize], keep_ties: bool) -> Vec<usize> {
    nondominated_in_order(f, m, &lex_order(f, m, among), keep_ties)
}

/// [`nondominated`] (without ties) of `front`, a previous result (so mutually
/// non-dominated, in lexicographic order), together with the rows `new`, whose indices
/// all come after the front's: the same members in the same order, without sweeping
/// the whole front again ([`SortedFront::merge`]).
pub fn nondominated_merged(f: &[f64], m: usize, front: &[usize], new: &[usize]) -> Vec<usize> {
    let mut s = SortedFront::new(f, m, front);
    s.merge(f, new);
    s.ids
}

/// Rows per block of a [`SortedFront`].
const BLOCK: usize = 32;

/// A non-dominated front (no ties) kept in lexicographic order as rows are merged in,
/// generation after generation: an elite archive of thousands that each generation
/// changes by a few. Its rows are stored padded to four objectives with zeros (equal
/// there, so no dimension added changes a comparison), with per block of consecutive
/// rows the least and the greatest value of each objective.
pub struct SortedFront {
    m: usize,
    ids: Vec<usize>,
    rows: Vec<[f64; 4]>,
    least: Vec<[f64; 4]>,
    most: Vec<[f64; 4]>,
}

fn no_worse(a: &[f64; 4], b: &[f64; 4]) -> bool {
    // Without short-circuits: one well-predicted branch per row rather than up to four
    // the data decides.
    (a[0] <= b[0]) & (a[1] <= b[1]) & (a[2] <= b[2]) & (a[3] <= b[3])
}

impl SortedFront {
    /// The front `ids` (rows of `f`, `m` objectives each), mutually non-dominated and in
    /// lexicographic order (as [`nondominated`] returns them).
    pub fn new(f: &[f64], m: usize, ids: &[usize]) -> SortedFront {
        let mut s = SortedFront {
            m,
            ids: ids.to_vec(),
            rows: Vec::new(),
            least: Vec::new(),
            most: Vec::new(),
        };
        if m <= 4 {
            s.rows = ids.iter().map(|&i| s.padded(f, i)).collect();
            s.summarise();
        }
        s
    }

    /// The members, in lexicographic order.
    pub fn ids(&self) -> &[usize] {
        &self.ids
    }

    fn padded(&self, f: &[f64], i: usize) -> [f64; 4] {
        let mut r = [0.0f64; 4];
        r[..self.m].copy_from_slice(row(f, self.m, i));
        r
    }

    fn summarise(&mut self) {
        self.summarise_from(0);
    }

    /// Recomputes the summaries of blocks `from` on (those before are unchanged).
    fn summarise_from(&mut self, from: usize) {
        self.least.truncate(from);
        self.most.truncate(from);
        // Plain comparisons (the rows hold no NaN): they compile to vector min/max.
        for b in self.rows[from * BLOCK..].chunks(BLOCK) {
            let (mut l, mut h) = ([f64::INFINITY; 4], [f64::NEG_INFINITY; 4]);
            for r in b {
                for k in 0..4 {
                    l[k] = if r[k] < l[k] { r[k] } else { l[k] };
                    h[k] = if r[k] > h[k] { r[k] } else { h[k] };
                }
            }
            self.least.push(l);
            self.most.push(h);
        }
    }

    /// Merges the rows `new` (indices after every member's): the front is then
    /// [`nondominated`] of its members and them. A new row is kept unless a row before
    /// it (a member, or a new row taken earlier) is no worse everywhere; a new row taken
    /// removes the rows it dominates. Only members no worse in the first objective can
    /// rule a row out, those nearest in it are asked first (a search's new rows are
    /// neighbours of members, and the one that rules them out is usually close), and a
    /// block whose least values are worse than the row's somewhere is skipped whole.
    /// What changed: the members that joined and those that left.
    pub fn merge(&mut self, f: &[f64], new: &[usize]) -> FrontChange {
        if self.m > 4 {
            let all: Vec<usize> = self.ids.iter().chain(new).copied().collect();
            let ids = nondominated(f, self.m, &all, false);
            let change = FrontChange {
                joined: ids
                    .iter()
                    .filter(|i| !self.ids.contains(i))
                    .copied()
                    .collect(),
                left: self
                    .ids
                    .iter()
                    .filter(|i| !ids.contains(i))
                    .copied()
                    .collect(),
            };
            self.ids = ids;
            return change;
        }
        let rows = &self.rows;
        let mut alive = vec![true; rows.len()];
        let mut taken: Vec<([f64; 4], usize)> = Vec::new();
        let mut added = new.to_vec();
        added.sort_unstable();
        for i in added {
            let r = self.padded(f, i);
            if taken.iter().any(|(t, _)| no_worse(t, &r)) {
                continue;
            }
            // A member that went is no worse than this row only if the row that removed
            // it is too, so the dead need not be skipped.
            let before = rows.partition_point(|x| x[0] <= r[0]);
            let ruled_out = (0..before.div_ceil(BLOCK)).rev().any(|b| {
                no_worse(&self.least[b], &r)
                    && rows[b * BLOCK..before.min((b + 1) * BLOCK)]
                        .iter()
                        .rev()
                        .any(|x| no_worse(x, &r))
            });
            if ruled_out {
                continue;
            }
            // Taken: the rows it dominates go (none equals it, or it would not be taken).
            let from = rows.partition_point(|x| x[0] < r[0]);
            for b in from / BLOCK..rows.len().div_ceil(BLOCK) {
                if !no_worse(&r, &self.most[b]) {
                    continue;
                }
                let span = (b * BLOCK).max(from)..((b + 1) * BLOCK).min(rows.len());
                for (x, a) in rows[span.clone()].iter().zip(&mut alive[span]) {
                    if *a && no_worse(&r, x) {
                        *a = false;
                    }
                }
            }
            taken.retain(|(t, _)| !no_worse(&r, t));
            taken.push((r, i));
        }
        if taken.is_empty() {
            return FrontChange::default();
        }
        let change = FrontChange {
            joined: taken.iter().map(|t| t.1).collect(),
            left: (0..rows.len())
                .filter(|&j| !alive[j])
                .map(|j| self.ids[j])
                .collect(),
        };
        // The survivors are in order; the rows taken (no two equal, none equal to a
        // survivor) are sorted and each put where it belongs among them. What comes
        // before the first cut (a row taken or gone) keeps its blocks' summaries; the
        // survivors between two cuts are copied as one run.
        taken.sort_unstable_by(|a, b| lex(&a.0, &b.0));
        let first_taken = rows.partition_point(|x| lex(x, &taken[0].0) == Ordering::Less);
        let first = alive[..first_taken]
            .iter()
            .position(|a| !a)
            .unwrap_or(first_taken);
        let (mut ids, mut out) = (
            Vec::with_capacity(self.ids.len() + taken.len()),
            Vec::with_capacity(self.ids.len() + taken.len()),
        );
        let keep = |from: usize, to: usize, ids: &mut Vec<usize>, out: &mut Vec<[f64; 4]>| {
            let mut s = from;
            for j in from..to {
                if !alive[j] {
                    ids.extend_from_slice(&self.ids[s..j]);
                    out.extend_from_slice(&rows[s..j]);
                    s = j + 1;
                }
            }
            ids.extend_from_slice(&self.ids[s..to]);
            out.extend_from_slice(&rows[s..to]);
        };
        let mut k = 0;
        for (r, i) in taken {
            let at = k + rows[k..].partition_point(|x| lex(x, &r) == Ordering::Less);
            keep(k, at, &mut ids, &mut out);
            ids.push(i);
            out.push(r);
            k = at;
        }
        keep(k, rows.len(), &mut ids, &mut out);
        self.ids = ids;
        self.rows = out;
        self.summarise_from(first / BLOCK);
        change
    }
}

/// What a [`SortedFront::merge`] changed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FrontChange {
    /// Rows that joined the front.
    pub joined: Vec<usize>,
    /// Members that left it.
    pub left: Vec<usize>,
}

impl FrontChange {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.joined.is_empty() && self.left.is_empty()
    }
}

/// The sweep of [`nondominated`] over `order`, already in lexicographic order.
fn nondominated_in_order(f: &[f64], m: usize, order: &[usize], keep_ties: bool) -> Vec<usize> {
    let mut kept: Vec<usize> = Vec::new();
    // Equal vectors are adjacent in lexicographic order: a tie of the last kept member
    // is kept or dropped without a dominance check.
    let tie_of_last =
        |kept: &[usize], i: usize| kept.last().is_some_and(|&k| row(f, m, k) == row(f, m, i));
    match m {
        0 => {}
        1 => {
            for &i in order {
                if kept.is_empty() || (keep_ties && tie_of_last(&kept, i)) {
                    kept.push(i);
                }
            }
        }
        2 => {
            let mut best = f64::INFINITY;
            for &i in order {
                let r = row(f, m, i);
                if tie_of_last(&kept, i) {
                    if keep_ties {
                        kept.push(i);
                    }
                } else if r[1] < best {
                    best = r[1];
                    kept.push(i);
                }
            }
        }
        3 => {
            if order.len() <= SMALL {
                nondominated3::<VecStairs>(f, order, keep_ties, &mut kept);
            } else {
                nondominated3::<MapStairs>(f, order, keep_ties, &mut kept);
            }
        }
        _ => {
            let mut front: Vec<usize> = Vec::new();
            for &i in order {
                let r = row(f, m, i);
                if tie_of_last(&kept, i) {
                    if keep_ties {
                        kept.push(i);
                    }
                    continue;
                }
                if front.iter().any(|&k| weakly_dominates(row(f, m, k), r)) {
                    continue;
                }
                front.push(i);
                kept.push(i);
            }
        }
    }
    kept
}

/// Non-dominated sorting under constrained dominance: the fronts, best first, as
/// indices of rows of `f` (`m` objectives each) with their violations. Feasible points
/// by the efficient non-dominated sort with binary search (Zhang et al. 2015): in
/// lexicographic order each point joins the first front none of whose members dominates
/// it, found by binary search over the fronts; for two objectives a front's last member
/// alone decides, so the sort is O(n log n). Infeasible points follow, one front per
/// distinct violation.
pub fn sort_fronts(f: &[f64], violation: &[f64], m: usize) -> Vec<Vec<usize>> {
    let mut sorter = FrontSorter::default();
    sorter.sort(f, violation, m);
    sorter.fronts().to_vec()
}

/// [`sort_fronts`] with its buffers kept from one call to the next (an engine sorts a
/// population of the same size every generation).
#[derive(Default)]
pub struct FrontSorter {
    keys: Vec<([u64; 4], usize)>,
    order: Vec<usize>,
    infeasible: Vec<usize>,
    fronts: Vec<Vec<usize>>,
    used: usize,
    stairs: Vec<VecStairs>,
}

impl FrontSorter {
    /// The fronts of the last [`FrontSorter::sort`], best first, each in
    /// lexicographic order of its members' objectives (infeasible ones by index).
    pub fn fronts(&self) -> &[Vec<usize>] {
        &self.fronts[..self.used]
    }

    fn new_front(&mut self) -> usize {
        if self.used == self.fronts.len() {
            self.fronts.push(Vec::new());
            self.stairs.push(VecStairs::default());
        }
        self.fronts[self.used].clear();
        self.stairs[self.used].0.clear();
        self.used += 1;
        self.used - 1
    }

    /// Sorts rows of `f` (`m` objectives each) with their violations into fronts.
    pub fn sort(&mut self, f: &[f64], violation: &[f64], m: usize) {
        self.used = 0;
        self.order.clear();
        self.infeasible.clear();
        for (i, &v) in violation.iter().enumerate() {
            if v <= 0.0 {
                self.order.push(i);
            } else {
                self.infeasible.push(i);
            }
        }
        lex_order_in_place(f, m, &mut self.order, &mut self.keys);
        // For three objectives each front keeps the staircase of its members' (y, z), z
        // falling as y grows, each step remembering its member: every member comes
        // earlier in lexicographic order, so it dominates a later point unless it is
        // that point's equal, and the step at the largest y ≤ the point's has the
        // smallest z there.
        let order = std::mem::take(&mut self.order);
        for &p in &order {
            let r = row(f, m, p);
            let dominated_by = |k: usize| -> bool {
                match m {
                    // Within a front in lexicographic order the second objective falls:
                    // the last member is the only candidate dominator of a later point.
                    2 => self.fronts[k]
                        .last()
                        .is_some_and(|&q| dominates_f(row(f, m, q), r)),
                    3 => self.stairs[k]
                        .floor(r[1])
                        .is_some_and(|(_, z, q)| z <= r[2] && row(f, m, q) != r),
                    _ => self.fronts[k]
                        .iter()
                        .rev()
                        .any(|&q| dominates_f(row(f, m, q), r)),
                }
            };
            let (mut lo, mut hi) = (0, self.used);
            while lo < hi {
                let mid = (lo + hi) / 2;
                if dominated_by(mid) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            if lo == self.used {
                self.new_front();
            }
            self.fronts[lo].push(p);
            if m == 3 {
                self.stairs[lo].add(r[1], r[2], p);
            }
        }
        self.order = order;
        let mut infeasible = std::mem::take(&mut self.infeasible);
        infeasible.sort_unstable_by(|&a, &b| violation[a].total_cmp(&violation[b]).then(a.cmp(&b)));
        for (k, &i) in infeasible.iter().enumerate() {
            if k == 0 || violation[i] != violation[infeasible[k - 1]] {
                self.new_front();
            }
            self.fronts[self.used - 1].push(i);
        }
        self.infeasible = infeasible;
    }
}

/// [`sort_fronts`] on points.
pub fn non_dominated_sort(points: &[Point]) -> Vec<Vec<usize>> {
    let m = points.first().map_or(0, |p| p.f.len());
    let f: Vec<f64> = points.iter().flat_map(|p| p.f.iter().copied()).collect();
    let v: Vec<f64> = points.iter().map(|p| p.violation).collect();
    let mut fronts = sort_fronts(&f, &v, m);
    for fr in &mut fronts {
        fr.sort_unstable();
    }
    fronts
}

/// Crowding distance of each member of `front` (indices of rows of `f`, `m` objectives
/// each), weighted per objective: Σ_m w_m · (f_m[next] − f_m[prev]) / (f_m^max −
/// f_m^min); the extremes of every objective with a non-zero weight get infinity.
pub fn crowding_flat(f: &[f64], m: usize, front: &[usize], weights: &[f64]) -> Vec<f64> {
    let mut d = Vec::new();
    crowding_into(f, m, front, weights, &mut Vec::new(), &mut d);
    d
}

/// [`crowding_flat`] into `d`, with `by` as a reusable sorting buffer.
pub fn crowding_into(
    f: &[f64],
    m: usize,
    front: &[usize],
    weights: &[f64],
    by: &mut Vec<(u64, usize)>,
    d: &mut Vec<f64>,
) {
    let n = front.len();
    d.clear();
    if n <= 2 {
        d.resize(n, f64::INFINITY);
        return;
    }
    d.resize(n, 0.0);
    // (value, member) pairs sorted in place: contiguous, no index indirection.
    for (obj, &w) in weights.iter().enumerate().take(m) {
        by.clear();
        by.extend(
            front
                .iter()
                .enumerate()
                .map(|(k, &i)| (ord_key(f[i * m + obj]), k)),
        );
        // Fronts from `sort_fronts` come in lexicographic order: sorted by the first
        // objective already, and for two objectives by the second in reverse.
        if by.windows(2).all(|w| w[0].0 >= w[1].0) {
            by.reverse();
        } else if !by.is_sorted() {
            by.sort_unstable();
        }
        let val = |k: usize| f[front[by[k].1] * m + obj];
        let (lo, hi) = (val(0), val(n - 1));
        if w > 0.0 {
            d[by[0].1] = f64::INFINITY;
            d[by[n - 1].1] = f64::INFINITY;
        }
        if hi - lo <= 0.0 || w == 0.0 {
            continue;
        }
        for k in 1..n - 1 {
            d[by[k].1] += w * (val(k + 1) - val(k - 1)) / (hi - lo);
        }
    }
}

/// [`crowding_flat`] on points.
pub fn crowding(points: &[Point], front: &[usize], weights: &[f64]) -> Vec<f64> {
    let m = points.first().map_or(0, |p| p.f.len());
    let f: Vec<f64> = points.iter().flat_map(|p| p.f.iter().copied()).collect();
    crowding_flat(&f, m, front, weights)
}

/// Rank (front number) and crowding distance of every row of `f`.
pub fn rank_and_crowding_flat(
    f: &[f64],
    violation: &[f64],
    m: usize,
    weights: &[f64],
) -> (Vec<usize>, Vec<f64>) {
    let n = violation.len();
    let mut rank = vec![0; n];
    let mut crowd = vec![0.0; n];
    for (r, front) in sort_fronts(f, violation, m).iter().enumerate() {
        for (i, c) in front.iter().zip(crowding_flat(f, m, front, weights)) {
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
/// nothing. Two objectives: one sweep, O(n log n). Three: a sweep over the third
/// objective keeping the 2-D staircase and its area in a sorted map (Beume et al.
/// 2009), O(n log n). More: slices over the last objective, each measured in one
/// fewer dimension.
pub fn hypervolume(points: &[Vec<f64>], reference: &[f64]) -> f64 {
    let d = reference.len();
    let pts: Vec<f64> = points
        .iter()
        .filter(|p| p.iter().zip(reference).all(|(x, r)| x < r))
        .flat_map(|p| p[..d].iter().copied())
        .collect();
    hv_flat(&pts, d, reference)
}

/// [`hypervolume`] of the rows of a flat array (`d` values each), in place of a list
/// of vectors.
pub fn hypervolume_flat(f: &[f64], d: usize, reference: &[f64]) -> f64 {
    if f.chunks_exact(d)
        .all(|p| p.iter().zip(reference).all(|(x, r)| x < r))
    {
        return hv_flat(f, d, reference);
    }
    let inside: Vec<f64> = f
        .chunks_exact(d)
        .filter(|p| p.iter().zip(reference).all(|(x, r)| x < r))
        .flatten()
        .copied()
        .collect();
    hv_flat(&inside, d, reference)
}

/// [`hypervolume`] of rows of a flat array; every row strictly inside the reference.
fn hv_flat(f: &[f64], d: usize, r: &[f64]) -> f64 {
    let n = f.len().checked_div(d).unwrap_or(0);
    if n == 0 {
        return 0.0;
    }
    match d {
        1 => r[0] - f.iter().copied().fold(f64::INFINITY, f64::min),
        2 => {
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_unstable_by(|&a, &b| lex(row(f, 2, a), row(f, 2, b)));
            let (mut total, mut y_top) = (0.0, r[1]);
            // In order of the first objective, each point adds the strip between its
            // second objective and the lowest one so far, out to the reference.
            for &i in &order {
                let (x, y) = (f[2 * i], f[2 * i + 1]);
                if y < y_top {
                    total += (r[0] - x) * (y_top - y);
                    y_top = y;
                }
            }
            total
        }
        3 => hv3(f, r),
        _ => {
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_unstable_by(|&a, &b| f[a * d + d - 1].total_cmp(&f[b * d + d - 1]));
            let mut total = 0.0;
            let mut slice: Vec<f64> = Vec::with_capacity(n * (d - 1));
            for (k, &i) in order.iter().enumerate() {
                slice.extend_from_slice(&f[i * d..i * d + d - 1]);
                let top = order.get(k + 1).map_or(r[d - 1], |&j| f[j * d + d - 1]);
                let depth = top - f[i * d + d - 1];
                if depth > 0.0 {
                    total += depth * hv_flat(&slice, d - 1, &r[..d - 1]);
                }
            }
            total
        }
    }
}

/// Three-objective hypervolume: sweep the points by their third objective; between
/// consecutive ones the volume grows by the area the 2-D staircase of the points so far
/// dominates. The staircase (x ascending, y descending) is kept sorted with its area up
/// to date: a new point adds its exclusive rectangle, each point it covers gives its own
/// back.
fn hv3(f: &[f64], r: &[f64]) -> f64 {
    if f.len() / 3 <= SMALL {
        hv3_with::<VecStairs>(f, r)
    } else {
        hv3_with::<MapStairs>(f, r)
    }
}

fn hv3_with<S: Stairs>(f: &[f64], r: &[f64]) -> f64 {
    let n = f.len() / 3;
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_unstable_by(|&a, &b| f[3 * a + 2].total_cmp(&f[3 * b + 2]));
    let mut stairs = S::default();
    let mut area = 0.0;
    let mut total = 0.0;
    // The rectangle only the step at `x` (height `y`) dominates, between its neighbours.
    let exclusive = |stairs: &S, x: f64, y: f64| -> f64 {
        let y_prev = stairs.below(x).map_or(r[1], |s| s.1);
        let x_next = stairs.above(x).map_or(r[0], |s| s.0);
        (x_next - x) * (y_prev - y)
    };
    for (k, &i) in order.iter().enumerate() {
        let (x, y, z) = (f[3 * i], f[3 * i + 1], f[3 * i + 2]);
        if !stairs.floor(x).is_some_and(|s| s.1 <= y) {
            // The steps the new point covers are consecutive from x on; each one's
            // neighbours are the same before and after its removal.
            while let Some((kx, ky, _)) = stairs.pop_covered(x, y) {
                area -= exclusive(&stairs, kx, ky);
            }
            stairs.insert(x, y, i);
            area += exclusive(&stairs, x, y);
        }
        let top = order.get(k + 1).map_or(r[2], |&j| f[3 * j + 2]);
        total += area * (top - z);
    }
    total
}

/// Below this many points a staircase is a sorted vector (shifts of a few hundred
/// entries beat a tree's allocations); above, a B-tree.
const SMALL: usize = 2048;

/// A 2-D staircase: steps with ascending keys and descending values, each with the
/// index of its point.
trait Stairs: Default {
    /// The step with the largest key ≤ `k`.
    fn floor(&self, k: f64) -> Option<(f64, f64, usize)>;
    /// The step with the largest key < `k`.
    fn below(&self, k: f64) -> Option<(f64, f64, usize)>;
    /// The step with the smallest key > `k`.
    fn above(&self, k: f64) -> Option<(f64, f64, usize)>;
    /// Removes and returns the first step with key ≥ `k` when its value is ≥ `v`.
    fn pop_covered(&mut self, k: f64, v: f64) -> Option<(f64, f64, usize)>;
    /// Inserts a step (the caller removed what it covers).
    fn insert(&mut self, k: f64, v: f64, id: usize);
    /// Adds the point (k, v) unless a step is no worse in both; removes the steps it
    /// covers.
    fn add(&mut self, k: f64, v: f64, id: usize) {
        if self.floor(k).is_some_and(|s| s.1 <= v) {
            return;
        }
        while self.pop_covered(k, v).is_some() {}
        self.insert(k, v, id);
    }
}

#[derive(Default)]
struct VecStairs(Vec<(f64, f64, usize)>);

impl Stairs for VecStairs {
    fn floor(&self, k: f64) -> Option<(f64, f64, usize)> {
        let i = self.0.partition_point(|s| s.0.total_cmp(&k).is_le());
        i.checked_sub(1).map(|i| self.0[i])
    }
    fn below(&self, k: f64) -> Option<(f64, f64, usize)> {
        let i = self.0.partition_point(|s| s.0.total_cmp(&k).is_lt());
        i.checked_sub(1).map(|i| self.0[i])
    }
    fn above(&self, k: f64) -> Option<(f64, f64, usize)> {
        let i = self.0.partition_point(|s| s.0.total_cmp(&k).is_le());
        self.0.get(i).copied()
    }
    fn pop_covered(&mut self, k: f64, v: f64) -> Option<(f64, f64, usize)> {
        let i = self.0.partition_point(|s| s.0.total_cmp(&k).is_lt());
        (i < self.0.len() && self.0[i].1 >= v).then(|| self.0.remove(i))
    }
    fn insert(&mut self, k: f64, v: f64, id: usize) {
        let i = self.0.partition_point(|s| s.0.total_cmp(&k).is_lt());
        self.0.insert(i, (k, v, id));
    }
}

#[derive(Default)]
struct MapStairs(std::collections::BTreeMap<Key, (f64, usize)>);

impl Stairs for MapStairs {
    fn floor(&self, k: f64) -> Option<(f64, f64, usize)> {
        self.0
            .range(..=Key(k))
            .next_back()
            .map(|(a, &(b, i))| (a.0, b, i))
    }
    fn below(&self, k: f64) -> Option<(f64, f64, usize)> {
        self.0
            .range(..Key(k))
            .next_back()
            .map(|(a, &(b, i))| (a.0, b, i))
    }
    fn above(&self, k: f64) -> Option<(f64, f64, usize)> {
        use std::ops::Bound::{Excluded, Unbounded};
        self.0
            .range((Excluded(Key(k)), Unbounded))
            .next()
            .map(|(a, &(b, i))| (a.0, b, i))
    }
    fn pop_covered(&mut self, k: f64, v: f64) -> Option<(f64, f64, usize)> {
        let (&key, &(val, id)) = self.0.range(Key(k)..).next()?;
        (val >= v).then(|| {
            self.0.remove(&key);
            (key.0, val, id)
        })
    }
    fn insert(&mut self, k: f64, v: f64, id: usize) {
        self.0.insert(Key(k), (v, id));
    }
}

/// Kung's sweep for three objectives: every earlier point in lexicographic order is no
/// worse in the first objective, so a point is dominated exactly when an earlier kept
/// one is no worse in the other two, which the staircase of kept (y, z) answers.
fn nondominated3<S: Stairs>(f: &[f64], order: &[usize], keep_ties: bool, kept: &mut Vec<usize>) {
    let mut stairs = S::default();
    for &i in order {
        let r = row(f, 3, i);
        if kept.last().is_some_and(|&k| row(f, 3, k) == r) {
            if keep_ties {
                kept.push(i);
            }
            continue;
        }
        if stairs.floor(r[1]).is_some_and(|s| s.1 <= r[2]) {
            continue;
        }
        while stairs.pop_covered(r[1], r[2]).is_some() {}
        stairs.insert(r[1], r[2], i);
        kept.push(i);
    }
}

/// The general slicing hypervolume, O(n^d): the reference the fast paths are tested
/// against.
#[cfg(test)]
fn hv_slicing(points: &[&[f64]], r: &[f64]) -> f64 {
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
        total += depth * hv_slicing(&slice, &r[..d - 1]);
    }
    total
}

/// Deb's O(m n²) sort: the reference the fast one is tested against.
#[cfg(test)]
fn naive_sort(points: &[Point]) -> Vec<Vec<usize>> {
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
    for f in &mut fronts {
        f.sort_unstable();
    }
    fronts
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

    #[test]
    fn both_staircases_agree() {
        let mut rng = lookup_tables::SplitMix64::new(3);
        let f: Vec<f64> = (0..3 * 3000).map(|_| rng.below(200) as f64).collect();
        let r = [250.0; 3];
        let (a, b) = (hv3_with::<VecStairs>(&f, &r), hv3_with::<MapStairs>(&f, &r));
        assert!((a - b).abs() < 1e-6 * a, "{a} vs {b}");
        let mut order: Vec<usize> = (0..3000).collect();
        order.sort_by(|&x, &y| lex(row(&f, 3, x), row(&f, 3, y)));
        let (mut v, mut m) = (Vec::new(), Vec::new());
        nondominated3::<VecStairs>(&f, &order, true, &mut v);
        nondominated3::<MapStairs>(&f, &order, true, &mut m);
        assert_eq!(v, m);
        // Above the threshold the public functions take the tree.
        let all: Vec<usize> = (0..3000).collect();
        assert_eq!(nondominated(&f, 3, &all, true), v);
        assert!((hypervolume_flat(&f, 3, &r) - a).abs() < 1e-6 * a);
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
        fn the_fast_sort_equals_deb_s_sort(
            v in prop::collection::vec((0u8..5, 0u8..5, 0u8..5, 0u8..3), 1..60),
            m in 2usize..5,
        ) {
            let p: Vec<Point> = v.iter().map(|&(a, b, c, viol)| {
                let all = [f64::from(a), f64::from(b), f64::from(c), f64::from(a ^ c)];
                Point { f: all[..m].to_vec(), violation: if viol == 2 { f64::from(b) + 0.5 } else { 0.0 } }
            }).collect();
            prop_assert_eq!(non_dominated_sort(&p), naive_sort(&p));
        }

        #[test]
        fn merging_into_a_front_is_the_front_of_both(
            v in prop::collection::vec((0u8..6, 0u8..6, 0u8..6), 2..80),
            split in 1usize..80,
            m in 1usize..4,
        ) {
            let f: Vec<f64> = v
                .iter()
                .flat_map(|&(a, b, c)| [f64::from(a), f64::from(b), f64::from(c)][..m].to_vec())
                .collect();
            let k = split.min(v.len() - 1);
            let old: Vec<usize> = (0..k).collect();
            let new: Vec<usize> = (k..v.len()).rev().collect();
            let front = nondominated(&f, m, &old, false);
            let all: Vec<usize> = (0..v.len()).collect();
            prop_assert_eq!(nondominated_merged(&f, m, &front, &new), nondominated(&f, m, &all, false));
        }

        #[test]
        fn nondominated_is_the_first_front(
            v in prop::collection::vec((0u8..6, 0u8..6, 0u8..6, 0u8..6), 1..80),
            m in 1usize..5,
        ) {
            let p: Vec<Point> = v.iter().map(|&(a, b, c, d)| {
                Point::new([f64::from(a), f64::from(b), f64::from(c), f64::from(d)][..m].to_vec())
            }).collect();
            let f: Vec<f64> = p.iter().flat_map(|x| x.f.clone()).collect();
            let all: Vec<usize> = (0..p.len()).collect();
            let mut ties = nondominated(&f, m, &all, true);
            ties.sort_unstable();
            prop_assert_eq!(&ties, &naive_sort(&p)[0]);
            // Without ties: one member per distinct vector of the first front.
            let one = nondominated(&f, m, &all, false);
            let distinct: std::collections::BTreeSet<Vec<u64>> = ties.iter().map(|&i| p[i].f.iter().map(|x| x.to_bits()).collect()).collect();
            prop_assert_eq!(one.len(), distinct.len());
        }

        #[test]
        fn the_fast_hypervolumes_equal_slicing(
            v in prop::collection::vec((0u8..9, 0u8..9, 0u8..9, 0u8..9), 1..30),
            d in 2usize..5,
        ) {
            let p: Vec<Vec<f64>> = v.iter().map(|&(a, b, c, e)| {
                [f64::from(a), f64::from(b), f64::from(c), f64::from(e)][..d].iter().map(|x| x * 0.25).collect()
            }).collect();
            let r = vec![2.5; d];
            let inside: Vec<&[f64]> = p.iter().map(Vec::as_slice).filter(|q| q.iter().all(|x| *x < 2.5)).collect();
            let slow = hv_slicing(&inside, &r);
            prop_assert!((hypervolume(&p, &r) - slow).abs() < 1e-9, "{} vs {}", hypervolume(&p, &r), slow);
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
