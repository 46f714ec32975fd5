//! The rendered-text probe: which words drive a unit when they are *written in an image*.
//! Each vocabulary word is lettered a few times at random (colour, size, position, typeface,
//! tilt, background: the generator's written scenes, by seeds of this probe alone), passed
//! through the image tower, and a unit's score for the word is its mean response over those
//! renderings. Where the text-tower probe asks which words' *meaning* is closest to an image,
//! this asks which words the unit *reads*: the written half of a multimodal neuron.

use burn::tensor::backend::Backend;
use image::RgbImage;
use modalscope_model::{Clip, Preprocessor};
use modalscope_synth::{BUILTIN_MODEL, render_written, vocabulary};
use modalscope_tokenizer::ClipTokenizer;
use serde::{Deserialize, Serialize};

use crate::error::{AnalysisError, Result};
use crate::response::{Reduce, unit_responses};

/// Renderings of every word the probe averages over.
pub const RENDERINGS: usize = 3;
/// The most words the probe writes (the page and the command line alike).
pub const MAX_WORDS: usize = 256;
/// First seed of the probe's renderings (apart from every other generated set).
pub const READING_SEED: u64 = 0x7265_6164_0000;

/// Function words, which say nothing about an image.
pub const STOP_WORDS: &[&str] = &[
    "about", "all", "also", "and", "are", "but", "can", "for", "from", "had", "has", "have", "her",
    "his", "its", "just", "not", "now", "one", "our", "out", "says", "she", "that", "the", "their",
    "them", "then", "there", "these", "they", "this", "was", "were", "what", "when", "which",
    "who", "will", "with", "would", "you", "your",
];

/// Whether `word` is worth probing: at least three letters and not a function word.
pub fn is_content_word(word: &str) -> bool {
    word.chars().count() >= 3
        && word.chars().all(char::is_alphabetic)
        && !STOP_WORDS.contains(&word.to_lowercase().as_str())
}

/// The words of the built-in model's captions worth probing (its tokenizer was trained on
/// exactly these, so its own token list also holds word fragments such as `mbrella`).
pub fn caption_words() -> Vec<String> {
    vocabulary()
        .into_iter()
        .filter(|w| is_content_word(w))
        .collect()
}

/// The words a model's probes compare: for the built-in model its caption words; for any
/// other, the whole-word tokens (`word</w>`) of its tokenizer that are content words, in
/// token-id order (CLIP's vocabulary lists the most frequent first); at most `max`, each with
/// its token id.
pub fn probe_words(model: &str, tokenizer: &ClipTokenizer, max: usize) -> Vec<(String, u32)> {
    if model == BUILTIN_MODEL {
        let words: Vec<(String, u32)> = caption_words()
            .into_iter()
            .filter_map(|w| {
                let id = tokenizer.token_to_id(&format!("{w}</w>"))?;
                Some((w, id))
            })
            .take(max)
            .collect();
        if !words.is_empty() {
            return words;
        }
    }
    (0..tokenizer.vocab_size() as u32)
        .filter_map(|id| {
            let word = tokenizer.id_to_token(id)?.strip_suffix("</w>")?;
            is_content_word(word).then(|| (word.to_string(), id))
        })
        .take(max)
        .collect()
}

/// The seed of rendering `r` of word `w` (its index in the vocabulary).
fn seed(w: usize, r: usize) -> u64 {
    READING_SEED + (w * RENDERINGS + r) as u64
}

/// Rendering `index` of a probe over a vocabulary (`index / renderings` is the word), as the
/// model sees it: `size` pixels square.
pub fn word_image(words: &[String], renderings: usize, index: usize, size: u32) -> RgbImage {
    let (w, r) = (index / renderings.max(1), index % renderings.max(1));
    render_written(&words[w], size, seed(w, r))
}

/// One word's score for a unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WordReading {
    /// The word.
    pub word: String,
    /// The unit's mean response over the word's renderings.
    pub mean: f32,
    /// How many standard deviations of the vocabulary's word means that is above their mean.
    pub z: f32,
}

/// The `top` words that drive `unit` most, from responses `[words × renderings, units]`
/// (row-major, renderings of a word consecutive), strongest first.
pub fn rank_words(
    words: &[String],
    responses: &[f32],
    units: usize,
    renderings: usize,
    unit: usize,
    top: usize,
) -> Result<Vec<WordReading>> {
    if unit >= units {
        return Err(AnalysisError::Input(format!(
            "unit {unit} is out of range: the layer has {units} units (0 to {})",
            units.saturating_sub(1)
        )));
    }
    if renderings == 0 || responses.len() != words.len() * renderings * units {
        return Err(AnalysisError::Input(format!(
            "{} responses do not cover {} words × {renderings} renderings × {units} units",
            responses.len(),
            words.len()
        )));
    }
    let means: Vec<f32> = (0..words.len())
        .map(|w| {
            (0..renderings)
                .map(|r| responses[(w * renderings + r) * units + unit])
                .sum::<f32>()
                / renderings as f32
        })
        .collect();
    let n = means.len().max(1) as f32;
    let mu = means.iter().sum::<f32>() / n;
    let sd = (means.iter().map(|m| (m - mu).powi(2)).sum::<f32>() / n).sqrt();
    let mut order: Vec<usize> = (0..words.len()).collect();
    order.sort_by(|&a, &b| means[b].total_cmp(&means[a]).then(a.cmp(&b)));
    Ok(order
        .into_iter()
        .take(top)
        .map(|w| WordReading {
            word: words[w].clone(),
            mean: means[w],
            z: if sd > 0.0 { (means[w] - mu) / sd } else { 0.0 },
        })
        .collect())
}

/// Responses `[words × renderings, units]` of an image-tower layer to the rendered words (the
/// command line's probe; the page runs the same images a batch at a time).
pub fn reading_responses<B: Backend>(
    clip: &Clip<B>,
    layer: &str,
    words: &[String],
    renderings: usize,
    batch: usize,
) -> Result<(Vec<f32>, usize)> {
    let pre = Preprocessor::for_config(clip.config());
    let device = clip.device();
    let mut out = Vec::new();
    let mut units = 0;
    let total = words.len() * renderings;
    for start in (0..total).step_by(batch.max(1)) {
        let images: Vec<RgbImage> = (start..(start + batch).min(total))
            .map(|i| word_image(words, renderings, i, pre.size as u32))
            .collect();
        let (r, u) = unit_responses(
            clip,
            pre.batch(&images, &device),
            layer,
            Reduce::Mean,
            batch,
        )?;
        out.extend(r);
        units = u;
    }
    Ok((out, units))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn words_rank_by_their_mean_over_renderings() {
        let w = words(&["apple", "bell", "cup"]);
        // 3 words × 2 renderings × 2 units; unit 1 likes cup, then apple.
        let r = [
            0.0, 1.0, 0.0, 3.0, // apple: unit 1 mean 2
            9.0, 0.0, 9.0, -1.0, // bell: unit 1 mean -0.5
            0.0, 4.0, 0.0, 6.0, // cup: unit 1 mean 5
        ];
        let top = rank_words(&w, &r, 2, 2, 1, 2).unwrap();
        assert_eq!(top[0].word, "cup");
        assert_eq!(top[0].mean, 5.0);
        assert_eq!(top[1].word, "apple");
        assert_eq!(top.len(), 2);
        // z-scores against the three means (2, -0.5, 5).
        let (mu, sd) = (6.5f32 / 3.0, ((0.0278f32 + 7.1111 + 8.0278) / 3.0).sqrt());
        assert!((top[0].z - (5.0 - mu) / sd).abs() < 1e-3, "{}", top[0].z);
        assert_eq!(rank_words(&w, &r, 2, 2, 0, 9).unwrap()[0].word, "bell");
        assert!(rank_words(&w, &r, 2, 2, 2, 1).is_err());
        assert!(rank_words(&w, &r[1..], 2, 2, 0, 1).is_err());
    }

    #[test]
    fn renderings_are_seeded_and_distinct() {
        let w = words(&["star", "moon"]);
        let a = word_image(&w, RENDERINGS, 0, 48);
        assert_eq!(a, word_image(&w, RENDERINGS, 0, 48));
        assert_ne!(a, word_image(&w, RENDERINGS, 1, 48));
        assert_eq!(a, render_written("star", 48, READING_SEED));
        assert_eq!(
            word_image(&w, RENDERINGS, RENDERINGS, 48),
            render_written("moon", 48, READING_SEED + RENDERINGS as u64)
        );
    }

    #[test]
    fn function_words_are_not_probed() {
        assert!(is_content_word("umbrella"));
        assert!(!is_content_word("the"));
        assert!(!is_content_word("an"));
        assert!(!is_content_word("x2"));
        let words = caption_words();
        assert!(words.iter().all(|w| is_content_word(w)));
        for concept in modalscope_synth::CONCEPTS {
            assert!(words.iter().any(|w| w == concept), "{concept}");
        }
    }
}
