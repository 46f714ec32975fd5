//! Multimodality: how well each unit of a layer picks out a concept in each modality (drawn
//! or photographed vs written), as in the multimodal-neurons study.

use serde::{Deserialize, Serialize};

use crate::stats::auroc;

/// Responses of every unit to one modality's images, with each image's concept.
#[derive(Debug, Clone)]
pub struct Probe<'a> {
    /// `[images × units]`, row-major.
    pub responses: &'a [f32],
    /// Concept of each image.
    pub labels: &'a [usize],
    /// Units per image.
    pub units: usize,
}

impl Probe<'_> {
    /// The responses of one unit, split into images of `concept` and all others.
    fn split(&self, unit: usize, concept: usize) -> (Vec<f32>, Vec<f32>) {
        let mut pos = Vec::new();
        let mut neg = Vec::new();
        for (row, &label) in self.responses.chunks(self.units).zip(self.labels) {
            if label == concept {
                pos.push(row[unit]);
            } else {
                neg.push(row[unit]);
            }
        }
        (pos, neg)
    }

    /// AUROC of `unit` for `concept` against the other concepts (0.5 when undefined).
    pub fn auroc(&self, unit: usize, concept: usize) -> f64 {
        let (p, n) = self.split(unit, concept);
        auroc(&p, &n).unwrap_or(0.5)
    }
}

/// How one unit separates one concept, per modality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitScore {
    /// The unit.
    pub unit: usize,
    /// The concept.
    pub concept: usize,
    /// AUROC on each modality's images, in the order the probes were given.
    pub auroc: Vec<f64>,
}

impl UnitScore {
    /// The weakest modality's AUROC: high only when every modality separates the concept.
    pub fn combined(&self) -> f64 {
        self.auroc.iter().copied().fold(f64::INFINITY, f64::min)
    }
}

/// For every unit, its best concept by combined score across all probes.
pub fn best_concepts(probes: &[Probe<'_>], concepts: usize) -> Vec<UnitScore> {
    let units = probes.first().map_or(0, |p| p.units);
    (0..units)
        .map(|unit| {
            (0..concepts)
                .map(|concept| UnitScore {
                    unit,
                    concept,
                    auroc: probes.iter().map(|p| p.auroc(unit, concept)).collect(),
                })
                .max_by(|a, b| a.combined().total_cmp(&b.combined()))
                .expect("at least one concept")
        })
        .collect()
}

/// For every concept, the unit that separates it best by combined score.
pub fn best_units(probes: &[Probe<'_>], concepts: usize) -> Vec<UnitScore> {
    let units = probes.first().map_or(0, |p| p.units);
    (0..concepts)
        .map(|concept| {
            (0..units)
                .map(|unit| UnitScore {
                    unit,
                    concept,
                    auroc: probes.iter().map(|p| p.auroc(unit, concept)).collect(),
                })
                .max_by(|a, b| a.combined().total_cmp(&b.combined()))
                .expect("at least one unit")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planted_multimodal_unit_is_found() {
        // 3 concepts x 4 images, 3 units: unit 1 fires for concept 2 in both modalities,
        // unit 0 only in the first, unit 2 is noise.
        let labels: Vec<usize> = (0..12).map(|i| i / 4).collect();
        let make = |both: bool| -> Vec<f32> {
            labels
                .iter()
                .enumerate()
                .flat_map(|(i, &c)| {
                    let u0 = if both && c == 2 {
                        5.0
                    } else {
                        1.0 - 0.1 * i as f32
                    };
                    let u1 = if c == 2 {
                        3.0 + i as f32 * 0.01
                    } else {
                        i as f32 * 0.1
                    };
                    let u2 = ((i * 7) % 5) as f32;
                    [u0, u1, u2]
                })
                .collect()
        };
        let (a, b) = (make(true), make(false));
        let probes = [
            Probe {
                responses: &a,
                labels: &labels,
                units: 3,
            },
            Probe {
                responses: &b,
                labels: &labels,
                units: 3,
            },
        ];
        let best = best_units(&probes, 3);
        assert_eq!(best[2].unit, 1);
        assert_eq!(best[2].auroc, vec![1.0, 1.0]);
        let per_unit = best_concepts(&probes, 3);
        assert_eq!(per_unit[1].concept, 2);
        assert!(per_unit[0].combined() < 1.0);
    }
}
