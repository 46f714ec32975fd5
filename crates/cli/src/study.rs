//! The concept study behind `modalscope neurons | lesion | attack | families`: a model, the
//! 30 procedural concepts drawn and written, zero-shot prompts, and the analyses of
//! `modalscope-analysis` run on them.
//!
//! Images come from the procedural generator with held-out seeds: concept `c`, image `i` of
//! a set starting at `first` uses seed `HELDOUT_SEED + 1000 c + first + i`. Neurons are found
//! (and mean-ablation values and families computed) on the *probe* sets (`first` = 0);
//! lesions and attacks are measured on the disjoint *evaluation* sets (`first` = 500), so an
//! effect is never measured on the images that selected the neurons.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use burn::backend::Flex;
use burn::tensor::Tensor;
use modalscope_analysis::{
    AttackCase, AttackReport, ClassPrompts, Families, LabelledImages, LesionReport,
    MultimodalNeuron, Probe, Reduce, UnitScore, class_embeddings, concept_profiles,
    layer_responses, lesion_experiment, multimodal_neurons, neuron_families, rank_units,
    typographic_attack, unit_means, units_for_concept,
};
use modalscope_model::{Clip, Lesion, Preprocessor};
use modalscope_synth::{CONCEPTS, render_drawn, render_mixed, render_written};
use modalscope_tokenizer::ClipTokenizer;
use modalscope_train::data::{HELDOUT_SEED, image_tensor};
use modalscope_train::zeroshot::TEMPLATES;

pub use modalscope_train::Modality;

/// The CPU backend the study runs on.
pub type B = Flex;

/// First image index of the probe sets (neuron search, means, families).
pub const PROBE_FIRST: usize = 0;
/// First image index of the evaluation sets (lesions, attacks), disjoint from the probes.
pub const EVAL_FIRST: usize = 500;
/// Images per forward pass.
pub const BATCH: usize = 64;

/// A model ready for the concept study.
pub struct Study {
    /// The model.
    pub clip: Clip<B>,
    /// The zero-shot prompts of every concept ([`TEMPLATES`] × [`CONCEPTS`]).
    pub prompts: ClassPrompts,
    /// How images are prepared for the model.
    pub pre: Preprocessor,
}

/// The image seed of image `i` of concept `c` in a set starting at `first`.
pub fn seed(concept: usize, first: usize, i: usize) -> u64 {
    HELDOUT_SEED + (concept * 1000 + first + i) as u64
}

/// The class index of a concept name, or an error listing the concepts.
pub fn concept_index(name: &str) -> Result<usize> {
    let lower = name.trim().to_lowercase();
    CONCEPTS.iter().position(|c| *c == lower).ok_or_else(|| {
        anyhow!(
            "`{name}` is not a concept; the concepts are: {}",
            CONCEPTS.join(", ")
        )
    })
}

/// Parses a unit list such as `1,2,3` or `4-7,9`.
pub fn parse_units(s: &str) -> Result<Vec<usize>> {
    let mut units = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || anyhow!("invalid unit `{part}` in `{s}`: expected numbers like 1,2,3 or 4-7");
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
        bail!("no units given in `{s}`");
    }
    units.sort_unstable();
    units.dedup();
    Ok(units)
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

impl Study {
    /// Reads a bundle (which must carry its tokenizer) from a file.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).with_context(|| {
            format!(
                "cannot read the model `{}` (pass --model, or run from the repository root \
                 for the built-in web/builtin.msb)",
                path.display()
            )
        })?;
        Self::from_bytes(&bytes).with_context(|| format!("cannot load `{}`", path.display()))
    }

    /// Loads a bundle from its bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (clip, files) = Clip::<B>::from_bundle(bytes, &Default::default())?;
        let files = files.ok_or_else(|| {
            anyhow!(
                "the bundle carries no tokenizer, which the zero-shot prompts need \
                 (convert it with --tokenizer)"
            )
        })?;
        let tokenizer = ClipTokenizer::from_strings(&files.vocab_json, &files.merges_txt)
            .and_then(|t| t.with_context_length(clip.config().text.context_length))
            .context("the bundle's tokenizer cannot be read")?;
        let prompts = ClassPrompts {
            ids: CONCEPTS
                .iter()
                .map(|name| {
                    let texts: Vec<String> =
                        TEMPLATES.iter().map(|t| t.replace("{}", name)).collect();
                    tokenizer.encode_batch_padded(&texts)
                })
                .collect(),
        };
        let pre = Preprocessor::for_config(clip.config());
        Ok(Self { clip, prompts, pre })
    }

    /// Concept names, in class order.
    pub fn concepts(&self) -> &'static [&'static str] {
        CONCEPTS
    }

    /// Fails with the model's message unless `layer` is an image-tower layer.
    pub fn check_image_layer(&self, layer: &str) -> Result<()> {
        self.clip.check_layer(layer)?;
        if layer.starts_with("text.") {
            bail!(
                "`{layer}` belongs to the text tower; neurons are probed with images, so pick \
                 an image-tower layer such as {}",
                self.mlp_layers()
                    .last()
                    .map_or("vision.embeds", String::as_str)
            );
        }
        Ok(())
    }

    /// The image tower's MLP layers (transformer) or bottlenecks (ResNet), in order.
    pub fn mlp_layers(&self) -> Vec<String> {
        let names = self.clip.layer_names();
        let mlp: Vec<String> = names
            .iter()
            .filter(|l| l.starts_with("vision.blocks.") && l.ends_with(".mlp"))
            .cloned()
            .collect();
        if !mlp.is_empty() {
            return mlp;
        }
        names
            .into_iter()
            .filter(|l| l.starts_with("vision.layer"))
            .collect()
    }

    /// `per_concept` images of every concept in one modality, from image index `first`.
    pub fn images(
        &self,
        modality: Modality,
        per_concept: usize,
        first: usize,
    ) -> LabelledImages<B> {
        let size = self.pre.size as u32;
        let mut images = Vec::with_capacity(CONCEPTS.len() * per_concept);
        let mut labels = Vec::with_capacity(images.capacity());
        for (c, name) in CONCEPTS.iter().enumerate() {
            for i in 0..per_concept {
                let s = seed(c, first, i);
                images.push(match modality {
                    Modality::Drawn => render_drawn(c, size, s),
                    Modality::Written => render_written(name, size, s),
                });
                labels.push(c);
            }
        }
        LabelledImages {
            images: image_tensor::<B>(&images, &self.pre, &self.clip.device()),
            labels,
        }
    }

    /// Drawn and written sets, in that order.
    pub fn sets(&self, per_concept: usize, first: usize) -> Vec<LabelledImages<B>> {
        [Modality::Drawn, Modality::Written]
            .into_iter()
            .map(|m| self.images(m, per_concept, first))
            .collect()
    }

    /// Normalized class embeddings of the concepts.
    pub fn classes(&self) -> Result<Tensor<B, 2>> {
        Ok(class_embeddings(&self.clip, &self.prompts, &[])?)
    }

    /// The `top` most multimodal neurons of `layer`, with evidence and text alignment.
    pub fn neurons(
        &self,
        layer: &str,
        sets: &[LabelledImages<B>],
        top: usize,
        reduce: Reduce,
        examples: usize,
    ) -> Result<Vec<MultimodalNeuron>> {
        self.check_image_layer(layer)?;
        Ok(multimodal_neurons(
            &self.clip,
            layer,
            sets,
            self.classes()?,
            reduce,
            top,
            examples,
            BATCH,
        )?)
    }

    /// The probe sets (drawn, written): neurons are chosen on these.
    pub fn probe_sets(&self, per_concept: usize) -> Vec<LabelledImages<B>> {
        self.sets(per_concept, PROBE_FIRST)
    }

    /// The evaluation sets (drawn, written), disjoint from the probe sets.
    pub fn eval_sets(&self, per_concept: usize) -> Vec<LabelledImages<B>> {
        self.sets(per_concept, EVAL_FIRST)
    }

    /// Responses of `layer` to image sets, as `(values, units)` per set.
    pub fn responses(
        &self,
        layer: &str,
        sets: &[LabelledImages<B>],
        reduce: Reduce,
    ) -> Result<Vec<(Vec<f32>, usize)>> {
        self.check_image_layer(layer)?;
        Ok(layer_responses(&self.clip, layer, sets, reduce, BATCH)?)
    }

    /// Every unit of `layer` ranked by multimodality on `sets` (no text alignment: cheap).
    pub fn ranking(
        &self,
        layer: &str,
        sets: &[LabelledImages<B>],
        reduce: Reduce,
    ) -> Result<Vec<UnitScore>> {
        let responses = self.responses(layer, sets, reduce)?;
        let labels: Vec<Vec<usize>> = sets.iter().map(|s| s.labels.clone()).collect();
        Ok(rank_units(&probes(&responses, &labels), CONCEPTS.len()))
    }

    /// The `count` units of `layer` most multimodal for `concept` on `sets`.
    pub fn concept_units(
        &self,
        layer: &str,
        concept: usize,
        count: usize,
        sets: &[LabelledImages<B>],
        reduce: Reduce,
    ) -> Result<Vec<UnitScore>> {
        let responses = self.responses(layer, sets, reduce)?;
        let labels: Vec<Vec<usize>> = sets.iter().map(|s| s.labels.clone()).collect();
        let mut units = units_for_concept(&probes(&responses, &labels), concept);
        units.truncate(count);
        Ok(units)
    }

    /// A lesion of `units` of `layer`: zero, or mean ablation with means over `probe` images.
    pub fn lesion_of(
        &self,
        layer: &str,
        units: &[usize],
        mean: bool,
        probe: &[LabelledImages<B>],
    ) -> Result<Lesion> {
        let zero = Lesion::zero(layer, units.iter().copied());
        self.clip.check_lesion(&zero)?;
        if !mean {
            return Ok(zero);
        }
        if layer.starts_with("text.") {
            bail!(
                "mean ablation values come from images; `{layer}` is in the text tower (use zero ablation)"
            );
        }
        let images = Tensor::cat(probe.iter().map(|s| s.images.clone()).collect(), 0);
        let means = unit_means(&self.clip, &images, layer, BATCH)?;
        Ok(Lesion::mean(
            layer,
            units.iter().copied(),
            units.iter().map(|&u| means[u]),
        ))
    }

    /// Zero-shot accuracy per concept on `sets` (evaluation sets), before and after `lesions`.
    pub fn lesion(&self, lesions: &[Lesion], sets: &[LabelledImages<B>]) -> Result<LesionReport> {
        for l in lesions {
            self.clip.check_lesion(l)?;
        }
        Ok(lesion_experiment(
            &self.clip,
            sets,
            &self.prompts,
            lesions,
            BATCH,
        )?)
    }

    /// Typographic attacks on `per_concept` evaluation drawings of every concept.
    pub fn attack(&self, per_concept: usize, word: Option<usize>) -> Result<AttackReport> {
        let cases = attack_cases(per_concept, word);
        let size = self.pre.size as u32;
        let mut clean = Vec::with_capacity(cases.len());
        let mut labels = Vec::with_capacity(cases.len());
        let mut attacked = Vec::with_capacity(cases.len());
        let mut index = vec![0usize; CONCEPTS.len()];
        for case in &cases {
            let i = index[case.concept];
            index[case.concept] += 1;
            let s = seed(case.concept, EVAL_FIRST, i);
            clean.push(render_drawn(case.concept, size, s));
            labels.push(case.concept);
            attacked.push(render_mixed(case.concept, CONCEPTS[case.written], size, s));
        }
        let device = self.clip.device();
        let clean = LabelledImages {
            images: image_tensor::<B>(&clean, &self.pre, &device),
            labels,
        };
        let attacked = image_tensor::<B>(&attacked, &self.pre, &device);
        Ok(typographic_attack(
            &self.clip,
            &clean,
            &attacked,
            &cases,
            self.classes()?,
            BATCH,
        )?)
    }

    /// The units of `layer` in `k` families by their concept profiles on `sets`.
    pub fn families(
        &self,
        layer: &str,
        k: usize,
        sets: &[LabelledImages<B>],
        reduce: Reduce,
        seed: u64,
    ) -> Result<Families> {
        if k == 0 {
            bail!("--k must be at least 1");
        }
        let responses = self.responses(layer, sets, reduce)?;
        let labels: Vec<Vec<usize>> = sets.iter().map(|s| s.labels.clone()).collect();
        let profiles = concept_profiles(&probes(&responses, &labels), CONCEPTS.len());
        Ok(neuron_families(&profiles, CONCEPTS.len(), k, seed, 4)?)
    }
}

/// Probes over responses and their labels.
pub fn probes<'a>(responses: &'a [(Vec<f32>, usize)], labels: &'a [Vec<usize>]) -> Vec<Probe<'a>> {
    responses
        .iter()
        .zip(labels)
        .map(|((r, units), l)| Probe {
            responses: r,
            labels: l,
            units: *units,
        })
        .collect()
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
        assert!(
            concept_index("pizza")
                .unwrap_err()
                .to_string()
                .contains("circle")
        );
    }
}
