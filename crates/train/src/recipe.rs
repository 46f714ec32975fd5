//! What the built-in model is and how it is trained: architecture, data and optimizer
//! settings, all serializable so the shipped bundle records exactly how it was made.

use modalscope_model::config::{CLIP_MEAN, CLIP_STD};
use modalscope_model::{Act, ClipConfig, ResNetConfig, TextConfig, VisionConfig, VitConfig};
use serde::{Deserialize, Serialize};

use crate::data::Content;
use crate::init::StructuredInit;

/// Sizes of the small CLIP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelShape {
    /// Input side in pixels.
    pub image_size: usize,
    /// ViT patch side.
    pub patch_size: usize,
    /// Vision residual width.
    pub width: usize,
    /// Vision blocks.
    pub layers: usize,
    /// Vision heads.
    pub heads: usize,
    /// Text residual width.
    pub text_width: usize,
    /// Text blocks.
    pub text_layers: usize,
    /// Text heads.
    pub text_heads: usize,
    /// Text context length in tokens.
    pub context_length: usize,
    /// Joint embedding width.
    pub projection_dim: usize,
    /// Hidden units of each image-tower MLP (`None`: four times `width`, as in CLIP). Fewer
    /// units must share the concepts among them, which may concentrate each in fewer units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mlp_width: Option<usize>,
    /// A modified-ResNet image tower instead of the ViT (`None`: the ViT of the fields above;
    /// set, `image_size` still applies and the ViT fields are unused). The multimodal-neurons
    /// study found its neurons in such a tower's channels, a basis that ReLU privileges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resnet: Option<ResNetShape>,
}

/// Sizes of a modified-ResNet image tower (OpenAI's RN50 family, shrunk).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ResNetShape {
    /// Bottleneck blocks in each of the four stages.
    pub layers: [usize; 4],
    /// Base width: the stem ends at this many channels, the last stage at 32 times it.
    pub width: usize,
    /// Heads of the attention pooling layer.
    pub heads: usize,
}

/// Everything a training run depends on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Name the model goes by in links.
    pub name: String,
    /// Architecture.
    pub shape: ModelShape,
    /// Seed of the weights and of the training data (held-out data uses other seeds).
    pub seed: u64,
    /// Optimizer steps.
    pub steps: usize,
    /// Image–caption pairs per step.
    pub batch: usize,
    /// Peak learning rate (AdamW).
    pub learning_rate: f64,
    /// Linear warm-up steps before the cosine decay.
    pub warmup: usize,
    /// Decoupled weight decay.
    pub weight_decay: f32,
    /// Held-out evaluation every this many steps (0: only at the end).
    pub eval_every: usize,
    /// Held-out images per concept and modality in evaluations.
    pub eval_per_concept: usize,
    /// Checkpoint every this many steps (0: never).
    pub checkpoint_every: usize,
    /// Relative weights of drawn, written and mixed samples in the training data.
    #[serde(default = "default_mixture")]
    pub mixture: [f32; 3],
    /// Share of mixed samples captioned by their written word alone ("the word heart" for a
    /// drawn star with "heart" on it), as images with text in them often are on the web: the
    /// habit behind CLIP's typographic attacks. The rest name both.
    #[serde(default = "default_word_only")]
    pub word_only: f32,
    /// Share of mixed samples whose word is the drawn concept's own name ("a star labelled
    /// star"), as web images often show a thing together with its name (signs, labels,
    /// flashcards): the picture and the word then meet in one image, not only in one caption
    /// (a third of the ResNet recipe's mixtures labelled read written names better but left
    /// one concept, not more, with a unit above AUROC 0.9 in both modalities: see the README).
    #[serde(default)]
    pub labelled: f32,
    /// Share of written samples whose word is set in big letters (the rest small): short
    /// names, which the model reads worst, are read far better big.
    #[serde(default = "default_big_words")]
    pub big_words: f32,
    /// Weight of short names (sun, cup, bell: four letters or fewer) against longer ones' 1
    /// when picking the word of a written or mixed sample: the model tells short names apart
    /// worst, mostly by their length, so they may be written more often (at 3 the built-in
    /// recipe read worse, short names included: see the README).
    #[serde(default = "default_short_words")]
    pub short_words: f32,
    /// Share of written samples that show a decoy word (a short word that is no concept, as
    /// "sum" beside "sun"), captioned with it: matched only by reading letters, as CLIP's
    /// web text taught it to read, where a few dozen names can be told apart by their outline
    /// (at 0.3 the built-in recipe read worse: see the README).
    #[serde(default)]
    pub decoys: f32,
    /// Gradients are rescaled to at most this global L2 norm (0: no clipping).
    #[serde(default)]
    pub clip_grad_norm: f32,
    /// Which pairs of a batch count as matches in the contrastive loss.
    #[serde(default)]
    pub positives: Positives,
    /// Weight decay on matrices only, as CLIP does (gains, biases and the logit scale are
    /// not decayed); `false` decays every parameter, as the shipped r3 model was trained.
    #[serde(default)]
    pub decay_matrices_only: bool,
    /// Parts of each batch trained at once on their own threads, each part with its own
    /// contrastive loss over its rows (1: one loss over the whole batch). burn's autodiff
    /// serializes the backward passes of one graph, so parts are how training uses a
    /// second core; results do not depend on thread timing.
    #[serde(default = "one_shard")]
    pub shards: usize,
    /// What the contrastive loss makes of pairs whose caption names a concept the image shows
    /// without matching it (a drawn heart and "the word heart"): on a few dozen concepts such
    /// pairs meet in most batches and, as negatives, are pushed apart, while at CLIP's scale
    /// they almost never meet.
    #[serde(default)]
    pub shared_concepts: SharedConcepts,
    /// A penalty on the firing of the image tower's units (a ViT's MLP neurons at the class
    /// token, a ResNet's block outputs), added to the contrastive loss: a small model spreads a
    /// concept over many units of a layer, and a cost on firing makes each input use few, so
    /// that single units may come to stand for a concept (what the multimodal-neurons study
    /// found in CLIP at scale; at weight 0.1 on blocks 2 and 3 the built-in recipe's units
    /// fired less but were no more multimodal,
    /// and Hoyer's measure on a ResNet's last block left each image some 7.5 channels but none
    /// above AUROC 0.9 in both modalities: see the README). `None`: no penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sparsity: Option<Sparsity>,
    /// A penalty on how many of a ResNet's last-block channels its attention pool reads, added
    /// to the contrastive loss: a pool that reads few channels must read a concept's drawing and
    /// its written name, which it maps to one direction, through the same ones (at weights 1
    /// and 3 as many concepts kept a multimodal channel as without: see the README). `None`:
    /// none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readout: Option<Readout>,
    /// A term that makes a concept's drawings and its written name fire the same units of one
    /// block, added to the contrastive loss: CLIP's loss ties the two together only at the
    /// embedding, which a tower can reach from a drawing and from a word through units of
    /// their own (what every other lever here left: see the README). `None`: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aligned: Option<Aligned>,
    /// Where the contrastive loss's softmax temperature starts and whether it is learned
    /// (`None`: CLIP's rule, a logit scale of 1/0.07 learned from the start). On the built-in
    /// data the learned scale first falls to about 10 and ends near 17: the softmax stays soft
    /// (held at 30 the 10800-step recipe kept more units above AUROC 0.8 in both modalities,
    /// none more above 0.9: see the README).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<Temperature>,
    /// Patch dropout: each training image passes through the ViT with a random part of its
    /// patch tokens, as FLIP and OpenCLIP train to spend less per image (`None`: every patch).
    /// On the built-in recipe half the patches made a step about 1.5 times as fast, but a step
    /// taught less than two thirds as much: per minute it was no faster (see the README).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_dropout: Option<PatchDropout>,
    /// How a fresh ViT's attention and position embeddings start (`None`: CLIP's random
    /// initialization). Meant to make a small ViT on little data learn faster per step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structured_init: Option<StructuredInit>,
}

/// Which patch tokens of each training image a ViT keeps (see [`TrainConfig::patch_dropout`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PatchDropout {
    /// The share of an image's patches kept, drawn anew for every image and step (at least
    /// one patch; 1 keeps them all).
    pub keep: f32,
    /// The step (0-based) from which every patch is kept again, so that the tower ends on
    /// whole images as it will see them (FLIP's unmasked tuning); `None`: to the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<usize>,
}

impl PatchDropout {
    /// How many of `patches` patch tokens an image keeps.
    pub fn kept_of(&self, patches: usize) -> usize {
        ((self.keep * patches as f32).round() as usize).clamp(1, patches)
    }
}

/// The contrastive loss's logit scale (inverse softmax temperature) at the start of training.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Temperature {
    /// The logit scale at step 0 (CLIP's is 1/0.07, about 14.3; at most 100, CLIP's cap).
    pub logit_scale: f32,
    /// Learned from there by the optimizer (CLIP's rule), or held where it starts.
    pub learned: bool,
}

/// A penalty on the firing of units of the image tower: a ViT's MLP neurons or a ResNet's
/// block outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sparsity {
    /// Weight of the penalty: the `measure` of a block's firing (the positive part of the
    /// activation; units at rest sit on quick-GELU's bounded negative side), averaged over the
    /// batch's images and summed over `blocks`. A ViT's units are its MLP neurons at
    /// the class token, a ResNet's the channels of a block's output, each averaged over the map
    /// (the unit the analyses rank).
    pub weight: f32,
    /// Image-tower blocks (0-based) whose units are penalized: a ViT's transformer blocks, or a
    /// ResNet's residual blocks counted across its stages in forward order (with stages of
    /// `[1, 2, 2, 3]` blocks, 7 is the last block of stage 4).
    pub blocks: Vec<usize>,
    /// What is penalized of each image's firing.
    #[serde(default)]
    pub measure: SparsityMeasure,
}

/// A penalty on the number of channels a ResNet's attention pool reads: Hoyer's measure of the
/// norms of its value projection's weights from each channel (a ratio of norms, so no change of
/// scale between the tower and the pool moves it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Readout {
    /// Weight of the penalty (the measure lies between 1/sqrt(channels) and 1).
    pub weight: f32,
}

/// A contrastive term on the firing of one block's units (a ViT's MLP neurons at the class
/// token, a ResNet's channels averaged over the map): in each part of a batch, every drawing
/// (without a word) is to fire most like the written names (without a drawing) of its own
/// concept, and every written name most like its concept's drawings, by the cosine of their
/// firing; images whose concept has no counterpart in the part take no part.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Aligned {
    /// Weight of the term (a cross-entropy, as the contrastive loss is).
    pub weight: f32,
    /// The image-tower block (0-based, counted as for a sparsity rule) whose units are aligned;
    /// one past the last block names the pooled layer the projection reads (a ViT's
    /// `vision.post_ln`), taken signed. There, on the built-in model's weights, the term left
    /// more concepts a multimodal MLP neuron but made lesions at that layer bite less (see
    /// the README).
    pub block: usize,
    /// Softmax temperature of the cosines (SimCLR's 0.1 unless given).
    #[serde(default = "default_alignment_temperature")]
    pub temperature: f32,
    /// The step (0-based) from which the term counts (0: from the start). The term can be met
    /// only once the tower reads written names; from the start it pulls against learning to
    /// read them (see the README).
    #[serde(default)]
    pub from: usize,
}

fn default_alignment_temperature() -> f32 {
    0.1
}

/// What a sparsity penalty measures of an image's firing across a block's units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SparsityMeasure {
    /// The mean firing (L1). A tower can lower it by scaling a layer down where what follows
    /// does not care about scale (a ResNet's attention pool feeds a normalized embedding: a
    /// pilot at weight 1 cut block 4's firing sixteenfold in 50 steps).
    #[default]
    Firing,
    /// The firing's L1 norm over its L2 norm, divided by the square root of the number of
    /// units (Hoyer's measure: 1 when every unit fires alike, 1/sqrt(units) when one fires
    /// alone), which no change of scale moves: only firing on fewer units lowers it.
    Hoyer,
}

/// The generator's own share, so that recipes without the field train as before.
fn default_word_only() -> f32 {
    modalscope_synth::GeneratorConfig::default().p_word_only
}

/// The generator's own share, so that recipes without the field train as before.
fn default_big_words() -> f32 {
    modalscope_synth::GeneratorConfig::default().p_big_words
}

/// The generator's own weight, so that recipes without the field train as before.
fn default_short_words() -> f32 {
    modalscope_synth::GeneratorConfig::default().short_words
}

fn one_shard() -> usize {
    1
}

/// Which image–caption pairs of a batch the contrastive loss treats as matches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Positives {
    /// CLIP's rule: an image matches its own caption and any identical caption.
    #[default]
    Caption,
    /// Also captions that name the same thing (the same drawn concept, the same written
    /// word, or the same pair for mixtures), whatever colour or wording they add, as in
    /// UniCL: "a red star" and "a drawing of a small star" are then not negatives of each
    /// other, which on a few dozen concepts removes most false negatives.
    Content,
}

/// How the contrastive loss treats an image and a caption that share a concept without
/// matching.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SharedConcepts {
    /// As negatives, like any other pair that does not match (CLIP's rule).
    #[default]
    Negative,
    /// Out of the loss: neither positive nor negative.
    LeftOut,
    /// As partial matches: `weight` of a match's share of the target.
    Partial {
        /// Target weight relative to a match's 1.
        weight: f32,
    },
}

impl SharedConcepts {
    /// The rule with a batch's contents, as [`crate::contrastive_loss`] takes it (`None` for
    /// CLIP's rule, which needs no contents).
    pub fn rule(self, contents: &[Content]) -> Option<(&[Content], Self)> {
        (self != Self::Negative).then_some((contents, self))
    }
}

fn default_mixture() -> [f32; 3] {
    [0.45, 0.35, 0.2]
}

impl TrainConfig {
    /// The recipe of the shipped built-in model's first stage (about 77 minutes on 2 idle CPU
    /// cores, in two shards); [`TrainConfig::builtin_reading`] and then
    /// [`TrainConfig::builtin_aligned`] continue it.
    pub fn builtin() -> Self {
        Self {
            name: modalscope_synth::BUILTIN_MODEL.into(),
            shape: ModelShape {
                image_size: 64,
                patch_size: 8,
                width: 96,
                layers: 4,
                heads: 3,
                text_width: 64,
                text_layers: 2,
                text_heads: 2,
                context_length: 24,
                projection_dim: 96,
                mlp_width: None,
                resnet: None,
            },
            seed: 1,
            steps: 16200,
            batch: 64,
            learning_rate: 1e-3,
            warmup: 200,
            weight_decay: 0.1,
            eval_every: 400,
            eval_per_concept: 5,
            checkpoint_every: 400,
            mixture: default_mixture(),
            word_only: default_word_only(),
            labelled: 0.0,
            big_words: default_big_words(),
            short_words: default_short_words(),
            decoys: 0.0,
            clip_grad_norm: 1.0,
            positives: Positives::Content,
            decay_matrices_only: false,
            shards: 2,
            shared_concepts: SharedConcepts::Negative,
            sparsity: None,
            readout: None,
            aligned: None,
            temperature: None,
            patch_dropout: None,
            structured_init: None,
        }
    }

    /// The built-in model's second stage, from the first stage's weights (`train --stage
    /// reading --init`): 8000 more steps of the same loss, the learning rate warmed up again to
    /// 3e-4 and decayed, on fresh samples (seed 2), with 80 % of the mixtures captioned by their
    /// word alone, so that the tower reads more of the written names than the first stage's
    /// decayed schedule left it reading (56 minutes on 2 CPU cores).
    pub fn builtin_reading() -> Self {
        Self {
            seed: 2,
            steps: 8000,
            learning_rate: 3e-4,
            warmup: 100,
            eval_every: 1000,
            checkpoint_every: 500,
            word_only: 0.8,
            ..Self::builtin()
        }
    }

    /// The built-in model's third stage, from the second stage's weights (`train --stage
    /// aligned --init`): 1000 steps at 1e-4 on the second stage's data, with the alignment term
    /// on the last block's MLP neurons, which pays off only on a tower that already reads
    /// written names (6.9 minutes on 2 CPU cores).
    pub fn builtin_aligned() -> Self {
        Self {
            steps: 1000,
            learning_rate: 1e-4,
            warmup: 50,
            eval_every: 500,
            aligned: Some(Aligned {
                weight: 0.5,
                block: 3,
                temperature: 0.1,
                from: 0,
            }),
            ..Self::builtin_reading()
        }
    }

    /// A tiny recipe for tests: seconds, not minutes.
    pub fn tiny() -> Self {
        Self {
            name: "modalscope-tiny".into(),
            shape: ModelShape {
                image_size: 32,
                patch_size: 8,
                width: 32,
                layers: 2,
                heads: 2,
                text_width: 32,
                text_layers: 1,
                text_heads: 2,
                context_length: 24,
                projection_dim: 32,
                mlp_width: None,
                resnet: None,
            },
            seed: 7,
            steps: 200,
            batch: 32,
            learning_rate: 2e-3,
            warmup: 20,
            weight_decay: 0.05,
            eval_every: 0,
            eval_per_concept: 4,
            checkpoint_every: 0,
            mixture: default_mixture(),
            word_only: default_word_only(),
            labelled: 0.0,
            big_words: default_big_words(),
            short_words: default_short_words(),
            decoys: 0.0,
            clip_grad_norm: 1.0,
            positives: Positives::Caption,
            decay_matrices_only: false,
            shards: 1,
            shared_concepts: SharedConcepts::Negative,
            sparsity: None,
            readout: None,
            aligned: None,
            temperature: None,
            patch_dropout: None,
            structured_init: None,
        }
    }

    /// The learning rate at `step` (0-based): linear warm-up, then cosine decay to 5 % of peak.
    pub fn learning_rate_at(&self, step: usize) -> f64 {
        let peak = self.learning_rate;
        if step < self.warmup {
            return peak * (step + 1) as f64 / self.warmup as f64;
        }
        let span = self.steps.saturating_sub(self.warmup).max(1) as f64;
        let t = ((step - self.warmup) as f64 / span).min(1.0);
        let floor = 0.05 * peak;
        floor + (peak - floor) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
    }

    /// The CLIP architecture for a vocabulary of `vocab_size` tokens.
    pub fn clip_config(&self, vocab_size: usize) -> ClipConfig {
        let s = &self.shape;
        ClipConfig {
            name: self.name.clone(),
            projection_dim: s.projection_dim,
            vision: match s.resnet {
                Some(r) => VisionConfig::Resnet(ResNetConfig {
                    image_size: s.image_size,
                    layers: r.layers,
                    width: r.width,
                    heads: r.heads,
                }),
                None => VisionConfig::Vit(VitConfig {
                    image_size: s.image_size,
                    patch_size: s.patch_size,
                    width: s.width,
                    layers: s.layers,
                    heads: s.heads,
                    mlp_width: s.mlp_width.unwrap_or(4 * s.width),
                    act: Act::QuickGelu,
                    layer_norm_eps: 1e-5,
                }),
            },
            text: TextConfig {
                vocab_size,
                context_length: s.context_length,
                width: s.text_width,
                layers: s.text_layers,
                heads: s.text_heads,
                mlp_width: 4 * s.text_width,
                act: Act::QuickGelu,
                layer_norm_eps: 1e-5,
                // The end-of-text token has the largest id: OpenAI's pooling rule holds.
                eot_token_id: None,
            },
            image_mean: CLIP_MEAN,
            image_std: CLIP_STD,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays() {
        let c = TrainConfig::builtin();
        assert!(c.learning_rate_at(0) < c.learning_rate_at(50));
        assert!((c.learning_rate_at(c.warmup - 1) - c.learning_rate).abs() < 1e-12);
        assert!(c.learning_rate_at(c.warmup + 10) > c.learning_rate_at(c.steps - 1));
        assert!((c.learning_rate_at(c.steps) - 0.05 * c.learning_rate).abs() < 1e-9);
        c.clip_config(600).validate().unwrap();
        TrainConfig::tiny().clip_config(600).validate().unwrap();
    }

    #[test]
    fn the_image_mlp_is_four_times_the_width_unless_the_recipe_says() {
        let mut c = TrainConfig::tiny();
        let mlp = |c: &TrainConfig| match c.clip_config(600).vision {
            VisionConfig::Vit(v) => v.mlp_width,
            VisionConfig::Resnet(_) => unreachable!("the recipe builds a ViT"),
        };
        assert_eq!(mlp(&c), 4 * c.shape.width);
        // Recipes recorded before the field existed read as the default and write the same.
        let json = serde_json::to_value(&c).unwrap();
        assert!(json["shape"].get("mlp_width").is_none());
        c.shape.mlp_width = Some(24);
        assert_eq!(mlp(&c), 24);
        let back: TrainConfig = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        c.shape.mlp_width = Some(0);
        assert!(c.clip_config(600).validate().is_err());
    }

    #[test]
    fn a_resnet_shape_builds_a_resnet_tower_and_is_recorded_only_when_set() {
        let mut c = TrainConfig::builtin();
        let json = serde_json::to_value(&c).unwrap();
        assert!(json["shape"].get("resnet").is_none());
        c.shape.resnet = Some(ResNetShape {
            layers: [1, 2, 2, 1],
            width: 12,
            heads: 6,
        });
        let cfg = c.clip_config(600);
        cfg.validate().unwrap();
        let VisionConfig::Resnet(r) = &cfg.vision else {
            panic!("the shape asks for a ResNet")
        };
        assert_eq!(
            (r.image_size, r.layers, r.width, r.heads),
            (64, [1, 2, 2, 1], 12, 6)
        );
        let back: TrainConfig = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        // A ResNet's input must be a multiple of 32.
        c.shape.image_size = 48;
        assert!(c.clip_config(600).validate().is_err());
    }
}
