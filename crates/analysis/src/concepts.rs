//! The concept study's inputs, shared by the `modalscope` command and the page: the 30
//! procedural concepts drawn and written, which held-out images probe a model, the zero-shot
//! prompts, and the parsing of concept names and unit lists.
//!
//! Images come from the procedural generator with held-out seeds: concept `c`, image `i` of a
//! set starting at `first` uses seed `HELDOUT_SEED + 1000 c + first + i`. A set lists its
//! images concept by concept (`per_concept` of concept 0, then of concept 1, ...). Neurons
//! are found (and mean-ablation values and families computed) on the *probe* sets
//! (`first` = [`PROBE_FIRST`]); lesions and attacks are measured on the disjoint *evaluation*
//! sets (`first` = [`EVAL_FIRST`]), so an effect is never measured on the images that selected
//! the neurons.

use burn::tensor::backend::Backend;
use image::RgbImage;
use modalscope_model::Preprocessor;
use modalscope_synth::{
    CONCEPTS, HELDOUT_SEED, Modality, Overlay, Scene, ZERO_SHOT_TEMPLATES, render_concept,
    render_drawn,
};
use modalscope_tokenizer::ClipTokenizer;

use crate::attack::AttackCase;
use crate::error::{AnalysisError, Result};
use crate::zeroshot::{ClassPrompts, LabelledImages};

/// First image index of the probe sets (neuron search, means, families).
pub const PROBE_FIRST: usize = 0;
/// First image index of the evaluation sets (lesions, attacks), disjoint from the probes.
pub const EVAL_FIRST: usize = 500;

/// The image seed of image `i` of concept `c` in a set starting at `first`.
pub fn seed(concept: usize, first: usize, i: usize) -> u64 {
    HELDOUT_SEED + (concept * 1000 + first + i) as u64
}

/// The class index of a concept name (any case, surrounding spaces ignored), or an error
/// listing the concepts.
pub fn concept_index(name: &str) -> Result<usize> {
    let lower = name.trim().to_lowercase();
    CONCEPTS.iter().position(|c| *c == lower).ok_or_else(|| {
        AnalysisError::Input(format!(
            "`{name}` is not a concept; the concepts are: {}",
            CONCEPTS.join(", ")
        ))
    })
}

/// Parses a unit list such as `1,2,3` or `4-7,9` (sorted, without repeats).
pub fn parse_units(s: &str) -> Result<Vec<usize>> {
    let mut units = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || {
            AnalysisError::Input(format!(
                "invalid unit `{part}` in `{s}`: expected numbers like 1,2,3 or 4-7"
            ))
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (
                    a.trim().parse().map_err(|_| bad())?,
                    b.trim().parse().map_err(|_| bad())?,
                );
                if a > b {
                    return Err(bad());
                }
                units.extend(a..=b);
            }
            None => units.push(part.parse().map_err(|_| bad())?),
        }
    }
    if units.is_empty() {
        return Err(AnalysisError::Input(format!("no units given in `{s}`")));
    }
    units.sort_unstable();
    units.dedup();
    Ok(units)
}

/// The concept of every image of a set with `per_concept` images of each concept.
pub fn set_labels(per_concept: usize) -> Vec<usize> {
    (0..CONCEPTS.len())
        .flat_map(|c| std::iter::repeat_n(c, per_concept))
        .collect()
}

/// Image `index` of a set of `per_concept` images per concept starting at `first`, rendered
/// `size` pixels square (the generator draws vectors, so any size shows the same scene).
pub fn set_image(
    modality: Modality,
    per_concept: usize,
    first: usize,
    index: usize,
    size: u32,
) -> RgbImage {
    let (c, i) = (index / per_concept.max(1), index % per_concept.max(1));
    render_concept(modality, c, size, seed(c, first, i))
}

/// `per_concept` images of every concept in one modality, from image index `first`, with
/// their labels.
pub fn concept_images(
    modality: Modality,
    per_concept: usize,
    first: usize,
    size: u32,
) -> (Vec<RgbImage>, Vec<usize>) {
    let labels = set_labels(per_concept);
    let images = (0..labels.len())
        .map(|i| set_image(modality, per_concept, first, i, size))
        .collect();
    (images, labels)
}

/// The images a set of [`concept_images`] holds, prepared for a model.
pub fn labelled_images<B: Backend>(
    modality: Modality,
    per_concept: usize,
    first: usize,
    pre: &Preprocessor,
    device: &B::Device,
) -> LabelledImages<B> {
    let (images, labels) = concept_images(modality, per_concept, first, pre.size as u32);
    LabelledImages {
        images: pre.batch(&images, device),
        labels,
    }
}

/// The zero-shot prompts of every concept: [`ZERO_SHOT_TEMPLATES`] × [`CONCEPTS`], encoded by
/// `tokenizer` (set to the model's context length).
pub fn class_prompts(tokenizer: &ClipTokenizer) -> ClassPrompts {
    class_prompts_from(tokenizer, ZERO_SHOT_TEMPLATES)
        .expect("the shared templates name the concept")
}

/// The zero-shot prompts of every concept from the caller's `templates` (each with `{}` where
/// the concept's name goes), so a modality can be read with its own wording.
pub fn class_prompts_from<T: AsRef<str>>(
    tokenizer: &ClipTokenizer,
    templates: &[T],
) -> Result<ClassPrompts> {
    if templates.is_empty() {
        return Err(AnalysisError::Input("no prompt template".into()));
    }
    if let Some(t) = templates.iter().find(|t| !t.as_ref().contains("{}")) {
        return Err(AnalysisError::Input(format!(
            "the prompt `{}` has no `{{}}` where the concept's name goes (e.g. `the word {{}}`)",
            t.as_ref()
        )));
    }
    Ok(ClassPrompts {
        ids: CONCEPTS
            .iter()
            .map(|name| {
                let texts: Vec<String> = templates
                    .iter()
                    .map(|t| t.as_ref().replace("{}", name))
                    .collect();
                tokenizer.encode_batch_padded(&texts)
            })
            .collect(),
    })
}

/// Attack cases: `per_concept` drawings of every concept, each with another concept's name
/// (`word`, or a varied choice that is never the drawn concept). With a fixed `word`, its own
/// concept is not attacked.
pub fn attack_cases(per_concept: usize, word: Option<usize>) -> Vec<AttackCase> {
    let n = CONCEPTS.len();
    let mut cases = Vec::new();
    for concept in 0..n {
        if word == Some(concept) {
            continue;
        }
        for i in 0..per_concept {
            let written = word.unwrap_or((concept + 1 + (7 * i + 3 * concept) % (n - 1)) % n);
            cases.push(AttackCase { concept, written });
        }
    }
    cases
}

/// The images of attack cases, from the evaluation seeds: for each case its clean drawing
/// and the same scene with the written concept's name on it (`size` pixels square), written
/// as `overlay` says (what it leaves open as in the training's mixtures).
pub fn attack_images(
    cases: &[AttackCase],
    size: u32,
    overlay: Overlay,
) -> (Vec<RgbImage>, Vec<RgbImage>) {
    let mut clean = Vec::with_capacity(cases.len());
    let mut attacked = Vec::with_capacity(cases.len());
    let mut index = vec![0usize; CONCEPTS.len()];
    for case in cases {
        let i = index[case.concept];
        index[case.concept] += 1;
        let s = seed(case.concept, EVAL_FIRST, i);
        clean.push(render_drawn(case.concept, size, s));
        let word = CONCEPTS[case.written];
        attacked.push(Scene::mixed_with(case.concept, word, s, overlay).render(size));
    }
    (clean, attacked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_parse_with_ranges_and_refuse_garbage() {
        assert_eq!(parse_units("3,1, 2").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_units("4-6,9,5").unwrap(), vec![4, 5, 6, 9]);
        for bad in ["", "x", "1,,y", "5-2", "-1"] {
            assert!(parse_units(bad).is_err(), "{bad}");
        }
        assert!(
            parse_units("1,x")
                .unwrap_err()
                .to_string()
                .contains("invalid unit `x`")
        );
    }

    #[test]
    fn attack_cases_never_write_the_drawn_concept() {
        let cases = attack_cases(6, None);
        assert_eq!(cases.len(), 6 * CONCEPTS.len());
        assert!(cases.iter().all(|c| c.written != c.concept));
        // The written words vary.
        let words: std::collections::BTreeSet<usize> = cases.iter().map(|c| c.written).collect();
        assert!(words.len() > 20);
        let fixed = attack_cases(2, Some(3));
        assert_eq!(fixed.len(), 2 * (CONCEPTS.len() - 1));
        assert!(fixed.iter().all(|c| c.written == 3 && c.concept != 3));
        assert_eq!(concept_index("Star").unwrap(), 3);
        assert_eq!(concept_index(" star ").unwrap(), 3);
        assert!(
            concept_index("pizza")
                .unwrap_err()
                .to_string()
                .contains("circle")
        );
    }

    #[test]
    fn sets_list_their_images_concept_by_concept() {
        let labels = set_labels(3);
        assert_eq!(labels.len(), 3 * CONCEPTS.len());
        assert_eq!(&labels[..7], &[0, 0, 0, 1, 1, 1, 2]);
        let (images, l) = concept_images(Modality::Written, 2, EVAL_FIRST, 24);
        assert_eq!((images.len(), l), (2 * CONCEPTS.len(), set_labels(2)));
        // Image 5 is concept 2's second image.
        assert_eq!(
            images[5],
            render_concept(Modality::Written, 2, 24, seed(2, EVAL_FIRST, 1))
        );
        assert_eq!(
            set_image(Modality::Written, 2, EVAL_FIRST, 5, 24),
            images[5]
        );
        let cases = attack_cases(2, Some(0));
        let (clean, attacked) = attack_images(&cases, 24, Overlay::default());
        assert_eq!((clean.len(), attacked.len()), (cases.len(), cases.len()));
        assert_ne!(clean[0], attacked[0]);
        // A letter height or a backing changes the words only: the same clean drawings,
        // other attacks.
        for overlay in [
            Overlay {
                height: Some(0.35),
                ..Overlay::default()
            },
            Overlay {
                backing: modalscope_synth::Backing::Label,
                ..Overlay::default()
            },
        ] {
            let (clean_other, attacked_other) = attack_images(&cases, 24, overlay);
            assert_eq!(clean, clean_other);
            assert_ne!(attacked, attacked_other);
        }
    }
}
