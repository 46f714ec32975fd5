//! The low-dimensional curve `1 / (1 + a d^(2b))` and the SGD that optimises the layout
//! (umap-learn's `find_ab_params` and `optimize_layout_euclidean`).

use super::graph::FuzzyGraph;
use crate::rng::Rng;

/// Fits `a, b` of `1 / (1 + a x^(2b))` to the offset exponential that is 1 below `min_dist`
/// and `exp(-(x - min_dist) / spread)` above, by Levenberg–Marquardt least squares on 300
/// points of `[0, 3 spread]` (what scipy's `curve_fit` does in umap-learn).
pub fn find_ab_params(spread: f32, min_dist: f32) -> (f32, f32) {
    let (spread, min_dist) = (f64::from(spread), f64::from(min_dist));
    let xs: Vec<f64> = (0..300).map(|i| 3.0 * spread * i as f64 / 299.0).collect();
    let ys: Vec<f64> = xs
        .iter()
        .map(|&x| {
            if x < min_dist {
                1.0
            } else {
                (-(x - min_dist) / spread).exp()
            }
        })
        .collect();
    let cost = |a: f64, b: f64| -> f64 {
        xs.iter()
            .zip(&ys)
            .map(|(&x, &y)| (1.0 / (1.0 + a * x.powf(2.0 * b)) - y).powi(2))
            .sum()
    };
    let (mut a, mut b) = (1.0f64, 1.0f64);
    let mut c = cost(a, b);
    let mut lambda = 1e-3;
    for _ in 0..500 {
        // Normal equations J^T J and J^T r of the residuals f(x) - y.
        let (mut jaa, mut jab, mut jbb, mut ga, mut gb) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (&x, &y) in xs.iter().zip(&ys) {
            if x <= 0.0 {
                // f(0) = 1 whatever a, b: no gradient.
                continue;
            }
            let p = x.powf(2.0 * b);
            let den = 1.0 + a * p;
            let r = 1.0 / den - y;
            let da = -p / (den * den);
            let db = -a * p * 2.0 * x.ln() / (den * den);
            jaa += da * da;
            jab += da * db;
            jbb += db * db;
            ga += da * r;
            gb += db * r;
        }
        let mut improved = false;
        while lambda < 1e12 {
            let (m11, m22) = (jaa * (1.0 + lambda), jbb * (1.0 + lambda));
            let det = m11 * m22 - jab * jab;
            if det.abs() < 1e-300 {
                lambda *= 10.0;
                continue;
            }
            let step_a = -(m22 * ga - jab * gb) / det;
            let step_b = -(m11 * gb - jab * ga) / det;
            let (na, nb) = (a + step_a, b + step_b);
            let nc = if na > 0.0 && nb > 0.0 {
                cost(na, nb)
            } else {
                f64::INFINITY
            };
            if nc < c {
                let rel = (c - nc) / c.max(1e-300);
                a = na;
                b = nb;
                c = nc;
                lambda = (lambda / 10.0).max(1e-12);
                improved = rel > 1e-15;
                break;
            }
            lambda *= 10.0;
        }
        if !improved {
            break;
        }
    }
    (a as f32, b as f32)
}

/// Settings of one SGD run.
pub struct SgdParams {
    /// Curve parameter a.
    pub a: f32,
    /// Curve parameter b.
    pub b: f32,
    /// Repulsion weight (gamma).
    pub gamma: f32,
    /// Initial learning rate (decays linearly to 0).
    pub learning_rate: f32,
    /// Negative samples per positive sample.
    pub negative_sample_rate: usize,
    /// Number of epochs.
    pub n_epochs: usize,
}

#[inline]
fn clip(v: f32) -> f32 {
    v.clamp(-4.0, 4.0)
}

/// The SGD of one layout, resumable epoch by epoch: each edge is sampled every `max_w / w`
/// epochs, pulled together with the attractive gradient, and its head pushed from
/// `negative_sample_rate` random points. Running the epochs in any number of pieces gives the
/// same layout as running them at once.
pub struct Optimizer {
    head: Vec<usize>,
    tail: Vec<usize>,
    eps: Vec<f64>,
    eps_neg: Vec<f64>,
    next: Vec<f64>,
    next_neg: Vec<f64>,
    a: f32,
    b: f32,
    gamma: f32,
    learning_rate: f32,
    n_epochs: usize,
    epoch: usize,
}

impl Optimizer {
    /// Prepares the SGD of `graph`'s layout (`n` points) with settings `p`.
    pub fn new(graph: &FuzzyGraph, n: usize, p: &SgdParams) -> Self {
        let n_epochs = p.n_epochs;
        let mut opt = Self {
            head: Vec::new(),
            tail: Vec::new(),
            eps: Vec::new(),
            eps_neg: Vec::new(),
            next: Vec::new(),
            next_neg: Vec::new(),
            a: p.a,
            b: p.b,
            gamma: p.gamma,
            learning_rate: p.learning_rate,
            n_epochs,
            epoch: 0,
        };
        if n_epochs == 0 || graph.weight.is_empty() || n < 2 {
            opt.epoch = n_epochs;
            return opt;
        }
        // Edges too weak to be sampled even once are dropped, as umap-learn does.
        let w_max = graph.weight.iter().copied().fold(0.0f32, f32::max);
        let cutoff = w_max / n_epochs as f32;
        for e in 0..graph.weight.len() {
            let w = graph.weight[e];
            if w >= cutoff && w > 0.0 {
                opt.head.push(graph.head[e] as usize);
                opt.tail.push(graph.tail[e] as usize);
                let n_samples = n_epochs as f64 * f64::from(w) / f64::from(w_max);
                opt.eps.push(n_epochs as f64 / n_samples);
            }
        }
        let neg_rate = p.negative_sample_rate as f64;
        opt.eps_neg = opt.eps.iter().map(|e| e / neg_rate).collect();
        opt.next = opt.eps.clone();
        opt.next_neg = opt.eps_neg.clone();
        opt
    }

    /// Epochs run so far.
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// Epochs in all.
    pub fn n_epochs(&self) -> usize {
        self.n_epochs
    }

    /// Whether every epoch has run.
    pub fn is_done(&self) -> bool {
        self.epoch >= self.n_epochs
    }

    /// Runs up to `count` more epochs on `emb`, drawing negative samples from `rng`.
    pub fn run(&mut self, emb: &mut [[f32; 2]], rng: &mut Rng, count: usize) {
        let n = emb.len();
        let end = self.epoch.saturating_add(count).min(self.n_epochs);
        let (a, b, gamma) = (self.a, self.b, self.gamma);
        while self.epoch < end {
            let epoch = self.epoch;
            let alpha = self.learning_rate * (1.0 - epoch as f32 / self.n_epochs as f32);
            let ep = epoch as f64;
            for e in 0..self.eps.len() {
                if self.next[e] > ep {
                    continue;
                }
                let (j, k) = (self.head[e], self.tail[e]);
                let mut cur = emb[j];
                let mut other = emb[k];
                let dx = cur[0] - other[0];
                let dy = cur[1] - other[1];
                let d2 = dx * dx + dy * dy;
                if d2 > 0.0 {
                    let pw = d2.powf(b);
                    let coeff = -2.0 * a * b * (pw / d2) / (a * pw + 1.0);
                    let gx = clip(coeff * dx);
                    let gy = clip(coeff * dy);
                    cur[0] += gx * alpha;
                    cur[1] += gy * alpha;
                    other[0] -= gx * alpha;
                    other[1] -= gy * alpha;
                    emb[k] = other;
                }
                self.next[e] += self.eps[e];
                let n_neg = ((ep - self.next_neg[e]) / self.eps_neg[e]) as i64;
                for _ in 0..n_neg.max(0) {
                    let s = rng.below(n);
                    if s == j {
                        continue;
                    }
                    let o = emb[s];
                    let dx = cur[0] - o[0];
                    let dy = cur[1] - o[1];
                    let d2 = dx * dx + dy * dy;
                    if d2 > 0.0 {
                        let coeff = 2.0 * gamma * b / ((0.001 + d2) * (a * d2.powf(b) + 1.0));
                        cur[0] += clip(coeff * dx) * alpha;
                        cur[1] += clip(coeff * dy) * alpha;
                    }
                }
                emb[j] = cur;
                self.next_neg[e] += n_neg as f64 * self.eps_neg[e];
            }
            self.epoch += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ab_params_match_umap_learn() {
        // umap-learn's find_ab_params(1.0, 0.1) with scipy's curve_fit.
        let (a, b) = find_ab_params(1.0, 0.1);
        assert!((a - 1.576_943_5).abs() < 2e-4, "a = {a}");
        assert!((b - 0.895_060_9).abs() < 2e-4, "b = {b}");
    }

    #[test]
    fn ab_fit_is_a_least_squares_minimum_for_other_settings() {
        for &(spread, min_dist) in &[(1.0f32, 0.5f32), (2.0, 0.01), (0.5, 0.25)] {
            let (a, b) = find_ab_params(spread, min_dist);
            let cost = |a: f64, b: f64| -> f64 {
                (0..300)
                    .map(|i| {
                        let x = 3.0 * f64::from(spread) * i as f64 / 299.0;
                        let y = if x < f64::from(min_dist) {
                            1.0
                        } else {
                            (-(x - f64::from(min_dist)) / f64::from(spread)).exp()
                        };
                        (1.0 / (1.0 + a * x.powf(2.0 * b)) - y).powi(2)
                    })
                    .sum()
            };
            let (a, b) = (f64::from(a), f64::from(b));
            let c = cost(a, b);
            for (da, db) in [(1e-2, 0.0), (-1e-2, 0.0), (0.0, 1e-2), (0.0, -1e-2)] {
                assert!(
                    cost(a + da, b + db) >= c,
                    "({spread}, {min_dist}) not a minimum"
                );
            }
            // Larger min_dist means a flatter curve near 0: b grows, a shrinks.
            assert!(a > 0.0 && b > 0.0);
        }
        let (a1, b1) = find_ab_params(1.0, 0.5);
        let (a0, b0) = find_ab_params(1.0, 0.1);
        assert!(a1 < a0 && b1 > b0);
    }
}
