//! Neuron families: units of a layer clustered by their concept profiles, so related ones
//! (shapes, words, objects...) are browsed together.
//!
//! A unit's profile is its mean response to each concept in each modality. Profiles are
//! standardised per unit (zero mean, unit norm), so units group by *which* concepts drive
//! them rather than by how strongly they fire, and clustered with spherical k-means (cosine
//! similarity) from k-means++ seeds drawn by a fixed-seed generator: the same inputs give
//! the same families.

use modalscope_model::SeededRng;
use serde::{Deserialize, Serialize};

use crate::error::{AnalysisError, Result};
use crate::multimodal::Probe;

/// Every unit's profile: for each probe in turn, its mean response to each concept
/// (`probes.len() × concepts` values per unit; a concept without images reads 0).
pub fn concept_profiles(probes: &[Probe<'_>], concepts: usize) -> Vec<Vec<f32>> {
    let units = probes.first().map_or(0, |p| p.units);
    let mut profiles = vec![Vec::with_capacity(probes.len() * concepts); units];
    for probe in probes {
        let mut sums = vec![0.0f64; units * concepts];
        let mut counts = vec![0usize; concepts];
        for (row, &label) in probe.responses.chunks(probe.units).zip(probe.labels) {
            if label >= concepts {
                continue;
            }
            counts[label] += 1;
            for (u, &v) in row.iter().enumerate().take(units) {
                sums[u * concepts + label] += v as f64;
            }
        }
        for (u, profile) in profiles.iter_mut().enumerate() {
            for c in 0..concepts {
                let n = counts[c].max(1) as f64;
                profile.push((sums[u * concepts + c] / n) as f32);
            }
        }
    }
    profiles
}

/// One family of units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Family {
    /// Member units, the most typical (closest to the family's centre) first.
    pub members: Vec<usize>,
    /// Cosine similarity of each member to the centre, aligned with `members`.
    pub similarity: Vec<f32>,
    /// Concepts that drive the family most (by the centre's standardised profile summed
    /// over modalities), strongest first; at most five.
    pub concepts: Vec<usize>,
    /// The centre's mean standardised response per modality (probe), scaled so that with
    /// two modalities +1 means the family responds to that modality's images only, -1 to
    /// the other's only and 0 no preference.
    pub modality: Vec<f32>,
}

impl Family {
    /// Mean cosine similarity of the members to the centre.
    pub fn cohesion(&self) -> f32 {
        self.similarity.iter().sum::<f32>() / self.similarity.len().max(1) as f32
    }
}

/// Units of a layer grouped into families.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Families {
    /// The families, largest first (ties: lowest first member).
    pub families: Vec<Family>,
    /// Units whose profile is flat (the same response to every concept): in no family.
    pub flat: Vec<usize>,
}

/// Standardises a profile to zero mean and unit norm; `None` when it is flat.
fn standardise(p: &[f32]) -> Option<Vec<f32>> {
    let n = p.len().max(1) as f32;
    let mean = p.iter().sum::<f32>() / n;
    let centred: Vec<f32> = p.iter().map(|v| v - mean).collect();
    let norm = centred.iter().map(|v| v * v).sum::<f32>().sqrt();
    let scale = p.iter().map(|v| v.abs()).fold(0.0f32, f32::max).max(1e-12);
    (norm > 1e-6 * scale * n.sqrt() && norm > 1e-20)
        .then(|| centred.into_iter().map(|v| v / norm).collect())
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn normalise(v: &mut [f32]) {
    let n = dot(v, v).sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// One run of spherical k-means: assignments and the sum of similarities to the centres.
fn kmeans(points: &[Vec<f32>], k: usize, seed: u64) -> (Vec<usize>, Vec<Vec<f32>>, f32) {
    let n = points.len();
    let mut rng = SeededRng::new(seed);
    // k-means++ on the cosine distance 1 - cos.
    let mut centres: Vec<Vec<f32>> = vec![points[(rng.next_u64() % n as u64) as usize].clone()];
    let mut nearest: Vec<f32> = points.iter().map(|p| 1.0 - dot(p, &centres[0])).collect();
    while centres.len() < k {
        let total: f32 = nearest.iter().map(|d| d.max(0.0)).sum();
        let pick = if total <= 0.0 {
            (rng.next_u64() % n as u64) as usize
        } else {
            let mut r = rng.uniform() * total;
            let mut pick = n - 1;
            for (i, d) in nearest.iter().enumerate() {
                r -= d.max(0.0);
                if r <= 0.0 {
                    pick = i;
                    break;
                }
            }
            pick
        };
        centres.push(points[pick].clone());
        let c = centres.last().expect("just pushed");
        for (d, p) in nearest.iter_mut().zip(points) {
            *d = d.min(1.0 - dot(p, c));
        }
    }
    let assign_all = |centres: &[Vec<f32>]| -> Vec<usize> {
        points
            .iter()
            .map(|p| {
                centres
                    .iter()
                    .enumerate()
                    .fold((0, f32::NEG_INFINITY), |best, (j, c)| {
                        let s = dot(p, c);
                        if s > best.1 { (j, s) } else { best }
                    })
                    .0
            })
            .collect()
    };
    let mut assign = assign_all(&centres);
    for _ in 0..100 {
        let d = points[0].len();
        let mut sums = vec![vec![0.0f32; d]; k];
        let mut counts = vec![0usize; k];
        for (p, &a) in points.iter().zip(&assign) {
            counts[a] += 1;
            sums[a].iter_mut().zip(p).for_each(|(s, v)| *s += v);
        }
        for j in 0..k {
            if counts[j] == 0 {
                // An empty family takes the point worst served by its centre.
                let worst = (0..n)
                    .min_by(|&a, &b| {
                        dot(&points[a], &centres[assign[a]])
                            .total_cmp(&dot(&points[b], &centres[assign[b]]))
                    })
                    .expect("points");
                sums[j] = points[worst].clone();
                assign[worst] = j;
            }
            normalise(&mut sums[j]);
        }
        centres = sums;
        let next = assign_all(&centres);
        if next == assign {
            break;
        }
        assign = next;
    }
    let score = points
        .iter()
        .zip(&assign)
        .map(|(p, &a)| dot(p, &centres[a]))
        .sum();
    (assign, centres, score)
}

/// Clusters units by their concept profiles (from [`concept_profiles`]) into `k` families:
/// spherical k-means, the best of `restarts` seeded runs (seeds `seed`, `seed + 1`, ...).
///
/// `concepts` is the number of concepts per modality in the profiles.
pub fn neuron_families(
    profiles: &[Vec<f32>],
    concepts: usize,
    k: usize,
    seed: u64,
    restarts: usize,
) -> Result<Families> {
    if k == 0 {
        return Err(AnalysisError::Input(
            "the number of families must be at least 1".into(),
        ));
    }
    let len = profiles.first().map_or(0, Vec::len);
    if concepts == 0
        || len == 0
        || !len.is_multiple_of(concepts)
        || profiles.iter().any(|p| p.len() != len)
    {
        return Err(AnalysisError::Input(format!(
            "profiles must all hold a multiple of {concepts} values"
        )));
    }
    let mut units = Vec::new();
    let mut points = Vec::new();
    let mut flat = Vec::new();
    for (u, p) in profiles.iter().enumerate() {
        match standardise(p) {
            Some(s) => {
                units.push(u);
                points.push(s);
            }
            None => flat.push(u),
        }
    }
    if points.len() < k {
        return Err(AnalysisError::Input(format!(
            "{k} families asked for, but only {} units respond differently to different concepts",
            points.len()
        )));
    }
    let (assign, centres, _) = (0..restarts.max(1) as u64)
        .map(|r| kmeans(&points, k, seed.wrapping_add(r)))
        .fold(
            None::<(Vec<usize>, Vec<Vec<f32>>, f32)>,
            |best, run| match best {
                Some(b) if b.2 >= run.2 => Some(b),
                _ => Some(run),
            },
        )
        .expect("at least one run");
    let modalities = len / concepts;
    let mut families: Vec<Family> = centres
        .iter()
        .enumerate()
        .map(|(j, centre)| {
            let mut members: Vec<(usize, f32)> = assign
                .iter()
                .enumerate()
                .filter(|&(_, &a)| a == j)
                .map(|(i, _)| (units[i], dot(&points[i], centre)))
                .collect();
            members.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            let mut by_concept: Vec<(usize, f32)> = (0..concepts)
                .map(|c| (c, (0..modalities).map(|m| centre[m * concepts + c]).sum()))
                .collect();
            by_concept.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            Family {
                members: members.iter().map(|m| m.0).collect(),
                similarity: members.iter().map(|m| m.1).collect(),
                concepts: by_concept.iter().take(5).map(|c| c.0).collect(),
                modality: (0..modalities)
                    .map(|m| {
                        centre[m * concepts..(m + 1) * concepts].iter().sum::<f32>()
                            / concepts as f32
                            * (len as f32).sqrt()
                    })
                    .collect(),
            }
        })
        .collect();
    families.sort_by(|a, b| {
        b.members
            .len()
            .cmp(&a.members.len())
            .then(a.members.first().cmp(&b.members.first()))
    });
    Ok(Families { families, flat })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 3 planted groups of 6 units over 2 modalities × 5 concepts, plus 2 flat units.
    fn planted() -> (Vec<Vec<f32>>, Vec<usize>) {
        let mut rng = SeededRng::new(4);
        let mut profiles = Vec::new();
        let mut group = Vec::new();
        for u in 0..20 {
            if u == 7 || u == 13 {
                profiles.push(vec![0.5; 10]);
                group.push(usize::MAX);
                continue;
            }
            let g = u % 3;
            // Group 0: concepts 0 and 1 drawn and written; group 1: concept 4 written only;
            // group 2: every drawing, no words.
            let mut p: Vec<f32> = (0..10)
                .map(|i| {
                    let (m, c) = (i / 5, i % 5);
                    let base = match g {
                        0 => f32::from(c < 2),
                        1 => f32::from(m == 1 && c == 4),
                        _ => f32::from(m == 0),
                    };
                    (1.0 + u as f32 * 0.1) * base + 0.05 * rng.normal()
                })
                .collect();
            p.iter_mut().for_each(|v| *v += 3.0); // an offset the standardisation removes
            profiles.push(p);
            group.push(g);
        }
        (profiles, group)
    }

    #[test]
    fn planted_families_are_recovered_deterministically() {
        let (profiles, group) = planted();
        let f = neuron_families(&profiles, 5, 3, 0, 4).unwrap();
        assert_eq!(f.flat, vec![7, 13]);
        assert_eq!(f.families.len(), 3);
        for fam in &f.families {
            let g = group[fam.members[0]];
            assert!(fam.members.iter().all(|&u| group[u] == g), "{fam:?}");
            assert!(fam.cohesion() > 0.9);
            match g {
                0 => {
                    let mut top = fam.concepts[..2].to_vec();
                    top.sort_unstable();
                    assert_eq!(top, vec![0, 1]);
                }
                1 => {
                    assert_eq!(fam.concepts[0], 4);
                    assert!(fam.modality[1] > fam.modality[0]);
                }
                _ => assert!(fam.modality[0] > 0.9 && fam.modality[1] < -0.9, "{fam:?}"),
            }
        }
        let sizes: Vec<usize> = f.families.iter().map(|f| f.members.len()).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 18);
        // Same inputs, same families.
        assert_eq!(neuron_families(&profiles, 5, 3, 0, 4).unwrap(), f);
    }

    #[test]
    fn profiles_average_each_concept_per_probe() {
        let responses = [1.0, 10.0, 3.0, 20.0, 5.0, 0.0];
        let labels = [0, 0, 1];
        let probe = Probe {
            responses: &responses,
            labels: &labels,
            units: 2,
        };
        let p = concept_profiles(&[probe.clone(), probe], 2);
        assert_eq!(p[0], vec![2.0, 5.0, 2.0, 5.0]);
        assert_eq!(p[1], vec![15.0, 0.0, 15.0, 0.0]);
    }

    #[test]
    fn bad_requests_are_refused() {
        let (profiles, _) = planted();
        assert!(neuron_families(&profiles, 5, 0, 0, 1).is_err());
        assert!(neuron_families(&profiles, 3, 2, 0, 1).is_err());
        assert!(neuron_families(&profiles[..2], 5, 3, 0, 1).is_err());
    }
}
