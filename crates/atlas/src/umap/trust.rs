//! Trustworthiness (Venna & Kaski 2001), computed as `sklearn.manifold.trustworthiness` does
//! with euclidean distances: how many of each point's k nearest neighbours in the layout are
//! intruders from far away in the original space.

use super::{UmapError, check_data};
use crate::umap::knn::sq_dist;

/// Trustworthiness in [0, 1] of the layout `low` (`dim_low` columns) of `high` (`dim_high`
/// columns) for neighbourhoods of `k` points: `1 - 2 / (n k (2n - 3k - 1)) * sum_i sum_{j in
/// U_k(i)} (r(i, j) - k)` where `r(i, j)` is j's rank among i's neighbours in the original
/// space and `U_k(i)` the layout neighbours that are not original neighbours. Ties rank by
/// index. Needs `1 <= k < n / 2`. Costs O(n² (dim_high + k)) time and O(n) memory.
pub fn trustworthiness(
    high: &[f32],
    dim_high: usize,
    low: &[f32],
    dim_low: usize,
    k: usize,
) -> Result<f64, UmapError> {
    let n = check_data(high, dim_high)?;
    let n_low = check_data(low, dim_low)?;
    if n != n_low {
        return Err(UmapError::InvalidData(format!(
            "{n} original points but {n_low} layout points"
        )));
    }
    if k == 0 || 2 * k >= n {
        return Err(UmapError::InvalidParams(format!(
            "trustworthiness needs 1 <= k < n / 2 (k = {k}, n = {n})"
        )));
    }
    fn row(x: &[f32], d: usize, i: usize) -> &[f32] {
        &x[i * d..(i + 1) * d]
    }
    let mut dh = vec![0f32; n];
    let mut dl: Vec<(f32, u32)> = Vec::with_capacity(n);
    let mut penalty = 0.0f64;
    for i in 0..n {
        // Layout neighbours of i (ties by index).
        dl.clear();
        dl.extend((0..n).filter(|&j| j != i).map(|j| {
            (
                sq_dist(row(low, dim_low, i), row(low, dim_low, j)),
                j as u32,
            )
        }));
        let by = |a: &(f32, u32), b: &(f32, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
        dl.select_nth_unstable_by(k - 1, by);
        for (j, d) in dh.iter_mut().enumerate() {
            *d = sq_dist(row(high, dim_high, i), row(high, dim_high, j));
        }
        for &(_, j) in &dl[..k] {
            let j = j as usize;
            let dij = dh[j];
            // 1-based rank of j among the other points of i in the original space.
            let rank = 1
                + (0..n)
                    .filter(|&l| l != i && (dh[l] < dij || (dh[l] == dij && l < j)))
                    .count();
            if rank > k {
                penalty += (rank - k) as f64;
            }
        }
    }
    let (nf, kf) = (n as f64, k as f64);
    Ok(1.0 - penalty * 2.0 / (nf * kf * (2.0 * nf - 3.0 * kf - 1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// sklearn's algorithm literally: full argsort of the original distances, an inverted
    /// index of ranks, then the penalty over the layout's k nearest neighbours.
    fn sklearn_style(high: &[f32], dh: usize, low: &[f32], dl: usize, k: usize) -> f64 {
        let n = high.len() / dh;
        let dist = |x: &[f32], d: usize, i: usize, j: usize| -> f64 {
            (0..d)
                .map(|t| f64::from(x[i * d + t] - x[j * d + t]).powi(2))
                .sum::<f64>()
        };
        let mut t = 0.0;
        for i in 0..n {
            let mut order: Vec<usize> = (0..n).filter(|&j| j != i).collect();
            order.sort_by(|&a, &b| dist(high, dh, i, a).total_cmp(&dist(high, dh, i, b)));
            let mut inv = vec![0usize; n];
            for (r, &j) in order.iter().enumerate() {
                inv[j] = r + 1;
            }
            let mut lo: Vec<usize> = (0..n).filter(|&j| j != i).collect();
            lo.sort_by(|&a, &b| dist(low, dl, i, a).total_cmp(&dist(low, dl, i, b)));
            for &j in &lo[..k] {
                let r = inv[j] as f64 - k as f64;
                if r > 0.0 {
                    t += r;
                }
            }
        }
        let (n, k) = (n as f64, k as f64);
        1.0 - t * (2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0)))
    }

    #[test]
    fn hand_computed_line_with_swapped_ends() {
        // Points 0..5 on a line; the layout swaps the two ends. Penalties (worked by hand):
        // rows 0, 1, 4 and 5 each contribute 3, rows 2 and 3 nothing: t = 12, so
        // T = 1 - 12 * 2 / (6 * 2 * (12 - 6 - 1)) = 0.6.
        let high = [0.0f32, 1.0, 2.0, 3.0, 4.0, 5.0];
        let low = [5.0f32, 1.0, 2.0, 3.0, 4.0, 0.0];
        let t = trustworthiness(&high, 1, &low, 1, 2).unwrap();
        assert!((t - 0.6).abs() < 1e-12, "{t}");
    }

    #[test]
    fn identity_is_one_random_is_low_and_matches_sklearn_algorithm() {
        let mut rng = Rng::new(11);
        let n = 120;
        let high: Vec<f32> = (0..n * 8).map(|_| rng.normal() as f32).collect();
        assert_eq!(trustworthiness(&high, 8, &high, 8, 5).unwrap(), 1.0);
        let low: Vec<f32> = (0..n * 2).map(|_| rng.normal() as f32).collect();
        let t = trustworthiness(&high, 8, &low, 2, 5).unwrap();
        assert!(t < 0.7, "random layout scored {t}");
        let want = sklearn_style(&high, 8, &low, 2, 5);
        assert!((t - want).abs() < 1e-12, "{t} vs {want}");
        // A layout that keeps two of eight coordinates is in between.
        let proj: Vec<f32> = high.chunks_exact(8).flat_map(|r| [r[0], r[1]]).collect();
        let tp = trustworthiness(&high, 8, &proj, 2, 5).unwrap();
        assert!(tp > t && tp < 1.0, "{tp}");
        assert!((tp - sklearn_style(&high, 8, &proj, 2, 5)).abs() < 1e-12);
    }

    #[test]
    fn argument_errors() {
        let x = [0.0f32; 10];
        assert!(trustworthiness(&x, 1, &x, 1, 5).is_err()); // k >= n/2
        assert!(trustworthiness(&x, 1, &x, 1, 0).is_err());
        assert!(trustworthiness(&x, 1, &x[..8], 1, 2).is_err());
        assert!(trustworthiness(&x, 3, &x, 1, 2).is_err());
        assert!(trustworthiness(&[f32::NAN; 10], 1, &x, 1, 2).is_err());
    }
}
