//! Fresh weights for any architecture: the canonical tensor list of a config and a seeded
//! random initialisation, for benchmarks, tests and training from scratch.

use crate::config::{ClipConfig, VisionConfig};
use crate::weights::{HostTensor, WeightStore};

/// The canonical name and shape of every tensor a config needs.
pub fn canonical_shapes(cfg: &ClipConfig) -> Vec<(String, Vec<usize>)> {
    let mut out: Vec<(String, Vec<usize>)> = Vec::new();
    let mut push = |name: String, shape: Vec<usize>| out.push((name, shape));
    let block = |push: &mut dyn FnMut(String, Vec<usize>), p: &str, w: usize, mlp: usize| {
        for ln in ["layer_norm1", "layer_norm2"] {
            push(format!("{p}.{ln}.weight"), vec![w]);
            push(format!("{p}.{ln}.bias"), vec![w]);
        }
        for proj in ["q_proj", "k_proj", "v_proj", "out_proj"] {
            push(format!("{p}.self_attn.{proj}.weight"), vec![w, w]);
            push(format!("{p}.self_attn.{proj}.bias"), vec![w]);
        }
        push(format!("{p}.mlp.fc1.weight"), vec![mlp, w]);
        push(format!("{p}.mlp.fc1.bias"), vec![mlp]);
        push(format!("{p}.mlp.fc2.weight"), vec![w, mlp]);
        push(format!("{p}.mlp.fc2.bias"), vec![w]);
    };
    let ln = |push: &mut dyn FnMut(String, Vec<usize>), p: &str, w: usize| {
        push(format!("{p}.weight"), vec![w]);
        push(format!("{p}.bias"), vec![w]);
    };
    match &cfg.vision {
        VisionConfig::Vit(v) => {
            let w = v.width;
            let e = "vision_model.embeddings";
            push(
                format!("{e}.patch_embedding.weight"),
                vec![w, 3, v.patch_size, v.patch_size],
            );
            push(format!("{e}.class_embedding"), vec![w]);
            push(
                format!("{e}.position_embedding.weight"),
                vec![v.grid() * v.grid() + 1, w],
            );
            ln(&mut push, "vision_model.pre_layrnorm", w);
            for i in 0..v.layers {
                block(
                    &mut push,
                    &format!("vision_model.encoder.layers.{i}"),
                    w,
                    v.mlp_width,
                );
            }
            ln(&mut push, "vision_model.post_layernorm", w);
            push(
                "visual_projection.weight".into(),
                vec![cfg.projection_dim, w],
            );
        }
        VisionConfig::Resnet(r) => {
            let w = r.width;
            let bn = |push: &mut dyn FnMut(String, Vec<usize>), p: &str, c: usize| {
                for s in ["weight", "bias", "running_mean", "running_var"] {
                    push(format!("{p}.{s}"), vec![c]);
                }
            };
            for (i, (cin, cout)) in [(3, w / 2), (w / 2, w / 2), (w / 2, w)]
                .into_iter()
                .enumerate()
            {
                push(
                    format!("visual.conv{}.weight", i + 1),
                    vec![cout, cin, 3, 3],
                );
                bn(&mut push, &format!("visual.bn{}", i + 1), cout);
            }
            let mut inplanes = w;
            for (s, &depth) in r.layers.iter().enumerate() {
                let planes = w << s;
                for b in 0..depth {
                    let p = format!("visual.layer{}.{b}", s + 1);
                    push(format!("{p}.conv1.weight"), vec![planes, inplanes, 1, 1]);
                    bn(&mut push, &format!("{p}.bn1"), planes);
                    push(format!("{p}.conv2.weight"), vec![planes, planes, 3, 3]);
                    bn(&mut push, &format!("{p}.bn2"), planes);
                    push(format!("{p}.conv3.weight"), vec![planes * 4, planes, 1, 1]);
                    bn(&mut push, &format!("{p}.bn3"), planes * 4);
                    if b == 0 && (s > 0 || inplanes != planes * 4) {
                        push(
                            format!("{p}.downsample.0.weight"),
                            vec![planes * 4, inplanes, 1, 1],
                        );
                        bn(&mut push, &format!("{p}.downsample.1"), planes * 4);
                    }
                    inplanes = planes * 4;
                }
            }
            let embed = r.embed_dim();
            let side = r.image_size / 32;
            let a = "visual.attnpool";
            push(
                format!("{a}.positional_embedding"),
                vec![side * side + 1, embed],
            );
            for proj in ["q_proj", "k_proj", "v_proj"] {
                push(format!("{a}.{proj}.weight"), vec![embed, embed]);
                push(format!("{a}.{proj}.bias"), vec![embed]);
            }
            push(
                format!("{a}.c_proj.weight"),
                vec![cfg.projection_dim, embed],
            );
            push(format!("{a}.c_proj.bias"), vec![cfg.projection_dim]);
        }
    }
    let t = &cfg.text;
    let e = "text_model.embeddings";
    push(
        format!("{e}.token_embedding.weight"),
        vec![t.vocab_size, t.width],
    );
    push(
        format!("{e}.position_embedding.weight"),
        vec![t.context_length, t.width],
    );
    for i in 0..t.layers {
        block(
            &mut push,
            &format!("text_model.encoder.layers.{i}"),
            t.width,
            t.mlp_width,
        );
    }
    ln(&mut push, "text_model.final_layer_norm", t.width);
    push(
        "text_projection.weight".into(),
        vec![cfg.projection_dim, t.width],
    );
    push("logit_scale".into(), vec![1]);
    out
}

/// A small deterministic generator (SplitMix64) so weights are identical on every platform.
#[derive(Debug, Clone)]
pub struct SeededRng(u64);

impl SeededRng {
    /// A generator for this seed.
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f32 {
        let u1 = self.uniform().max(1e-7);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f32::consts::PI * u2).cos()
    }
}

/// Standard deviation of a tensor's initial values, following OpenAI's CLIP: its
/// `initialize_parameters` for the text tower (attention `width^-0.5`, MLP in `(2 width)^-0.5`,
/// output projections `width^-0.5 (2 layers)^-0.5`, token 0.02, positions 0.01), the ViT's
/// `width^-0.5` class and position embeddings and projection, He's `sqrt(2/fan_in)` for
/// ResNet convolutions, and PyTorch's default (`1/sqrt(3 fan_in)`) for the remaining vision
/// matrices.
fn init_std(cfg: &ClipConfig, name: &str, shape: &[usize]) -> f32 {
    let fan_in: usize = shape[1..].iter().product::<usize>().max(1);
    let pytorch_default = (1.0 / (3.0 * fan_in as f32)).sqrt();
    if let Some(rest) = name.strip_prefix("text_model.") {
        let w = cfg.text.width as f32;
        let proj = w.powf(-0.5) * (2.0 * cfg.text.layers as f32).powf(-0.5);
        return if rest.ends_with("token_embedding.weight") {
            0.02
        } else if rest.ends_with("position_embedding.weight") {
            0.01
        } else if rest.ends_with("out_proj.weight") || rest.ends_with("fc2.weight") {
            proj
        } else if rest.ends_with("fc1.weight") {
            (2.0 * w).powf(-0.5)
        } else {
            w.powf(-0.5)
        };
    }
    let vision_width = match &cfg.vision {
        VisionConfig::Vit(v) => v.width,
        VisionConfig::Resnet(r) => r.embed_dim(),
    } as f32;
    match name {
        "text_projection.weight" => (cfg.text.width as f32).powf(-0.5),
        "vision_model.embeddings.position_embedding.weight" | "visual_projection.weight" => {
            vision_width.powf(-0.5)
        }
        // ResNet attention pooling: positions and projections at embed_dim^-0.5
        _ if name.starts_with("visual.attnpool.") => vision_width.powf(-0.5),
        // ResNet convolutions at He's sqrt(2 / fan_in): the tower's BatchNorms are folded and
        // do not normalize while training from scratch, so each ReLU conv must keep the
        // signal's scale itself (PyTorch's default shrinks it threefold a layer)
        _ if name.starts_with("visual.") && shape.len() == 4 => (2.0 / fan_in as f32).sqrt(),
        _ if name.ends_with("q_proj.weight")
            || name.ends_with("k_proj.weight")
            || name.ends_with("v_proj.weight") =>
        {
            // nn.MultiheadAttention's in_proj: xavier uniform
            (2.0 / (shape[0] + shape[1]) as f32).sqrt()
        }
        _ => pytorch_default,
    }
}

/// Random weights for a config, initialised as OpenAI's CLIP initialises a fresh model: unit
/// norms, zero biases, the standard deviations of [`init_std`], and CLIP's initial
/// temperature (1/0.07).
pub fn random_store(cfg: &ClipConfig, seed: u64) -> WeightStore {
    let mut rng = SeededRng::new(seed);
    let mut store = WeightStore::new();
    for (name, shape) in canonical_shapes(cfg) {
        let n: usize = shape.iter().product();
        let last = name.rsplit('.').next().unwrap_or("");
        let data: Vec<f32> = if name == "logit_scale" {
            vec![(1.0f32 / 0.07).ln()]
        } else if last == "running_var" {
            vec![1.0; n]
        } else if last == "running_mean" || (last == "bias" && shape.len() == 1) {
            vec![0.0; n]
        } else if name.starts_with("visual.layer") && name.ends_with(".bn3.weight") {
            // CLIP zero-initialises the last BatchNorm of each bottleneck (identity blocks);
            // the stem's third BatchNorm (`visual.bn3`) is not one of them
            vec![0.0; n]
        } else if shape.len() == 1 && last == "weight" {
            vec![1.0; n]
        } else {
            let std = if shape.len() == 1 {
                (shape[0] as f32).powf(-0.5)
            } else {
                init_std(cfg, &name, &shape)
            };
            (0..n).map(|_| rng.normal() * std).collect()
        };
        store.insert(name, HostTensor::new(shape, data));
    }
    store
}
