//! Training batches and held-out evaluation sets drawn from the procedural generator.

use burn::tensor::{Tensor, TensorData, backend::Backend};
use image::RgbImage;
use modalscope_model::Preprocessor;
use modalscope_model::bundle::TokenizerFiles;
use rayon::prelude::*;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use modalscope_synth::{
    CONCEPTS, Generator, GeneratorConfig, Sample, SynthError, render_concept, vocabulary,
};
use modalscope_tokenizer::{ClipTokenizer, train_bpe};

use crate::recipe::{Positives, TrainConfig};

/// The tokenizer files of the built-in model: CLIP's byte-level BPE, with merges learned so
/// that every caption word is one token.
pub fn builtin_tokenizer_files() -> TokenizerFiles {
    let v = train_bpe(&vocabulary());
    TokenizerFiles {
        vocab_json: v.vocab_json,
        merges_txt: v.merges_txt,
    }
}

/// A tokenizer from bundle files, with the model's context length.
pub fn tokenizer(files: &TokenizerFiles, context_length: usize) -> ClipTokenizer {
    ClipTokenizer::from_strings(&files.vocab_json, &files.merges_txt)
        .and_then(|t| t.with_context_length(context_length))
        .expect("the built-in vocabulary is well formed")
}

/// One training batch: normalized images and padded token ids.
pub struct Batch<B: Backend> {
    /// `[batch, 3, size, size]`, normalized for the model.
    pub images: Tensor<B, 4>,
    /// Token ids, one sequence per caption, padded to the batch's longest.
    pub ids: Vec<Vec<u32>>,
    /// Match groups: pairs `(i, j)` with equal groups are positives of the loss.
    pub groups: Vec<u64>,
    /// What each sample's image shows and its caption names, for the loss's
    /// [`SharedConcepts`](crate::SharedConcepts) rule.
    pub contents: Vec<Content>,
}

/// The concepts of one sample: `image` those its picture shows, `caption` those its caption
/// names, each `[drawn, written]` as concept index + 1 (0: none; a decoy word counts as one
/// more concept after the real ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Content {
    /// Concepts in the picture.
    pub image: [u16; 2],
    /// Concepts the caption names.
    pub caption: [u16; 2],
}

impl Content {
    /// The content of a generated sample.
    pub fn of(sample: &Sample) -> Self {
        let id = |c: Option<usize>| c.map_or(0, |c| c as u16 + 1);
        let written = id(written_id(sample));
        Self {
            image: [id(sample.drawn), written],
            caption: [
                id(sample.drawn.filter(|_| sample.caption_names_drawing)),
                written,
            ],
        }
    }

    /// Whether this sample's caption names a concept that `image`'s picture shows.
    pub fn named_in(&self, image: &Content) -> bool {
        self.caption
            .iter()
            .any(|&c| c != 0 && image.image.contains(&c))
    }
}

/// What a sample's word is: its concept id, or for a decoy word one id past the concepts per
/// decoy, so that a decoy matches only itself.
fn written_id(sample: &Sample) -> Option<usize> {
    sample.written.or(sample.decoy.map(|d| CONCEPTS.len() + d))
}

/// The match group of a sample under a positives rule.
pub fn group(sample: &Sample, positives: Positives, ids: &[u32]) -> u64 {
    match positives {
        Positives::Caption => {
            // Identical token sequences share a group: hash them.
            let mut h = DefaultHasher::new();
            ids.hash(&mut h);
            h.finish()
        }
        Positives::Content => {
            let drawn = sample
                .drawn
                .filter(|_| sample.caption_names_drawing)
                .map_or(0, |c| c as u64 + 1);
            let written = written_id(sample).map_or(0, |c| c as u64 + 1);
            (drawn << 16) | written
        }
    }
}

/// Normalized images `[n, 3, size, size]` from RGB images already `size` square.
pub fn image_tensor<B: Backend>(
    images: &[RgbImage],
    pre: &Preprocessor,
    device: &B::Device,
) -> Tensor<B, 4> {
    let s = pre.size;
    let data: Vec<f32> = images
        .par_iter()
        .map(|img| pre.prepare(img))
        .collect::<Vec<_>>()
        .concat();
    Tensor::from_data(TensorData::new(data, [images.len(), 3, s, s]), device)
}

/// The training data: samples `[step * batch, (step + 1) * batch)` of a seeded generator.
pub struct TrainingData {
    generator: Generator,
    tokenizer: ClipTokenizer,
    pre: Preprocessor,
    batch: usize,
    positives: Positives,
}

impl TrainingData {
    /// The data a recipe trains on (its size, mixture and batch), drawn from `seed`; the
    /// generator's error where the recipe asks for data it cannot make.
    pub fn new(
        config: &TrainConfig,
        seed: u64,
        tokenizer: ClipTokenizer,
        pre: Preprocessor,
    ) -> Result<Self, SynthError> {
        let [p_drawn, p_written, p_mixed] = config.mixture;
        let generator = GeneratorConfig {
            image_size: config.shape.image_size as u32,
            p_drawn,
            p_written,
            p_mixed,
            p_word_only: config.word_only,
            p_labelled: config.labelled,
            p_big_words: config.big_words,
            short_words: config.short_words,
            p_decoys: config.decoys,
            ..GeneratorConfig::default()
        };
        Ok(Self {
            generator: Generator::new(generator, seed)?,
            tokenizer,
            pre,
            batch: config.batch,
            positives: config.positives,
        })
    }

    /// The batch of optimizer step `step`.
    pub fn batch<B: Backend>(&self, step: usize, device: &B::Device) -> Batch<B> {
        // Each sample is drawn from its own index alone, so the pool draws them at once (the
        // same samples, in the same order, as `Generator::batch`).
        let start = (step * self.batch) as u64;
        let samples: Vec<_> = (start..start + self.batch as u64)
            .into_par_iter()
            .map(|index| self.generator.sample(index))
            .collect();
        let images: Vec<RgbImage> = samples.iter().map(|s| s.image.clone()).collect();
        let captions: Vec<&str> = samples.iter().map(|s| s.caption.as_str()).collect();
        let ids = self.tokenizer.encode_batch_longest(&captions);
        let groups = samples
            .iter()
            .zip(&ids)
            .map(|(s, ids)| group(s, self.positives, ids))
            .collect();
        Batch {
            images: image_tensor(&images, &self.pre, device),
            ids,
            groups,
            contents: samples.iter().map(Content::of).collect(),
        }
    }
}

pub use modalscope_synth::{HELDOUT_SEED, Modality};

/// `per_concept` held-out images of every concept in one modality, with their labels.
pub fn heldout(modality: Modality, per_concept: usize, size: usize) -> (Vec<RgbImage>, Vec<usize>) {
    let mut images = Vec::with_capacity(CONCEPTS.len() * per_concept);
    let mut labels = Vec::with_capacity(images.capacity());
    for c in 0..CONCEPTS.len() {
        for i in 0..per_concept {
            let seed = HELDOUT_SEED + (c * 1000 + i) as u64;
            images.push(render_concept(modality, c, size as u32, seed));
            labels.push(c);
        }
    }
    (images, labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use modalscope_synth::SampleKind;

    #[test]
    fn a_batch_holds_the_generators_samples_in_their_order() {
        type B = burn::backend::Flex;
        let config = TrainConfig {
            batch: 24,
            ..TrainConfig::tiny()
        };
        let tok = tokenizer(&builtin_tokenizer_files(), config.shape.context_length);
        let pre = Preprocessor::for_config(&config.clip_config(tok.vocab_size()));
        let data = TrainingData::new(&config, 9, tok.clone(), pre.clone()).unwrap();
        let step = 3;
        let batch = data.batch::<B>(step, &Default::default());
        // The same samples drawn one after the other, as `Generator::batch` does.
        let samples = data
            .generator
            .batch((step * config.batch) as u64, config.batch);
        let images: Vec<RgbImage> = samples.iter().map(|s| s.image.clone()).collect();
        let captions: Vec<&str> = samples.iter().map(|s| s.caption.as_str()).collect();
        assert_eq!(batch.ids, tok.encode_batch_longest(&captions));
        let contents: Vec<Content> = samples.iter().map(Content::of).collect();
        assert_eq!(batch.contents, contents);
        let expected: Vec<f32> = images.iter().flat_map(|img| pre.prepare(img)).collect();
        assert_eq!(
            batch.images.into_data().to_vec::<f32>().unwrap(),
            expected,
            "the images differ from the generator's, or are out of order"
        );
    }

    #[test]
    fn content_groups_follow_what_the_caption_names() {
        let g = Generator::new(GeneratorConfig::default(), 3).unwrap();
        let samples = g.batch(0, 400);
        let key = |s: &Sample| group(s, Positives::Content, &[]);
        let mut checked = [0; 3];
        for a in &samples {
            for b in &samples {
                let named = |s: &Sample| (s.drawn.filter(|_| s.caption_names_drawing), s.written);
                assert_eq!(
                    key(a) == key(b),
                    named(a) == named(b),
                    "{} / {}",
                    a.caption,
                    b.caption
                );
            }
            // A mixed sample whose caption names only the word groups with that word written.
            if a.kind == SampleKind::Mixed && !a.caption_names_drawing {
                let word = CONCEPTS[a.written.unwrap()];
                assert!(
                    a.caption.split_whitespace().any(|w| w == word),
                    "{}",
                    a.caption
                );
                checked[0] += 1;
            }
            if a.kind == SampleKind::Mixed && a.caption_names_drawing {
                checked[1] += 1;
            }
            if a.kind == SampleKind::Drawn {
                assert!(a.caption_names_drawing);
                checked[2] += 1;
            }
        }
        assert!(checked.iter().all(|&n| n > 5), "{checked:?}");
    }

    #[test]
    fn a_decoy_matches_only_the_same_decoy_and_its_caption_tokenizes_in_pieces() {
        let config = GeneratorConfig {
            p_decoys: 0.5,
            ..GeneratorConfig::default()
        };
        let samples = Generator::new(config, 4).unwrap().batch(0, 600);
        let key = |s: &Sample| group(s, Positives::Content, &[]);
        let decoys: Vec<&Sample> = samples.iter().filter(|s| s.decoy.is_some()).collect();
        assert!(decoys.len() > 50, "{} decoys", decoys.len());
        let mut pairs = 0;
        for a in &decoys {
            for b in &samples {
                let same = b.decoy == a.decoy;
                assert_eq!(key(a) == key(b), same, "{} / {}", a.caption, b.caption);
                // A decoy is no concept any picture shows: its caption names none of them.
                assert_eq!(Content::of(a).named_in(&Content::of(b)), same);
                pairs += usize::from(same && !std::ptr::eq(*a, b));
            }
        }
        assert!(pairs > 0, "no two samples share a decoy");
        // Decoys are not caption words, yet the built-in tokenizer spells them without loss.
        let t = tokenizer(&builtin_tokenizer_files(), 24);
        for word in modalscope_synth::DECOYS {
            let ids = t.encode(word);
            assert_eq!(t.decode(&ids), *word);
            assert!(ids.len() > 3, "{word} is one token: {ids:?}");
        }
    }

    #[test]
    fn a_caption_names_a_concept_in_an_image_when_they_share_one() {
        let g = Generator::new(GeneratorConfig::default(), 5).unwrap();
        let samples = g.batch(0, 300);
        let mut seen = [0; 3];
        for a in &samples {
            for b in &samples {
                let (ca, cb) = (Content::of(a), Content::of(b));
                let named: Vec<usize> = [a.drawn.filter(|_| a.caption_names_drawing), a.written]
                    .into_iter()
                    .flatten()
                    .collect();
                let shown: Vec<usize> = [b.drawn, b.written].into_iter().flatten().collect();
                let expected = named.iter().any(|c| shown.contains(c));
                assert_eq!(ca.named_in(&cb), expected, "{} / {}", a.caption, b.caption);
                // A drawn concept and the same concept written meet across modalities.
                if expected && a.kind == SampleKind::Written && b.kind == SampleKind::Drawn {
                    seen[0] += 1;
                }
                if expected && b.kind == SampleKind::Mixed {
                    seen[1] += 1;
                }
                if !expected {
                    seen[2] += 1;
                }
            }
            assert!(Content::of(a).named_in(&Content::of(a)), "{}", a.caption);
        }
        assert!(seen.iter().all(|&n| n > 5), "{seen:?}");
    }

    #[test]
    fn caption_groups_are_identical_token_sequences() {
        let s = Generator::new(GeneratorConfig::default(), 3)
            .unwrap()
            .sample(0);
        let a = group(&s, Positives::Caption, &[1, 2, 3]);
        assert_eq!(a, group(&s, Positives::Caption, &[1, 2, 3]));
        assert_ne!(a, group(&s, Positives::Caption, &[1, 2, 4]));
    }
}
