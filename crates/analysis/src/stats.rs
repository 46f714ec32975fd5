//! Statistics of unit responses.

/// Area under the ROC curve of a score that should be higher for `positives` than for
/// `negatives`: the probability that a random positive outscores a random negative (ties
/// count half), computed from ranks (Mann–Whitney U). `None` when either side is empty.
pub fn auroc(positives: &[f32], negatives: &[f32]) -> Option<f64> {
    if positives.is_empty() || negatives.is_empty() {
        return None;
    }
    let mut all: Vec<(f32, bool)> = positives
        .iter()
        .map(|&v| (v, true))
        .chain(negatives.iter().map(|&v| (v, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Average ranks (1-based) over runs of equal values.
    let mut rank_sum_pos = 0.0f64;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_pos += avg * all[i..=j].iter().filter(|x| x.1).count() as f64;
        i = j + 1;
    }
    let (np, nn) = (positives.len() as f64, negatives.len() as f64);
    Some((rank_sum_pos - np * (np + 1.0) / 2.0) / (np * nn))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AUROC by counting every pair (the definition).
    fn by_pairs(p: &[f32], n: &[f32]) -> f64 {
        let mut s = 0.0;
        for a in p {
            for b in n {
                s += if a > b {
                    1.0
                } else if a == b {
                    0.5
                } else {
                    0.0
                };
            }
        }
        s / (p.len() * n.len()) as f64
    }

    #[test]
    fn matches_the_pairwise_definition() {
        let p = [0.9, 0.8, 0.8, 0.3, 0.1];
        let n = [0.7, 0.8, 0.2, 0.2, 0.05, 0.3];
        let a = auroc(&p, &n).unwrap();
        assert!((a - by_pairs(&p, &n)).abs() < 1e-12, "{a}");
        assert_eq!(auroc(&[2.0, 3.0], &[0.0, 1.0]), Some(1.0));
        assert_eq!(auroc(&[0.0], &[1.0, 2.0]), Some(0.0));
        assert_eq!(auroc(&[1.0, 1.0], &[1.0]), Some(0.5));
        assert_eq!(auroc(&[], &[1.0]), None);
    }
}
