//! The fuzzy simplicial set: per-point smooth kNN distances (rho, sigma), membership strengths,
//! and the fuzzy-union symmetrisation, following umap-learn's `smooth_knn_dist` and
//! `fuzzy_simplicial_set`.

use super::knn::KnnGraph;

const SMOOTH_K_TOLERANCE: f64 = 1e-5;
const MIN_K_DIST_SCALE: f64 = 1e-3;

/// Per-point local connectivity `rho` (distance to the nearest neighbour) and bandwidth
/// `sigma` such that `sum_j exp(-(d_ij - rho_i) / sigma_i) = log2(k + 1)` (k + 1 counts the
/// point itself, as umap-learn's `n_neighbors` does).
pub fn smooth_knn_dist(knn: &KnnGraph, local_connectivity: f64) -> (Vec<f64>, Vec<f64>) {
    let (n, k) = (knn.n(), knn.k());
    let target = ((k + 1) as f64).log2();
    let mean_all = if n * k > 0 {
        (0..n)
            .flat_map(|i| knn.neighbors(i).1.iter().map(|&d| f64::from(d)))
            .sum::<f64>()
            / (n * (k + 1)) as f64
    } else {
        0.0
    };
    let mut rho = vec![0.0; n];
    let mut sigma = vec![0.0; n];
    for i in 0..n {
        let d: Vec<f64> = knn.neighbors(i).1.iter().map(|&x| f64::from(x)).collect();
        let non_zero: Vec<f64> = d.iter().copied().filter(|&x| x > 0.0).collect();
        if non_zero.len() as f64 >= local_connectivity {
            let index = local_connectivity.floor() as usize;
            let interpolation = local_connectivity - index as f64;
            if index > 0 {
                rho[i] = non_zero[index - 1];
                if interpolation > SMOOTH_K_TOLERANCE && index < non_zero.len() {
                    rho[i] += interpolation * (non_zero[index] - non_zero[index - 1]);
                }
            } else {
                rho[i] = interpolation * non_zero[0];
            }
        } else if let Some(&m) = non_zero.iter().max_by(|a, b| a.total_cmp(b)) {
            rho[i] = m;
        }
        let (mut lo, mut hi, mut mid) = (0.0f64, f64::INFINITY, 1.0f64);
        for _ in 0..64 {
            let psum: f64 = d
                .iter()
                .map(|&x| {
                    let t = x - rho[i];
                    if t > 0.0 { (-(t / mid)).exp() } else { 1.0 }
                })
                .sum();
            if (psum - target).abs() < SMOOTH_K_TOLERANCE {
                break;
            }
            if psum > target {
                hi = mid;
                mid = (lo + hi) / 2.0;
            } else {
                lo = mid;
                if hi == f64::INFINITY {
                    mid *= 2.0;
                } else {
                    mid = (lo + hi) / 2.0;
                }
            }
        }
        sigma[i] = mid;
        // The point itself counts as a zero distance in umap-learn's mean.
        let floor = if rho[i] > 0.0 {
            MIN_K_DIST_SCALE * d.iter().sum::<f64>() / (k + 1) as f64
        } else {
            MIN_K_DIST_SCALE * mean_all
        };
        if sigma[i] < floor {
            sigma[i] = floor;
        }
    }
    (rho, sigma)
}

/// Symmetric weighted graph, edges sorted by (head, tail) with both directions present.
#[derive(Clone, Debug)]
pub struct FuzzyGraph {
    /// Number of vertices.
    pub n: usize,
    /// Source vertex of each edge.
    pub head: Vec<u32>,
    /// Target vertex of each edge.
    pub tail: Vec<u32>,
    /// Membership strength in (0, 1].
    pub weight: Vec<f32>,
}

impl FuzzyGraph {
    /// Row pointers: edges of vertex i are `ptr[i]..ptr[i + 1]`.
    pub fn row_ptr(&self) -> Vec<usize> {
        let mut ptr = vec![0usize; self.n + 1];
        for &h in &self.head {
            ptr[h as usize + 1] += 1;
        }
        for i in 0..self.n {
            ptr[i + 1] += ptr[i];
        }
        ptr
    }
}

/// Membership strengths from the kNN graph, combined by fuzzy union
/// `w_ij + w_ji - w_ij * w_ji` (`set_op_mix_ratio` 1) or intersection `w_ij * w_ji` (0), and
/// mixtures in between.
pub fn fuzzy_simplicial_set(
    knn: &KnnGraph,
    local_connectivity: f64,
    set_op_mix_ratio: f64,
) -> FuzzyGraph {
    let (n, k) = (knn.n(), knn.k());
    let (rho, sigma) = smooth_knn_dist(knn, local_connectivity);
    // (i, j, w_ij, w_ji) with the transpose's contribution in the last field.
    let mut entries: Vec<(u32, u32, f64, f64)> = Vec::with_capacity(2 * n * k);
    for i in 0..n {
        let (idx, dist) = knn.neighbors(i);
        for (&j, &d) in idx.iter().zip(dist) {
            let t = f64::from(d) - rho[i];
            let w = if t <= 0.0 || sigma[i] == 0.0 {
                1.0
            } else {
                (-(t / sigma[i])).exp()
            };
            entries.push((i as u32, j, w, 0.0));
            entries.push((j, i as u32, 0.0, w));
        }
    }
    entries.sort_unstable_by_key(|e| (e.0, e.1));
    let mut g = FuzzyGraph {
        n,
        head: Vec::new(),
        tail: Vec::new(),
        weight: Vec::new(),
    };
    let mut s = 0;
    while s < entries.len() {
        let (i, j) = (entries[s].0, entries[s].1);
        let (mut a, mut b) = (0.0, 0.0);
        while s < entries.len() && entries[s].0 == i && entries[s].1 == j {
            a += entries[s].2;
            b += entries[s].3;
            s += 1;
        }
        let prod = a * b;
        let w = set_op_mix_ratio * (a + b - prod) + (1.0 - set_op_mix_ratio) * prod;
        if w > 0.0 {
            g.head.push(i);
            g.tail.push(j);
            g.weight.push(w as f32);
        }
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigma_hits_the_log2_target() {
        // Point 0 with neighbours at increasing distances.
        let n = 6;
        let k = 4;
        let mut idx = Vec::new();
        let mut dist = Vec::new();
        for i in 0..n {
            for s in 0..k {
                idx.push(((i + s + 1) % n) as u32);
                dist.push(0.5 + s as f32 * (1.0 + i as f32 * 0.1));
            }
        }
        let g = KnnGraph::new(n, k, idx, dist).unwrap();
        let (rho, sigma) = smooth_knn_dist(&g, 1.0);
        for i in 0..n {
            assert!((rho[i] - 0.5).abs() < 1e-9);
            let psum: f64 = g
                .neighbors(i)
                .1
                .iter()
                .map(|&d| {
                    let t = f64::from(d) - rho[i];
                    if t > 0.0 { (-t / sigma[i]).exp() } else { 1.0 }
                })
                .sum();
            assert!((psum - 5f64.log2()).abs() < 1e-4, "{psum}");
        }
    }

    #[test]
    fn union_is_symmetric_and_matches_formula() {
        // 4 points on a line; 1 neighbour each (k=1): 0->1, 1->0, 2->1, 3->2.
        let g = KnnGraph::new(4, 1, vec![1, 0, 1, 2], vec![1.0, 1.0, 1.5, 2.0]).unwrap();
        let f = fuzzy_simplicial_set(&g, 1.0, 1.0);
        // With one neighbour each, d - rho = 0 so every directed membership is 1.
        let mut w = std::collections::BTreeMap::new();
        for e in 0..f.head.len() {
            w.insert((f.head[e], f.tail[e]), f.weight[e]);
        }
        for (&(i, j), &x) in &w {
            assert_eq!(w.get(&(j, i)), Some(&x), "symmetric");
            assert_eq!(x, 1.0);
        }
        assert_eq!(w.len(), 6); // {0,1}, {1,2}, {2,3} in both directions
        assert_eq!(f.row_ptr(), vec![0, 1, 3, 5, 6]);
        // Intersection keeps only mutual pairs.
        let f0 = fuzzy_simplicial_set(&g, 1.0, 0.0);
        assert_eq!(f0.head.len(), 2);
    }
}
