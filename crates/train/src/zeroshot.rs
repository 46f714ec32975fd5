//! Zero-shot classification: which concept's text embedding is closest to each image's.

use burn::tensor::{Tensor, backend::Backend};
use modalscope_model::{Clip, normalize};
use modalscope_tokenizer::ClipTokenizer;

/// Prompt templates averaged into one text embedding per class (CLIP's prompt ensembling);
/// they name the concept as a picture and as a word alike.
pub use modalscope_synth::ZERO_SHOT_TEMPLATES as TEMPLATES;

/// Normalized class embeddings `[classes, dim]`: the mean of the normalized embeddings of
/// every template, normalized again.
pub fn class_embeddings<B: Backend>(
    clip: &Clip<B>,
    tokenizer: &ClipTokenizer,
    names: &[&str],
    templates: &[&str],
) -> Tensor<B, 2> {
    let mut rows = Vec::with_capacity(names.len());
    for name in names {
        let prompts: Vec<String> = templates.iter().map(|t| t.replace("{}", name)).collect();
        let ids = tokenizer.encode_batch_longest(&prompts);
        let e = normalize(clip.encode_text(&ids).expect("prompts fit the context"));
        rows.push(e.mean_dim(0));
    }
    normalize(Tensor::cat(rows, 0))
}

/// Index of the best class for each image `[n, dim]` (not necessarily normalized).
pub fn predict<B: Backend>(image_embeds: Tensor<B, 2>, classes: Tensor<B, 2>) -> Vec<usize> {
    let sims = normalize(image_embeds).matmul(classes.transpose());
    let idx = sims
        .argmax(1)
        .into_data()
        .convert::<i64>()
        .into_vec::<i64>()
        .expect("indices");
    idx.into_iter().map(|i| i as usize).collect()
}

/// Share of predictions equal to their labels.
pub fn accuracy(predicted: &[usize], labels: &[usize]) -> f64 {
    let right = predicted.iter().zip(labels).filter(|(p, l)| p == l).count();
    right as f64 / labels.len().max(1) as f64
}

/// Image embeddings of normalized images, `batch` at a time.
pub fn embed_images<B: Backend>(
    clip: &Clip<B>,
    images: Tensor<B, 4>,
    batch: usize,
) -> Tensor<B, 2> {
    let n = images.dims()[0];
    let [_, c, h, w] = images.dims();
    let parts: Vec<Tensor<B, 2>> = (0..n)
        .step_by(batch.max(1))
        .map(|s| {
            clip.encode_image(
                images
                    .clone()
                    .slice([s..(s + batch).min(n), 0..c, 0..h, 0..w]),
            )
        })
        .collect();
    Tensor::cat(parts, 0)
}
