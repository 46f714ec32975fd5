//! Checkpoint naming conventions: recognising them, converting OpenAI/OpenCLIP names into the
//! canonical (Hugging Face) names the towers load, and inferring a config from tensor shapes.

use crate::config::{Act, ClipConfig, ResNetConfig, TextConfig, VisionConfig, VitConfig};
use crate::error::{ModelError, Result};
use crate::weights::WeightStore;

/// The convention a checkpoint's tensor names follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// Hugging Face `transformers` (`vision_model.encoder.layers.0...`).
    HuggingFace,
    /// OpenAI's and OpenCLIP's state dicts (`visual.transformer.resblocks.0...`, `visual.layer1.0...`).
    OpenAi,
}

/// Tells which convention a store follows.
pub fn detect(store: &WeightStore) -> Result<Naming> {
    if store.contains("text_model.embeddings.token_embedding.weight") {
        Ok(Naming::HuggingFace)
    } else if store.contains("token_embedding.weight") && store.contains("visual.conv1.weight") {
        Ok(Naming::OpenAi)
    } else {
        let sample: Vec<&str> = store.names().take(5).collect();
        Err(ModelError::UnknownArchitecture(format!(
            "the tensor names ({}) follow neither Hugging Face CLIP nor OpenAI CLIP naming",
            sample.join(", ")
        )))
    }
}

/// Rewrites an OpenAI-named store into canonical names (the ResNet tower keeps `visual.*`).
pub fn openai_to_canonical(mut store: WeightStore) -> Result<WeightStore> {
    let mut out = WeightStore::new();
    let vit = store.contains("visual.class_embedding");
    let names: Vec<String> = store.names().map(str::to_string).collect();
    for name in names {
        let t = store.take_any(&name)?;
        if matches!(
            name.as_str(),
            "input_resolution" | "context_length" | "vocab_size" | "attn_mask"
        ) || name.ends_with("num_batches_tracked")
            || name.ends_with("attn_mask")
        {
            continue;
        }
        let mapped = if let Some(rest) = name.strip_prefix("visual.") {
            if !vit {
                out.insert(name.clone(), t);
                continue;
            }
            match rest {
                "conv1.weight" => "vision_model.embeddings.patch_embedding.weight".to_string(),
                "class_embedding" => "vision_model.embeddings.class_embedding".to_string(),
                "positional_embedding" => {
                    "vision_model.embeddings.position_embedding.weight".to_string()
                }
                "proj" => {
                    out.insert("visual_projection.weight", t.transposed());
                    continue;
                }
                _ => {
                    if let Some(r) = rest.strip_prefix("ln_pre.") {
                        format!("vision_model.pre_layrnorm.{r}")
                    } else if let Some(r) = rest.strip_prefix("ln_post.") {
                        format!("vision_model.post_layernorm.{r}")
                    } else if let Some(r) = rest.strip_prefix("transformer.resblocks.") {
                        block_name("vision_model", r, t, &mut out)?;
                        continue;
                    } else {
                        return Err(unexpected(&name));
                    }
                }
            }
        } else if let Some(r) = name.strip_prefix("transformer.resblocks.") {
            block_name("text_model", r, t, &mut out)?;
            continue;
        } else {
            match name.as_str() {
                "token_embedding.weight" => {
                    "text_model.embeddings.token_embedding.weight".to_string()
                }
                "positional_embedding" => {
                    "text_model.embeddings.position_embedding.weight".to_string()
                }
                "ln_final.weight" => "text_model.final_layer_norm.weight".to_string(),
                "ln_final.bias" => "text_model.final_layer_norm.bias".to_string(),
                "text_projection" => {
                    out.insert("text_projection.weight", t.transposed());
                    continue;
                }
                "logit_scale" => name.clone(),
                _ => return Err(unexpected(&name)),
            }
        };
        out.insert(mapped, t);
    }
    Ok(out)
}

fn unexpected(name: &str) -> ModelError {
    ModelError::UnknownArchitecture(format!(
        "unexpected tensor `{name}` in an OpenAI-named checkpoint"
    ))
}

/// Maps `{i}.attn.in_proj_weight`-style block names into Hugging Face block names.
fn block_name(
    tower: &str,
    rest: &str,
    t: crate::weights::HostTensor,
    out: &mut WeightStore,
) -> Result<()> {
    let (idx, sub) = rest.split_once('.').ok_or_else(|| unexpected(rest))?;
    let p = format!("{tower}.encoder.layers.{idx}");
    let simple = |s: &str| -> Option<String> {
        let (module, param) = s.rsplit_once('.')?;
        let m = match module {
            "ln_1" => "layer_norm1",
            "ln_2" => "layer_norm2",
            "attn.out_proj" => "self_attn.out_proj",
            "mlp.c_fc" => "mlp.fc1",
            "mlp.c_proj" => "mlp.fc2",
            _ => return None,
        };
        Some(format!("{p}.{m}.{param}"))
    };
    match sub {
        "attn.in_proj_weight" | "attn.in_proj_bias" => {
            let param = if sub.ends_with("weight") {
                "weight"
            } else {
                "bias"
            };
            let parts = t.chunks(3);
            for (proj, part) in ["q_proj", "k_proj", "v_proj"].iter().zip(parts) {
                out.insert(format!("{p}.self_attn.{proj}.{param}"), part);
            }
        }
        _ => {
            let name = simple(sub).ok_or_else(|| unexpected(&format!("{tower}:{rest}")))?;
            out.insert(name, t);
        }
    }
    Ok(())
}

fn count_layers(store: &WeightStore, prefix: &str, suffix: &str) -> usize {
    (0..)
        .take_while(|i| store.contains(&format!("{prefix}{i}{suffix}")))
        .count()
}

fn shape(store: &WeightStore, name: &str) -> Result<Vec<usize>> {
    store
        .shape(name)
        .map(<[usize]>::to_vec)
        .ok_or_else(|| ModelError::MissingTensor(name.to_string()))
}

fn heads_for(width: usize, what: &str) -> Result<usize> {
    if width.is_multiple_of(64) {
        Ok(width / 64)
    } else {
        Err(ModelError::InvalidConfig(format!(
            "cannot infer the {what} head count from width {width}; give a config file"
        )))
    }
}

/// Infers the architecture of a canonical-named store from its tensor shapes, using CLIP's
/// convention of 64-wide attention heads. A matching preset keeps its name.
pub fn infer_config(store: &WeightStore) -> Result<ClipConfig> {
    let vision = if store.contains("visual.conv1.weight") {
        let stem = shape(store, "visual.conv1.weight")?;
        let width = stem[0] * 2;
        let mut layers = [0; 4];
        for (l, slot) in layers.iter_mut().enumerate() {
            *slot = count_layers(store, &format!("visual.layer{}.", l + 1), ".conv1.weight");
        }
        let pos = shape(store, "visual.attnpool.positional_embedding")?;
        let side = ((pos[0] - 1) as f64).sqrt().round() as usize;
        VisionConfig::Resnet(ResNetConfig {
            image_size: side * 32,
            layers,
            width,
            heads: heads_for(pos[1], "attention-pool")?,
        })
    } else {
        let patch = shape(store, "vision_model.embeddings.patch_embedding.weight")?;
        let pos = shape(store, "vision_model.embeddings.position_embedding.weight")?;
        let grid = ((pos[0] - 1) as f64).sqrt().round() as usize;
        let width = patch[0];
        VisionConfig::Vit(VitConfig {
            image_size: grid * patch[2],
            patch_size: patch[2],
            width,
            layers: count_layers(store, "vision_model.encoder.layers.", ".layer_norm1.weight"),
            heads: heads_for(width, "vision")?,
            mlp_width: shape(store, "vision_model.encoder.layers.0.mlp.fc1.weight")?[0],
            act: Act::QuickGelu,
            layer_norm_eps: 1e-5,
        })
    };
    let tok = shape(store, "text_model.embeddings.token_embedding.weight")?;
    let pos = shape(store, "text_model.embeddings.position_embedding.weight")?;
    let text = TextConfig {
        vocab_size: tok[0],
        context_length: pos[0],
        width: tok[1],
        layers: count_layers(store, "text_model.encoder.layers.", ".layer_norm1.weight"),
        heads: heads_for(tok[1], "text")?,
        mlp_width: shape(store, "text_model.encoder.layers.0.mlp.fc1.weight")?[0],
        act: Act::QuickGelu,
        layer_norm_eps: 1e-5,
        eot_token_id: None,
    };
    let projection_dim = shape(store, "text_projection.weight")?[0];
    Ok(ClipConfig {
        name: "clip-custom".into(),
        projection_dim,
        vision,
        text,
        image_mean: crate::config::CLIP_MEAN,
        image_std: crate::config::CLIP_STD,
    }
    .named_after_preset())
}
