//! Concept directions: a linear read-out of a concept from a whole layer, fit on probe images,
//! to tell a layer that carries a concept in every modality but spread over many units from
//! one that does not carry it at all (a single unit's AUROC cannot tell them apart).

use serde::{Deserialize, Serialize};

use crate::error::{AnalysisError, Result};
use crate::multimodal::{Probe, concept_auroc, weakest};

/// A concept's direction in a layer's units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConceptDirection {
    /// The concept.
    pub concept: usize,
    /// One weight per unit: the read-out is the weighted sum of the units' responses.
    pub weights: Vec<f32>,
    /// Each unit's standard deviation over the images the direction was fit on, so that a
    /// weight can be read as that unit's share of the read-out.
    pub scales: Vec<f32>,
}

/// How a concept direction separates its concept, per modality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectionScore {
    /// The concept.
    pub concept: usize,
    /// AUROC of the read-out on each probe's images, in the order the probes were given.
    pub auroc: Vec<f64>,
    /// How many units the direction spreads over (participation ratio of its weights: 1 for
    /// a single unit, the layer's width for equal weights).
    pub spread: f64,
}

impl DirectionScore {
    /// The weakest modality's AUROC, as for a unit.
    pub fn combined(&self) -> f64 {
        weakest(&self.auroc)
    }
}

impl ConceptDirection {
    /// Fits `concept`'s direction on probes (one per modality): for each unit, the mean
    /// response to the concept's images minus the mean response to the others, averaged over
    /// the probes and divided by the unit's variance over all their images (a linear
    /// discriminant that ignores correlations between units, so that it needs few images).
    pub fn fit(probes: &[Probe<'_>], concept: usize) -> Result<Self> {
        let units = check(probes)?;
        let mut sum = vec![0f64; units];
        let mut sum_sq = vec![0f64; units];
        let mut rows = 0usize;
        let mut weights = vec![0f64; units];
        for (k, p) in probes.iter().enumerate() {
            let mut own = (vec![0f64; units], 0usize);
            let mut rest = (vec![0f64; units], 0usize);
            for (row, &label) in p.responses.chunks(units).zip(p.labels) {
                let side = if label == concept {
                    &mut own
                } else {
                    &mut rest
                };
                side.1 += 1;
                for (u, &v) in row.iter().enumerate() {
                    side.0[u] += v as f64;
                    sum[u] += v as f64;
                    sum_sq[u] += (v as f64) * (v as f64);
                }
                rows += 1;
            }
            if own.1 == 0 || rest.1 == 0 {
                return Err(AnalysisError::Input(format!(
                    "probe {k} needs images of concept {concept} and of other concepts to fit its direction"
                )));
            }
            for ((w, a), b) in weights.iter_mut().zip(&own.0).zip(&rest.0) {
                *w += a / own.1 as f64 - b / rest.1 as f64;
            }
        }
        let n = rows as f64;
        let variances: Vec<f64> = (0..units)
            .map(|u| {
                let mean = sum[u] / n;
                (sum_sq[u] / n - mean * mean).max(0.0)
            })
            .collect();
        let weights = variances
            .iter()
            .zip(&weights)
            .map(|(&var, w)| {
                // A unit that never varies carries nothing.
                if var > 1e-12 {
                    (w / probes.len() as f64 / var) as f32
                } else {
                    0.0
                }
            })
            .collect();
        let scales = variances.iter().map(|v| v.sqrt() as f32).collect();
        Ok(Self {
            concept,
            weights,
            scales,
        })
    }

    /// The read-out of every image of a probe.
    pub fn project(&self, probe: &Probe<'_>) -> Result<Vec<f32>> {
        if probe.units != self.weights.len() {
            return Err(AnalysisError::Input(format!(
                "a direction over {} units cannot read a layer of {}",
                self.weights.len(),
                probe.units
            )));
        }
        check(std::slice::from_ref(probe))?;
        Ok(probe
            .responses
            .chunks(probe.units)
            .map(|row| row.iter().zip(&self.weights).map(|(v, w)| v * w).sum())
            .collect())
    }

    /// How the read-out separates the concept on each probe's images (use images the
    /// direction was not fit on).
    pub fn score(&self, probes: &[Probe<'_>]) -> Result<DirectionScore> {
        let auroc = probes
            .iter()
            .map(|p| Ok(concept_auroc(self.project(p)?, p.labels, self.concept)))
            .collect::<Result<_>>()?;
        Ok(DirectionScore {
            concept: self.concept,
            auroc,
            spread: self.spread(),
        })
    }

    /// The participation ratio of the units' shares of the read-out (each weight times the
    /// unit's standard deviation), `(Σs²)² / Σs⁴`: about how many units carry it, however
    /// differently the units are scaled.
    pub fn spread(&self) -> f64 {
        let shares = self
            .weights
            .iter()
            .zip(&self.scales)
            .map(|(&w, &s)| (w as f64) * (s as f64));
        let sq: f64 = shares.clone().map(|v| v.powi(2)).sum();
        let quad: f64 = shares.map(|v| v.powi(4)).sum();
        if quad > 0.0 { sq * sq / quad } else { 0.0 }
    }
}

/// Every concept's direction fit on `fit` and scored on `score` (other images of the same
/// concepts and modalities), in concept order.
pub fn concept_directions(
    fit: &[Probe<'_>],
    score: &[Probe<'_>],
    concepts: usize,
) -> Result<Vec<DirectionScore>> {
    (0..concepts)
        .map(|c| ConceptDirection::fit(fit, c)?.score(score))
        .collect()
}

/// The probes' common width, refusing none, mixed widths or ragged responses.
fn check(probes: &[Probe<'_>]) -> Result<usize> {
    let Some(first) = probes.first() else {
        return Err(AnalysisError::Input(
            "no probe to fit a direction on".into(),
        ));
    };
    let units = first.units;
    for (k, p) in probes.iter().enumerate() {
        if p.units != units || units == 0 || p.responses.len() != p.labels.len() * units {
            return Err(AnalysisError::Input(format!(
                "probe {k}: {} responses for {} images of {} units (the first probe has {units})",
                p.responses.len(),
                p.labels.len(),
                p.units
            )));
        }
    }
    Ok(units)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic value in [-1, 1).
    fn noise(state: &mut u64) -> f32 {
        *state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    /// 3 concepts x `per` images over 6 noisy units; concept 2 adds `shift` to units 0..4
    /// (each alone a weak signal), concept 1 nothing at all.
    fn planted(per: usize, shift: f32, seed: u64) -> (Vec<f32>, Vec<usize>) {
        let mut state = seed;
        let labels: Vec<usize> = (0..3 * per).map(|i| i / per).collect();
        let responses = labels
            .iter()
            .flat_map(|&c| {
                (0..6)
                    .map(|u| noise(&mut state) + if c == 2 && u < 4 { shift } else { 0.0 })
                    .collect::<Vec<_>>()
            })
            .collect();
        (responses, labels)
    }

    fn probe<'a>(data: &'a (Vec<f32>, Vec<usize>)) -> Probe<'a> {
        Probe {
            responses: &data.0,
            labels: &data.1,
            units: 6,
        }
    }

    #[test]
    fn a_concept_spread_over_four_units_is_read_better_than_by_any_one() {
        let fit = [planted(60, 0.8, 1), planted(60, 0.8, 2)];
        let other = [planted(60, 0.8, 3), planted(60, 0.8, 4)];
        let fit: Vec<Probe> = fit.iter().map(probe).collect();
        let other: Vec<Probe> = other.iter().map(probe).collect();
        let d = ConceptDirection::fit(&fit, 2).unwrap();
        let s = d.score(&other).unwrap();
        let best_unit = (0..6)
            .map(|u| other.iter().map(|p| p.auroc(u, 2)).fold(1.0, f64::min))
            .fold(0.0, f64::max);
        assert!(s.combined() > 0.95, "{s:?}");
        assert!(best_unit < 0.9, "one unit alone reads it: {best_unit}");
        assert!(s.combined() > best_unit + 0.05, "{s:?} vs {best_unit}");
        // The weight sits on the four shifted units.
        assert!((3.0..=5.0).contains(&s.spread), "{s:?}");
        assert!(d.weights[..4].iter().all(|&w| w > 0.0));
    }

    #[test]
    fn the_spread_does_not_depend_on_how_the_units_are_scaled() {
        // The same responses with one of the four carrying units 100 times larger (as ReLU
        // channels of one layer differ): the read-out is the same, and so is its spread,
        // where the raw weights make that unit's weight 100 times smaller and drop it.
        let fit = planted(60, 0.8, 1);
        let mut scaled = fit.clone();
        for row in scaled.0.chunks_mut(6) {
            row[0] *= 100.0;
        }
        let plain = ConceptDirection::fit(&[probe(&fit)], 2).unwrap();
        let rescaled = ConceptDirection::fit(&[probe(&scaled)], 2).unwrap();
        assert!(
            (plain.spread() - rescaled.spread()).abs() < 1e-3,
            "{plain:?} {rescaled:?}"
        );
        assert!((3.0..=5.0).contains(&rescaled.spread()), "{rescaled:?}");
        let (a, b) = (
            plain.project(&probe(&fit)).unwrap(),
            rescaled.project(&probe(&scaled)).unwrap(),
        );
        assert!(
            a.iter()
                .zip(&b)
                .all(|(x, y)| (x - y).abs() < 1e-3 * (1.0 + x.abs()))
        );
    }

    #[test]
    fn a_layer_that_carries_no_concept_reads_at_chance_on_other_images() {
        // The same noise, once without the planted concept and once with it.
        let (fit, other) = (planted(60, 0.0, 5), planted(60, 0.0, 6));
        let none = concept_directions(&[probe(&fit)], &[probe(&other)], 3).unwrap();
        for s in &none {
            assert!((0.35..0.65).contains(&s.auroc[0]), "{none:?}");
        }
        let (fit, other) = (planted(60, 0.8, 5), planted(60, 0.8, 6));
        let some = concept_directions(&[probe(&fit)], &[probe(&other)], 3).unwrap();
        assert!(some[2].auroc[0] > 0.95, "{some:?}");
    }

    #[test]
    fn bad_probes_are_refused() {
        let data = planted(4, 0.8, 7);
        assert!(ConceptDirection::fit(&[], 0).is_err());
        // No image of concept 3.
        assert!(ConceptDirection::fit(&[probe(&data)], 3).is_err());
        let ragged = Probe {
            responses: &data.0[..data.0.len() - 1],
            labels: &data.1,
            units: 6,
        };
        assert!(ConceptDirection::fit(&[ragged], 0).is_err());
        let d = ConceptDirection::fit(&[probe(&data)], 0).unwrap();
        let narrow = Probe {
            responses: &data.0[..data.1.len() * 3],
            labels: &data.1,
            units: 3,
        };
        assert!(d.project(&narrow).is_err());
    }
}
