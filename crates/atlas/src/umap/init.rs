//! Initial 2-D positions: spectral (umap-learn's default, with its multi-component layout),
//! PCA, or uniform random.

use serde::{Deserialize, Serialize};

#[cfg(test)]
use super::UmapError;
use super::graph::FuzzyGraph;
use crate::linalg::{dot, orthonormalize, pca, symmetric_eigen};
use crate::rng::Rng;

/// How the layout starts before SGD.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Init {
    /// Eigenvectors 2 and 3 of the graph's normalised Laplacian (umap-learn's default); each
    /// connected component is laid out on its own and placed by a meta layout.
    #[default]
    Spectral,
    /// The data's first two principal components (needs the raw vectors).
    Pca,
    /// Uniform in [-10, 10]².
    Random,
}

/// Largest power-iteration count for one component's eigenvectors.
const MAX_ITERS: usize = 300;

/// Initial coordinates for the graph's vertices, scaled so the largest coordinate is 10 with
/// N(0, 1e-4) noise added, as umap-learn does.
#[cfg(test)]
pub fn initialize(
    graph: &FuzzyGraph,
    data: Option<(&[f32], usize)>,
    init: Init,
    rng: &mut Rng,
    progress: &mut dyn FnMut(&str, usize, usize) -> bool,
) -> Result<Vec<[f64; 2]>, UmapError> {
    if init == Init::Pca && data.is_none() {
        return Err(UmapError::InitNeedsData);
    }
    let mut i = Initializer::new(init);
    loop {
        let (done, total) = i.progress(graph);
        super::check_progress(progress, "init", done, total)?;
        if i.is_done() {
            return Ok(i.finish());
        }
        i.step(graph, data, rng);
    }
}

/// The initial layout as a resumable computation ([`Initializer::step`]): the spectral layout
/// runs ten power iterations a step; the result does not depend on how it was split.
pub(crate) struct Initializer {
    init: Init,
    state: InitState,
}

enum InitState {
    Start,
    Spectral(Box<Spectral>),
    /// Coordinates to scale to 10 with noise added.
    Scale(Vec<[f64; 2]>),
    Done(Vec<[f64; 2]>),
}

impl Initializer {
    /// An initialisation of kind `init` (nothing computed yet).
    pub(crate) fn new(init: Init) -> Self {
        Self {
            init,
            state: InitState::Start,
        }
    }

    /// Vertices laid out and vertices in all.
    pub(crate) fn progress(&self, graph: &FuzzyGraph) -> (usize, usize) {
        let n = graph.n;
        match &self.state {
            InitState::Start => (0, n),
            InitState::Spectral(s) => (s.done, n),
            InitState::Scale(_) | InitState::Done(_) => (n, n),
        }
    }

    /// Whether the initial layout is ready.
    pub(crate) fn is_done(&self) -> bool {
        matches!(self.state, InitState::Done(_))
    }

    /// Does one bounded piece of the initialisation (nothing once done). [`Init::Pca`] needs
    /// `data`; without it the layout is uniform random.
    pub(crate) fn step(
        &mut self,
        graph: &FuzzyGraph,
        data: Option<(&[f32], usize)>,
        rng: &mut Rng,
    ) {
        let n = graph.n;
        let state = std::mem::replace(&mut self.state, InitState::Start);
        self.state = match state {
            InitState::Start => match (self.init, data) {
                (Init::Pca, Some((x, dim))) => {
                    let p = pca(x, n, dim, 2, rng);
                    InitState::Scale((0..n).map(|i| [p[2 * i], p[2 * i + 1]]).collect())
                }
                (Init::Spectral, _) => Spectral::start(graph, data, rng),
                (Init::Random | Init::Pca, _) => InitState::Done(
                    (0..n)
                        .map(|_| [rng.unit_f64() * 20.0 - 10.0, rng.unit_f64() * 20.0 - 10.0])
                        .collect(),
                ),
            },
            InitState::Spectral(mut s) => match s.step(graph, rng) {
                Some(coords) => InitState::Scale(coords),
                None => InitState::Spectral(s),
            },
            InitState::Scale(mut coords) => {
                let max = coords
                    .iter()
                    .flat_map(|c| c.iter().map(|v| v.abs()))
                    .fold(0.0f64, f64::max);
                let expansion = if max > 0.0 && max.is_finite() {
                    10.0 / max
                } else {
                    0.0
                };
                for c in &mut coords {
                    for v in c.iter_mut() {
                        *v = *v * expansion + rng.normal() * 1e-4;
                    }
                }
                InitState::Done(coords)
            }
            done @ InitState::Done(_) => done,
        };
    }

    /// The initial coordinates; call once [`is_done`](Self::is_done).
    pub(crate) fn finish(self) -> Vec<[f64; 2]> {
        match self.state {
            InitState::Done(c) => c,
            _ => panic!("the initialisation is not finished"),
        }
    }
}

/// Connected components (labels numbered by first vertex) of the graph.
fn components(graph: &FuzzyGraph) -> (usize, Vec<usize>) {
    let n = graph.n;
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    for (&h, &t) in graph.head.iter().zip(&graph.tail) {
        let (a, b) = (find(&mut parent, h as usize), find(&mut parent, t as usize));
        if a != b {
            let (lo, hi) = (a.min(b), a.max(b));
            parent[hi] = lo;
        }
    }
    let mut label = vec![usize::MAX; n];
    let mut count = 0;
    let mut root_label = vec![usize::MAX; n];
    for (i, l) in label.iter_mut().enumerate() {
        let r = find(&mut parent, i);
        if root_label[r] == usize::MAX {
            root_label[r] = count;
            count += 1;
        }
        *l = root_label[r];
    }
    (count, label)
}

/// The spectral layout in progress: each connected component's eigenvectors in turn (small
/// components placed at random), each component placed by the meta layout.
struct Spectral {
    ptr: Vec<usize>,
    members: Vec<Vec<usize>>,
    /// Centres of the components (`None` for a connected graph).
    meta: Option<Vec<[f64; 2]>>,
    out: Vec<[f64; 2]>,
    /// The component being laid out.
    component: usize,
    /// Vertices of the components laid out.
    done: usize,
    eigen: Option<Eigen>,
}

impl Spectral {
    fn start(graph: &FuzzyGraph, data: Option<(&[f32], usize)>, rng: &mut Rng) -> InitState {
        let n = graph.n;
        let ptr = graph.row_ptr();
        let (count, label) = components(graph);
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); count];
        for (i, &l) in label.iter().enumerate() {
            members[l].push(i);
        }
        if count == 1 && n < 4 {
            return InitState::Scale(
                (0..n)
                    .map(|_| [rng.unit_f64() * 2.0 - 1.0, rng.unit_f64() * 2.0 - 1.0])
                    .collect(),
            );
        }
        let meta = (count > 1).then(|| meta_layout(&members, data, rng));
        InitState::Spectral(Box::new(Self {
            ptr,
            members,
            meta,
            out: vec![[0.0; 2]; n],
            component: 0,
            done: 0,
            eigen: None,
        }))
    }

    /// One piece of work; the coordinates once every component is laid out.
    fn step(&mut self, graph: &FuzzyGraph, rng: &mut Rng) -> Option<Vec<[f64; 2]>> {
        let c = self.component;
        let nodes = &self.members[c];
        let Some(meta) = &self.meta else {
            // One component: its eigenvectors are the layout.
            match &mut self.eigen {
                None => self.eigen = Some(Eigen::new(graph, &self.ptr, nodes, rng)),
                Some(e) => {
                    if let Some(local) = e.step(rng) {
                        return Some(local);
                    }
                }
            }
            return None;
        };
        let range = meta
            .iter()
            .enumerate()
            .filter(|&(o, _)| o != c)
            .map(|(_, m)| ((m[0] - meta[c][0]).powi(2) + (m[1] - meta[c][1]).powi(2)).sqrt())
            .fold(f64::INFINITY, f64::min)
            / 2.0;
        let range = if range.is_finite() && range > 0.0 {
            range
        } else {
            1.0
        };
        let placed = if nodes.len() < 4 {
            for &i in nodes {
                self.out[i] = [
                    meta[c][0] + (rng.unit_f64() * 2.0 - 1.0) * range,
                    meta[c][1] + (rng.unit_f64() * 2.0 - 1.0) * range,
                ];
            }
            true
        } else {
            match &mut self.eigen {
                None => {
                    self.eigen = Some(Eigen::new(graph, &self.ptr, nodes, rng));
                    false
                }
                Some(e) => match e.step(rng) {
                    None => false,
                    Some(local) => {
                        let max = local
                            .iter()
                            .flat_map(|p| p.iter().map(|v| v.abs()))
                            .fold(0.0f64, f64::max);
                        let expansion = if max > 0.0 { range / max } else { 0.0 };
                        for (&i, p) in nodes.iter().zip(&local) {
                            self.out[i] =
                                [meta[c][0] + p[0] * expansion, meta[c][1] + p[1] * expansion];
                        }
                        self.eigen = None;
                        true
                    }
                },
            }
        };
        if placed {
            self.done += nodes.len();
            self.component += 1;
            if self.component == self.members.len() {
                return Some(std::mem::take(&mut self.out));
            }
        }
        None
    }
}

/// Centre of each component in the plane: umap-learn's ±unit vectors for up to four
/// components; beyond that the first two principal components of the component centroids
/// (umap-learn uses a spectral embedding of centroid affinities), or a sunflower spiral when no
/// vectors are available or the centroids coincide.
fn meta_layout(
    members: &[Vec<usize>],
    data: Option<(&[f32], usize)>,
    rng: &mut Rng,
) -> Vec<[f64; 2]> {
    let c = members.len();
    if c <= 4 {
        let base = [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]];
        return base[..c].to_vec();
    }
    let spiral = || -> Vec<[f64; 2]> {
        let golden = std::f64::consts::PI * (3.0 - 5f64.sqrt());
        (0..c)
            .map(|i| {
                let r = ((i as f64 + 0.5) / c as f64).sqrt();
                let t = i as f64 * golden;
                [r * t.cos(), r * t.sin()]
            })
            .collect()
    };
    let Some((x, dim)) = data else {
        return spiral();
    };
    let mut centroids = vec![0f32; c * dim];
    for (m, nodes) in members.iter().enumerate() {
        let mut acc = vec![0f64; dim];
        for &i in nodes {
            acc.iter_mut()
                .zip(&x[i * dim..(i + 1) * dim])
                .for_each(|(a, &v)| *a += f64::from(v));
        }
        for d in 0..dim {
            centroids[m * dim + d] = (acc[d] / nodes.len() as f64) as f32;
        }
    }
    let p = pca(&centroids, c, dim, 2, rng);
    let mut meta: Vec<[f64; 2]> = (0..c).map(|i| [p[2 * i], p[2 * i + 1]]).collect();
    let max = meta
        .iter()
        .flat_map(|m| m.iter().map(|v| v.abs()))
        .fold(0.0f64, f64::max);
    if !(max > 0.0 && max.is_finite()) {
        return spiral();
    }
    meta.iter_mut()
        .for_each(|m| m.iter_mut().for_each(|v| *v /= max));
    // Coinciding centres would stack components on each other: fall back to the spiral.
    let min_gap = (0..c)
        .flat_map(|a| (a + 1..c).map(move |b| (a, b)))
        .map(|(a, b)| {
            ((meta[a][0] - meta[b][0]).powi(2) + (meta[a][1] - meta[b][1]).powi(2)).sqrt()
        })
        .fold(f64::INFINITY, f64::min);
    if min_gap < 1e-3 {
        return spiral();
    }
    meta
}

/// Eigenvectors 2 and 3 (by ascending eigenvalue) of the normalised Laplacian of the subgraph
/// on `nodes` (a connected component with at least 4 vertices), by subspace iteration with
/// Rayleigh–Ritz on `(I + D^-1/2 W D^-1/2) / 2` after deflating the trivial eigenvector, ten
/// iterations (one Rayleigh–Ritz check) a [`step`](Eigen::step).
struct Eigen {
    m: usize,
    /// Local CSR with weights scaled by 1 / sqrt(d_i d_j).
    lptr: Vec<usize>,
    lcol: Vec<usize>,
    lval: Vec<f64>,
    u0: Vec<f64>,
    p: usize,
    q: Vec<Vec<f64>>,
    z: Vec<Vec<f64>>,
    /// Iterations done.
    it: usize,
}

impl Eigen {
    fn new(graph: &FuzzyGraph, ptr: &[usize], nodes: &[usize], rng: &mut Rng) -> Self {
        let m = nodes.len();
        let mut local = vec![usize::MAX; graph.n];
        for (l, &i) in nodes.iter().enumerate() {
            local[i] = l;
        }
        let deg: Vec<f64> = nodes
            .iter()
            .map(|&i| {
                graph.weight[ptr[i]..ptr[i + 1]]
                    .iter()
                    .map(|&w| f64::from(w))
                    .sum()
            })
            .collect();
        let sq: Vec<f64> = deg.iter().map(|d| d.sqrt()).collect();
        let mut lptr = vec![0usize; m + 1];
        let mut lcol = Vec::new();
        let mut lval = Vec::new();
        for (l, &i) in nodes.iter().enumerate() {
            for e in ptr[i]..ptr[i + 1] {
                let j = local[graph.tail[e] as usize];
                lcol.push(j);
                lval.push(f64::from(graph.weight[e]) / (sq[l] * sq[j]));
            }
            lptr[l + 1] = lcol.len();
        }
        let norm = dot(&sq, &sq).sqrt();
        let u0: Vec<f64> = sq.iter().map(|v| v / norm).collect();
        let p = (m - 1).min(8);
        let mut q: Vec<Vec<f64>> = (0..p)
            .map(|_| (0..m).map(|_| rng.normal()).collect())
            .collect();
        orthonormalize(&mut q, &[&u0], rng);
        Self {
            m,
            lptr,
            lcol,
            lval,
            u0,
            p,
            q,
            z: vec![vec![0.0; m]; p],
            it: 0,
        }
    }

    fn apply(&self, x: &[f64], y: &mut [f64]) {
        for r in 0..self.m {
            let mut s = 0.0;
            for e in self.lptr[r]..self.lptr[r + 1] {
                s += self.lval[e] * x[self.lcol[e]];
            }
            y[r] = 0.5 * (x[r] + s);
        }
    }

    /// Iterates up to the next Rayleigh–Ritz check; the two eigenvectors (as coordinates) once
    /// they have converged or the iterations are spent.
    fn step(&mut self, rng: &mut Rng) -> Option<Vec<[f64; 2]>> {
        let (m, p) = (self.m, self.p);
        loop {
            self.it += 1;
            let it = self.it;
            let mut z = std::mem::take(&mut self.z);
            for (qc, zc) in self.q.iter().zip(z.iter_mut()) {
                self.apply(qc, zc);
            }
            self.z = z;
            let check = it.is_multiple_of(10) || it == MAX_ITERS || p == m - 1;
            if check {
                let (q, z) = (&self.q, &self.z);
                // Rayleigh–Ritz on span(q): H = Q^T B Q.
                let mut h = vec![0.0; p * p];
                for a in 0..p {
                    for b in a..p {
                        let v = 0.5 * (dot(&q[a], &z[b]) + dot(&q[b], &z[a]));
                        h[a * p + b] = v;
                        h[b * p + a] = v;
                    }
                }
                let (vals, vecs) = symmetric_eigen(&h, p);
                let ritz = |cols: &[Vec<f64>], c: usize| -> Vec<f64> {
                    let mut v = vec![0.0; m];
                    for (j, col) in cols.iter().enumerate() {
                        let w = vecs[c][j];
                        v.iter_mut().zip(col).for_each(|(a, b)| *a += w * b);
                    }
                    v
                };
                let x0 = ritz(q, 0);
                let x1 = ritz(q, 1.min(p - 1));
                let res = |x: &[f64], bx: &[f64], l: f64| {
                    x.iter()
                        .zip(bx)
                        .map(|(a, b)| (b - l * a).powi(2))
                        .sum::<f64>()
                        .sqrt()
                };
                let r0 = res(&x0, &ritz(z, 0), vals[0]);
                let r1 = res(&x1, &ritz(z, 1.min(p - 1)), vals[1.min(p - 1)]);
                if (r0.max(r1) < 1e-4) || it == MAX_ITERS || p == m - 1 {
                    let x1 = if p >= 2 { x1 } else { vec![0.0; m] };
                    return Some(x0.into_iter().zip(x1).map(|(a, b)| [a, b]).collect());
                }
            }
            std::mem::swap(&mut self.q, &mut self.z);
            orthonormalize(&mut self.q, &[&self.u0], rng);
            if check {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ring of `n` vertices: its Laplacian eigenvectors 2 and 3 are cos/sin of the angle, so
    /// the spectral layout must be a circle.
    #[test]
    fn spectral_layout_of_a_ring_is_a_circle() {
        let n = 60;
        let mut g = FuzzyGraph {
            n,
            head: vec![],
            tail: vec![],
            weight: vec![],
        };
        let mut edges = vec![];
        for i in 0..n {
            edges.push((i as u32, ((i + 1) % n) as u32));
            edges.push((i as u32, ((i + n - 1) % n) as u32));
        }
        edges.sort();
        for (h, t) in edges {
            g.head.push(h);
            g.tail.push(t);
            g.weight.push(1.0);
        }
        let c = initialize(
            &g,
            None,
            Init::Spectral,
            &mut Rng::new(1),
            &mut |_, _, _| true,
        )
        .unwrap();
        let radii: Vec<f64> = c
            .iter()
            .map(|p| (p[0] * p[0] + p[1] * p[1]).sqrt())
            .collect();
        let mean = radii.iter().sum::<f64>() / n as f64;
        assert!(mean > 5.0);
        for r in &radii {
            assert!((r - mean).abs() / mean < 0.01, "radius {r} vs {mean}");
        }
        // Neighbours on the ring are neighbours on the circle: consecutive angles differ by 2π/n.
        for i in 0..n {
            let j = (i + 1) % n;
            let d = ((c[i][0] - c[j][0]).powi(2) + (c[i][1] - c[j][1]).powi(2)).sqrt();
            let want = 2.0 * mean * (std::f64::consts::PI / n as f64).sin();
            assert!((d - want).abs() / want < 0.05, "{d} vs {want}");
        }
    }

    #[test]
    fn components_are_found_and_pca_init_needs_data() {
        let g = FuzzyGraph {
            n: 5,
            head: vec![0, 1, 3, 4],
            tail: vec![1, 0, 4, 3],
            weight: vec![1.0; 4],
        };
        let (count, label) = components(&g);
        assert_eq!(count, 3);
        assert_eq!(label, vec![0, 0, 1, 2, 2]);
        assert_eq!(
            initialize(&g, None, Init::Pca, &mut Rng::new(0), &mut |_, _, _| true),
            Err(UmapError::InitNeedsData)
        );
        let c = initialize(
            &g,
            None,
            Init::Spectral,
            &mut Rng::new(0),
            &mut |_, _, _| true,
        )
        .unwrap();
        assert!(c.iter().all(|p| p[0].is_finite() && p[1].is_finite()));
    }
}
