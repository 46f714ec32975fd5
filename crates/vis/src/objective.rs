//! Objectives: what the optimization maximizes, built from terms and combined with `+`, `-`,
//! scalar `*` and negation, as in Lucid and Lucent.
//!
//! Every term gives one value per image of the batch (or one for the whole batch, for
//! diversity), read from the activations of one forward pass.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::{Add, Mul, Neg, Sub};

use burn::tensor::{Tensor, TensorData, backend::Backend};
use modalscope_model::{Activation, Capture, Clip};
use serde::{Deserialize, Serialize};

use crate::error::{Result, VisError};

/// Which spatial position of a layer a term reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Place {
    /// The centre position (Lucid's `neuron`).
    Centre,
    /// The mean over all positions (Lucid's `channel`).
    Mean,
    /// One position, column `x`, row `y`.
    At {
        /// Column.
        x: usize,
        /// Row.
        y: usize,
    },
}

/// One kind of objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Term {
    /// One unit (channel) of a layer, at a place.
    Unit {
        /// Layer name.
        layer: String,
        /// Unit index.
        unit: usize,
        /// Where.
        place: Place,
    },
    /// The dot product of the activation vector with a direction, optionally weighted by
    /// their cosine similarity raised to a power (Lucid's `direction_neuron_cossim`).
    Direction {
        /// Layer name.
        layer: String,
        /// The direction, one value per unit.
        vector: Vec<f32>,
        /// Where.
        place: Place,
        /// Exponent of `max(0.1, cos)` multiplying the dot product, if any.
        cossim_power: Option<f32>,
    },
    /// Cosine similarity of the image embedding with a (text) embedding.
    Embedding {
        /// The embedding to match, e.g. CLIP's embedding of "a photo of a spider".
        vector: Vec<f32>,
    },
    /// Dissimilarity of the batch's Gram matrices at a layer (Lucid's diversity, negated).
    Diversity {
        /// Layer name.
        layer: String,
    },
    /// L2 distance of the image from a constant (subtract it to pull pixels towards it).
    L2 {
        /// The constant, e.g. 0.5.
        target: f32,
    },
    /// Total variation of the image (subtract it to smooth).
    TotalVariation,
}

impl Term {
    fn layer(&self) -> Option<&str> {
        match self {
            Self::Unit { layer, .. }
            | Self::Direction { layer, .. }
            | Self::Diversity { layer } => Some(layer),
            Self::Embedding { .. } => Some(EMBEDS),
            Self::L2 { .. } | Self::TotalVariation => None,
        }
    }
}

const EMBEDS: &str = "vision.embeds";

/// A term with its weight, optionally restricted to one image of the batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Weighted {
    /// Multiplier.
    pub weight: f32,
    /// The term.
    pub term: Term,
    /// Only this batch element, or every element when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<usize>,
}

/// A weighted sum of terms, maximized by the optimizer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Objective {
    /// The terms.
    pub terms: Vec<Weighted>,
}

impl From<Term> for Objective {
    fn from(term: Term) -> Self {
        Self {
            terms: vec![Weighted {
                weight: 1.0,
                term,
                batch: None,
            }],
        }
    }
}

impl Objective {
    /// One unit at the centre of a layer (a "neuron").
    pub fn neuron(layer: &str, unit: usize) -> Self {
        Term::Unit {
            layer: layer.into(),
            unit,
            place: Place::Centre,
        }
        .into()
    }

    /// One unit averaged over all positions (a "channel").
    pub fn channel(layer: &str, unit: usize) -> Self {
        Term::Unit {
            layer: layer.into(),
            unit,
            place: Place::Mean,
        }
        .into()
    }

    /// One unit at position (x, y).
    pub fn spatial(layer: &str, unit: usize, x: usize, y: usize) -> Self {
        Term::Unit {
            layer: layer.into(),
            unit,
            place: Place::At { x, y },
        }
        .into()
    }

    /// A direction in a layer's activation space, averaged over positions.
    pub fn direction(layer: &str, vector: Vec<f32>) -> Self {
        Term::Direction {
            layer: layer.into(),
            vector,
            place: Place::Mean,
            cossim_power: None,
        }
        .into()
    }

    /// A direction at the centre weighted by cosine similarity (activation-atlas icons).
    pub fn direction_cossim(layer: &str, vector: Vec<f32>, power: f32) -> Self {
        Term::Direction {
            layer: layer.into(),
            vector,
            place: Place::Centre,
            cossim_power: Some(power),
        }
        .into()
    }

    /// Cosine similarity of the image embedding with an embedding (e.g. of a text).
    pub fn embedding(vector: Vec<f32>) -> Self {
        Term::Embedding { vector }.into()
    }

    /// Gram-matrix dissimilarity across the batch at a layer, so facets differ.
    pub fn diversity(layer: &str) -> Self {
        Term::Diversity {
            layer: layer.into(),
        }
        .into()
    }

    /// L2 distance of the pixels from `target`.
    pub fn l2(target: f32) -> Self {
        Term::L2 { target }.into()
    }

    /// Total variation of the image.
    pub fn total_variation() -> Self {
        Term::TotalVariation.into()
    }

    /// The same objective applied only to image `index` of the batch.
    pub fn at_batch(mut self, index: usize) -> Self {
        for t in &mut self.terms {
            t.batch = Some(index);
        }
        self
    }

    /// The sum of several objectives.
    pub fn sum(parts: impl IntoIterator<Item = Objective>) -> Self {
        parts.into_iter().fold(Self::default(), |a, b| a + b)
    }

    /// The image-tower layers the objective reads.
    pub fn layers(&self) -> Vec<String> {
        let set: BTreeSet<&str> = self.terms.iter().filter_map(|t| t.term.layer()).collect();
        set.into_iter().map(str::to_string).collect()
    }

    /// Checks layer names, units, positions, directions and batch indices against a model,
    /// with one forward pass on a grey image.
    pub fn validate<B: Backend>(&self, clip: &Clip<B>, batch: usize) -> Result<()> {
        if self.terms.is_empty() {
            return Err(VisError::InvalidConfig("the objective has no terms".into()));
        }
        let layers = self.layers();
        for layer in &layers {
            check_image_layer(clip, layer)?;
        }
        for t in &self.terms {
            if let Some(i) = t.batch.filter(|&i| i >= batch) {
                return Err(VisError::BatchOutOfRange { index: i, batch });
            }
        }
        if layers.is_empty() {
            return Ok(());
        }
        let s = clip.config().vision.image_size();
        let grey = Tensor::<B, 4>::zeros([1, 3, s, s], &clip.device());
        let acts = capture(clip, grey, &layers);
        for t in &self.terms {
            let Some(layer) = t.term.layer() else {
                continue;
            };
            let act = &acts[layer];
            let channels = act.channels();
            let [rows, cols] = act.grid().unwrap_or([1, 1]);
            match &t.term {
                Term::Unit { unit, .. } if *unit >= channels => {
                    return Err(VisError::UnitOutOfRange {
                        layer: layer.into(),
                        unit: *unit,
                        channels,
                    });
                }
                Term::Direction { vector, .. } | Term::Embedding { vector }
                    if vector.len() != channels =>
                {
                    return Err(VisError::DirectionLength {
                        layer: layer.into(),
                        channels,
                        found: vector.len(),
                    });
                }
                _ => {}
            }
            let place = match &t.term {
                Term::Unit { place, .. } | Term::Direction { place, .. } => Some(place),
                _ => None,
            };
            if let Some(Place::At { x, y }) = place
                && (*x >= cols || *y >= rows)
            {
                return Err(VisError::PositionOutOfRange {
                    layer: layer.into(),
                    x: *x,
                    y: *y,
                    rows,
                    cols,
                });
            }
        }
        Ok(())
    }

    /// Per-image values `[batch]` of the objective for `[batch, 3, s, s]` images in [0, 1]
    /// (resized to the model's input when `s` differs; no random transform).
    pub fn scores<B: Backend>(&self, clip: &Clip<B>, pixels: Tensor<B, 4>) -> Tensor<B, 1> {
        let resized = at_input_size(clip, pixels);
        let acts = capture(clip, normalize_input(clip, resized.clone()), &self.layers());
        self.scores_from(&acts, &resized)
    }

    /// Per-image values `[batch]` from recorded activations and the [0,1] images.
    pub fn scores_from<B: Backend>(
        &self,
        acts: &BTreeMap<String, Activation<B>>,
        pixels: &Tensor<B, 4>,
    ) -> Tensor<B, 1> {
        let b = pixels.dims()[0];
        let device = pixels.device();
        let mut total = Tensor::<B, 1>::zeros([b], &device);
        for w in &self.terms {
            let value = term_values(&w.term, acts, pixels) * w.weight;
            let value = match w.batch {
                Some(i) => {
                    let mut mask = vec![0.0f32; b];
                    mask[i] = 1.0;
                    value * Tensor::<B, 1>::from_data(TensorData::new(mask, [b]), &device)
                }
                None => value,
            };
            total = total + value;
        }
        total
    }
}

/// Maps [0, 1] pixels to the model's input: `(x - mean) / std` per channel.
pub fn normalize_input<B: Backend>(clip: &Clip<B>, pixels: Tensor<B, 4>) -> Tensor<B, 4> {
    let cfg = clip.config();
    let device = pixels.device();
    let mean = Tensor::<B, 4>::from_data(
        TensorData::new(cfg.image_mean.to_vec(), [1, 3, 1, 1]),
        &device,
    );
    let std = Tensor::<B, 4>::from_data(
        TensorData::new(cfg.image_std.to_vec(), [1, 3, 1, 1]),
        &device,
    );
    (pixels - mean) / std
}

/// Every unit of `layer` at `place`, `[batch, units]`, for `[batch, 3, s, s]` images in [0, 1]:
/// what [`Objective::scores`] gives one unit at a time, for all of them in one pass (to pick
/// a unit by how images drive it).
pub fn unit_values<B: Backend>(
    clip: &Clip<B>,
    layer: &str,
    place: Place,
    pixels: Tensor<B, 4>,
) -> Result<Tensor<B, 2>> {
    check_image_layer(clip, layer)?;
    let resized = at_input_size(clip, pixels);
    let acts = capture(clip, normalize_input(clip, resized), &[layer.to_string()]);
    // The mean over the place's positions, as the unit term takes it.
    let x = at_place(&acts[layer], place);
    let [b, _, c] = x.dims();
    Ok(x.mean_dim(1).reshape([b, c]))
}

/// Refuses a layer the model lacks, or one of the text tower.
fn check_image_layer<B: Backend>(clip: &Clip<B>, layer: &str) -> Result<()> {
    clip.check_layer(layer)?;
    if layer.starts_with("text.") {
        return Err(VisError::NotAnImageLayer(layer.into()));
    }
    Ok(())
}

/// `[batch, 3, s, s]` images resized to the model's input (unchanged when `s` is its size).
fn at_input_size<B: Backend>(clip: &Clip<B>, pixels: Tensor<B, 4>) -> Tensor<B, 4> {
    let size = clip.config().vision.image_size();
    if pixels.dims()[2] == size {
        pixels
    } else {
        crate::transform::Affine::identity().apply(pixels, size, 0.5)
    }
}

/// Runs the image tower once, recording `layers`.
pub(crate) fn capture<B: Backend>(
    clip: &Clip<B>,
    input: Tensor<B, 4>,
    layers: &[String],
) -> BTreeMap<String, Activation<B>> {
    record(clip, input, Capture::only(layers.iter().cloned()))
}

/// Runs the image tower once, recording what `cap` selects.
pub(crate) fn record<B: Backend>(
    clip: &Clip<B>,
    input: Tensor<B, 4>,
    mut cap: Capture<B>,
) -> BTreeMap<String, Activation<B>> {
    let _ = clip.encode_image_with(input, &mut cap);
    cap.into_map()
}

/// The positions a place reads, as `[batch, n, channels]`.
fn at_place<B: Backend>(act: &Activation<B>, place: Place) -> Tensor<B, 3> {
    let all = act.positions();
    let [b, p, c] = all.dims();
    let [rows, cols] = act.grid().unwrap_or([1, 1]);
    let pick = |x: usize, y: usize| {
        let i = (y * cols + x).min(p - 1);
        all.clone().slice([0..b, i..i + 1, 0..c])
    };
    match place {
        Place::Mean => all,
        Place::Centre => pick(cols / 2, rows / 2),
        Place::At { x, y } => pick(x, y),
    }
}

fn vector<B: Backend>(v: &[f32], device: &B::Device) -> Tensor<B, 3> {
    Tensor::from_data(TensorData::new(v.to_vec(), [1, 1, v.len()]), device)
}

/// One value per image for a term.
fn term_values<B: Backend>(
    term: &Term,
    acts: &BTreeMap<String, Activation<B>>,
    pixels: &Tensor<B, 4>,
) -> Tensor<B, 1> {
    let [b, c, h, w] = pixels.dims();
    let device = pixels.device();
    match term {
        Term::Unit { layer, unit, place } => {
            let x = at_place(&acts[layer.as_str()], *place);
            let [_, n, _] = x.dims();
            x.slice([0..b, 0..n, *unit..*unit + 1])
                .mean_dim(1)
                .reshape([b])
        }
        Term::Direction {
            layer,
            vector: v,
            place,
            cossim_power,
        } => {
            let x = at_place(&acts[layer.as_str()], *place);
            let ch = x.dims()[2];
            let dir = vector::<B>(v, &device);
            let dot = (x.clone() * dir.clone()).sum_dim(2) / ch as f32; // [b, n, 1], Lucid's reduce_mean
            let dot = match cossim_power {
                None => dot,
                Some(p) => {
                    let norm = x.powf_scalar(2.0).sum_dim(2).sqrt();
                    let vnorm = v.iter().map(|a| a * a).sum::<f32>().sqrt().max(1e-12);
                    let cos = (dot.clone() * ch as f32 / (norm * vnorm + 1e-4)).clamp_min(0.1);
                    dot * cos.powf_scalar(*p)
                }
            };
            dot.mean_dim(1).reshape([b])
        }
        Term::Embedding { vector: v } => {
            let e = acts[EMBEDS].positions(); // [b, 1, dim]
            let dir = vector::<B>(v, &device);
            let dot = (e.clone() * dir).sum_dim(2).reshape([b]);
            let norm = e.powf_scalar(2.0).sum_dim(2).sqrt().reshape([b]);
            let vnorm = v.iter().map(|a| a * a).sum::<f32>().sqrt().max(1e-12);
            dot / (norm * vnorm).clamp_min(1e-12)
        }
        Term::Diversity { layer } => {
            let x = acts[layer.as_str()].positions(); // [b, n, ch]
            let [_, _, ch] = x.dims();
            let gram = x.clone().swap_dims(1, 2).matmul(x).reshape([b, ch * ch]);
            let norm = gram
                .clone()
                .powf_scalar(2.0)
                .sum_dim(1)
                .sqrt()
                .clamp_min(1e-10);
            let g = gram / norm; // [b, ch²]
            let sim = g.clone().matmul(g.transpose()); // [b, b]
            let eye = Tensor::<B, 2>::eye(b, &device);
            let off_diag = (sim * (eye.neg() + 1.0)).sum();
            // -sum_{i != j} cos(G_i, G_j) / b, shared equally by the b images
            (off_diag.neg() / (b * b) as f32).expand([b])
        }
        Term::L2 { target } => (pixels.clone() - *target)
            .powf_scalar(2.0)
            .reshape([b, c * h * w])
            .sum_dim(1)
            .sqrt()
            .reshape([b]),
        Term::TotalVariation => {
            let dx = pixels.clone().slice([0..b, 0..c, 0..h, 1..w])
                - pixels.clone().slice([0..b, 0..c, 0..h, 0..w - 1]);
            let dy = pixels.clone().slice([0..b, 0..c, 1..h, 0..w])
                - pixels.clone().slice([0..b, 0..c, 0..h - 1, 0..w]);
            dx.abs()
                .reshape([b, c * h * (w - 1)])
                .sum_dim(1)
                .reshape([b])
                + dy.abs()
                    .reshape([b, c * (h - 1) * w])
                    .sum_dim(1)
                    .reshape([b])
        }
    }
}

impl Add for Objective {
    type Output = Objective;
    fn add(mut self, rhs: Objective) -> Objective {
        self.terms.extend(rhs.terms);
        self
    }
}

impl Sub for Objective {
    type Output = Objective;
    fn sub(self, rhs: Objective) -> Objective {
        self + (-rhs)
    }
}

impl Neg for Objective {
    type Output = Objective;
    fn neg(self) -> Objective {
        self * -1.0
    }
}

impl Mul<f32> for Objective {
    type Output = Objective;
    fn mul(mut self, k: f32) -> Objective {
        for t in &mut self.terms {
            t.weight *= k;
        }
        self
    }
}

impl Mul<Objective> for f32 {
    type Output = Objective;
    fn mul(self, o: Objective) -> Objective {
        o * self
    }
}
