//! Typographic attacks: a concept's drawing with another concept's name written on it.

use burn::tensor::{Tensor, backend::Backend};
use modalscope_model::Clip;
use serde::{Deserialize, Serialize};

use crate::error::{AnalysisError, Result};
use crate::zeroshot::{LabelledImages, classify, ratio};

/// One attacked image: a drawing of `concept` with the name of `written` on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttackCase {
    /// The concept drawn.
    pub concept: usize,
    /// The concept whose name is written.
    pub written: usize,
}

/// How one concept's drawings fare when other names are written on them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConceptAttack {
    /// The concept drawn.
    pub concept: usize,
    /// Clean drawings of it classified as it.
    pub clean_accuracy: f64,
    /// Attacked drawings still classified as it.
    pub attacked_accuracy: f64,
    /// Attacked drawings classified as the written word.
    pub flip_rate: f64,
    /// Number of attacked drawings.
    pub attacked: usize,
}

/// The outcome of a typographic attack on every concept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttackReport {
    /// Every concept with attacked images, the highest flip rate first.
    pub concepts: Vec<ConceptAttack>,
    /// Accuracy on the clean drawings.
    pub clean_accuracy: f64,
    /// Accuracy on the attacked drawings (the drawn concept predicted).
    pub attacked_accuracy: f64,
    /// Share of attacked drawings predicted as the written word.
    pub flip_rate: f64,
    /// Share of concepts whose attacked drawings are predicted as the written word more
    /// often than not (flip rate above 0.5).
    pub flipped_concepts: f64,
    /// Attacked drawings predicted as a third concept (neither drawn nor written), counted
    /// by that concept: where the attacks that neither hold nor flip land.
    pub elsewhere: Vec<usize>,
}

impl AttackReport {
    /// The third concepts attacked drawings landed on, with their counts, most often first
    /// (ties by concept order).
    pub fn elsewhere_most_often(&self) -> Vec<(usize, usize)> {
        let mut most: Vec<(usize, usize)> = self
            .elsewhere
            .iter()
            .copied()
            .enumerate()
            .filter(|&(_, count)| count > 0)
            .collect();
        most.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        most
    }
}

/// Builds the report from predictions: `clean` with `clean_labels`, `attacked` with `cases`.
pub fn attack_report(
    clean: &[usize],
    clean_labels: &[usize],
    attacked: &[usize],
    cases: &[AttackCase],
    concepts: usize,
) -> AttackReport {
    let mut rows = Vec::new();
    for c in 0..concepts {
        let (mut right, mut total) = (0, 0);
        for (&p, &l) in clean.iter().zip(clean_labels) {
            if l == c {
                total += 1;
                right += usize::from(p == l);
            }
        }
        let (mut kept, mut flipped, mut n) = (0, 0, 0);
        for (&p, case) in attacked.iter().zip(cases) {
            if case.concept == c {
                n += 1;
                kept += usize::from(p == case.concept);
                flipped += usize::from(p == case.written);
            }
        }
        if n > 0 {
            rows.push(ConceptAttack {
                concept: c,
                clean_accuracy: ratio(right, total),
                attacked_accuracy: ratio(kept, n),
                flip_rate: ratio(flipped, n),
                attacked: n,
            });
        }
    }
    rows.sort_by(|a, b| {
        b.flip_rate
            .total_cmp(&a.flip_rate)
            .then(a.concept.cmp(&b.concept))
    });
    let n = attacked.len().min(cases.len());
    let flipped = attacked
        .iter()
        .zip(cases)
        .filter(|(p, c)| **p == c.written)
        .count();
    let kept = attacked
        .iter()
        .zip(cases)
        .filter(|(p, c)| **p == c.concept)
        .count();
    let clean_right = clean
        .iter()
        .zip(clean_labels)
        .filter(|(p, l)| p == l)
        .count();
    let flipped_concepts = ratio(
        rows.iter().filter(|r| r.flip_rate > 0.5).count(),
        rows.len(),
    );
    let mut elsewhere = vec![0; concepts];
    for (&p, case) in attacked.iter().zip(cases) {
        if p != case.concept && p != case.written && p < concepts {
            elsewhere[p] += 1;
        }
    }
    AttackReport {
        concepts: rows,
        clean_accuracy: ratio(clean_right, clean_labels.len()),
        attacked_accuracy: ratio(kept, n),
        flip_rate: ratio(flipped, n),
        flipped_concepts,
        elsewhere,
    }
}

/// Zero-shot predictions of clean and attacked drawings against `classes` (normalized class
/// embeddings), summarised per concept.
pub fn typographic_attack<B: Backend>(
    clip: &Clip<B>,
    clean: &LabelledImages<B>,
    attacked: &Tensor<B, 4>,
    cases: &[AttackCase],
    classes: Tensor<B, 2>,
    batch: usize,
) -> Result<AttackReport> {
    let concepts = classes.dims()[0];
    if attacked.dims()[0] != cases.len() {
        return Err(AnalysisError::Input(format!(
            "{} attacked images but {} attack cases",
            attacked.dims()[0],
            cases.len()
        )));
    }
    if let Some(bad) = cases
        .iter()
        .find(|c| c.concept >= concepts || c.written >= concepts)
    {
        return Err(AnalysisError::Input(format!(
            "attack case {bad:?} names a class beyond the {concepts} classes"
        )));
    }
    let clean_pred = classify(clip, &clean.images, classes.clone(), &[], batch)?;
    let attacked_pred = classify(clip, attacked, classes, &[], batch)?;
    Ok(attack_report(
        &clean_pred,
        &clean.labels,
        &attacked_pred,
        cases,
        concepts,
    ))
}

/// A unit whose response changes when the word is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitChange {
    /// The unit.
    pub unit: usize,
    /// Mean response before.
    pub before: f32,
    /// Mean response after.
    pub after: f32,
}

impl UnitChange {
    /// `after - before`.
    pub fn delta(&self) -> f32 {
        self.after - self.before
    }
}

/// The `k` units whose mean response changes most (by absolute value) between paired
/// responses `before` and `after` (`[images × units]`, row-major).
pub fn most_changed_units(
    before: &[f32],
    after: &[f32],
    units: usize,
    k: usize,
) -> Vec<UnitChange> {
    let rows = before.len().checked_div(units).unwrap_or(0).max(1) as f32;
    let mut mb = vec![0.0f32; units];
    let mut ma = vec![0.0f32; units];
    for (i, (&b, &a)) in before.iter().zip(after).enumerate() {
        mb[i % units] += b / rows;
        ma[i % units] += a / rows;
    }
    let mut out: Vec<UnitChange> = (0..units)
        .map(|unit| UnitChange {
            unit,
            before: mb[unit],
            after: ma[unit],
        })
        .collect();
    out.sort_by(|a, b| {
        b.delta()
            .abs()
            .total_cmp(&a.delta().abs())
            .then(a.unit.cmp(&b.unit))
    });
    out.truncate(k);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flips_are_counted_per_concept() {
        // Concept 0: both attacked images read as the word; concept 1: one of two; concept
        // 2: none (it resists).
        let cases = [
            AttackCase {
                concept: 0,
                written: 1,
            },
            AttackCase {
                concept: 0,
                written: 2,
            },
            AttackCase {
                concept: 1,
                written: 0,
            },
            AttackCase {
                concept: 1,
                written: 2,
            },
            AttackCase {
                concept: 2,
                written: 0,
            },
        ];
        let attacked = [1, 2, 0, 1, 2];
        let clean = [0, 0, 1, 2, 2];
        let clean_labels = [0, 0, 1, 1, 2];
        let r = attack_report(&clean, &clean_labels, &attacked, &cases, 3);
        let order: Vec<usize> = r.concepts.iter().map(|c| c.concept).collect();
        assert_eq!(order, vec![0, 1, 2]);
        assert_eq!(r.concepts[0].flip_rate, 1.0);
        assert_eq!(r.concepts[1].flip_rate, 0.5);
        assert_eq!(r.concepts[1].attacked_accuracy, 0.5);
        assert_eq!(r.concepts[1].clean_accuracy, 0.5);
        assert_eq!(r.concepts[2].flip_rate, 0.0);
        assert_eq!(r.concepts[2].attacked_accuracy, 1.0);
        assert_eq!(r.flip_rate, 3.0 / 5.0);
        assert_eq!(r.attacked_accuracy, 2.0 / 5.0);
        assert_eq!(r.clean_accuracy, 4.0 / 5.0);
        // Only concept 0 flips more often than not.
        assert!((r.flipped_concepts - 1.0 / 3.0).abs() < 1e-12);
        // Every attacked drawing held or flipped: none landed on a third concept.
        assert_eq!(r.elsewhere, vec![0, 0, 0]);
    }

    #[test]
    fn attacks_that_neither_hold_nor_flip_are_counted_where_they_land() {
        let case = |concept, written| AttackCase { concept, written };
        let cases = [case(0, 1), case(0, 1), case(1, 2), case(1, 2), case(2, 0)];
        // Two land on 2, one on 0, one flips (to 2), one holds (2).
        let attacked = [2, 2, 0, 2, 2];
        let r = attack_report(&[0, 1, 2], &[0, 1, 2], &attacked, &cases, 3);
        assert_eq!(r.elsewhere, vec![1, 0, 2]);
        assert_eq!(r.elsewhere_most_often(), vec![(2, 2), (0, 1)]);
        let landed: usize = r.elsewhere.iter().sum();
        let n = cases.len() as f64;
        assert!((landed as f64 / n - (1.0 - r.flip_rate - r.attacked_accuracy)).abs() < 1e-12);
    }

    #[test]
    fn most_changed_units_rank_by_absolute_change() {
        // Two images, three units.
        let before = [1.0, 0.0, 5.0, 1.0, 0.0, 5.0];
        let after = [1.0, 2.0, 2.0, 1.0, 2.0, 2.0];
        let top = most_changed_units(&before, &after, 3, 2);
        assert_eq!(top.iter().map(|u| u.unit).collect::<Vec<_>>(), vec![2, 1]);
        assert_eq!(top[0].delta(), -3.0);
        assert_eq!(top[1].delta(), 2.0);
    }
}
