//! Multimodality: how well each unit of a layer picks out a concept in each modality (drawn
//! or photographed vs written), as in the multimodal-neurons study.

use burn::tensor::{Tensor, backend::Backend};
use modalscope_model::{Clip, Lesion};
use serde::{Deserialize, Serialize};

use crate::error::{AnalysisError, Result};
use crate::response::{Reduce, unit_responses};
use crate::stats::auroc;
use crate::zeroshot::{LabelledImages, embed_images, similarities};

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
    /// AUROC of `unit` for `concept` against the other concepts (0.5 when undefined).
    pub fn auroc(&self, unit: usize, concept: usize) -> f64 {
        let values = self.responses.chunks(self.units).map(|row| row[unit]);
        concept_auroc(values, self.labels, concept)
    }
}

/// AUROC of per-image `values` for the images of `concept` against all others (0.5 when
/// either side is empty).
pub(crate) fn concept_auroc(
    values: impl IntoIterator<Item = f32>,
    labels: &[usize],
    concept: usize,
) -> f64 {
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    for (v, &label) in values.into_iter().zip(labels) {
        if label == concept {
            pos.push(v);
        } else {
            neg.push(v);
        }
    }
    auroc(&pos, &neg).unwrap_or(0.5)
}

/// The weakest of per-modality AUROCs: high only when every modality separates the concept.
pub(crate) fn weakest(auroc: &[f64]) -> f64 {
    auroc.iter().copied().fold(f64::INFINITY, f64::min)
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
        weakest(&self.auroc)
    }
}

/// The AUROCs of `unit` for `concept` in every probe.
fn score(probes: &[Probe<'_>], unit: usize, concept: usize) -> UnitScore {
    UnitScore {
        unit,
        concept,
        auroc: probes.iter().map(|p| p.auroc(unit, concept)).collect(),
    }
}

/// The highest combined score of a non-empty set.
fn best(scores: impl Iterator<Item = UnitScore>) -> UnitScore {
    scores
        .max_by(|a, b| a.combined().total_cmp(&b.combined()))
        .expect("at least one candidate")
}

/// For every unit, its best concept by combined score across all probes.
pub fn best_concepts(probes: &[Probe<'_>], concepts: usize) -> Vec<UnitScore> {
    let units = probes.first().map_or(0, |p| p.units);
    (0..units)
        .map(|unit| best((0..concepts).map(|concept| score(probes, unit, concept))))
        .collect()
}

/// For every concept, the unit that separates it best by combined score.
pub fn best_units(probes: &[Probe<'_>], concepts: usize) -> Vec<UnitScore> {
    let units = probes.first().map_or(0, |p| p.units);
    (0..concepts)
        .map(|concept| best((0..units).map(|unit| score(probes, unit, concept))))
        .collect()
}

/// Every unit with its best concept, the most multimodal first: by combined score (the
/// weakest modality's AUROC), then by mean AUROC, then by unit index.
pub fn rank_units(probes: &[Probe<'_>], concepts: usize) -> Vec<UnitScore> {
    most_multimodal_first(best_concepts(probes, concepts))
}

/// The units of a concept, the most multimodal for it first (same order as [`rank_units`]).
pub fn units_for_concept(probes: &[Probe<'_>], concept: usize) -> Vec<UnitScore> {
    let units = probes.first().map_or(0, |p| p.units);
    most_multimodal_first(
        (0..units)
            .map(|unit| score(probes, unit, concept))
            .collect(),
    )
}

/// Sorts by combined score, then mean AUROC (both descending), then unit index.
fn most_multimodal_first(mut all: Vec<UnitScore>) -> Vec<UnitScore> {
    sort_weakest_first(&mut all, |s| (&s.auroc, s.unit));
    all
}

/// Sorts items with one value per modality by their weakest value, then their mean (both
/// descending), then unit index: the best in every modality first.
pub(crate) fn sort_weakest_first<T>(items: &mut [T], key: impl Fn(&T) -> (&[f64], usize)) {
    let weakest_mean = |t: &T| {
        let (v, unit) = key(t);
        (
            weakest(v),
            v.iter().sum::<f64>() / v.len().max(1) as f64,
            unit,
        )
    };
    items.sort_by(|a, b| {
        let ((wa, ma, ua), (wb, mb, ub)) = (weakest_mean(a), weakest_mean(b));
        wb.total_cmp(&wa).then(mb.total_cmp(&ma)).then(ua.cmp(&ub))
    });
}

/// What one modality's images say about a unit and its concept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// AUROC of the unit for the concept against the other concepts.
    pub auroc: f64,
    /// Mean response to images of the concept.
    pub mean_concept: f32,
    /// Mean response to images of the other concepts.
    pub mean_others: f32,
    /// Indices (into this modality's image set) of the images that drive the unit most,
    /// strongest first.
    pub top_images: Vec<usize>,
    /// Share of `top_images` that show the concept.
    pub top_precision: f64,
}

/// The evidence for `unit` and `concept` in one probe, with its `k` strongest images.
pub fn evidence(probe: &Probe<'_>, unit: usize, concept: usize, k: usize) -> Evidence {
    let mut order: Vec<usize> = (0..probe.labels.len()).collect();
    let value = |i: usize| probe.responses[i * probe.units + unit];
    order.sort_by(|&a, &b| value(b).total_cmp(&value(a)).then(a.cmp(&b)));
    order.truncate(k);
    let (mut sc, mut nc, mut so, mut no) = (0.0f64, 0usize, 0.0f64, 0usize);
    for (i, &l) in probe.labels.iter().enumerate() {
        if l == concept {
            sc += value(i) as f64;
            nc += 1;
        } else {
            so += value(i) as f64;
            no += 1;
        }
    }
    let hits = order
        .iter()
        .filter(|&&i| probe.labels[i] == concept)
        .count();
    Evidence {
        auroc: probe.auroc(unit, concept),
        mean_concept: (sc / nc.max(1) as f64) as f32,
        mean_others: (so / no.max(1) as f64) as f32,
        top_precision: hits as f64 / order.len().max(1) as f64,
        top_images: order,
    }
}

/// A unit ranked by how well it picks out one concept in every modality, with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultimodalNeuron {
    /// The layer.
    pub layer: String,
    /// The unit.
    pub unit: usize,
    /// Its best concept (by combined score).
    pub concept: usize,
    /// Evidence per modality, in the order the image sets were given (drawn, written).
    pub modalities: Vec<Evidence>,
    /// The combined score: the weakest modality's AUROC.
    pub combined: f64,
    /// Alignment with the text tower's embedding of the concept's name (see
    /// [`text_alignments`]); `None` when not computed.
    pub text_alignment: Option<f64>,
}

/// How much each `(unit, concept)` of `layer` pulls images of the concept towards the text
/// embedding of the concept's name, measured causally.
///
/// For an image `x` of concept `c` (from every set), its zero-shot margin is the cosine
/// similarity of its embedding with the class embedding of `c` minus the mean similarity with
/// the other classes. The alignment is the mean margin lost when the unit is zero-ablated:
/// positive when the neuron moves images of its concept towards that concept's name in the
/// joint space, in cosine units. Unlike a correlation, this holds the image fixed and asks
/// what the unit contributes, so a unit that merely co-occurs with the concept scores 0.
pub fn text_alignments<B: Backend>(
    clip: &Clip<B>,
    layer: &str,
    candidates: &[(usize, usize)],
    sets: &[LabelledImages<B>],
    classes: Tensor<B, 2>,
    batch: usize,
) -> Result<Vec<f64>> {
    let k = classes.dims()[0];
    if k < 2 {
        return Err(AnalysisError::Input(
            "text alignment needs at least two classes".into(),
        ));
    }
    let mut cache: Vec<Option<(Tensor<B, 4>, Vec<f64>)>> = vec![None; k];
    let mut out = Vec::with_capacity(candidates.len());
    for &(unit, concept) in candidates {
        if concept >= k {
            return Err(AnalysisError::Input(format!(
                "concept {concept} is not one of the {k} classes"
            )));
        }
        if cache[concept].is_none() {
            let images = images_of(sets, concept);
            let sims = similarities(embed_images(clip, &images, &[], batch)?, classes.clone());
            cache[concept] = Some((images, concept_margins(&sims, concept)));
        }
        let (images, before) = cache[concept].as_ref().expect("filled above");
        let lesion = Lesion::zero(layer, [unit]);
        let sims = similarities(
            embed_images(clip, images, &[lesion], batch)?,
            classes.clone(),
        );
        out.push(margin_lost(before, &concept_margins(&sims, concept)));
    }
    Ok(out)
}

/// The zero-shot margin of each image for `concept`: its cosine similarity with the class
/// embedding of `concept` minus its mean similarity with the other classes (rows of
/// [`similarities`], at least two classes).
pub fn concept_margins(similarities: &[Vec<f32>], concept: usize) -> Vec<f64> {
    similarities
        .iter()
        .map(|row| {
            let k = row.len().max(2);
            let others =
                (row.iter().map(|&v| v as f64).sum::<f64>() - row[concept] as f64) / (k - 1) as f64;
            row[concept] as f64 - others
        })
        .collect()
}

/// The mean margin lost between `before` and `after` (aligned per image): the text alignment
/// of [`text_alignments`].
pub fn margin_lost(before: &[f64], after: &[f64]) -> f64 {
    let lost: f64 = before.iter().zip(after).map(|(b, a)| b - a).sum();
    lost / before.len().max(1) as f64
}

/// Every image of `concept` in the sets, concatenated.
fn images_of<B: Backend>(sets: &[LabelledImages<B>], concept: usize) -> Tensor<B, 4> {
    Tensor::cat(sets.iter().filter_map(|s| s.of_class(concept)).collect(), 0)
}

/// Responses of every unit of an image-tower layer to each image set, as `(values, units)`.
pub fn layer_responses<B: Backend>(
    clip: &Clip<B>,
    layer: &str,
    sets: &[LabelledImages<B>],
    reduce: Reduce,
    batch: usize,
) -> Result<Vec<(Vec<f32>, usize)>> {
    clip.check_layer(layer)?;
    if layer.starts_with("text.") {
        return Err(AnalysisError::Input(format!(
            "`{layer}` belongs to the text tower; neurons are probed with images, so pick an \
             image-tower layer (vision.*)"
        )));
    }
    sets.iter()
        .map(|s| {
            Ok(unit_responses(
                clip,
                s.images.clone(),
                layer,
                reduce,
                batch,
            )?)
        })
        .collect()
}

/// Ranks the units of an image-tower layer by multimodality: each unit's best concept by
/// the weakest AUROC over the image sets (drawn and written), the `top` best with their
/// evidence (`examples` strongest images per set) and their text alignment (computed for
/// those `top` only, as it runs the model once per unit).
#[allow(clippy::too_many_arguments)] // one analysis, its inputs and its knobs
pub fn multimodal_neurons<B: Backend>(
    clip: &Clip<B>,
    layer: &str,
    sets: &[LabelledImages<B>],
    classes: Tensor<B, 2>,
    reduce: Reduce,
    top: usize,
    examples: usize,
    batch: usize,
) -> Result<Vec<MultimodalNeuron>> {
    if sets.is_empty() {
        return Err(AnalysisError::Input("no image sets to probe with".into()));
    }
    let concepts = classes.dims()[0];
    let responses = layer_responses(clip, layer, sets, reduce, batch)?;
    let probes: Vec<Probe<'_>> = responses
        .iter()
        .zip(sets)
        .map(|((r, units), s)| Probe {
            responses: r,
            labels: &s.labels,
            units: *units,
        })
        .collect();
    let ranked: Vec<UnitScore> = rank_units(&probes, concepts)
        .into_iter()
        .take(top)
        .collect();
    let pairs: Vec<(usize, usize)> = ranked.iter().map(|s| (s.unit, s.concept)).collect();
    let align = text_alignments(clip, layer, &pairs, sets, classes, batch)?;
    Ok(ranked
        .iter()
        .zip(align)
        .map(|(s, a)| MultimodalNeuron {
            layer: layer.to_string(),
            unit: s.unit,
            concept: s.concept,
            modalities: probes
                .iter()
                .map(|p| evidence(p, s.unit, s.concept, examples))
                .collect(),
            combined: s.combined(),
            text_alignment: Some(a),
        })
        .collect())
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

        // The ranking puts the planted unit first, and its evidence shows it.
        let ranked = rank_units(&probes, 3);
        assert_eq!((ranked[0].unit, ranked[0].concept), (1, 2));
        assert_eq!(ranked[0].combined(), 1.0);
        assert_eq!(units_for_concept(&probes, 2)[0].unit, 1);
        let e = evidence(&probes[1], 1, 2, 4);
        assert_eq!(e.auroc, 1.0);
        assert_eq!(e.top_images, vec![11, 10, 9, 8]);
        assert_eq!(e.top_precision, 1.0);
        assert!(e.mean_concept > e.mean_others);
    }
}
