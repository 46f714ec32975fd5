//! The activation pass: one streaming walk over an image set that keeps, for every neuron of
//! the chosen layers, its top-k images and where in each it fired, and (for an atlas) a
//! bounded random sample of spatial activation vectors. Memory depends on k and the sample
//! size, not on the number of images.

use burn::tensor::backend::Backend;
use modalscope_atlas::{Entry, SpatialLayout, TopK};
use modalscope_model::{Capture, Clip, Preprocessor, SeededRng};
use serde::{Deserialize, Serialize};

use crate::error::{Result, SurveyError};
use crate::imageset::{ImageSet, Skipped};

/// What a pass records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PassConfig {
    /// Image-tower layers whose neurons get dataset examples.
    pub layers: Vec<String>,
    /// Examples kept per neuron.
    pub k: usize,
    /// Images run through the model together.
    pub batch: usize,
    /// Spatial activation vectors to sample for an atlas, if any.
    pub sampling: Option<Sampling>,
}

impl Default for PassConfig {
    fn default() -> Self {
        Self {
            layers: Vec::new(),
            k: 8,
            batch: 16,
            sampling: None,
        }
    }
}

/// How activation vectors are sampled for an atlas (reservoir sampling: every position of
/// every image has the same chance, whatever the set's size).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    /// The layer sampled.
    pub layer: String,
    /// Most vectors kept.
    pub capacity: usize,
    /// Seed of the sampling.
    pub seed: u64,
}

/// The dataset examples of one layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerExamples {
    /// Layer name.
    pub layer: String,
    /// Spatial grid `[rows, cols]` of the layer's positions (`[1, 1]` when pooled).
    pub grid: [usize; 2],
    /// Top-k per neuron (score = the neuron's spatial maximum, position = where).
    pub top: TopK,
}

impl LayerExamples {
    /// The best examples of `unit`, best first.
    pub fn examples(&self, unit: usize) -> Vec<Entry> {
        self.top.entries(unit)
    }
}

/// Sampled spatial activation vectors of one layer, with where each came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Samples {
    /// Layer name.
    pub layer: String,
    /// Length of each vector (the layer's channels).
    pub dim: usize,
    /// The vectors, `[n x dim]` row-major.
    pub vectors: Vec<f32>,
    /// `[image, position]` of each vector.
    pub origins: Vec<[u32; 2]>,
}

impl Samples {
    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.origins.len()
    }

    /// Whether no vector was sampled.
    pub fn is_empty(&self) -> bool {
        self.origins.is_empty()
    }
}

/// Where a pass stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassProgress {
    /// Items looked at (images and skipped files).
    pub done: usize,
    /// Items in the set.
    pub total: usize,
    /// Images run through the model so far.
    pub images: usize,
    /// Files skipped so far.
    pub skipped: usize,
}

/// Images of a pass ready for the model, as [`Pass::next_batch`] gives them.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// Their ids (indices into the image set).
    pub ids: Vec<u32>,
    /// The images, resized and cropped to the model's input.
    pub images: Vec<image::RgbImage>,
}

impl Batch {
    /// Whether the batch holds no image.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// One layer's activations for a batch of images, read back to the host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostActivation {
    /// The layer's spatial grid `[rows, cols]` (`[1, 1]` when pooled).
    pub grid: [usize; 2],
    /// `[images, positions, channels]`.
    pub dims: [usize; 3],
    /// The values in that order (positions-major per image).
    pub values: Vec<f32>,
}

/// What a finished pass found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Survey {
    /// Names of the set's items; example image ids index this list.
    pub names: Vec<String>,
    /// Images used.
    pub images: usize,
    /// Files skipped, with reasons.
    pub skipped: Vec<Skipped>,
    /// Dataset examples per layer, in the order asked.
    pub layers: Vec<LayerExamples>,
    /// Sampled activation vectors, when sampling was asked for.
    pub samples: Option<Samples>,
}

impl Survey {
    /// The examples of `layer`, if the pass recorded it.
    pub fn layer(&self, layer: &str) -> Option<&LayerExamples> {
        self.layers.iter().find(|l| l.layer == layer)
    }

    /// One line for a status bar: images used and files skipped (with a few reasons).
    pub fn summary(&self) -> String {
        summary_line(self.images, &self.skipped)
    }
}

/// One line for a status bar: `images` used and the files `skipped` (with a few reasons), as
/// [`Survey::summary`] writes it.
pub fn summary_line(images: usize, skipped: &[Skipped]) -> String {
    let mut s = format!("{} image{}", images, if images == 1 { "" } else { "s" });
    if !skipped.is_empty() {
        let some: Vec<String> = skipped.iter().take(3).map(|k| k.to_string()).collect();
        s += &format!(
            "; {} file{} skipped ({}{})",
            skipped.len(),
            if skipped.len() == 1 { "" } else { "s" },
            some.join("; "),
            if skipped.len() > 3 { "; ..." } else { "" }
        );
    }
    s
}

/// A pass in progress, advanced one batch at a time so callers can report and cancel.
pub struct Pass {
    set: ImageSet,
    config: PassConfig,
    pre: Preprocessor,
    next: usize,
    images: usize,
    skipped: Vec<Skipped>,
    layers: Vec<LayerExamples>,
    samples: Option<Samples>,
    seen_vectors: u64,
    rng: SeededRng,
}

impl Pass {
    /// Checks the settings against the model; nothing runs yet.
    pub fn new<B: Backend>(clip: &Clip<B>, set: ImageSet, config: PassConfig) -> Result<Self> {
        if config.k == 0 || config.batch == 0 {
            return Err(SurveyError::Config(
                "k and the batch size must be at least 1".into(),
            ));
        }
        if config.layers.is_empty() && config.sampling.is_none() {
            return Err(SurveyError::Config(
                "name at least one layer to record".into(),
            ));
        }
        let sampled = config.sampling.as_ref().map(|s| s.layer.clone());
        for layer in config.layers.iter().chain(sampled.iter()) {
            check_image_layer(clip, layer)?;
        }
        if let Some(s) = &config.sampling
            && s.capacity == 0
        {
            return Err(SurveyError::Config(
                "the atlas sample needs room for at least one vector".into(),
            ));
        }
        let seed = config.sampling.as_ref().map_or(0, |s| s.seed);
        Ok(Self {
            pre: Preprocessor::for_config(clip.config()),
            next: 0,
            images: 0,
            skipped: Vec::new(),
            layers: Vec::new(),
            samples: None,
            seen_vectors: 0,
            rng: SeededRng::new(seed ^ 0x5eed_a71a5),
            set,
            config,
        })
    }

    /// Whether every item has been looked at.
    pub fn is_done(&self) -> bool {
        self.next >= self.set.len()
    }

    /// Where the pass stands.
    pub fn progress(&self) -> PassProgress {
        PassProgress {
            done: self.next,
            total: self.set.len(),
            images: self.images,
            skipped: self.skipped.len(),
        }
    }

    /// Decodes and runs the next batch of images.
    pub fn step<B: Backend>(&mut self, clip: &Clip<B>) -> Result<PassProgress> {
        let batch = self.next_batch();
        if !batch.is_empty() {
            let device = clip.device();
            let x = self.pre.batch::<B>(&batch.images, &device);
            let wanted = self.capture_layers();
            let mut cap = Capture::only(wanted.clone());
            clip.encode_image_with(x, &mut cap);
            let acts = wanted
                .iter()
                .map(|l| recorded(&cap, l))
                .collect::<Result<Vec<_>>>()?;
            self.record_batch(&batch.ids, &acts)?;
        }
        Ok(self.progress())
    }

    /// Decodes the next batch (up to the batch size of images; files that are not images are
    /// recorded as skipped), resized and cropped for the model. Empty once the set is done.
    ///
    /// With [`Pass::capture_layers`] and [`Pass::record_batch`] this is [`Pass::step`] for
    /// callers that run the model themselves, e.g. reading results back asynchronously.
    pub fn next_batch(&mut self) -> Batch {
        let mut batch = Batch {
            ids: Vec::with_capacity(self.config.batch),
            images: Vec::with_capacity(self.config.batch),
        };
        while batch.images.len() < self.config.batch && self.next < self.set.len() {
            let i = self.next;
            self.next += 1;
            match self.set.load(i) {
                Ok(img) => {
                    batch.images.push(self.pre.resize_and_crop(&img));
                    batch.ids.push(i as u32);
                }
                Err(skip) => self.skipped.push(skip),
            }
        }
        batch
    }

    /// The layers a forward pass must record for [`Pass::record_batch`], in its order.
    pub fn capture_layers(&self) -> Vec<String> {
        let mut wanted = self.config.layers.clone();
        if let Some(s) = &self.config.sampling {
            wanted.push(s.layer.clone());
        }
        wanted
    }

    /// Records one batch's activations, read back by the caller: `acts[i]` belongs to layer
    /// `i` of [`Pass::capture_layers`], its rows to the images `ids` in order.
    pub fn record_batch(&mut self, ids: &[u32], acts: &[HostActivation]) -> Result<PassProgress> {
        let wanted = self.capture_layers();
        if acts.len() != wanted.len() {
            return Err(SurveyError::Layer(format!(
                "{} activations given for {} layers",
                acts.len(),
                wanted.len()
            )));
        }
        for (a, layer) in acts.iter().zip(&wanted) {
            let [b, p, c] = a.dims;
            if b != ids.len() || a.values.len() != b * p * c {
                return Err(SurveyError::Layer(format!(
                    "the activations of `{layer}` have shape {:?} ({} values) for {} images",
                    a.dims,
                    a.values.len(),
                    ids.len()
                )));
            }
        }
        self.record(ids, acts)?;
        self.images += ids.len();
        Ok(self.progress())
    }

    fn record(&mut self, ids: &[u32], acts: &[HostActivation]) -> Result<()> {
        for (li, layer) in self.config.layers.iter().enumerate() {
            let HostActivation {
                grid,
                dims: [b, p, c],
                values,
            } = &acts[li];
            let (b, p, c) = (*b, *p, *c);
            if self.layers.len() <= li {
                self.layers.push(LayerExamples {
                    layer: layer.clone(),
                    grid: *grid,
                    top: TopK::new(c, self.config.k),
                });
            }
            let top = &mut self.layers[li].top;
            for (i, &id) in ids.iter().enumerate().take(b) {
                top.push_spatial(
                    id,
                    &values[i * p * c..(i + 1) * p * c],
                    p,
                    SpatialLayout::PositionMajor,
                )
                .map_err(|e| SurveyError::Layer(e.to_string()))?;
            }
        }
        if let Some(s) = self.config.sampling.clone() {
            let HostActivation {
                dims: [b, p, c],
                values,
                ..
            } = &acts[self.config.layers.len()];
            let (b, p, c) = (*b, *p, *c);
            let samples = self.samples.get_or_insert_with(|| Samples {
                layer: s.layer.clone(),
                dim: c,
                vectors: Vec::new(),
                origins: Vec::new(),
            });
            for (i, &id) in ids.iter().enumerate().take(b) {
                for q in 0..p {
                    let v = &values[(i * p + q) * c..(i * p + q + 1) * c];
                    self.seen_vectors += 1;
                    // Algorithm R: the n-th vector replaces a random kept one with chance
                    // capacity / n.
                    let slot = if samples.len() < s.capacity {
                        Some(samples.len())
                    } else {
                        let j = (self.rng.uniform() as f64 * self.seen_vectors as f64) as usize;
                        (j < s.capacity).then_some(j)
                    };
                    match slot {
                        Some(j) if j == samples.len() => {
                            samples.vectors.extend_from_slice(v);
                            samples.origins.push([id, q as u32]);
                        }
                        Some(j) => {
                            samples.vectors[j * c..(j + 1) * c].copy_from_slice(v);
                            samples.origins[j] = [id, q as u32];
                        }
                        None => {}
                    }
                }
            }
        }
        Ok(())
    }

    /// The result; fails when the set held no image at all.
    pub fn finish(self) -> Result<Survey> {
        if self.images == 0 {
            return Err(SurveyError::NoImages {
                skipped: self.skipped.len(),
                examples: self.skipped.iter().take(3).map(|s| s.to_string()).collect(),
            });
        }
        let names = (0..self.set.len())
            .map(|i| self.set.name(i).to_string())
            .collect();
        Ok(Survey {
            names,
            images: self.images,
            skipped: self.skipped,
            layers: self.layers,
            samples: self.samples,
        })
    }
}

/// Runs a whole pass, calling `on_progress` after every batch; it returns `false` to cancel.
pub fn survey<B: Backend>(
    clip: &Clip<B>,
    set: ImageSet,
    config: PassConfig,
    mut on_progress: impl FnMut(&PassProgress) -> bool,
) -> Result<Survey> {
    if set.is_empty() {
        return Err(SurveyError::NoImages {
            skipped: 0,
            examples: Vec::new(),
        });
    }
    let mut pass = Pass::new(clip, set, config)?;
    while !pass.is_done() {
        let p = pass.step(clip)?;
        if !on_progress(&p) {
            return Err(SurveyError::Cancelled);
        }
    }
    pass.finish()
}

/// Fails unless `layer` is an image-tower layer of the model.
pub fn check_image_layer<B: Backend>(clip: &Clip<B>, layer: &str) -> Result<()> {
    clip.check_layer(layer)?;
    if !layer.starts_with("vision.") {
        return Err(SurveyError::Layer(format!(
            "`{layer}` is not in the image tower; dataset examples and atlases need an image \
             layer (vision.*)"
        )));
    }
    Ok(())
}

/// One image's activation map for `unit` of `layer`, `[rows, cols]` values row-major, e.g.
/// to overlay where a dataset example made the neuron fire.
pub fn activation_map<B: Backend>(
    clip: &Clip<B>,
    image: &image::RgbImage,
    layer: &str,
    unit: usize,
) -> Result<([usize; 2], Vec<f32>)> {
    check_image_layer(clip, layer)?;
    let pre = Preprocessor::for_config(clip.config());
    let x = pre.batch::<B>(&[pre.resize_and_crop(image)], &clip.device());
    let mut cap = Capture::only([layer]);
    clip.encode_image_with(x, &mut cap);
    let HostActivation {
        grid,
        dims: [_, p, c],
        values,
    } = recorded(&cap, layer)?;
    if unit >= c {
        return Err(SurveyError::Layer(format!(
            "`{layer}` has {c} units; there is no unit {unit}"
        )));
    }
    Ok((grid, (0..p).map(|q| values[q * c + unit]).collect()))
}

/// A recorded layer's spatial positions on the host.
fn recorded<B: Backend>(cap: &Capture<B>, layer: &str) -> Result<HostActivation> {
    let act = cap
        .get(layer)
        .ok_or_else(|| SurveyError::Layer(format!("the model did not record `{layer}`")))?;
    let grid = act.grid().unwrap_or([1, 1]);
    let pos = act.positions();
    let dims = pos.dims();
    let values = pos
        .into_data()
        .convert::<f32>()
        .into_vec()
        .map_err(|e| SurveyError::Layer(format!("{e:?}")))?;
    Ok(HostActivation { grid, dims, values })
}
