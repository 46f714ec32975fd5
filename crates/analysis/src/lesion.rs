//! Lesion experiments: zero-shot accuracy per concept before and after silencing units.

use burn::tensor::{Tensor, backend::Backend};
use modalscope_model::{Activation, Capture, Clip, Lesion};
use serde::{Deserialize, Serialize};

use crate::error::{AnalysisError, Result};
use crate::multimodal::{concept_margins, margin_lost, sort_weakest_first, weakest};
use crate::zeroshot::{
    ClassPrompts, LabelledImages, class_embeddings, classify, embed_images, per_class_counts,
    ratio, similarities,
};

/// How one concept fares under a lesion, on each image set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConceptChange {
    /// The concept.
    pub concept: usize,
    /// Zero-shot accuracy on each image set before the lesion.
    pub before: Vec<f64>,
    /// The same after the lesion.
    pub after: Vec<f64>,
}

impl ConceptChange {
    /// Mean accuracy over the image sets before the lesion.
    pub fn mean_before(&self) -> f64 {
        mean(&self.before)
    }

    /// Mean accuracy over the image sets after the lesion.
    pub fn mean_after(&self) -> f64 {
        mean(&self.after)
    }

    /// Accuracy lost (mean over image sets; negative when the lesion helps).
    pub fn drop(&self) -> f64 {
        self.mean_before() - self.mean_after()
    }
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// The outcome of a lesion experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LesionReport {
    /// What was silenced.
    pub lesions: Vec<Lesion>,
    /// Overall accuracy on each image set before the lesion.
    pub before: Vec<f64>,
    /// Overall accuracy on each image set after the lesion.
    pub after: Vec<f64>,
    /// Every concept, the largest drop first (ties: lower concept index first).
    pub concepts: Vec<ConceptChange>,
}

impl LesionReport {
    /// The entry of one concept.
    pub fn concept(&self, concept: usize) -> Option<&ConceptChange> {
        self.concepts.iter().find(|c| c.concept == concept)
    }

    /// Mean drop over every concept except `concept`.
    pub fn mean_drop_except(&self, concept: usize) -> f64 {
        let others: Vec<f64> = self
            .concepts
            .iter()
            .filter(|c| c.concept != concept)
            .map(ConceptChange::drop)
            .collect();
        mean(&others)
    }
}

/// Builds the report from predictions per image set (`before[s]`, `after[s]` aligned with
/// `labels[s]`), sorting concepts by drop.
pub fn lesion_report(
    lesions: Vec<Lesion>,
    labels: &[&[usize]],
    before: &[Vec<usize>],
    after: &[Vec<usize>],
    concepts: usize,
) -> LesionReport {
    let counts = |preds: &[Vec<usize>]| -> Vec<Vec<(usize, usize)>> {
        preds
            .iter()
            .zip(labels)
            .map(|(p, l)| per_class_counts(p, l, concepts))
            .collect()
    };
    let (cb, ca) = (counts(before), counts(after));
    let overall = |preds: &[Vec<usize>]| -> Vec<f64> {
        preds
            .iter()
            .zip(labels)
            .map(|(p, l)| ratio(p.iter().zip(*l).filter(|(a, b)| a == b).count(), l.len()))
            .collect()
    };
    let mut rows: Vec<ConceptChange> = (0..concepts)
        .map(|c| ConceptChange {
            concept: c,
            before: cb.iter().map(|s| ratio(s[c].0, s[c].1)).collect(),
            after: ca.iter().map(|s| ratio(s[c].0, s[c].1)).collect(),
        })
        .collect();
    rows.sort_by(|a, b| {
        b.drop()
            .total_cmp(&a.drop())
            .then(a.concept.cmp(&b.concept))
    });
    LesionReport {
        lesions,
        before: overall(before),
        after: overall(after),
        concepts: rows,
    }
}

/// Zero-shot accuracy per concept on each image set, before and after silencing `lesions`
/// (in either tower: text-tower lesions change the class embeddings).
pub fn lesion_experiment<B: Backend>(
    clip: &Clip<B>,
    sets: &[LabelledImages<B>],
    prompts: &ClassPrompts,
    lesions: &[Lesion],
    batch: usize,
) -> Result<LesionReport> {
    for l in lesions {
        clip.check_lesion(l)?;
    }
    let concepts = prompts.classes();
    if let Some(bad) = sets
        .iter()
        .flat_map(|s| &s.labels)
        .find(|&&l| l >= concepts)
    {
        return Err(AnalysisError::Input(format!(
            "label {bad} is not one of the {concepts} classes"
        )));
    }
    let classes = class_embeddings(clip, prompts, &[])?;
    let text_lesioned = lesions.iter().any(|l| l.layer.starts_with("text."));
    let lesioned_classes = if text_lesioned {
        class_embeddings(clip, prompts, lesions)?
    } else {
        classes.clone()
    };
    let mut before = Vec::new();
    let mut after = Vec::new();
    for set in sets {
        before.push(classify(clip, &set.images, classes.clone(), &[], batch)?);
        after.push(classify(
            clip,
            &set.images,
            lesioned_classes.clone(),
            lesions,
            batch,
        )?);
    }
    let labels: Vec<&[usize]> = sets.iter().map(|s| s.labels.as_slice()).collect();
    Ok(lesion_report(
        lesions.to_vec(),
        &labels,
        &before,
        &after,
        concepts,
    ))
}

/// What silencing one unit alone costs one concept, in each image set (modality).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitCost {
    /// The unit.
    pub unit: usize,
    /// The concept.
    pub concept: usize,
    /// Zero-shot margin (cosine) towards the concept's name that the concept's images of each
    /// set lose when the unit is silenced, in the order the sets were given.
    pub lost: Vec<f64>,
}

impl UnitCost {
    /// The smallest loss over the sets: high only when the concept needs the unit in every
    /// modality.
    pub fn weakest(&self) -> f64 {
        weakest(&self.lost)
    }
}

/// For every unit of an image-tower layer, what silencing it alone (held at `values[unit]`:
/// zeros, or [`unit_means`] for mean ablation) costs `concept`'s images of each set in zero-shot
/// margin against `classes` (normalized class embeddings); the units a concept needs come
/// first (by the weakest set's loss, then the mean loss, then unit index).
///
/// Where a unit's firing tells how well it separates a concept (AUROC), this tells what the
/// model's reading of the concept takes from it, holding the image fixed: the units a lesion
/// of the concept should silence.
pub fn units_needed<B: Backend>(
    clip: &Clip<B>,
    layer: &str,
    values: &[f32],
    sets: &[LabelledImages<B>],
    classes: Tensor<B, 2>,
    concept: usize,
    batch: usize,
) -> Result<Vec<UnitCost>> {
    clip.check_layer(layer)?;
    let units = clip.layer_units(layer)?;
    if values.len() != units {
        return Err(AnalysisError::Input(format!(
            "{} hold values for the {units} units of `{layer}`",
            values.len()
        )));
    }
    let k = classes.dims()[0];
    if concept >= k || k < 2 {
        return Err(AnalysisError::Input(format!(
            "concept {concept} is not one of the {k} classes (at least two are needed)"
        )));
    }
    let mut per_set = Vec::with_capacity(sets.len());
    for set in sets {
        let images = set.of_class(concept).ok_or_else(|| {
            AnalysisError::Input(format!("an image set has no image of concept {concept}"))
        })?;
        let margins = |lesions: &[Lesion]| -> Result<Vec<f64>> {
            let sims = similarities(
                embed_images(clip, &images, lesions, batch)?,
                classes.clone(),
            );
            Ok(concept_margins(&sims, concept))
        };
        let before = margins(&[])?;
        let lost = (0..units)
            .map(|u| {
                let after = margins(&[Lesion::mean(layer, [u], [values[u]])])?;
                Ok(margin_lost(&before, &after))
            })
            .collect::<Result<Vec<f64>>>()?;
        per_set.push(lost);
    }
    Ok(most_needed_first(
        (0..units)
            .map(|unit| UnitCost {
                unit,
                concept,
                lost: per_set.iter().map(|l| l[unit]).collect(),
            })
            .collect(),
    ))
}

/// Sorts units by what they cost a concept: the weakest set's loss, then the mean loss (both
/// descending), then unit index; the order of [`units_needed`].
pub fn most_needed_first(mut costs: Vec<UnitCost>) -> Vec<UnitCost> {
    sort_weakest_first(&mut costs, |c| (&c.lost, c.unit));
    costs
}

/// The mean of every unit of an image-tower layer over `images` and every position (class
/// token included): the values mean ablation holds the units at.
pub fn unit_means<B: Backend>(
    clip: &Clip<B>,
    images: &Tensor<B, 4>,
    layer: &str,
    batch: usize,
) -> Result<Vec<f32>> {
    clip.check_layer(layer)?;
    if layer.starts_with("text.") {
        return Err(AnalysisError::Input(format!(
            "`{layer}` belongs to the text tower; mean ablation values come from images"
        )));
    }
    let [n, c, h, w] = images.dims();
    let mut sum: Option<Tensor<B, 1>> = None;
    let mut count = 0usize;
    for s in (0..n).step_by(batch.max(1)) {
        let part = images
            .clone()
            .slice([s..(s + batch.max(1)).min(n), 0..c, 0..h, 0..w]);
        let (part_sum, part_count) = unit_sums(clip, part, layer)?;
        count += part_count;
        sum = Some(match sum {
            Some(acc) => acc + part_sum,
            None => part_sum,
        });
    }
    let sum = sum.ok_or_else(|| AnalysisError::Input("no images".into()))?;
    Ok(sum
        .div_scalar(count as f32)
        .into_data()
        .convert::<f32>()
        .into_vec()
        .expect("f32 means"))
}

/// The sum of every unit of an image-tower layer over a batch of images and every position
/// (class token included), with the number of values summed per unit: one batch of
/// [`unit_means`].
pub fn unit_sums<B: Backend>(
    clip: &Clip<B>,
    images: Tensor<B, 4>,
    layer: &str,
) -> Result<(Tensor<B, 1>, usize)> {
    let mut cap = Capture::only([layer]);
    let _ = clip.encode_image_with(images, &mut cap);
    let act = cap
        .take(layer)
        .ok_or_else(|| AnalysisError::Input(format!("`{layer}` was not recorded")))?;
    let x = match act {
        Activation::Tokens { tensor, .. } => tensor,
        other => other.positions(),
    };
    let [b, t, u] = x.dims();
    Ok((x.reshape([b * t, u]).sum_dim(0).reshape([u]), b * t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_sorts_concepts_by_drop() {
        // Two image sets, three concepts; the lesion breaks concept 1 everywhere and concept
        // 2 on the second set only.
        let labels_a = [0, 0, 1, 1, 2, 2];
        let labels_b = [0, 1, 1, 2];
        let before = vec![vec![0, 0, 1, 1, 2, 2], vec![0, 1, 1, 2]];
        let after = vec![vec![0, 0, 0, 2, 2, 2], vec![0, 0, 0, 1]];
        let r = lesion_report(
            vec![Lesion::zero("x", [1])],
            &[&labels_a, &labels_b],
            &before,
            &after,
            3,
        );
        let order: Vec<usize> = r.concepts.iter().map(|c| c.concept).collect();
        assert_eq!(order, vec![1, 2, 0]);
        assert_eq!(r.concepts[0].before, vec![1.0, 1.0]);
        assert_eq!(r.concepts[0].after, vec![0.0, 0.0]);
        assert_eq!(r.concepts[0].drop(), 1.0);
        assert_eq!(r.concept(2).unwrap().drop(), 0.5);
        assert_eq!(r.mean_drop_except(1), 0.25);
        assert_eq!(r.before, vec![1.0, 1.0]);
        assert!((r.after[0] - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(r.after[1], 0.25);
    }
}
