//! k-nearest-neighbour graphs: exact brute force, or NN-descent seeded by random-projection
//! trees (the pynndescent scheme umap-learn uses above 4096 points).

use serde::{Deserialize, Serialize};

use super::{Metric, UmapError, check_progress};
use crate::rng::Rng;

/// Below this many points [`KnnMethod::Auto`] computes neighbours exactly (umap-learn's cut-off).
pub const EXACT_LIMIT: usize = 4096;

/// How [`nearest_neighbors`] finds neighbours.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum KnnMethod {
    /// Exact below [`EXACT_LIMIT`] points, NN-descent above.
    #[default]
    Auto,
    /// Brute force over all pairs: O(n² · dim).
    Exact,
    /// Approximate: random-projection forest then NN-descent (falls back to exact when k is
    /// not much smaller than n).
    NnDescent,
}

/// The k nearest neighbours of each point, the point itself excluded, nearest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KnnGraph {
    n: usize,
    k: usize,
    indices: Vec<u32>,
    distances: Vec<f32>,
}

impl KnnGraph {
    /// Builds a graph from precomputed neighbours: `indices`/`distances` are `[n x k]`
    /// row-major. Rows are sorted here; indices must be `< n`, distinct within a row and not the
    /// row's own index, distances finite and non-negative.
    pub fn new(
        n: usize,
        k: usize,
        indices: Vec<u32>,
        distances: Vec<f32>,
    ) -> Result<Self, UmapError> {
        if indices.len() != n * k || distances.len() != n * k {
            return Err(UmapError::InvalidGraph(format!(
                "expected {n} x {k} = {} indices and distances, got {} and {}",
                n * k,
                indices.len(),
                distances.len()
            )));
        }
        if k >= n && n > 0 {
            return Err(UmapError::InvalidGraph(format!(
                "k = {k} neighbours needs more than {n} points"
            )));
        }
        let mut g = Self {
            n,
            k,
            indices,
            distances,
        };
        for i in 0..n {
            let row = i * k..(i + 1) * k;
            for (&j, &d) in g.indices[row.clone()].iter().zip(&g.distances[row.clone()]) {
                if j as usize >= n || j as usize == i {
                    return Err(UmapError::InvalidGraph(format!(
                        "row {i} names neighbour {j} (n = {n})"
                    )));
                }
                if !d.is_finite() || d < 0.0 {
                    return Err(UmapError::InvalidGraph(format!("row {i} has distance {d}")));
                }
            }
            let mut pairs: Vec<(f32, u32)> = g.distances[row.clone()]
                .iter()
                .copied()
                .zip(g.indices[row.clone()].iter().copied())
                .collect();
            pairs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let mut ids: Vec<u32> = pairs.iter().map(|p| p.1).collect();
            ids.sort_unstable();
            if ids.windows(2).any(|w| w[0] == w[1]) {
                return Err(UmapError::InvalidGraph(format!(
                    "row {i} lists a neighbour twice"
                )));
            }
            for (s, (d, j)) in pairs.into_iter().enumerate() {
                g.distances[i * k + s] = d;
                g.indices[i * k + s] = j;
            }
        }
        Ok(g)
    }

    /// Number of points.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Neighbours per point.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Neighbour indices and distances of point `i`, nearest first. Panics if `i >= n`.
    pub fn neighbors(&self, i: usize) -> (&[u32], &[f32]) {
        let r = i * self.k..(i + 1) * self.k;
        (&self.indices[r.clone()], &self.distances[r])
    }
}

/// Squared euclidean distance with eight independent accumulators (vectorises well).
#[inline]
pub(crate) fn sq_dist(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            let d = x[l] - y[l];
            acc[l] += d * d;
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// Rows of the data as the kNN search sees them: unit-normalised for cosine (so that
/// `1 - cos = |u - v|² / 2`), unchanged for euclidean.
pub(crate) fn prepare(data: &[f32], dim: usize, metric: Metric) -> std::borrow::Cow<'_, [f32]> {
    match metric {
        Metric::Euclidean => std::borrow::Cow::Borrowed(data),
        Metric::Cosine => {
            let mut v = data.to_vec();
            for row in v.chunks_exact_mut(dim) {
                let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
                if norm > 0.0 {
                    row.iter_mut().for_each(|x| *x /= norm);
                }
            }
            std::borrow::Cow::Owned(v)
        }
    }
}

/// The `k` nearest neighbours of each of the `data.len() / dim` rows under `metric`.
/// Reports stage `"knn"` to `progress`; returns [`UmapError::Cancelled`] when it says stop.
pub fn nearest_neighbors(
    data: &[f32],
    dim: usize,
    k: usize,
    metric: Metric,
    method: KnnMethod,
    seed: u64,
    progress: &mut dyn FnMut(&str, usize, usize) -> bool,
) -> Result<KnnGraph, UmapError> {
    let mut search = KnnSearch::new(data, dim, k, metric, method, seed)?;
    loop {
        let (done, total) = search.progress();
        check_progress(progress, "knn", done, total)?;
        if search.is_done() {
            return Ok(search.finish());
        }
        search.step();
    }
}

/// Multiply-adds of distance computations one [`KnnSearch::step`] does at most (about).
const WORK_PER_STEP: usize = 1 << 22;

/// A neighbour search that runs a bounded piece at a time ([`KnnSearch::step`]); the result
/// does not depend on how the work was split.
pub(crate) struct KnnSearch<'a> {
    x: std::borrow::Cow<'a, [f32]>,
    dim: usize,
    n: usize,
    metric: Metric,
    heaps: Heaps,
    state: SearchState,
}

enum SearchState {
    /// Brute force: the next row and the pairs compared so far (of `n (n - 1) / 2`).
    Exact { row: usize, pairs: usize },
    /// NN-descent.
    Descent(Box<Descent>),
    /// Found; the stage's total work.
    Done(usize),
}

impl<'a> KnnSearch<'a> {
    /// Checks the input and prepares the search (no distances computed yet).
    pub(crate) fn new(
        data: &'a [f32],
        dim: usize,
        k: usize,
        metric: Metric,
        method: KnnMethod,
        seed: u64,
    ) -> Result<Self, UmapError> {
        let n = super::check_data(data, dim)?;
        if k >= n.max(1) {
            return Err(UmapError::InvalidParams(format!(
                "k = {k} neighbours needs more than {n} points"
            )));
        }
        let x = prepare(data, dim, metric);
        let exact = match method {
            KnnMethod::Exact => true,
            KnnMethod::Auto => n < EXACT_LIMIT,
            // NN-descent needs room to sample; tiny or nearly complete graphs are cheap exactly.
            KnnMethod::NnDescent => n < 64 || 4 * k >= n,
        };
        let state = if exact {
            SearchState::Exact { row: 0, pairs: 0 }
        } else {
            SearchState::Descent(Box::new(Descent::new(n, k, seed)))
        };
        Ok(Self {
            x,
            dim,
            n,
            metric,
            heaps: Heaps::new(n, k),
            state,
        })
    }

    /// Work done and work in all, in the units progress is reported in (pairs compared for
    /// the exact search, trees and iterations for NN-descent).
    pub(crate) fn progress(&self) -> (usize, usize) {
        let n = self.n;
        let pairs = n * n.saturating_sub(1) / 2;
        match &self.state {
            SearchState::Exact { pairs: done, .. } => (*done, pairs),
            SearchState::Descent(d) => d.progress(),
            SearchState::Done(total) => (*total, *total),
        }
    }

    /// Whether the neighbours are found.
    pub(crate) fn is_done(&self) -> bool {
        matches!(self.state, SearchState::Done(_))
    }

    /// Does one bounded piece of the search (nothing once done).
    pub(crate) fn step(&mut self) {
        let (x, dim, n) = (&self.x[..], self.dim, self.n);
        match &mut self.state {
            SearchState::Exact { row, pairs } => {
                let mut work = 0;
                while *row < n && work < WORK_PER_STEP {
                    let i = *row;
                    let xi = &x[i * dim..(i + 1) * dim];
                    for j in i + 1..n {
                        let d = sq_dist(xi, &x[j * dim..(j + 1) * dim]);
                        self.heaps.push(i, d, j as u32);
                        self.heaps.push(j, d, i as u32);
                    }
                    *pairs += n - 1 - i;
                    work += (n - 1 - i) * dim + 1;
                    *row += 1;
                }
                if *row >= n {
                    self.state = SearchState::Done(*pairs);
                }
            }
            SearchState::Descent(d) => {
                if d.step(x, dim, &mut self.heaps) {
                    self.state = SearchState::Done(d.progress().1);
                }
            }
            SearchState::Done(_) => {}
        }
    }

    /// The graph found; call once [`is_done`](Self::is_done).
    pub(crate) fn finish(self) -> KnnGraph {
        debug_assert!(self.is_done());
        let k = self.heaps.k;
        let (indices, sq) = self.heaps.into_sorted();
        let metric = self.metric;
        let distances = sq
            .into_iter()
            .map(|s| match metric {
                Metric::Euclidean => s.max(0.0).sqrt(),
                Metric::Cosine => (s * 0.5).max(0.0),
            })
            .collect();
        KnnGraph {
            n: self.n,
            k,
            indices,
            distances,
        }
    }
}

/// Bounded max-heaps of (squared distance, index, is-new flag), one row of k slots per point,
/// worst neighbour at each row's first slot. Ordered by (distance, index) so ties are settled
/// the same way whatever the visiting order.
struct Heaps {
    k: usize,
    dist: Vec<f32>,
    idx: Vec<u32>,
    new: Vec<bool>,
}

impl Heaps {
    fn new(n: usize, k: usize) -> Self {
        Self {
            k,
            dist: vec![f32::INFINITY; n * k],
            idx: vec![u32::MAX; n * k],
            new: vec![true; n * k],
        }
    }

    #[inline]
    fn above(d1: f32, i1: u32, d2: f32, i2: u32) -> bool {
        d1 > d2 || (d1 == d2 && i1 > i2)
    }

    /// Offers neighbour `j` at squared distance `d` to `row`; true if it was inserted.
    #[inline]
    fn push(&mut self, row: usize, d: f32, j: u32) -> bool {
        let k = self.k;
        if k == 0 {
            return false;
        }
        let base = row * k;
        if !Self::above(self.dist[base], self.idx[base], d, j) {
            return false;
        }
        if self.idx[base..base + k].contains(&j) {
            return false;
        }
        let (dist, idx, new) = (
            &mut self.dist[base..base + k],
            &mut self.idx[base..base + k],
            &mut self.new[base..base + k],
        );
        let mut i = 0;
        loop {
            let l = 2 * i + 1;
            if l >= k {
                break;
            }
            let r = l + 1;
            let mut c = l;
            if r < k && Self::above(dist[r], idx[r], dist[l], idx[l]) {
                c = r;
            }
            if !Self::above(dist[c], idx[c], d, j) {
                break;
            }
            dist[i] = dist[c];
            idx[i] = idx[c];
            new[i] = new[c];
            i = c;
        }
        dist[i] = d;
        idx[i] = j;
        new[i] = true;
        true
    }

    fn filled(&self, row: usize) -> usize {
        self.idx[row * self.k..(row + 1) * self.k]
            .iter()
            .filter(|&&j| j != u32::MAX)
            .count()
    }

    fn into_sorted(self) -> (Vec<u32>, Vec<f32>) {
        let k = self.k;
        let mut idx = self.idx;
        let mut dist = self.dist;
        if k == 0 {
            return (idx, dist);
        }
        for (ir, dr) in idx.chunks_exact_mut(k).zip(dist.chunks_exact_mut(k)) {
            let mut pairs: Vec<(f32, u32)> = dr.iter().copied().zip(ir.iter().copied()).collect();
            pairs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            for (s, (d, j)) in pairs.into_iter().enumerate() {
                dr[s] = d;
                ir[s] = j;
            }
        }
        (idx, dist)
    }
}

/// Leaves of one random-projection tree over all points (index ranges into `perm`).
fn rp_tree_leaves(
    x: &[f32],
    dim: usize,
    leaf_size: usize,
    rng: &mut Rng,
) -> (Vec<u32>, Vec<(usize, usize)>) {
    let n = x.len() / dim;
    let mut perm: Vec<u32> = (0..n as u32).collect();
    let mut leaves = Vec::new();
    let mut stack = vec![(0usize, n)];
    let mut normal = vec![0f32; dim];
    let mut side = Vec::new();
    let mut scratch = Vec::new();
    while let Some((lo, hi)) = stack.pop() {
        let m = hi - lo;
        if m <= leaf_size {
            leaves.push((lo, hi));
            continue;
        }
        let a = perm[lo + rng.below(m)] as usize;
        let mut b = perm[lo + rng.below(m - 1)] as usize;
        if b == a {
            b = perm[hi - 1] as usize;
        }
        let (xa, xb) = (&x[a * dim..(a + 1) * dim], &x[b * dim..(b + 1) * dim]);
        let mut offset = 0f32;
        for d in 0..dim {
            normal[d] = xa[d] - xb[d];
            offset += normal[d] * (xa[d] + xb[d]) * 0.5;
        }
        side.clear();
        for &p in &perm[lo..hi] {
            let xp = &x[p as usize * dim..(p as usize + 1) * dim];
            let margin: f32 = xp.iter().zip(&normal).map(|(u, v)| u * v).sum::<f32>() - offset;
            let left = if margin > 0.0 {
                true
            } else if margin < 0.0 {
                false
            } else {
                rng.below(2) == 0
            };
            side.push(left);
        }
        let n_left = side.iter().filter(|&&s| s).count();
        let mid = if n_left == 0 || n_left == m {
            // Degenerate split (all points on one side): halve by position instead.
            lo + m / 2
        } else {
            scratch.clear();
            scratch.extend(
                perm[lo..hi]
                    .iter()
                    .zip(&side)
                    .filter(|(_, s)| **s)
                    .map(|(p, _)| *p),
            );
            scratch.extend(
                perm[lo..hi]
                    .iter()
                    .zip(&side)
                    .filter(|(_, s)| !**s)
                    .map(|(p, _)| *p),
            );
            perm[lo..hi].copy_from_slice(&scratch);
            lo + n_left
        };
        stack.push((mid, hi));
        stack.push((lo, mid));
    }
    (perm, leaves)
}

/// Bounded candidate lists keyed by random priority (smallest priorities kept), as in
/// pynndescent's `new_build_candidates`.
struct Candidates {
    cap: usize,
    prio: Vec<f32>,
    idx: Vec<u32>,
    len: Vec<u16>,
}

impl Candidates {
    fn new(n: usize, cap: usize) -> Self {
        Self {
            cap,
            prio: vec![0.0; n * cap],
            idx: vec![u32::MAX; n * cap],
            len: vec![0; n],
        }
    }

    fn clear(&mut self) {
        self.len.iter_mut().for_each(|l| *l = 0);
    }

    fn row(&self, i: usize) -> &[u32] {
        &self.idx[i * self.cap..i * self.cap + self.len[i] as usize]
    }

    fn push(&mut self, i: usize, p: f32, j: u32) {
        let base = i * self.cap;
        let len = self.len[i] as usize;
        if self.idx[base..base + len].contains(&j) {
            return;
        }
        if len < self.cap {
            // Append then sift up (max-heap on priority).
            let (prio, idx) = (&mut self.prio[base..], &mut self.idx[base..]);
            let mut c = len;
            prio[c] = p;
            idx[c] = j;
            while c > 0 {
                let parent = (c - 1) / 2;
                if prio[c] > prio[parent] {
                    prio.swap(c, parent);
                    idx.swap(c, parent);
                    c = parent;
                } else {
                    break;
                }
            }
            self.len[i] += 1;
        } else if p < self.prio[base] {
            let (prio, idx) = (
                &mut self.prio[base..base + len],
                &mut self.idx[base..base + len],
            );
            let mut c = 0;
            loop {
                let l = 2 * c + 1;
                if l >= len {
                    break;
                }
                let r = l + 1;
                let mut m = l;
                if r < len && prio[r] > prio[l] {
                    m = r;
                }
                if prio[m] <= p {
                    break;
                }
                prio[c] = prio[m];
                idx[c] = idx[m];
                c = m;
            }
            prio[c] = p;
            idx[c] = j;
        }
    }
}

/// NN-descent as a resumable computation: a random-projection forest one tree a step, a top-up
/// of short rows, then iterations of local joins, a slice of rows a step.
struct Descent {
    rng: Rng,
    n: usize,
    k: usize,
    n_trees: usize,
    n_iters: usize,
    leaf_size: usize,
    max_candidates: usize,
    delta: f64,
    phase: DescentPhase,
    new_c: Option<Candidates>,
    old_c: Option<Candidates>,
}

#[derive(Clone, Copy)]
enum DescentPhase {
    /// The next tree to build.
    Tree(usize),
    /// Rows the forest left short get random neighbours.
    TopUp,
    /// Iteration `it`: candidates to build (`row: None`), or the local join from `row` on with
    /// `updates` so far.
    Iterate {
        it: usize,
        row: Option<usize>,
        updates: usize,
    },
    Done,
}

impl Descent {
    fn new(n: usize, k: usize, seed: u64) -> Self {
        Self {
            rng: Rng::new(seed ^ 0x6E6E_6465_7363_656E),
            n,
            k,
            // umap-learn's choices for its NNDescent call.
            n_trees: (5 + ((n as f64).sqrt() / 20.0).round() as usize).min(64),
            n_iters: ((n as f64).log2().round() as usize).max(5),
            leaf_size: (k + 1).max(10),
            max_candidates: 60,
            delta: 0.001,
            phase: DescentPhase::Tree(0),
            new_c: None,
            old_c: None,
        }
    }

    fn progress(&self) -> (usize, usize) {
        let total = self.n_trees + self.n_iters;
        let done = match self.phase {
            DescentPhase::Tree(t) => t,
            DescentPhase::TopUp => self.n_trees,
            DescentPhase::Iterate { it, .. } => self.n_trees + it,
            DescentPhase::Done => total,
        };
        (done, total)
    }

    /// One piece of work; true when the search is over.
    fn step(&mut self, x: &[f32], dim: usize, heaps: &mut Heaps) -> bool {
        let (n, k) = (self.n, self.k);
        let dist = |a: u32, b: u32| {
            sq_dist(
                &x[a as usize * dim..(a as usize + 1) * dim],
                &x[b as usize * dim..(b as usize + 1) * dim],
            )
        };
        match self.phase {
            DescentPhase::Tree(t) => {
                let (perm, leaves) = rp_tree_leaves(x, dim, self.leaf_size, &mut self.rng);
                for (lo, hi) in leaves {
                    let leaf = &perm[lo..hi];
                    for (a, &p) in leaf.iter().enumerate() {
                        for &q in &leaf[a + 1..] {
                            let d = dist(p, q);
                            heaps.push(p as usize, d, q);
                            heaps.push(q as usize, d, p);
                        }
                    }
                }
                self.phase = if t + 1 < self.n_trees {
                    DescentPhase::Tree(t + 1)
                } else {
                    DescentPhase::TopUp
                };
            }
            DescentPhase::TopUp => {
                // Top up rows the forest left short with random points.
                for i in 0..n {
                    let mut tries = 0;
                    while heaps.filled(i) < k && tries < 8 * k {
                        let j = self.rng.below(n);
                        if j != i {
                            heaps.push(i, dist(i as u32, j as u32), j as u32);
                        }
                        tries += 1;
                    }
                    let mut j = 0;
                    while heaps.filled(i) < k {
                        if j != i {
                            heaps.push(i, dist(i as u32, j as u32), j as u32);
                        }
                        j += 1;
                    }
                }
                self.new_c = Some(Candidates::new(n, self.max_candidates));
                self.old_c = Some(Candidates::new(n, self.max_candidates));
                self.phase = DescentPhase::Iterate {
                    it: 0,
                    row: None,
                    updates: 0,
                };
            }
            DescentPhase::Iterate {
                it,
                row: None,
                updates,
            } => {
                let (Some(new_c), Some(old_c)) = (self.new_c.as_mut(), self.old_c.as_mut()) else {
                    unreachable!("candidates exist once the forest is built")
                };
                new_c.clear();
                old_c.clear();
                for i in 0..n {
                    for s in 0..k {
                        let j = heaps.idx[i * k + s];
                        if j == u32::MAX {
                            continue;
                        }
                        let p = self.rng.unit_f32();
                        let c = if heaps.new[i * k + s] {
                            &mut *new_c
                        } else {
                            &mut *old_c
                        };
                        c.push(i, p, j);
                        c.push(j as usize, p, i as u32);
                    }
                }
                for i in 0..n {
                    for s in 0..k {
                        let slot = i * k + s;
                        if heaps.new[slot] && new_c.row(i).contains(&heaps.idx[slot]) {
                            heaps.new[slot] = false;
                        }
                    }
                }
                self.phase = DescentPhase::Iterate {
                    it,
                    row: Some(0),
                    updates,
                };
            }
            DescentPhase::Iterate {
                it,
                row: Some(start),
                mut updates,
            } => {
                let (Some(new_c), Some(old_c)) = (self.new_c.as_ref(), self.old_c.as_ref()) else {
                    unreachable!("candidates exist once the forest is built")
                };
                let mut work = 0;
                let mut i = start;
                while i < n && work < WORK_PER_STEP {
                    let new_row = new_c.row(i);
                    let old_row = old_c.row(i);
                    for (a, &p) in new_row.iter().enumerate() {
                        for &q in new_row[a + 1..].iter().chain(old_row.iter()) {
                            if p == q {
                                continue;
                            }
                            let d = dist(p, q);
                            updates += usize::from(heaps.push(p as usize, d, q));
                            updates += usize::from(heaps.push(q as usize, d, p));
                        }
                    }
                    work += new_row.len() * (new_row.len() + old_row.len()) * dim / 2 + 1;
                    i += 1;
                }
                self.phase = if i < n {
                    DescentPhase::Iterate {
                        it,
                        row: Some(i),
                        updates,
                    }
                } else if (updates as f64) <= self.delta * (k * n) as f64 || it + 1 >= self.n_iters
                {
                    DescentPhase::Done
                } else {
                    DescentPhase::Iterate {
                        it: it + 1,
                        row: None,
                        updates: 0,
                    }
                };
            }
            DescentPhase::Done => {}
        }
        matches!(self.phase, DescentPhase::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clustered(n: usize, dim: usize, clusters: usize, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        let centres: Vec<f64> = (0..clusters * dim).map(|_| rng.normal() * 4.0).collect();
        (0..n)
            .flat_map(|i| {
                let c = i % clusters;
                (0..dim)
                    .map(|d| (centres[c * dim + d] + rng.normal()) as f32)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn brute(x: &[f32], dim: usize, k: usize) -> Vec<Vec<u32>> {
        let n = x.len() / dim;
        (0..n)
            .map(|i| {
                let mut v: Vec<(f32, u32)> = (0..n)
                    .filter(|&j| j != i)
                    .map(|j| {
                        (
                            sq_dist(&x[i * dim..(i + 1) * dim], &x[j * dim..(j + 1) * dim]),
                            j as u32,
                        )
                    })
                    .collect();
                v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                v.into_iter().take(k).map(|p| p.1).collect()
            })
            .collect()
    }

    #[test]
    fn exact_matches_brute_force_and_is_sorted() {
        let dim = 13;
        let x = clustered(300, dim, 4, 1);
        let g = nearest_neighbors(
            &x,
            dim,
            9,
            Metric::Euclidean,
            KnnMethod::Exact,
            0,
            &mut |_, _, _| true,
        )
        .unwrap();
        let want = brute(&x, dim, 9);
        for (i, w) in want.iter().enumerate() {
            let (idx, d) = g.neighbors(i);
            assert_eq!(idx, &w[..], "row {i}");
            assert!(d.windows(2).all(|w| w[0] <= w[1]));
        }
    }

    #[test]
    fn nn_descent_recall_is_high() {
        let dim = 20;
        let x = clustered(2500, dim, 10, 2);
        let k = 14;
        let g = nearest_neighbors(
            &x,
            dim,
            k,
            Metric::Euclidean,
            KnnMethod::NnDescent,
            7,
            &mut |_, _, _| true,
        )
        .unwrap();
        let want = brute(&x, dim, k);
        let mut hit = 0;
        for (i, w) in want.iter().enumerate() {
            let (idx, _) = g.neighbors(i);
            hit += idx.iter().filter(|j| w.contains(j)).count();
        }
        let recall = hit as f64 / (2500 * k) as f64;
        assert!(recall > 0.95, "recall {recall}");
    }

    #[test]
    fn cosine_distance_is_one_minus_cosine() {
        let x = [1.0f32, 0.0, 0.0, 2.0, 3.0, 3.0, -1.0, 0.0];
        let g = nearest_neighbors(
            &x,
            2,
            1,
            Metric::Cosine,
            KnnMethod::Exact,
            0,
            &mut |_, _, _| true,
        )
        .unwrap();
        let (i0, d0) = g.neighbors(0);
        // Point 0 = (1,0): nearest by angle is (3,3) at 45 degrees.
        assert_eq!(i0, &[2]);
        assert!((d0[0] - (1.0 - std::f32::consts::FRAC_1_SQRT_2)).abs() < 1e-6);
        let (i3, d3) = g.neighbors(3);
        assert_eq!(i3, &[1]); // (-1,0) vs (0,2): 90 degrees, vs (1,0): 180
        assert!((d3[0] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn graph_validation() {
        assert!(KnnGraph::new(3, 1, vec![1, 0, 0], vec![1.0, 1.0, 2.0]).is_ok());
        assert!(KnnGraph::new(3, 1, vec![0, 0, 0], vec![1.0, 1.0, 2.0]).is_err()); // self
        assert!(KnnGraph::new(3, 1, vec![1, 5, 0], vec![1.0, 1.0, 2.0]).is_err()); // range
        assert!(KnnGraph::new(3, 1, vec![1, 0], vec![1.0, 1.0]).is_err()); // length
        assert!(KnnGraph::new(3, 2, vec![1, 1, 0, 2, 0, 1], vec![0.0; 6]).is_err()); // twice
        assert!(KnnGraph::new(3, 1, vec![1, 0, 0], vec![1.0, f32::NAN, 2.0]).is_err());
        let g = KnnGraph::new(
            3,
            2,
            vec![2, 1, 0, 2, 0, 1],
            vec![3.0, 1.0, 1.0, 2.0, 3.0, 2.0],
        )
        .unwrap();
        assert_eq!(g.neighbors(0), (&[1u32, 2][..], &[1.0f32, 3.0][..]));
    }
}
