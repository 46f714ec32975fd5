//! The whole CLIP: both towers, the shared embedding space and loading from checkpoints.

use burn::module::{Module, Param};
use burn::tensor::{Tensor, backend::Backend};

use crate::capture::{Activation, Capture};
use crate::config::{ClipConfig, VisionConfig};
use crate::error::{ModelError, Result};
use crate::layers::Loader;
use crate::lesion::Lesion;
use crate::naming::{self, Naming};
use crate::resnet::ModifiedResNet;
use crate::text::TextTransformer;
use crate::vit::VisionTransformer;
use crate::weights::WeightStore;

/// Whether `name` is a layer of the image tower's neurons: a ViT block's MLP (its hidden
/// units) or a ResNet's bottleneck block (its channels), where the multimodal-neurons study
/// looked; what analyses, surveys and the trainer's penalties default to.
pub fn is_neuron_layer(name: &str) -> bool {
    (name.starts_with("vision.blocks.") && name.ends_with(".mlp"))
        || name.starts_with("vision.layer")
}

/// A CLIP model on backend `B`.
#[derive(Module, Debug)]
pub struct Clip<B: Backend> {
    /// Image tower when it is a vision transformer.
    pub vit: Option<VisionTransformer<B>>,
    /// Image tower when it is a modified ResNet.
    pub resnet: Option<ModifiedResNet<B>>,
    /// Text tower.
    pub text: TextTransformer<B>,
    /// Log of the softmax temperature's inverse.
    pub logit_scale: Param<Tensor<B, 1>>,
    #[module(skip)]
    config: ClipConfig,
}

impl<B: Backend> Clip<B> {
    /// Builds the model from a store in canonical naming; every tensor must be consumed.
    pub fn from_store(
        config: &ClipConfig,
        mut store: WeightStore,
        device: &B::Device,
    ) -> Result<Self> {
        config.validate()?;
        // Buffers that some exports carry and the model does not need.
        for name in [
            "text_model.embeddings.position_ids",
            "vision_model.embeddings.position_ids",
        ] {
            let _ = store.take_any(name);
        }
        let mut ld = Loader {
            store: &mut store,
            device,
        };
        let (vit, resnet) = match &config.vision {
            VisionConfig::Vit(c) => (
                Some(VisionTransformer::load(c, config.projection_dim, &mut ld)?),
                None,
            ),
            VisionConfig::Resnet(c) => (
                None,
                Some(ModifiedResNet::load(c, config.projection_dim, &mut ld)?),
            ),
        };
        let text = TextTransformer::load(&config.text, config.projection_dim, &mut ld)?;
        let logit_scale = ld.param("logit_scale", [1])?;
        if let Some(extra) = store.names().next() {
            return Err(ModelError::UnknownArchitecture(format!(
                "tensor `{extra}` (and {} more) is not part of the {} architecture",
                store.len() - 1,
                config.name
            )));
        }
        Ok(Self {
            vit,
            resnet,
            text,
            logit_scale,
            config: config.clone(),
        })
    }

    /// Loads a safetensors checkpoint in Hugging Face or OpenAI naming.
    ///
    /// Without a config the architecture is inferred from tensor shapes (64-wide heads).
    pub fn from_safetensors(
        bytes: &[u8],
        config: Option<ClipConfig>,
        device: &B::Device,
    ) -> Result<Self> {
        let store = canonical_store(WeightStore::from_safetensors(bytes)?)?;
        let config = match config {
            Some(c) => c,
            None => naming::infer_config(&store)?,
        };
        Self::from_store(&config, store, device)
    }

    /// The device the weights live on.
    pub fn device(&self) -> B::Device {
        self.logit_scale.val().device()
    }

    /// The architecture.
    pub fn config(&self) -> &ClipConfig {
        &self.config
    }

    /// Every layer name whose activation can be captured, image tower first.
    pub fn layer_names(&self) -> Vec<String> {
        let mut names = match (&self.vit, &self.resnet) {
            (Some(v), _) => v.layer_names(),
            (_, Some(r)) => r.layer_names(),
            _ => Vec::new(),
        };
        names.extend(self.text.layer_names());
        names
    }

    /// The image tower's layers of neurons in forward order: a ViT's MLPs, a ResNet's blocks.
    pub fn neuron_layers(&self) -> Vec<String> {
        self.layer_names()
            .into_iter()
            .filter(|n| is_neuron_layer(n))
            .collect()
    }

    /// The image tower's last layer before its projection, which the projection reads: a
    /// ViT's class token after the final LayerNorm, a ResNet's last block (the study lesioned
    /// CLIP's neurons there), else the image embedding itself.
    pub fn pooled_layer(&self) -> String {
        let names = self.layer_names();
        if names.iter().any(|l| l == "vision.post_ln") {
            return "vision.post_ln".into();
        }
        names
            .into_iter()
            .rfind(|l| l.starts_with("vision.layer"))
            .unwrap_or_else(|| "vision.embeds".into())
    }

    /// Fails with a helpful message unless `name` is a layer of this model.
    pub fn check_layer(&self, name: &str) -> Result<()> {
        let names = self.layer_names();
        if names.iter().any(|n| n == name) {
            Ok(())
        } else {
            let examples = names
                .iter()
                .rev()
                .take(4)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            Err(ModelError::UnknownLayer {
                name: name.to_string(),
                examples,
            })
        }
    }

    /// Number of units (channels) of a layer, or an error naming valid layers.
    pub fn layer_units(&self, name: &str) -> Result<usize> {
        self.check_layer(name)?;
        let c = &self.config;
        let t = &c.text;
        let block_part = |rest: &str, width: usize, mlp: usize| -> usize {
            if rest.ends_with(".mlp") { mlp } else { width }
        };
        let units = if let Some(rest) = name.strip_prefix("text.") {
            match rest {
                "embeds" => c.projection_dim,
                _ => block_part(rest, t.width, t.mlp_width),
            }
        } else {
            let rest = name.strip_prefix("vision.").unwrap_or(name);
            match &c.vision {
                VisionConfig::Vit(v) => match rest {
                    "embeds" => c.projection_dim,
                    _ => block_part(rest, v.width, v.mlp_width),
                },
                VisionConfig::Resnet(r) => match rest {
                    "embeds" => c.projection_dim,
                    "stem" => r.width,
                    _ => {
                        // `layer{s}.{b}`: bottlenecks of stage s put out 4 × (width << (s-1)).
                        let stage = rest
                            .strip_prefix("layer")
                            .and_then(|s| s.split('.').next())
                            .and_then(|s| s.parse::<usize>().ok())
                            .unwrap_or(1);
                        (r.width << (stage - 1)) * 4
                    }
                },
            }
        };
        Ok(units)
    }

    /// Fails with a helpful message unless the lesion names a layer and units of this model.
    pub fn check_lesion(&self, lesion: &Lesion) -> Result<()> {
        let units = self.layer_units(&lesion.layer)?;
        match lesion.units.iter().find(|&&u| u >= units) {
            Some(&unit) => Err(ModelError::UnknownUnit {
                layer: lesion.layer.clone(),
                unit,
                units,
            }),
            None => Ok(()),
        }
    }

    /// A capture that applies `lesions`, once each is checked against this model.
    fn lesion_capture(&self, lesions: &[Lesion]) -> Result<Capture<B>> {
        for l in lesions {
            self.check_lesion(l)?;
        }
        Ok(Capture::lesioned(lesions.iter().cloned()))
    }

    /// Embeds normalized images with the units of `lesions` silenced (not L2-normalized).
    pub fn encode_image_lesioned(
        &self,
        images: Tensor<B, 4>,
        lesions: &[Lesion],
    ) -> Result<Tensor<B, 2>> {
        let mut cap = self.lesion_capture(lesions)?;
        Ok(self
            .encode_image_with(images, &mut cap)
            .expect("a pass without capture runs to the end"))
    }

    /// Embeds token sequences with the units of `lesions` silenced (not L2-normalized).
    pub fn encode_text_lesioned(
        &self,
        ids: &[Vec<u32>],
        lesions: &[Lesion],
    ) -> Result<Tensor<B, 2>> {
        let mut cap = self.lesion_capture(lesions)?;
        Ok(self
            .text
            .forward(ids, &mut cap)?
            .expect("a pass without capture runs to the end"))
    }

    /// Embeds normalized images `[batch, 3, size, size]`, recording what `cap` asks for.
    ///
    /// Returns `None` when the capture completed before the last layer (the pass stopped early).
    pub fn encode_image_with(
        &self,
        images: Tensor<B, 4>,
        cap: &mut Capture<B>,
    ) -> Option<Tensor<B, 2>> {
        match (&self.vit, &self.resnet) {
            (Some(v), _) => v.forward(images, cap),
            (_, Some(r)) => r.forward(images, cap),
            _ => unreachable!("a CLIP always has an image tower"),
        }
    }

    /// Embeds normalized images into the joint space (not L2-normalized).
    pub fn encode_image(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        self.encode_image_with(images, &mut Capture::none())
            .expect("a pass without capture runs to the end")
    }

    /// Embeds token sequences (equal lengths), recording what `cap` asks for.
    pub fn encode_text_with(
        &self,
        ids: &[Vec<u32>],
        cap: &mut Capture<B>,
    ) -> Result<Option<Tensor<B, 2>>> {
        self.text.forward(ids, cap)
    }

    /// Embeds token sequences into the joint space (not L2-normalized).
    pub fn encode_text(&self, ids: &[Vec<u32>]) -> Result<Tensor<B, 2>> {
        Ok(self
            .text
            .forward(ids, &mut Capture::none())?
            .expect("a pass without capture runs to the end"))
    }

    /// Image-to-text logits `[images, texts]`: scaled cosine similarities.
    pub fn logits(&self, image_embeds: Tensor<B, 2>, text_embeds: Tensor<B, 2>) -> Tensor<B, 2> {
        let scale = self.logit_scale.val().exp().unsqueeze::<2>();
        normalize(image_embeds).matmul(normalize(text_embeds).transpose()) * scale
    }

    /// The activation of one layer for a batch of images (or texts, for `text.*` layers).
    pub fn image_activation(&self, images: Tensor<B, 4>, layer: &str) -> Result<Activation<B>> {
        self.check_layer(layer)?;
        let mut cap = Capture::only([layer]);
        let _ = self.encode_image_with(images, &mut cap);
        cap.take(layer).ok_or_else(|| ModelError::UnknownLayer {
            name: layer.to_string(),
            examples: "image-tower layers (this one belongs to the text tower)".into(),
        })
    }
}

/// L2-normalizes rows.
pub fn normalize<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let norm = x
        .clone()
        .powf_scalar(2.0)
        .sum_dim(1)
        .sqrt()
        .clamp_min(1e-12);
    x / norm
}

/// Converts any supported naming into the canonical one the towers load.
pub fn canonical_store(store: WeightStore) -> Result<WeightStore> {
    match naming::detect(&store)? {
        Naming::HuggingFace => Ok(store),
        Naming::OpenAi => naming::openai_to_canonical(store),
    }
}

impl<B: Backend> Clip<B> {
    /// A model with seeded random weights (benchmarks, training from scratch).
    pub fn random(config: &ClipConfig, seed: u64, device: &B::Device) -> Result<Self> {
        Self::from_store(config, crate::init::random_store(config, seed), device)
    }

    /// Loads a modalscope bundle (int8 or f32), returning the model and its tokenizer files.
    pub fn from_bundle(
        bytes: &[u8],
        device: &B::Device,
    ) -> Result<(Self, Option<crate::bundle::TokenizerFiles>)> {
        let b = crate::bundle::read(bytes)?;
        Ok((Self::from_store(&b.config, b.store, device)?, b.tokenizer))
    }

    /// Loads either a bundle or a safetensors checkpoint, telling them apart by their bytes.
    pub fn from_bytes(
        bytes: &[u8],
        config: Option<ClipConfig>,
        device: &B::Device,
    ) -> Result<Self> {
        if crate::bundle::is_bundle(bytes) {
            Ok(Self::from_bundle(bytes, device)?.0)
        } else {
            Self::from_safetensors(bytes, config, device)
        }
    }
}
