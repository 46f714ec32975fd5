//! Training batches and held-out evaluation sets drawn from the procedural generator.

use burn::tensor::{Tensor, TensorData, backend::Backend};
use image::RgbImage;
use modalscope_model::Preprocessor;
use modalscope_model::bundle::TokenizerFiles;
use modalscope_synth::{
    CONCEPTS, Generator, GeneratorConfig, render_drawn, render_written, vocabulary,
};
use modalscope_tokenizer::{ClipTokenizer, train_bpe};

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
    /// Token ids, one padded sequence per caption.
    pub ids: Vec<Vec<u32>>,
}

/// Normalized images `[n, 3, size, size]` from RGB images already `size` square.
pub fn image_tensor<B: Backend>(
    images: &[RgbImage],
    pre: &Preprocessor,
    device: &B::Device,
) -> Tensor<B, 4> {
    let s = pre.size;
    let data: Vec<f32> = images.iter().flat_map(|img| pre.prepare(img)).collect();
    Tensor::from_data(TensorData::new(data, [images.len(), 3, s, s]), device)
}

/// The training data: samples `[step * batch, (step + 1) * batch)` of a seeded generator.
pub struct TrainingData {
    generator: Generator,
    tokenizer: ClipTokenizer,
    pre: Preprocessor,
    batch: usize,
}

impl TrainingData {
    /// Data for a model of `image_size` pixels and a tokenizer.
    pub fn new(
        image_size: usize,
        mixture: [f32; 3],
        seed: u64,
        batch: usize,
        tokenizer: ClipTokenizer,
        pre: Preprocessor,
    ) -> Self {
        let config = GeneratorConfig {
            image_size: image_size as u32,
            p_drawn: mixture[0],
            p_written: mixture[1],
            p_mixed: mixture[2],
            ..GeneratorConfig::default()
        };
        Self {
            generator: Generator::new(config, seed).expect("the mixture was validated"),
            tokenizer,
            pre,
            batch,
        }
    }

    /// The batch of optimizer step `step`.
    pub fn batch<B: Backend>(&self, step: usize, device: &B::Device) -> Batch<B> {
        let samples = self.generator.batch((step * self.batch) as u64, self.batch);
        let images: Vec<RgbImage> = samples.iter().map(|s| s.image.clone()).collect();
        let captions: Vec<&str> = samples.iter().map(|s| s.caption.as_str()).collect();
        Batch {
            images: image_tensor(&images, &self.pre, device),
            ids: self.tokenizer.encode_batch_padded(&captions),
        }
    }
}

/// Which rendering of a concept an evaluation image shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modality {
    /// The concept drawn.
    Drawn,
    /// The concept's name written.
    Written,
}

/// First seed of held-out images; training samples come from the generator's own seeds.
pub const HELDOUT_SEED: u64 = 0x4e1d_0000_0000;

/// `per_concept` held-out images of every concept in one modality, with their labels.
pub fn heldout(modality: Modality, per_concept: usize, size: usize) -> (Vec<RgbImage>, Vec<usize>) {
    let mut images = Vec::with_capacity(CONCEPTS.len() * per_concept);
    let mut labels = Vec::with_capacity(images.capacity());
    for (c, name) in CONCEPTS.iter().enumerate() {
        for i in 0..per_concept {
            let seed = HELDOUT_SEED + (c * 1000 + i) as u64;
            images.push(match modality {
                Modality::Drawn => render_drawn(c, size as u32, seed),
                Modality::Written => render_written(name, size as u32, seed),
            });
            labels.push(c);
        }
    }
    (images, labels)
}
