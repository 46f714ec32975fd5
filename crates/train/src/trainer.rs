//! The training loop: contrastive CLIP loss, AdamW with warm-up and cosine decay, held-out
//! evaluation, checkpoints that resume to the same result as an uninterrupted run.

use std::path::Path;

use burn::grad_clipping::GradientClippingConfig;
use burn::module::{AutodiffModule, Module};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{AdamW, AdamWConfig, GradientsAccumulator, GradientsParams, Optimizer};
use burn::record::{BinBytesRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use modalscope_model::bundle::{self, Precision, TokenizerFiles};
use modalscope_model::{Activation, Capture, Clip, Preprocessor, SeededRng, normalize};
use modalscope_synth::CONCEPTS;
use modalscope_tokenizer::ClipTokenizer;
use serde::{Deserialize, Serialize};

use crate::data::{
    Batch, Content, Modality, TrainingData, builtin_tokenizer_files, heldout, image_tensor,
    tokenizer,
};
use crate::decay::Vectors;
use crate::init::StructuredInit;
use crate::recipe::{
    Aligned, PatchDropout, Readout, SharedConcepts, Sparsity, SparsityMeasure, Temperature,
    TrainConfig,
};
use crate::zeroshot::{TEMPLATES, accuracy, class_embeddings, embed_images, predict};
use crate::{Result, TrainError};

/// ln(100): CLIP caps its learned temperature at 100.
const MAX_LOGIT_SCALE: f32 = 4.605_17;
/// Seed offset of the held-out loss batches.
const HELDOUT_DATA_SEED: u64 = 0x005e_ed0f_4e1d;

/// What one optimizer step did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepLog {
    /// Step number (1-based: steps done).
    pub step: usize,
    /// Contrastive loss of the batch.
    pub loss: f32,
    /// The recipe's sparsity, readout and alignment terms on the batch, added to the loss it
    /// minimizes (0 without).
    #[serde(default)]
    pub penalty: f32,
    /// Learning rate used.
    pub learning_rate: f64,
    /// The softmax temperature's inverse (exp of the logit scale).
    pub logit_scale: f32,
}

/// Held-out measurements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Steps done when measured.
    pub step: usize,
    /// Zero-shot accuracy on drawn concepts.
    pub drawn_accuracy: f64,
    /// Zero-shot accuracy on written concepts.
    pub written_accuracy: f64,
    /// Contrastive loss on a held-out batch.
    pub heldout_loss: f32,
}

/// The logit added to pairs left out of the contrastive loss (exp underflows to 0).
const LEFT_OUT: f32 = -1e4;

/// Contrastive loss of a batch: symmetric cross-entropy of scaled cosine similarities, with
/// pairs of the same match group sharing their target (they are not negatives of each other).
/// With `shared`, the pairs whose caption names a concept the image shows without matching it
/// are treated as the rule says instead of as negatives.
pub fn contrastive_loss<B: Backend>(
    clip: &Clip<B>,
    images: Tensor<B, 4>,
    ids: &[Vec<u32>],
    groups: &[u64],
    shared: Option<(&[Content], SharedConcepts)>,
) -> Result<Tensor<B, 1>> {
    contrastive_loss_of(clip, clip.encode_image(images), ids, groups, shared)
}

/// [`contrastive_loss`] of image embeddings already computed (not L2-normalized).
fn contrastive_loss_of<B: Backend>(
    clip: &Clip<B>,
    image_embeds: Tensor<B, 2>,
    ids: &[Vec<u32>],
    groups: &[u64],
    shared: Option<(&[Content], SharedConcepts)>,
) -> Result<Tensor<B, 1>> {
    let n = ids.len();
    if groups.len() != n {
        return Err(TrainError::Recipe(format!(
            "{n} captions but {} match groups",
            groups.len()
        )));
    }
    if let Some((contents, _)) = shared
        && contents.len() != n
    {
        return Err(TrainError::Recipe(format!(
            "{n} captions but {} contents",
            contents.len()
        )));
    }
    let device = image_embeds.device();
    let ie = normalize(image_embeds);
    let te = normalize(clip.encode_text(ids)?);
    let scale = clip
        .logit_scale
        .val()
        .clamp_max(MAX_LOGIT_SCALE)
        .exp()
        .unsqueeze::<2>();
    let mut logits = ie.matmul(te.transpose()) * scale;
    let matches = |i: usize, j: usize| groups[j] == groups[i] || ids[j] == ids[i];
    let shares =
        |i: usize, j: usize| shared.is_some_and(|(c, _)| !matches(i, j) && c[j].named_in(&c[i]));
    // Target weight of (image i, caption j) before each row is normalized.
    let partial = match shared {
        Some((_, SharedConcepts::Partial { weight })) => weight,
        _ => 0.0,
    };
    let weight = |i: usize, j: usize| {
        if matches(i, j) {
            1.0
        } else if shares(i, j) {
            partial
        } else {
            0.0
        }
    };
    if let Some((_, SharedConcepts::LeftOut)) = shared {
        // Neither positive nor negative: a large negative logit takes the pair out of both
        // softmaxes.
        let mask: Vec<f32> = (0..n * n)
            .map(|k| if shares(k / n, k % n) { LEFT_OUT } else { 0.0 })
            .collect();
        logits = logits + Tensor::<B, 2>::from_data(TensorData::new(mask, [n, n]), &device);
    }
    // Every row has its own match, so every row of both directions is counted.
    let (to_text, _) = row_targets::<B>(n, n, &weight, &device);
    let (to_image, _) = row_targets::<B>(n, n, &|j, i| weight(i, j), &device);
    let image_to_text = -(log_softmax(logits.clone(), 1) * to_text).sum_dim(1).mean();
    let text_to_image = -(log_softmax(logits.transpose(), 1) * to_image)
        .sum_dim(1)
        .mean();
    Ok((image_to_text + text_to_image) / 2.0)
}

/// The targets of one direction of a contrastive loss: pair (r, k) of `rows x cols` weighted by
/// `weight(r, k)`, each row divided by its sum so that it is a distribution (a row without
/// weight stays 0 and out of the loss), with how many rows have weight.
fn row_targets<B: Backend>(
    rows: usize,
    cols: usize,
    weight: &dyn Fn(usize, usize) -> f32,
    device: &B::Device,
) -> (Tensor<B, 2>, usize) {
    let mut t = vec![0f32; rows * cols];
    let mut counted = 0;
    for (r, row) in t.chunks_mut(cols.max(1)).enumerate().take(rows) {
        for (k, v) in row.iter_mut().enumerate() {
            *v = weight(r, k);
        }
        let sum: f32 = row.iter().sum();
        if sum > 0.0 {
            row.iter_mut().for_each(|v| *v /= sum);
            counted += 1;
        }
    }
    (
        Tensor::from_data(TensorData::new(t, [rows, cols]), device),
        counted,
    )
}

/// A part of a batch's images as the image tower sees them while training: whole, or with
/// the patch tokens each image keeps under patch dropout.
pub struct TrainingImages<B: Backend> {
    /// `[images, 3, size, size]`, normalized for the model.
    pub images: Tensor<B, 4>,
    /// The patches each image keeps (grid indices), where some are dropped.
    pub kept: Option<Vec<Vec<usize>>>,
}

impl<B: Backend> From<Tensor<B, 4>> for TrainingImages<B> {
    /// Whole images.
    fn from(images: Tensor<B, 4>) -> Self {
        Self { images, kept: None }
    }
}

/// The patches each of `images` images keeps at `step` under patch dropout: `keep` of
/// `patches`, drawn from the run's `seed`, the step and the image's place in the batch alone
/// (so a resumed run draws the same), in grid order.
pub fn draw_kept_patches(
    seed: u64,
    step: usize,
    images: usize,
    patches: usize,
    keep: usize,
) -> Vec<Vec<usize>> {
    (0..images)
        .map(|i| {
            let draw = (step as u64).wrapping_mul(0x1_0000).wrapping_add(i as u64);
            let mut rng = SeededRng::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ draw);
            let mut order: Vec<usize> = (0..patches).collect();
            // The first `keep` places of a Fisher-Yates shuffle.
            for j in 0..keep.min(patches) {
                let k = j + (rng.next_u64() % (patches - j) as u64) as usize;
                order.swap(j, k);
            }
            order.truncate(keep);
            order.sort_unstable();
            order
        })
        .collect()
}

/// The training objective of a batch (whole images, or the patches each keeps under patch
/// dropout, as [`TrainingImages`] says): its contrastive loss and, with a sparsity rule or an
/// alignment term, their weighted sum: the sparsity rule's measure (mean firing, or Hoyer's) of
/// the positive part of its units, and the alignment term's contrastive loss between the
/// firing of the batch's drawings and of its written names (`aligned` with each sample's
/// content). A unit is a ViT block's MLP neuron at the class token or a ResNet block's channel
/// averaged over the map. The two parts are returned on their own; the trainer minimizes
/// their sum.
pub fn training_loss<B: Backend>(
    clip: &Clip<B>,
    images: impl Into<TrainingImages<B>>,
    ids: &[Vec<u32>],
    groups: &[u64],
    shared: Option<(&[Content], SharedConcepts)>,
    sparsity: Option<&Sparsity>,
    aligned: Option<(&Aligned, &[Content])>,
) -> Result<(Tensor<B, 1>, Option<Tensor<B, 1>>)> {
    let TrainingImages { images, kept } = images.into();
    let dropping = |cap: Capture<B>| match kept {
        Some(kept) => cap.keeping_patches(kept),
        None => cap,
    };
    if sparsity.is_none() && aligned.is_none() {
        let embeds = clip
            .encode_image_with(images, &mut dropping(Capture::none()))
            .expect("a pass without capture runs to the end");
        return Ok((
            contrastive_loss_of(clip, embeds, ids, groups, shared)?,
            None,
        ));
    }
    let names = clip.neuron_layers();
    if let Some(sparsity) = sparsity {
        check_sparsity(sparsity, names.len())?;
    }
    if let Some((rule, contents)) = aligned {
        check_aligned(rule, names.len())?;
        if contents.len() != ids.len() {
            return Err(TrainError::Recipe(format!(
                "{} captions but {} contents",
                ids.len(),
                contents.len()
            )));
        }
    }
    let mut layers: Vec<String> = sparsity
        .iter()
        .flat_map(|s| s.blocks.iter().map(|&b| names[b].clone()))
        .collect();
    let aligned_layer = aligned.map(|(rule, _)| {
        names
            .get(rule.block)
            .cloned()
            .unwrap_or_else(|| clip.pooled_layer())
    });
    if let Some(layer) = &aligned_layer
        && !layers.contains(layer)
    {
        layers.push(layer.clone());
    }
    let mut cap = dropping(Capture::only(layers.clone()).to_the_end());
    let embeds = clip
        .encode_image_with(images, &mut cap)
        .expect("a pass told to run to the end returns the embedding");
    let loss = contrastive_loss_of(clip, embeds, ids, groups, shared)?;
    let mut firings = Vec::with_capacity(layers.len());
    for layer in &layers {
        firings.push((layer, firing_of(&mut cap, layer)?));
    }
    let firing = |layer: &String| {
        firings
            .iter()
            .find(|(l, _)| *l == layer)
            .map(|(_, f)| f.clone())
            .expect("every penalized layer was captured")
    };
    let mut penalty: Option<Tensor<B, 1>> = None;
    let mut add = |term: Tensor<B, 1>| {
        penalty = Some(match penalty.take() {
            Some(p) => p + term,
            None => term,
        });
    };
    if let Some(sparsity) = sparsity {
        for &b in &sparsity.blocks {
            let firing = firing(&names[b]);
            let activity = match sparsity.measure {
                SparsityMeasure::Firing => firing.mean(),
                SparsityMeasure::Hoyer => hoyer(firing),
            };
            add(activity * sparsity.weight);
        }
    }
    if let (Some((rule, contents)), Some(layer)) = (aligned, &aligned_layer)
        && let Some(term) = alignment(firing(layer), contents, rule.temperature)
    {
        add(term * rule.weight);
    }
    Ok((loss, penalty))
}

/// Each image's firing of a captured layer's units, `[images, units]`: the positive part of a
/// token layer's class token or of a map's channels, each averaged over the map; a pooled
/// layer's vector as it is (a LayerNorm's output is signed, and no unit rests at zero).
fn firing_of<B: Backend>(cap: &mut Capture<B>, layer: &str) -> Result<Tensor<B, 2>> {
    // Firing is the positive part: quick-GELU's negative side is bounded (-0.17), and most
    // units rest there; a ResNet block ends in a ReLU, so there it changes nothing.
    match cap.take(layer) {
        Some(Activation::Tokens { tensor, .. }) => {
            let [b, _, units] = tensor.dims();
            Ok(tensor
                .slice([0..b, 0..1, 0..units])
                .clamp_min(0.0)
                .squeeze_dim(1))
        }
        Some(Activation::Pooled(v)) => Ok(v),
        Some(Activation::Map(map)) => {
            let [b, c, h, w] = map.dims();
            Ok(map
                .clamp_min(0.0)
                .reshape([b, c, h * w])
                .mean_dim(2)
                .squeeze_dim(2))
        }
        _ => Err(TrainError::Recipe(format!(
            "{layer} is neither a token sequence nor a feature map"
        ))),
    }
}

/// The alignment term of a part of a batch: a contrastive loss between the firing of its
/// drawings (without a word) and of its written names (without a drawing), cosines over
/// `temperature`, in which a drawing and a name of the same concept match, taken both ways and
/// averaged over the images that have a match in the part (`None` where none has).
fn alignment<B: Backend>(
    firing: Tensor<B, 2>,
    contents: &[Content],
    temperature: f32,
) -> Option<Tensor<B, 1>> {
    // The images showing only a drawing (k = 0) or only a word (k = 1), with its concept.
    let only = |k: usize| -> Vec<(i64, u16)> {
        contents
            .iter()
            .enumerate()
            .filter(|(_, c)| c.image[k] != 0 && c.image[1 - k] == 0)
            .map(|(i, c)| (i as i64, c.image[k]))
            .collect()
    };
    let (drawn, written) = (only(0), only(1));
    let (nd, nw) = (drawn.len(), written.len());
    let matched: Vec<bool> = drawn
        .iter()
        .flat_map(|&(_, d)| written.iter().map(move |&(_, w)| d == w))
        .collect();
    if !matched.contains(&true) {
        return None;
    }
    let device = firing.device();
    let rows = |v: &[(i64, u16)]| {
        let idx: Vec<i64> = v.iter().map(|&(i, _)| i).collect();
        Tensor::<B, 1, burn::tensor::Int>::from_data(TensorData::new(idx, [v.len()]), &device)
    };
    // Centred on the part's mean firing: what a unit does for one concept more than for the
    // others (what its AUROC counts), not the firing every image shares, which would make all
    // cosines alike and leave the softmax little to learn from.
    let f = normalize(firing.clone() - firing.mean_dim(0));
    let cosines = f
        .clone()
        .select(0, rows(&drawn))
        .matmul(f.select(0, rows(&written)).transpose())
        / temperature;
    let hit = |r: usize, k: usize| f32::from(u8::from(matched[r * nw + k]));
    let (to_written, nd_matched) = row_targets::<B>(nd, nw, &hit, &device);
    let (to_drawn, nw_matched) = row_targets::<B>(nw, nd, &|r, k| hit(k, r), &device);
    let drawn_side = -(log_softmax(cosines.clone(), 1) * to_written).sum() / nd_matched as f32;
    let written_side = -(log_softmax(cosines.transpose(), 1) * to_drawn).sum() / nw_matched as f32;
    Some((drawn_side + written_side) / 2.0)
}

/// The recipe's readout penalty on a model: its weight times Hoyer's measure of the norms of
/// the attention pool's value weights from each last-block channel; refused on a ViT.
pub fn readout_penalty<B: Backend>(clip: &Clip<B>, readout: &Readout) -> Result<Tensor<B, 1>> {
    let Some(resnet) = &clip.resnet else {
        return Err(TrainError::Recipe(
            "a readout penalty needs a ResNet image tower (its attention pool)".into(),
        ));
    };
    // `[channels in, out]`; a tiny constant keeps the gradient of a zero row finite.
    let weight = resnet.attnpool.v.weight.val();
    let channels = weight.dims()[0];
    let norms = weight.powi_scalar(2).sum_dim(1).add_scalar(1e-12).sqrt();
    Ok(hoyer(norms.reshape([1, channels])) * readout.weight)
}

/// Hoyer's measure of each row of `x` (its L1 norm over its L2 norm, over the square root of
/// its length: 1 when all its values are alike, 1/sqrt(length) when one stands alone),
/// averaged over the rows; a tiny constant keeps an all-zero row at 0.
fn hoyer<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 1> {
    let n = x.dims()[1] as f32;
    let l1 = x.clone().sum_dim(1);
    let l2 = x.powi_scalar(2).sum_dim(1).sqrt();
    (l1 / (l2 * n.sqrt() + 1e-6)).mean()
}

/// Refuses patch dropout that keeps no share of the patches, more than all of them, or is
/// asked of a ResNet, whose image tower has no patch tokens.
fn check_patch_dropout(dropout: &PatchDropout, resnet: bool) -> Result<()> {
    if resnet {
        return Err(TrainError::Recipe(
            "patch dropout needs a ViT image tower; a ResNet has no patch tokens".into(),
        ));
    }
    if !(dropout.keep > 0.0 && dropout.keep <= 1.0) {
        return Err(TrainError::Recipe(format!(
            "patch dropout keeps {} of the patches: more than 0, at most 1",
            dropout.keep
        )));
    }
    Ok(())
}

/// Refuses a structured init asked of a ResNet, which has neither attention layers nor patch
/// positions, or one whose products or scale are not finite numbers (the SVD needs them).
fn check_structured_init(init: &StructuredInit, resnet: bool) -> Result<()> {
    if resnet {
        return Err(TrainError::Recipe(
            "a structured init is for a ViT image tower, not a ResNet".into(),
        ));
    }
    let mimetic = init
        .mimetic
        .iter()
        .flat_map(|m| m.qk.into_iter().chain(m.vo));
    if let Some(v) = mimetic
        .chain(init.sincos_positions)
        .find(|v| !v.is_finite())
    {
        return Err(TrainError::Recipe(format!(
            "a structured init's values must be finite numbers, not {v}"
        )));
    }
    Ok(())
}

/// Refuses a recipe weight that is not a number of at least 0; `what` names it in the message.
fn check_weight(what: &str, w: f32) -> Result<()> {
    if w.is_finite() && w >= 0.0 {
        Ok(())
    } else {
        Err(TrainError::Recipe(format!(
            "{what} must be a number of at least 0, not {w}"
        )))
    }
}

/// `model` with its logit scale set where `temperature` starts it; refuses a scale that is not
/// a number above 0 and at most CLIP's cap of 100.
fn start_logit_scale<B: AutodiffBackend>(
    mut model: Clip<B>,
    temperature: Temperature,
) -> Result<Clip<B>> {
    let scale = temperature.logit_scale;
    if !(scale.is_finite() && scale > 0.0 && scale <= 100.0) {
        return Err(TrainError::Recipe(format!(
            "a starting logit scale must be a number above 0 and at most 100, not {scale}"
        )));
    }
    model.logit_scale = model.logit_scale.map(|t| {
        Tensor::<B, 1>::from_data(TensorData::new(vec![scale.ln()], [1]), &t.device())
            .require_grad()
    });
    Ok(model)
}

/// Refuses an alignment term with a bad weight or temperature, or a block the tower lacks.
fn check_aligned(rule: &Aligned, blocks: usize) -> Result<()> {
    check_weight("an alignment weight", rule.weight)?;
    if !(rule.temperature.is_finite() && rule.temperature > 0.0) {
        return Err(TrainError::Recipe(format!(
            "an alignment temperature must be a number above 0, not {}",
            rule.temperature
        )));
    }
    if rule.block > blocks {
        return Err(TrainError::Recipe(format!(
            "alignment names block {}, but the image tower has blocks 0 to {} and {blocks} for \
             its pooled layer",
            rule.block,
            blocks.saturating_sub(1)
        )));
    }
    Ok(())
}

/// Refuses a sparsity rule that names no block, a block the tower lacks, the same block
/// twice, or a weight that is not a number of at least 0.
fn check_sparsity(sparsity: &Sparsity, blocks: usize) -> Result<()> {
    check_weight("a sparsity weight", sparsity.weight)?;
    if sparsity.blocks.is_empty() {
        return Err(TrainError::Recipe(
            "sparsity names no block to penalize".into(),
        ));
    }
    for (k, &b) in sparsity.blocks.iter().enumerate() {
        if b >= blocks {
            return Err(TrainError::Recipe(format!(
                "sparsity names block {b}, but the image tower has blocks 0 to {}",
                blocks - 1
            )));
        }
        if sparsity.blocks[..k].contains(&b) {
            return Err(TrainError::Recipe(format!(
                "sparsity names block {b} twice"
            )));
        }
    }
    Ok(())
}

/// Zero-shot accuracy of a model on held-out drawn and written concepts.
pub fn zero_shot<B: Backend>(
    clip: &Clip<B>,
    tok: &ClipTokenizer,
    per_concept: usize,
) -> (f64, f64) {
    let classes = class_embeddings(clip, tok, CONCEPTS, TEMPLATES);
    let pre = Preprocessor::for_config(clip.config());
    let device = clip.device();
    let mut acc = [0.0; 2];
    for (slot, modality) in [Modality::Drawn, Modality::Written].into_iter().enumerate() {
        let (images, labels) = heldout(modality, per_concept, pre.size);
        let x = image_tensor::<B>(&images, &pre, &device);
        acc[slot] = accuracy(
            &predict(embed_images(clip, x, 64), classes.clone()),
            &labels,
        );
    }
    (acc[0], acc[1])
}

/// A training run in progress.
pub struct Trainer<B: AutodiffBackend> {
    config: TrainConfig,
    model: Option<Clip<B>>,
    optim: OptimizerAdaptor<AdamW, Clip<B>, B>,
    step: usize,
    data: TrainingData,
    heldout_data: TrainingData,
    files: TokenizerFiles,
    tokenizer: ClipTokenizer,
    device: B::Device,
    /// Every step so far.
    pub log: Vec<StepLog>,
    /// Every evaluation so far.
    pub evals: Vec<Metrics>,
    /// How the weights this run started from were made (their bundle's record), if it did not
    /// start from random ones: the new bundle records it too.
    origin: Option<serde_json::Value>,
}

#[derive(Serialize, Deserialize)]
struct State {
    config: TrainConfig,
    step: usize,
    log: Vec<StepLog>,
    evals: Vec<Metrics>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    origin: Option<serde_json::Value>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl<B: AutodiffBackend> Trainer<B> {
    /// A fresh run: seeded random weights, step 0.
    pub fn new(config: TrainConfig, device: B::Device) -> Result<Self> {
        let files = builtin_tokenizer_files();
        let tok = tokenizer(&files, config.shape.context_length);
        let clip_config = config.clip_config(tok.vocab_size());
        clip_config.validate()?;
        let mut store = modalscope_model::random_store(&clip_config, config.seed);
        if let Some(init) = &config.structured_init {
            check_structured_init(init, config.shape.resnet.is_some())?;
            crate::init::apply_init(&mut store, &clip_config, init, config.seed);
        }
        let mut model = Clip::<B>::from_store(&clip_config, store, &device)?;
        if let Some(t) = config.temperature {
            model = start_logit_scale(model, t)?;
        }
        let pre = Preprocessor::for_config(&clip_config);
        let optim = AdamWConfig::new()
            .with_beta_2(0.98)
            .with_epsilon(1e-6)
            .with_weight_decay(config.weight_decay)
            .with_grad_clipping(
                (config.clip_grad_norm > 0.0)
                    .then_some(GradientClippingConfig::Norm(config.clip_grad_norm)),
            )
            .init();
        if config.shards == 0 || config.shards > config.batch {
            return Err(TrainError::Recipe(format!(
                "{} shards for batches of {}: between 1 and the batch size",
                config.shards, config.batch
            )));
        }
        if let SharedConcepts::Partial { weight } = config.shared_concepts {
            check_weight("a partial match's weight", weight)?;
        }
        let blocks = model.neuron_layers().len();
        if let Some(sparsity) = &config.sparsity {
            check_sparsity(sparsity, blocks)?;
        }
        if let Some(aligned) = &config.aligned {
            check_aligned(aligned, blocks)?;
        }
        if let Some(readout) = &config.readout {
            check_weight("a readout weight", readout.weight)?;
            readout_penalty(&model, readout)?;
        }
        if let Some(dropout) = &config.patch_dropout {
            check_patch_dropout(dropout, config.shape.resnet.is_some())?;
        }
        // The generator checks the mixture and the shares of word-only and labelled mixtures.
        let data = |seed| {
            TrainingData::new(&config, seed, tok.clone(), pre.clone())
                .map_err(|e| TrainError::Recipe(format!("training data: {e}")))
        };
        Ok(Self {
            data: data(config.seed)?,
            heldout_data: data(config.seed ^ HELDOUT_DATA_SEED)?,
            model: Some(model),
            optim,
            step: 0,
            files,
            tokenizer: tok,
            device,
            log: Vec::new(),
            evals: Vec::new(),
            origin: None,
            config,
        })
    }

    /// Continues a run from a checkpoint folder written by [`Trainer::save_checkpoint`].
    pub fn resume(dir: &Path, device: B::Device) -> Result<Self> {
        let state_path = dir.join("state.json");
        let state: State =
            serde_json::from_slice(&std::fs::read(&state_path).map_err(io(&state_path))?)
                .map_err(|e| TrainError::Checkpoint(format!("{}: {e}", state_path.display())))?;
        let mut t = Self::new(state.config, device)?;
        let recorder = BinBytesRecorder::<FullPrecisionSettings>::default();
        let bad = |what: &str, e: burn::record::RecorderError| {
            TrainError::Checkpoint(format!("{what}: {e}"))
        };
        let model_path = dir.join("model.bin");
        let record = recorder
            .load(
                std::fs::read(&model_path).map_err(io(&model_path))?,
                &t.device,
            )
            .map_err(|e| bad("model.bin", e))?;
        let model = t.model.take().expect("a model").load_record(record);
        let optim_path = dir.join("optimizer.bin");
        let record = recorder
            .load(
                std::fs::read(&optim_path).map_err(io(&optim_path))?,
                &t.device,
            )
            .map_err(|e| bad("optimizer.bin", e))?;
        t.optim = t.optim.load_record(record);
        t.model = Some(model);
        t.step = state.step;
        t.log = state.log;
        t.evals = state.evals;
        t.origin = state.origin;
        Ok(t)
    }

    /// Starts from trained weights (a bundle's, as the shipped model's) instead of the seed's
    /// random ones: a second stage of training on a model that already reads, as a term that
    /// only pays off on such a model wants. `origin` (how those weights were made, e.g. their
    /// bundle's record) goes into this run's bundle. The optimizer starts afresh; the recipe's
    /// held temperature, if any, still applies.
    pub fn start_from(mut self, clip: Clip<B>, origin: serde_json::Value) -> Result<Self> {
        let (want, got) = (self.model().config(), clip.config());
        if (&want.vision, &want.text, want.projection_dim)
            != (&got.vision, &got.text, got.projection_dim)
        {
            return Err(TrainError::Recipe(format!(
                "the weights are of another shape than the recipe's model (theirs: {:?}, \
                 {:?}; the recipe's: {:?}, {:?})",
                got.vision, got.projection_dim, want.vision, want.projection_dim
            )));
        }
        if self.step > 0 {
            return Err(TrainError::Recipe(
                "weights can only replace a fresh model's, before the first step".into(),
            ));
        }
        let mut clip = clip;
        if let Some(t) = self.config.temperature {
            clip = start_logit_scale(clip, t)?;
        }
        self.model = Some(clip);
        self.origin = Some(origin);
        Ok(self)
    }

    /// Writes weights, optimizer moments and progress so the run can continue later.
    pub fn save_checkpoint(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let recorder = BinBytesRecorder::<FullPrecisionSettings>::default();
        let bad = |e: burn::record::RecorderError| TrainError::Checkpoint(e.to_string());
        let model = recorder
            .record(self.model().clone().into_record(), ())
            .map_err(bad)?;
        let optim = recorder.record(self.optim.to_record(), ()).map_err(bad)?;
        let state = State {
            config: self.config.clone(),
            step: self.step,
            log: self.log.clone(),
            evals: self.evals.clone(),
            origin: self.origin.clone(),
        };
        for (name, bytes) in [
            ("model.bin", model),
            ("optimizer.bin", optim),
            (
                "state.json",
                serde_json::to_vec_pretty(&state).expect("state serializes"),
            ),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, bytes).map_err(io(&path))?;
        }
        Ok(())
    }

    /// The settings.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The patches each of a step's `images` images keeps, where the recipe drops some at
    /// this step.
    fn kept_patches(&self, images: usize) -> Option<Vec<Vec<usize>>> {
        let dropout = self.config.patch_dropout?;
        if dropout.until.is_some_and(|until| self.step >= until) {
            return None;
        }
        let grid = self.config.shape.image_size / self.config.shape.patch_size;
        let patches = grid * grid;
        let keep = dropout.kept_of(patches);
        (keep < patches)
            .then(|| draw_kept_patches(self.config.seed, self.step, images, patches, keep))
    }

    /// Steps done.
    pub fn steps_done(&self) -> usize {
        self.step
    }

    /// Whether every configured step is done.
    pub fn is_done(&self) -> bool {
        self.step >= self.config.steps
    }

    /// The model as it is now.
    pub fn model(&self) -> &Clip<B> {
        self.model
            .as_ref()
            .expect("the model is only taken during a step")
    }

    /// The tokenizer of the model.
    pub fn tokenizer(&self) -> &ClipTokenizer {
        &self.tokenizer
    }

    /// One optimizer step on the next batch.
    pub fn step(&mut self) -> Result<StepLog> {
        let lr = self.config.learning_rate_at(self.step);
        let batch = self.data.batch::<B>(self.step, &self.device);
        let model = self.model.take().expect("a model");
        let (value, penalty, mut grads) = match self.gradients(&model, batch) {
            Ok(done) => done,
            Err(e) => {
                self.model = Some(model);
                return Err(e);
            }
        };
        if self.config.temperature.is_some_and(|t| !t.learned) {
            // A parameter without a gradient is neither moved nor decayed by AdamW.
            grads.remove::<B::InnerBackend, 1>(model.logit_scale.id);
        }
        let vectors = self.config.decay_matrices_only.then(|| Vectors::of(&model));
        let mut model = self.optim.step(lr, model, grads);
        if let Some(vectors) = vectors {
            model = vectors.undecay(model, lr, f64::from(self.config.weight_decay));
        }
        let logit_scale = scalar(
            model
                .logit_scale
                .val()
                .inner()
                .clamp_max(MAX_LOGIT_SCALE)
                .exp(),
        );
        self.model = Some(model);
        self.step += 1;
        let entry = StepLog {
            step: self.step,
            loss: value,
            penalty,
            learning_rate: lr,
            logit_scale,
        };
        self.log.push(entry.clone());
        Ok(entry)
    }

    /// The loss and penalty of a batch and the gradients of their sum, the batch split into
    /// the recipe's shards.
    fn gradients(&self, model: &Clip<B>, batch: Batch<B>) -> Result<(f32, f32, GradientsParams)> {
        let shards = self.config.shards;
        let sparsity = self.config.sparsity.as_ref();
        let readout = self.config.readout.as_ref();
        let aligned = self.config.aligned.as_ref().filter(|a| self.step >= a.from);
        let kept = self.kept_patches(batch.ids.len());
        // Loss and penalty values, and the tensor to differentiate, of one part of the batch.
        let objective = |clip: &Clip<B>,
                         images: TrainingImages<B>,
                         ids: &[Vec<u32>],
                         groups: &[u64],
                         contents: &[Content],
                         shared|
         -> Result<(f32, f32, Tensor<B, 1>)> {
            let aligned = aligned.map(|a| (a, contents));
            let (loss, mut penalty) =
                training_loss(clip, images, ids, groups, shared, sparsity, aligned)?;
            if let Some(readout) = readout {
                let r = readout_penalty(clip, readout)?;
                penalty = Some(penalty.map_or(r.clone(), |p| p + r));
            }
            let (loss, penalty) = (loss / shards as f32, penalty.map(|p| p / shards as f32));
            let value = scalar(loss.clone().inner());
            Ok(match penalty {
                Some(p) => (value, scalar(p.clone().inner()), loss + p),
                None => (value, 0.0, loss),
            })
        };
        if shards <= 1 {
            let shared = self.config.shared_concepts.rule(&batch.contents);
            let (value, penalty, total) = objective(
                model,
                TrainingImages {
                    images: batch.images,
                    kept,
                },
                &batch.ids,
                &batch.groups,
                &batch.contents,
                shared,
            )?;
            return Ok((
                value,
                penalty,
                GradientsParams::from_grads(total.backward(), model),
            ));
        }
        let n = batch.ids.len();
        let rule = self.config.shared_concepts;
        let images = batch.images.inner();
        let objective = &objective;
        // Each shard runs on a thread of its own, in a rayon pool of that one thread: burn-flex
        // splits large matrix products over the current pool, and in rayon's shared pool a
        // shard waited on by the other's products kept a third of a core idle. One pool per
        // shard, not one for both: a pool thread waiting inside one shard's backward pass
        // (which holds its autodiff graph's lock) could pick up the other shard's task, whose
        // end locks every graph, and wait on itself.
        let parts: Vec<Result<(f32, f32, GradientsParams)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..shards)
                .map(|k| {
                    let rows = k * n / shards..(k + 1) * n / shards;
                    // Fresh leaves per shard: shards that shared parameter nodes would share
                    // one autodiff graph, whose backward passes burn runs one at a time.
                    // (`valid` per shard: a clone of an inner module forgets `require_grad`.)
                    let own = Clip::<B>::from_inner(model.valid());
                    let images = TrainingImages {
                        images: Tensor::<B, 4>::from_inner(images.clone().slice([rows.clone()])),
                        kept: kept.as_ref().map(|k| k[rows.clone()].to_vec()),
                    };
                    let (ids, groups) = (&batch.ids[rows.clone()], &batch.groups[rows.clone()]);
                    let contents = &batch.contents[rows];
                    let shared = rule.rule(contents);
                    scope.spawn(move || {
                        let work = move || {
                            let (value, penalty, total) =
                                objective(&own, images, ids, groups, contents, shared)?;
                            Ok((
                                value,
                                penalty,
                                GradientsParams::from_grads(total.backward(), &own),
                            ))
                        };
                        match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
                            Ok(pool) => pool.install(work),
                            // Without a pool of its own the shard still runs, as it did before.
                            Err(_) => work(),
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a training shard panicked"))
                .collect()
        });
        let mut sum = GradientsAccumulator::new();
        let (mut value, mut penalty) = (0.0, 0.0);
        for part in parts {
            let (v, p, g) = part?;
            value += v;
            penalty += p;
            sum.accumulate(model, g);
        }
        Ok((value, penalty, sum.grads()))
    }

    /// Held-out zero-shot accuracy and loss of the current model.
    pub fn evaluate(&mut self) -> Result<Metrics> {
        let model = self.model().valid();
        let (drawn, written) = zero_shot(&model, &self.tokenizer, self.config.eval_per_concept);
        let batch = self.heldout_data.batch::<B::InnerBackend>(0, &self.device);
        let loss = scalar(contrastive_loss(
            &model,
            batch.images,
            &batch.ids,
            &batch.groups,
            self.config.shared_concepts.rule(&batch.contents),
        )?);
        let m = Metrics {
            step: self.step,
            drawn_accuracy: drawn,
            written_accuracy: written,
            heldout_loss: loss,
        };
        self.evals.push(m.clone());
        Ok(m)
    }

    /// The model as a bundle (int8), with its tokenizer and how it was made.
    pub fn bundle(&self, command: &str) -> (Vec<u8>, bundle::QuantReport) {
        let model = self.model().valid();
        let mut meta = serde_json::json!({
            "trained_by": format!("modalscope-train {}", env!("CARGO_PKG_VERSION")),
            "command": command,
            "recipe": self.config,
            "steps_done": self.step,
            "final_loss": self.log.last().map(|l| l.loss),
            "evaluations": self.evals,
        });
        if let Some(origin) = &self.origin {
            meta["started_from"] = origin.clone();
        }
        bundle::write(
            model.config(),
            &model.layer_names(),
            &model.to_store(),
            Some(&self.files),
            Precision::Int8,
            meta,
        )
    }
}

fn scalar<B: Backend>(t: Tensor<B, 1>) -> f32 {
    t.into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .expect("f32")[0]
}

/// What [`train`] reports as it goes.
#[derive(Debug, Clone)]
pub enum Event {
    /// A step finished.
    Step(StepLog),
    /// An evaluation finished.
    Eval(Metrics),
    /// A checkpoint was written.
    Checkpoint(usize),
}

/// Runs (or continues) a training to its last step, evaluating and checkpointing as
/// configured; `on_event` returns `false` to stop early (after writing a checkpoint).
pub fn train<B: AutodiffBackend>(
    trainer: &mut Trainer<B>,
    checkpoint_dir: Option<&Path>,
    mut on_event: impl FnMut(&Event) -> bool,
) -> Result<()> {
    while !trainer.is_done() {
        let log = trainer.step()?;
        let mut go_on = on_event(&Event::Step(log));
        let step = trainer.steps_done();
        let every = |n: usize| n > 0 && step.is_multiple_of(n);
        if every(trainer.config().eval_every) || trainer.is_done() {
            let m = trainer.evaluate()?;
            go_on &= on_event(&Event::Eval(m));
        }
        if let Some(dir) = checkpoint_dir
            && (every(trainer.config().checkpoint_every) || trainer.is_done() || !go_on)
        {
            trainer.save_checkpoint(dir)?;
            go_on &= on_event(&Event::Checkpoint(step));
        }
        if !go_on {
            break;
        }
    }
    Ok(())
}
