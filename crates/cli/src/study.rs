//! The concept study behind `modalscope zero-shot | neurons | directions | lesion | attack |
//! families`: a model, the 30 procedural concepts drawn and written, zero-shot prompts, and
//! the analyses of `modalscope-analysis` run on them.
//!
//! Which images probe the model, the prompts and the parsing of concepts and units live in
//! [`modalscope_analysis::concepts`], shared with the page: concept `c`, image `i` of a set
//! starting at `first` uses seed `HELDOUT_SEED + 1000 c + first + i`. Neurons are found (and
//! mean-ablation values and families computed) on the *probe* sets (`first` = 0); lesions and
//! attacks are measured on the disjoint *evaluation* sets (`first` = 500), so an effect is
//! never measured on the images that selected the neurons.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use burn::backend::Flex;
use burn::tensor::Tensor;
use modalscope_analysis::concepts::{
    attack_images, class_prompts, class_prompts_from, labelled_images,
};
use modalscope_analysis::reading::{MAX_WORDS, probe_words};
use modalscope_analysis::{
    AttackReport, ClassPrompts, DirectionScore, Families, LabelledImages, LesionReport,
    MultimodalNeuron, Probe, Reduce, UnitCost, UnitScore, ZeroShotReport, class_embeddings,
    classify, concept_directions, concept_profiles, layer_responses, lesion_experiment,
    multimodal_neurons, neuron_families, rank_units, typographic_attack, unit_means,
    units_for_concept, units_needed, zero_shot_report,
};
use modalscope_model::{Clip, Lesion, Preprocessor};
use modalscope_synth::{CONCEPTS, Overlay};
use modalscope_tokenizer::ClipTokenizer;

pub use modalscope_analysis::concepts::{
    EVAL_FIRST, PROBE_FIRST, attack_cases, concept_index, parse_units, seed,
};
pub use modalscope_synth::Modality;

/// The CPU backend the study runs on.
pub type B = Flex;

/// Images per forward pass.
pub const BATCH: usize = 64;

/// A model ready for the concept study.
pub struct Study {
    /// The model.
    pub clip: Clip<B>,
    /// The zero-shot prompts of every concept (`ZERO_SHOT_TEMPLATES` × [`CONCEPTS`]).
    pub prompts: ClassPrompts,
    /// How images are prepared for the model.
    pub pre: Preprocessor,
    /// The words the rendered-text probe writes (`reading::probe_words`).
    pub words: Vec<String>,
    /// The model's tokenizer, for prompts of the caller's own wording.
    pub tokenizer: ClipTokenizer,
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
        let prompts = class_prompts(&tokenizer);
        let pre = Preprocessor::for_config(clip.config());
        let words = probe_words(&clip.config().name, &tokenizer, MAX_WORDS)
            .into_iter()
            .map(|(w, _)| w)
            .collect();
        Ok(Self {
            clip,
            prompts,
            pre,
            words,
            tokenizer,
        })
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
                self.clip
                    .neuron_layers()
                    .last()
                    .map_or("vision.embeds", String::as_str)
            );
        }
        Ok(())
    }

    /// `per_concept` images of every concept in one modality, from image index `first`.
    pub fn images(
        &self,
        modality: Modality,
        per_concept: usize,
        first: usize,
    ) -> LabelledImages<B> {
        labelled_images(modality, per_concept, first, &self.pre, &self.clip.device())
    }

    /// Drawn and written sets, in that order.
    pub fn sets(&self, per_concept: usize, first: usize) -> Vec<LabelledImages<B>> {
        Modality::ALL
            .into_iter()
            .map(|m| self.images(m, per_concept, first))
            .collect()
    }

    /// Normalized class embeddings of the concepts.
    pub fn classes(&self) -> Result<Tensor<B, 2>> {
        Ok(class_embeddings(&self.clip, &self.prompts, &[])?)
    }

    /// Normalized class embeddings from `templates` (`{}` for the name), averaged; the shared
    /// prompts where there are none.
    pub fn classes_for(&self, templates: &[String]) -> Result<Tensor<B, 2>> {
        if templates.is_empty() {
            return self.classes();
        }
        let prompts = class_prompts_from(&self.tokenizer, templates)?;
        Ok(class_embeddings(&self.clip, &prompts, &[])?)
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
        Ok(rank_units(&probes(&responses, sets), CONCEPTS.len()))
    }

    /// Every concept's direction in `layer`, fit on `fit` and scored on `eval` (images the
    /// fit did not see), in concept order.
    pub fn directions(
        &self,
        layer: &str,
        fit: &[LabelledImages<B>],
        eval: &[LabelledImages<B>],
        reduce: Reduce,
    ) -> Result<Vec<DirectionScore>> {
        let r_fit = self.responses(layer, fit, reduce)?;
        let r_eval = self.responses(layer, eval, reduce)?;
        Ok(concept_directions(
            &probes(&r_fit, fit),
            &probes(&r_eval, eval),
            CONCEPTS.len(),
        )?)
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
        let mut units = units_for_concept(&probes(&responses, sets), concept);
        units.truncate(count);
        Ok(units)
    }

    /// The `count` units of `layer` whose silencing alone, held at `values` (see
    /// [`Self::hold_values`]), costs `concept`'s images on `sets` the most zero-shot margin in
    /// the modality that loses least.
    pub fn units_needed(
        &self,
        layer: &str,
        concept: usize,
        count: usize,
        values: &[f32],
        sets: &[LabelledImages<B>],
    ) -> Result<Vec<UnitCost>> {
        self.check_image_layer(layer)?;
        let mut units = units_needed(
            &self.clip,
            layer,
            values,
            sets,
            self.classes()?,
            concept,
            BATCH,
        )?;
        units.truncate(count);
        Ok(units)
    }

    /// What a lesion holds every unit of `layer` at: zero, or (`mean`, image-tower layers only)
    /// its mean over the `probe` images.
    pub fn hold_values(
        &self,
        layer: &str,
        mean: bool,
        probe: &[LabelledImages<B>],
    ) -> Result<Vec<f32>> {
        if !mean {
            return Ok(vec![0.0; self.clip.layer_units(layer)?]);
        }
        if layer.starts_with("text.") {
            bail!(
                "mean ablation values come from images; `{layer}` is in the text tower (use zero ablation)"
            );
        }
        let images = Tensor::cat(probe.iter().map(|s| s.images.clone()).collect(), 0);
        Ok(unit_means(&self.clip, &images, layer, BATCH)?)
    }

    /// A lesion of `units` of `layer`: zero, or mean ablation with means over `probe` images.
    pub fn lesion_of(
        &self,
        layer: &str,
        units: &[usize],
        mean: bool,
        probe: &[LabelledImages<B>],
    ) -> Result<Lesion> {
        self.clip
            .check_lesion(&Lesion::zero(layer, units.iter().copied()))?;
        self.lesion_holding(layer, units, &self.hold_values(layer, mean, probe)?)
    }

    /// A lesion of `units` of `layer`, each held at its entry of `values` (one per unit of the
    /// layer, from [`Self::hold_values`]).
    pub fn lesion_holding(&self, layer: &str, units: &[usize], values: &[f32]) -> Result<Lesion> {
        let lesion = Lesion::mean(
            layer,
            units.iter().copied(),
            units.iter().map(|&u| values.get(u).copied().unwrap_or(0.0)),
        );
        self.clip.check_lesion(&lesion)?;
        Ok(lesion)
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

    /// Zero-shot classification of `per_concept` held-out images of every concept in each of
    /// `modalities` (the set the training's evaluation and tests use), against the shared
    /// prompts or `templates`: one report per modality.
    pub fn zero_shot(
        &self,
        modalities: &[Modality],
        per_concept: usize,
        templates: &[String],
    ) -> Result<Vec<ZeroShotReport>> {
        let classes = self.classes_for(templates)?;
        modalities
            .iter()
            .map(|&m| {
                let set = self.images(m, per_concept, PROBE_FIRST);
                let predicted = classify(&self.clip, &set.images, classes.clone(), &[], BATCH)?;
                Ok(zero_shot_report(&predicted, &set.labels, CONCEPTS.len()))
            })
            .collect()
    }

    /// Typographic attacks on `per_concept` evaluation drawings of every concept, the word
    /// written as `overlay` says (what it leaves open as in the training data), classified
    /// against the shared prompts or `templates`.
    pub fn attack(
        &self,
        per_concept: usize,
        word: Option<usize>,
        overlay: Overlay,
        templates: &[String],
    ) -> Result<AttackReport> {
        let cases = attack_cases(per_concept, word);
        let (clean, attacked) = attack_images(&cases, self.pre.size as u32, overlay);
        let device = self.clip.device();
        let clean = LabelledImages {
            images: self.pre.batch(&clean, &device),
            labels: cases.iter().map(|c| c.concept).collect(),
        };
        let attacked = self.pre.batch(&attacked, &device);
        Ok(typographic_attack(
            &self.clip,
            &clean,
            &attacked,
            &cases,
            self.classes_for(templates)?,
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
        let profiles = concept_profiles(&probes(&responses, sets), CONCEPTS.len());
        Ok(neuron_families(&profiles, CONCEPTS.len(), k, seed, 4)?)
    }
}

/// Probes over the responses to image sets, labelled by the sets' concepts.
pub fn probes<'a>(
    responses: &'a [(Vec<f32>, usize)],
    sets: &'a [LabelledImages<B>],
) -> Vec<Probe<'a>> {
    responses
        .iter()
        .zip(sets)
        .map(|((r, units), set)| Probe {
            responses: r,
            labels: &set.labels,
            units: *units,
        })
        .collect()
}
