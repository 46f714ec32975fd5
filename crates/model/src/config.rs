//! Architecture descriptions: presets for published CLIPs and parsers for the config files
//! that Hugging Face and OpenCLIP ship beside their weights.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ModelError, Result};

/// The non-linearity inside transformer MLPs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Act {
    /// `x * sigmoid(1.702 x)`, as in OpenAI's CLIP.
    #[default]
    QuickGelu,
    /// The exact erf GELU.
    Gelu,
}

/// A vision transformer tower.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VitConfig {
    /// Input side in pixels.
    pub image_size: usize,
    /// Patch side in pixels.
    pub patch_size: usize,
    /// Residual stream width.
    pub width: usize,
    /// Number of residual attention blocks.
    pub layers: usize,
    /// Attention heads per block.
    pub heads: usize,
    /// Hidden units of each MLP.
    pub mlp_width: usize,
    /// MLP non-linearity.
    #[serde(default)]
    pub act: Act,
    /// LayerNorm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
}

impl VitConfig {
    /// Patches per side.
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }
}

/// OpenAI's modified ResNet tower (3-conv stem, anti-aliased bottlenecks, attention pooling).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResNetConfig {
    /// Input side in pixels (a multiple of 32).
    pub image_size: usize,
    /// Bottleneck blocks in each of the four stages.
    pub layers: [usize; 4],
    /// Base width (64 for RN50, 80 for RN50x4).
    pub width: usize,
    /// Heads of the attention pooling layer.
    pub heads: usize,
}

impl ResNetConfig {
    /// Channels of the final feature map (and the attention pool's embedding width).
    pub fn embed_dim(&self) -> usize {
        self.width * 32
    }
}

/// The image tower, either kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VisionConfig {
    /// A vision transformer.
    Vit(VitConfig),
    /// A modified ResNet.
    Resnet(ResNetConfig),
}

impl VisionConfig {
    /// Input side in pixels.
    pub fn image_size(&self) -> usize {
        match self {
            Self::Vit(c) => c.image_size,
            Self::Resnet(c) => c.image_size,
        }
    }
}

/// The causal text transformer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextConfig {
    /// Tokens in the vocabulary.
    pub vocab_size: usize,
    /// Maximum sequence length (77 for CLIP).
    pub context_length: usize,
    /// Residual stream width.
    pub width: usize,
    /// Number of blocks.
    pub layers: usize,
    /// Attention heads per block.
    pub heads: usize,
    /// Hidden units of each MLP.
    pub mlp_width: usize,
    /// MLP non-linearity.
    #[serde(default)]
    pub act: Act,
    /// LayerNorm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Id of the end-of-text token whose position is pooled; `None` pools at the largest id,
    /// which is what OpenAI's CLIP does (its end-of-text token has the largest id).
    #[serde(default)]
    pub eot_token_id: Option<u32>,
}

/// A whole CLIP: both towers and the shared embedding space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipConfig {
    /// Short identifier used in links, e.g. `clip-vit-b32`.
    pub name: String,
    /// Width of the joint embedding space.
    pub projection_dim: usize,
    /// Image tower.
    pub vision: VisionConfig,
    /// Text tower.
    pub text: TextConfig,
    /// Per-channel mean subtracted from [0,1] pixels.
    #[serde(default = "default_mean")]
    pub image_mean: [f32; 3],
    /// Per-channel standard deviation dividing [0,1] pixels.
    #[serde(default = "default_std")]
    pub image_std: [f32; 3],
}

fn default_eps() -> f64 {
    1e-5
}

/// CLIP's pixel mean (OpenAI's values, also in every Hugging Face CLIP processor).
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// CLIP's pixel standard deviation.
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_6, 0.275_777_1];

fn default_mean() -> [f32; 3] {
    CLIP_MEAN
}

fn default_std() -> [f32; 3] {
    CLIP_STD
}

fn clip_text(width: usize, heads: usize) -> TextConfig {
    TextConfig {
        vocab_size: 49408,
        context_length: 77,
        width,
        layers: 12,
        heads,
        mlp_width: width * 4,
        act: Act::QuickGelu,
        layer_norm_eps: 1e-5,
        eot_token_id: None,
    }
}

impl ClipConfig {
    fn preset(name: &str, projection_dim: usize, vision: VisionConfig, text: TextConfig) -> Self {
        Self {
            name: name.to_string(),
            projection_dim,
            vision,
            text,
            image_mean: CLIP_MEAN,
            image_std: CLIP_STD,
        }
    }

    fn vit(name: &str, patch: usize) -> Self {
        Self::preset(
            name,
            512,
            VisionConfig::Vit(VitConfig {
                image_size: 224,
                patch_size: patch,
                width: 768,
                layers: 12,
                heads: 12,
                mlp_width: 3072,
                act: Act::QuickGelu,
                layer_norm_eps: 1e-5,
            }),
            clip_text(512, 8),
        )
    }

    /// OpenAI's ViT-B/32.
    pub fn vit_b32() -> Self {
        Self::vit("clip-vit-b32", 32)
    }

    /// OpenAI's ViT-B/16.
    pub fn vit_b16() -> Self {
        Self::vit("clip-vit-b16", 16)
    }

    /// OpenAI's RN50.
    pub fn rn50() -> Self {
        Self::preset(
            "clip-rn50",
            1024,
            VisionConfig::Resnet(ResNetConfig {
                image_size: 224,
                layers: [3, 4, 6, 3],
                width: 64,
                heads: 32,
            }),
            clip_text(512, 8),
        )
    }

    /// OpenAI's RN50x4, the model the multimodal-neurons study dissected.
    pub fn rn50x4() -> Self {
        Self::preset(
            "clip-rn50x4",
            640,
            VisionConfig::Resnet(ResNetConfig {
                image_size: 288,
                layers: [4, 6, 10, 6],
                width: 80,
                heads: 40,
            }),
            clip_text(640, 10),
        )
    }

    /// The preset of this name, if any (`clip-vit-b32`, `clip-vit-b16`, `clip-rn50`, `clip-rn50x4`).
    pub fn by_name(name: &str) -> Option<Self> {
        match name {
            "clip-vit-b32" => Some(Self::vit_b32()),
            "clip-vit-b16" => Some(Self::vit_b16()),
            "clip-rn50" => Some(Self::rn50()),
            "clip-rn50x4" => Some(Self::rn50x4()),
            _ => None,
        }
    }

    /// The same config named after the published preset it equals, if any.
    pub fn named_after_preset(self) -> Self {
        for preset in [
            Self::vit_b32(),
            Self::vit_b16(),
            Self::rn50(),
            Self::rn50x4(),
        ] {
            if (Self {
                name: preset.name.clone(),
                ..self.clone()
            }) == preset
            {
                return preset;
            }
        }
        self
    }

    /// Parses a Hugging Face `transformers` CLIP `config.json`.
    pub fn from_hf_json(name: &str, json: &str) -> Result<Self> {
        let v: Value = serde_json::from_str(json).map_err(|e| bad(format!("config.json: {e}")))?;
        let vc = v
            .get("vision_config")
            .ok_or_else(|| bad("config.json has no vision_config"))?;
        let tc = v
            .get("text_config")
            .ok_or_else(|| bad("config.json has no text_config"))?;
        let act = |c: &Value| match c.get("hidden_act").and_then(Value::as_str) {
            Some("gelu") => Act::Gelu,
            _ => Act::QuickGelu,
        };
        let vision_width = get_usize(vc, "hidden_size", Some(768))?;
        let text_width = get_usize(tc, "hidden_size", Some(512))?;
        let eos = get_usize(tc, "eos_token_id", Some(2))?;
        Ok(Self::preset(
            name,
            get_usize(&v, "projection_dim", Some(512))?,
            VisionConfig::Vit(VitConfig {
                image_size: get_usize(vc, "image_size", Some(224))?,
                patch_size: get_usize(vc, "patch_size", Some(32))?,
                width: vision_width,
                layers: get_usize(vc, "num_hidden_layers", Some(12))?,
                heads: get_usize(vc, "num_attention_heads", Some(12))?,
                mlp_width: get_usize(vc, "intermediate_size", Some(3072))?,
                act: act(vc),
                layer_norm_eps: vc
                    .get("layer_norm_eps")
                    .and_then(Value::as_f64)
                    .unwrap_or(1e-5),
            }),
            TextConfig {
                vocab_size: get_usize(tc, "vocab_size", Some(49408))?,
                context_length: get_usize(tc, "max_position_embeddings", Some(77))?,
                width: text_width,
                layers: get_usize(tc, "num_hidden_layers", Some(12))?,
                heads: get_usize(tc, "num_attention_heads", Some(8))?,
                mlp_width: get_usize(tc, "intermediate_size", Some(2048))?,
                act: act(tc),
                layer_norm_eps: tc
                    .get("layer_norm_eps")
                    .and_then(Value::as_f64)
                    .unwrap_or(1e-5),
                // transformers keeps OpenAI's legacy behaviour (pool at the largest id) when
                // eos_token_id is 2; otherwise it pools at the first eos token, which is the
                // same position when the eos token has the largest id.
                eot_token_id: (eos != 2 && eos + 1 != get_usize(tc, "vocab_size", Some(49408))?)
                    .then_some(eos as u32),
            },
        ))
    }

    /// Parses an OpenCLIP model config (`embed_dim`, `vision_cfg`, `text_cfg`).
    pub fn from_open_clip_json(name: &str, json: &str) -> Result<Self> {
        let v: Value =
            serde_json::from_str(json).map_err(|e| bad(format!("OpenCLIP config: {e}")))?;
        let vc = v
            .get("vision_cfg")
            .ok_or_else(|| bad("OpenCLIP config has no vision_cfg"))?;
        let tc = v
            .get("text_cfg")
            .ok_or_else(|| bad("OpenCLIP config has no text_cfg"))?;
        let act = if v
            .get("quick_gelu")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            Act::QuickGelu
        } else {
            Act::Gelu
        };
        let width = get_usize(vc, "width", Some(768))?;
        let head_width = get_usize(vc, "head_width", Some(64))?;
        let image_size = get_usize(vc, "image_size", Some(224))?;
        let vision = match vc.get("layers") {
            Some(Value::Array(stages)) => {
                if stages.len() != 4 {
                    return Err(bad("a ResNet vision_cfg needs four stage depths"));
                }
                let mut layers = [0; 4];
                for (slot, s) in layers.iter_mut().zip(stages) {
                    *slot = s
                        .as_u64()
                        .ok_or_else(|| bad("stage depth is not a number"))?
                        as usize;
                }
                VisionConfig::Resnet(ResNetConfig {
                    image_size,
                    layers,
                    width,
                    heads: width * 32 / head_width,
                })
            }
            _ => {
                let mlp_ratio = vc.get("mlp_ratio").and_then(Value::as_f64).unwrap_or(4.0);
                VisionConfig::Vit(VitConfig {
                    image_size,
                    patch_size: get_usize(vc, "patch_size", None)?,
                    width,
                    layers: get_usize(vc, "layers", Some(12))?,
                    heads: width / head_width,
                    mlp_width: (width as f64 * mlp_ratio) as usize,
                    act,
                    layer_norm_eps: 1e-5,
                })
            }
        };
        let text_width = get_usize(tc, "width", Some(512))?;
        let mlp_ratio = tc.get("mlp_ratio").and_then(Value::as_f64).unwrap_or(4.0);
        Ok(Self::preset(
            name,
            get_usize(&v, "embed_dim", None)?,
            vision,
            TextConfig {
                vocab_size: get_usize(tc, "vocab_size", Some(49408))?,
                context_length: get_usize(tc, "context_length", Some(77))?,
                width: text_width,
                layers: get_usize(tc, "layers", Some(12))?,
                heads: get_usize(tc, "heads", Some(8))?,
                mlp_width: (text_width as f64 * mlp_ratio) as usize,
                act,
                layer_norm_eps: 1e-5,
                eot_token_id: None,
            },
        ))
    }

    /// Checks that the numbers describe a buildable model.
    pub fn validate(&self) -> Result<()> {
        let check = |ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(bad(what.to_string()))
            }
        };
        match &self.vision {
            VisionConfig::Vit(v) => {
                check(
                    v.patch_size > 0 && v.image_size % v.patch_size == 0,
                    "image size must be a multiple of the patch size",
                )?;
                check(
                    v.heads > 0 && v.width % v.heads == 0,
                    "vision width must be a multiple of its heads",
                )?;
                check(v.mlp_width > 0, "vision MLP width must be positive")?;
            }
            VisionConfig::Resnet(r) => {
                check(
                    r.image_size % 32 == 0,
                    "ResNet image size must be a multiple of 32",
                )?;
                check(
                    r.heads > 0 && r.embed_dim() % r.heads == 0,
                    "ResNet embed width must be a multiple of its heads",
                )?;
            }
        }
        check(
            self.text.heads > 0 && self.text.width.is_multiple_of(self.text.heads),
            "text width must be a multiple of its heads",
        )?;
        check(self.text.mlp_width > 0, "text MLP width must be positive")?;
        check(
            self.text.context_length > 0 && self.text.vocab_size > 0,
            "text tower needs a vocabulary and a context",
        )?;
        check(
            self.projection_dim > 0,
            "projection dimension must be positive",
        )
    }
}

fn bad(msg: impl Into<String>) -> ModelError {
    ModelError::InvalidConfig(msg.into())
}

fn get_usize(v: &Value, key: &str, default: Option<usize>) -> Result<usize> {
    match v.get(key) {
        Some(x) => x
            .as_u64()
            .map(|n| n as usize)
            .ok_or_else(|| bad(format!("`{key}` is not a whole number"))),
        None => default.ok_or_else(|| bad(format!("`{key}` is missing"))),
    }
}
