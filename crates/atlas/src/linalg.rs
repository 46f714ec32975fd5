//! Small dense linear algebra used by the UMAP initialisation: symmetric eigen-decomposition
//! (cyclic Jacobi), Gram–Schmidt, and a randomized PCA. Column blocks are stored as
//! `Vec<Vec<f64>>` (one `Vec` per column).

use crate::rng::Rng;

/// Eigen-decomposition of a small symmetric `p x p` matrix (row-major). Returns eigenvalues in
/// descending order and the matching eigenvectors as columns (`vecs[j]` is vector j).
pub fn symmetric_eigen(a: &[f64], p: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    let mut m = a.to_vec();
    let mut v = vec![0.0; p * p];
    for i in 0..p {
        v[i * p + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..p)
            .flat_map(|i| (0..p).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| m[i * p + j] * m[i * p + j])
            .sum();
        let scale: f64 = (0..p).map(|i| m[i * p + i] * m[i * p + i]).sum::<f64>() + off;
        if off <= 1e-30 * scale.max(1e-300) {
            break;
        }
        for i in 0..p {
            for j in i + 1..p {
                let aij = m[i * p + j];
                if aij.abs() < 1e-300 {
                    continue;
                }
                let theta = (m[j * p + j] - m[i * p + i]) / (2.0 * aij);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..p {
                    let mki = m[k * p + i];
                    let mkj = m[k * p + j];
                    m[k * p + i] = c * mki - s * mkj;
                    m[k * p + j] = s * mki + c * mkj;
                }
                for k in 0..p {
                    let mik = m[i * p + k];
                    let mjk = m[j * p + k];
                    m[i * p + k] = c * mik - s * mjk;
                    m[j * p + k] = s * mik + c * mjk;
                }
                for k in 0..p {
                    let vki = v[k * p + i];
                    let vkj = v[k * p + j];
                    v[k * p + i] = c * vki - s * vkj;
                    v[k * p + j] = s * vki + c * vkj;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..p).collect();
    order.sort_by(|&x, &y| m[y * p + y].total_cmp(&m[x * p + x]).then(x.cmp(&y)));
    let vals = order.iter().map(|&j| m[j * p + j]).collect();
    let vecs = order
        .iter()
        .map(|&j| (0..p).map(|k| v[k * p + j]).collect())
        .collect();
    (vals, vecs)
}

/// Dot product.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Orthonormalises `cols` in place against `fixed` (assumed orthonormal) and each other
/// (modified Gram–Schmidt, twice). A column that collapses is replaced by a fresh random one.
pub fn orthonormalize(cols: &mut [Vec<f64>], fixed: &[&[f64]], rng: &mut Rng) {
    for j in 0..cols.len() {
        for attempt in 0..4 {
            for _pass in 0..2 {
                for f in fixed {
                    let d = dot(&cols[j], f);
                    cols[j]
                        .iter_mut()
                        .zip(f.iter())
                        .for_each(|(x, y)| *x -= d * y);
                }
                for i in 0..j {
                    let (head, tail) = cols.split_at_mut(j);
                    let d = dot(&tail[0], &head[i]);
                    tail[0]
                        .iter_mut()
                        .zip(&head[i])
                        .for_each(|(x, y)| *x -= d * y);
                }
            }
            let norm = dot(&cols[j], &cols[j]).sqrt();
            if norm > 1e-10 && norm.is_finite() {
                cols[j].iter_mut().for_each(|x| *x /= norm);
                break;
            }
            if attempt == 3 {
                cols[j].iter_mut().for_each(|x| *x = 0.0);
                break;
            }
            cols[j].iter_mut().for_each(|x| *x = rng.normal());
        }
    }
}

/// Projections of `n` points (`[n x dim]` row-major) on their top `components` principal axes,
/// by randomized subspace iteration on the centred data (never forming the covariance).
/// Returns `[n x components]` row-major; axes beyond the data's rank come out as zeros.
pub fn pca(data: &[f32], n: usize, dim: usize, components: usize, rng: &mut Rng) -> Vec<f64> {
    let mut out = vec![0.0; n * components];
    if n == 0 || dim == 0 || components == 0 {
        return out;
    }
    let mut mean = vec![0.0f64; dim];
    for row in data.chunks_exact(dim) {
        mean.iter_mut()
            .zip(row)
            .for_each(|(m, &x)| *m += f64::from(x));
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let p = (components + 8).min(dim);
    let mut q: Vec<Vec<f64>> = (0..p)
        .map(|_| (0..dim).map(|_| rng.normal()).collect())
        .collect();
    orthonormalize(&mut q, &[], rng);
    // y = Xc q (n values per column), z = Xc^T y.
    let project = |q: &[Vec<f64>]| -> Vec<Vec<f64>> {
        let mut y = vec![vec![0.0; n]; q.len()];
        for (i, row) in data.chunks_exact(dim).enumerate() {
            for (c, qc) in q.iter().enumerate() {
                let mut s = 0.0;
                for d in 0..dim {
                    s += (f64::from(row[d]) - mean[d]) * qc[d];
                }
                y[c][i] = s;
            }
        }
        y
    };
    for _ in 0..8 {
        let y = project(&q);
        let mut z = vec![vec![0.0; dim]; p];
        for (i, row) in data.chunks_exact(dim).enumerate() {
            for (c, zc) in z.iter_mut().enumerate() {
                let yi = y[c][i];
                for d in 0..dim {
                    zc[d] += (f64::from(row[d]) - mean[d]) * yi;
                }
            }
        }
        q = z;
        orthonormalize(&mut q, &[], rng);
    }
    // Rayleigh–Ritz: H = (Xc Q)^T (Xc Q).
    let y = project(&q);
    let mut h = vec![0.0; p * p];
    for a in 0..p {
        for b in 0..p {
            h[a * p + b] = dot(&y[a], &y[b]);
        }
    }
    let (_vals, vecs) = symmetric_eigen(&h, p);
    for c in 0..components.min(p) {
        for i in 0..n {
            out[i * components + c] = (0..p).map(|j| y[j][i] * vecs[c][j]).sum();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_recovers_known_spectrum() {
        // Symmetric matrix with eigenvalues 6, 3, 1 (rotation of a diagonal).
        let a = [4.0, -1.0, 1.0, -1.0, 4.0, -1.0, 1.0, -1.0, 2.0];
        let (vals, vecs) = symmetric_eigen(&a, 3);
        for j in 0..3 {
            // A v = lambda v
            for r in 0..3 {
                let av: f64 = (0..3).map(|c| a[r * 3 + c] * vecs[j][c]).sum();
                assert!((av - vals[j] * vecs[j][r]).abs() < 1e-10);
            }
        }
        assert!(vals[0] >= vals[1] && vals[1] >= vals[2]);
        let trace: f64 = vals.iter().sum();
        assert!((trace - 10.0).abs() < 1e-10);
    }

    #[test]
    fn pca_finds_the_dominant_axis() {
        let mut rng = Rng::new(3);
        let n = 400;
        let dim = 6;
        // Large variance along (1,1,0,...)/sqrt2, small along axis 2, tiny elsewhere.
        let mut data = vec![0.0f32; n * dim];
        for i in 0..n {
            let t = rng.normal() * 10.0;
            let u = rng.normal() * 3.0;
            data[i * dim] = (t / 2f64.sqrt()) as f32 + 5.0;
            data[i * dim + 1] = (t / 2f64.sqrt()) as f32;
            data[i * dim + 2] = u as f32;
            for d in 3..dim {
                data[i * dim + d] = (rng.normal() * 0.1) as f32;
            }
        }
        let proj = pca(&data, n, dim, 2, &mut Rng::new(1));
        // First component correlates with t = (x0 - 5 + x1)/sqrt2; second with x2.
        let corr = |c: usize, f: &dyn Fn(&[f32]) -> f64| {
            let xs: Vec<f64> = (0..n).map(|i| proj[i * 2 + c]).collect();
            let ys: Vec<f64> = data.chunks_exact(dim).map(f).collect();
            let mx = xs.iter().sum::<f64>() / n as f64;
            let my = ys.iter().sum::<f64>() / n as f64;
            let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
            let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
            let syy: f64 = ys.iter().map(|y| (y - my).powi(2)).sum();
            (sxy / (sxx * syy).sqrt()).abs()
        };
        assert!(corr(0, &|r| f64::from(r[0] + r[1])) > 0.999);
        assert!(corr(1, &|r| f64::from(r[2])) > 0.99);
    }
}
