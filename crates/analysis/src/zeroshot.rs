//! Zero-shot classification with class prompts, optionally with units silenced.

use burn::tensor::{Int, Tensor, TensorData, backend::Backend};
use modalscope_model::{Clip, Lesion, normalize};
use serde::{Deserialize, Serialize};

use crate::error::{AnalysisError, Result};

/// Normalized images `[n, 3, size, size]` with the concept of each.
#[derive(Debug, Clone)]
pub struct LabelledImages<B: Backend> {
    /// The images, normalized for the model.
    pub images: Tensor<B, 4>,
    /// The concept of each image.
    pub labels: Vec<usize>,
}

impl<B: Backend> LabelledImages<B> {
    /// Pairs images with labels, checking the counts agree.
    pub fn new(images: Tensor<B, 4>, labels: Vec<usize>) -> Result<Self> {
        if images.dims()[0] != labels.len() {
            return Err(AnalysisError::Input(format!(
                "{} images but {} labels",
                images.dims()[0],
                labels.len()
            )));
        }
        Ok(Self { images, labels })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The images of one class, in order; `None` when there are none.
    pub fn of_class(&self, class: usize) -> Option<Tensor<B, 4>> {
        let idx: Vec<i64> = self
            .labels
            .iter()
            .enumerate()
            .filter(|&(_, &l)| l == class)
            .map(|(i, _)| i as i64)
            .collect();
        if idx.is_empty() {
            return None;
        }
        let n = idx.len();
        let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [n]), &self.images.device());
        Some(self.images.clone().select(0, idx))
    }
}

/// The token ids of every class's prompts (one sequence per template, equal lengths).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassPrompts {
    /// `ids[class][template]`: a padded token sequence.
    pub ids: Vec<Vec<Vec<u32>>>,
}

impl ClassPrompts {
    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.ids.len()
    }
}

/// Normalized class embeddings `[classes, dim]`: the mean of the normalized embeddings of a
/// class's prompts, normalized again (CLIP's prompt ensembling), with `lesions` applied.
pub fn class_embeddings<B: Backend>(
    clip: &Clip<B>,
    prompts: &ClassPrompts,
    lesions: &[Lesion],
) -> Result<Tensor<B, 2>> {
    let per: Vec<usize> = prompts.ids.iter().map(Vec::len).collect();
    if prompts.ids.is_empty() || per.contains(&0) {
        return Err(AnalysisError::Input("every class needs a prompt".into()));
    }
    let flat: Vec<Vec<u32>> = prompts.ids.iter().flatten().cloned().collect();
    let same_length = flat.iter().all(|s| s.len() == flat[0].len());
    let embeds = if same_length {
        normalize(clip.encode_text_lesioned(&flat, lesions)?)
    } else {
        let parts = prompts
            .ids
            .iter()
            .map(|ids| clip.encode_text_lesioned(ids, lesions).map(normalize))
            .collect::<Result<Vec<_>, _>>()?;
        Tensor::cat(parts, 0)
    };
    let dim = embeds.dims()[1];
    let mut rows = Vec::with_capacity(per.len());
    let mut start = 0;
    for n in per {
        rows.push(embeds.clone().slice([start..start + n, 0..dim]).mean_dim(0));
        start += n;
    }
    Ok(normalize(Tensor::cat(rows, 0)))
}

/// Image embeddings (normalized) of `images`, `batch` at a time, with `lesions` applied.
pub fn embed_images<B: Backend>(
    clip: &Clip<B>,
    images: &Tensor<B, 4>,
    lesions: &[Lesion],
    batch: usize,
) -> Result<Tensor<B, 2>> {
    let [n, c, h, w] = images.dims();
    let parts = (0..n)
        .step_by(batch.max(1))
        .map(|s| {
            let part = images
                .clone()
                .slice([s..(s + batch.max(1)).min(n), 0..c, 0..h, 0..w]);
            clip.encode_image_lesioned(part, lesions).map(normalize)
        })
        .collect::<Result<Vec<_>, _>>()?;
    if parts.is_empty() {
        return Err(AnalysisError::Input("no images".into()));
    }
    Ok(Tensor::cat(parts, 0))
}

/// Cosine similarities `[images, classes]` of normalized embeddings, as host rows.
pub fn similarities<B: Backend>(
    image_embeds: Tensor<B, 2>,
    classes: Tensor<B, 2>,
) -> Vec<Vec<f32>> {
    let k = classes.dims()[0];
    let sims: Vec<f32> = image_embeds
        .matmul(classes.transpose())
        .into_data()
        .convert::<f32>()
        .into_vec()
        .expect("f32 similarities");
    sims.chunks(k.max(1)).map(<[f32]>::to_vec).collect()
}

/// The best class of each row of similarities (the first on ties).
pub fn predict(similarities: &[Vec<f32>]) -> Vec<usize> {
    similarities
        .iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
                    if v > best.1 { (i, v) } else { best }
                })
                .0
        })
        .collect()
}

/// Zero-shot predictions of `images` against `classes` (normalized), with `lesions` applied to
/// the image tower.
pub fn classify<B: Backend>(
    clip: &Clip<B>,
    images: &Tensor<B, 4>,
    classes: Tensor<B, 2>,
    lesions: &[Lesion],
    batch: usize,
) -> Result<Vec<usize>> {
    let e = embed_images(clip, images, lesions, batch)?;
    Ok(predict(&similarities(e, classes)))
}

/// Accuracy per class: `(right, total)` counts for classes `0..classes`.
pub fn per_class_counts(
    predicted: &[usize],
    labels: &[usize],
    classes: usize,
) -> Vec<(usize, usize)> {
    let mut counts = vec![(0, 0); classes];
    for (&p, &l) in predicted.iter().zip(labels) {
        if let Some(c) = counts.get_mut(l) {
            c.1 += 1;
            if p == l {
                c.0 += 1;
            }
        }
    }
    counts
}

/// `right / total`, 0 when there is nothing to count.
pub fn ratio(right: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        right as f64 / total as f64
    }
}

/// Zero-shot accuracy of one class, as counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassAccuracy {
    /// The class.
    pub class: usize,
    /// Its images classified as it.
    pub right: usize,
    /// Its images.
    pub total: usize,
}

/// How often images of one class were classified as another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confusion {
    /// The class the images show.
    pub class: usize,
    /// The class they were taken for.
    pub predicted: usize,
    /// How many images.
    pub count: usize,
}

/// What zero-shot classification got right and where its errors went: the figures behind a
/// single accuracy, so one can see which classes a model cannot tell apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZeroShotReport {
    /// Share of images classified as their own class.
    pub accuracy: f64,
    /// Every class with images, worst first (ties in class order).
    pub classes: Vec<ClassAccuracy>,
    /// Every (class, taken-for class) pair that occurred, most frequent first (ties in class
    /// order).
    pub confusions: Vec<Confusion>,
}

/// The report of `predicted` classes for images of `labels` (classes `0..classes`).
pub fn zero_shot_report(predicted: &[usize], labels: &[usize], classes: usize) -> ZeroShotReport {
    let counts = per_class_counts(predicted, labels, classes);
    let mut per: Vec<ClassAccuracy> = counts
        .iter()
        .enumerate()
        .filter(|(_, (_, total))| *total > 0)
        .map(|(class, &(right, total))| ClassAccuracy {
            class,
            right,
            total,
        })
        .collect();
    per.sort_by(|a, b| {
        (a.right * b.total)
            .cmp(&(b.right * a.total))
            .then(a.class.cmp(&b.class))
    });
    let mut pairs = vec![0usize; classes * classes];
    for (&p, &l) in predicted.iter().zip(labels) {
        if p != l && p < classes && l < classes {
            pairs[l * classes + p] += 1;
        }
    }
    let mut confusions: Vec<Confusion> = pairs
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(i, &count)| Confusion {
            class: i / classes,
            predicted: i % classes,
            count,
        })
        .collect();
    confusions.sort_by_key(|c| std::cmp::Reverse(c.count));
    let right: usize = per.iter().map(|c| c.right).sum();
    let total: usize = per.iter().map(|c| c.total).sum();
    ZeroShotReport {
        accuracy: ratio(right, total),
        classes: per,
        confusions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_count_each_class_and_each_confusion() {
        // Class 0: 2 of 2 right; class 1: 1 of 3 (taken for 2 twice); class 2: 0 of 2 (taken
        // for 1 and 0); class 3 has no images.
        let labels = [0, 0, 1, 1, 1, 2, 2];
        let predicted = [0, 0, 2, 1, 2, 1, 0];
        let r = zero_shot_report(&predicted, &labels, 4);
        assert_eq!(r.accuracy, 3.0 / 7.0);
        let per: Vec<_> = r
            .classes
            .iter()
            .map(|c| (c.class, c.right, c.total))
            .collect();
        assert_eq!(per, vec![(2, 0, 2), (1, 1, 3), (0, 2, 2)]);
        let conf: Vec<_> = r
            .confusions
            .iter()
            .map(|c| (c.class, c.predicted, c.count))
            .collect();
        assert_eq!(conf, vec![(1, 2, 2), (2, 0, 1), (2, 1, 1)]);
    }

    #[test]
    fn predictions_and_counts() {
        let sims = vec![
            vec![0.1, 0.9, 0.2],
            vec![0.5, 0.5, 0.1],
            vec![0.0, 0.1, 0.3],
        ];
        assert_eq!(predict(&sims), vec![1, 0, 2]);
        let counts = per_class_counts(&[1, 0, 2, 2], &[1, 1, 2, 0], 3);
        assert_eq!(counts, vec![(0, 1), (1, 2), (1, 1)]);
        assert_eq!(ratio(1, 2), 0.5);
        assert_eq!(ratio(0, 0), 0.0);
    }
}
