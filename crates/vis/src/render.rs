//! The optimization loop: parameterize, transform, run the model, ascend the objective.
//!
//! [`Session`] does one step at a time and never reads values back from the device, so the
//! browser can drive it from an async loop (WebGPU readbacks must be awaited) and cancel
//! between steps; [`render`] is the blocking loop for native code and tests.

use burn::tensor::{Tensor, backend::AutodiffBackend};
use modalscope_model::{Capture, Clip, SeededRng};
use serde::{Deserialize, Serialize};

use crate::adam::Adam;
use crate::error::{Result, VisError};
use crate::objective::{Objective, normalize_input, record};
use crate::param::{ImageBasis, ParamKind, initial_values};
use crate::transform::Transforms;

/// Everything that determines a rendered image, besides the model and the objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderConfig {
    /// Side of the optimized image in pixels (resized to the model's input every step).
    pub size: usize,
    /// Images optimized together (facets, with a diversity term).
    pub batch: usize,
    /// Optimization steps.
    pub steps: usize,
    /// Adam's step size.
    pub learning_rate: f32,
    /// Seed of the initial image and of the random transforms.
    pub seed: u64,
    /// Image parameterization.
    pub param: ParamKind,
    /// Standard deviation of the initial parameter values.
    pub init_sd: f32,
    /// Transforms applied at every step.
    pub transforms: Transforms,
    /// Whether a ResNet layer's final ReLU, or a ViT MLP's GELU, passes gradients where the
    /// image leaves it silent (after Lucid's redirected ReLU, on by default there too), so
    /// that a unit the starting image does not drive still renders instead of staying blank.
    #[serde(default = "reviving_by_default")]
    pub revive_silent: bool,
}

fn reviving_by_default() -> bool {
    true
}

impl Default for RenderConfig {
    /// Lucid's defaults: 128 px, 512 steps, Adam 0.05, Fourier with decorrelated colour,
    /// standard transforms.
    fn default() -> Self {
        Self {
            size: 128,
            batch: 1,
            steps: 512,
            learning_rate: 0.05,
            seed: 0,
            param: ParamKind::default(),
            init_sd: 0.01,
            transforms: Transforms::standard(),
            revive_silent: true,
        }
    }
}

impl RenderConfig {
    /// Refuses settings that cannot produce an image.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(VisError::InvalidConfig(m.to_string()));
        if !(8..=1024).contains(&self.size) {
            return bad("the image size must be between 8 and 1024 pixels");
        }
        if self.batch == 0 || self.batch > 64 {
            return bad("the batch must hold between 1 and 64 images");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad("the learning rate must be a positive number");
        }
        if !(self.init_sd.is_finite() && self.init_sd >= 0.0) {
            return bad("the initial standard deviation must be a non-negative number");
        }
        if self
            .transforms
            .scales
            .iter()
            .any(|s| !(s.is_finite() && *s > 0.0))
        {
            return bad("transform scales must be positive");
        }
        Ok(())
    }
}

/// One optimization in progress.
pub struct Session<B: AutodiffBackend> {
    config: RenderConfig,
    objective: Objective,
    layers: Vec<String>,
    basis: ImageBasis<B>,
    param: Tensor<B::InnerBackend, 5>,
    adam: Adam<B::InnerBackend, 5>,
    rng: SeededRng,
    step: usize,
    model_size: usize,
}

impl<B: AutodiffBackend> Session<B> {
    /// Checks the objective against the model and seeds the image.
    pub fn new(clip: &Clip<B>, objective: Objective, config: RenderConfig) -> Result<Self> {
        config.validate()?;
        objective.validate(clip, config.batch)?;
        let device = clip.device();
        let (values, shape) = initial_values(
            &config.param,
            config.batch,
            config.size,
            config.init_sd,
            config.seed,
        );
        let param = Tensor::<B::InnerBackend, 5>::from_data(
            burn::tensor::TensorData::new(values, shape),
            &device,
        );
        Ok(Self {
            basis: ImageBasis::new(config.param, config.size, &device),
            adam: Adam::new(config.learning_rate),
            rng: SeededRng::new(config.seed.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x7a5f),
            layers: objective.layers(),
            model_size: clip.config().vision.image_size(),
            step: 0,
            param,
            objective,
            config,
        })
    }

    /// The settings.
    pub fn config(&self) -> &RenderConfig {
        &self.config
    }

    /// Steps done so far.
    pub fn steps_done(&self) -> usize {
        self.step
    }

    /// Whether every configured step is done.
    pub fn is_done(&self) -> bool {
        self.step >= self.config.steps
    }

    /// One step of gradient ascent; returns the objective per image before the step, `[1]`,
    /// still on the device.
    pub fn step(&mut self, clip: &Clip<B>) -> Tensor<B::InnerBackend, 1> {
        let b = self.config.batch;
        let p = Tensor::<B, 5>::from_inner(self.param.clone()).require_grad();
        let pixels = self.basis.to_rgb(p.clone());
        let affine = self.config.transforms.sample(&mut self.rng);
        let x = affine.apply(pixels, self.model_size, self.config.transforms.pad_value);
        let mut cap = Capture::only(self.layers.iter().cloned());
        if self.config.revive_silent {
            cap = cap.reviving();
        }
        let acts = record(clip, normalize_input(clip, x.clone()), cap);
        let total = self.objective.scores_from(&acts, &x).sum();
        let grads = total.clone().neg().backward();
        let grad = p
            .grad(&grads)
            .expect("the image parameter requires a gradient");
        self.param = self.adam.step(self.param.clone(), grad);
        self.step += 1;
        total.inner() / b as f32
    }

    /// The current images `[batch, 3, size, size]` in [0, 1].
    pub fn images(&self) -> Tensor<B::InnerBackend, 4> {
        self.basis
            .to_rgb(Tensor::from_inner(self.param.clone()))
            .inner()
    }
}

/// What the blocking loop reports every few steps.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Steps done.
    pub step: usize,
    /// Steps in all.
    pub steps: usize,
    /// Objective per image at the last step.
    pub value: f32,
    /// The current images as RGB bytes, when this report carries a preview.
    pub preview: Option<Vec<Vec<u8>>>,
}

/// A finished (or cancelled) render.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The images as `size`×`size` RGB bytes, row-major.
    pub images: Vec<Vec<u8>>,
    /// The images as floats `[batch, 3, size, size]` in [0, 1].
    pub pixels: Vec<f32>,
    /// Side in pixels.
    pub size: usize,
    /// Objective per image at every step.
    pub values: Vec<f32>,
    /// Whether the callback stopped the optimization early.
    pub cancelled: bool,
}

/// Runs a whole optimization, calling `on_progress` after every step (with a preview every
/// `preview_every` steps, 0 for never); the callback returns `false` to cancel.
pub fn render<B: AutodiffBackend>(
    clip: &Clip<B>,
    objective: Objective,
    config: RenderConfig,
    preview_every: usize,
    mut on_progress: impl FnMut(&Progress) -> bool,
) -> Result<Rendered> {
    let mut session = Session::new(clip, objective, config)?;
    let (b, s) = (session.config.batch, session.config.size);
    let mut values = Vec::with_capacity(session.config.steps);
    let mut cancelled = false;
    while !session.is_done() {
        let value = session
            .step(clip)
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .expect("f32")[0];
        values.push(value);
        let step = session.steps_done();
        let preview =
            (preview_every > 0 && (step % preview_every == 0 || session.is_done())).then(|| {
                let px: Vec<f32> = session
                    .images()
                    .into_data()
                    .convert::<f32>()
                    .into_vec()
                    .expect("f32");
                to_rgb8(&px, b, s)
            });
        let report = Progress {
            step,
            steps: session.config.steps,
            value,
            preview,
        };
        if !on_progress(&report) {
            cancelled = true;
            break;
        }
    }
    let pixels: Vec<f32> = session
        .images()
        .into_data()
        .convert::<f32>()
        .into_vec()
        .expect("f32");
    Ok(Rendered {
        images: to_rgb8(&pixels, b, s),
        pixels,
        size: s,
        values,
        cancelled,
    })
}

/// Converts `[batch, 3, size, size]` floats in [0, 1] into one interleaved RGB byte buffer per
/// image.
pub fn to_rgb8(pixels: &[f32], batch: usize, size: usize) -> Vec<Vec<u8>> {
    let plane = size * size;
    (0..batch)
        .map(|i| {
            let img = &pixels[i * 3 * plane..(i + 1) * 3 * plane];
            (0..plane)
                .flat_map(|p| {
                    (0..3).map(move |c| (img[c * plane + p].clamp(0.0, 1.0) * 255.0).round() as u8)
                })
                .collect()
        })
        .collect()
}
