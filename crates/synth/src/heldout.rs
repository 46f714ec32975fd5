//! Held-out evaluation images and zero-shot prompts: what the training run evaluates on, and
//! what the neuron analyses (the command line's and the page's) probe models with.

use image::RgbImage;

use crate::concept::CONCEPTS;
use crate::generator::{render_drawn, render_written};

/// Which rendering of a concept an evaluation image shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Modality {
    /// The concept drawn.
    Drawn,
    /// The concept's name written.
    Written,
}

impl Modality {
    /// Both modalities, in the order analyses list them (drawn, written).
    pub const ALL: [Modality; 2] = [Modality::Drawn, Modality::Written];

    /// `drawn` or `written`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Drawn => "drawn",
            Self::Written => "written",
        }
    }
}

/// First seed of held-out images; training samples come from the generator's own seeds.
pub const HELDOUT_SEED: u64 = 0x4e1d_0000_0000;

/// Prompt templates averaged into one text embedding per class (CLIP's prompt ensembling);
/// they name the concept as a picture and as a word alike, in the captions' vocabulary.
pub const ZERO_SHOT_TEMPLATES: &[&str] = &["{}", "a {}", "a drawing of a {}", "the word {}"];

/// Concept `concept` (an index into [`CONCEPTS`]) drawn or written as a `size × size` image,
/// determined by `seed`.
///
/// # Panics
/// If `concept` is not an index into [`CONCEPTS`].
pub fn render_concept(modality: Modality, concept: usize, size: u32, seed: u64) -> RgbImage {
    match modality {
        Modality::Drawn => render_drawn(concept, size, seed),
        Modality::Written => render_written(CONCEPTS[concept], size, seed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concepts_render_in_either_modality() {
        let drawn = render_concept(Modality::Drawn, 3, 32, HELDOUT_SEED);
        assert_eq!(drawn, render_drawn(3, 32, HELDOUT_SEED));
        let written = render_concept(Modality::Written, 3, 32, HELDOUT_SEED);
        assert_eq!(written, render_written("star", 32, HELDOUT_SEED));
        assert_eq!(Modality::ALL.map(Modality::name), ["drawn", "written"]);
        assert!(ZERO_SHOT_TEMPLATES.iter().all(|t| t.contains("{}")));
    }
}
