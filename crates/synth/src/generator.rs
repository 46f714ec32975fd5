//! The data set: sample `i` of a seeded generator, a pure function of seed, index and config.

use image::RgbImage;

use crate::caption::{describe_drawn, describe_mixed, describe_written};
use crate::concept::{CONCEPTS, DECOYS, is_short};
use crate::error::SynthError;
use crate::rng::Rng;
use crate::scene::{Overlay, Scene};

/// What a generator produces and in which proportions.
#[derive(Clone, Debug, PartialEq)]
pub struct GeneratorConfig {
    /// Side of the square images in pixels (16 to 1024; 48 to 128 is what the figures are
    /// designed for).
    pub image_size: u32,
    /// Relative weight of drawn-only samples.
    pub p_drawn: f32,
    /// Relative weight of written-only samples.
    pub p_written: f32,
    /// Relative weight of mixed samples (concept A drawn, the name of concept B written on it,
    /// or A's own where labelled).
    pub p_mixed: f32,
    /// Probability that a mixed sample's caption mentions only the written word.
    pub p_word_only: f32,
    /// Probability that a mixed sample's word is the drawn concept's own name (a labelled
    /// drawing, as a flashcard, a sign or a label shows a thing with its name).
    pub p_labelled: f32,
    /// Probability that a written sample's word is set in big letters (the rest small).
    pub p_big_words: f32,
    /// Weight of a short name (at most [`crate::SHORT_NAME`] letters) against a longer one's 1
    /// when picking the word of a written or mixed sample: short names are the ones read worst.
    pub short_words: f32,
    /// Probability that a written sample shows a decoy word (one of [`crate::DECOYS`], not a
    /// concept) instead of a concept's name, captioned with that word.
    pub p_decoys: f32,
    /// The enabled concept ids (indices into [`CONCEPTS`]); samples draw and write only these.
    pub concepts: Vec<usize>,
}

impl Default for GeneratorConfig {
    /// 64-pixel images, 45 % drawn, 35 % written, 20 % mixed, every concept.
    fn default() -> Self {
        Self {
            image_size: 64,
            p_drawn: 0.45,
            p_written: 0.35,
            p_mixed: 0.2,
            p_word_only: 0.5,
            p_labelled: 0.0,
            p_big_words: crate::scene::EVEN_BIG_WORDS,
            short_words: 1.0,
            p_decoys: 0.0,
            concepts: (0..CONCEPTS.len()).collect(),
        }
    }
}

/// Which of the three kinds a sample is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SampleKind {
    /// A concept drawn with shapes.
    Drawn,
    /// A concept's name written as text.
    Written,
    /// A drawn concept with a concept's name written on it: another's, or its own where
    /// labelled.
    Mixed,
}

/// One image–caption pair with what it shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The image.
    pub image: RgbImage,
    /// The English caption (lower case, words from [`crate::vocabulary`]).
    pub caption: String,
    /// The kind of sample.
    pub kind: SampleKind,
    /// The concept id drawn, if any.
    pub drawn: Option<usize>,
    /// The concept id written, if any.
    pub written: Option<usize>,
    /// The decoy written instead of a concept's name, if any (an index into
    /// [`crate::DECOYS`]).
    pub decoy: Option<usize>,
    /// Every attribute of the image (colours, style, size, position, background, word geometry).
    pub scene: Scene,
    /// Whether the caption names the drawing (false for drawings of mixed samples whose
    /// caption mentions only the written word, and for written samples).
    pub caption_names_drawing: bool,
}

/// A seeded, random-access generator of samples.
#[derive(Clone, Debug)]
pub struct Generator {
    config: GeneratorConfig,
    seed: u64,
}

impl Generator {
    /// A generator of `config` samples; a different `seed` gives an independent split.
    pub fn new(config: GeneratorConfig, seed: u64) -> Result<Self, SynthError> {
        if !(16..=1024).contains(&config.image_size) {
            return Err(SynthError::ImageSize(config.image_size));
        }
        if config.concepts.is_empty() {
            return Err(SynthError::NoConcepts);
        }
        if let Some(&bad) = config.concepts.iter().find(|&&c| c >= CONCEPTS.len()) {
            return Err(SynthError::UnknownConcept(bad, CONCEPTS.len()));
        }
        let weights = [config.p_drawn, config.p_written, config.p_mixed];
        if weights.iter().any(|p| !p.is_finite() || *p < 0.0) || weights.iter().sum::<f32>() <= 0.0
        {
            return Err(SynthError::Probabilities(
                weights[0], weights[1], weights[2],
            ));
        }
        // A share of some kind of sample, refused with its own message outside [0, 1].
        let share = |p: f32, refuse: fn(f32) -> SynthError| {
            if (0.0..=1.0).contains(&p) {
                Ok(())
            } else {
                Err(refuse(p))
            }
        };
        share(config.p_word_only, SynthError::WordOnlyShare)?;
        share(config.p_labelled, SynthError::LabelledShare)?;
        share(config.p_big_words, SynthError::BigWordsShare)?;
        share(config.p_decoys, SynthError::DecoyShare)?;
        if !(config.short_words.is_finite() && config.short_words > 0.0) {
            return Err(SynthError::ShortWordsWeight(config.short_words));
        }
        let distinct = config.concepts.iter().any(|&c| c != config.concepts[0]);
        if config.p_mixed > 0.0 && !distinct {
            return Err(SynthError::MixedNeedsTwoConcepts);
        }
        Ok(Self { config, seed })
    }

    /// The configuration.
    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Sample `index`: the same `(seed, index, config)` always gives the same sample.
    pub fn sample(&self, index: u64) -> Sample {
        let mut rng = Rng::derive(self.seed, index);
        let c = &self.config;
        let total = c.p_drawn + c.p_written + c.p_mixed;
        let u = rng.unit() * total;
        let kind = if u < c.p_drawn {
            SampleKind::Drawn
        } else if u < c.p_drawn + c.p_written || c.p_mixed == 0.0 {
            SampleKind::Written
        } else {
            SampleKind::Mixed
        };
        let concept = if kind == SampleKind::Written {
            self.pick_word(&mut rng, &c.concepts)
        } else {
            rng.pick(&c.concepts)
        };
        let mut caption_names_drawing = true;
        // Drawn only when asked for, so that data without decoys stays as it was.
        let decoy = (kind == SampleKind::Written && c.p_decoys > 0.0 && rng.chance(c.p_decoys))
            .then(|| rng.below(DECOYS.len()));
        let (scene, caption, drawn, written) = match kind {
            SampleKind::Drawn => {
                let scene = Scene::sample_drawn(&mut rng, concept);
                let drawing = scene.drawing.expect("a drawn scene has a drawing");
                let caption = describe_drawn(&mut rng, &scene, &drawing);
                (scene, caption, Some(concept), None)
            }
            SampleKind::Written => {
                let word = decoy.map_or(CONCEPTS[concept], |d| DECOYS[d]);
                let scene = Scene::sample_written(&mut rng, word, c.p_big_words);
                let lettering = scene.lettering.clone().expect("a written scene has a word");
                let caption = describe_written(&mut rng, &scene, &lettering);
                caption_names_drawing = false;
                (scene, caption, None, decoy.is_none().then_some(concept))
            }
            SampleKind::Mixed => {
                // Drawn only when asked for, so that data without labels stays as it was.
                let labelled = c.p_labelled > 0.0 && rng.chance(c.p_labelled);
                let word = if labelled {
                    concept
                } else {
                    loop {
                        let other = self.pick_word(&mut rng, &c.concepts);
                        if other != concept {
                            break other;
                        }
                    }
                };
                let scene =
                    Scene::sample_mixed(&mut rng, concept, CONCEPTS[word], Overlay::default());
                let drawing = scene.drawing.expect("a mixed scene has a drawing");
                let lettering = scene.lettering.clone().expect("a mixed scene has a word");
                let caption = if rng.chance(c.p_word_only) {
                    caption_names_drawing = false;
                    describe_written(&mut rng, &scene, &lettering)
                } else {
                    describe_mixed(&mut rng, &scene, &drawing, &lettering)
                };
                (scene, caption, Some(concept), Some(word))
            }
        };
        let image = scene.render(c.image_size);
        Sample {
            image,
            caption,
            kind,
            drawn,
            written,
            decoy,
            scene,
            caption_names_drawing,
        }
    }

    /// A concept whose name is to be written, short names weighted by `short_words`; at weight
    /// 1 the very draw of a uniform pick, so default data stays as it was.
    fn pick_word(&self, rng: &mut Rng, concepts: &[usize]) -> usize {
        let short = self.config.short_words;
        if short == 1.0 {
            return rng.pick(concepts);
        }
        let weight = |c: usize| if is_short(c) { short } else { 1.0 };
        let total: f32 = concepts.iter().map(|&c| weight(c)).sum();
        let mut u = rng.unit() * total;
        for &c in concepts {
            u -= weight(c);
            if u < 0.0 {
                return c;
            }
        }
        *concepts.last().expect("at least one concept")
    }

    /// Samples `start .. start + count`, in order.
    pub fn batch(&self, start: u64, count: usize) -> Vec<Sample> {
        (0..count as u64).map(|k| self.sample(start + k)).collect()
    }
}

/// A random drawing of `concept` as a `size × size` image, determined by `seed`.
///
/// # Panics
/// If `concept` is not an index into [`CONCEPTS`].
pub fn render_drawn(concept: usize, size: u32, seed: u64) -> RgbImage {
    Scene::drawn(concept, seed).render(size)
}

/// Any word (lower case, as given) written at random as a `size × size` image, determined by
/// `seed`; an empty word gives a bare background.
pub fn render_written(word: &str, size: u32, seed: u64) -> RgbImage {
    Scene::written(word, seed).render(size)
}

/// A random drawing of `concept` with `word` written over it (a typographic attack).
///
/// # Panics
/// If `concept` is not an index into [`CONCEPTS`].
pub fn render_mixed(concept: usize, word: &str, size: u32, seed: u64) -> RgbImage {
    Scene::mixed(concept, word, seed).render(size)
}
